/*  =========================================================================
    broker_worker - a Majordomo worker process for the broker tests

    brokertest starts these as real child processes so that it can kill
    them (SIGKILL) or freeze them (SIGSTOP) the way a crash or a hung host
    would. A worker answers {"worker": NAME, "pid": PID, "verb": VERB}.
    With --delay-ms it holds each request that long before answering, but
    keeps heartbeating meanwhile (it does not sleep), so that only a kill or
    a freeze makes the broker lose it. With --blocking beat it holds the
    request inside the handler instead, the way a context's handler waits on
    another context, sending heartbeats with mdp_worker_keepalive; with
    --blocking silent it holds it without them.
    =========================================================================
*/
#include "mdp_worker.h"
#include "mdp.h"
#include "curvekeys.h"
#include "logline.h"

static void
s_usage (void)
{
    printf ("usage: broker_worker --endpoint E --keys DIR --service S --name N\n"
            "       [--cert NAME] [--identity ID] [--delay-ms N] [--heartbeat-ms N] [--liveness N]\n"
            "       [--blocking beat|silent]\n");
}

int
main (int argc, char **argv)
{
    const char *endpoint = NULL, *keys = NULL, *service = NULL, *name = "worker";
    const char *cert_name = "worker", *identity = NULL;
    const char *blocking = NULL;
    int delay_ms = 0, heartbeat_ms = MDP_HEARTBEAT_MS_DEFAULT, liveness = MDP_LIVENESS_DEFAULT;
    for (int index = 1; index < argc; index++) {
        const char *arg = argv [index];
        const char *value = index + 1 < argc ? argv [index + 1] : NULL;
        if (streq (arg, "--help")) {
            s_usage ();
            return 0;
        }
        if (!value) {
            s_usage ();
            return 2;
        }
        index++;
        if (streq (arg, "--endpoint"))
            endpoint = value;
        else if (streq (arg, "--keys"))
            keys = value;
        else if (streq (arg, "--service"))
            service = value;
        else if (streq (arg, "--name"))
            name = value;
        else if (streq (arg, "--cert"))
            cert_name = value;
        else if (streq (arg, "--identity"))
            identity = value;
        else if (streq (arg, "--delay-ms"))
            delay_ms = atoi (value);
        else if (streq (arg, "--heartbeat-ms"))
            heartbeat_ms = atoi (value);
        else if (streq (arg, "--liveness"))
            liveness = atoi (value);
        else if (streq (arg, "--blocking") && (streq (value, "beat") || streq (value, "silent")))
            blocking = value;
        else {
            s_usage ();
            return 2;
        }
    }
    if (!endpoint || !keys || !service) {
        s_usage ();
        return 2;
    }
    logline_init (name, -1);
    zcert_t *cert = curvekeys_ensure (keys, cert_name, true);
    char broker_path [512];
    snprintf (broker_path, sizeof broker_path, "%s/broker", keys);
    char *server_public = curvekeys_public_of (broker_path);
    if (!cert || !server_public) {
        fprintf (stderr, "broker_worker: no keys in %s\n", keys);
        return 1;
    }
    mdp_worker_t *worker = mdp_worker_new (endpoint, service, cert, server_public, identity);
    assert (worker);
    mdp_worker_set_heartbeat (worker, heartbeat_ms, liveness);

    envelope_t *holding = NULL;
    int64_t due = 0;
    while (!zsys_interrupted) {
        int timeout = mdp_worker_tick (worker);
        if (holding) {
            int64_t left = due - zclock_mono ();
            if (left < timeout)
                timeout = left > 0 ? (int) left : 0;
        }
        zmq_pollitem_t item = { zsock_resolve (mdp_worker_sock (worker)), 0, ZMQ_POLLIN, 0 };
        if (zmq_poll (&item, 1, timeout) < 0 && zmq_errno () != EINTR)
            break;
        envelope_t *request = mdp_worker_recv (worker);
        if (request) {
            envelope_destroy (&holding);
            holding = request;
            due = zclock_mono () + delay_ms;
            //  A handler that blocks: the loop does not turn until it is done.
            while (blocking && zclock_mono () < due) {
                if (streq (blocking, "beat"))
                    mdp_worker_keepalive (worker);
                zclock_sleep (10);
            }
        }
        if (holding && zclock_mono () >= due) {
            envelope_t *reply = envelope_new_reply (holding, 200, json_pack ("{s:s, s:i, s:s?}",
                "worker", name, "pid", (int) getpid (), "verb", holding->verb));
            mdp_worker_send (worker, &reply);
            envelope_destroy (&holding);
        }
    }
    envelope_destroy (&holding);
    mdp_worker_destroy (&worker);
    zcert_destroy (&cert);
    free (server_public);
    return 0;
}
