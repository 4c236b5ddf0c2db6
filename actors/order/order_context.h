/*  =========================================================================
    order_context - the order context: its verb table and actor state

    The definition lives here rather than in main.c so that the integration
    tests build the same state and dispatch through the same table as the
    real process.
    =========================================================================
*/
#ifndef COMPTOIR_ORDER_CONTEXT_H
#define COMPTOIR_ORDER_CONTEXT_H

#include "actor.h"
#include "contextnode.h"
#include "mdp_client.h"
#include "pgdb.h"

//  What each worker actor of the order context owns.
typedef struct {
    pgdb_t *db;                 //  its own connection to the order database
    mdp_client_t *client;       //  its own client of the broker (cart, inventory), or NULL
    int call_timeout_ms;        //  deadline of one call to another context
    int gateway_timeout_ms;     //  how long the simulated gateway keeps tok_timeout waiting
    char name [32];             //  order-<instance>.<actor>, for logs
    int64_t recover_after_s;    //  a checkout unfinished this long was abandoned by a crash
    actor_t *recovery;          //  the recovery sweep (first actor of a process only)
    actor_t *relay;             //  the outbox relay (first actor of instance 1 only)
} order_state_t;

//  name "order", the verbs, make_state / free_state.
extern const contextnode_def_t order_context_def;

#endif
