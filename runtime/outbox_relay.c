/*  =========================================================================
    outbox_relay - publishes a context's outbox on the event bus, in order

    Every context that announces events (inventory: stock.changed,
    stock.low; order: order.confirmed, order.cancelled) has the same
    `outbox` table (seq bigserial, topic, payload jsonb, created_at,
    published_at) and runs one relay over it.

    Why it is built this way:

    - A change writes its events into `outbox` in the same transaction
      (e.g. sql/inventory/0002_stock.sql); this actor only moves committed
      rows to the bus, so an event exists if and only if its change committed.
    - Publication order must be seq order, but bigserial values are taken
      at INSERT and committed in any order: a row with seq 5 may become
      visible after seq 6. The relay therefore takes LOCK TABLE outbox IN
      EXCLUSIVE MODE for its batch: the lock waits for every transaction
      that inserted into the outbox to end, so when it is granted every
      allocated seq is either committed (and visible) or rolled back (a
      hole, never to appear), and later inserts get larger seqs. Writers
      wait at most one batch. The lock is only taken when a cheap query
      saw unpublished rows.
    - Each event carries prev, the largest published seq before it, read
      from the table inside the same lock, so holes left by rollbacks are
      not mistaken for gaps, and a relay that restarts (or crashed after
      sending and before committing published_at) sends the same (seq,
      prev) again, which subscribers skip as duplicates.
    - pg_try_advisory_xact_lock guards the batch too, so two relays on one
      database never interleave; the second one simply waits its turn.
    - The LOCK waits at most RELAY_LOCK_WAIT (lock_timeout), then the batch
      is put off to the next tick. While a LOCK request waits, every writer
      of the outbox (every stock or order change) queues behind it, and
      the one holding the table may be autovacuum, which PostgreSQL only
      cancels after deadlock_timeout (1 s): long enough for the broker to
      take the waiting workers for dead. Seen in the order chaos test.
    - Replays are answered from published rows only: the published rows are
      always a prefix (in seq order) of the committed ones.
    - With a keys folder both sockets are CURVE servers (key
      `<keys dir>/<context>-events`, published like the broker's) behind a
      ZAP handler the relay runs itself: it is the only CURVE server of a
      context process, and libzmq admits everybody when no ZAP answers.
    =========================================================================
*/
#include "outbox_relay.h"
#include "curvekeys.h"
#include "eventbus.h"
#include "logline.h"
#include "pgdb.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RELAY_BATCH       500
#define RELAY_LOCK_KEY    "7302047301"          //  the outbox relay's advisory lock
#define RELAY_LOCK_WAIT   "50ms"                //  longest wait for the outbox's lock
#define RELAY_INTERVAL_MS_DEFAULT 100           //  <context>/relay_ms

typedef struct {
    const char *conninfo;
    const char *context;
    const char *publish_endpoint;
    const char *replay_endpoint;
    int64_t interval_ms;
    const char *keys_dir;       //  NULL: plain TCP
} s_relay_args_t;

typedef struct {
    pgdb_t *db;
    eventbus_publisher_t *publisher;
    zactor_t *auth;             //  the ZAP handler, with CURVE
    zcert_t *cert;
    char *context;
    int published;              //  in the current batch
    uint64_t lock_waits;        //  batches put off: the outbox was locked by another
} s_relay_t;

//  --------------------------------------------------------------------------
//  One batch, in a transaction.

