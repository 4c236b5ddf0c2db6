/*  =========================================================================
    brokertest - the Majordomo broker, over real sockets and real processes

    Every case runs in its own forked process (testrunner): a temporary
    keys folder, the ZAP authenticator, the broker engine as an actor bound
    to a random TCP port on 127.0.0.1 with CURVE, and workers started as
    child processes (tests/broker_worker) that the case kills with SIGKILL
    or freezes with SIGSTOP. Clients are our mdp_client, or raw DEALERs when
    the case needs to see exactly what the broker sends (a 504 made by the
    broker, not by the client's own deadline).
    =========================================================================
*/
#include "testrunner.h"

#include "curvekeys.h"
#include "envelope.h"
#include "logline.h"
#include "mdp.h"
#include "mdp_broker.h"
#include "broker_events.h"
#include "mdp_client.h"

#include <arpa/inet.h>
#include <libgen.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#define MAX_CHILDREN 8

typedef struct {
    char dir [256];             //  temporary folder
    char keys [300];
    char endpoint [64];
    zactor_t *auth;
    zactor_t *broker;
    zcert_t *client_cert;
    zcert_t *worker_cert;
    char *server_public;
    mdp_client_t *client;
    pid_t children [MAX_CHILDREN];
    int child_count;
    bool verbose;
    const char *blocking;       //  --blocking for the next workers spawned, or NULL
} env_t;

typedef void (tune_fn) (mdp_broker_t *broker);

static char s_helper_dir [512];

//  --------------------------------------------------------------------------
//  Where the helper binaries are: next to this one.

static void
s_find_helpers (void)
{
    char exe [512];
    ssize_t size = readlink ("/proc/self/exe", exe, sizeof exe - 1);
    assert (size > 0);
    exe [size] = 0;
    snprintf (s_helper_dir, sizeof s_helper_dir, "%s", dirname (exe));
}

//  --------------------------------------------------------------------------
//  Set up keys, the authenticator and the broker.

static void
s_env_start (env_t *env, bool verbose, tune_fn *tune)
{
    memset (env, 0, sizeof *env);
    env->verbose = verbose;
    if (!verbose)
        logline_init ("brokertest", LOGLINE_ERROR);
    s_find_helpers ();
    snprintf (env->dir, sizeof env->dir, "/tmp/brokertest.XXXXXX");
    assert (mkdtemp (env->dir));
    snprintf (env->keys, sizeof env->keys, "%s/keys", env->dir);
    zcert_t *broker_cert = curvekeys_ensure (env->keys, "broker", false);
    assert (broker_cert);
    env->client_cert = curvekeys_ensure (env->keys, "client", true);
    env->worker_cert = curvekeys_ensure (env->keys, "worker", true);
    assert (env->client_cert && env->worker_cert);
    env->server_public = strdup (zcert_public_txt (broker_cert));
    char allowed [400];
    snprintf (allowed, sizeof allowed, "%s/allowed", env->keys);
    env->auth = curvekeys_auth_new (allowed);
    assert (env->auth);

    mdp_broker_t *broker = mdp_broker_new (NULL);
    assert (broker);
    if (tune)
        tune (broker);
    mdp_broker_set_certificate (broker, broker_cert);
    int port = mdp_broker_bind (broker, "tcp://127.0.0.1:*");
    assert (port > 0);
    snprintf (env->endpoint, sizeof env->endpoint, "tcp://127.0.0.1:%d", port);
    env->broker = zactor_new (mdp_broker_actor, broker);
    assert (env->broker);
    zcert_destroy (&broker_cert);

    env->client = mdp_client_new (env->endpoint, env->client_cert, env->server_public);
    assert (env->client);
    mdp_client_set_resend (env->client, 0);     //  the broker alone must save requests
}

//  --------------------------------------------------------------------------

static void
s_env_stop (env_t *env)
{
    for (int index = 0; index < env->child_count; index++) {
        if (env->children [index] > 0) {
            kill (env->children [index], SIGKILL);
            waitpid (env->children [index], NULL, 0);
        }
    }
    mdp_client_destroy (&env->client);
    zactor_destroy (&env->broker);
    zactor_destroy (&env->auth);
    zcert_destroy (&env->client_cert);
    zcert_destroy (&env->worker_cert);
    free (env->server_public);
    zdir_t *dir = zdir_new (env->dir, NULL);
    if (dir) {
        zdir_remove (dir, true);
        zdir_destroy (&dir);
    }
}

//  --------------------------------------------------------------------------
//  Start a worker process. Returns its pid.

static pid_t
s_spawn (env_t *env, const char *service, const char *name, int delay_ms, const char *identity)
{
    assert (env->child_count < MAX_CHILDREN);
    char program [600], delay [32];
    snprintf (program, sizeof program, "%s/broker_worker", s_helper_dir);
    snprintf (delay, sizeof delay, "%d", delay_ms);
    const char *argv [20] = { program, "--endpoint", env->endpoint, "--keys", env->keys,
                              "--service", service, "--name", name, "--delay-ms", delay };
    int argc = 11;
    if (identity) {
        argv [argc++] = "--identity";
        argv [argc++] = identity;
    }
    if (env->blocking) {
        argv [argc++] = "--blocking";
        argv [argc++] = env->blocking;
    }
    argv [argc] = NULL;
    fflush (stdout);
    fflush (stderr);
    pid_t pid = fork ();
    assert (pid >= 0);
    if (pid == 0) {
        prctl (PR_SET_PDEATHSIG, SIGKILL);
        if (!env->verbose) {
            int null = open ("/dev/null", O_WRONLY);
            if (null >= 0)
                dup2 (null, 2);
        }
        execv (program, (char **) argv);
        _exit (127);
    }
    env->children [env->child_count++] = pid;
    return pid;
}

static void
s_kill (env_t *env, pid_t pid, int signum)
{
    kill (pid, signum);
    if (signum == SIGKILL) {
        waitpid (pid, NULL, 0);
        for (int index = 0; index < env->child_count; index++)
            if (env->children [index] == pid)
                env->children [index] = 0;
    }
}

//  --------------------------------------------------------------------------
//  Calls through our client.

static envelope_t *
s_request (const char *verb, bool retryable, int timeout_ms)
{
    envelope_t *request = envelope_new_request (verb);
    assert (request);
    request->retryable = retryable;
    request->deadline = zclock_time () + timeout_ms;
    return request;
}

static envelope_t *
s_call (env_t *env, const char *service, const char *verb, bool retryable, int timeout_ms)
{
    envelope_t *request = s_request (verb, retryable, timeout_ms);
    return mdp_client_call (env->client, service, &request);
}

//  Send without waiting; returns the request's correlation id (to free),
//  for s_wait_reply.
static char *
s_send (env_t *env, const char *service, const char *verb, bool retryable, int timeout_ms)
{
    envelope_t *request = s_request (verb, retryable, timeout_ms);
    char *cid = strdup (request->cid);
    assert (mdp_client_send (env->client, service, &request) == 0);
    return cid;
}

static json_t *
s_status (env_t *env)
{
    envelope_t *reply = s_call (env, MDP_MMI_STATUS, "mmi.status", false, 2000);
    assert (reply && reply->status == 200 && reply->body);
    json_t *body = json_incref (reply->body);
    envelope_destroy (&reply);
    return body;
}

//  The status entry of a service, or NULL.
static json_t *
s_service_of (json_t *status, const char *name)
{
    size_t index;
    json_t *service;
    json_array_foreach (json_object_get (status, "services"), index, service)
        if (streq (json_string_value (json_object_get (service, "name")), name))
            return service;
    return NULL;
}

static int
s_service_int (json_t *status, const char *name, const char *field)
{
    json_t *service = s_service_of (status, name);
    return service ? (int) json_integer_value (json_object_get (service, field)) : 0;
}

//  Wait until the service has this many workers (and busy ones, when busy >= 0).
static bool
s_wait_workers (env_t *env, const char *service, int workers, int busy, int timeout_ms)
{
    int64_t until = zclock_mono () + timeout_ms;
    while (zclock_mono () < until) {
        json_t *status = s_status (env);
        int have = s_service_int (status, service, "workers");
        int idle = s_service_int (status, service, "idle");
        json_decref (status);
        if (have == workers && (busy < 0 || have - idle == busy))
            return true;
        zclock_sleep (20);
    }
    return false;
}

