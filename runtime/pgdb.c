/*  =========================================================================
    pgdb - the PostgreSQL helper every context uses

    Why it is built this way:

    - One blocking libpq connection per actor. An actor handles one request
      at a time, so a synchronous connection is the simplest thing that is
      correct; parallelism comes from more actors, not from async I/O.
    - Statements are prepared once per connection and executed with text
      parameters: SQL text never contains client data, and the server plans
      a hot statement once. A zhashx maps the caller's statement name to a
      short server-side name (PostgreSQL cuts names at 63 bytes, so two long
      names could collide); it is emptied when we reconnect, since a new
      session has no prepared statements.
    - A dropped connection is reopened on the next call, but a statement
      whose fate is unknown is never sent twice. Before sending, we look
      whether the idle socket has something to read: on an idle session
      that is the server saying goodbye (pg_terminate_backend, restart), so
      we reconnect first, and nothing was lost. After sending, we resend
      only when the server told us it ended the session before running the
      statement (SQLSTATE 57P0x) or the failure happened while preparing.
      Inside a transaction we never reconnect: the statement fails, and
      pgdb_transaction runs the whole transaction again on a fresh
      connection.
    - pgdb_transaction retries serialization failures and deadlocks (40001,
      40P01): with SERIALIZABLE, a retry loop is part of the contract.
    - Migrations run under a session advisory lock, so two processes of
      the same context starting together apply each file exactly once.
    =========================================================================
*/
#include "pgdb.h"
#include "logline.h"

#include <czmq.h>
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Advisory lock key of the migrator ("comptoir" in ASCII, as a number).
#define PGDB_MIGRATE_LOCK     "7165612398826729842"
#define PGDB_MIGRATE_WAIT_MS  60000
#define PGDB_MIGRATION_MAX    (8 * 1024 * 1024)

struct _pgdb_t {
    char *conninfo;
    PGconn *conn;
    zhashx_t *prepared;         //  caller's statement name -> server-side name
    unsigned statements;        //  server-side names given on this connection
    bool in_txn;                //  a BEGIN is open on conn
    bool goodbye;               //  the server said it is ending the session
    char sqlstate [6];          //  of the last failure, "" when none
    char *error;                //  message of the last failure
};

//  --------------------------------------------------------------------------
//  Notices ("relation already exists, skipping") would go to stderr raw and
//  break our one-JSON-object-a-line logs: route them through logline. A
//  FATAL message that arrives while we are idle is the server ending our
//  session: remember it, so that the next call reconnects first.

static void
s_notice (void *arg, const PGresult *res)
{
    pgdb_t *self = (pgdb_t *) arg;
    const char *severity = PQresultErrorField (res, PG_DIAG_SEVERITY_NONLOCALIZED);
    if (severity && (streq (severity, "FATAL") || streq (severity, "PANIC")))
        self->goodbye = true;
    const char *message = PQresultErrorMessage (res);
    size_t len = strlen (message);
    while (len && (message [len - 1] == '\n' || message [len - 1] == ' '))
        len--;
    log_debug (NULL, "postgres: %.*s", (int) len, message);
}

//  --------------------------------------------------------------------------

static void
s_clear_error (pgdb_t *self)
{
    self->sqlstate [0] = 0;
    zstr_free (&self->error);
}

//  --------------------------------------------------------------------------
//  Remember the failure: SQLSTATE from the result when there is one, else
//  from the connection's state ("08006" when it dropped).

