/*  =========================================================================
    reporting_feed - the reporting context's only input: the event bus

    Why it is built this way:

    - The database is the truth of what was applied. Each event goes in
      with one statement (reporting_apply, sql/reporting/0001_init.sql)
      that moves the producer's cursor in the same transaction and refuses
      an event that is not next in line for the stored cursor. At every
      tick the feed reads the cursors back and sets its subscribers' last
      seq from them before it catches up: after a rebuild (the cursors
      emptied by `comptoir-reporting --rebuild`, even from another
      process) the next tick replays from seq 1, and a second reporting
      process applying the same events changes nothing twice.
    - A producer may not exist yet (its relay has not started, or its
      context is not deployed): its server key <keys dir>/<producer>-events
      is then absent, or its replay does not answer. That producer is
      tried again with a growing pause (up to REPORTING_RETRY_MAX_MS), with
      one log line when it goes away and one when it comes back, and never
      holds up the others: a replay waits at most reporting/replay_timeout_ms.
    - A malformed event is dropped by the database function (its changes
      rolled back to a savepoint, the cursor moved past it) and logged
      here: one bad payload must not stop a producer's stream forever.
    - Events go in by batches, one transaction each: one transaction per
      event held the feed to about 55 sales a second at saturation
      (docs/benchmarks.md, issue 8). A batch is one producer's
      events: what its SUB socket holds when it becomes readable (read
      until nothing more waits, so a quiet shop's sale is committed at
      once, or REPORTING_BATCH_MS so the other producers get their turn),
      or what a catch-up replays; at most REPORTING_BATCH_MAX statements
      each, which also keeps the subtransactions of reporting_apply's
      EXCEPTION block within what a PostgreSQL backend caches (64), so
      other sessions' snapshots stay cheap. Any failure in a batch (an
      event behind the stored cursor, a database error, a failed COMMIT)
      rolls all of it back, and every subscriber's last seq is read back
      from the cursors: those events are offered again by the next replay.
    - An event PostgreSQL refuses as jsonb (SQLSTATE class 22, a \u0000
      in a string) aborts the whole transaction, so reporting_drop cannot
      run in it. The batch is rolled back as for any failure, the
      producer remembers that seq, and the events up to it are applied
      again at once from a replay, one per transaction as alone they
      always were, so reporting_drop moves the cursor past the refused
      one. No savepoint per event: that would cost a round trip and a
      subtransaction for every event to spare a rare one its replay.
    - Metrics count only what was committed: a batch's counts wait beside
      it and are added after its COMMIT, or forgotten with its rollback.
    - Locations are not events: the feed asks inventory's location.list
      through the broker at start and then every REPORTING_LOCATIONS_MS
      (every 5 s until a first non-empty answer), so the dashboard names
      stores.
    - What the feed did is counted per producer in its own registry and
      pushed to the process's /metrics through sidemetrics after every
      tick: events applied and dropped, transactions committed, the last
      seq in the cursor, and the lag of the last applied event (when its
      transaction committed, less its `at`), measured at that moment so a
      quiet shop does not look like a late feed.
    =========================================================================
*/
#include "reporting_feed.h"
#include "curvekeys.h"
#include "logline.h"
#include "mdp_client.h"
#include "sidemetrics.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REPORTING_PRODUCERS_MAX   8
#define REPORTING_RETRY_MIN_MS    1000
#define REPORTING_RETRY_MAX_MS    5000
#define REPORTING_LOCATIONS_MS    300000
#define REPORTING_LOCATIONS_RETRY 5000
#define REPORTING_BATCH_MS        50    //  a live batch reads its socket this long, at most

typedef struct _s_feed_t s_feed_t;

//  One producer followed.
typedef struct {
    s_feed_t *feed;
    char name [32];             //  "order": its context name
    char *publish;              //  <producer>/events_publish
    char *replay;               //  <producer>/events_replay
    eventbus_subscriber_t *subscriber;
    int64_t retry_at;           //  zclock_mono: next attempt after a failure
    int64_t pause_ms;           //  the current pause between attempts
    bool away;                  //  logged as away, not yet back
    int64_t alone_until;        //  events up to this seq go one per transaction
    int64_t applied;            //  in the open batch, counted after its COMMIT
    int64_t dropped;
    int64_t last_seq;           //  the last seq the open batch moved, or 0
    int64_t last_at;            //  `at` of its last applied event, or 0
} s_producer_t;