//  Wait for the reply with this cid from our client.
static envelope_t *
s_wait_reply (env_t *env, const char *cid, int timeout_ms)
{
    int64_t until = zclock_mono () + timeout_ms;
    while (zclock_mono () < until) {
        mdp_client_tick (env->client);
        envelope_t *reply;
        while ((reply = mdp_client_recv (env->client))) {
            if (streq (reply->cid, cid))
                return reply;
            envelope_destroy (&reply);
        }
        zmq_pollitem_t item = { zsock_resolve (mdp_client_sock (env->client)), 0, ZMQ_POLLIN, 0 };
        zmq_poll (&item, 1, 10);
    }
    return NULL;
}

static const char *
s_error_code (envelope_t *reply)
{
    return json_string_value (json_object_get (reply->error, "code"));
}

//  --------------------------------------------------------------------------
//  Raw DEALERs, to see what the broker itself sends.

static zsock_t *
s_raw_client (env_t *env, zcert_t *cert)
{
    zsock_t *sock = zsock_new (ZMQ_DEALER);
    assert (sock);
    zsock_set_linger (sock, 0);
    if (cert)
        curvekeys_apply_client (sock, cert, env->server_public);
    assert (zsock_connect (sock, "%s", env->endpoint) == 0);
    return sock;
}

static void
s_raw_send (zsock_t *sock, const char *protocol, const char *service, zframe_t *body)
{
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, "");
    zmsg_addstr (msg, protocol);
    zmsg_addstr (msg, service);
    if (body) {
        zframe_t *copy = zframe_dup (body);
        zmsg_append (msg, &copy);
    }
    assert (zmsg_send (&msg, sock) == 0);
}

static void
s_raw_request (zsock_t *sock, const char *service, envelope_t *request)
{
    zframe_t *frame = envelope_encode (request);
    s_raw_send (sock, MDPC_CLIENT, service, frame);
    zframe_destroy (&frame);
}

static zmsg_t *
s_raw_recv (zsock_t *sock, int timeout_ms)
{
    zsock_set_rcvtimeo (sock, timeout_ms);
    return zmsg_recv (sock);
}

//  Receive an envelope reply: checks the MDP frames.
static envelope_t *
s_raw_reply (zsock_t *sock, const char *service, int timeout_ms)
{
    zmsg_t *msg = s_raw_recv (sock, timeout_ms);
    if (!msg)
        return NULL;
    assert (zmsg_size (msg) == 4);
    assert (zframe_size (zmsg_first (msg)) == 0);
    assert (zframe_streq (zmsg_next (msg), MDPC_CLIENT));
    assert (zframe_streq (zmsg_next (msg), service));
    zframe_t *body = zmsg_next (msg);
    envelope_t *reply = envelope_decode (zframe_data (body), zframe_size (body), NULL);
    assert (reply && reply->kind == ENVELOPE_REPLY);
    zmsg_destroy (&msg);
    return reply;
}

//  ==========================================================================
//  The cases

static void
test_broker_selftest (bool verbose)
{
    if (!verbose)
        logline_init ("brokertest", LOGLINE_ERROR);
    mdp_broker_test (verbose);
}

//  --------------------------------------------------------------------------

static void
test_lru_spread_over_three_workers (bool verbose)
{
    env_t env;
    s_env_start (&env, verbose, NULL);
    s_spawn (&env, "echo", "W1", 0, NULL);
    s_spawn (&env, "echo", "W2", 0, NULL);
    s_spawn (&env, "echo", "W3", 0, NULL);
    assert (s_wait_workers (&env, "echo", 3, 0, 5000));
    zhashx_t *counts = zhashx_new ();
    zhashx_set_destructor (counts, NULL);
    for (int index = 0; index < 30; index++) {
        envelope_t *reply = s_call (&env, "echo", "echo.who", false, 2000);
        assert (reply && reply->status == 200);
        const char *worker = json_string_value (json_object_get (reply->body, "worker"));
        assert (worker);
        size_t count = (size_t) zhashx_lookup (counts, worker);
        zhashx_update (counts, worker, (void *) (count + 1));
        envelope_destroy (&reply);
    }
    assert (zhashx_size (counts) == 3);
    //  One at a time, least recently used first: a strict rotation.
    assert ((size_t) zhashx_lookup (counts, "W1") == 10);
    assert ((size_t) zhashx_lookup (counts, "W2") == 10);
    assert ((size_t) zhashx_lookup (counts, "W3") == 10);
    zhashx_destroy (&counts);
    s_env_stop (&env);
}

//  --------------------------------------------------------------------------

static void
test_killed_worker_retryable_request_served_by_another (bool verbose)
{
    env_t env;
    s_env_start (&env, verbose, NULL);
    pid_t slow = s_spawn (&env, "echo", "A", 8000, NULL);
    assert (s_wait_workers (&env, "echo", 1, 0, 5000));
    char *cid = s_send (&env, "echo", "echo.slow", true, 8000);
    assert (s_wait_workers (&env, "echo", 1, 1, 3000));       //  A holds it
    s_spawn (&env, "echo", "B", 0, NULL);
    assert (s_wait_workers (&env, "echo", 2, 1, 5000));
    int64_t killed_at = zclock_mono ();
    s_kill (&env, slow, SIGKILL);
    envelope_t *reply = s_wait_reply (&env, cid, 5000);
    assert (reply);
    assert (reply->status == 200);
    assert (streq (json_string_value (json_object_get (reply->body, "worker")), "B"));
    assert (zclock_mono () - killed_at < 2000);
    envelope_destroy (&reply);
    json_t *status = s_status (&env);
    assert (s_service_int (status, "echo", "requeued") == 1);
    assert (s_service_int (status, "echo", "workers") == 1);
    json_decref (status);
    free (cid);
    s_env_stop (&env);
}

//  --------------------------------------------------------------------------

static void
test_killed_worker_non_retryable_request_answers_error_at_once (bool verbose)
{
    env_t env;
    s_env_start (&env, verbose, NULL);
    pid_t slow = s_spawn (&env, "echo", "A", 8000, NULL);
    assert (s_wait_workers (&env, "echo", 1, 0, 5000));
    char *cid = s_send (&env, "echo", "echo.slow", false, 8000);
    assert (s_wait_workers (&env, "echo", 1, 1, 3000));
    int64_t killed_at = zclock_mono ();
    s_kill (&env, slow, SIGKILL);
    envelope_t *reply = s_wait_reply (&env, cid, 5000);
    assert (reply);
    assert (reply->status == 503);
    assert (streq (s_error_code (reply), "worker_lost"));
    //  well before the 8 s deadline: within about a heartbeat
    assert (zclock_mono () - killed_at < 2000);
    envelope_destroy (&reply);
    free (cid);
    s_env_stop (&env);
}

//  --------------------------------------------------------------------------

static void
test_silent_worker_expires (bool verbose)
{
    env_t env;
    s_env_start (&env, verbose, NULL);
    pid_t worker = s_spawn (&env, "echo", "A", 0, NULL);
    assert (s_wait_workers (&env, "echo", 1, 0, 5000));
    int64_t stopped_at = zclock_mono ();
    s_kill (&env, worker, SIGSTOP);
    assert (s_wait_workers (&env, "echo", 0, -1, 4000));
    int64_t elapsed = zclock_mono () - stopped_at;
    //  liveness (4) x heartbeat (250 ms) = 1 s, plus a tick
    assert (elapsed >= 900 && elapsed < 1600);
    json_t *status = s_status (&env);
    assert (json_array_size (json_object_get (status, "workers")) == 0);
    assert (json_integer_value (json_object_get (json_object_get (status, "counters"), "expired_workers")) == 1);
    json_decref (status);
    s_env_stop (&env);
}

//  --------------------------------------------------------------------------

