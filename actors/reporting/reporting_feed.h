/*  =========================================================================
    reporting_feed - the reporting context's only input: the event bus

    An actor with its own PostgreSQL connection follows every producer of
    reporting/producers (order, sales, inventory, product) on the event
    bus, as a CURVE client of each relay, and applies each event to the
    read models together with the producer's cursor (sql/reporting:
    reporting_apply), up to REPORTING_BATCH_MAX events a transaction. It
    catches up from the stored cursors at start and every
    reporting/catch_up_ms, so a figure appears within that time even when
    a live event was lost; it also reads the locations (names, store ids)
    from inventory's location.list through the broker.
    =========================================================================
*/
#ifndef COMPTOIR_REPORTING_FEED_H
#define COMPTOIR_REPORTING_FEED_H

#include "actor.h"
#include "eventbus.h"
#include "pgdb.h"
#include "settings.h"

//  Events applied in one transaction, at most.
#define REPORTING_BATCH_MAX 64

//  What applying one event came to.
typedef enum {
    REPORTING_APPLIED,          //  in the read models (or a topic we do not use)
    REPORTING_DUPLICATE,        //  its seq was in already: nothing changed
    REPORTING_DROPPED,          //  malformed: logged, the cursor moved past it
    REPORTING_BEHIND,           //  the stored cursor is before prev: replay first
    REPORTING_FAILED            //  the database failed: offered again later
} reporting_outcome_t;

//  Start the feed for process instance (its certificate is
//  reporting-<instance>, as the launcher creates and admits it). NULL
//  (and a log line) when it cannot start.
actor_t *reporting_feed_start (settings_t *settings, int instance, const char *conninfo);

//  Apply one event of its producer (event->context) through db.
reporting_outcome_t reporting_feed_apply (pgdb_t *db, const eventbus_event_t *event);

//  Empty the read models and the cursors: the feed replays every producer
//  from seq 1 at its next catch-up. Locations stay. 0 or -1.
int reporting_feed_rebuild (pgdb_t *db);

//  Store the locations of a location.list answer's data (an array of
//  {id, name, type, store_id}). Returns how many, or -1.
int reporting_feed_store_locations (pgdb_t *db, const json_t *locations);

#endif