struct _s_feed_t {
    pgdb_t *db;
    zloop_t *loop;
    zcert_t *cert;              //  reporting-<instance>: admitted by every relay
    char *keys_dir;
    int replay_timeout_ms;
    s_producer_t producers [REPORTING_PRODUCERS_MAX];
    size_t count;
    mdp_client_t *client;       //  for location.list, or NULL without a broker key
    int64_t locations_at;       //  zclock_mono: next location.list
    bool locations_missing;     //  logged as missing, not yet read
    sidemetrics_t *metrics;     //  per producer: applied, dropped, last seq, lag
    char labels [48];           //  process="reporting-<instance>"
    bool batch_open;            //  BEGIN sent, no COMMIT yet
    size_t batch_size;          //  statements in the open batch
};

typedef struct {
    settings_t *settings;
    int instance;
    const char *conninfo;
} s_feed_args_t;

//  ==========================================================================
//  Applying

//  One event in one statement. A payload PostgreSQL refuses as jsonb is
//  dropped by reporting_drop when the statement runs alone; in a batch the
//  transaction is aborted by then, so *refused tells the caller instead.

static reporting_outcome_t
s_apply_statement (pgdb_t *db, const eventbus_event_t *event, bool alone, bool *refused)
{
    *refused = false;
    char *payload = json_dumps (event->payload, JSON_COMPACT | JSON_ENCODE_ANY);
    char seq [24], prev [24], at [24];
    snprintf (seq, sizeof seq, "%" PRId64, event->seq);
    snprintf (prev, sizeof prev, "%" PRId64, event->prev);
    snprintf (at, sizeof at, "%" PRId64, event->at);
    if (!payload)
        return REPORTING_FAILED;
    const char *params [] = { event->context, seq, prev, event->topic, payload, at };
    PGresult *result = pgdb_exec (db, "reporting_apply",
        "SELECT reporting_apply ($1, $2::bigint, $3::bigint, $4, $5::jsonb,"
        " to_timestamp ($6::bigint / 1000.0))", 6, params);
    free (payload);
    if (!result && strncmp (pgdb_sqlstate (db), "22", 2) == 0) {
        //  Not even valid jsonb for PostgreSQL (a \u0000 in a string): the
        //  cursor moves past it alone, or the stream would stop here.
        if (!alone) {
            log_info (NULL, "reporting: %s seq %" PRId64 " is not valid jsonb: its batch goes again,"
                      " one event per transaction", event->context, event->seq);
            *refused = true;
            return REPORTING_FAILED;
        }
        result = pgdb_exec (db, "reporting_drop",
                            "SELECT reporting_drop ($1, $2::bigint, $3::bigint)", 3, params);
    }
    if (!result) {
        log_warn (NULL, "reporting: %s seq %" PRId64 " (%s) not applied: %s %s", event->context,
                  event->seq, event->topic, pgdb_sqlstate (db), pgdb_error (db));
        return REPORTING_FAILED;
    }
    const char *outcome = PQgetvalue (result, 0, 0);
    reporting_outcome_t rc = REPORTING_APPLIED;
    if (streq (outcome, "duplicate"))
        rc = REPORTING_DUPLICATE;
    else
    if (streq (outcome, "behind"))
        rc = REPORTING_BEHIND;
    else
    if (strncmp (outcome, "dropped", 7) == 0) {
        log_warn (NULL, "reporting: %s seq %" PRId64 " (%s) dropped, malformed: %s", event->context,
                  event->seq, event->topic, outcome);
        rc = REPORTING_DROPPED;
    }
    PQclear (result);
    return rc;
}

//  --------------------------------------------------------------------------

