/*  testdb - what the database suites share: scratch databases on the test
    cluster named by COMPTOIR_TEST_PG_ADMIN, and one-value queries. */
#ifndef COMPTOIR_TESTDB_H
#define COMPTOIR_TESTDB_H

#include "pgdb.h"

//  The admin conninfo with another dbname, as quoted key=value pairs
//  (caller frees). NULL when the admin conninfo does not parse.
char *testdb_conninfo (const char *admin, const char *dbname);

//  Run one statement on the admin database. 0 or -1 (the error is printed).
int testdb_admin_run (const char *admin, const char *sql);

//  The first column of the first row of a query, as a new string (NULL when
//  there is no row). Asserts that the query runs.
char *testdb_value (pgdb_t *db, const char *sql, int nparams, const char *const *params);

//  A fresh scratch database for a context's suite (comptoir_it_<pid>_<context>)
//  and the environment of the context's own start-up: COMPTOIR_POSTGRES_<CONTEXT>
//  (its conninfo), COMPTOIR_<CONTEXT>_MIGRATIONS ($srcdir/sql/<context>) and
//  COMPTOIR_KEYS_DIR (a folder without the broker's key: no broker client).
//  Returns the conninfo (caller frees), or NULL.
char *testdb_scratch_new (const char *admin, const char *context);

//  Drop the scratch database of context and its keys folder.
void testdb_scratch_destroy (const char *admin, const char *context);

#endif
