/*  =========================================================================
    integration - tests against a real PostgreSQL

    Needs COMPTOIR_TEST_PG_ADMIN, the conninfo of an admin database of the
    test cluster; without it the suite exits 77 (skipped). Each run creates
    its own scratch databases (comptoir_it_<pid>...) and drops them at the
    end, so runs never see each other's data. The product database is
    migrated and seeded once by the parent; every case then runs in its own
    child process (tests/testrunner) and makes its own rows, with names that
    no other case uses, so cases do not depend on their order.

    The catalog's handlers are called through contextnode_dispatch with the
    real verb table and a real actor state: everything but the Majordomo
    transport, which the end-to-end tests cover.
    =========================================================================
*/
#include "testrunner.h"
#include "testcall.h"
#include "testdb.h"

#include "contextnode.h"
#include "curvekeys.h"
#include "envelope.h"
#include "eventbus.h"
#include "logline.h"
#include "pgdb.h"
#include "product_context.h"
#include "product_input.h"
#include "settings.h"

#include <czmq.h>
#include <libpq-fe.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

//  Set by main for the cases (children inherit them).
static char *s_admin;               //  conninfo of the admin database
static char *s_product_db;          //  conninfo of the scratch product database
static char *s_sql_dir;             //  the source tree's sql/ folder
static int s_run_id;                //  the parent's pid: names the scratch databases

//  --------------------------------------------------------------------------
//  Run one statement on the admin database. 0 or -1.

//  A fresh database for one case; returns its conninfo (caller frees).
static char *
s_scratch_db (const char *suffix)
{
    char name [64], sql [160];
    snprintf (name, sizeof name, "comptoir_it_%d_%s", s_run_id, suffix);
    snprintf (sql, sizeof sql, "DROP DATABASE IF EXISTS %s", name);
    testdb_admin_run (s_admin, sql);
    snprintf (sql, sizeof sql, "CREATE DATABASE %s", name);
    assert (testdb_admin_run (s_admin, sql) == 0);
    return testdb_conninfo (s_admin, name);
}

static void
s_scratch_drop (const char *suffix)
{
    char sql [160];
    snprintf (sql, sizeof sql, "DROP DATABASE IF EXISTS comptoir_it_%d_%s WITH (FORCE)",
              s_run_id, suffix);
    testdb_admin_run (s_admin, sql);
}

static long long
s_number (pgdb_t *db, const char *sql)
{
    char *value = testdb_value (db, sql, 0, NULL);
    assert (value);
    long long number = atoll (value);
    free (value);
    return number;
}

//  ==========================================================================
//  pgdb

static void
test_pgdb_selftest (bool verbose)
{
    pgdb_test (verbose);
}

//  --------------------------------------------------------------------------

static void
test_pgdb_exec_prepares_once_and_binds_parameters (bool verbose)
{
    pgdb_t *db = pgdb_new (s_product_db);
    assert (db);
    assert (pgdb_connect (db) == 0);
    assert (pgdb_run (db, "CREATE TABLE it_notes (id int PRIMARY KEY, body text)") == 0);

    //  client text travels as a parameter, never as SQL
    const char *hostile = "'); DROP TABLE it_notes; --";
    const char *params [] = { "1", hostile };
    PGresult *res = pgdb_exec (db, "it_note_insert",
                               "INSERT INTO it_notes (id, body) VALUES ($1, $2)", 2, params);
    assert (res);
    PQclear (res);
    const char *params_null [] = { "2", NULL };
    res = pgdb_exec (db, "it_note_insert", "INSERT INTO it_notes (id, body) VALUES ($1, $2)", 2, params_null);
    assert (res);
    PQclear (res);

    const char *one [] = { "1" };
    res = pgdb_exec (db, "it_note_get", "SELECT body FROM it_notes WHERE id = $1", 1, one);
    assert (res && PQntuples (res) == 1);
    assert (streq (PQgetvalue (res, 0, 0), hostile));
    PQclear (res);
    assert (s_number (db, "SELECT count(*) FROM it_notes WHERE body IS NULL") == 1);

    //  prepared once on this connection, however often it runs
    assert (s_number (db, "SELECT count(*) FROM pg_prepared_statements"
                          " WHERE statement = 'INSERT INTO it_notes (id, body) VALUES ($1, $2)'") == 1);
    //  names longer than PostgreSQL's 63 bytes do not collide
    char *first = testdb_value (db, "SELECT 'the first of two statements whose names share their first 63 bytes'", 0, NULL);
    char *second = testdb_value (db, "SELECT 'the first of two statements whose names share their first 63 bytes!'", 0, NULL);
    assert (first && second && !streq (first, second));
    free (first);
    free (second);

    //  failures: NULL, with the SQLSTATE and the message
    res = pgdb_exec (db, "it_bad", "SELEC nothing", 0, NULL);
    assert (res == NULL);
    assert (streq (pgdb_sqlstate (db), "42601"));
    assert (strstr (pgdb_error (db), "syntax"));
    res = pgdb_exec (db, "it_div", "SELECT 1 / $1::int", 1, (const char *[]) { "0" });
    assert (res == NULL && streq (pgdb_sqlstate (db), "22012"));
    //  and a success clears them
    res = pgdb_exec (db, "it_note_get", "SELECT body FROM it_notes WHERE id = $1", 1, one);
    assert (res && streq (pgdb_sqlstate (db), ""));
    PQclear (res);
    assert (pgdb_run (db, "DROP TABLE it_notes") == 0);
    pgdb_destroy (&db);
    assert (db == NULL);
}

//  --------------------------------------------------------------------------

static int
s_insert_then (pgdb_t *db, void *arg)
{
    const char **args = (const char **) arg;   //  { id, what to return }
    PGresult *res = pgdb_exec (db, "it_txn_insert", "INSERT INTO it_txn (id) VALUES ($1)", 1, args);
    if (!res)
        return -1;
    PQclear (res);
    if (streq (args [1], "fail")) {
        res = pgdb_exec (db, "it_txn_fail", "SELECT 1 / 0", 0, NULL);
        assert (res == NULL);
        return -1;
    }
    if (streq (args [1], "fail_but_commit")) {
        res = pgdb_exec (db, "it_txn_fail", "SELECT 1 / 0", 0, NULL);
        assert (res == NULL);
        return 0;
    }
    return atoi (args [1]);
}

static void
test_pgdb_transaction_commits_or_rolls_back (bool verbose)
{
    pgdb_t *db = pgdb_new (s_product_db);
    assert (db);
    assert (pgdb_run (db, "CREATE TABLE it_txn (id int PRIMARY KEY)") == 0);

    const char *commit [] = { "1", "0" };
    assert (pgdb_transaction (db, NULL, s_insert_then, commit, 3) == 0);
    const char *rollback [] = { "2", "7" };
    assert (pgdb_transaction (db, "READ COMMITTED", s_insert_then, rollback, 3) == 7);
    const char *failed [] = { "3", "fail" };
    assert (pgdb_transaction (db, "REPEATABLE READ", s_insert_then, failed, 3) == -1);
    assert (streq (pgdb_sqlstate (db), "22012"));
    //  a failed statement whose fn still returns 0 must not look committed
    const char *sneaky [] = { "4", "fail_but_commit" };
    assert (pgdb_transaction (db, "SERIALIZABLE", s_insert_then, sneaky, 3) == -1);
    //  isolation levels are a closed list
    assert (pgdb_transaction (db, "SERIALIZABLE; DROP TABLE it_txn", s_insert_then, commit, 3) == -1);

    assert (s_number (db, "SELECT count(*) FROM it_txn") == 1);
    assert (s_number (db, "SELECT min(id) FROM it_txn") == 1);
    //  the connection is usable after each of these
    assert (pgdb_run (db, "DROP TABLE it_txn") == 0);
    pgdb_destroy (&db);
}

//  --------------------------------------------------------------------------
//  A second connection changes the row between our read and our write, on
//  the first attempt only: SERIALIZABLE answers 40001 and the transaction
//  must run again, and then succeed.

typedef struct {
    pgdb_t *other;
    int attempts;
} s_race_t;

static int
s_increment_with_race (pgdb_t *db, void *arg)
{
    s_race_t *race = (s_race_t *) arg;
    race->attempts++;
    PGresult *res = pgdb_exec (db, "it_race_read", "SELECT n FROM it_counter WHERE id = 1", 0, NULL);
    if (!res)
        return -1;
    PQclear (res);
    if (race->attempts == 1) {
        res = pgdb_exec (race->other, "it_race_bump", "UPDATE it_counter SET n = n + 100 WHERE id = 1", 0, NULL);
        assert (res);
        PQclear (res);
    }
    res = pgdb_exec (db, "it_race_write", "UPDATE it_counter SET n = n + 1 WHERE id = 1", 0, NULL);
    if (!res)
        return -1;
    PQclear (res);
    return 0;
}

static void
test_pgdb_transaction_retries_serialization_failure (bool verbose)
{
    pgdb_t *db = pgdb_new (s_product_db);
    pgdb_t *other = pgdb_new (s_product_db);
    assert (db && other);
    assert (pgdb_run (db, "CREATE TABLE it_counter (id int PRIMARY KEY, n int NOT NULL)") == 0);
    assert (pgdb_run (db, "INSERT INTO it_counter VALUES (1, 0)") == 0);

    s_race_t race = { other, 0 };
    assert (pgdb_transaction (db, "SERIALIZABLE", s_increment_with_race, &race, 5) == 0);
    assert (race.attempts == 2);
    assert (s_number (db, "SELECT n FROM it_counter WHERE id = 1") == 101);

    //  with one try only, the failure is reported, not retried
    race.attempts = 0;
    assert (pgdb_transaction (db, "SERIALIZABLE", s_increment_with_race, &race, 1) == -1);
    assert (race.attempts == 1);
    assert (streq (pgdb_sqlstate (db), "40001"));
    assert (s_number (db, "SELECT n FROM it_counter WHERE id = 1") == 201);

    assert (pgdb_run (db, "DROP TABLE it_counter") == 0);
    pgdb_destroy (&other);
    pgdb_destroy (&db);
}

//  --------------------------------------------------------------------------