reporting_outcome_t
reporting_feed_apply (pgdb_t *db, const eventbus_event_t *event)
{
    assert (db);
    assert (event);
    bool refused;
    return s_apply_statement (db, event, true, &refused);
}

//  --------------------------------------------------------------------------

int
reporting_feed_rebuild (pgdb_t *db)
{
    assert (db);
    PGresult *result = pgdb_exec (db, "reporting_rebuild", "SELECT reporting_rebuild ()", 0, NULL);
    if (!result)
        return -1;
    PQclear (result);
    return 0;
}

//  --------------------------------------------------------------------------

int
reporting_feed_store_locations (pgdb_t *db, const json_t *locations)
{
    assert (db);
    if (!json_is_array (locations))
        return -1;
    size_t index;
    json_t *location;
    json_array_foreach (locations, index, location) {
        json_t *store = json_object_get (location, "store_id");
        if (!json_is_integer (json_object_get (location, "id"))
        ||  json_integer_value (json_object_get (location, "id")) < 1
        ||  !json_is_string (json_object_get (location, "name"))
        ||  !json_is_string (json_object_get (location, "type"))
        ||  (store && !json_is_null (store) && (!json_is_integer (store) || json_integer_value (store) < 1)))
            return -1;
    }
    char *text = json_dumps (locations, JSON_COMPACT);
    if (!text)
        return -1;
    const char *params [] = { text };
    PGresult *result = pgdb_exec (db, "reporting_locations",
        "INSERT INTO locations (location_id, name, type, store_id)"
        " SELECT (l ->> 'id')::bigint, l ->> 'name', l ->> 'type', (l ->> 'store_id')::bigint"
        "   FROM jsonb_array_elements ($1::jsonb) AS l"
        " ON CONFLICT (location_id) DO UPDATE"
        "    SET name = EXCLUDED.name, type = EXCLUDED.type, store_id = EXCLUDED.store_id,"
        "        updated_at = now ()", 1, params);
    free (text);
    if (!result)
        return -1;
    PQclear (result);
    return (int) json_array_size (locations);
}

//  ==========================================================================
//  The actor

//  The stored cursor of each producer into its subscriber. -1 when the
//  database did not answer.

static int
s_load_cursors (s_feed_t *self)
{
    PGresult *result = pgdb_exec (self->db, "reporting_cursors",
                                  "SELECT producer, last_seq FROM feed_cursors", 0, NULL);
    if (!result)
        return -1;
    for (size_t index = 0; index < self->count; index++) {
        s_producer_t *producer = &self->producers [index];
        if (!producer->subscriber)
            continue;
        int64_t last = 0;
        for (int row = 0; row < PQntuples (result); row++)
            if (streq (PQgetvalue (result, row, 0), producer->name))
                last = strtoll (PQgetvalue (result, row, 1), NULL, 10);
        eventbus_subscriber_set_last (producer->subscriber, last);
        if (self->metrics) {
            char labels [64];
            snprintf (labels, sizeof labels, "producer=\"%s\"", producer->name);
            metrics_gauge_set (sidemetrics_registry (self->metrics), "comptoir_reporting_last_seq",
                               labels, (double) last);
        }
    }
    PQclear (result);
    return 0;
}

//  --------------------------------------------------------------------------
//  What a producer's events came to in the transaction that just
//  committed, into the metrics; then nothing waits.

static void
s_count_committed (s_feed_t *self, s_producer_t *producer, bool transaction)
{
    if (self->metrics && (producer->applied || producer->dropped)) {
        metrics_t *metrics = sidemetrics_registry (self->metrics);
        char labels [64];
        snprintf (labels, sizeof labels, "producer=\"%s\"", producer->name);
        metrics_counter_add (metrics, "comptoir_reporting_events_applied_total", labels,
                             (double) producer->applied);
        metrics_counter_add (metrics, "comptoir_reporting_events_dropped_total", labels,
                             (double) producer->dropped);
        metrics_gauge_set (metrics, "comptoir_reporting_last_seq", labels, (double) producer->last_seq);
        if (producer->last_at)
            metrics_gauge_set (metrics, "comptoir_reporting_lag_seconds", labels,
                               (double) (zclock_time () - producer->last_at) / 1000.0);
        if (transaction)
            metrics_counter_add (metrics, "comptoir_reporting_transactions_total", labels, 1);
    }
    producer->applied = producer->dropped = 0;
    producer->last_seq = producer->last_at = 0;
}

