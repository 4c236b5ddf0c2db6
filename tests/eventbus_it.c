/*  eventbus_it - the inventory outbox relay and the event bus against a real
    PostgreSQL (COMPTOIR_TEST_PG_ADMIN; exits 77 without it).

    Its own scratch database (comptoir_it_<pid>_events) with the inventory
    schema and CURVE keys in a scratch folder; writer threads change stock through inventory_change (some of
    their transactions roll back, leaving holes in the bigserial), while a
    relay publishes and a subscriber applies. The relay is stopped midway
    and a new one started on the same endpoints; at the end the subscriber
    must have applied every outbox row exactly once, in seq order. */
#include "testrunner.h"
#include "testdb.h"
#include "curvekeys.h"
#include "eventbus.h"
#include "logline.h"
#include "outbox_relay.h"

#include <czmq.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_PUBLISH  "tcp://127.0.0.1:15570"
#define S_REPLAY   "tcp://127.0.0.1:15571"
#define S_PUBLISH_2  "tcp://127.0.0.1:15572"
#define S_REPLAY_2   "tcp://127.0.0.1:15573"
#define S_WRITERS  3
#define S_CHANGES  120          //  per writer
#define S_MAX_SEEN 4096

static const char *s_admin;
static char *s_db;

typedef struct {
    int64_t seen [S_MAX_SEEN];
    size_t count;
    bool out_of_order;
} s_log_t;

static int
s_apply (const eventbus_event_t *event, void *arg)
{
    s_log_t *log = (s_log_t *) arg;
    if (log->count > 0 && event->seq <= log->seen [log->count - 1])
        log->out_of_order = true;
    if (log->count < S_MAX_SEEN)
        log->seen [log->count++] = event->seq;
    return 0;
}

static void *
s_writer (void *arg)
{
    int index = (int) (intptr_t) arg;
    pgdb_t *db = pgdb_new (s_db);
    assert (db);
    char product [16];
    snprintf (product, sizeof product, "%d", 1000 + index);
    const char *params [] = { product };
    for (int i = 0; i < S_CHANGES; i++) {
        assert (pgdb_run (db, "BEGIN") == 0);
        PGresult *result = pgdb_exec (db, "change",
            "SELECT * FROM inventory_change ($1::bigint, 1, 1, 0, 'adjustment', 'adjustment:count', 'it', 'admin')",
            1, params);
        assert (result);
        PQclear (result);
        if (i % 10 == 7)
            zclock_sleep (5);   //  hold the transaction a while: later seqs commit first
        assert (pgdb_run (db, i % 9 == 4 ? "ROLLBACK" : "COMMIT") == 0);
        zclock_sleep (2);
    }
    pgdb_destroy (&db);
    return NULL;
}

