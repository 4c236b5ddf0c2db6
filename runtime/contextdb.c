/*  =========================================================================
    contextdb - a context actor's PostgreSQL connection, schema ready

    The once-per-process flag is the only shared state: a short list of the
    contexts whose schema this process has prepared, behind one mutex. A
    process hosts one context, so the list holds one name; tests that host
    several in one process still get each prepared once.
    =========================================================================
*/
#include "contextdb.h"
#include "logline.h"

#include <ctype.h>
#include <pthread.h>
#include <sys/stat.h>

#ifndef COMPTOIR_DATADIR
#   define COMPTOIR_DATADIR "/usr/local/share/comptoir"
#endif

#define CONTEXTDB_MAX_CONTEXTS 16

static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static char s_ready [CONTEXTDB_MAX_CONTEXTS][32];
static int s_nready = 0;

//  --------------------------------------------------------------------------

static bool
s_exists (const char *path)
{
    struct stat info;
    return stat (path, &info) == 0;
}

char *
contextdb_resolve (const char *path)
{
    if (path [0] == '/' || s_exists (path))
        return strdup (path);
    char *installed = zsys_sprintf ("%s/%s", COMPTOIR_DATADIR, path);
    if (installed && s_exists (installed))
        return installed;
    zstr_free (&installed);
    return strdup (path);
}

//  --------------------------------------------------------------------------

int
contextdb_seed (pgdb_t *db, const char *path)
{
    char *file_name = contextdb_resolve (path);
    zfile_t *file = file_name ? zfile_new (NULL, file_name) : NULL;
    zchunk_t *chunk = NULL;
    if (file && zfile_input (file) == 0) {
        chunk = zfile_read (file, (size_t) zfile_cursize (file), 0);
        zfile_close (file);
    }
    zfile_destroy (&file);
    int rc = -1;
    char *sql = chunk ? zchunk_strdup (chunk) : NULL;
    if (sql && pgdb_run (db, "BEGIN") == 0) {
        if (pgdb_run (db, sql) == 0 && pgdb_run (db, "COMMIT") == 0)
            rc = 0;
        else
            pgdb_run (db, "ROLLBACK");
    }
    if (rc)
        log_error (NULL, "seed %s failed: %s %s", file_name ? file_name : path,
                   pgdb_sqlstate (db), chunk ? pgdb_error (db) : "cannot read the file");
    else
        log_info (NULL, "seed %s applied", file_name);
    zstr_free (&sql);
    zchunk_destroy (&chunk);
    zstr_free (&file_name);
    return rc;
}

//  --------------------------------------------------------------------------
//  Migrations, seed and the context's own step, once per process.

int
contextdb_prepare (pgdb_t *db, settings_t *settings, const char *context, contextdb_ready_fn *ready)
{
    int rc = 0;
    pthread_mutex_lock (&s_lock);
    bool done = false;
    for (int i = 0; i < s_nready && !done; i++)
        done = streq (s_ready [i], context);
    if (!done) {
        char path [96], fallback [96];
        snprintf (path, sizeof path, "%s/migrations", context);
        snprintf (fallback, sizeof fallback, "sql/%s", context);
        const char *setting = settings_get (settings, path, fallback);
        char *dir = contextdb_resolve (setting && *setting ? setting : fallback);
        int applied = dir ? pgdb_migrate (db, dir) : -1;
        if (applied < 0)
            rc = -1;
        else
            log_info (NULL, "%s: schema ready (%d migrations applied from %s)", context, applied, dir);
        zstr_free (&dir);
        snprintf (path, sizeof path, "%s/seed", context);
        const char *seed = settings_get (settings, path, "");
        if (rc == 0 && seed && *seed)
            rc = contextdb_seed (db, seed);
        if (rc == 0 && ready)
            rc = ready (db, settings);
        if (rc == 0 && s_nready < CONTEXTDB_MAX_CONTEXTS)
            snprintf (s_ready [s_nready++], sizeof s_ready [0], "%s", context);
    }
    pthread_mutex_unlock (&s_lock);
    return rc;
}

//  --------------------------------------------------------------------------

pgdb_t *
contextdb_open (settings_t *settings, const char *context, contextdb_ready_fn *ready)
{
    char path [96];
    snprintf (path, sizeof path, "postgres/%s", context);
    const char *conninfo = settings_get (settings, path, "");
    if (!conninfo || !*conninfo) {
        char variable [96];
        snprintf (variable, sizeof variable, "COMPTOIR_POSTGRES_%s", context);
        for (char *c = variable; *c; c++)
            *c = (char) toupper ((unsigned char) *c);
        log_error (NULL, "%s: no database: set %s (or %s)", context, path, variable);
        return NULL;
    }
    pgdb_t *db = pgdb_new (conninfo);
    if (!db || pgdb_connect (db) || contextdb_prepare (db, settings, context, ready)) {
        log_error (NULL, "%s: database not ready: %s %s", context,
                   db ? pgdb_sqlstate (db) : "", db ? pgdb_error (db) : "");
        pgdb_destroy (&db);
    }
    return db;
}

//  --------------------------------------------------------------------------

void
contextdb_test (bool verbose)
{
    printf (" * contextdb: ");
    //  Paths: an existing one stays; a missing relative one stays as given
    //  when the data directory lacks it too
    char *path = contextdb_resolve ("/etc");
    assert (streq (path, "/etc"));
    zstr_free (&path);
    path = contextdb_resolve ("no/such/folder");
    assert (streq (path, "no/such/folder"));
    zstr_free (&path);

    //  No connection string: a clear refusal, not a crash
    settings_t *settings = settings_load (NULL);
    unsetenv ("COMPTOIR_POSTGRES_NOWHERE");
    assert (contextdb_open (settings, "nowhere", NULL) == NULL);
    //  A server that is not there: refused too
    setenv ("COMPTOIR_POSTGRES_NOWHERE", "host=/nonexistent port=1 connect_timeout=1", 1);
    assert (contextdb_open (settings, "nowhere", NULL) == NULL);
    unsetenv ("COMPTOIR_POSTGRES_NOWHERE");
    settings_destroy (&settings);
    if (verbose)
        printf ("(the real database is exercised by tests/integration) ");
    printf ("OK\n");
}