static void
s_set_error (pgdb_t *self, const PGresult *res, const char *what)
{
    const char *state = res ? PQresultErrorField (res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res ? PQresultErrorMessage (res) : NULL;
    if (!msg || !*msg)
        msg = self->conn ? PQerrorMessage (self->conn) : "no connection";
    if (!state) {
        if (!self->conn || PQstatus (self->conn) != CONNECTION_OK)
            state = "08006";
        else
            state = "XX000";
    }
    snprintf (self->sqlstate, sizeof self->sqlstate, "%s", state);
    zstr_free (&self->error);
    self->error = strdup (msg);
    if (self->error) {
        //  libpq messages end with a newline; logs want one line
        size_t len = strlen (self->error);
        while (len && (self->error [len - 1] == '\n' || self->error [len - 1] == ' '))
            self->error [--len] = 0;
        for (char *c = self->error; *c; c++)
            if (*c == '\n')
                *c = ' ';
    }
    //  constraint violations (class 23) are answers to clients (409, 400),
    //  not trouble with the database
    logline_write (strncmp (self->sqlstate, "23", 2) == 0 ? LOGLINE_INFO : LOGLINE_WARN, NULL,
                   "postgres %s failed: %s %s", what, self->sqlstate, self->error ? self->error : "");
}

//  --------------------------------------------------------------------------

static void
s_disconnect (pgdb_t *self)
{
    if (self->conn) {
        PQfinish (self->conn);
        self->conn = NULL;
    }
    zhashx_purge (self->prepared);
    self->statements = 0;
    self->in_txn = false;
    self->goodbye = false;
}

//  --------------------------------------------------------------------------
//  Whether the last failure means the server ended our session before it
//  ran the statement: safe to reconnect and send it again. Either the
//  statement's own error says so (57P01 admin shutdown, 57P02 crash
//  shutdown, 57P03 cannot connect now), or the server's FATAL goodbye
//  reached us as an unsolicited message, which it sends only while idle.

static bool
s_session_ended (pgdb_t *self)
{
    return strncmp (self->sqlstate, "57P0", 4) == 0 || self->goodbye;
}

//  --------------------------------------------------------------------------
//  Keep in_txn in step with the server after every command.

static void
s_track_txn (pgdb_t *self)
{
    if (!self->conn || PQstatus (self->conn) != CONNECTION_OK) {
        //  the session is gone, and its transaction with it
        return;
    }
    PGTransactionStatusType status = PQtransactionStatus (self->conn);
    self->in_txn = (status == PQTRANS_INTRANS || status == PQTRANS_INERROR
                    || status == PQTRANS_ACTIVE);
}

//  --------------------------------------------------------------------------

pgdb_t *
pgdb_new (const char *conninfo)
{
    pgdb_t *self = (pgdb_t *) zmalloc (sizeof (pgdb_t));
    if (!self)
        return NULL;
    self->conninfo = strdup (conninfo ? conninfo : "");
    self->prepared = zhashx_new ();
    if (!self->conninfo || !self->prepared) {
        pgdb_destroy (&self);
        return NULL;
    }
    zhashx_set_destructor (self->prepared, (zhashx_destructor_fn *) zstr_free);
    return self;
}

//  --------------------------------------------------------------------------

void
pgdb_destroy (pgdb_t **self_p)
{
    assert (self_p);
    pgdb_t *self = *self_p;
    if (self) {
        if (self->conn)
            PQfinish (self->conn);
        zhashx_destroy (&self->prepared);
        zstr_free (&self->conninfo);
        zstr_free (&self->error);
        free (self);
        *self_p = NULL;
    }
}

//  --------------------------------------------------------------------------
//  Connect when there is no usable connection. The caller's conninfo wins;
//  we only supply a connect timeout and an application name it lacks.

int
pgdb_connect (pgdb_t *self)
{
    assert (self);
    if (self->conn && PQstatus (self->conn) == CONNECTION_OK && !self->goodbye)
        return 0;
    s_disconnect (self);
    const char *keywords [] = { "connect_timeout", "fallback_application_name", "dbname", NULL };
    const char *values [] = { "5", "comptoir", self->conninfo, NULL };
    self->conn = PQconnectdbParams (keywords, values, 1);
    if (!self->conn || PQstatus (self->conn) != CONNECTION_OK) {
        s_set_error (self, NULL, "connect");
        snprintf (self->sqlstate, sizeof self->sqlstate, "08001");
        s_disconnect (self);
        return -1;
    }
    PQsetNoticeReceiver (self->conn, s_notice, self);
    return 0;
}

//  --------------------------------------------------------------------------
//  Whether the connection is still up. Between commands the server sends
//  nothing unprompted except notifications and, when it ends the session,
//  a FATAL message and end-of-file: read what waits and let libpq decide.

static bool
s_alive (pgdb_t *self)
{
    if (!self->conn || PQstatus (self->conn) != CONNECTION_OK || self->goodbye)
        return false;
    struct pollfd item = { .fd = PQsocket (self->conn), .events = POLLIN };
    if (item.fd < 0)
        return false;
    //  the goodbye message and the end-of-file may take a read each
    for (int reads = 0; reads < 4 && poll (&item, 1, 0) > 0; reads++) {
        if (!PQconsumeInput (self->conn) || PQstatus (self->conn) != CONNECTION_OK
        ||  self->goodbye)
            return false;
        PGnotify *notify;
        while ((notify = PQnotifies (self->conn)) != NULL)
            PQfreemem (notify);
    }
    return PQstatus (self->conn) == CONNECTION_OK;
}

//  --------------------------------------------------------------------------
//  Make sure we can send: reconnect a dropped connection, unless a
//  transaction was open on it (then the caller's transaction is lost).

static int
s_ready (pgdb_t *self)
{
    if (s_alive (self))
        return 0;
    if (self->in_txn) {
        snprintf (self->sqlstate, sizeof self->sqlstate, "08006");
        zstr_free (&self->error);
        self->error = strdup ("connection lost inside a transaction");
        s_disconnect (self);
        return -1;
    }
    return pgdb_connect (self);
}

//  --------------------------------------------------------------------------
//  One attempt at prepare (when needed) + execute. Returns the result or
//  NULL with the error recorded.

static PGresult *
s_exec_once (pgdb_t *self, const char *name, const char *sql,
             int nparams, const char *const *params, bool *prepare_failed)
{
    *prepare_failed = false;
    if (s_ready (self))
        return NULL;
    const char *server_name = (const char *) zhashx_lookup (self->prepared, name);
    if (!server_name) {
        char *fresh = zsys_sprintf ("pgdb_%u", ++self->statements);
        if (!fresh)
            return NULL;
        PGresult *res = PQprepare (self->conn, fresh, sql, nparams, NULL);
        if (PQresultStatus (res) != PGRES_COMMAND_OK) {
            s_set_error (self, res, name);
            PQclear (res);
            zstr_free (&fresh);
            s_track_txn (self);
            *prepare_failed = true;
            return NULL;
        }
        PQclear (res);
        zhashx_insert (self->prepared, name, fresh);       //  the hash owns fresh now
        server_name = fresh;
    }
    PGresult *res = PQexecPrepared (self->conn, server_name, nparams, params, NULL, NULL, 0);
    ExecStatusType status = PQresultStatus (res);
    if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK) {
        s_track_txn (self);
        return res;
    }
    s_set_error (self, res, name);
    PQclear (res);
    s_track_txn (self);
    return NULL;
}

