/*  =========================================================================
    reporting_context - the reporting context: its verb table and actor state

    Reporting never reads another context's database: its own database
    (`postgres/reporting`, or COMPTOIR_POSTGRES_REPORTING) holds read models
    built from the events the other contexts publish. Each worker actor
    opens its own connection and answers the report.* verbs from those
    read models. The first actor of a process applies the migrations
    (`reporting/migrations`); the first actor of instance 1 also runs the
    event feed (reporting_feed), the only writer of the read models. One
    feed per system is enough and more would be harmless: the cursor check
    in the database applies each event once, whoever offers it.
    =========================================================================
*/
#include "reporting_context.h"
#include "contextdb.h"
#include "logline.h"
#include "report_verbs.h"
#include "reporting_feed.h"

#include <stdio.h>
#include <stdlib.h>

static const contextnode_verb_t s_verbs [] = {
    { "report.dashboard", report_dashboard },
    { "report.sales", report_sales },
    { "report.inventory", report_inventory },
    { NULL, NULL }
};

//  --------------------------------------------------------------------------

static void
s_free_state (void **state_p)
{
    if (state_p && *state_p) {
        reporting_state_t *self = (reporting_state_t *) *state_p;
        actor_destroy (&self->feed);
        pgdb_destroy (&self->db);
        free (self);
        *state_p = NULL;
    }
}

//  --------------------------------------------------------------------------

static void *
s_make_state (settings_t *settings, int instance, int actor)
{
    const char *conninfo = settings_get (settings, "postgres/reporting", "");
    if (!conninfo || !*conninfo) {
        log_error (NULL, "reporting: no database: set postgres/reporting (or COMPTOIR_POSTGRES_REPORTING)");
        return NULL;
    }
    reporting_state_t *self = (reporting_state_t *) zmalloc (sizeof (reporting_state_t));
    if (!self)
        return NULL;
    snprintf (self->name, sizeof self->name, "reporting-%d.%d", instance, actor);
    self->db = pgdb_new (conninfo);
    bool ready = self->db && pgdb_connect (self->db) == 0
              && contextdb_prepare (self->db, settings, "reporting", NULL) == 0;
    if (!ready) {
        log_error (NULL, "reporting: actor %d.%d cannot start: %s %s", instance, actor,
                   self->db ? pgdb_sqlstate (self->db) : "", self->db ? pgdb_error (self->db) : "");
        s_free_state ((void **) &self);
        return NULL;
    }
    if (actor == 1 && instance == 1)
        self->feed = reporting_feed_start (settings, instance, conninfo);
    return self;
}

const contextnode_def_t reporting_context_def = {
    .name = "reporting",
    .verbs = s_verbs,
    .make_state = s_make_state,
    .free_state = s_free_state
};
