/*  =========================================================================
    sales_state - what each worker actor of the sales context owns

    The verbs include this and nothing of sales_context: the context builds
    the state and the verb table, the verbs only use the state.
    =========================================================================
*/
#ifndef COMPTOIR_SALES_STATE_H
#define COMPTOIR_SALES_STATE_H

#include "actor.h"
#include "mdp_client.h"
#include "pgdb.h"

#include <stdint.h>

typedef struct {
    pgdb_t *db;                 //  its own connection to the sales database
    mdp_client_t *client;       //  its own client of the broker (product, inventory), or NULL
    int call_timeout_ms;        //  deadline of one call to another context
    int64_t max_discount_cashier;   //  a cashier's largest line discount, percent
    int64_t recover_after_s;    //  a sale pending this long was abandoned by a crash
    char name [32];             //  sales-<instance>.<actor>, for logs
    actor_t *recovery;          //  the recovery sweep (first actor of a process only)
    actor_t *relay;             //  the outbox relay (first actor of instance 1 only)
} sales_state_t;

#endif