static void
test_relay_restart_loses_nothing (bool verbose)
{
    (void) verbose;
    //  CURVE as in a real system: the subscriber's key is admitted first.
    char keys [] = "/tmp/eventbus-it-XXXXXX";
    assert (mkdtemp (keys));
    zcert_t *cert = curvekeys_ensure (keys, "it-subscriber", true);
    assert (cert);
    actor_t *relay = outbox_relay_new (s_db, "inventory", S_PUBLISH, S_REPLAY, 20, keys);
    assert (relay);
    char *server_path = zsys_sprintf ("%s/inventory-events", keys);
    char *server_key = curvekeys_public_of (server_path);
    assert (server_key);
    eventbus_subscriber_t *subscriber = eventbus_subscriber_new_secure ("inventory", S_PUBLISH, S_REPLAY,
                                                                        cert, server_key);
    assert (subscriber);
    s_log_t *log = (s_log_t *) zmalloc (sizeof (s_log_t));
    assert (eventbus_subscriber_catch_up (subscriber, s_apply, log) >= 0);

    pthread_t writers [S_WRITERS];
    for (int i = 0; i < S_WRITERS; i++)
        assert (pthread_create (&writers [i], NULL, s_writer, (void *) (intptr_t) i) == 0);

    zpoller_t *poller = zpoller_new (eventbus_subscriber_sock (subscriber), NULL);
    int64_t start = zclock_mono ();
    bool stopped = false, restarted = false, gone = false;
    //  Writers run about 1 s; stop the relay at 300 ms, start a new one at 600 ms.
    while (zclock_mono () - start < 2000) {
        if (subscriber && zpoller_wait (poller, 10))
            assert (eventbus_subscriber_handle (subscriber, s_apply, log) >= 0);
        int64_t now = zclock_mono () - start;
        //  The subscriber is away from 700 to 900 ms: what it misses on PUB
        //  comes back by replay, from the last seq it applied.
        if (subscriber && !gone && now > 700) {
            zpoller_destroy (&poller);
            eventbus_subscriber_destroy (&subscriber);
            gone = true;
        }
        if (!subscriber && now > 900) {
            subscriber = eventbus_subscriber_new_secure ("inventory", S_PUBLISH, S_REPLAY,
                                                         cert, server_key);
            assert (subscriber);
            eventbus_subscriber_set_last (subscriber, log->count ? log->seen [log->count - 1] : 0);
            poller = zpoller_new (eventbus_subscriber_sock (subscriber), NULL);
        }
        if (!subscriber)
            zclock_sleep (10);
        if (!stopped && now > 300) {
            actor_destroy (&relay);
            stopped = true;
        }
        if (stopped && !restarted && now > 600) {
            relay = outbox_relay_new (s_db, "inventory", S_PUBLISH, S_REPLAY, 20, keys);
            assert (relay);
            restarted = true;
        }
    }
    for (int i = 0; i < S_WRITERS; i++)
        pthread_join (writers [i], NULL);

    //  Everything in the outbox, in seq order.
    pgdb_t *db = pgdb_new (s_db);
    char *total_s = testdb_value (db, "SELECT count (*) FROM outbox", 0, NULL);
    size_t total = (size_t) atoll (total_s);
    free (total_s);
    assert (total > S_WRITERS * S_CHANGES / 2 && total < S_MAX_SEEN);
    //  Wait until the subscriber has them all (the last events may need a
    //  catch-up: nothing newer arrives to reveal a gap).
    int64_t deadline = zclock_mono () + 10000;
    while (log->count < total && zclock_mono () < deadline) {
        if (zpoller_wait (poller, 200))
            assert (eventbus_subscriber_handle (subscriber, s_apply, log) >= 0);
        else
            eventbus_subscriber_catch_up (subscriber, s_apply, log);
    }
    if (verbose)
        printf ("outbox rows %zu, applied %zu, duplicates skipped %zu\n", total, log->count,
                eventbus_subscriber_duplicates (subscriber));
    assert (log->count == total);
    assert (!log->out_of_order);
    PGresult *result = pgdb_exec (db, "all", "SELECT seq FROM outbox ORDER BY seq", 0, NULL);
    assert (result && (size_t) PQntuples (result) == total);
    for (size_t i = 0; i < total; i++)
        assert (log->seen [i] == atoll (PQgetvalue (result, (int) i, 0)));
    PQclear (result);
    //  There were holes (rolled-back seqs), and every row is marked published.
    char *max_s = testdb_value (db, "SELECT max (seq) FROM outbox", 0, NULL);
    assert ((size_t) atoll (max_s) > total);
    free (max_s);
    char *left = testdb_value (db, "SELECT count (*) FROM outbox WHERE published_at IS NULL", 0, NULL);
    assert (streq (left, "0"));
    free (left);
    pgdb_destroy (&db);

    //  A subscriber without an admitted key gets no replay.
    eventbus_subscriber_t *plain = eventbus_subscriber_new ("inventory", S_PUBLISH, S_REPLAY);
    eventbus_subscriber_set_timeout (plain, 300);
    s_log_t *plain_log = (s_log_t *) zmalloc (sizeof (s_log_t));
    assert (eventbus_subscriber_catch_up (plain, s_apply, plain_log) == -1);
    assert (plain_log->count == 0);
    free (plain_log);
    eventbus_subscriber_destroy (&plain);

    zpoller_destroy (&poller);
    eventbus_subscriber_destroy (&subscriber);
    actor_destroy (&relay);
    free (log);
    zcert_destroy (&cert);
    zstr_free (&server_path);
    free (server_key);
    zdir_t *tree = zdir_new (keys, NULL);
    if (tree) {
        zdir_remove (tree, true);
        zdir_destroy (&tree);
    }
}

