/*  =========================================================================
    comptoir-edge - the HTTP edge process

    Reads the configuration, starts the edge (edge_server) and serves until
    SIGINT or SIGTERM. CZMQ's signal handler sets zsys_interrupted, which
    interrupts zmq_poll, so a stop never waits for a request to finish: the
    requests still waiting answer 503 on the way out.
    =========================================================================
*/
#include "edge_server.h"
#include "logline.h"
#include "settings.h"

#include <czmq.h>
#include <string.h>

#define EDGE_DEFAULT_CONFIG "etc/comptoir.cfg"

static void
s_usage (const char *program)
{
    printf ("usage: %s [--config FILE]\n"
            "The Comptoir HTTP edge: serves the API of docs/openapi.yaml, sends each\n"
            "request to its context through the broker, and serves /metrics and\n"
            "/admin/services on the admin port.\n"
            "  --config FILE   configuration file (default %s); section edge\n"
            "  --help          this text\n", program, EDGE_DEFAULT_CONFIG);
}

int
main (int argc, char **argv)
{
    const char *config = EDGE_DEFAULT_CONFIG;
    for (int i = 1; i < argc; i++) {
        if (streq (argv [i], "--help") || streq (argv [i], "-h")) {
            s_usage (argv [0]);
            return 0;
        }
        else
        if (streq (argv [i], "--config") && i + 1 < argc)
            config = argv [++i];
        else {
            fprintf (stderr, "%s: unknown argument %s\n", argv [0], argv [i]);
            s_usage (argv [0]);
            return 2;
        }
    }
    logline_init ("edge", -1);
    settings_t *settings = settings_load (config);
    if (!settings)
        return 1;
    //  The configured level, unless the environment asked for another one.
    if (!getenv ("COMPTOIR_LOG_LEVEL")) {
        const char *level = settings_get (settings, "comptoir/log_level", "info");
        int value = streq (level, "debug") ? LOGLINE_DEBUG : streq (level, "warn") ? LOGLINE_WARN
                  : streq (level, "error") ? LOGLINE_ERROR : LOGLINE_INFO;
        logline_init ("edge", value);
    }
    zsys_init ();
    zsys_catch_interrupts ();
    edge_server_t *server = edge_server_new (settings);
    if (!server) {
        log_error (NULL, "the edge cannot start");
        settings_destroy (&settings);
        return 1;
    }
    int rc = edge_server_run (server, -1);
    log_info (NULL, "edge stopping");
    edge_server_destroy (&server);
    settings_destroy (&settings);
    return rc == 0 ? 0 : 1;
}