static void
s_terminate (pgdb_t *admin, const char *pid)
{
    const char *params [] = { pid };
    PGresult *res = pgdb_exec (admin, "it_terminate", "SELECT pg_terminate_backend ($1::int)", 1, params);
    assert (res && streq (PQgetvalue (res, 0, 0), "t"));
    PQclear (res);
    //  wait (bounded) until the backend is gone
    for (int i = 0; i < 100; i++) {
        res = pgdb_exec (admin, "it_alive", "SELECT count(*) FROM pg_stat_activity WHERE pid = $1::int", 1, params);
        assert (res);
        bool gone = streq (PQgetvalue (res, 0, 0), "0");
        PQclear (res);
        if (gone)
            return;
        zclock_sleep (20);
    }
    assert (false);
}

typedef struct {
    pgdb_t *admin;
    int attempts;
} s_killer_t;

static int
s_insert_after_kill (pgdb_t *db, void *arg)
{
    s_killer_t *killer = (s_killer_t *) arg;
    killer->attempts++;
    if (killer->attempts == 1) {
        char *pid = testdb_value (db, "SELECT pg_backend_pid ()", 0, NULL);
        s_terminate (killer->admin, pid);
        free (pid);
    }
    PGresult *res = pgdb_exec (db, "it_kill_insert", "INSERT INTO it_kill VALUES (1)", 0, NULL);
    if (!res)
        return -1;
    PQclear (res);
    return 0;
}

static void
test_pgdb_reconnects_after_backend_terminated (bool verbose)
{
    pgdb_t *db = pgdb_new (s_product_db);
    pgdb_t *admin = pgdb_new (s_product_db);
    assert (db && admin);
    const char *params [] = { "41" };
    PGresult *res = pgdb_exec (db, "it_plus_one", "SELECT $1::int + 1", 1, params);
    assert (res && streq (PQgetvalue (res, 0, 0), "42"));
    PQclear (res);
    char *pid = testdb_value (db, "SELECT pg_backend_pid ()", 0, NULL);

    //  outside a transaction: the next call reconnects by itself, and the
    //  statement prepared on the old session is prepared again
    s_terminate (admin, pid);
    res = pgdb_exec (db, "it_plus_one", "SELECT $1::int + 1", 1, params);
    assert (res && streq (PQgetvalue (res, 0, 0), "42"));
    PQclear (res);
    char *new_pid = testdb_value (db, "SELECT pg_backend_pid ()", 0, NULL);
    assert (!streq (pid, new_pid));
    free (pid);
    free (new_pid);

    //  inside a transaction: the statement fails, and the transaction runs
    //  again on a new connection
    assert (pgdb_run (db, "CREATE TABLE it_kill (id int PRIMARY KEY)") == 0);
    s_killer_t killer = { admin, 0 };
    assert (pgdb_transaction (db, NULL, s_insert_after_kill, &killer, 3) == 0);
    assert (killer.attempts == 2);
    assert (s_number (db, "SELECT count(*) FROM it_kill") == 1);
    assert (pgdb_run (db, "DROP TABLE it_kill") == 0);
    pgdb_destroy (&admin);
    pgdb_destroy (&db);
}

//  --------------------------------------------------------------------------

static void
test_pgdb_detects_constraint_violations (bool verbose)
{
    pgdb_t *db = pgdb_new (s_product_db);
    assert (db);
    assert (pgdb_run (db, "CREATE TABLE it_parent (id int PRIMARY KEY);"
                          "CREATE TABLE it_child (id int PRIMARY KEY, parent int REFERENCES it_parent)") == 0);
    assert (pgdb_run (db, "INSERT INTO it_parent VALUES (1)") == 0);
    const char *params [] = { "1" };
    PGresult *res = pgdb_exec (db, "it_parent_insert", "INSERT INTO it_parent VALUES ($1)", 1, params);
    assert (res == NULL);
    assert (pgdb_is_unique_violation (db));
    assert (!pgdb_is_foreign_key_violation (db));
    const char *child [] = { "1", "99" };
    res = pgdb_exec (db, "it_child_insert", "INSERT INTO it_child VALUES ($1, $2)", 2, child);
    assert (res == NULL);
    assert (pgdb_is_foreign_key_violation (db));
    assert (!pgdb_is_unique_violation (db));
    assert (pgdb_run (db, "DROP TABLE it_child, it_parent") == 0);
    pgdb_destroy (&db);
}

//  --------------------------------------------------------------------------

static void
s_write_file (const char *dir, const char *name, const char *text)
{
    char path [512];
    snprintf (path, sizeof path, "%s/%s", dir, name);
    FILE *file = fopen (path, "w");
    assert (file);
    fputs (text, file);
    fclose (file);
}

static void
test_pgdb_migrate_applies_each_file_once (bool verbose)
{
    char *conninfo = s_scratch_db ("mig");
    assert (conninfo);
    char dir [] = "/tmp/comptoir-it-migrations-XXXXXX";
    assert (mkdtemp (dir));
    //  0001 sleeps so that two migrators surely overlap
    s_write_file (dir, "0001_things.sql",
                  "SELECT pg_sleep (0.3);\n"
                  "CREATE TABLE things (id int PRIMARY KEY, name text);\n"
                  "INSERT INTO things VALUES (1, 'one');\n");
    s_write_file (dir, "0002_more.sql", "INSERT INTO things VALUES (2, 'two');");
    s_write_file (dir, "0010_after_two.sql", "INSERT INTO things VALUES (10, 'ten');");
    s_write_file (dir, "README", "not a migration");
    s_write_file (dir, "seed.sql", "INSERT INTO things VALUES (99, 'not a migration');");

    //  two processes at once: each file applied exactly once in total
    fflush (NULL);
    pid_t child = fork ();
    assert (child >= 0);
    if (child == 0) {
        pgdb_t *db = pgdb_new (conninfo);
        int applied = pgdb_migrate (db, dir);
        pgdb_destroy (&db);
        _exit (applied < 0 ? 255 : applied);
    }
    pgdb_t *db = pgdb_new (conninfo);
    assert (db);
    int applied = pgdb_migrate (db, dir);
    int status = 0;
    assert (waitpid (child, &status, 0) == child);
    assert (WIFEXITED (status) && WEXITSTATUS (status) != 255);
    assert (applied >= 0);
    assert (applied + WEXITSTATUS (status) == 3);
    assert (s_number (db, "SELECT count(*) FROM things") == 3);
    assert (s_number (db, "SELECT count(*) FROM schema_migrations") == 3);
    assert (s_number (db, "SELECT max(version) FROM schema_migrations") == 10);

    //  again: nothing to do
    assert (pgdb_migrate (db, dir) == 0);
    //  a new file: only it
    s_write_file (dir, "0011_eleven.sql", "INSERT INTO things VALUES (11, 'eleven');");
    assert (pgdb_migrate (db, dir) == 1);
    //  a failing file: rolled back whole, not recorded, reported
    s_write_file (dir, "0012_broken.sql",
                  "INSERT INTO things VALUES (12, 'twelve');\nINSERT INTO nowhere VALUES (1);\n");
    assert (pgdb_migrate (db, dir) == -1);
    assert (s_number (db, "SELECT count(*) FROM things WHERE id = 12") == 0);
    assert (s_number (db, "SELECT count(*) FROM schema_migrations WHERE version = 12") == 0);
    //  and the lock was released: another session can take it
    pgdb_t *other = pgdb_new (conninfo);
    assert (s_number (other, "SELECT pg_try_advisory_lock (7165612398826729842)::int") == 1);
    pgdb_destroy (&other);
    //  two files with one number are refused
    s_write_file (dir, "0012_broken.sql", "SELECT 1;");
    s_write_file (dir, "0012_twin.sql", "SELECT 1;");
    assert (pgdb_migrate (db, dir) == -1);
    pgdb_destroy (&db);

    char command [600];
    snprintf (command, sizeof command, "rm -rf '%s'", dir);
    assert (system (command) == 0);
    free (conninfo);
    s_scratch_drop ("mig");
}

//  --------------------------------------------------------------------------
//  The shipped SQL: the inventory migration and seed, twice over.

static void
test_inventory_sql_locations (bool verbose)
{
    char *conninfo = s_scratch_db ("inv");
    pgdb_t *db = pgdb_new (conninfo);
    assert (db);
    char dir [512], seed [600];
    snprintf (dir, sizeof dir, "%s/inventory", s_sql_dir);
    snprintf (seed, sizeof seed, "%s/seed.sql", dir);
    assert (pgdb_migrate (db, dir) >= 1);
    assert (pgdb_migrate (db, dir) == 0);
    zfile_t *file = zfile_new (NULL, seed);
    assert (file && zfile_input (file) == 0);
    zchunk_t *chunk = zfile_read (file, (size_t) zfile_cursize (file), 0);
    char *sql = zchunk_strdup (chunk);
    assert (pgdb_run (db, sql) == 0);
    assert (pgdb_run (db, sql) == 0);                   //  idempotent
    zstr_free (&sql);
    zchunk_destroy (&chunk);
    zfile_destroy (&file);
    assert (s_number (db, "SELECT count(*) FROM locations") == 5);
    assert (s_number (db, "SELECT count(*) FROM locations WHERE type = 'store'") == 3);
    assert (s_number (db, "SELECT count(DISTINCT province) FROM locations WHERE type = 'store'") == 3);
    assert (s_number (db, "SELECT count(*) FROM locations WHERE type = 'web' AND active") == 1);
    assert (s_number (db, "SELECT count(*) FROM locations WHERE type = 'warehouse'") == 1);
    char *name = testdb_value (db, "SELECT name FROM locations WHERE province = 'QC' AND type = 'store'", 0, NULL);
    assert (name && strstr (name, "Montréal"));
    free (name);
    //  the checks hold
    assert (pgdb_run (db, "INSERT INTO locations (name, type, province) VALUES ('x', 'shop', 'QC')") == -1);
    assert (pgdb_run (db, "INSERT INTO locations (name, type, province) VALUES ('Web 2', 'web', 'QC')") == -1);
    assert (pgdb_is_unique_violation (db));
    pgdb_destroy (&db);
    free (conninfo);
    s_scratch_drop ("inv");
}

//  ==========================================================================
//  The catalog, through the verb table.

typedef struct {
    settings_t *settings;
    product_state_t *state;
} s_catalog_t;

static s_catalog_t
s_catalog_open (void)
{
    s_catalog_t catalog;
    catalog.settings = settings_load (NULL);
    assert (catalog.settings);
    catalog.state = (product_state_t *) product_context_def.make_state (catalog.settings, 1, 0);
    assert (catalog.state);
    return catalog;
}

static void
s_catalog_close (s_catalog_t *catalog)
{
    void *state = catalog->state;
    product_context_def.free_state (&state);
    assert (state == NULL);
    settings_destroy (&catalog->settings);
}