//  --------------------------------------------------------------------------

PGresult *
pgdb_exec (pgdb_t *self, const char *name, const char *sql,
           int nparams, const char *const *params)
{
    assert (self);
    assert (name && sql);
    s_clear_error (self);
    bool was_in_txn = self->in_txn;
    bool prepare_failed;
    PGresult *res = s_exec_once (self, name, sql, nparams, params, &prepare_failed);
    if (res)
        return res;
    //  The statement never ran when preparing failed or the server said it
    //  ended our session first: on a connection of our own (no transaction
    //  to lose), reconnect and try once more.
    bool dropped = !self->conn || PQstatus (self->conn) != CONNECTION_OK;
    if (!was_in_txn && dropped && (prepare_failed || s_session_ended (self))) {
        log_info (NULL, "postgres: reconnecting after %s", self->sqlstate);
        s_disconnect (self);
        s_clear_error (self);
        res = s_exec_once (self, name, sql, nparams, params, &prepare_failed);
    }
    return res;
}

//  --------------------------------------------------------------------------

int
pgdb_run (pgdb_t *self, const char *sql)
{
    assert (self);
    assert (sql);
    s_clear_error (self);
    for (int attempt = 0; attempt < 2; attempt++) {
        bool was_in_txn = self->in_txn;
        if (s_ready (self))
            return -1;
        PGresult *res = PQexec (self->conn, sql);
        ExecStatusType status = PQresultStatus (res);
        if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
            PQclear (res);
            s_track_txn (self);
            return 0;
        }
        s_set_error (self, res, "statement");
        PQclear (res);
        s_track_txn (self);
        bool dropped = !self->conn || PQstatus (self->conn) != CONNECTION_OK;
        if (was_in_txn || !dropped || !s_session_ended (self))
            break;
        s_disconnect (self);
    }
    return -1;
}

//  --------------------------------------------------------------------------

const char *
pgdb_sqlstate (pgdb_t *self)
{
    assert (self);
    return self->sqlstate;
}

