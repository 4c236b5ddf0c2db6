/*  =========================================================================
    contextdb - a context actor's PostgreSQL connection, schema ready

    Every context that owns a database starts its actors the same way:
    read postgres/<context> (COMPTOIR_POSTGRES_<CONTEXT>), connect, and make
    sure the schema is there before serving: the first actor of the process
    applies <context>/migrations (pgdb_migrate, whose advisory lock orders
    processes), applies <context>/seed when one is named, and runs the
    context's own once-per-process step; the other actors wait for it.
    Relative paths are looked up in the working directory, then under the
    installed data directory (make install puts sql/ there).
    =========================================================================
*/
#ifndef COMPTOIR_CONTEXTDB_H
#define COMPTOIR_CONTEXTDB_H

#include "pgdb.h"
#include "settings.h"

//  A context's own step, run once per process after the migrations (e.g.
//  clearing stale rows). Returns 0, or -1 to refuse to start.
typedef int (contextdb_ready_fn) (pgdb_t *db, settings_t *settings);

//  The connection for one actor, schema ready; NULL (and a log line) when
//  the database is not configured, unreachable or its migrations fail.
pgdb_t *contextdb_open (settings_t *settings, const char *context, contextdb_ready_fn *ready);

//  The same steps for a connection the caller made: migrations, seed and
//  the ready step, once per process for this context. 0 or -1.
int contextdb_prepare (pgdb_t *db, settings_t *settings, const char *context,
                       contextdb_ready_fn *ready);

//  A path of ours (migrations, seed): as given when it exists, else under
//  the installed data directory when it exists there, else as given.
//  Returns a new string.
char *contextdb_resolve (const char *path);

//  Apply a seed file (idempotent statements) in one transaction. 0 / -1.
int contextdb_seed (pgdb_t *db, const char *path);

void contextdb_test (bool verbose);

#endif
