/*  =========================================================================
    product_context - the catalog context: its verb table and actor state

    The definition lives here rather than in main.c so that the integration
    tests can build the same state and dispatch through the same table as
    the real process.
    =========================================================================
*/
#ifndef COMPTOIR_PRODUCT_CONTEXT_H
#define COMPTOIR_PRODUCT_CONTEXT_H

#include "actor.h"
#include "contextnode.h"
#include "pgdb.h"

//  What each worker actor of the product context owns.
typedef struct {
    pgdb_t *db;                 //  its own connection to the product database
    actor_t *relay;             //  the outbox relay (first actor of instance 1 only)
} product_state_t;

//  name "product", the verbs, make_state / free_state.
extern const contextnode_def_t product_context_def;

#endif
