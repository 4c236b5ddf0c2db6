/*  =========================================================================
    contextsweep - a context's periodic recovery, in an actor of its own

    The actor's state is the caller's state and its functions, so that one
    zloop timer can call the pass and the destroy can free both.
    =========================================================================
*/
#include "contextsweep.h"

typedef struct {
    void *state;
    contextsweep_tick_fn *tick;
    contextsweep_free_fn *destroy;
} s_sweep_t;

typedef struct {
    int64_t interval_ms;
    contextsweep_make_fn *make;
    contextsweep_tick_fn *tick;
    contextsweep_free_fn *destroy;
    void *args;
} s_start_t;

//  --------------------------------------------------------------------------

static void
s_destroy (void **state_p)
{
    if (state_p && *state_p) {
        s_sweep_t *self = (s_sweep_t *) *state_p;
        if (self->state)
            self->destroy (&self->state);
        free (self);
        *state_p = NULL;
    }
}

//  --------------------------------------------------------------------------

static int
s_tick (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    s_sweep_t *self = (s_sweep_t *) arg;
    self->tick (self->state);
    return 0;               //  a failed pass is tried again at the next tick
}

//  --------------------------------------------------------------------------

static int
s_init (zloop_t *loop, zsock_t *pipe, void *args, void **state_p)
{
    (void) pipe;
    s_start_t *start = (s_start_t *) args;
    s_sweep_t *self = (s_sweep_t *) zmalloc (sizeof (s_sweep_t));
    if (!self)
        return -1;
    self->tick = start->tick;
    self->destroy = start->destroy;
    self->state = start->make (start->args);
    if (!self->state
    ||  zloop_timer (loop, 100, 1, s_tick, self) == -1
    ||  zloop_timer (loop, (size_t) start->interval_ms, 0, s_tick, self) == -1) {
        s_destroy ((void **) &self);
        return -1;
    }
    *state_p = self;
    return 0;
}

//  --------------------------------------------------------------------------

actor_t *
contextsweep_start (const char *name, int64_t interval_ms, contextsweep_make_fn *make,
                    contextsweep_tick_fn *tick, contextsweep_free_fn *destroy, void *args)
{
    s_start_t start = { interval_ms, make, tick, destroy, args };
    return actor_new (name, s_init, NULL, s_destroy, &start);
}