static void
test_busy_worker_expires (bool verbose)
{
    env_t env;
    s_env_start (&env, verbose, NULL);
    pid_t worker = s_spawn (&env, "echo", "A", 5000, NULL);
    assert (s_wait_workers (&env, "echo", 1, 0, 5000));
    char *cid = s_send (&env, "echo", "echo.slow", false, 8000);
    assert (s_wait_workers (&env, "echo", 1, 1, 3000));
    int64_t stopped_at = zclock_mono ();
    s_kill (&env, worker, SIGSTOP);
    envelope_t *reply = s_wait_reply (&env, cid, 5000);
    assert (reply && reply->status == 503 && streq (s_error_code (reply), "worker_lost"));
    int64_t elapsed = zclock_mono () - stopped_at;
    assert (elapsed >= 900 && elapsed < 1600);
    envelope_destroy (&reply);
    json_t *status = s_status (&env);
    assert (s_service_int (status, "echo", "workers") == 0);
    json_decref (status);
    free (cid);
    s_env_stop (&env);
}

//  --------------------------------------------------------------------------

static void
test_mmi_service_answers_200_and_404 (bool verbose)
{
    env_t env;
    s_env_start (&env, verbose, NULL);
    s_spawn (&env, "echo", "A", 0, NULL);
    assert (s_wait_workers (&env, "echo", 1, 0, 5000));
    zsock_t *client = s_raw_client (&env, env.client_cert);
    const char *asks [][2] = { { MDP_MMI_SERVICE, "echo" }, { MDP_MMI_SERVICE, "nosuch" },
                               { "mmi.bogus", "echo" } };
    const char *answers [] = { "200", "404", "501" };
    for (int index = 0; index < 3; index++) {
        zframe_t *body = zframe_from (asks [index][1]);
        s_raw_send (client, MDPC_CLIENT, asks [index][0], body);
        zframe_destroy (&body);
        zmsg_t *msg = s_raw_recv (client, 2000);
        assert (msg && zmsg_size (msg) == 4);
        assert (zframe_size (zmsg_first (msg)) == 0);
        assert (zframe_streq (zmsg_next (msg), MDPC_CLIENT));
        assert (zframe_streq (zmsg_next (msg), asks [index][0]));
        assert (zframe_streq (zmsg_next (msg), answers [index]));
        zmsg_destroy (&msg);
    }
    //  Our envelopes may ask too.
    envelope_t *request = envelope_new_request ("mmi.service");
    request->body = json_pack ("{s:s}", "service", "echo");
    envelope_t *reply = mdp_client_call (env.client, MDP_MMI_SERVICE, &request);
    assert (reply && reply->status == 200);
    assert (json_integer_value (json_object_get (reply->body, "workers")) == 1);
    envelope_destroy (&reply);
    zsock_destroy (&client);
    s_env_stop (&env);
}

//  --------------------------------------------------------------------------

static void
test_plaintext_client_gets_no_answer (bool verbose)
{
    env_t env;
    s_env_start (&env, verbose, NULL);
    zsock_t *plain = s_raw_client (&env, NULL);
    zframe_t *body = zframe_from ("echo");
    s_raw_send (plain, MDPC_CLIENT, MDP_MMI_SERVICE, body);
    zframe_destroy (&body);
    zmsg_t *msg = s_raw_recv (plain, 1000);
    assert (msg == NULL);
    zsock_destroy (&plain);
    //  Our client without a certificate only meets its own deadline.
    mdp_client_t *client = mdp_client_new (env.endpoint, NULL, NULL);
    envelope_t *request = envelope_new_request ("mmi.status");
    request->deadline = zclock_time () + 500;
    envelope_t *reply = mdp_client_call (client, MDP_MMI_STATUS, &request);
    assert (reply && reply->status == 504);
    envelope_destroy (&reply);
    mdp_client_destroy (&client);
    //  while an admitted client is answered
    json_t *status = s_status (&env);
    json_decref (status);
    s_env_stop (&env);
}

//  --------------------------------------------------------------------------

//  A client with a key nobody admitted asks mmi.service.
static zsock_t *
s_stranger_asks (env_t *env, zcert_t *stranger)
{
    zsock_t *client = s_raw_client (env, stranger);
    zframe_t *body = zframe_from ("echo");
    s_raw_send (client, MDPC_CLIENT, MDP_MMI_SERVICE, body);
    zframe_destroy (&body);
    return client;
}

static void
test_unknown_key_client_gets_no_answer (bool verbose)
{
    env_t env;
    s_env_start (&env, verbose, NULL);
    zcert_t *stranger = zcert_new ();
    zsock_t *client = s_stranger_asks (&env, stranger);
    zmsg_t *msg = s_raw_recv (client, 1000);
    assert (msg == NULL);
    zsock_destroy (&client);
    zstr_send (env.auth, "STATS");
    char *stats = zstr_recv (env.auth);
    unsigned long allowed = 0, denied = 0;
    assert (stats && sscanf (stats, "%lu %lu", &allowed, &denied) == 2);
    assert (denied >= 1);
    free (stats);
    zcert_destroy (&stranger);
    s_env_stop (&env);
}

//  --------------------------------------------------------------------------

static void
s_tune_small_queue (mdp_broker_t *broker)
{
    mdp_broker_set_queue_max (broker, 3);
}

static void
test_queue_bound_answers_503 (bool verbose)
{
    env_t env;
    s_env_start (&env, verbose, s_tune_small_queue);
    s_spawn (&env, "echo", "A", 3000, NULL);
    assert (s_wait_workers (&env, "echo", 1, 0, 5000));
    zsock_t *client = s_raw_client (&env, env.client_cert);
    envelope_t *requests [5];
    for (int index = 0; index < 5; index++) {
        requests [index] = envelope_new_request ("echo.slow");
        requests [index]->deadline = zclock_time () + 8000;
        s_raw_request (client, "echo", requests [index]);
        if (index == 0)
            assert (s_wait_workers (&env, "echo", 1, 1, 3000));
    }
    //  one held by A, three queued, the fifth refused at once
    int64_t start = zclock_mono ();
    envelope_t *reply = s_raw_reply (client, "echo", 2000);
    assert (reply && reply->status == 503);
    assert (streq (s_error_code (reply), "service_unavailable"));
    assert (streq (reply->cid, requests [4]->cid));
    assert (zclock_mono () - start < 500);
    envelope_destroy (&reply);
    json_t *status = s_status (&env);
    assert (s_service_int (status, "echo", "queue") == 3);
    json_decref (status);
    for (int index = 0; index < 5; index++)
        envelope_destroy (&requests [index]);
    zsock_destroy (&client);
    s_env_stop (&env);
}

//  --------------------------------------------------------------------------

static void
test_queued_request_deadline_answers_504 (bool verbose)
{
    env_t env;
    s_env_start (&env, verbose, NULL);
    s_spawn (&env, "echo", "A", 3000, NULL);
    assert (s_wait_workers (&env, "echo", 1, 0, 5000));
    zsock_t *client = s_raw_client (&env, env.client_cert);
    envelope_t *first = envelope_new_request ("echo.slow");
    first->deadline = zclock_time () + 8000;
    s_raw_request (client, "echo", first);
    assert (s_wait_workers (&env, "echo", 1, 1, 3000));
    envelope_t *second = envelope_new_request ("echo.queued");
    second->deadline = zclock_time () + 500;
    int64_t start = zclock_mono ();
    s_raw_request (client, "echo", second);
    //  Only the broker can answer this: the raw client keeps no deadline.
    envelope_t *reply = s_raw_reply (client, "echo", 2000);
    int64_t elapsed = zclock_mono () - start;
    assert (reply && reply->status == 504);
    assert (streq (s_error_code (reply), "upstream_timeout"));
    assert (streq (reply->cid, second->cid));
    assert (elapsed >= 450 && elapsed < 1000);
    envelope_destroy (&reply);
    envelope_destroy (&first);
    envelope_destroy (&second);
    zsock_destroy (&client);
    s_env_stop (&env);
}

//  --------------------------------------------------------------------------

static void
test_no_worker_answers_503 (bool verbose)
{
    env_t env;
    s_env_start (&env, verbose, NULL);
    zsock_t *client = s_raw_client (&env, env.client_cert);
    envelope_t *request = envelope_new_request ("ghost.get");
    request->deadline = zclock_time () + 5000;
    int64_t start = zclock_mono ();
    s_raw_request (client, "ghost", request);
    envelope_t *reply = s_raw_reply (client, "ghost", 3000);
    int64_t elapsed = zclock_mono () - start;
    assert (reply && reply->status == 503);
    assert (streq (s_error_code (reply), "service_unavailable"));
    assert (streq (reply->cid, request->cid));
    //  after no_worker_wait_ms (1 s by default), long before the deadline
    assert (elapsed >= 900 && elapsed < 1600);
    envelope_destroy (&reply);
    envelope_destroy (&request);
    zsock_destroy (&client);
    s_env_stop (&env);
}