//  --------------------------------------------------------------------------
//  COMMIT the open batch, if any, and count it. 0, or -1 when the commit
//  failed (nothing of the batch is in).

static int
s_batch_commit (s_feed_t *self)
{
    if (!self->batch_open)
        return 0;
    self->batch_open = false;
    self->batch_size = 0;
    if (pgdb_run (self->db, "COMMIT"))
        return -1;
    for (size_t index = 0; index < self->count; index++)
        s_count_committed (self, &self->producers [index], true);
    return 0;
}

//  --------------------------------------------------------------------------
//  End the open batch: COMMIT when ok, else (or when the commit fails)
//  roll it back, forget its counts and read every cursor back, so the
//  subscribers offer its events again. 0, or -1 when nothing was kept.

static int
s_batch_end (s_feed_t *self, bool ok)
{
    if (ok && s_batch_commit (self) == 0)
        return 0;
    if (self->batch_open)
        pgdb_run (self->db, "ROLLBACK");
    self->batch_open = false;
    self->batch_size = 0;
    for (size_t index = 0; index < self->count; index++) {
        s_producer_t *producer = &self->producers [index];
        producer->applied = producer->dropped = 0;
        producer->last_seq = producer->last_at = 0;
    }
    //  Unread, a subscriber may believe a seq the database does not hold:
    //  reporting_apply then answers "behind" and the next tick reads again.
    if (s_load_cursors (self))
        log_warn (NULL, "reporting: cannot read the cursors back: %s %s", pgdb_sqlstate (self->db),
                  pgdb_error (self->db));
    return -1;
}

//  --------------------------------------------------------------------------
//  Apply one event of producer (arg): in the open batch (BEGIN first, a
//  full batch committed first), or alone after a refusal as jsonb.

static int
s_apply (const eventbus_event_t *event, void *arg)
{
    s_producer_t *producer = (s_producer_t *) arg;
    s_feed_t *self = producer->feed;
    bool alone = event->seq <= producer->alone_until;
    if (alone || self->batch_size >= REPORTING_BATCH_MAX) {
        if (s_batch_commit (self))
            return -1;
    }
    if (!alone && !self->batch_open) {
        if (pgdb_run (self->db, "BEGIN"))
            return -1;
        self->batch_open = true;
    }
    bool refused;
    reporting_outcome_t outcome = s_apply_statement (self->db, event, alone, &refused);
    if (refused)
        producer->alone_until = event->seq;
    if (!alone)
        self->batch_size++;
    if (outcome == REPORTING_APPLIED || outcome == REPORTING_DROPPED) {
        producer->applied += outcome == REPORTING_APPLIED;
        producer->dropped += outcome == REPORTING_DROPPED;
        producer->last_seq = event->seq;
        if (outcome == REPORTING_APPLIED)
            producer->last_at = event->at;
        if (alone)
            s_count_committed (self, producer, true);
    }
    //  Behind or failed: the caller rolls the batch back and the stored
    //  cursors say where the replay starts.
    return outcome == REPORTING_BEHIND || outcome == REPORTING_FAILED ? -1 : 0;
}

//  --------------------------------------------------------------------------
//  Replay what producer's stream holds past its cursor, a batch at a time.
//  After a refusal as jsonb, at once again: the events up to that one go
//  alone this time. Returns how many were applied, or -1.

static int
s_catch_up (s_feed_t *self, s_producer_t *producer)
{
    while (true) {
        int64_t alone_until = producer->alone_until;
        int applied = eventbus_subscriber_catch_up (producer->subscriber, s_apply, producer);
        if (s_batch_end (self, applied >= 0) == 0)
            return applied;
        if (producer->alone_until == alone_until)
            return -1;
    }
}

//  --------------------------------------------------------------------------
//  Live events on one producer's SUB socket: one batch of what waits.

