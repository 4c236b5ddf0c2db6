/*  =========================================================================
    inventory_context - the inventory context: its verb table and actor state

    The definition lives here rather than in main.c so that the integration
    tests build the same state and dispatch through the same table as the
    real process.
    =========================================================================
*/
#ifndef COMPTOIR_INVENTORY_CONTEXT_H
#define COMPTOIR_INVENTORY_CONTEXT_H

#include "actor.h"
#include "contextnode.h"
#include "pgdb.h"

//  Reservation lifetimes, in seconds.
#define INVENTORY_RESERVATION_TTL_S      900
#define INVENTORY_RESERVATION_TTL_MAX_S  86400

//  What each worker actor of the inventory context owns.
typedef struct {
    pgdb_t *db;                 //  its own connection to the inventory database
    int64_t reservation_ttl_s;  //  default life of a reservation
    actor_t *sweeper;           //  the expiry sweep (first actor of a process only)
    actor_t *relay;             //  the outbox relay (first actor of instance 1 only)
} inventory_state_t;

//  name "inventory", the verbs, make_state / free_state.
extern const contextnode_def_t inventory_context_def;

//  Start the sweeper: an actor with its own connection that releases expired
//  reservations every interval_ms. NULL on failure.
actor_t *inventory_sweeper_new (const char *conninfo, int64_t interval_ms);

#endif
