/*  =========================================================================
    order_context - the order context: its verb table and actor state

    Each worker actor opens its own connection to the order database (the
    `postgres/order` setting, or COMPTOIR_POSTGRES_ORDER) and its own client
    of the broker: checkout is a saga that calls the cart and inventory
    contexts. The first actor of a process applies the migrations
    (`order/migrations`) and owns the recovery: a small actor with its own
    connection and broker client that, at start and then every
    order/recover_interval_ms, drives to an end the checkouts left
    unfinished for order/recover_after_s (order_saga_recover): a worker
    killed mid-saga is restarted at once, and the sagas it left are older
    than any live one only some time later. Several processes' sweeps do
    not conflict: every step of the undo or the finish is conditional or
    idempotent.

    The first actor of instance 1 also runs the outbox relay (runtime/
    outbox_relay): order.confirmed and order.cancelled are written in the
    outbox in the transaction of the change, and the relay publishes them
    in order on order/events_publish and answers replays on
    order/events_replay. One relay per system; not starting it only
    delays the events, which wait in the outbox.

    A call to another context is synchronous; while it waits, the actor's
    Majordomo worker keeps sending heartbeats (contextnode_keepalive), so a
    checkout of several calls, each up to order/call_timeout_ms, does not
    get the worker taken for dead by the broker. The edge's deadline
    (edge/timeout_ms) bounds the whole checkout.
    =========================================================================
*/
#include "order_context.h"
#include "contextdb.h"
#include "contextsweep.h"
#include "order_verbs.h"
#include "contextcall.h"
#include "logline.h"
#include "outbox_relay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static const contextnode_verb_t s_verbs [] = {
    { "order.checkout", order_checkout },
    { "order.get", order_get },
    { "order.list", order_list },
    { "order.cancel", order_cancel },
    { "order.set_status", order_set_status },
    { NULL, NULL }
};

//  --------------------------------------------------------------------------

//  The parts of a state every actor builds: connection, client, timeouts.
static order_state_t *
s_state_new (settings_t *settings, int instance, int actor, const char *conninfo)
{
    order_state_t *self = (order_state_t *) zmalloc (sizeof (order_state_t));
    if (!self)
        return NULL;
    snprintf (self->name, sizeof self->name, "order-%d.%d", instance, actor);
    int64_t timeout = settings_get_int (settings, "order/call_timeout_ms", 400);
    if (timeout < 10 || timeout > 60000) {
        log_warn (NULL, "order: call_timeout_ms must be 10..60000; using 400");
        timeout = 400;
    }
    self->call_timeout_ms = (int) timeout;
    int64_t gateway = settings_get_int (settings, "order/gateway_timeout_ms", 100);
    self->gateway_timeout_ms = gateway >= 0 && gateway <= 60000 ? (int) gateway : 100;
    self->recover_after_s = settings_get_int (settings, "order/recover_after_s", 30);
    if (self->recover_after_s < 1 || self->recover_after_s > 86400)
        self->recover_after_s = 30;
    self->db = pgdb_new (conninfo);
    char client_name [32];
    snprintf (client_name, sizeof client_name, "order-%d", instance);
    self->client = contextcall_client_new (settings, client_name, self->call_timeout_ms);
    return self;
}

//  ==========================================================================
//  The recovery sweep (runtime/contextsweep): an order_state_t of its own

typedef struct {
    settings_t *settings;
    int instance;
    const char *conninfo;
} s_recovery_args_t;

static void
s_recovery_destroy (void **state_p)
{
    if (state_p && *state_p) {
        order_state_t *self = (order_state_t *) *state_p;
        mdp_client_destroy (&self->client);
        pgdb_destroy (&self->db);
        free (self);
        *state_p = NULL;
    }
}

static void *
s_recovery_make (void *args)
{
    s_recovery_args_t *recovery = (s_recovery_args_t *) args;
    order_state_t *self = s_state_new (recovery->settings, recovery->instance, 0, recovery->conninfo);
    if (self && (!self->db || !self->client))
        s_recovery_destroy ((void **) &self);
    return self;
}

static void
s_recovery_tick (void *state)
{
    order_state_t *self = (order_state_t *) state;
    int recovered = order_saga_recover (self, self->recover_after_s, 20);
    if (recovered > 0)
        log_info (NULL, "order: %d unfinished checkouts driven to an end", recovered);
    else
    if (recovered < 0)
        log_warn (NULL, "order: recovery failed: %s", pgdb_error (self->db));
}

//  --------------------------------------------------------------------------

static void
s_free_state (void **state_p)
{
    if (state_p && *state_p) {
        order_state_t *self = (order_state_t *) *state_p;
        actor_destroy (&self->relay);
        actor_destroy (&self->recovery);
        mdp_client_destroy (&self->client);
        pgdb_destroy (&self->db);
        free (self);
        *state_p = NULL;
    }
}

//  --------------------------------------------------------------------------

static void *
s_make_state (settings_t *settings, int instance, int actor)
{
    const char *conninfo = settings_get (settings, "postgres/order", "");
    if (!conninfo || !*conninfo) {
        log_error (NULL, "order: no database: set postgres/order (or COMPTOIR_POSTGRES_ORDER)");
        return NULL;
    }
    order_state_t *self = s_state_new (settings, instance, actor, conninfo);
    if (!self)
        return NULL;
    bool ready = self->db && pgdb_connect (self->db) == 0 && contextdb_prepare (self->db, settings, "order", NULL) == 0;
    if (ready && !self->client)
        log_warn (NULL, "order: actor %d.%d has no broker client (keys?): checkout will answer 503",
                  instance, actor);
    if (ready && actor == 1 && self->client) {
        s_recovery_args_t args = { settings, instance, conninfo };
        int64_t interval = settings_get_int (settings, "order/recover_interval_ms", 5000);
        if (interval < 10 || interval > 3600000)
            interval = 5000;
        self->recovery = contextsweep_start ("order-recovery", interval, s_recovery_make, s_recovery_tick,
                                             s_recovery_destroy, &args);
        if (!self->recovery)
            log_warn (NULL, "order: the recovery sweep cannot start: unfinished checkouts wait for a restart");
    }
    if (ready && actor == 1 && instance == 1)
        self->relay = outbox_relay_start (settings, "order", conninfo);
    if (!ready) {
        log_error (NULL, "order: actor %d.%d cannot start: %s %s", instance, actor,
                   self->db ? pgdb_sqlstate (self->db) : "", self->db ? pgdb_error (self->db) : "");
        s_free_state ((void **) &self);
        return NULL;
    }
    return self;
}

const contextnode_def_t order_context_def = {
    .name = "order",
    .verbs = s_verbs,
    .make_state = s_make_state,
    .free_state = s_free_state
};