//  Call a verb as role (NULL: anonymous) with params (a JSON object
//  literal or NULL) and data (any JSON literal, or NULL for no body).
static envelope_t *
s_call (s_catalog_t *catalog, const char *verb, const char *role, const char *params, const char *data)
{
    envelope_t *request = testcall_request (verb, params, data);
    if (role)
        envelope_set_str (&request->role, role);
    return testcall_dispatch (&product_context_def, catalog->state, &request);
}

//  Call a verb and check the status of its answer, which is dropped.
static void
s_call_expect (s_catalog_t *catalog, const char *verb, const char *role, const char *params,
               const char *data, int status)
{
    envelope_t *reply = s_call (catalog, verb, role, params, data);
    testcall_expect (reply, status);
    envelope_destroy (&reply);
}

//  Whether the reply's details name field (with a problem containing text,
//  when text is not NULL).
static bool
s_has_detail (envelope_t *reply, const char *field, const char *text)
{
    json_t *details = json_object_get (reply->error, "details");
    size_t index;
    json_t *detail;
    json_array_foreach (details, index, detail) {
        const char *name = json_string_value (json_object_get (detail, "field"));
        const char *problem = json_string_value (json_object_get (detail, "problem"));
        if (name && streq (name, field) && (!text || (problem && strstr (problem, text))))
            return true;
    }
    return false;
}

static json_int_t
s_int (json_t *object, const char *key)
{
    json_t *value = json_object_get (object, key);
    assert (json_is_integer (value));
    return json_integer_value (value);
}

static const char *
s_str (json_t *object, const char *key)
{
    json_t *value = json_object_get (object, key);
    assert (json_is_string (value));
    return json_string_value (value);
}

static bool
s_matches (const char *text, const char *pattern)
{
    regex_t regex;
    assert (regcomp (&regex, pattern, REG_EXTENDED | REG_NOSUB) == 0);
    bool match = regexec (&regex, text, 0, NULL, 0) == 0;
    regfree (&regex);
    return match;
}

//  Create a category as a manager; returns its id.
static json_int_t
s_new_category (s_catalog_t *catalog, const char *name)
{
    char data [256];
    snprintf (data, sizeof data, "{\"name\": \"%s\"}", name);
    envelope_t *reply = s_call (catalog, "category.create", "manager", NULL, data);
    assert (reply->status == 201);
    json_int_t id = s_int (reply->body, "id");
    envelope_destroy (&reply);
    return id;
}

//  Create a product as a manager; returns the reply (201 expected).
static envelope_t *
s_new_product (s_catalog_t *catalog, json_int_t category_id, const char *name,
               const char *sku, long long price_cents)
{
    char data [512];
    if (sku)
        snprintf (data, sizeof data,
                  "{\"name\": \"%s\", \"sku\": \"%s\", \"price_cents\": %lld, \"category_id\": %lld}",
                  name, sku, price_cents, (long long) category_id);
    else
        snprintf (data, sizeof data, "{\"name\": \"%s\", \"price_cents\": %lld, \"category_id\": %lld}",
                  name, price_cents, (long long) category_id);
    envelope_t *reply = s_call (catalog, "product.create", "manager", NULL, data);
    if (reply->status != 201)
        fprintf (stderr, "create %s: %d %s\n", name, reply->status, testcall_code (reply));
    assert (reply->status == 201);
    return reply;
}

static envelope_t *
s_list (s_catalog_t *catalog, const char *params)
{
    return s_call (catalog, "product.list", NULL, params, NULL);
}

//  Whether a list reply holds a product of that name.
static bool
s_list_has (envelope_t *reply, const char *name)
{
    json_t *data = json_object_get (reply->body, "data");
    size_t index;
    json_t *product;
    json_array_foreach (data, index, product)
        if (streq (s_str (product, "name"), name))
            return true;
    return false;
}

//  --------------------------------------------------------------------------

static void
test_category_crud (bool verbose)
{
    s_catalog_t catalog = s_catalog_open ();
    envelope_t *reply = s_call (&catalog, "category.create", "manager", NULL,
                                "{\"name\": \"Cuisson lente\", \"description\": \"Mijoteuses et cocottes\"}");
    assert (reply->status == 201);
    json_int_t id = s_int (reply->body, "id");
    assert (id > 0);
    assert (streq (s_str (reply->body, "name"), "Cuisson lente"));
    assert (streq (s_str (reply->body, "description"), "Mijoteuses et cocottes"));
    envelope_destroy (&reply);

    //  names are unique without regard to case
    reply = s_call (&catalog, "category.create", "admin", NULL, "{\"name\": \"CUISSON LENTE\"}");
    assert (reply->status == 409 && streq (testcall_code (reply), "conflict"));
    envelope_destroy (&reply);

    //  a name is required; unknown fields are refused; all at once
    reply = s_call (&catalog, "category.create", "manager", NULL, "{\"id\": 5, \"description\": 3}");
    assert (reply->status == 400 && streq (testcall_code (reply), "validation_failed"));
    assert (s_has_detail (reply, "name", "required"));
    assert (s_has_detail (reply, "id", "unknown"));
    assert (s_has_detail (reply, "description", "string"));
    envelope_destroy (&reply);
    reply = s_call (&catalog, "category.create", "manager", NULL, NULL);
    assert (reply->status == 400 && s_has_detail (reply, "body", NULL));
    envelope_destroy (&reply);

    //  in the list, with a null description when there is none
    json_int_t bare = s_new_category (&catalog, "Sans description IT");
    reply = s_call (&catalog, "category.list", "customer", NULL, NULL);
    assert (reply->status == 200);
    json_t *data = json_object_get (reply->body, "data");
    assert (json_array_size (data) >= 10);      //  8 from the seed
    bool seen = false;
    size_t index;
    json_t *category;
    json_array_foreach (data, index, category)
        if (s_int (category, "id") == bare) {
            seen = true;
            assert (json_is_null (json_object_get (category, "description")));
        }
    assert (seen);
    envelope_destroy (&reply);

    //  update
    char params [64];
    snprintf (params, sizeof params, "{\"id\": \"%lld\"}", (long long) id);
    reply = s_call (&catalog, "category.update", "manager", params, "{\"name\": \"Cuisson douce\"}");
    assert (reply->status == 200);
    assert (streq (s_str (reply->body, "name"), "Cuisson douce"));
    assert (streq (s_str (reply->body, "description"), "Mijoteuses et cocottes"));
    envelope_destroy (&reply);
    reply = s_call (&catalog, "category.update", "manager", params, "{\"name\": \"Café et thé\"}");
    assert (reply->status == 409);
    envelope_destroy (&reply);
    reply = s_call (&catalog, "category.update", "manager", "{\"id\": \"987654321\"}", "{\"name\": \"x\"}");
    assert (reply->status == 404 && streq (testcall_code (reply), "not_found"));
    envelope_destroy (&reply);
    reply = s_call (&catalog, "category.update", "manager", "{\"id\": \"abc\"}", "{\"name\": \"x\"}");
    assert (reply->status == 400 && s_has_detail (reply, "id", NULL));
    envelope_destroy (&reply);

    //  delete
    reply = s_call (&catalog, "category.delete", "manager", params, NULL);
    assert (reply->status == 204 && reply->body == NULL);
    envelope_destroy (&reply);
    reply = s_call (&catalog, "category.delete", "manager", params, NULL);
    assert (reply->status == 404);
    envelope_destroy (&reply);
    s_catalog_close (&catalog);
}

//  --------------------------------------------------------------------------

static void
test_catalog_writes_are_forbidden_to_other_roles (bool verbose)
{
    s_catalog_t catalog = s_catalog_open ();
    const char *roles [] = { "customer", "cashier", NULL };
    const char *writes [][3] = {
        { "category.create", NULL, "{\"name\": \"Interdite\"}" },
        { "category.update", "{\"id\": \"1\"}", "{\"name\": \"Interdite\"}" },
        { "category.delete", "{\"id\": \"1\"}", NULL },
        { "product.create", NULL, "{\"name\": \"x\", \"price_cents\": 100, \"category_id\": 1}" },
        { "product.update", "{\"id\": \"1\"}", "{\"price_cents\": 1}" },
        { "product.delete", "{\"id\": \"1\"}", NULL },
    };
    for (size_t w = 0; w < sizeof writes / sizeof writes [0]; w++)
        for (size_t r = 0; r < 3; r++) {
            envelope_t *reply = s_call (&catalog, writes [w][0], roles [r], writes [w][1], writes [w][2]);
            assert (reply->status == 403);
            assert (streq (testcall_code (reply), "forbidden"));
            envelope_destroy (&reply);
        }
    //  nothing changed
    envelope_t *reply = s_call (&catalog, "product.get", "customer", "{\"id\": \"1\"}", NULL);
    assert (reply->status == 200);
    assert (s_int (reply->body, "price_cents") != 1);
    envelope_destroy (&reply);
    s_catalog_close (&catalog);
}

//  --------------------------------------------------------------------------

