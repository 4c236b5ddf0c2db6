/*  =========================================================================
    inventory_context - the inventory context: its verb table and actor state

    Each worker actor opens its own connection to the inventory database
    (the `postgres/inventory` setting, or COMPTOIR_POSTGRES_INVENTORY). The
    first actor of a process to start applies the migrations
    (`inventory/migrations`); the others wait for it, so no actor serves
    before the schema is there. Across processes, pgdb_migrate's advisory
    lock does the same.

    A forgotten reservation must release itself. The first actor of every
    process also owns a sweeper: a small actor with its own connection and
    a timer (`inventory/reservation_sweep_ms`) that releases held
    reservations past their time. Sweepers of several processes do not
    fight: each takes its batch with FOR UPDATE SKIP LOCKED.

    The first actor of instance 1 also owns the outbox relay (outbox_relay.c)
    when `inventory/events_publish` and `inventory/events_replay` are set.
    =========================================================================
*/
#include "inventory_context.h"
#include "contextdb.h"
#include "logline.h"
#include "outbox_relay.h"
#include "pos_stock_verbs.h"
#include "reservation_verbs.h"
#include "stock_verbs.h"
#include "transfer_verbs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#define INVENTORY_SWEEP_MS_DEFAULT  1000

static const contextnode_verb_t s_verbs [] = {
    { "location.list", location_list },
    { "stock.list", stock_list },
    { "stock.get", stock_get },
    { "stock.adjust", stock_adjust },
    { "movement.list", movement_list },
    { "alert.list", alert_list },
    { "transfer.create", transfer_create },
    { "transfer.approve", transfer_approve },
    { "transfer.deliver", transfer_deliver },
    { "transfer.cancel", transfer_cancel },
    { "transfer.list", transfer_list },
    { "transfer.get", transfer_get },
    { "reservation.reserve", reservation_reserve },
    { "reservation.commit", reservation_commit },
    { "reservation.release", reservation_release },
    { "reservation.restock", reservation_restock },
    { "reservation.get", reservation_get },
    { "stock.sell", pos_stock_sell },
    { "stock.sell_undo", pos_stock_sell_undo },
    { "stock.return", pos_stock_return },
    { NULL, NULL }
};


//  ==========================================================================
//  The sweeper

typedef struct {
    const char *conninfo;
    int64_t interval_ms;
} s_sweeper_args_t;

typedef struct {
    pgdb_t *db;
} s_sweeper_t;

static int
s_sweeper_tick (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    s_sweeper_t *self = (s_sweeper_t *) arg;
    //  Several batches when many expired at once, but bounded per tick.
    for (int batch = 0; batch < 10; batch++) {
        int released = inventory_reservation_sweep (self->db, 100);
        if (released < 0)
            log_warn (NULL, "inventory: reservation sweep failed: %s %s",
                      pgdb_sqlstate (self->db), pgdb_error (self->db));
        else
        if (released > 0)
            log_info (NULL, "inventory: %d expired reservations released", released);
        if (released < 100)
            break;
    }
    return 0;           //  a failed sweep is tried again at the next tick
}

static int
s_sweeper_init (zloop_t *loop, zsock_t *pipe, void *args, void **state_p)
{
    (void) pipe;
    const s_sweeper_args_t *sweeper_args = (const s_sweeper_args_t *) args;
    s_sweeper_t *self = (s_sweeper_t *) zmalloc (sizeof (s_sweeper_t));
    if (!self)
        return -1;
    self->db = pgdb_new (sweeper_args->conninfo);
    if (!self->db
    ||  zloop_timer (loop, (size_t) sweeper_args->interval_ms, 0, s_sweeper_tick, self) == -1) {
        pgdb_destroy (&self->db);
        free (self);
        return -1;
    }
    *state_p = self;
    return 0;
}

static void
s_sweeper_destroy (void **state_p)
{
    if (state_p && *state_p) {
        s_sweeper_t *self = (s_sweeper_t *) *state_p;
        pgdb_destroy (&self->db);
        free (self);
        *state_p = NULL;
    }
}

actor_t *
inventory_sweeper_new (const char *conninfo, int64_t interval_ms)
{
    if (!conninfo || interval_ms < 10)
        return NULL;
    s_sweeper_args_t args = { conninfo, interval_ms };
    return actor_new ("inventory-sweeper", s_sweeper_init, NULL, s_sweeper_destroy, &args);
}

//  ==========================================================================
//  Actor state

static void
s_free_state (void **state_p)
{
    if (state_p && *state_p) {
        inventory_state_t *self = (inventory_state_t *) *state_p;
        actor_destroy (&self->relay);
        actor_destroy (&self->sweeper);
        pgdb_destroy (&self->db);
        free (self);
        *state_p = NULL;
    }
}

//  --------------------------------------------------------------------------

static void *
s_make_state (settings_t *settings, int instance, int actor)
{
    const char *conninfo = settings_get (settings, "postgres/inventory", "");
    if (!conninfo || !*conninfo) {
        log_error (NULL, "inventory: no database: set postgres/inventory (or COMPTOIR_POSTGRES_INVENTORY)");
        return NULL;
    }
    inventory_state_t *self = (inventory_state_t *) zmalloc (sizeof (inventory_state_t));
    if (!self)
        return NULL;
    self->reservation_ttl_s = settings_get_int (settings, "inventory/reservation_ttl_s",
                                                INVENTORY_RESERVATION_TTL_S);
    if (self->reservation_ttl_s < 1 || self->reservation_ttl_s > INVENTORY_RESERVATION_TTL_MAX_S)
        self->reservation_ttl_s = INVENTORY_RESERVATION_TTL_S;
    self->db = pgdb_new (conninfo);
    bool ready = self->db && pgdb_connect (self->db) == 0 && contextdb_prepare (self->db, settings, "inventory", NULL) == 0;
    if (ready && actor == 1) {
        int64_t sweep_ms = settings_get_int (settings, "inventory/reservation_sweep_ms",
                                             INVENTORY_SWEEP_MS_DEFAULT);
        if (sweep_ms < 10 || sweep_ms > 3600000) {
            log_warn (NULL, "inventory: reservation_sweep_ms must be 10..3600000; using %d",
                      INVENTORY_SWEEP_MS_DEFAULT);
            sweep_ms = INVENTORY_SWEEP_MS_DEFAULT;
        }
        self->sweeper = inventory_sweeper_new (conninfo, sweep_ms);
        ready = self->sweeper != NULL;
    }
    //  The outbox relay: one per system (instance 1; its advisory lock keeps
    //  two relays on one database from interleaving). Not starting it only
    //  delays events, which wait in the outbox: the worker serves anyway.
    if (ready && actor == 1 && instance == 1)
        self->relay = outbox_relay_start (settings, "inventory", conninfo);
    if (!ready) {
        log_error (NULL, "inventory: actor %d.%d cannot start: %s %s", instance, actor,
                   self->db ? pgdb_sqlstate (self->db) : "", self->db ? pgdb_error (self->db) : "");
        s_free_state ((void **) &self);
        return NULL;
    }
    return self;
}

const contextnode_def_t inventory_context_def = {
    .name = "inventory",
    .verbs = s_verbs,
    .make_state = s_make_state,
    .free_state = s_free_state
};