//  --------------------------------------------------------------------------

static void
test_malformed_frames_do_not_crash_the_broker (bool verbose)
{
    env_t env;
    s_env_start (&env, verbose, NULL);
    s_spawn (&env, "echo", "A", 0, NULL);
    assert (s_wait_workers (&env, "echo", 1, 0, 5000));
    zsock_t *client = s_raw_client (&env, env.client_cert);
    //  Client garbage: dropped.
    zstr_send (client, "x");
    zstr_sendx (client, "", NULL);
    zstr_sendx (client, "", MDPC_CLIENT, NULL);
    zstr_sendx (client, "", MDPC_CLIENT, "echo", NULL);
    zstr_sendx (client, "", MDPC_CLIENT, "", "body", NULL);
    zstr_sendx (client, "", MDPC_CLIENT, "bad\"name", "body", NULL);
    zstr_sendx (client, "", MDPC_CLIENT, "bad name", "body", NULL);
    zstr_sendx (client, "", "MDPX99", "echo", "body", NULL);
    zstr_sendx (client, "not empty", MDPC_CLIENT, "echo", "body", NULL);
    zstr_sendx (client, "", MDPC_CLIENT, "echo", "1", "2", "3", "4", "5", "6", "7", "8", "9", NULL);
    zmsg_t *many = zmsg_new ();
    for (int index = 0; index < 40; index++)
        zmsg_addstr (many, "");
    zmsg_send (&many, client);
    char longname [300];
    memset (longname, 'a', sizeof longname - 1);
    longname [sizeof longname - 1] = 0;
    zstr_sendx (client, "", MDPC_CLIENT, longname, "body", NULL);
    zmsg_t *msg = s_raw_recv (client, 300);
    assert (msg == NULL);
    //  A body that is not an envelope reaches the worker, which answers 400.
    zframe_t *junk = zframe_new ("\xc1\xc1\xc1", 3);
    s_raw_send (client, MDPC_CLIENT, "echo", junk);
    zframe_destroy (&junk);
    envelope_t *reply = s_raw_reply (client, "echo", 2000);
    assert (reply && reply->status == 400 && streq (s_error_code (reply), "invalid_envelope"));
    envelope_destroy (&reply);

    //  Worker garbage: each answered with DISCONNECT.
    zsock_t *rogue = s_raw_client (&env, env.worker_cert);
    zstr_sendx (rogue, "", MDPW_WORKER, MDPW_REPLY, "client", "", "body", NULL);
    zstr_sendx (rogue, "", MDPW_WORKER, MDPW_HEARTBEAT, NULL);
    zstr_sendx (rogue, "", MDPW_WORKER, MDPW_READY, NULL);
    zstr_sendx (rogue, "", MDPW_WORKER, MDPW_READY, "mmi.fake", NULL);
    zstr_sendx (rogue, "", MDPW_WORKER, "\011", NULL);
    zstr_sendx (rogue, "", MDPW_WORKER, "too long", NULL);
    for (int index = 0; index < 6; index++) {
        msg = s_raw_recv (rogue, 2000);
        assert (msg && zmsg_size (msg) == 3);
        assert (zframe_size (zmsg_first (msg)) == 0);
        assert (zframe_streq (zmsg_next (msg), MDPW_WORKER));
        assert (zframe_streq (zmsg_next (msg), MDPW_DISCONNECT));
        zmsg_destroy (&msg);
    }
    //  A worker that says READY then garbage is dropped.
    zstr_sendx (rogue, "", MDPW_WORKER, MDPW_READY, "echo", NULL);
    assert (s_wait_workers (&env, "echo", 2, 0, 2000));
    zstr_sendx (rogue, "", MDPW_WORKER, MDPW_REPLY, "nobody", "", "body", NULL);
    msg = s_raw_recv (rogue, 2000);
    assert (msg && zframe_streq (zmsg_last (msg), MDPW_DISCONNECT));
    zmsg_destroy (&msg);
    assert (s_wait_workers (&env, "echo", 1, 0, 2000));
    zsock_destroy (&rogue);

    //  And the broker still works.
    reply = s_call (&env, "echo", "echo.after", false, 2000);
    assert (reply && reply->status == 200);
    envelope_destroy (&reply);
    json_t *status = s_status (&env);
    json_t *counters = json_object_get (status, "counters");
    assert (json_integer_value (json_object_get (counters, "client_errors")) >= 11);
    assert (json_integer_value (json_object_get (counters, "worker_errors")) >= 7);
    json_decref (status);
    zsock_destroy (&client);
    s_env_stop (&env);
}

//  --------------------------------------------------------------------------

static void
test_mmi_status_reports_services_and_workers (bool verbose)
{
    env_t env;
    s_env_start (&env, verbose, NULL);
    s_spawn (&env, "echo", "E1", 0, "echo-1");
    s_spawn (&env, "echo", "E2", 0, "echo-2");
    s_spawn (&env, "other", "O1", 0, "other-1");
    assert (s_wait_workers (&env, "echo", 2, 0, 5000));
    assert (s_wait_workers (&env, "other", 1, 0, 5000));
    for (int index = 0; index < 4; index++) {
        envelope_t *reply = s_call (&env, "echo", "echo.x", false, 2000);
        assert (reply && reply->status == 200);
        envelope_destroy (&reply);
    }
    json_t *status = s_status (&env);
    json_t *echo = s_service_of (status, "echo");
    assert (echo);
    assert (json_integer_value (json_object_get (echo, "workers")) == 2);
    assert (json_integer_value (json_object_get (echo, "idle")) == 2);
    assert (json_integer_value (json_object_get (echo, "queue")) == 0);
    assert (json_integer_value (json_object_get (echo, "requests")) == 4);
    assert (json_integer_value (json_object_get (echo, "replies")) == 4);
    assert (json_object_get (echo, "failures") && json_object_get (echo, "expired")
            && json_object_get (echo, "requeued"));
    assert (s_service_int (status, "other", "workers") == 1);
    json_t *workers = json_object_get (status, "workers");
    assert (json_array_size (workers) == 3);
    size_t index;
    json_t *worker;
    int served = 0;
    json_array_foreach (workers, index, worker) {
        const char *id = json_string_value (json_object_get (worker, "id"));
        const char *service = json_string_value (json_object_get (worker, "service"));
        assert (id && service);
        if (streq (id, "echo-1") || streq (id, "echo-2")) {
            assert (streq (service, "echo"));
            served += (int) json_integer_value (json_object_get (worker, "served"));
        }
        else
            assert (streq (id, "other-1") && streq (service, "other"));
        assert (json_is_true (json_object_get (worker, "idle")));
        assert (json_integer_value (json_object_get (worker, "expires_in_ms")) > 0);
    }
    assert (served == 4);
    assert (json_integer_value (json_object_get (status, "uptime_s")) >= 0);
    assert (json_integer_value (json_object_get (json_object_get (status, "counters"), "requests")) >= 4);
    json_decref (status);

    //  The metrics, as Prometheus text.
    envelope_t *reply = s_call (&env, MDP_MMI_METRICS, "mmi.metrics", false, 2000);
    assert (reply && reply->status == 200);
    const char *text = json_string_value (json_object_get (reply->body, "text"));
    assert (text);
    if (verbose)
        printf ("%s", text);
    assert (strstr (text, "comptoir_broker_requests_total{service=\"echo\"} 4"));
    assert (strstr (text, "comptoir_broker_workers{service=\"echo\"} 2"));
    assert (strstr (text, "comptoir_broker_request_seconds"));
    envelope_destroy (&reply);

    //  The broker counts in the service and adds to the registry when it
    //  renders: the series stay exact from one rendering to the next.
    for (int index = 0; index < 2; index++) {
        reply = s_call (&env, "echo", "echo.more", false, 2000);
        assert (reply && reply->status == 200);
        envelope_destroy (&reply);
    }
    reply = s_call (&env, MDP_MMI_METRICS, "mmi.metrics", false, 2000);
    assert (reply && reply->status == 200);
    text = json_string_value (json_object_get (reply->body, "text"));
    assert (text);
    assert (strstr (text, "comptoir_broker_requests_total{service=\"echo\"} 6"));
    assert (strstr (text, "comptoir_broker_replies_total{service=\"echo\"} 6"));
    envelope_destroy (&reply);
    s_env_stop (&env);
}