static int
s_on_event (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop;
    s_producer_t *producer = (s_producer_t *) arg;
    s_feed_t *self = producer->feed;
    int64_t alone_until = producer->alone_until;
    int64_t until = zclock_mono () + REPORTING_BATCH_MS;
    int rc;
    do
        rc = eventbus_subscriber_handle (producer->subscriber, s_apply, producer);
    while (rc >= 0 && (zsock_events (reader) & ZMQ_POLLIN) && zclock_mono () < until);
    if (s_batch_end (self, rc >= 0) == 0)
        return 0;
    if (producer->alone_until != alone_until && s_catch_up (self, producer) >= 0)
        return 0;
    log_info (NULL, "reporting: %s: events wait for the next catch-up", producer->name);
    return 0;
}

//  --------------------------------------------------------------------------
//  The subscriber of a producer, once its relay has published its key.

static int
s_subscribe (s_feed_t *self, s_producer_t *producer)
{
    char path [600];
    snprintf (path, sizeof path, "%s/%s-events", self->keys_dir, producer->name);
    char *server_key = curvekeys_public_of (path);
    if (!server_key)
        return -1;
    producer->subscriber = eventbus_subscriber_new_secure (producer->name, producer->publish,
                                                           producer->replay, self->cert, server_key);
    free (server_key);
    if (!producer->subscriber)
        return -1;
    eventbus_subscriber_set_timeout (producer->subscriber, self->replay_timeout_ms);
    if (zloop_reader (self->loop, eventbus_subscriber_sock (producer->subscriber), s_on_event, producer)) {
        eventbus_subscriber_destroy (&producer->subscriber);
        return -1;
    }
    return 0;
}

//  --------------------------------------------------------------------------

static void
s_producer_failed (s_producer_t *producer, const char *why)
{
    if (!producer->away)
        log_warn (NULL, "reporting: producer %s is away (%s): tried again every %d..%d ms",
                  producer->name, why, REPORTING_RETRY_MIN_MS, REPORTING_RETRY_MAX_MS);
    producer->away = true;
    producer->pause_ms = producer->pause_ms ? producer->pause_ms * 2 : REPORTING_RETRY_MIN_MS;
    if (producer->pause_ms > REPORTING_RETRY_MAX_MS)
        producer->pause_ms = REPORTING_RETRY_MAX_MS;
    producer->retry_at = zclock_mono () + producer->pause_ms;
}

//  --------------------------------------------------------------------------

static void
s_refresh_locations (s_feed_t *self)
{
    envelope_t *ask = self->client ? envelope_new_request ("location.list") : NULL;
    if (!ask) {
        self->locations_at = zclock_mono () + REPORTING_LOCATIONS_MS;
        return;
    }
    envelope_set_str (&ask->consumer, "reporting");
    envelope_set_str (&ask->role, "service");
    ask->retryable = true;
    ask->deadline = zclock_time () + self->replay_timeout_ms;
    ask->body = json_pack ("{s:{}}", "params");
    envelope_t *answer = mdp_client_call (self->client, "inventory", &ask);
    envelope_destroy (&ask);
    json_t *data = answer && answer->status == 200 && json_is_object (answer->body)
                 ? json_object_get (answer->body, "data") : NULL;
    int stored = data ? reporting_feed_store_locations (self->db, data) : -1;
    if (stored <= 0) {
        //  None yet (inventory not up, or not seeded yet): ask again soon.
        if (!self->locations_missing)
            log_info (NULL, "reporting: no locations from inventory yet (%d): store names wait",
                      answer ? answer->status : 0);
        self->locations_missing = true;
        self->locations_at = zclock_mono () + REPORTING_LOCATIONS_RETRY;
    }
    else {
        if (self->locations_missing)
            log_info (NULL, "reporting: %d locations read from inventory", stored);
        self->locations_missing = false;
        self->locations_at = zclock_mono () + REPORTING_LOCATIONS_MS;
    }
    envelope_destroy (&answer);
}

//  --------------------------------------------------------------------------
//  Every catch_up_ms: subscribe what can be, set the cursors from the
//  database, replay what the live stream missed.

