/*  =========================================================================
    mdp_bench - what the Majordomo broker costs over a raw ROUTER/DEALER echo

    Not part of the build: bench/run.sh compiles it against
    runtime/libcomptoir.a and broker/mdp_broker.c. Four runs, each with the
    same payload (an encoded request envelope, the size the edge sends) and
    the same number of requests in flight:
      raw      a DEALER client and a ROUTER echo thread, CURVE off / on;
      broker   an mdp_client, the broker engine (the code comptoir-broker
               runs) in its own thread, N echo workers, CURVE off / on
               (with the ZAP authenticator admitting the keys).
    All in one process over tcp://127.0.0.1, so the numbers compare hops,
    framing and encryption, not process scheduling. Prints requests/s and
    the ratios broker/raw and CURVE on/off.
    =========================================================================
*/
#include <czmq.h>
#include "curvekeys.h"
#include "envelope.h"
#include "logline.h"
#include "mdp_client.h"
#include "mdp_worker.h"
#include "../broker/mdp_broker.h"

typedef struct {
    char endpoint [64];
    zcert_t *cert;              //  worker or server certificate, or NULL
    const char *server_public;
} s_peer_args_t;

//  --------------------------------------------------------------------------
//  The raw echo: a ROUTER that sends every message back.

static void
s_raw_echo (zsock_t *pipe, void *args)
{
    s_peer_args_t *peer = (s_peer_args_t *) args;
    zsock_t *router = zsock_new (ZMQ_ROUTER);
    if (peer->cert)
        curvekeys_apply_server (router, peer->cert);
    zsock_set_sndhwm (router, 0);
    zsock_set_rcvhwm (router, 0);
    int port = zsock_bind (router, "tcp://127.0.0.1:*");
    snprintf (peer->endpoint, sizeof peer->endpoint, "tcp://127.0.0.1:%d", port);
    zsock_signal (pipe, 0);
    zpoller_t *poller = zpoller_new (pipe, router, NULL);
    while (true) {
        void *which = zpoller_wait (poller, -1);
        if (which == router) {
            zmsg_t *msg = zmsg_recv (router);
            zmsg_send (&msg, router);
        }
        else
            break;
    }
    zpoller_destroy (&poller);
    zsock_destroy (&router);
}

//  --------------------------------------------------------------------------

static zframe_t *
s_payload (void)
{
    envelope_t *request = envelope_new_request ("echo.get");
    request->body = json_pack ("{s:{s:s}}", "params", "id", "12");
    envelope_set_str (&request->rid, "5f1c0c2e-9a7d-4a43-8c1e-3c1b7d9e0a11");
    envelope_set_str (&request->consumer, "demo");
    request->retryable = true;
    zframe_t *frame = envelope_encode (request);
    envelope_destroy (&request);
    return frame;
}

//  --------------------------------------------------------------------------

static double
s_run_raw (bool curve, int seconds, int inflight, zcert_t *server, zcert_t *client)
{
    s_peer_args_t peer = { "", curve ? server : NULL, NULL };
    zactor_t *echo = zactor_new (s_raw_echo, &peer);
    zsock_t *dealer = zsock_new (ZMQ_DEALER);
    if (curve)
        curvekeys_apply_client (dealer, client, zcert_public_txt (server));
    zsock_set_sndhwm (dealer, 0);
    zsock_set_rcvhwm (dealer, 0);
    zsock_connect (dealer, "%s", peer.endpoint);
    zframe_t *payload = s_payload ();
    for (int i = 0; i < inflight; i++) {
        zframe_t *copy = zframe_dup (payload);
        zframe_send (&copy, dealer, 0);
    }
    int64_t count = 0;
    int64_t start = zclock_mono ();
    int64_t end = start + seconds * 1000;
    while (zclock_mono () < end) {
        zframe_t *frame = zframe_recv (dealer);
        if (!frame)
            break;
        zframe_destroy (&frame);
        count++;
        zframe_t *copy = zframe_dup (payload);
        zframe_send (&copy, dealer, 0);
    }
    double rate = count * 1000.0 / (double) (zclock_mono () - start);
    zframe_destroy (&payload);
    zsock_destroy (&dealer);
    zactor_destroy (&echo);
    return rate;
}

//  --------------------------------------------------------------------------

static envelope_t *
s_echo_handler (envelope_t *request, void *arg)
{
    return envelope_new_reply (request, 200, json_incref (request->body));
}

static void
s_worker_actor (zsock_t *pipe, void *args)
{
    s_peer_args_t *peer = (s_peer_args_t *) args;
    mdp_worker_t *worker = mdp_worker_new (peer->endpoint, "echo", peer->cert,
                                           peer->server_public, NULL);
    zsock_signal (pipe, 0);
    if (worker) {
        mdp_worker_run (worker, pipe, s_echo_handler, NULL);
        mdp_worker_destroy (&worker);
    }
}

//  --------------------------------------------------------------------------

