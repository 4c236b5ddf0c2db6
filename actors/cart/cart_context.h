/*  =========================================================================
    cart_context - the cart context: its verb table and actor state

    The definition lives here rather than in main.c so that the tests can
    build the same state and dispatch through the same table as the real
    process.
    =========================================================================
*/
#ifndef COMPTOIR_CART_CONTEXT_H
#define COMPTOIR_CART_CONTEXT_H

#include "contextnode.h"
#include "mdp_client.h"
#include "redisdb.h"

//  What each worker actor of the cart context owns.
typedef struct {
    redisdb_t *redis;           //  its own Redis connection
    mdp_client_t *catalog;      //  its own client of the broker, for product.get
    int64_t ttl_s;              //  a cart lives this long after its last change
    int catalog_timeout_ms;     //  deadline of a product.get
    char served_by [64];        //  "cart-2.1": process and actor
} cart_state_t;

//  name "cart", the verbs, make_state / free_state.
extern const contextnode_def_t cart_context_def;

#endif