//  A session holding the outbox (autovacuum does, now and then) must not
//  hold up the writers: the relay's LOCK would queue every INSERT into the
//  outbox behind it. The relay gives up after 50 ms and tries again; the
//  events go out once the table is free.
static void
test_locked_outbox_does_not_hold_writers (bool verbose)
{
    actor_t *relay = outbox_relay_new (s_db, "inventory", S_PUBLISH_2, S_REPLAY_2, 20, NULL);
    assert (relay);
    pgdb_t *holder = pgdb_new (s_db);
    pgdb_t *writer = pgdb_new (s_db);
    assert (holder && writer);
    const char *params [] = { "2001" };
    assert (pgdb_run (holder, "BEGIN") == 0);
    assert (pgdb_run (holder, "LOCK TABLE outbox IN SHARE UPDATE EXCLUSIVE MODE") == 0);
    int64_t slowest = 0;
    for (int i = 0; i < 10; i++) {
        int64_t started = zclock_mono ();
        PGresult *result = pgdb_exec (writer, "change",
            "SELECT * FROM inventory_change ($1::bigint, 1, 1, 0, 'adjustment', 'adjustment:count', 'it', 'admin')",
            1, params);
        assert (result);
        PQclear (result);
        int64_t spent = zclock_mono () - started;
        if (spent > slowest)
            slowest = spent;
        zclock_sleep (30);      //  the relay tries (and waits) in between
    }
    if (verbose)
        printf ("slowest write while the outbox was held: %lld ms\n", (long long) slowest);
    assert (slowest < 250);
    PGresult *result = pgdb_exec (writer, "unpublished",
        "SELECT count (*) FROM outbox WHERE published_at IS NULL", 0, NULL);
    assert (result && atoi (PQgetvalue (result, 0, 0)) > 0);      //  held back meanwhile
    PQclear (result);
    assert (pgdb_run (holder, "COMMIT") == 0);
    int left = -1;
    for (int i = 0; i < 100 && left != 0; i++) {
        zclock_sleep (20);
        result = pgdb_exec (writer, "unpublished",
            "SELECT count (*) FROM outbox WHERE published_at IS NULL", 0, NULL);
        assert (result);
        left = atoi (PQgetvalue (result, 0, 0));
        PQclear (result);
    }
    assert (left == 0);         //  published once the table was free
    pgdb_destroy (&writer);
    pgdb_destroy (&holder);
    actor_destroy (&relay);
}

static testrunner_case_t s_cases [] = {
    { "eventbus_relay_restart_loses_nothing", test_relay_restart_loses_nothing },
    { "eventbus_locked_outbox_does_not_hold_writers", test_locked_outbox_does_not_hold_writers },
    { NULL, NULL }
};

int
main (int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (streq (argv [i], "--list") || streq (argv [i], "-h") || streq (argv [i], "--help"))
            return testrunner_main (argc, argv, s_cases, 60);
    s_admin = getenv ("COMPTOIR_TEST_PG_ADMIN");
    if (!s_admin || !*s_admin) {
        printf ("SKIP: eventbus_it (COMPTOIR_TEST_PG_ADMIN is not set; scripts/testenv.sh sets it)\n");
        return 77;
    }
    logline_init ("eventbus_it", -1);
    const char *srcdir = getenv ("srcdir");
    char *sql_dir = zsys_sprintf ("%s/sql/inventory", srcdir && *srcdir ? srcdir : ".");
    char name [64], sql [160];
    snprintf (name, sizeof name, "comptoir_it_%d_events", (int) getpid ());
    snprintf (sql, sizeof sql, "DROP DATABASE IF EXISTS %s", name);
    testdb_admin_run (s_admin, sql);
    snprintf (sql, sizeof sql, "CREATE DATABASE %s", name);
    if (testdb_admin_run (s_admin, sql))
        return 1;
    s_db = testdb_conninfo (s_admin, name);
    assert (s_db);
    int rc = 1;
    pgdb_t *db = pgdb_new (s_db);
    if (db && pgdb_migrate (db, sql_dir) >= 0
    &&  pgdb_run (db, "INSERT INTO locations (name, type, province) VALUES ('it', 'warehouse', 'QC')") == 0) {
        pgdb_destroy (&db);
        rc = testrunner_main (argc, argv, s_cases, 60);
    }
    else
        fprintf (stderr, "eventbus_it: the database could not be prepared: %s\n", db ? pgdb_error (db) : "");
    pgdb_destroy (&db);
    snprintf (sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
    testdb_admin_run (s_admin, sql);
    free (s_db);
    zstr_free (&sql_dir);
    return rc;
}
