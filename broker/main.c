/*  =========================================================================
    comptoir-broker - the Majordomo broker process

    Loads the configuration, starts the ZAP authenticator BEFORE the CURVE
    server socket binds (libzmq admits every client when no ZAP handler
    answers), loads or creates the broker's server certificate, then runs
    the broker engine on a zloop in the main thread: one thread, no hop.
    SIGHUP makes the authenticator read the allowed keys folder again;
    SIGINT and SIGTERM stop the broker cleanly.
    =========================================================================
*/
#include "mdp_broker.h"
#include "curvekeys.h"
#include "logline.h"
#include "settings.h"

#include <signal.h>

#ifndef COMPTOIR_DEFAULT_CONFIG
#   define COMPTOIR_DEFAULT_CONFIG "etc/comptoir.cfg"
#endif

static volatile sig_atomic_t s_reload = 0;

static void
s_on_hangup (int signum)
{
    (void) signum;
    s_reload = 1;
}

//  --------------------------------------------------------------------------

static void
s_usage (const char *program)
{
    printf ("usage: %s [--config FILE] [--help]\n"
            "The Comptoir Majordomo broker (MDP/0.1 over CurveZMQ).\n"
            "  --config FILE   configuration file (default %s)\n"
            "Settings read: broker/bind, broker/heartbeat_ms, broker/liveness,\n"
            "broker/queue_max, broker/no_worker_wait_ms, broker/service_linger_ms,\n"
            "broker/events_max (socket events kept for mmi.events),\n"
            "keys/dir (its allowed/ folder lists the admitted public keys).\n"
            "SIGHUP reloads the allowed keys; SIGINT/SIGTERM stop the broker.\n",
            program, COMPTOIR_DEFAULT_CONFIG);
}

//  --------------------------------------------------------------------------

int
main (int argc, char **argv)
{
    const char *config = COMPTOIR_DEFAULT_CONFIG;
    for (int index = 1; index < argc; index++) {
        if (streq (argv [index], "--help") || streq (argv [index], "-h")) {
            s_usage (argv [0]);
            return 0;
        }
        else
        if (streq (argv [index], "--config") && index + 1 < argc)
            config = argv [++index];
        else {
            fprintf (stderr, "%s: unknown argument %s\n", argv [0], argv [index]);
            s_usage (argv [0]);
            return 2;
        }
    }
    logline_init ("broker", -1);
    settings_t *settings = settings_load (config);
    if (!settings)
        return 1;
    settings_apply_log_level (settings, "broker");

    const char *keys_dir = settings_get (settings, "keys/dir", "var/keys");
    const char *bind = settings_get (settings, "broker/bind", "tcp://127.0.0.1:5555");
    zcert_t *cert = curvekeys_ensure (keys_dir, "broker", false);
    if (!cert) {
        settings_destroy (&settings);
        return 1;
    }
    char allowed [512];
    snprintf (allowed, sizeof allowed, "%s/allowed", keys_dir);
    zsys_dir_create ("%s", allowed);
    zactor_t *auth = curvekeys_auth_new (allowed);
    if (!auth) {
        zcert_destroy (&cert);
        settings_destroy (&settings);
        return 1;
    }
    mdp_broker_t *broker = mdp_broker_new (settings);
    zloop_t *loop = zloop_new ();
    int rc = 1;
    if (broker && loop) {
        mdp_broker_set_certificate (broker, cert);
        if (mdp_broker_bind (broker, bind) >= 0 && mdp_broker_attach (broker, loop) == 0)
            rc = 0;
    }
    if (rc == 0) {
        struct sigaction action = { .sa_handler = s_on_hangup };
        sigemptyset (&action.sa_mask);
        sigaction (SIGHUP, &action, NULL);
        log_info (NULL, "broker: started (pid %d, keys %s)", (int) getpid (), keys_dir);
        //  zloop_start returns on any signal; a SIGHUP reloads and goes on.
        while (!zsys_interrupted) {
            zloop_start (loop);
            if (zsys_interrupted)
                break;
            if (s_reload) {
                s_reload = 0;
                zstr_send (auth, "RELOAD");
                char *count = zstr_recv (auth);
                log_info (NULL, "broker: allowed keys reloaded (%s)", count ? count : "?");
                free (count);
                continue;
            }
            log_error (NULL, "broker: the loop stopped");
            rc = 1;
            break;
        }
        log_info (NULL, "broker: stopping");
    }
    zloop_destroy (&loop);
    mdp_broker_destroy (&broker);
    zactor_destroy (&auth);
    zcert_destroy (&cert);
    settings_destroy (&settings);
    return rc;
}
