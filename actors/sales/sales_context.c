/*  =========================================================================
    sales_context - the sales context: its verb table and actor state

    Each worker actor opens its own connection to the sales database (the
    `postgres/sales` setting, or COMPTOIR_POSTGRES_SALES) and its own client
    of the broker: a sale is priced by the catalog (product.get_many) and
    takes its stock at the store through the inventory (stock.sell). The
    first actor of a process applies the migrations (`sales/migrations`)
    and owns the recovery: a small actor with its own connection and broker
    client that, soon after start and then every sales/recover_interval_ms,
    gives back the stock of the sales left pending for sales/recover_after_s
    by a crashed worker (sales_recover). Several processes' sweeps do not
    conflict: a sale is claimed ('voiding') before its stock goes back, and
    the inventory's verbs are idempotent.

    The first actor of instance 1 also runs the outbox relay (runtime/
    outbox_relay): sale.completed and sale.returned are written in the
    outbox in the transaction of the change, and the relay publishes them
    in order on sales/events_publish and answers replays on
    sales/events_replay.
    =========================================================================
*/
#include "sales_context.h"
#include "contextcall.h"
#include "contextdb.h"
#include "contextsweep.h"
#include "logline.h"
#include "outbox_relay.h"
#include "sales_verbs.h"

#include <stdio.h>
#include <stdlib.h>

static const contextnode_verb_t s_verbs [] = {
    { "sale.create", sale_create },
    { "sale.list", sale_list },
    { "sale.get", sale_get },
    { "sale.receipt", sale_receipt },
    { "sale.return", sale_return },
    { "sale.summary_daily", sale_summary_daily },
    { "register.list", register_list },
    { "register.open", register_open },
    { "register.close", register_close },
    { NULL, NULL }
};

//  --------------------------------------------------------------------------
//  The parts of a state every actor builds: connection, client, settings.

//  --------------------------------------------------------------------------

static sales_state_t *
s_state_new (settings_t *settings, int instance, int actor, const char *conninfo)
{
    sales_state_t *self = (sales_state_t *) zmalloc (sizeof (sales_state_t));
    if (!self)
        return NULL;
    snprintf (self->name, sizeof self->name, "sales-%d.%d", instance, actor);
    int64_t timeout = settings_get_int (settings, "sales/call_timeout_ms", 400);
    if (timeout < 10 || timeout > 60000) {
        log_warn (NULL, "sales: call_timeout_ms must be 10..60000; using 400");
        timeout = 400;
    }
    self->call_timeout_ms = (int) timeout;
    self->recover_after_s = settings_get_int (settings, "sales/recover_after_s", 30);
    if (self->recover_after_s < 1 || self->recover_after_s > 86400)
        self->recover_after_s = 30;
    self->max_discount_cashier = settings_get_int (settings, "sales/cashier_max_discount_percent", 20);
    if (self->max_discount_cashier < 0 || self->max_discount_cashier > 100) {
        log_warn (NULL, "sales: cashier_max_discount_percent must be 0..100; using 20");
        self->max_discount_cashier = 20;
    }
    self->db = pgdb_new (conninfo);
    char client_name [32];
    snprintf (client_name, sizeof client_name, "sales-%d", instance);
    self->client = contextcall_client_new (settings, client_name, self->call_timeout_ms);
    return self;
}

//  --------------------------------------------------------------------------

static void
s_state_destroy (sales_state_t **self_p)
{
    if (self_p && *self_p) {
        sales_state_t *self = *self_p;
        actor_destroy (&self->relay);
        actor_destroy (&self->recovery);
        mdp_client_destroy (&self->client);
        pgdb_destroy (&self->db);
        free (self);
        *self_p = NULL;
    }
}

//  ==========================================================================
//  The recovery sweep (runtime/contextsweep): a sales_state_t of its own

typedef struct {
    settings_t *settings;
    int instance;
    const char *conninfo;
} s_recovery_args_t;

//  --------------------------------------------------------------------------

static void *
s_recovery_make (void *args)
{
    s_recovery_args_t *recovery = (s_recovery_args_t *) args;
    sales_state_t *self = s_state_new (recovery->settings, recovery->instance, 0, recovery->conninfo);
    if (self && (!self->db || !self->client))
        s_state_destroy (&self);
    return self;
}

//  --------------------------------------------------------------------------

static void
s_recovery_tick (void *state)
{
    sales_state_t *self = (sales_state_t *) state;
    int recovered = sales_recover (self, self->recover_after_s, 20);
    if (recovered > 0)
        log_info (NULL, "sales: %d sales, returns or keys left by a crash settled", recovered);
    else
    if (recovered < 0)
        log_warn (NULL, "sales: recovery failed: %s", pgdb_error (self->db));
}

//  --------------------------------------------------------------------------

static void
s_recovery_destroy (void **state_p)
{
    s_state_destroy ((sales_state_t **) state_p);
}

//  --------------------------------------------------------------------------

static void
s_free_state (void **state_p)
{
    s_state_destroy ((sales_state_t **) state_p);
}

//  --------------------------------------------------------------------------

static void *
s_make_state (settings_t *settings, int instance, int actor)
{
    const char *conninfo = settings_get (settings, "postgres/sales", "");
    if (!conninfo || !*conninfo) {
        log_error (NULL, "sales: no database: set postgres/sales (or COMPTOIR_POSTGRES_SALES)");
        return NULL;
    }
    sales_state_t *self = s_state_new (settings, instance, actor, conninfo);
    if (!self)
        return NULL;
    bool ready = self->db && pgdb_connect (self->db) == 0
              && contextdb_prepare (self->db, settings, "sales", NULL) == 0;
    if (ready && !self->client)
        log_warn (NULL, "sales: actor %d.%d has no broker client (keys?): sales will answer 503",
                  instance, actor);
    if (ready && actor == 1 && self->client) {
        s_recovery_args_t args = { settings, instance, conninfo };
        int64_t interval = settings_get_int (settings, "sales/recover_interval_ms", 5000);
        if (interval < 10 || interval > 3600000)
            interval = 5000;
        self->recovery = contextsweep_start ("sales-recovery", interval, s_recovery_make, s_recovery_tick,
                                             s_recovery_destroy, &args);
        if (!self->recovery)
            log_warn (NULL, "sales: the recovery sweep cannot start: pending sales wait for a restart");
    }
    if (ready && actor == 1 && instance == 1)
        self->relay = outbox_relay_start (settings, "sales", conninfo);
    if (!ready) {
        log_error (NULL, "sales: actor %d.%d cannot start: %s %s", instance, actor,
                   self->db ? pgdb_sqlstate (self->db) : "", self->db ? pgdb_error (self->db) : "");
        s_state_destroy (&self);
        return NULL;
    }
    return self;
}

const contextnode_def_t sales_context_def = {
    .name = "sales",
    .verbs = s_verbs,
    .make_state = s_make_state,
    .free_state = s_free_state
};