//  --------------------------------------------------------------------------

static void
test_foreign_peers_interoperate (bool verbose)
{
    env_t env;
    s_env_start (&env, verbose, NULL);
    //  A worker and a client that know nothing of our envelopes.
    zsock_t *worker = s_raw_client (&env, env.worker_cert);
    zstr_sendx (worker, "", MDPW_WORKER, MDPW_READY, "raw", NULL);
    assert (s_wait_workers (&env, "raw", 1, 0, 2000));
    zsock_t *client = s_raw_client (&env, env.client_cert);
    zstr_sendx (client, "", MDPC_CLIENT, "raw", "ping", "two", NULL);
    zmsg_t *msg = NULL;
    do {
        zmsg_destroy (&msg);
        msg = s_raw_recv (worker, 2000);
        assert (msg);
    } while (zframe_streq (zmsg_last (msg), MDPW_HEARTBEAT));
    //  [empty] [MDPW01] [REQUEST] [client] [empty] [ping] [two]
    assert (zmsg_size (msg) == 7);
    zframe_t *command = zmsg_first (msg);
    command = zmsg_next (msg);
    command = zmsg_next (msg);
    assert (zframe_streq (command, MDPW_REQUEST));
    zframe_reset (command, MDPW_REPLY, 1);
    zframe_t *two = zmsg_last (msg);
    zmsg_remove (msg, two);
    zframe_destroy (&two);
    zframe_reset (zmsg_last (msg), "pong", 4);
    zmsg_send (&msg, worker);
    msg = s_raw_recv (client, 2000);
    assert (msg && zmsg_size (msg) == 4);
    assert (zframe_streq (zmsg_last (msg), "pong"));
    zmsg_destroy (&msg);
    //  status, asked without an envelope, comes back as JSON text
    zstr_sendx (client, "", MDPC_CLIENT, MDP_MMI_STATUS, "", NULL);
    msg = s_raw_recv (client, 2000);
    assert (msg && zmsg_size (msg) == 4);
    char *text = zframe_strdup (zmsg_last (msg));
    json_t *status = json_loads (text, 0, NULL);
    assert (status && s_service_int (status, "raw", "replies") == 1);
    json_decref (status);
    free (text);
    zmsg_destroy (&msg);
    zsock_destroy (&client);
    zsock_destroy (&worker);
    s_env_stop (&env);
}

//  --------------------------------------------------------------------------

static void
test_restarted_worker_with_same_identity_takes_over (bool verbose)
{
    env_t env;
    s_env_start (&env, verbose, NULL);
    pid_t first = s_spawn (&env, "echo", "A", 0, "echo-A");
    assert (s_wait_workers (&env, "echo", 1, 0, 5000));
    s_kill (&env, first, SIGKILL);
    s_spawn (&env, "echo", "A2", 0, "echo-A");
    //  The new process takes over the identity; READY on a known identity
    //  replaces the old worker, so there is never more than one.
    int64_t until = zclock_mono () + 3000;
    bool served_by_new = false;
    while (!served_by_new && zclock_mono () < until) {
        envelope_t *reply = s_call (&env, "echo", "echo.who", false, 1500);
        assert (reply);
        served_by_new = reply->status == 200
                     && streq (json_string_value (json_object_get (reply->body, "worker")), "A2");
        envelope_destroy (&reply);
    }
    assert (served_by_new);
    json_t *status = s_status (&env);
    assert (s_service_int (status, "echo", "workers") == 1);
    json_decref (status);
    s_env_stop (&env);
}

//  --------------------------------------------------------------------------

static void
test_standalone_broker_runs (bool verbose)
{
    env_t env;
    memset (&env, 0, sizeof env);
    if (!verbose)
        logline_init ("brokertest", LOGLINE_ERROR);
    s_find_helpers ();
    char program [600];
    snprintf (program, sizeof program, "%s/../broker/comptoir-broker", s_helper_dir);
    assert (access (program, X_OK) == 0);
    snprintf (env.dir, sizeof env.dir, "/tmp/brokertest.XXXXXX");
    assert (mkdtemp (env.dir));
    snprintf (env.keys, sizeof env.keys, "%s/keys", env.dir);
    //  a free port
    zsock_t *probe = zsock_new (ZMQ_ROUTER);
    int port = zsock_bind (probe, "tcp://127.0.0.1:*");
    assert (port > 0);
    zsock_destroy (&probe);
    snprintf (env.endpoint, sizeof env.endpoint, "tcp://127.0.0.1:%d", port);
    char config [400];
    snprintf (config, sizeof config, "%s/broker.cfg", env.dir);
    FILE *file = fopen (config, "w");
    assert (file);
    fprintf (file, "keys\n    dir = \"%s\"\nbroker\n    bind = \"%s\"\n", env.keys, env.endpoint);
    fclose (file);
    env.client_cert = curvekeys_ensure (env.keys, "client", true);
    assert (env.client_cert);

    pid_t pid = fork ();
    assert (pid >= 0);
    if (pid == 0) {
        prctl (PR_SET_PDEATHSIG, SIGKILL);
        if (!verbose) {
            int null = open ("/dev/null", O_WRONLY);
            if (null >= 0)
                dup2 (null, 2);
        }
        execl (program, program, "--config", config, (char *) NULL);
        _exit (127);
    }
    //  The certificate is written public half first, secret half last: once
    //  the secret file is there, the public one is whole.
    char broker_public [400], broker_secret [420];
    snprintf (broker_public, sizeof broker_public, "%s/broker", env.keys);
    snprintf (broker_secret, sizeof broker_secret, "%s_secret", broker_public);
    for (int turn = 0; turn < 250 && !env.server_public; turn++) {
        zclock_sleep (20);
        if (zsys_file_exists (broker_secret))
            env.server_public = curvekeys_public_of (broker_public);
    }
    assert (env.server_public);
    zsock_t *client = s_raw_client (&env, env.client_cert);
    zstr_sendx (client, "", MDPC_CLIENT, MDP_MMI_SERVICE, "echo", NULL);
    //  The first answer waits for the process to start and bind: generous
    //  on a loaded machine (a CI run once needed more than 3 s).
    zmsg_t *msg = s_raw_recv (client, 10000);
    assert (msg && zframe_streq (zmsg_last (msg), "404"));
    zmsg_destroy (&msg);
    //  SIGHUP reloads the keys and the broker goes on.
    kill (pid, SIGHUP);
    zclock_sleep (100);
    zstr_sendx (client, "", MDPC_CLIENT, MDP_MMI_SERVICE, "echo", NULL);
    msg = s_raw_recv (client, 3000);
    assert (msg && zframe_streq (zmsg_last (msg), "404"));
    zmsg_destroy (&msg);
    zsock_destroy (&client);
    //  SIGTERM stops it cleanly.
    kill (pid, SIGTERM);
    int status = 0;
    int64_t until = zclock_mono () + 3000;
    pid_t done = 0;
    while ((done = waitpid (pid, &status, WNOHANG)) == 0 && zclock_mono () < until)
        zclock_sleep (20);
    if (done == 0) {
        kill (pid, SIGKILL);
        waitpid (pid, NULL, 0);
    }
    assert (done == pid && WIFEXITED (status) && WEXITSTATUS (status) == 0);
    //  and --help answers
    char command [700];
    snprintf (command, sizeof command, "%s --help > /dev/null", program);
    assert (system (command) == 0);
    zcert_destroy (&env.client_cert);
    free (env.server_public);
    zdir_t *dir = zdir_new (env.dir, NULL);
    if (dir) {
        zdir_remove (dir, true);
        zdir_destroy (&dir);
    }
}

//  --------------------------------------------------------------------------