static int
s_tick (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop; (void) timer_id;
    s_feed_t *self = (s_feed_t *) arg;
    int64_t now = zclock_mono ();
    for (size_t index = 0; index < self->count; index++) {
        s_producer_t *producer = &self->producers [index];
        if (now < producer->retry_at || producer->subscriber)
            continue;
        if (s_subscribe (self, producer))
            s_producer_failed (producer, "no relay key yet");
    }
    if (s_load_cursors (self)) {
        log_warn (NULL, "reporting: cannot read the cursors: %s %s", pgdb_sqlstate (self->db),
                  pgdb_error (self->db));
        return 0;
    }
    for (size_t index = 0; index < self->count; index++) {
        s_producer_t *producer = &self->producers [index];
        if (!producer->subscriber || now < producer->retry_at)
            continue;
        int applied = s_catch_up (self, producer);
        if (applied < 0)
            s_producer_failed (producer, "its replay did not answer, or an event could not be applied");
        else {
            if (producer->away)
                log_info (NULL, "reporting: producer %s is back", producer->name);
            producer->away = false;
            producer->pause_ms = 0;
            producer->retry_at = 0;
        }
    }
    if (now >= self->locations_at)
        s_refresh_locations (self);
    if (self->metrics)
        sidemetrics_push (self->metrics, self->labels);
    return 0;
}

//  --------------------------------------------------------------------------

static void
s_feed_destroy (void **state_p)
{
    if (state_p && *state_p) {
        s_feed_t *self = (s_feed_t *) *state_p;
        for (size_t index = 0; index < self->count; index++) {
            eventbus_subscriber_destroy (&self->producers [index].subscriber);
            free (self->producers [index].publish);
            free (self->producers [index].replay);
        }
        mdp_client_destroy (&self->client);
        sidemetrics_destroy (&self->metrics);
        zcert_destroy (&self->cert);
        pgdb_destroy (&self->db);
        free (self->keys_dir);
        free (self);
        *state_p = NULL;
    }
}

//  --------------------------------------------------------------------------
//  The producers of reporting/producers with both endpoints set. -1 when
//  the list names something else.

static int
s_producers_read (s_feed_t *self, settings_t *settings)
{
    char *list = strdup (settings_get (settings, "reporting/producers", "order sales inventory product"));
    if (!list)
        return -1;
    int rc = 0;
    char *save = NULL;
    for (char *name = strtok_r (list, " ,", &save); name && rc == 0; name = strtok_r (NULL, " ,", &save)) {
        if (!streq (name, "order") && !streq (name, "sales") && !streq (name, "inventory")
        &&  !streq (name, "product")) {
            log_error (NULL, "reporting/producers: '%s' is not order, sales, inventory or product", name);
            rc = -1;
            break;
        }
        char path [96];
        snprintf (path, sizeof path, "%s/events_publish", name);
        const char *publish = settings_get (settings, path, "");
        snprintf (path, sizeof path, "%s/events_replay", name);
        const char *replay = settings_get (settings, path, "");
        if (!*publish || !*replay) {
            log_warn (NULL, "reporting: %s has no events_publish / events_replay: not followed", name);
            continue;
        }
        if (self->count == REPORTING_PRODUCERS_MAX)
            break;
        s_producer_t *producer = &self->producers [self->count++];
        producer->feed = self;
        snprintf (producer->name, sizeof producer->name, "%s", name);
        producer->publish = strdup (publish);
        producer->replay = strdup (replay);
        if (!producer->publish || !producer->replay)
            rc = -1;
        if (self->metrics) {
            //  Every followed producer shows its counters, at 0 until it moves.
            metrics_t *metrics = sidemetrics_registry (self->metrics);
            snprintf (path, sizeof path, "producer=\"%s\"", name);
            metrics_counter_add (metrics, "comptoir_reporting_events_applied_total", path, 0);
            metrics_counter_add (metrics, "comptoir_reporting_events_dropped_total", path, 0);
            metrics_counter_add (metrics, "comptoir_reporting_transactions_total", path, 0);
        }
    }
    free (list);
    return rc;
}