static void
test_product_create_and_get (bool verbose)
{
    s_catalog_t catalog = s_catalog_open ();
    json_int_t category = s_new_category (&catalog, "Créations IT");
    envelope_t *reply = s_call (&catalog, "product.create", "manager", NULL,
        "{\"name\": \"Tasse à espresso IT\", \"sku\": \"it-esp-1\", \"price_cents\": 1899,"
        " \"category_id\": 0, \"description\": \"Porcelaine\"}");
    //  category 0 is not an id
    assert (reply->status == 400 && s_has_detail (reply, "category_id", NULL));
    envelope_destroy (&reply);

    char data [256];
    snprintf (data, sizeof data,
              "{\"name\": \"Tasse à espresso IT\", \"sku\": \"it-esp-1\", \"price_cents\": 1899,"
              " \"category_id\": %lld, \"description\": \"Porcelaine\"}", (long long) category);
    reply = s_call (&catalog, "product.create", "admin", NULL, data);
    assert (reply->status == 201);
    json_t *product = reply->body;
    json_int_t id = s_int (product, "id");
    assert (id > 0);
    assert (streq (s_str (product, "sku"), "IT-ESP-1"));        //  upper case
    assert (streq (s_str (product, "name"), "Tasse à espresso IT"));
    assert (streq (s_str (product, "description"), "Porcelaine"));
    assert (s_int (product, "price_cents") == 1899);
    assert (s_int (product, "alert_threshold") == 5);           //  the default
    assert (json_is_true (json_object_get (product, "active")));
    json_t *cat = json_object_get (product, "category");
    assert (s_int (cat, "id") == category);
    assert (streq (s_str (cat, "name"), "Créations IT"));
    const char *rfc3339 = "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$";
    assert (s_matches (s_str (product, "created_at"), rfc3339));
    assert (s_matches (s_str (product, "updated_at"), rfc3339));
    assert (json_is_null (json_object_get (product, "barcode")));
    assert (s_int (product, "cost_cents") == 0);                //  the default
    assert (json_object_size (product) == 12);
    //  get answers the same shape, without the unit cost: public reads
    //  are cached and served to every consumer alike
    json_object_del (product, "cost_cents");
    char *created = json_dumps (product, JSON_SORT_KEYS);
    envelope_destroy (&reply);

    char params [64];
    snprintf (params, sizeof params, "{\"id\": \"%lld\"}", (long long) id);
    reply = s_call (&catalog, "product.get", "manager", params, NULL);
    assert (reply->status == 200);
    assert (!json_object_get (reply->body, "cost_cents"));
    char *got = json_dumps (reply->body, JSON_SORT_KEYS);
    assert (streq (created, got));
    free (got);
    envelope_destroy (&reply);

    //  by sku, whatever the case
    reply = s_call (&catalog, "product.get_by_sku", NULL, "{\"sku\": \"It-Esp-1\"}", NULL);
    assert (reply->status == 200 && s_int (reply->body, "id") == id);
    envelope_destroy (&reply);
    reply = s_call (&catalog, "product.get_by_sku", NULL, "{\"sku\": \"NO-SUCH-SKU\"}", NULL);
    assert (reply->status == 404 && streq (testcall_code (reply), "not_found"));
    envelope_destroy (&reply);
    reply = s_call (&catalog, "product.get_by_sku", NULL, "{\"sku\": \"' OR 1=1 --\"}", NULL);
    assert (reply->status == 404);
    envelope_destroy (&reply);

    //  unknown and malformed ids
    reply = s_call (&catalog, "product.get", NULL, "{\"id\": \"987654321\"}", NULL);
    assert (reply->status == 404);
    envelope_destroy (&reply);
    const char *bad_ids [] = { "{\"id\": \"abc\"}", "{\"id\": \"0\"}", "{\"id\": \"-1\"}",
                               "{\"id\": \"1.5\"}", "{\"id\": 7}", "{}", NULL };
    for (const char **bad = bad_ids; *bad; bad++) {
        reply = s_call (&catalog, "product.get", NULL, *bad, NULL);
        assert (reply->status == 400 && s_has_detail (reply, "id", NULL));
        envelope_destroy (&reply);
    }
    //  an explicit alert threshold
    snprintf (data, sizeof data,
              "{\"name\": \"Soucoupe IT\", \"price_cents\": 500, \"category_id\": %lld, \"alert_threshold\": 0}",
              (long long) category);
    reply = s_call (&catalog, "product.create", "manager", NULL, data);
    assert (reply->status == 201 && s_int (reply->body, "alert_threshold") == 0);
    assert (json_is_null (json_object_get (reply->body, "description")));
    envelope_destroy (&reply);
    free (created);
    s_catalog_close (&catalog);
}

//  --------------------------------------------------------------------------

static void
test_product_sku_is_generated_when_missing (bool verbose)
{
    s_catalog_t catalog = s_catalog_open ();
    json_int_t category = s_new_category (&catalog, "Île de verre");
    envelope_t *first = s_new_product (&catalog, category, "Vase IT", NULL, 3900);
    envelope_t *second = s_new_product (&catalog, category, "Bol IT", NULL, 2900);
    const char *sku1 = s_str (first->body, "sku");
    const char *sku2 = s_str (second->body, "sku");
    assert (s_matches (sku1, "^ILE-[0-9]{6}$"));
    assert (s_matches (sku2, "^ILE-[0-9]{6}$"));
    assert (!streq (sku1, sku2));

    //  a hand-made SKU that takes the next generated number: skipped
    int next = atoi (sku2 + 4) + 1;
    char taken [32];
    snprintf (taken, sizeof taken, "ILE-%06d", next);
    envelope_t *squatter = s_new_product (&catalog, category, "Squatteur IT", taken, 100);
    envelope_t *third = s_new_product (&catalog, category, "Plat IT", NULL, 4900);
    assert (s_matches (s_str (third->body, "sku"), "^ILE-[0-9]{6}$"));
    assert (!streq (s_str (third->body, "sku"), taken));

    //  a null sku means "generate one" too
    char data [200];
    snprintf (data, sizeof data,
              "{\"name\": \"Carafe IT\", \"sku\": null, \"price_cents\": 2500, \"category_id\": %lld}",
              (long long) category);
    envelope_t *fourth = s_call (&catalog, "product.create", "manager", NULL, data);
    assert (fourth->status == 201 && s_matches (s_str (fourth->body, "sku"), "^ILE-[0-9]{6}$"));
    envelope_destroy (&fourth);
    envelope_destroy (&first);
    envelope_destroy (&second);
    envelope_destroy (&squatter);
    envelope_destroy (&third);
    s_catalog_close (&catalog);
}

//  --------------------------------------------------------------------------

static void
test_product_duplicate_sku_conflicts (bool verbose)
{
    s_catalog_t catalog = s_catalog_open ();
    json_int_t category = s_new_category (&catalog, "Doublons IT");
    envelope_t *one = s_new_product (&catalog, category, "Original IT", "DUP-IT-1", 1000);
    envelope_t *two = s_new_product (&catalog, category, "Autre IT", "DUP-IT-2", 1000);

    char data [200];
    snprintf (data, sizeof data,
              "{\"name\": \"Copie IT\", \"sku\": \"dup-it-1\", \"price_cents\": 1000, \"category_id\": %lld}",
              (long long) category);
    envelope_t *reply = s_call (&catalog, "product.create", "manager", NULL, data);
    assert (reply->status == 409 && streq (testcall_code (reply), "conflict"));
    envelope_destroy (&reply);
    //  the seed's SKUs are taken too
    snprintf (data, sizeof data,
              "{\"name\": \"Copie IT\", \"sku\": \"CAF-1001\", \"price_cents\": 1000, \"category_id\": %lld}",
              (long long) category);
    reply = s_call (&catalog, "product.create", "manager", NULL, data);
    assert (reply->status == 409);
    envelope_destroy (&reply);

    //  renaming onto a taken SKU
    char params [64];
    snprintf (params, sizeof params, "{\"id\": \"%lld\"}", (long long) s_int (two->body, "id"));
    reply = s_call (&catalog, "product.update", "manager", params, "{\"sku\": \"DUP-IT-1\"}");
    assert (reply->status == 409 && streq (testcall_code (reply), "conflict"));
    envelope_destroy (&reply);

    //  a deleted product keeps its SKU
    snprintf (params, sizeof params, "{\"id\": \"%lld\"}", (long long) s_int (one->body, "id"));
    reply = s_call (&catalog, "product.delete", "manager", params, NULL);
    assert (reply->status == 204);
    envelope_destroy (&reply);
    snprintf (data, sizeof data,
              "{\"name\": \"Copie IT\", \"sku\": \"DUP-IT-1\", \"price_cents\": 1000, \"category_id\": %lld}",
              (long long) category);
    reply = s_call (&catalog, "product.create", "manager", NULL, data);
    assert (reply->status == 409);
    envelope_destroy (&reply);
    envelope_destroy (&one);
    envelope_destroy (&two);
    s_catalog_close (&catalog);
}

//  --------------------------------------------------------------------------

static void
test_product_validation_reports_every_problem (bool verbose)
{
    s_catalog_t catalog = s_catalog_open ();
    json_int_t category = s_new_category (&catalog, "Validation IT");
    char data [512];

    //  money is a JSON integer: not a float, not a string, not zero
    const char *prices [] = { "12.5", "\"1299\"", "0", "-5", "1e3", "true", "null", NULL };
    for (const char **price = prices; *price; price++) {
        snprintf (data, sizeof data, "{\"name\": \"Prix IT\", \"price_cents\": %s, \"category_id\": %lld}",
                  *price, (long long) category);
        envelope_t *reply = s_call (&catalog, "product.create", "manager", NULL, data);
        assert (reply->status == 400);
        assert (streq (testcall_code (reply), "validation_failed"));
        assert (s_has_detail (reply, "price_cents", NULL));
        envelope_destroy (&reply);
    }
    //  mass assignment, missing and mistyped fields: all reported together
    envelope_t *reply = s_call (&catalog, "product.create", "manager", NULL,
        "{\"id\": 1, \"created_at\": \"2020-01-01T00:00:00Z\", \"active\": false,"
        " \"category_id\": \"3\", \"alert_threshold\": -1, \"sku\": \"bad sku!\", \"description\": 5}");
    assert (reply->status == 400);
    assert (s_has_detail (reply, "id", "unknown field"));
    assert (s_has_detail (reply, "created_at", "unknown field"));
    assert (s_has_detail (reply, "active", "unknown field"));
    assert (s_has_detail (reply, "name", "required"));
    assert (s_has_detail (reply, "price_cents", "required"));
    assert (s_has_detail (reply, "category_id", "integer"));
    assert (s_has_detail (reply, "alert_threshold", NULL));
    assert (s_has_detail (reply, "sku", NULL));
    assert (s_has_detail (reply, "description", "string"));
    envelope_destroy (&reply);

    //  blank and overlong names
    snprintf (data, sizeof data, "{\"name\": \"   \", \"price_cents\": 100, \"category_id\": %lld}",
              (long long) category);
    reply = s_call (&catalog, "product.create", "manager", NULL, data);
    assert (reply->status == 400 && s_has_detail (reply, "name", "empty"));
    envelope_destroy (&reply);
    char longname [260];
    memset (longname, 'a', 201);
    longname [201] = 0;
    snprintf (data, sizeof data, "{\"name\": \"%s\", \"price_cents\": 100, \"category_id\": %lld}",
              longname, (long long) category);
    reply = s_call (&catalog, "product.create", "manager", NULL, data);
    assert (reply->status == 400 && s_has_detail (reply, "name", "at most"));
    envelope_destroy (&reply);

    //  a category that does not exist
    reply = s_call (&catalog, "product.create", "manager", NULL,
                    "{\"name\": \"Orphelin IT\", \"price_cents\": 100, \"category_id\": 987654321}");
    assert (reply->status == 400 && s_has_detail (reply, "category_id", "no such category"));
    envelope_destroy (&reply);

    //  a body that is not an object
    reply = s_call (&catalog, "product.create", "manager", NULL, "[1, 2]");
    assert (reply->status == 400 && s_has_detail (reply, "body", NULL));
    envelope_destroy (&reply);
    reply = s_call (&catalog, "product.create", "manager", NULL, NULL);
    assert (reply->status == 400 && s_has_detail (reply, "body", NULL));
    envelope_destroy (&reply);
    s_catalog_close (&catalog);
}