static void
test_requeued_request_goes_to_the_front (bool verbose)
{
    env_t env;
    s_env_start (&env, verbose, NULL);
    pid_t slow = s_spawn (&env, "echo", "A", 8000, NULL);
    assert (s_wait_workers (&env, "echo", 1, 0, 5000));
    char *first_cid = s_send (&env, "echo", "echo.first", true, 8000);
    assert (s_wait_workers (&env, "echo", 1, 1, 3000));
    char *second_cid = s_send (&env, "echo", "echo.second", false, 8000);
    //  wait until the second is queued behind the first
    int64_t until = zclock_mono () + 3000;
    while (zclock_mono () < until) {
        json_t *status = s_status (&env);
        int queue = s_service_int (status, "echo", "queue");
        json_decref (status);
        if (queue == 1)
            break;
        zclock_sleep (10);
    }
    s_kill (&env, slow, SIGKILL);
    assert (s_wait_workers (&env, "echo", 0, -1, 3000));     //  A's loss noticed
    s_spawn (&env, "echo", "B", 0, NULL);
    //  B serves the requeued first request before the one that waited
    envelope_t *replies [2] = { NULL, NULL };
    int got = 0;
    until = zclock_mono () + 5000;
    while (got < 2 && zclock_mono () < until) {
        mdp_client_tick (env.client);
        envelope_t *reply = mdp_client_recv (env.client);
        if (reply)
            replies [got++] = reply;
        else
            zclock_sleep (5);
    }
    assert (got == 2);
    assert (streq (replies [0]->cid, first_cid) && replies [0]->status == 200);
    assert (streq (replies [1]->cid, second_cid) && replies [1]->status == 200);
    envelope_destroy (&replies [0]);
    envelope_destroy (&replies [1]);
    free (first_cid);
    free (second_cid);
    s_env_stop (&env);
}

//  --------------------------------------------------------------------------

static void
s_tune_short_linger (mdp_broker_t *broker)
{
    mdp_broker_set_service_linger (broker, 200);
    mdp_broker_set_no_worker_wait (broker, 100);
}

static void
test_unused_service_is_freed (bool verbose)
{
    env_t env;
    s_env_start (&env, verbose, s_tune_short_linger);
    pid_t worker = s_spawn (&env, "echo", "A", 0, NULL);
    assert (s_wait_workers (&env, "echo", 1, 0, 5000));
    s_kill (&env, worker, SIGKILL);
    //  a request for a service nobody serves creates it, answers 503, then goes
    envelope_t *reply = s_call (&env, "ghost", "ghost.get", false, 3000);
    assert (reply && reply->status == 503);
    envelope_destroy (&reply);
    int64_t until = zclock_mono () + 3000;
    bool freed = false;
    while (!freed && zclock_mono () < until) {
        json_t *status = s_status (&env);
        freed = s_service_of (status, "echo") == NULL && s_service_of (status, "ghost") == NULL;
        json_decref (status);
        zclock_sleep (20);
    }
    assert (freed);
    //  what the freed services counted is still in the metrics
    reply = s_call (&env, MDP_MMI_METRICS, "mmi.metrics", false, 2000);
    assert (reply && reply->status == 200);
    const char *text = json_string_value (json_object_get (reply->body, "text"));
    assert (text && strstr (text, "comptoir_broker_requests_total{service=\"ghost\"} 1"));
    envelope_destroy (&reply);
    s_env_stop (&env);
}

//  --------------------------------------------------------------------------

static void
test_many_requests_all_answered (bool verbose)
{
    env_t env;
    s_env_start (&env, verbose, NULL);
    s_spawn (&env, "echo", "W1", 0, NULL);
    s_spawn (&env, "echo", "W2", 0, NULL);
    s_spawn (&env, "echo", "W3", 0, NULL);
    assert (s_wait_workers (&env, "echo", 3, 0, 5000));
    int total = 3000;
    int64_t start = zclock_mono ();
    for (int index = 0; index < total; index++) {
        envelope_t *request = s_request ("echo.many", false, 10000);
        assert (mdp_client_send (env.client, "echo", &request) == 0);
    }
    int answered = 0;
    zhashx_t *counts = zhashx_new ();
    zhashx_set_destructor (counts, NULL);
    while (answered < total && zclock_mono () - start < 10000) {
        mdp_client_tick (env.client);
        envelope_t *reply = mdp_client_recv (env.client);
        if (!reply) {
            zmq_pollitem_t item = { zsock_resolve (mdp_client_sock (env.client)), 0, ZMQ_POLLIN, 0 };
            zmq_poll (&item, 1, 10);
            continue;
        }
        assert (reply->status == 200);
        const char *worker = json_string_value (json_object_get (reply->body, "worker"));
        size_t count = (size_t) zhashx_lookup (counts, worker);
        zhashx_update (counts, worker, (void *) (count + 1));
        answered++;
        envelope_destroy (&reply);
    }
    assert (answered == total);
    assert (mdp_client_pending (env.client) == 0);
    //  every worker took a share: least recently used first spreads the
    //  load, though a worker the scheduler leaves waiting takes less (a
    //  loaded CI machine once gave one worker under a sixth)
    assert (zhashx_size (counts) == 3);
    size_t *share = (size_t *) zhashx_first (counts);
    while (share) {
        assert ((size_t) share > (size_t) total / 15);
        share = (size_t *) zhashx_next (counts);
    }
    if (verbose)
        printf ("%d requests in %" PRId64 " ms\n", total, zclock_mono () - start);
    zhashx_destroy (&counts);
    s_env_stop (&env);
}

//  --------------------------------------------------------------------------
//  Random messages with plausible prefixes, as a client and as a worker.

static void
test_random_frames_do_not_crash_the_broker (bool verbose)
{
    env_t env;
    s_env_start (&env, verbose, NULL);
    s_spawn (&env, "echo", "A", 0, NULL);
    assert (s_wait_workers (&env, "echo", 1, 0, 5000));
    zsock_t *peers [2] = { s_raw_client (&env, env.client_cert), s_raw_client (&env, env.worker_cert) };
    const char *headers [] = { MDPC_CLIENT, MDPW_WORKER, "MDPC02", "" };
    const char *words [] = { "", "echo", "mmi.service", "mmi.status", MDPW_READY, MDPW_REQUEST,
                             MDPW_REPLY, MDPW_HEARTBEAT, MDPW_DISCONNECT, "\xc1", "\x81\xa1" };
    srandom (42);
    for (int turn = 0; turn < 2000; turn++) {
        zmsg_t *msg = zmsg_new ();
        int frames = (int) (random () % 9);
        for (int index = 0; index < frames; index++) {
            int pick = (int) (random () % 4);
            if (index == 0 && pick < 3)
                zmsg_addstr (msg, "");
            else
            if (index == 1 && pick < 3)
                zmsg_addstr (msg, headers [random () % 4]);
            else
            if (pick < 3)
                zmsg_addstr (msg, words [random () % 11]);
            else {
                byte noise [64];
                size_t size = (size_t) (random () % sizeof noise);
                for (size_t at = 0; at < size; at++)
                    noise [at] = (byte) random ();
                zmsg_addmem (msg, noise, size);
            }
        }
        zsock_t *peer = peers [turn % 2];
        if (zmsg_size (msg) > 0)
            zmsg_send (&msg, peer);
        zmsg_destroy (&msg);
        //  drain whatever comes back
        while (zsock_events (peer) & ZMQ_POLLIN) {
            zmsg_t *junk = zmsg_recv (peer);
            zmsg_destroy (&junk);
        }
    }
    zsock_destroy (&peers [0]);
    zsock_destroy (&peers [1]);
    envelope_t *reply = NULL;
    for (int turn = 0; turn < 50 && !reply; turn++) {
        reply = s_call (&env, "echo", "echo.after", false, 2000);
        if (reply && reply->status != 200)
            envelope_destroy (&reply);      //  the rogue worker may have been chosen
    }
    assert (reply && reply->status == 200);
    envelope_destroy (&reply);
    s_env_stop (&env);
}

//  --------------------------------------------------------------------------

