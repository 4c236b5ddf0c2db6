/*  testdb - what the database suites share. */
#include "testdb.h"

#include <czmq.h>
#include <ctype.h>
#include <stdlib.h>
#include <unistd.h>

//  --------------------------------------------------------------------------

char *
testdb_conninfo (const char *admin, const char *dbname)
{
    char *error = NULL;
    PQconninfoOption *options = PQconninfoParse (admin, &error);
    if (!options) {
        fprintf (stderr, "bad COMPTOIR_TEST_PG_ADMIN: %s\n", error ? error : "?");
        PQfreemem (error);
        return NULL;
    }
    zchunk_t *out = zchunk_new (NULL, 256);
    for (PQconninfoOption *option = options; option->keyword; option++) {
        const char *value = streq (option->keyword, "dbname") ? dbname : option->val;
        if (!value)
            continue;
        zchunk_extend (out, option->keyword, strlen (option->keyword));
        zchunk_extend (out, "='", 2);
        for (const char *c = value; *c; c++) {
            if (*c == '\'' || *c == '\\')
                zchunk_extend (out, "\\", 1);
            zchunk_extend (out, c, 1);
        }
        zchunk_extend (out, "' ", 2);
    }
    PQconninfoFree (options);
    char *conninfo = zchunk_strdup (out);
    zchunk_destroy (&out);
    return conninfo;
}

//  --------------------------------------------------------------------------

static void
s_quiet (void *arg, const char *message)
{
    (void) arg;
    (void) message;
}

int
testdb_admin_run (const char *admin, const char *sql)
{
    PGconn *conn = PQconnectdb (admin);
    PQsetNoticeProcessor (conn, s_quiet, NULL);
    int rc = -1;
    if (PQstatus (conn) == CONNECTION_OK) {
        PGresult *res = PQexec (conn, sql);
        if (PQresultStatus (res) == PGRES_COMMAND_OK || PQresultStatus (res) == PGRES_TUPLES_OK)
            rc = 0;
        else
            fprintf (stderr, "admin: %s: %s", sql, PQresultErrorMessage (res));
        PQclear (res);
    }
    else
        fprintf (stderr, "admin: cannot connect: %s", PQerrorMessage (conn));
    PQfinish (conn);
    return rc;
}

//  --------------------------------------------------------------------------

char *
testdb_value (pgdb_t *db, const char *sql, int nparams, const char *const *params)
{
    PGresult *res = pgdb_exec (db, sql, sql, nparams, params);
    assert (res);
    char *value = PQntuples (res) && !PQgetisnull (res, 0, 0) ? strdup (PQgetvalue (res, 0, 0)) : NULL;
    PQclear (res);
    return value;
}

//  --------------------------------------------------------------------------

char *
testdb_scratch_new (const char *admin, const char *context)
{
    char name [96], sql [160], upper [64], variable [96];
    snprintf (name, sizeof name, "comptoir_it_%d_%s", (int) getpid (), context);
    snprintf (sql, sizeof sql, "DROP DATABASE IF EXISTS %s", name);
    testdb_admin_run (admin, sql);
    snprintf (sql, sizeof sql, "CREATE DATABASE %s", name);
    if (testdb_admin_run (admin, sql))
        return NULL;
    char *conninfo = testdb_conninfo (admin, name);
    if (!conninfo)
        return NULL;
    size_t i = 0;
    for (; context [i] && i < sizeof upper - 1; i++)
        upper [i] = (char) toupper ((unsigned char) context [i]);
    upper [i] = 0;
    snprintf (variable, sizeof variable, "COMPTOIR_POSTGRES_%s", upper);
    setenv (variable, conninfo, 1);
    const char *srcdir = getenv ("srcdir");
    char *sql_dir = zsys_sprintf ("%s/sql/%s", srcdir && *srcdir ? srcdir : ".", context);
    snprintf (variable, sizeof variable, "COMPTOIR_%s_MIGRATIONS", upper);
    setenv (variable, sql_dir, 1);
    zstr_free (&sql_dir);
    char keys [96];
    snprintf (keys, sizeof keys, "/tmp/%s_it_keys_%d", context, (int) getpid ());
    setenv ("COMPTOIR_KEYS_DIR", keys, 1);
    return conninfo;
}

void
testdb_scratch_destroy (const char *admin, const char *context)
{
    char sql [160];
    snprintf (sql, sizeof sql, "DROP DATABASE IF EXISTS comptoir_it_%d_%s WITH (FORCE)", (int) getpid (), context);
    testdb_admin_run (admin, sql);
    snprintf (sql, sizeof sql, "rm -rf /tmp/%s_it_keys_%d", context, (int) getpid ());
    if (system (sql) != 0)
        fprintf (stderr, "testdb: %s failed\n", sql);
}