static int
s_relay_batch (pgdb_t *db, void *arg)
{
    s_relay_t *self = (s_relay_t *) arg;
    self->published = 0;
    PGresult *result = pgdb_exec (db, "relay_lock", "SELECT pg_try_advisory_xact_lock (" RELAY_LOCK_KEY ")",
                                  0, NULL);
    bool mine = result && PQntuples (result) == 1 && streq (PQgetvalue (result, 0, 0), "t");
    if (result)
        PQclear (result);
    if (!result)
        return -1;
    if (!mine)
        return 1;               //  another relay is at work: roll back, try later
    //  Writers queue behind a waiting LOCK: never wait long for it.
    if (pgdb_run (db, "SET LOCAL lock_timeout = '" RELAY_LOCK_WAIT "'"))
        return -1;
    if (pgdb_run (db, "LOCK TABLE outbox IN EXCLUSIVE MODE")) {
        if (streq (pgdb_sqlstate (db), "55P03")) {
            self->lock_waits++;
            if ((self->lock_waits & (self->lock_waits - 1)) == 0)     //  1, 2, 4, 8... times
                log_info (NULL, "relay: %s: the outbox was locked by another session, batch put off "
                          "(%" PRIu64 " times so far)", self->context, self->lock_waits);
            return 1;           //  someone holds the table (autovacuum): next tick
        }
        return -1;
    }
    result = pgdb_exec (db, "relay_prev",
                        "SELECT COALESCE (max (seq), 0) FROM outbox WHERE published_at IS NOT NULL",
                        0, NULL);
    if (!result)
        return -1;
    int64_t prev = strtoll (PQgetvalue (result, 0, 0), NULL, 10);
    PQclear (result);
    char limit [16];
    snprintf (limit, sizeof limit, "%d", RELAY_BATCH);
    const char *params [] = { limit };
    result = pgdb_exec (db, "relay_batch",
                        "SELECT seq, topic, payload::text,"
                        " (extract (epoch FROM created_at) * 1000)::bigint"
                        " FROM outbox WHERE published_at IS NULL ORDER BY seq LIMIT $1::int",
                        1, params);
    if (!result)
        return -1;
    int rows = PQntuples (result);
    int64_t last = 0;
    for (int row = 0; row < rows; row++) {
        int64_t seq = strtoll (PQgetvalue (result, row, 0), NULL, 10);
        json_t *payload = json_loads (PQgetvalue (result, row, 2), 0, NULL);
        int rc = payload ? eventbus_publisher_send (self->publisher, seq, prev, PQgetvalue (result, row, 1),
                                                    payload, strtoll (PQgetvalue (result, row, 3), NULL, 10))
                         : -1;
        json_decref (payload);
        if (rc) {
            //  Stop here: what was sent is marked, the rest waits.
            log_warn (NULL, "relay: %s: cannot publish seq %" PRId64, self->context, seq);
            break;
        }
        prev = seq;
        last = seq;
        self->published++;
    }
    PQclear (result);
    if (last == 0)
        return 0;
    char upto [24];
    snprintf (upto, sizeof upto, "%" PRId64, last);
    const char *mark [] = { upto };
    result = pgdb_exec (db, "relay_mark",
                        "UPDATE outbox SET published_at = now ()"
                        " WHERE published_at IS NULL AND seq <= $1::bigint", 1, mark);
    if (!result)
        return -1;
    PQclear (result);
    return 0;
}

//  --------------------------------------------------------------------------

static int
s_relay_tick (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop; (void) timer_id;
    s_relay_t *self = (s_relay_t *) arg;
    for (int round = 0; round < 20; round++) {
        PGresult *result = pgdb_exec (self->db, "relay_pending",
                                      "SELECT 1 FROM outbox WHERE published_at IS NULL LIMIT 1", 0, NULL);
        bool pending = result && PQntuples (result) > 0;
        if (result)
            PQclear (result);
        if (!pending)
            break;
        int rc = pgdb_transaction (self->db, "READ COMMITTED", s_relay_batch, self, 3);
        if (rc == -1)
            log_warn (NULL, "relay: %s: batch failed: %s %s", self->context,
                      pgdb_sqlstate (self->db), pgdb_error (self->db));
        if (rc != 0 || self->published < RELAY_BATCH)
            break;
    }
    return 0;                   //  a failed batch is tried again at the next tick
}

//  --------------------------------------------------------------------------
//  Replay from the published rows.

static int
s_relay_replay (int64_t from, size_t max, json_t *events, bool *more, void *arg)
{
    s_relay_t *self = (s_relay_t *) arg;
    char from_s [24], limit_s [24];
    snprintf (from_s, sizeof from_s, "%" PRId64, from);
    snprintf (limit_s, sizeof limit_s, "%zu", max + 1);
    const char *params [] = { from_s, limit_s };
    PGresult *result = pgdb_exec (self->db, "relay_replay",
        "SELECT seq, topic, payload::text, (extract (epoch FROM created_at) * 1000)::bigint,"
        " COALESCE (lag (seq) OVER (ORDER BY seq),"
        "           (SELECT max (seq) FROM outbox WHERE published_at IS NOT NULL AND seq < $1::bigint), 0)"
        " FROM outbox WHERE published_at IS NOT NULL AND seq >= $1::bigint ORDER BY seq LIMIT $2::int",
        2, params);
    if (!result) {
        log_warn (NULL, "relay: %s: replay failed: %s", self->context, pgdb_error (self->db));
        return -1;
    }
    int rows = PQntuples (result);
    for (int row = 0; row < rows; row++) {
        if ((size_t) row == max) {
            *more = true;
            break;
        }
        json_t *payload = json_loads (PQgetvalue (result, row, 2), 0, NULL);
        json_array_append_new (events, json_pack ("{s:I, s:I, s:s, s:o, s:I}",
            "seq", (json_int_t) strtoll (PQgetvalue (result, row, 0), NULL, 10),
            "prev", (json_int_t) strtoll (PQgetvalue (result, row, 4), NULL, 10),
            "topic", PQgetvalue (result, row, 1),
            "payload", payload ? payload : json_null (),
            "at", (json_int_t) strtoll (PQgetvalue (result, row, 3), NULL, 10)));
    }
    PQclear (result);
    return 0;
}