static zmsg_t *
s_raw_worker_request (zsock_t *worker)
{
    zmsg_t *msg = NULL;
    do {
        zmsg_destroy (&msg);
        msg = s_raw_recv (worker, 3000);
        assert (msg);
    } while (zmsg_size (msg) == 3 && zframe_streq (zmsg_last (msg), MDPW_HEARTBEAT));
    return msg;
}

static void
test_ready_again_requeues_the_held_request (bool verbose)
{
    env_t env;
    s_env_start (&env, verbose, NULL);
    zsock_t *worker = s_raw_client (&env, env.worker_cert);
    zstr_sendx (worker, "", MDPW_WORKER, MDPW_READY, "echo", NULL);
    assert (s_wait_workers (&env, "echo", 1, 0, 2000));
    char *cid = s_send (&env, "echo", "echo.once", true, 5000);
    zmsg_t *first = s_raw_worker_request (worker);
    assert (zmsg_size (first) == 6);
    //  The worker restarts without a word: READY again on the same pipe.
    zstr_sendx (worker, "", MDPW_WORKER, MDPW_READY, "echo", NULL);
    zmsg_t *second = s_raw_worker_request (worker);
    assert (zmsg_size (second) == 6);
    assert (zframe_eq (zmsg_last (first), zmsg_last (second)));
    //  answer it: [empty] [MDPW01] [REPLY] [client] [empty] [body]
    envelope_t *decoded = envelope_decode (zframe_data (zmsg_last (second)),
                                           zframe_size (zmsg_last (second)), NULL);
    assert (decoded && streq (decoded->cid, cid));
    envelope_t *reply = envelope_new_reply (decoded, 200, json_pack ("{s:s}", "worker", "raw"));
    zframe_t *encoded = envelope_encode (reply);
    zframe_t *command = zmsg_first (second);
    command = zmsg_next (second);
    command = zmsg_next (second);
    zframe_reset (command, MDPW_REPLY, 1);
    zframe_t *old = zmsg_last (second);
    zmsg_remove (second, old);
    zframe_destroy (&old);
    zmsg_append (second, &encoded);
    zmsg_send (&second, worker);
    envelope_t *answer = s_wait_reply (&env, cid, 3000);
    assert (answer && answer->status == 200);
    envelope_destroy (&answer);
    json_t *status = s_status (&env);
    assert (s_service_int (status, "echo", "requeued") == 1);
    assert (s_service_int (status, "echo", "workers") == 1);
    json_decref (status);
    envelope_destroy (&reply);
    envelope_destroy (&decoded);
    zmsg_destroy (&first);
    free (cid);
    zsock_destroy (&worker);
    s_env_stop (&env);
}

//  --------------------------------------------------------------------------
//  A handler that waits on another context for longer than the broker's
//  silence limit (liveness x heartbeat, 1 s) keeps its worker with
//  mdp_worker_keepalive; the same wait without it loses the worker.

static void
s_blocking_handler (bool verbose, const char *blocking, int expect_status)
{
    env_t env;
    s_env_start (&env, verbose, NULL);
    env.blocking = blocking;
    s_spawn (&env, "echo", "A", 2500, NULL);
    assert (s_wait_workers (&env, "echo", 1, 0, 5000));
    char *cid = s_send (&env, "echo", "echo.slow", false, 8000);
    envelope_t *reply = s_wait_reply (&env, cid, 6000);
    assert (reply && reply->status == expect_status);
    envelope_destroy (&reply);
    json_t *status = s_status (&env);
    int64_t expired = json_integer_value (json_object_get (json_object_get (status, "counters"),
                                                           "expired_workers"));
    assert (expired == (expect_status == 200 ? 0 : 1));
    json_decref (status);
    free (cid);
    s_env_stop (&env);
}

static void
test_blocked_handler_that_beats_keeps_its_worker (bool verbose)
{
    s_blocking_handler (verbose, "beat", 200);
}

static void
test_blocked_handler_that_does_not_beat_loses_its_worker (bool verbose)
{
    s_blocking_handler (verbose, "silent", 503);
}

//  --------------------------------------------------------------------------
//  mmi.events: the broker's socket events, as comptoir-top reads them.

static void
test_broker_events_selftest (bool verbose)
{
    if (!verbose)
        logline_init ("brokertest", LOGLINE_ERROR);
    broker_events_test (verbose);
}

//  The events after since, through our client.
static json_t *
s_events (env_t *env, uint64_t since)
{
    envelope_t *request = s_request ("mmi.events", false, 2000);
    request->body = json_pack ("{s:I}", "since", (json_int_t) since);
    envelope_t *reply = mdp_client_call (env->client, MDP_MMI_EVENTS, &request);
    assert (reply && reply->status == 200 && reply->body);
    json_t *body = json_incref (reply->body);
    envelope_destroy (&reply);
    return body;
}

//  Wait for an event of this kind (and address, and key, when not NULL).
static json_t *
s_wait_event (env_t *env, const char *kind, const char *address, const char *key, int timeout_ms)
{
    int64_t until = zclock_mono () + timeout_ms;
    while (zclock_mono () < until) {
        json_t *answer = s_events (env, 0);
        size_t index;
        json_t *event;
        json_array_foreach (json_object_get (answer, "events"), index, event) {
            const char *its_key = json_string_value (json_object_get (event, "key"));
            if (streq (json_string_value (json_object_get (event, "kind")), kind)
            &&  (!address || streq (json_string_value (json_object_get (event, "address")), address))
            &&  (!key || (its_key && streq (its_key, key)))) {
                json_t *found = json_incref (event);
                json_decref (answer);
                return found;
            }
        }
        json_decref (answer);
        zclock_sleep (50);
    }
    return NULL;
}

static void
test_mmi_events_show_a_plaintext_peer_with_its_address (bool verbose)
{
    env_t env;
    s_env_start (&env, verbose, NULL);
    //  A plaintext ZeroMQ peer, by hand: a ZMTP 3.0 greeting offering NULL
    //  (what a DEALER without CURVE sends), after a pause so the broker has
    //  read the connection's ACCEPTED while it is open.
    int port = atoi (strrchr (env.endpoint, ':') + 1);
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    assert (fd >= 0);
    struct sockaddr_in server = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) port) };
    inet_pton (AF_INET, "127.0.0.1", &server.sin_addr);
    assert (connect (fd, (struct sockaddr *) &server, sizeof server) == 0);
    struct sockaddr_in local;
    socklen_t length = sizeof local;
    assert (getsockname (fd, (struct sockaddr *) &local, &length) == 0);
    char address [64];
    snprintf (address, sizeof address, "127.0.0.1:%d", ntohs (local.sin_port));
    zclock_sleep (300);
    byte greeting [64] = { 0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0x7F, 3, 0, 'N', 'U', 'L', 'L' };
    assert (write (fd, greeting, sizeof greeting) == (ssize_t) sizeof greeting);
    //  The broker hangs up on it.
    struct timeval timeout = { .tv_sec = 2 };
    setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    byte buffer [256];
    ssize_t got;
    while ((got = read (fd, buffer, sizeof buffer)) > 0)
        ;
    assert (got == 0);
    close (fd);

    json_t *accepted = s_wait_event (&env, "accepted", address, NULL, 3000);
    assert (accepted);
    json_t *failed = s_wait_event (&env, "handshake_failed_protocol", address, NULL, 3000);
    assert (failed);
    if (verbose)
        printf ("%s\n", json_dumps (failed, JSON_COMPACT));
    assert (strstr (json_string_value (json_object_get (failed, "detail")), "mechanism"));
    assert (json_integer_value (json_object_get (failed, "seq"))
            > json_integer_value (json_object_get (accepted, "seq")));
    assert (json_integer_value (json_object_get (failed, "at")) > 1600000000000LL);
    json_decref (accepted);
    json_decref (failed);
    s_env_stop (&env);
}