static double
s_run_broker (bool curve, int seconds, int inflight, int workers, zcert_t *server,
              zcert_t *worker_cert, zcert_t *client_cert, const char *allowed_dir)
{
    zactor_t *auth = NULL;
    if (curve) {
        auth = curvekeys_auth_new (allowed_dir);
        assert (auth);
    }
    mdp_broker_t *broker = mdp_broker_new (NULL);
    assert (broker);
    if (curve)
        mdp_broker_set_certificate (broker, server);
    int port = mdp_broker_bind (broker, "tcp://127.0.0.1:*");
    assert (port > 0);
    zactor_t *broker_actor = zactor_new (mdp_broker_actor, broker);

    s_peer_args_t peer;
    snprintf (peer.endpoint, sizeof peer.endpoint, "tcp://127.0.0.1:%d", port);
    peer.cert = curve ? worker_cert : NULL;
    peer.server_public = curve ? zcert_public_txt (server) : NULL;
    zactor_t *actors [64];
    for (int i = 0; i < workers; i++)
        actors [i] = zactor_new (s_worker_actor, &peer);
    zclock_sleep (300);         //  let the workers say READY

    mdp_client_t *client = mdp_client_new (peer.endpoint, curve ? client_cert : NULL,
                                           peer.server_public);
    assert (client);
    mdp_client_set_resend (client, 0);
    mdp_client_set_timeout (client, 10000);
    for (int i = 0; i < inflight; i++) {
        envelope_t *request = envelope_new_request ("echo.get");
        request->body = json_pack ("{s:{s:s}}", "params", "id", "12");
        mdp_client_send (client, "echo", &request);
    }
    int64_t count = 0, errors = 0;
    int64_t start = zclock_mono ();
    int64_t end = start + seconds * 1000;
    zsock_t *sock = mdp_client_sock (client);
    while (zclock_mono () < end) {
        zmq_pollitem_t item = { zsock_resolve (sock), 0, ZMQ_POLLIN, 0 };
        if (zmq_poll (&item, 1, 100) < 0)
            break;
        envelope_t *reply;
        while ((reply = mdp_client_recv (client))) {
            if (reply->status == 200)
                count++;
            else
                errors++;
            envelope_destroy (&reply);
            envelope_t *request = envelope_new_request ("echo.get");
            request->body = json_pack ("{s:{s:s}}", "params", "id", "12");
            mdp_client_send (client, "echo", &request);
        }
        mdp_client_tick (client);
    }
    double rate = count * 1000.0 / (double) (zclock_mono () - start);
    if (errors)
        printf ("   (%lld error replies)\n", (long long) errors);
    mdp_client_destroy (&client);
    for (int i = 0; i < workers; i++)
        zactor_destroy (&actors [i]);
    zactor_destroy (&broker_actor);
    zactor_destroy (&auth);
    return rate;
}

//  --------------------------------------------------------------------------

int
main (int argc, char **argv)
{
    int seconds = 5, inflight = 64, workers = 2;
    const char *dir = "var/bench/mdp";
    for (int i = 1; i < argc; i++) {
        if (streq (argv [i], "--seconds") && i + 1 < argc)
            seconds = atoi (argv [++i]);
        else
        if (streq (argv [i], "--inflight") && i + 1 < argc)
            inflight = atoi (argv [++i]);
        else
        if (streq (argv [i], "--workers") && i + 1 < argc)
            workers = atoi (argv [++i]);
        else
        if (streq (argv [i], "--dir") && i + 1 < argc)
            dir = argv [++i];
        else
        if (streq (argv [i], "--broker") && i + 1 < argc)
            i++;                //  accepted for bench/run.sh; the engine is linked in
        else {
            printf ("usage: mdp_bench [--seconds N] [--inflight N] [--workers N] [--dir DIR]\n");
            return streq (argv [i], "--help") || streq (argv [i], "-h") ? 0 : 2;
        }
    }
    if (seconds < 1 || inflight < 1 || workers < 1 || workers > 64)
        return 2;
    logline_init ("mdp_bench", LOGLINE_WARN);
    zsys_init ();
    zsys_set_pipehwm (0);
    zcert_t *server = curvekeys_ensure (dir, "broker", false);
    zcert_t *worker_cert = curvekeys_ensure (dir, "worker", true);
    zcert_t *client_cert = curvekeys_ensure (dir, "client", true);
    assert (server && worker_cert && client_cert);
    char allowed [512];
    snprintf (allowed, sizeof allowed, "%s/allowed", dir);

    zframe_t *payload = s_payload ();
    printf ("mdp_bench: %d in flight, %d workers, %d s per run, payload %zu bytes\n", inflight,
            workers, seconds, zframe_size (payload));
    zframe_destroy (&payload);
    double raw_plain = s_run_raw (false, seconds, inflight, server, client_cert);
    printf ("raw ROUTER/DEALER echo, CURVE off   %10.0f req/s\n", raw_plain);
    double raw_curve = s_run_raw (true, seconds, inflight, server, client_cert);
    printf ("raw ROUTER/DEALER echo, CURVE on    %10.0f req/s\n", raw_curve);
    double mdp_plain = s_run_broker (false, seconds, inflight, workers, server, worker_cert,
                                     client_cert, allowed);
    printf ("through the broker,     CURVE off   %10.0f req/s\n", mdp_plain);
    double mdp_curve = s_run_broker (true, seconds, inflight, workers, server, worker_cert,
                                     client_cert, allowed);
    printf ("through the broker,     CURVE on    %10.0f req/s\n", mdp_curve);
    if (raw_plain > 0 && raw_curve > 0 && mdp_plain > 0) {
        printf ("ratio broker/raw, CURVE off         %10.2f\n", mdp_plain / raw_plain);
        printf ("ratio broker/raw, CURVE on          %10.2f\n", mdp_curve / raw_curve);
        printf ("ratio CURVE on/off, raw             %10.2f\n", raw_curve / raw_plain);
        printf ("ratio CURVE on/off, broker          %10.2f\n", mdp_curve / mdp_plain);
    }
    zcert_destroy (&server);
    zcert_destroy (&worker_cert);
    zcert_destroy (&client_cert);
    return 0;
}