const char *
pgdb_error (pgdb_t *self)
{
    assert (self);
    return self->error ? self->error : "";
}

bool
pgdb_is_unique_violation (pgdb_t *self)
{
    assert (self);
    return streq (self->sqlstate, "23505");
}

bool
pgdb_is_foreign_key_violation (pgdb_t *self)
{
    assert (self);
    return streq (self->sqlstate, "23503");
}

//  --------------------------------------------------------------------------
//  Failures after which running the whole transaction again may succeed:
//  serialization failure, deadlock, or a connection lost before COMMIT.

static bool
s_retryable (pgdb_t *self)
{
    return streq (self->sqlstate, "40001") || streq (self->sqlstate, "40P01")
        || strncmp (self->sqlstate, "08", 2) == 0 || s_session_ended (self);
}

//  --------------------------------------------------------------------------

static const char *
s_begin_statement (const char *isolation)
{
    if (!isolation)
        return "BEGIN";
    if (streq (isolation, "READ COMMITTED"))
        return "BEGIN ISOLATION LEVEL READ COMMITTED";
    if (streq (isolation, "REPEATABLE READ"))
        return "BEGIN ISOLATION LEVEL REPEATABLE READ";
    if (streq (isolation, "SERIALIZABLE"))
        return "BEGIN ISOLATION LEVEL SERIALIZABLE";
    return NULL;
}

//  --------------------------------------------------------------------------
//  End the transaction; keeps the recorded error of the failure that led
//  here, which the caller reads to decide on a retry.

static void
s_rollback (pgdb_t *self)
{
    if (self->conn && PQstatus (self->conn) == CONNECTION_OK) {
        PGresult *res = PQexec (self->conn, "ROLLBACK");
        PQclear (res);
        s_track_txn (self);
    }
    else
        s_disconnect (self);
    self->in_txn = false;
}

//  --------------------------------------------------------------------------

int
pgdb_transaction (pgdb_t *self, const char *isolation, pgdb_txn_fn *fn, void *arg, int max_tries)
{
    assert (self);
    assert (fn);
    const char *begin = s_begin_statement (isolation);
    if (!begin || self->in_txn) {
        log_error (NULL, "pgdb_transaction: %s", begin ? "already in a transaction" : "bad isolation level");
        return -1;
    }
    if (max_tries < 1)
        max_tries = 1;
    for (int attempt = 1; attempt <= max_tries; attempt++) {
        if (attempt > 1) {
            //  back off a little, more each time, with jitter, so that the
            //  transactions that collided do not collide again in step
            zclock_sleep ((int) (randof (10) + 5 * attempt));
            log_info (NULL, "postgres: retrying transaction (attempt %d) after %s", attempt, self->sqlstate);
        }
        if (pgdb_run (self, begin)) {
            if (s_retryable (self) && attempt < max_tries)
                continue;
            return -1;
        }
        s_clear_error (self);
        int rc = fn (self, arg);
        if (rc != 0) {
            bool retry = self->sqlstate [0] && s_retryable (self);
            s_rollback (self);
            if (retry && attempt < max_tries)
                continue;
            return retry ? -1 : rc;
        }
        //  COMMIT of a failed transaction "succeeds" as ROLLBACK: look at the tag
        bool conn_ok = self->conn && PQstatus (self->conn) == CONNECTION_OK;
        if (!conn_ok) {
            s_disconnect (self);
            if (attempt < max_tries)
                continue;
            return -1;
        }
        PGresult *res = PQexec (self->conn, "COMMIT");
        ExecStatusType status = PQresultStatus (res);
        bool committed = status == PGRES_COMMAND_OK && streq (PQcmdStatus (res), "COMMIT");
        if (!committed) {
            if (status != PGRES_COMMAND_OK)
                s_set_error (self, res, "COMMIT");
            else
            if (!self->sqlstate [0]) {
                snprintf (self->sqlstate, sizeof self->sqlstate, "25P02");
                zstr_free (&self->error);
                self->error = strdup ("transaction was aborted by an earlier failure");
            }
        }
        PQclear (res);
        s_track_txn (self);
        if (committed)
            return 0;
        bool dropped = !self->conn || PQstatus (self->conn) != CONNECTION_OK;
        if (dropped) {
            //  we cannot know whether it committed: never run it twice
            s_disconnect (self);
            return -1;
        }
        self->in_txn = false;
        if ((streq (self->sqlstate, "40001") || streq (self->sqlstate, "40P01"))
        &&  attempt < max_tries)
            continue;
        return -1;
    }
    return -1;
}