static void
test_mmi_events_show_a_zap_denial_with_key_and_address (bool verbose)
{
    env_t env;
    s_env_start (&env, verbose, NULL);
    zcert_t *stranger = zcert_new ();
    zsock_t *client = s_stranger_asks (&env, stranger);
    json_t *denied = s_wait_event (&env, "zap_denied", "127.0.0.1", zcert_public_txt (stranger), 3000);
    assert (denied);
    assert (strstr (json_string_value (json_object_get (denied, "detail")), "not allowed"));
    json_t *failed = s_wait_event (&env, "handshake_failed_auth", NULL, NULL, 3000);
    assert (failed);
    //  Our own client was admitted, with its key.
    json_t *allowed = s_wait_event (&env, "zap_allowed", "127.0.0.1",
                                    zcert_public_txt (env.client_cert), 3000);
    assert (allowed);
    assert (s_wait_event (&env, "handshake_succeeded", NULL, NULL, 3000));
    json_decref (denied);
    json_decref (failed);
    json_decref (allowed);
    zsock_destroy (&client);
    zcert_destroy (&stranger);
    s_env_stop (&env);
}

static void
s_tune_few_events (mdp_broker_t *broker)
{
    assert (mdp_broker_set_events_max (broker, 5) == 0);
}

static void
test_mmi_events_ring_is_bounded_and_since_gives_the_rest (bool verbose)
{
    env_t env;
    s_env_start (&env, verbose, s_tune_few_events);
    //  Three more admitted clients: accepted, zap_allowed and
    //  handshake_succeeded each, then disconnected.
    for (int index = 0; index < 3; index++) {
        zsock_t *client = s_raw_client (&env, env.client_cert);
        zframe_t *body = zframe_from ("echo");
        s_raw_send (client, MDPC_CLIENT, MDP_MMI_SERVICE, body);
        zframe_destroy (&body);
        zmsg_t *msg = s_raw_recv (client, 2000);
        assert (msg);
        zmsg_destroy (&msg);
        zsock_destroy (&client);
    }
    assert (s_wait_event (&env, "disconnected", NULL, NULL, 3000));
    zclock_sleep (300);             //  nothing else connects now
    json_t *answer = s_events (&env, 0);
    json_int_t last = json_integer_value (json_object_get (answer, "last"));
    json_int_t first = json_integer_value (json_object_get (answer, "first"));
    assert (last >= 12);
    assert (json_array_size (json_object_get (answer, "events")) == 5);
    assert (first == last - 4);
    json_decref (answer);
    answer = s_events (&env, (uint64_t) last - 2);
    json_t *events = json_object_get (answer, "events");
    assert (json_array_size (events) == 2);
    assert (json_integer_value (json_object_get (json_array_get (events, 0), "seq")) == last - 1);
    json_decref (answer);
    answer = s_events (&env, (uint64_t) last);
    assert (json_array_size (json_object_get (answer, "events")) == 0);
    assert (json_integer_value (json_object_get (answer, "last")) == last);
    json_decref (answer);
    //  A since that is not a count is refused.
    envelope_t *request = s_request ("mmi.events", false, 2000);
    request->body = json_pack ("{s:s}", "since", "yesterday");
    envelope_t *reply = mdp_client_call (env.client, MDP_MMI_EVENTS, &request);
    assert (reply && reply->status == 400);
    envelope_destroy (&reply);
    s_env_stop (&env);
}

static void
test_mmi_status_and_events_report_rates_latencies_and_workers (bool verbose)
{
    env_t env;
    s_env_start (&env, verbose, NULL);
    pid_t worker_pid = s_spawn (&env, "echo", "E1", 20, "echo-1");
    assert (s_wait_workers (&env, "echo", 1, 0, 5000));
    json_t *status = s_status (&env);
    assert (json_is_null (json_object_get (s_service_of (status, "echo"), "p50_ms")));
    json_decref (status);
    for (int index = 0; index < 10; index++) {
        envelope_t *reply = s_call (&env, "echo", "echo.x", false, 2000);
        assert (reply && reply->status == 200);
        envelope_destroy (&reply);
    }
    status = s_status (&env);
    json_t *echo = s_service_of (status, "echo");
    double p50 = json_real_value (json_object_get (echo, "p50_ms"));
    double p99 = json_real_value (json_object_get (echo, "p99_ms"));
    if (verbose)
        printf ("rps %.1f p50 %.1f p99 %.1f\n", json_real_value (json_object_get (echo, "rps")), p50, p99);
    assert (p50 >= 19 && p50 < 1000);
    assert (p99 >= p50);
    assert (json_integer_value (json_object_get (echo, "latency_samples")) == 10);
    assert (json_real_value (json_object_get (echo, "rps")) > 0);
    assert (streq (json_string_value (json_object_get (status, "ha")), "single"));
    json_t *worker = json_array_get (json_object_get (status, "workers"), 0);
    assert (streq (json_string_value (json_object_get (worker, "address")), "127.0.0.1"));
    json_int_t seen = json_integer_value (json_object_get (worker, "seen_ms_ago"));
    assert (seen >= 0 && seen < 2000);
    assert (json_integer_value (json_object_get (worker, "age_ms")) >= seen);
    json_decref (status);
    //  Workers coming and going are in the event stream too.
    json_t *ready = s_wait_event (&env, "worker_ready", "127.0.0.1", NULL, 2000);
    assert (ready && streq (json_string_value (json_object_get (ready, "detail")), "echo-1 for echo"));
    json_decref (ready);
    s_kill (&env, worker_pid, SIGKILL);
    json_t *left = s_wait_event (&env, "worker_left", "127.0.0.1", NULL, 3000);
    assert (left && strstr (json_string_value (json_object_get (left, "detail")), "echo-1 of echo: "));
    json_decref (left);
    s_env_stop (&env);
}

//  --------------------------------------------------------------------------

static const testrunner_case_t s_cases [] = {
    { "broker_selftest", test_broker_selftest },
    { "lru_spread_over_three_workers", test_lru_spread_over_three_workers },
    { "killed_worker_retryable_request_served_by_another",
      test_killed_worker_retryable_request_served_by_another },
    { "killed_worker_non_retryable_request_answers_error_at_once",
      test_killed_worker_non_retryable_request_answers_error_at_once },
    { "silent_worker_expires", test_silent_worker_expires },
    { "busy_worker_expires", test_busy_worker_expires },
    { "blocked_handler_that_beats_keeps_its_worker", test_blocked_handler_that_beats_keeps_its_worker },
    { "blocked_handler_that_does_not_beat_loses_its_worker",
      test_blocked_handler_that_does_not_beat_loses_its_worker },
    { "mmi_service_answers_200_and_404", test_mmi_service_answers_200_and_404 },
    { "plaintext_client_gets_no_answer", test_plaintext_client_gets_no_answer },
    { "unknown_key_client_gets_no_answer", test_unknown_key_client_gets_no_answer },
    { "queue_bound_answers_503", test_queue_bound_answers_503 },
    { "queued_request_deadline_answers_504", test_queued_request_deadline_answers_504 },
    { "no_worker_answers_503", test_no_worker_answers_503 },
    { "malformed_frames_do_not_crash_the_broker", test_malformed_frames_do_not_crash_the_broker },
    { "mmi_status_reports_services_and_workers", test_mmi_status_reports_services_and_workers },
    { "foreign_peers_interoperate", test_foreign_peers_interoperate },
    { "restarted_worker_with_same_identity_takes_over",
      test_restarted_worker_with_same_identity_takes_over },
    { "requeued_request_goes_to_the_front", test_requeued_request_goes_to_the_front },
    { "unused_service_is_freed", test_unused_service_is_freed },
    { "many_requests_all_answered", test_many_requests_all_answered },
    { "random_frames_do_not_crash_the_broker", test_random_frames_do_not_crash_the_broker },
    { "ready_again_requeues_the_held_request", test_ready_again_requeues_the_held_request },
    { "standalone_broker_runs", test_standalone_broker_runs },
    { "broker_events_selftest", test_broker_events_selftest },
    { "mmi_events_show_a_plaintext_peer_with_its_address",
      test_mmi_events_show_a_plaintext_peer_with_its_address },
    { "mmi_events_show_a_zap_denial_with_key_and_address",
      test_mmi_events_show_a_zap_denial_with_key_and_address },
    { "mmi_events_ring_is_bounded_and_since_gives_the_rest",
      test_mmi_events_ring_is_bounded_and_since_gives_the_rest },
    { "mmi_status_and_events_report_rates_latencies_and_workers",
      test_mmi_status_and_events_report_rates_latencies_and_workers },
    { NULL, NULL }
};

int
main (int argc, char **argv)
{
    return testrunner_main (argc, argv, s_cases, 15);
}