//  --------------------------------------------------------------------------

static void
test_product_update_changes_only_given_fields (bool verbose)
{
    s_catalog_t catalog = s_catalog_open ();
    json_int_t category = s_new_category (&catalog, "Mises à jour IT");
    json_int_t other = s_new_category (&catalog, "Autre rayon IT");
    char data [300];
    snprintf (data, sizeof data,
              "{\"name\": \"Théière IT\", \"price_cents\": 4500, \"category_id\": %lld,"
              " \"description\": \"Fonte\", \"alert_threshold\": 2}", (long long) category);
    envelope_t *reply = s_call (&catalog, "product.create", "manager", NULL, data);
    assert (reply->status == 201);
    json_int_t id = s_int (reply->body, "id");
    char *sku = strdup (s_str (reply->body, "sku"));
    char *created_at = strdup (s_str (reply->body, "created_at"));
    envelope_destroy (&reply);

    char params [64];
    snprintf (params, sizeof params, "{\"id\": \"%lld\"}", (long long) id);
    snprintf (data, sizeof data, "{\"price_cents\": 3999, \"name\": \"Théière en fonte IT\", \"category_id\": %lld}",
              (long long) other);
    reply = s_call (&catalog, "product.update", "manager", params, data);
    assert (reply->status == 200);
    assert (s_int (reply->body, "price_cents") == 3999);
    assert (streq (s_str (reply->body, "name"), "Théière en fonte IT"));
    assert (s_int (json_object_get (reply->body, "category"), "id") == other);
    assert (streq (s_str (reply->body, "sku"), sku));
    assert (streq (s_str (reply->body, "description"), "Fonte"));
    assert (s_int (reply->body, "alert_threshold") == 2);
    assert (streq (s_str (reply->body, "created_at"), created_at));
    assert (strcmp (s_str (reply->body, "updated_at"), created_at) >= 0);
    envelope_destroy (&reply);

    //  null clears the description; an empty body changes nothing
    reply = s_call (&catalog, "product.update", "admin", params, "{\"description\": null}");
    assert (reply->status == 200 && json_is_null (json_object_get (reply->body, "description")));
    envelope_destroy (&reply);
    reply = s_call (&catalog, "product.update", "admin", params, "{}");
    assert (reply->status == 200 && s_int (reply->body, "price_cents") == 3999);
    envelope_destroy (&reply);

    //  refused: unknown fields, bad values, nulls where a value is needed
    reply = s_call (&catalog, "product.update", "manager", params,
                    "{\"id\": 9, \"price_cents\": 0, \"name\": null, \"sku\": null}");
    assert (reply->status == 400);
    assert (s_has_detail (reply, "id", "unknown"));
    assert (s_has_detail (reply, "price_cents", NULL));
    assert (s_has_detail (reply, "name", "null"));
    assert (s_has_detail (reply, "sku", "null"));
    envelope_destroy (&reply);
    reply = s_call (&catalog, "product.update", "manager", params, "{\"category_id\": 987654321}");
    assert (reply->status == 400 && s_has_detail (reply, "category_id", "no such category"));
    envelope_destroy (&reply);
    reply = s_call (&catalog, "product.update", "manager", "{\"id\": \"987654321\"}", "{\"price_cents\": 5}");
    assert (reply->status == 404);
    envelope_destroy (&reply);
    free (sku);
    free (created_at);
    s_catalog_close (&catalog);
}

//  --------------------------------------------------------------------------

static void
test_product_search_full_text_and_partial (bool verbose)
{
    s_catalog_t catalog = s_catalog_open ();
    //  accents do not matter: "cafe" finds "Café" and "Cafetière"
    envelope_t *reply = s_list (&catalog, "{\"q\": \"cafe\", \"per_page\": \"100\"}");
    assert (reply->status == 200);
    assert (s_list_has (reply, "Café en grains Mont-Royal 340 g"));
    assert (s_list_has (reply, "Cafetière à piston 1 L"));
    assert (!s_list_has (reply, "Chaise Adirondack pliante"));
    envelope_destroy (&reply);

    //  "mug" finds the mug and the mugs
    reply = s_list (&catalog, "{\"q\": \"mug\"}");
    assert (s_list_has (reply, "Mug isotherme Voyageur 470 ml"));
    assert (s_list_has (reply, "Ensemble de 4 mugs en céramique"));
    //  the best match comes first
    json_t *first = json_array_get (json_object_get (reply->body, "data"), 0);
    assert (streq (s_str (first, "name"), "Mug isotherme Voyageur 470 ml"));
    envelope_destroy (&reply);

    //  a word prefix, a substring inside a word, a word of the description
    reply = s_list (&catalog, "{\"q\": \"isoth\"}");
    assert (s_list_has (reply, "Mug isotherme Voyageur 470 ml"));
    envelope_destroy (&reply);
    reply = s_list (&catalog, "{\"q\": \"therme\"}");
    assert (s_list_has (reply, "Mug isotherme Voyageur 470 ml"));
    envelope_destroy (&reply);
    reply = s_list (&catalog, "{\"q\": \"Beauce\"}");
    assert (s_list_has (reply, "Sirop d'érable ambré 540 ml"));
    envelope_destroy (&reply);
    //  several words: all must match
    reply = s_list (&catalog, "{\"q\": \"érable sirop\"}");
    assert (s_list_has (reply, "Sirop d'érable ambré 540 ml"));
    assert (!s_list_has (reply, "Planche à découper en érable"));
    envelope_destroy (&reply);
    //  a near spelling
    reply = s_list (&catalog, "{\"q\": \"mugs\"}");
    assert (s_list_has (reply, "Mug isotherme Voyageur 470 ml"));
    envelope_destroy (&reply);
    //  by sku, whole or in part
    reply = s_list (&catalog, "{\"q\": \"TAB-1002\"}");
    assert (s_list_has (reply, "Mug isotherme Voyageur 470 ml"));
    envelope_destroy (&reply);
    reply = s_list (&catalog, "{\"q\": \"b-1002\"}");
    assert (s_list_has (reply, "Mug isotherme Voyageur 470 ml"));
    envelope_destroy (&reply);
    //  nothing, and nothing odd from wildcards or tsquery syntax
    const char *empty [] = { "{\"q\": \"zzqxwv\"}", "{\"q\": \"%%%\"}", "{\"q\": \"_\"}",
                             "{\"q\": \"!&|:*()\"}", NULL };
    for (const char **params = empty; *params; params++) {
        reply = s_list (&catalog, *params);
        assert (reply->status == 200);
        assert (s_int (json_object_get (reply->body, "meta"), "total") == 0);
        envelope_destroy (&reply);
    }
    //  a % is a character like any other
    reply = s_list (&catalog, "{\"q\": \"70 %\"}");
    assert (s_int (json_object_get (reply->body, "meta"), "total") == 1);
    assert (s_list_has (reply, "Chocolat noir 70 % aux camerises"));
    envelope_destroy (&reply);
    //  too long
    char params [400];
    char longq [260];
    memset (longq, 'a', 201);
    longq [201] = 0;
    snprintf (params, sizeof params, "{\"q\": \"%s\"}", longq);
    reply = s_list (&catalog, params);
    assert (reply->status == 400 && s_has_detail (reply, "q", NULL));
    envelope_destroy (&reply);
    s_catalog_close (&catalog);
}

//  --------------------------------------------------------------------------