//  --------------------------------------------------------------------------
//  Migrations.

typedef struct {
    int version;
    char *name;         //  file name, "0001_init.sql"
} s_migration_t;

static int
s_migration_compare (const void *a, const void *b)
{
    const s_migration_t *x = (const s_migration_t *) a;
    const s_migration_t *y = (const s_migration_t *) b;
    return (x->version > y->version) - (x->version < y->version);
}

//  A migration file is NNNN_name.sql: digits, an underscore, ".sql".
static int
s_migration_version (const char *name)
{
    size_t len = strlen (name);
    if (len < 6 || strcmp (name + len - 4, ".sql") != 0)
        return -1;
    int version = 0, digits = 0;
    const char *c = name;
    while (*c >= '0' && *c <= '9') {
        if (++digits > 9)
            return -1;
        version = version * 10 + (*c - '0');
        c++;
    }
    if (digits == 0 || *c != '_' || version == 0)
        return -1;
    return version;
}

//  Read a whole file into a string. NULL on failure or when too large.
static char *
s_slurp (const char *path)
{
    FILE *file = fopen (path, "rb");
    if (!file)
        return NULL;
    char *text = NULL;
    if (fseek (file, 0, SEEK_END) == 0) {
        long size = ftell (file);
        if (size >= 0 && size <= PGDB_MIGRATION_MAX && fseek (file, 0, SEEK_SET) == 0) {
            text = (char *) malloc ((size_t) size + 1);
            if (text && fread (text, 1, (size_t) size, file) == (size_t) size)
                text [size] = 0;
            else {
                free (text);
                text = NULL;
            }
        }
    }
    fclose (file);
    return text;
}