//  --------------------------------------------------------------------------

static int
s_relay_on_replay (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop; (void) reader;
    s_relay_t *self = (s_relay_t *) arg;
    return eventbus_publisher_serve_replay (self->publisher, s_relay_replay, self);
}

//  --------------------------------------------------------------------------

static void
s_relay_destroy (void **state_p)
{
    if (state_p && *state_p) {
        s_relay_t *self = (s_relay_t *) *state_p;
        eventbus_publisher_destroy (&self->publisher);
        zactor_destroy (&self->auth);
        zcert_destroy (&self->cert);
        pgdb_destroy (&self->db);
        free (self->context);
        free (self);
        *state_p = NULL;
    }
}

//  --------------------------------------------------------------------------

static int
s_relay_init (zloop_t *loop, zsock_t *pipe, void *args, void **state_p)
{
    (void) pipe;
    const s_relay_args_t *relay_args = (const s_relay_args_t *) args;
    s_relay_t *self = (s_relay_t *) zmalloc (sizeof (s_relay_t));
    if (!self)
        return -1;
    *state_p = self;
    self->context = strdup (relay_args->context);
    self->db = pgdb_new (relay_args->conninfo);
    if (relay_args->keys_dir) {
        //  The server key is <keys dir>/<context>-events (public file of that
        //  name, read by subscribers); admitted subscribers are allowed/*.pub.
        char *name = zsys_sprintf ("%s-events", relay_args->context);
        char *allowed = zsys_sprintf ("%s/allowed", relay_args->keys_dir);
        self->cert = curvekeys_ensure (relay_args->keys_dir, name, false);
        self->auth = self->cert ? curvekeys_auth_new (allowed) : NULL;
        zstr_free (&name);
        zstr_free (&allowed);
        if (!self->auth) {
            s_relay_destroy (state_p);
            return -1;
        }
    }
    self->publisher = eventbus_publisher_new_secure (relay_args->context, relay_args->publish_endpoint,
                                                     relay_args->replay_endpoint, self->cert);
    if (!self->context || !self->db || !self->publisher
    ||  zloop_reader (loop, eventbus_publisher_replay_sock (self->publisher), s_relay_on_replay, self) == -1
    ||  zloop_timer (loop, (size_t) relay_args->interval_ms, 0, s_relay_tick, self) == -1) {
        s_relay_destroy (state_p);
        return -1;
    }
    return 0;
}

//  --------------------------------------------------------------------------

actor_t *
outbox_relay_new (const char *conninfo, const char *context, const char *publish_endpoint,
                  const char *replay_endpoint, int64_t interval_ms, const char *keys_dir)
{
    if (!conninfo || !context || !publish_endpoint || !*publish_endpoint
    ||  !replay_endpoint || !*replay_endpoint || interval_ms < 1)
        return NULL;
    s_relay_args_t args = { conninfo, context, publish_endpoint, replay_endpoint, interval_ms,
                            keys_dir && *keys_dir ? keys_dir : NULL };
    return actor_new ("outbox-relay", s_relay_init, NULL, s_relay_destroy, &args);
}

//  --------------------------------------------------------------------------

actor_t *
outbox_relay_start (settings_t *settings, const char *context, const char *conninfo)
{
    assert (settings);
    assert (context);
    char path [96];
    snprintf (path, sizeof path, "%s/events_publish", context);
    const char *publish = settings_get (settings, path, "");
    snprintf (path, sizeof path, "%s/events_replay", context);
    const char *replay = settings_get (settings, path, "");
    if (!publish || !*publish || !replay || !*replay) {
        log_info (NULL, "%s: no events_publish / events_replay: events wait in the outbox", context);
        return NULL;
    }
    snprintf (path, sizeof path, "%s/relay_ms", context);
    int64_t interval = settings_get_int (settings, path, RELAY_INTERVAL_MS_DEFAULT);
    if (interval < 10 || interval > 60000) {
        log_warn (NULL, "%s: relay_ms must be 10..60000; using %d", context, RELAY_INTERVAL_MS_DEFAULT);
        interval = RELAY_INTERVAL_MS_DEFAULT;
    }
    actor_t *relay = outbox_relay_new (conninfo, context, publish, replay, interval,
                                       settings_get (settings, "keys/dir", "var/keys"));
    if (!relay)
        log_warn (NULL, "%s: the outbox relay did not start on %s / %s; events wait in the outbox",
                  context, publish, replay);
    return relay;
}