//  --------------------------------------------------------------------------

static int
s_feed_init (zloop_t *loop, zsock_t *pipe, void *args, void **state_p)
{
    (void) pipe;
    const s_feed_args_t *feed_args = (const s_feed_args_t *) args;
    settings_t *settings = feed_args->settings;
    s_feed_t *self = (s_feed_t *) zmalloc (sizeof (s_feed_t));
    if (!self)
        return -1;
    *state_p = self;
    self->loop = loop;
    self->db = pgdb_new (feed_args->conninfo);
    self->keys_dir = strdup (settings_get (settings, "keys/dir", "var/keys"));
    char name [32];
    snprintf (name, sizeof name, "reporting-%d", feed_args->instance);
    self->cert = self->keys_dir ? curvekeys_ensure (self->keys_dir, name, true) : NULL;
    int64_t catch_up = settings_get_int (settings, "reporting/catch_up_ms", 1000);
    if (catch_up < 10 || catch_up > 60000) {
        log_warn (NULL, "reporting: catch_up_ms must be 10..60000; using 1000");
        catch_up = 1000;
    }
    int64_t timeout = settings_get_int (settings, "reporting/replay_timeout_ms", 500);
    if (timeout < 10 || timeout > 60000) {
        log_warn (NULL, "reporting: replay_timeout_ms must be 10..60000; using 500");
        timeout = 500;
    }
    self->replay_timeout_ms = (int) timeout;
    snprintf (self->labels, sizeof self->labels, "process=\"reporting-%d\"", feed_args->instance);
    self->metrics = sidemetrics_new (SIDEMETRICS_ENDPOINT, "reporting-feed");
    if (self->metrics) {
        metrics_t *metrics = sidemetrics_registry (self->metrics);
        metrics_declare (metrics, "comptoir_reporting_events_applied_total", "counter",
                         "Events applied to the read models, per producer.");
        metrics_declare (metrics, "comptoir_reporting_events_dropped_total", "counter",
                         "Malformed events skipped (the cursor moved past them), per producer.");
        metrics_declare (metrics, "comptoir_reporting_transactions_total", "counter",
                         "Transactions committed with events in them, per producer.");
        metrics_declare (metrics, "comptoir_reporting_last_seq", "gauge",
                         "The producer's last seq in the stored cursor.");
        metrics_declare (metrics, "comptoir_reporting_lag_seconds", "gauge",
                         "When the last event was applied, less the time it happened.");
    }
    else
        log_warn (NULL, "reporting: no metrics for the event feed (out of memory)");
    if (!self->db || !self->cert || pgdb_connect (self->db) || s_producers_read (self, settings)
    ||  zloop_timer (loop, 1, 1, s_tick, self) == -1
    ||  zloop_timer (loop, (size_t) catch_up, 0, s_tick, self) == -1) {
        log_error (NULL, "reporting: the event feed cannot start");
        s_feed_destroy (state_p);
        return -1;
    }
    char broker [600];
    snprintf (broker, sizeof broker, "%s/broker", self->keys_dir);
    char *broker_key = curvekeys_public_of (broker);
    if (broker_key) {
        self->client = mdp_client_new (settings_get (settings, "broker/endpoint", "tcp://127.0.0.1:5555"),
                                       self->cert, broker_key);
        if (self->client)
            mdp_client_set_timeout (self->client, self->replay_timeout_ms);
    }
    free (broker_key);
    if (!self->client)
        log_info (NULL, "reporting: no broker key: locations (store names) are not read");
    return 0;
}

//  --------------------------------------------------------------------------

actor_t *
reporting_feed_start (settings_t *settings, int instance, const char *conninfo)
{
    assert (settings);
    assert (conninfo);
    s_feed_args_t args = { settings, instance, conninfo };
    actor_t *feed = actor_new ("reporting-feed", s_feed_init, NULL, s_feed_destroy, &args);
    if (!feed)
        log_warn (NULL, "reporting: the event feed did not start: figures wait in the producers' outboxes");
    return feed;
}
