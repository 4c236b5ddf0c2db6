/*  =========================================================================
    contextsweep - a context's periodic recovery, in an actor of its own

    The order and sales contexts drive to an end what a crashed worker left
    (half-done sagas, running Idempotency-Keys). That work runs in a small
    actor with its own state (its own database connection and broker
    client, never a worker's): once soon after start, for what the last run
    left, then every interval. Never inside the start itself: a process
    must not wait for other contexts to come up.
    =========================================================================
*/
#ifndef COMPTOIR_CONTEXTSWEEP_H
#define COMPTOIR_CONTEXTSWEEP_H

#include "actor.h"

#include <stdint.h>

//  Build the sweep's state from args (in the sweep's thread); NULL when it
//  cannot run.
typedef void *(contextsweep_make_fn) (void *args);
//  One pass.
typedef void (contextsweep_tick_fn) (void *state);
//  Free the state and null the pointer.
typedef void (contextsweep_free_fn) (void **state_p);

//  Start the sweep name: make (args are read before this returns), tick
//  after 100 ms and every interval_ms, destroy at the end. NULL when the
//  state cannot be made.
actor_t *contextsweep_start (const char *name, int64_t interval_ms, contextsweep_make_fn *make,
                             contextsweep_tick_fn *tick, contextsweep_free_fn *destroy, void *args);

#endif
