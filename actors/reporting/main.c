/*  =========================================================================
    comptoir-reporting - the reporting context's process

    Everything a context process does is in runtime/contextnode; the
    reporting context brings its verb table and state. One more command:
    `comptoir-reporting [--config FILE] --rebuild` empties the read models
    and the cursors and exits; the running feed (or the next one to start)
    then replays every producer from seq 1 and builds everything again.
    =========================================================================
*/
#include "contextdb.h"
#include "logline.h"
#include "reporting_context.h"
#include "reporting_feed.h"

#include <string.h>

//  --------------------------------------------------------------------------

static int
s_rebuild (const char *config)
{
    logline_init ("reporting-rebuild", -1);
    settings_t *settings = settings_load (config);
    if (!settings)
        return 1;
    const char *conninfo = settings_get (settings, "postgres/reporting", "");
    pgdb_t *db = conninfo && *conninfo ? pgdb_new (conninfo) : NULL;
    int rc = 1;
    if (!db)
        log_error (NULL, "reporting: no database: set postgres/reporting (or COMPTOIR_POSTGRES_REPORTING)");
    else
    if (pgdb_connect (db) || contextdb_prepare (db, settings, "reporting", NULL)
    ||  reporting_feed_rebuild (db))
        log_error (NULL, "reporting: rebuild failed: %s %s", pgdb_sqlstate (db), pgdb_error (db));
    else {
        log_info (NULL, "reporting: read models and cursors emptied; the feed replays every producer from seq 1");
        rc = 0;
    }
    pgdb_destroy (&db);
    settings_destroy (&settings);
    return rc;
}

//  --------------------------------------------------------------------------

int
main (int argc, char **argv)
{
    const char *config = "etc/comptoir.cfg";
    bool rebuild = false;
    for (int i = 1; i < argc; i++) {
        if (streq (argv [i], "--rebuild"))
            rebuild = true;
        else
        if ((streq (argv [i], "--config") || streq (argv [i], "-c")) && i + 1 < argc)
            config = argv [++i];
        else
        if (strncmp (argv [i], "--config=", 9) == 0)
            config = argv [i] + 9;
    }
    if (rebuild)
        return s_rebuild (config);
    return contextnode_main (argc, argv, &reporting_context_def);
}