//  Apply one file in its own transaction and record it. 0 or -1.
static int
s_migration_apply (pgdb_t *self, const char *dir, const s_migration_t *migration)
{
    char path [4096];
    snprintf (path, sizeof path, "%s/%s", dir, migration->name);
    char *sql = s_slurp (path);
    if (!sql) {
        log_error (NULL, "migration %s: cannot read: %s", path, strerror (errno));
        return -1;
    }
    int rc = -1;
    if (pgdb_run (self, "BEGIN") == 0) {
        char version [16];
        snprintf (version, sizeof version, "%d", migration->version);
        const char *params [] = { version, migration->name };
        PGresult *res = NULL;
        if (pgdb_run (self, sql) == 0
        && (res = pgdb_exec (self, "pgdb_migration_record",
                             "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                             2, params)) != NULL) {
            PQclear (res);
            if (pgdb_run (self, "COMMIT") == 0 && !self->in_txn)
                rc = 0;
        }
        if (rc) {
            log_error (NULL, "migration %s failed: %s %s", migration->name,
                       self->sqlstate, pgdb_error (self));
            s_rollback (self);
        }
    }
    free (sql);
    return rc;
}

//  Wait for the migrator's lock, bounded. 0 when held.
static int
s_migrate_lock (pgdb_t *self)
{
    int64_t until = zclock_mono () + PGDB_MIGRATE_WAIT_MS;
    while (true) {
        PGresult *res = pgdb_exec (self, "pgdb_migrate_trylock",
                                   "SELECT pg_try_advisory_lock (" PGDB_MIGRATE_LOCK ")", 0, NULL);
        if (!res)
            return -1;
        bool got = PQntuples (res) == 1 && streq (PQgetvalue (res, 0, 0), "t");
        PQclear (res);
        if (got)
            return 0;
        if (zclock_mono () > until) {
            log_error (NULL, "migrations: another process holds the migration lock");
            return -1;
        }
        zclock_sleep (100);
    }
}

int
pgdb_migrate (pgdb_t *self, const char *dir)
{
    assert (self);
    assert (dir);
    DIR *handle = opendir (dir);
    if (!handle) {
        log_error (NULL, "migrations: cannot open %s: %s", dir, strerror (errno));
        return -1;
    }
    //  Collect and sort the files first
    size_t count = 0, limit = 16;
    s_migration_t *files = (s_migration_t *) calloc (limit, sizeof (s_migration_t));
    int rc = files ? 0 : -1;
    struct dirent *entry;
    while (rc == 0 && (entry = readdir (handle)) != NULL) {
        int version = s_migration_version (entry->d_name);
        if (version < 0)
            continue;
        if (count == limit) {
            s_migration_t *bigger = (s_migration_t *) realloc (files, 2 * limit * sizeof (s_migration_t));
            if (!bigger) {
                rc = -1;
                break;
            }
            files = bigger;
            limit *= 2;
        }
        files [count].version = version;
        files [count].name = strdup (entry->d_name);
        if (!files [count].name)
            rc = -1;
        count++;
    }
    closedir (handle);
    if (rc == 0)
        qsort (files, count, sizeof (s_migration_t), s_migration_compare);
    for (size_t i = 1; rc == 0 && i < count; i++)
        if (files [i].version == files [i - 1].version) {
            log_error (NULL, "migrations: %s and %s have the same number",
                       files [i - 1].name, files [i].name);
            rc = -1;
        }
    int applied = 0;
    bool locked = false;
    if (rc == 0 && pgdb_connect (self) == 0 && s_migrate_lock (self) == 0) {
        locked = true;
        if (pgdb_run (self, "CREATE TABLE IF NOT EXISTS schema_migrations ("
                            " version int PRIMARY KEY,"
                            " name text NOT NULL,"
                            " applied_at timestamptz NOT NULL DEFAULT now ())"))
            rc = -1;
        for (size_t i = 0; rc == 0 && i < count; i++) {
            char version [16];
            snprintf (version, sizeof version, "%d", files [i].version);
            const char *params [] = { version };
            PGresult *res = pgdb_exec (self, "pgdb_migration_done",
                                       "SELECT 1 FROM schema_migrations WHERE version = $1", 1, params);
            if (!res) {
                rc = -1;
                break;
            }
            bool done = PQntuples (res) > 0;
            PQclear (res);
            if (done)
                continue;
            if (s_migration_apply (self, dir, &files [i]))
                rc = -1;
            else {
                log_info (NULL, "migration %s applied", files [i].name);
                applied++;
            }
        }
    }
    else
        rc = -1;
    if (locked && self->conn && PQstatus (self->conn) == CONNECTION_OK) {
        PGresult *res = PQexec (self->conn, "SELECT pg_advisory_unlock (" PGDB_MIGRATE_LOCK ")");
        PQclear (res);
    }
    for (size_t i = 0; i < count; i++)
        free (files [i].name);
    free (files);
    return rc == 0 ? applied : -1;
}

//  --------------------------------------------------------------------------
//  Self-test without a database: what must hold when the server is not
//  there. The tests against a real server are in tests/integration.c.

void
pgdb_test (bool verbose)
{
    printf (" * pgdb: ");

    assert (s_migration_version ("0001_init.sql") == 1);
    assert (s_migration_version ("0012_more_things.sql") == 12);
    assert (s_migration_version ("seed.sql") == -1);
    assert (s_migration_version ("0001init.sql") == -1);
    assert (s_migration_version ("0001_init.sql~") == -1);
    assert (s_migration_version ("0000_zero.sql") == -1);
    assert (s_migration_version ("_x.sql") == -1);
    assert (s_begin_statement ("SERIALIZABLE"));
    assert (s_begin_statement ("SERIALIZABLE; DROP TABLE x") == NULL);

    //  Nothing listens there: every call fails cleanly, with a SQLSTATE
    pgdb_t *db = pgdb_new ("host=/nonexistent-comptoir port=1 dbname=nothing connect_timeout=1");
    assert (db);
    assert (streq (pgdb_sqlstate (db), ""));
    assert (pgdb_connect (db) == -1);
    assert (streq (pgdb_sqlstate (db), "08001"));
    assert (*pgdb_error (db));
    const char *params [] = { "1" };
    assert (pgdb_exec (db, "one", "SELECT $1::int", 1, params) == NULL);
    assert (strncmp (pgdb_sqlstate (db), "08", 2) == 0);
    assert (pgdb_run (db, "SELECT 1") == -1);
    assert (!pgdb_is_unique_violation (db));
    assert (pgdb_migrate (db, "/nonexistent-comptoir-dir") == -1);
    pgdb_destroy (&db);
    assert (db == NULL);
    pgdb_destroy (&db);

    if (verbose)
        printf ("(database tests are in tests/integration) ");
    printf ("OK\n");
}