static void
test_product_list_filters_sorts_and_pages (bool verbose)
{
    s_catalog_t catalog = s_catalog_open ();
    json_int_t category = s_new_category (&catalog, "Pagination IT");
    const char *names [] = { "Echo IT", "Alpha IT", "Delta IT", "Bravo IT", "Charlie IT", "Foxtrot IT", "Golf IT" };
    long long prices [] = { 500, 700, 100, 300, 900, 200, 800 };
    for (int i = 0; i < 7; i++) {
        envelope_t *reply = s_new_product (&catalog, category, names [i], NULL, prices [i]);
        envelope_destroy (&reply);
    }
    char params [300];
    //  the category filter and the default: by name, 20 a page
    snprintf (params, sizeof params, "{\"category_id\": \"%lld\"}", (long long) category);
    envelope_t *reply = s_list (&catalog, params);
    assert (reply->status == 200);
    json_t *meta = json_object_get (reply->body, "meta");
    assert (s_int (meta, "total") == 7 && s_int (meta, "page") == 1 && s_int (meta, "per_page") == 20);
    json_t *data = json_object_get (reply->body, "data");
    assert (json_array_size (data) == 7);
    assert (streq (s_str (json_array_get (data, 0), "name"), "Alpha IT"));
    assert (streq (s_str (json_array_get (data, 6), "name"), "Golf IT"));
    envelope_destroy (&reply);

    //  price ascending and descending
    snprintf (params, sizeof params, "{\"category_id\": \"%lld\", \"sort\": \"price\"}", (long long) category);
    reply = s_list (&catalog, params);
    data = json_object_get (reply->body, "data");
    for (size_t i = 1; i < json_array_size (data); i++)
        assert (s_int (json_array_get (data, i - 1), "price_cents") <= s_int (json_array_get (data, i), "price_cents"));
    assert (s_int (json_array_get (data, 0), "price_cents") == 100);
    envelope_destroy (&reply);
    snprintf (params, sizeof params, "{\"category_id\": \"%lld\", \"sort\": \"-price\"}", (long long) category);
    reply = s_list (&catalog, params);
    data = json_object_get (reply->body, "data");
    assert (s_int (json_array_get (data, 0), "price_cents") == 900);
    assert (s_int (json_array_get (data, 6), "price_cents") == 100);
    envelope_destroy (&reply);
    snprintf (params, sizeof params, "{\"category_id\": \"%lld\", \"sort\": \"created_at\"}", (long long) category);
    reply = s_list (&catalog, params);
    data = json_object_get (reply->body, "data");
    assert (streq (s_str (json_array_get (data, 0), "name"), "Echo IT"));
    assert (streq (s_str (json_array_get (data, 6), "name"), "Golf IT"));
    envelope_destroy (&reply);

    //  price range, inclusive
    snprintf (params, sizeof params,
              "{\"category_id\": \"%lld\", \"min_price_cents\": \"300\", \"max_price_cents\": \"700\", \"sort\": \"price\"}",
              (long long) category);
    reply = s_list (&catalog, params);
    assert (s_int (json_object_get (reply->body, "meta"), "total") == 3);
    data = json_object_get (reply->body, "data");
    assert (s_int (json_array_get (data, 0), "price_cents") == 300);
    assert (s_int (json_array_get (data, 2), "price_cents") == 700);
    envelope_destroy (&reply);

    //  pages: 3 a page, the third page holds the last one, the total stays
    snprintf (params, sizeof params,
              "{\"category_id\": \"%lld\", \"per_page\": \"3\", \"page\": \"3\", \"sort\": \"name\"}",
              (long long) category);
    reply = s_list (&catalog, params);
    meta = json_object_get (reply->body, "meta");
    assert (s_int (meta, "total") == 7 && s_int (meta, "page") == 3 && s_int (meta, "per_page") == 3);
    data = json_object_get (reply->body, "data");
    assert (json_array_size (data) == 1);
    assert (streq (s_str (json_array_get (data, 0), "name"), "Golf IT"));
    envelope_destroy (&reply);
    snprintf (params, sizeof params, "{\"category_id\": \"%lld\", \"page\": \"9\"}", (long long) category);
    reply = s_list (&catalog, params);
    assert (json_array_size (json_object_get (reply->body, "data")) == 0);
    assert (s_int (json_object_get (reply->body, "meta"), "total") == 7);
    envelope_destroy (&reply);

    //  the whole catalog holds at least the seed
    reply = s_list (&catalog, "{\"per_page\": \"100\"}");
    assert (s_int (json_object_get (reply->body, "meta"), "total") >= 50);
    envelope_destroy (&reply);

    //  refused params
    struct { const char *params; const char *field; } bad [] = {
        { "{\"per_page\": \"101\"}", "per_page" },
        { "{\"per_page\": \"0\"}", "per_page" },
        { "{\"page\": \"0\"}", "page" },
        { "{\"page\": \"two\"}", "page" },
        { "{\"sort\": \"popularity\"}", "sort" },
        { "{\"sort\": \"name; DROP TABLE products\"}", "sort" },
        { "{\"category_id\": \"x\"}", "category_id" },
        { "{\"min_price_cents\": \"-1\"}", "min_price_cents" },
        { "{\"min_price_cents\": \"500\", \"max_price_cents\": \"100\"}", "min_price_cents" },
        { NULL, NULL }
    };
    for (int i = 0; bad [i].params; i++) {
        reply = s_list (&catalog, bad [i].params);
        assert (reply->status == 400 && streq (testcall_code (reply), "validation_failed"));
        assert (s_has_detail (reply, bad [i].field, NULL));
        envelope_destroy (&reply);
    }
    s_catalog_close (&catalog);
}

//  --------------------------------------------------------------------------
//  Barcodes (EAN-13, check digit verified, unique) and costs: written on
//  create and update, read back everywhere, found by the till's route.

static void
test_product_barcode_and_cost (bool verbose)
{
    s_catalog_t catalog = s_catalog_open ();
    json_int_t category = s_new_category (&catalog, "Codes-barres IT");
    char data [400];
    snprintf (data, sizeof data,
              "{\"name\": \"Sucrier IT\", \"sku\": \"EAN-IT-1\", \"price_cents\": 2500, \"category_id\": %lld,"
              " \"barcode\": \"0779000000012\", \"cost_cents\": 1100}", (long long) category);
    envelope_t *reply = s_call (&catalog, "product.create", "manager", NULL, data);
    testcall_expect (reply, 201);
    json_int_t id = s_int (reply->body, "id");
    assert (streq (s_str (reply->body, "barcode"), "0779000000012"));
    assert (s_int (reply->body, "cost_cents") == 1100);
    envelope_destroy (&reply);

    //  the till's look-up, and the same product as product.get answers it
    reply = s_call (&catalog, "product.get_by_barcode", "cashier", "{\"code\": \"0779000000012\"}", NULL);
    testcall_expect (reply, 200);
    assert (s_int (reply->body, "id") == id && !json_object_get (reply->body, "cost_cents"));
    envelope_destroy (&reply);
    reply = s_call (&catalog, "product.get_by_barcode", NULL, "{\"code\": \"0779000000029\"}", NULL);
    testcall_expect (reply, 404);
    assert (streq (testcall_code (reply), "not_found"));
    envelope_destroy (&reply);
    //  not an EAN-13: 400 naming the barcode, whatever is wrong with it
    const char *bad_codes [] = {
        "{\"code\": \"0779000000013\"}", "{\"code\": \"077900000001\"}", "{\"code\": \"07790000000120\"}",
        "{\"code\": \"07790000000l2\"}", "{\"code\": \"' OR 1=1 --\"}", "{\"code\": \"\"}", "{}", NULL
    };
    for (const char **bad = bad_codes; *bad; bad++) {
        reply = s_call (&catalog, "product.get_by_barcode", NULL, *bad, NULL);
        testcall_expect (reply, 400);
        assert (streq (testcall_code (reply), "validation_failed") && s_has_detail (reply, "barcode", "EAN-13"));
        envelope_destroy (&reply);
    }
    //  the seed's products carry theirs
    reply = s_call (&catalog, "product.get_by_barcode", NULL, "{\"code\": \"0628000110019\"}", NULL);
    testcall_expect (reply, 200);
    assert (streq (s_str (reply->body, "sku"), "CAF-1001"));
    envelope_destroy (&reply);

    //  bad values on writes: every problem named
    snprintf (data, sizeof data,
              "{\"name\": \"Mauvais IT\", \"price_cents\": 2500, \"category_id\": %lld,"
              " \"barcode\": \"0779000000013\", \"cost_cents\": -1}", (long long) category);
    reply = s_call (&catalog, "product.create", "manager", NULL, data);
    testcall_expect (reply, 400);
    assert (s_has_detail (reply, "barcode", "check digit") && s_has_detail (reply, "cost_cents", NULL));
    envelope_destroy (&reply);
    const char *bad_writes [][2] = {
        { "{\"barcode\": 779000000012}", "barcode" },
        { "{\"barcode\": \"\"}", "barcode" },
        { "{\"barcode\": \"0779-00000001\"}", "barcode" },
        { "{\"cost_cents\": 12.5}", "cost_cents" },
        { "{\"cost_cents\": \"100\"}", "cost_cents" },
        { "{\"cost_cents\": null}", "cost_cents" },
        { "{\"cost_cents\": 100000000001}", "cost_cents" },
    };
    char params [64];
    snprintf (params, sizeof params, "{\"id\": \"%lld\"}", (long long) id);
    for (size_t i = 0; i < sizeof bad_writes / sizeof bad_writes [0]; i++) {
        reply = s_call (&catalog, "product.update", "manager", params, bad_writes [i][0]);
        testcall_expect (reply, 400);
        assert (s_has_detail (reply, bad_writes [i][1], NULL));
        envelope_destroy (&reply);
    }

    //  unique: a second product cannot take it, on create (with or without
    //  a SKU) nor on update
    snprintf (data, sizeof data,
              "{\"name\": \"Copie IT\", \"price_cents\": 2500, \"category_id\": %lld, \"barcode\": \"0779000000012\"}",
              (long long) category);
    reply = s_call (&catalog, "product.create", "manager", NULL, data);
    testcall_expect (reply, 409);
    assert (strstr (json_string_value (json_object_get (reply->error, "message")), "barcode"));
    envelope_destroy (&reply);
    envelope_t *other = s_new_product (&catalog, category, "Crémier IT", "EAN-IT-2", 1800);
    char other_params [64];
    snprintf (other_params, sizeof other_params, "{\"id\": \"%lld\"}", (long long) s_int (other->body, "id"));
    reply = s_call (&catalog, "product.update", "manager", other_params, "{\"barcode\": \"0779000000012\"}");
    testcall_expect (reply, 409);
    assert (strstr (json_string_value (json_object_get (reply->error, "message")), "barcode"));
    envelope_destroy (&reply);
    //  a product may write its own barcode again; the SKU conflict is still told apart
    reply = s_call (&catalog, "product.update", "manager", params,
                    "{\"barcode\": \"0779000000012\", \"sku\": \"EAN-IT-2\"}");
    testcall_expect (reply, 409);
    assert (strstr (json_string_value (json_object_get (reply->error, "message")), "sku"));
    envelope_destroy (&reply);

    //  update: only what is given; null takes the barcode away
    reply = s_call (&catalog, "product.update", "manager", params, "{\"cost_cents\": 0}");
    testcall_expect (reply, 200);
    assert (s_int (reply->body, "cost_cents") == 0 && streq (s_str (reply->body, "barcode"), "0779000000012"));
    envelope_destroy (&reply);
    reply = s_call (&catalog, "product.update", "manager", params, "{\"barcode\": null, \"cost_cents\": 1250}");
    testcall_expect (reply, 200);
    assert (json_is_null (json_object_get (reply->body, "barcode")) && s_int (reply->body, "cost_cents") == 1250);
    envelope_destroy (&reply);
    s_call_expect (&catalog, "product.get_by_barcode", NULL, "{\"code\": \"0779000000012\"}", NULL, 404);
    //  now free for the other one; once deleted, the till no longer finds it
    s_call_expect (&catalog, "product.update", "manager", other_params, "{\"barcode\": \"0779000000012\"}", 200);
    s_call_expect (&catalog, "product.delete", "manager", other_params, NULL, 204);
    s_call_expect (&catalog, "product.get_by_barcode", NULL, "{\"code\": \"0779000000012\"}", NULL, 404);
    envelope_destroy (&other);

    //  the table refuses a bad code on its own too
    pgdb_t *db = pgdb_new (s_product_db);
    assert (pgdb_run (db, "UPDATE products SET barcode = '0779000000013' WHERE sku = 'EAN-IT-1'") == -1);
    assert (pgdb_run (db, "UPDATE products SET cost_cents = -1 WHERE sku = 'EAN-IT-1'") == -1);
    pgdb_destroy (&db);
    s_catalog_close (&catalog);
}

//  --------------------------------------------------------------------------

static void
test_product_get_many_answers_known_ids (bool verbose)
{
    s_catalog_t catalog = s_catalog_open ();
    json_int_t category = s_new_category (&catalog, "Plusieurs IT");
    envelope_t *kept = s_new_product (&catalog, category, "Gardé IT", "MANY-IT-1", 1000);
    envelope_t *gone = s_new_product (&catalog, category, "Supprimé IT", "MANY-IT-2", 2000);
    json_int_t kept_id = s_int (kept->body, "id"), gone_id = s_int (gone->body, "id");
    char params [64];
    snprintf (params, sizeof params, "{\"id\": \"%lld\"}", (long long) gone_id);
    envelope_t *reply = s_call (&catalog, "product.delete", "manager", params, NULL);
    testcall_expect (reply, 204);
    envelope_destroy (&reply);

    //  deleted ones too, inactive; unknown ids left out; repeats once; in id order
    char data [160];
    snprintf (data, sizeof data, "{\"ids\": [%lld, 987654321, %lld, %lld]}",
              (long long) gone_id, (long long) kept_id, (long long) gone_id);
    reply = s_call (&catalog, "product.get_many", "service", NULL, data);
    testcall_expect (reply, 200);
    json_t *products = json_object_get (reply->body, "data");
    assert (json_array_size (products) == 2);
    json_t *first = json_array_get (products, 0), *second = json_array_get (products, 1);
    assert (s_int (first, "id") == kept_id && json_is_true (json_object_get (first, "active")));
    assert (s_int (second, "id") == gone_id && json_is_false (json_object_get (second, "active")));
    assert (s_int (second, "price_cents") == 2000 && json_object_get (second, "cost_cents"));
    envelope_destroy (&reply);
    //  the ids may come as params as well
    reply = s_call (&catalog, "product.get_many", "service", "{\"ids\": [1, 2]}", NULL);
    testcall_expect (reply, 200);
    assert (json_array_size (json_object_get (reply->body, "data")) == 2);
    envelope_destroy (&reply);

    //  1 to 100 positive integer ids
    json_t *many = json_pack ("{s:[]}", "ids");
    for (int i = 1; i <= 101; i++)
        json_array_append_new (json_object_get (many, "ids"), json_integer (i));
    char *too_many = json_dumps (many, 0);
    json_decref (many);
    struct { const char *data, *field; } bad [] = {
        { "{\"ids\": []}", "ids" }, { "{\"ids\": 5}", "ids" }, { "{}", "ids" }, { too_many, "ids" },
        { "{\"ids\": [1, 0]}", "ids[1]" }, { "{\"ids\": [\"7\"]}", "ids[0]" }, { "{\"ids\": [1.5]}", "ids[0]" },
        { "{\"ids\": [-3]}", "ids[0]" }, { "{\"ids\": [null]}", "ids[0]" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        reply = s_call (&catalog, "product.get_many", "service", NULL, bad [i].data);
        testcall_expect (reply, 400);
        assert (s_has_detail (reply, bad [i].field, NULL));
        envelope_destroy (&reply);
    }
    free (too_many);
    envelope_destroy (&kept);
    envelope_destroy (&gone);
    s_catalog_close (&catalog);
}

//  --------------------------------------------------------------------------
//  product.updated: a trigger writes one with every create, update and
//  (soft) delete, in the transaction of the change; the first actor of
//  instance 1 runs the relay that publishes them.

typedef struct {
    json_int_t product_id;
    json_t *events;             //  the payloads of that product, in seq order
    int64_t last_seq;
    bool out_of_order;
} s_product_events_t;

static int
s_collect_event (const eventbus_event_t *event, void *arg)
{
    s_product_events_t *log = (s_product_events_t *) arg;
    log->out_of_order |= event->seq <= log->last_seq;
    log->last_seq = event->seq;
    if (streq (event->topic, "product.updated")
    &&  json_integer_value (json_object_get (event->payload, "product_id")) == log->product_id)
        json_array_append (log->events, (json_t *) event->payload);
    return 0;
}

//  The three payloads of a create, an update and a delete of one product.
static void
s_check_product_events (json_t *events, const char *barcode)
{
    assert (json_array_size (events) == 3);
    json_t *created = json_array_get (events, 0);
    json_t *updated = json_array_get (events, 1);
    json_t *deleted = json_array_get (events, 2);
    assert (streq (s_str (created, "sku"), "EVT-IT-1") && streq (s_str (created, "name"), "Moulin IT"));
    assert (s_int (created, "price_cents") == 3000 && s_int (created, "cost_cents") == 0);
    assert (json_is_null (json_object_get (created, "barcode")));
    assert (s_int (created, "category_id") > 0 && s_int (created, "alert_threshold") == 5);
    assert (json_is_true (json_object_get (created, "active")));
    assert (s_matches (s_str (created, "at"), "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$"));
    assert (json_object_size (created) == 10);
    assert (s_int (updated, "price_cents") == 3200 && s_int (updated, "cost_cents") == 1500);
    assert (streq (s_str (updated, "barcode"), barcode));
    assert (json_is_true (json_object_get (updated, "active")));
    assert (json_is_false (json_object_get (deleted, "active")));
    assert (s_int (deleted, "price_cents") == 3200);
}

static void
test_product_events_follow_every_write (bool verbose)
{
    //  The relay on ports of this run's own, CURVE with a scratch key folder
    //  whose subscriber key is admitted first.
    char keys [] = "/tmp/product-events-it-XXXXXX";
    assert (mkdtemp (keys));
    zcert_t *cert = curvekeys_ensure (keys, "it-subscriber", true);
    assert (cert);
    int port = 40000 + (s_run_id % 10000) * 2;
    char publish [64], replay [64];
    snprintf (publish, sizeof publish, "tcp://127.0.0.1:%d", port);
    snprintf (replay, sizeof replay, "tcp://127.0.0.1:%d", port + 1);
    setenv ("COMPTOIR_PRODUCT_EVENTS_PUBLISH", publish, 1);
    setenv ("COMPTOIR_PRODUCT_EVENTS_REPLAY", replay, 1);
    setenv ("COMPTOIR_PRODUCT_RELAY_MS", "20", 1);
    setenv ("COMPTOIR_KEYS_DIR", keys, 1);
    s_catalog_t catalog;
    catalog.settings = settings_load (NULL);
    assert (catalog.settings);
    catalog.state = (product_state_t *) product_context_def.make_state (catalog.settings, 1, 1);
    assert (catalog.state && catalog.state->relay);

    //  create, update (price, cost, barcode), delete
    json_int_t category = s_new_category (&catalog, "Événements IT");
    envelope_t *reply = s_new_product (&catalog, category, "Moulin IT", "EVT-IT-1", 3000);
    json_int_t id = s_int (reply->body, "id");
    envelope_destroy (&reply);
    char params [64];
    snprintf (params, sizeof params, "{\"id\": \"%lld\"}", (long long) id);
    s_call_expect (&catalog, "product.update", "manager", params,
                    "{\"price_cents\": 3200, \"cost_cents\": 1500, \"barcode\": \"0779000000036\"}", 200);
    //  a refused write announces nothing
    s_call_expect (&catalog, "product.update", "manager", params, "{\"sku\": \"CAF-1001\"}", 409);
    s_call_expect (&catalog, "product.delete", "manager", params, NULL, 204);

    //  in the outbox, in that order
    pgdb_t *db = pgdb_new (s_product_db);
    assert (db);
    char id_text [24];
    snprintf (id_text, sizeof id_text, "%lld", (long long) id);
    PGresult *res = pgdb_exec (db, "it_product_events",
        "SELECT payload::text FROM outbox WHERE topic = 'product.updated'"
        " AND (payload->>'product_id')::bigint = $1 ORDER BY seq", 1, (const char *[]) { id_text });
    assert (res);
    json_t *stored = json_array ();
    for (int row = 0; row < PQntuples (res); row++)
        json_array_append_new (stored, json_loads (PQgetvalue (res, row, 0), 0, NULL));
    PQclear (res);
    s_check_product_events (stored, "0779000000036");
    json_decref (stored);
    //  the seed's products were announced as well
    assert (s_number (db, "SELECT count(DISTINCT payload->>'sku') FROM outbox"
                          " WHERE payload->>'sku' ~ '^[A-Z]{3}-[0-9]{4}$'") >= 56);
    pgdb_destroy (&db);

    //  and on the bus: a subscriber from sequence zero gets them, in seq order
    char *server_path = zsys_sprintf ("%s/product-events", keys);
    char *server_key = curvekeys_public_of (server_path);
    assert (server_key);
    eventbus_subscriber_t *subscriber = eventbus_subscriber_new_secure ("product", publish, replay,
                                                                        cert, server_key);
    assert (subscriber);
    s_product_events_t log = { .product_id = id, .events = json_array () };
    int64_t until = zclock_mono () + 5000;
    while (json_array_size (log.events) < 3 && zclock_mono () < until) {
        eventbus_subscriber_catch_up (subscriber, s_collect_event, &log);
        if (json_array_size (log.events) < 3)
            zclock_sleep (50);
    }
    if (verbose)
        printf ("%zu events of product %lld on the bus\n", json_array_size (log.events), (long long) id);
    assert (!log.out_of_order);
    s_check_product_events (log.events, "0779000000036");
    json_decref (log.events);
    eventbus_subscriber_destroy (&subscriber);
    zstr_free (&server_key);
    zstr_free (&server_path);
    zcert_destroy (&cert);
    s_catalog_close (&catalog);
    char *remove = zsys_sprintf ("rm -rf '%s'", keys);
    assert (system (remove) == 0);
    zstr_free (&remove);
}

//  --------------------------------------------------------------------------

static void
test_product_soft_delete_hides_it (bool verbose)
{
    s_catalog_t catalog = s_catalog_open ();
    json_int_t category = s_new_category (&catalog, "Suppression IT");
    envelope_t *reply = s_new_product (&catalog, category, "Passoire éphémère IT", "GONE-IT-1", 1500);
    json_int_t id = s_int (reply->body, "id");
    envelope_destroy (&reply);
    char params [64];
    snprintf (params, sizeof params, "{\"id\": \"%lld\"}", (long long) id);

    //  the category holds an active product: it cannot go
    char category_params [64];
    snprintf (category_params, sizeof category_params, "{\"id\": \"%lld\"}", (long long) category);
    reply = s_call (&catalog, "category.delete", "manager", category_params, NULL);
    assert (reply->status == 409 && streq (testcall_code (reply), "conflict"));
    envelope_destroy (&reply);

    reply = s_list (&catalog, "{\"q\": \"éphémère\"}");
    assert (s_int (json_object_get (reply->body, "meta"), "total") == 1);
    envelope_destroy (&reply);

    reply = s_call (&catalog, "product.delete", "manager", params, NULL);
    assert (reply->status == 204 && reply->body == NULL);
    envelope_destroy (&reply);

    //  gone for every read and write
    reply = s_list (&catalog, "{\"q\": \"éphémère\"}");
    assert (s_int (json_object_get (reply->body, "meta"), "total") == 0);
    envelope_destroy (&reply);
    const char *verbs [] = { "product.get", "product.update", "product.delete", NULL };
    for (const char **verb = verbs; *verb; verb++) {
        reply = s_call (&catalog, *verb, "manager", params, streq (*verb, "product.update") ? "{\"price_cents\": 1}" : NULL);
        assert (reply->status == 404);
        envelope_destroy (&reply);
    }
    reply = s_call (&catalog, "product.get_by_sku", NULL, "{\"sku\": \"GONE-IT-1\"}", NULL);
    assert (reply->status == 404);
    envelope_destroy (&reply);

    //  but the row is still there for the history, inactive
    pgdb_t *db = pgdb_new (s_product_db);
    assert (s_number (db, "SELECT count(*) FROM products WHERE sku = 'GONE-IT-1' AND NOT active") == 1);

    //  now the category may go; the inactive product loses the link
    reply = s_call (&catalog, "category.delete", "manager", category_params, NULL);
    assert (reply->status == 204);
    envelope_destroy (&reply);
    assert (s_number (db, "SELECT count(*) FROM products WHERE sku = 'GONE-IT-1' AND category_id IS NULL") == 1);
    pgdb_destroy (&db);
    s_catalog_close (&catalog);
}

//  --------------------------------------------------------------------------

static void
test_product_seed_is_idempotent (bool verbose)
{
    pgdb_t *db = pgdb_new (s_product_db);
    assert (db);
    long long products = s_number (db, "SELECT count(*) FROM products WHERE sku ~ '^[A-Z]{3}-[0-9]{4}$'");
    assert (products >= 50);
    assert (s_number (db, "SELECT count(*) FROM categories WHERE name IN"
                          " ('Café et thé', 'Cuisine', 'Arts de la table', 'Maison', 'Linge de maison',"
                          "  'Plein air', 'Épicerie fine', 'Papeterie et cadeaux')") == 8);
    //  every product of the seed has a category, a price, a description
    assert (s_number (db, "SELECT count(*) FROM products WHERE sku ~ '^[A-Z]{3}-[0-9]{4}$'"
                          " AND (category_id IS NULL OR price_cents <= 0 OR description IS NULL)") == 0);
    //  a valid, distinct EAN-13 each, and a cost of 40 to 60 % of the price
    assert (s_number (db, "SELECT count(DISTINCT barcode) FROM products WHERE sku ~ '^[A-Z]{3}-[0-9]{4}$'"
                          " AND barcode LIKE '0628%' AND product_ean13_valid (barcode)") == products);
    assert (s_number (db, "SELECT count(*) FROM products WHERE sku ~ '^[A-Z]{3}-[0-9]{4}$'"
                          " AND (cost_cents * 100 < price_cents * 40 OR cost_cents * 100 > price_cents * 60)") == 0);
    //  once more changes nothing, but gives a product seeded before barcodes
    //  existed its barcode and cost
    assert (pgdb_run (db, "UPDATE products SET barcode = NULL, cost_cents = 0 WHERE sku = 'CAF-1002'") == 0);
    char seed [600];
    snprintf (seed, sizeof seed, "%s/product/seed.sql", s_sql_dir);
    zfile_t *file = zfile_new (NULL, seed);
    assert (file && zfile_input (file) == 0);
    zchunk_t *chunk = zfile_read (file, (size_t) zfile_cursize (file), 0);
    char *sql = zchunk_strdup (chunk);
    assert (pgdb_run (db, sql) == 0);
    zstr_free (&sql);
    zchunk_destroy (&chunk);
    zfile_destroy (&file);
    assert (s_number (db, "SELECT count(*) FROM products WHERE sku ~ '^[A-Z]{3}-[0-9]{4}$'") == products);
    assert (s_number (db, "SELECT count(*) FROM products WHERE sku = 'CAF-1002'"
                          " AND barcode = '0628000110026' AND cost_cents = 2878") == 1);
    //  and the migrations are all recorded
    assert (s_number (db, "SELECT count(*) FROM schema_migrations") >= 1);
    pgdb_destroy (&db);
}

//  --------------------------------------------------------------------------

static void
test_product_schema_has_search_indexes (bool verbose)
{
    pgdb_t *db = pgdb_new (s_product_db);
    assert (db);
    assert (s_number (db, "SELECT count(*) FROM pg_indexes WHERE tablename = 'products'"
                          " AND indexdef LIKE '%USING gin (search_tsv)%'") == 1);
    assert (s_number (db, "SELECT count(*) FROM pg_indexes WHERE tablename = 'products'"
                          " AND indexdef LIKE '%USING gin (search_text gin_trgm_ops)%'") == 1);
    //  the planner can answer a substring search from the trigram index
    assert (pgdb_run (db, "SET enable_seqscan = off") == 0);
    PGresult *res = pgdb_exec (db, "it_plan",
                               "EXPLAIN SELECT id FROM products WHERE search_text LIKE '%isoth%'", 0, NULL);
    assert (res);
    bool indexed = false;
    for (int row = 0; row < PQntuples (res); row++)
        indexed |= strstr (PQgetvalue (res, row, 0), "products_search_trgm_idx") != NULL;
    PQclear (res);
    assert (indexed);
    //  money is bigint cents
    char *type = testdb_value (db, "SELECT data_type FROM information_schema.columns"
                              " WHERE table_name = 'products' AND column_name = 'price_cents'", 0, NULL);
    assert (type && streq (type, "bigint"));
    free (type);
    pgdb_destroy (&db);
}

//  --------------------------------------------------------------------------

static void
test_product_state_needs_a_database (bool verbose)
{
    setenv ("COMPTOIR_POSTGRES_PRODUCT", "", 1);
    settings_t *settings = settings_load (NULL);
    assert (settings);
    assert (product_context_def.make_state (settings, 1, 0) == NULL);
    setenv ("COMPTOIR_POSTGRES_PRODUCT", "host=/nonexistent-comptoir port=1 connect_timeout=1", 1);
    assert (product_context_def.make_state (settings, 1, 0) == NULL);
    settings_destroy (&settings);
    void *state = NULL;
    product_context_def.free_state (&state);        //  harmless on nothing
}

//  --------------------------------------------------------------------------

static void
test_product_input_selftest (bool verbose)
{
    product_input_test (verbose);
}

//  --------------------------------------------------------------------------

static const testrunner_case_t s_cases [] = {
    { "pgdb_selftest", test_pgdb_selftest },
    { "product_input_selftest", test_product_input_selftest },
    { "pgdb_exec_prepares_once_and_binds_parameters", test_pgdb_exec_prepares_once_and_binds_parameters },
    { "pgdb_transaction_commits_or_rolls_back", test_pgdb_transaction_commits_or_rolls_back },
    { "pgdb_transaction_retries_serialization_failure", test_pgdb_transaction_retries_serialization_failure },
    { "pgdb_reconnects_after_backend_terminated", test_pgdb_reconnects_after_backend_terminated },
    { "pgdb_detects_constraint_violations", test_pgdb_detects_constraint_violations },
    { "pgdb_migrate_applies_each_file_once", test_pgdb_migrate_applies_each_file_once },
    { "inventory_sql_locations", test_inventory_sql_locations },
    { "product_seed_is_idempotent", test_product_seed_is_idempotent },
    { "product_schema_has_search_indexes", test_product_schema_has_search_indexes },
    { "product_state_needs_a_database", test_product_state_needs_a_database },
    { "category_crud", test_category_crud },
    { "catalog_writes_are_forbidden_to_other_roles", test_catalog_writes_are_forbidden_to_other_roles },
    { "product_create_and_get", test_product_create_and_get },
    { "product_sku_is_generated_when_missing", test_product_sku_is_generated_when_missing },
    { "product_duplicate_sku_conflicts", test_product_duplicate_sku_conflicts },
    { "product_validation_reports_every_problem", test_product_validation_reports_every_problem },
    { "product_update_changes_only_given_fields", test_product_update_changes_only_given_fields },
    { "product_search_full_text_and_partial", test_product_search_full_text_and_partial },
    { "product_list_filters_sorts_and_pages", test_product_list_filters_sorts_and_pages },
    { "product_barcode_and_cost", test_product_barcode_and_cost },
    { "product_get_many_answers_known_ids", test_product_get_many_answers_known_ids },
    { "product_soft_delete_hides_it", test_product_soft_delete_hides_it },
    { "product_events_follow_every_write", test_product_events_follow_every_write },
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
        printf ("SKIP: integration (COMPTOIR_TEST_PG_ADMIN is not set; scripts/testenv.sh sets it)\n");
        return 77;
    }
    s_run_id = (int) getpid ();
    logline_init ("integration", -1);
    const char *srcdir = getenv ("srcdir");
    s_sql_dir = zsys_sprintf ("%s/sql", srcdir && *srcdir ? srcdir : ".");

    //  The catalog's database, migrated and seeded through the context's own start-up
    s_product_db = s_scratch_db ("product");
    if (!s_product_db)
        return 1;
    char *migrations = zsys_sprintf ("%s/product", s_sql_dir);
    char *seed = zsys_sprintf ("%s/product/seed.sql", s_sql_dir);
    setenv ("COMPTOIR_POSTGRES_PRODUCT", s_product_db, 1);
    setenv ("COMPTOIR_PRODUCT_MIGRATIONS", migrations, 1);
    setenv ("COMPTOIR_PRODUCT_SEED", seed, 1);
    settings_t *settings = settings_load (NULL);
    void *state = settings ? product_context_def.make_state (settings, 0, 0) : NULL;
    int rc = 1;
    if (state) {
        product_context_def.free_state (&state);
        rc = testrunner_main (argc, argv, s_cases, 60);
    }
    else
        fprintf (stderr, "integration: the product database could not be prepared\n");
    settings_destroy (&settings);
    s_scratch_drop ("product");
    s_scratch_drop ("mig");         //  when a failed case left them
    s_scratch_drop ("inv");
    zstr_free (&migrations);
    zstr_free (&seed);
    zstr_free (&s_sql_dir);
    free (s_product_db);
    return rc;
}
