/*  =========================================================================
    mdp_bench - what the Majordomo broker costs over a raw ROUTER/DEALER echo

    Not part of the build: bench/run.sh compiles it against
    runtime/libcomptoir.a and broker/mdp_broker.c.

    For each number of workers W and each number of requests in flight N
    (by default W = 2, 4, 8 and N = W, then N = 64), with CURVE off and on:
      raw      a DEALER client keeps N copies of the payload (an encoded
               request envelope, the size the edge sends) in flight against
               a ROUTER that sends every message back;
      broker   an mdp_client keeps N requests in flight through the broker
               engine (the code comptoir-broker runs, on a zloop in its
               main thread, with the ZAP authenticator when CURVE is on)
               to W echo workers (mdp_worker_run).
    "Same number in flight" is the fair comparison: with N = W the broker
    path has exactly as many requests in the air as the raw echo. With
    N = 64 the raw echo answers them in batches while a Majordomo worker
    holds one request at a time, so the broker's figure is bounded by W
    worker round trips, whatever the broker does.

    Two placements (--mode):
      process  (default) the echo server, the broker and every worker are
               separate processes (this binary again, with --role), as in
               production: each has its own libzmq I/O thread. The client
               is this process.
      thread   everything in this process, one thread each, sharing one
               libzmq I/O thread (the original bench).
    Over TCP on 127.0.0.1 by default; --transport ipc uses unix sockets, to
    see what the TCP stack costs.
    Prints a table with requests/s and the ratios broker/raw and CURVE
    on/off, and the CPU time and context switches per request of every
    process involved (getrusage: on a shared, noisy machine these move far
    less than requests/s). Set MDP_BENCH_WRAP_BROKER (or _WORKER, _ECHO)
    to a command prefix, e.g. "valgrind --tool=callgrind
    --callgrind-out-file=/tmp/cg.%p", to profile one role of the process
    mode (callgrind's instruction counts are stable where timings are not).
    =========================================================================
*/
#include <czmq.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include "curvekeys.h"
#include "envelope.h"
#include "logline.h"
#include "mdp.h"
#include "mdp_client.h"
#include "mdp_worker.h"
#include "../broker/mdp_broker.h"

#define BENCH_MAX_WORKERS   64
#define BENCH_MAX_ARGS      32
#define BENCH_MAX_REPEAT    15

typedef struct {
    const char *dir;            //  keys folder
    int seconds;
    int repeat;                 //  runs per figure; the median is shown
    bool process;               //  process mode, else thread mode
    const char *self_path;      //  this binary, for --role children
} s_bench_t;

//  One run's figures.
typedef struct {
    double rate;                //  requests per second
    double cpu_us;              //  CPU time (user + system, every process) per request
    double switches;            //  context switches (every process) per request
} s_result_t;

//  --------------------------------------------------------------------------
//  CPU time and context switches of this process and its reaped children.

static void
s_usage_now (double *cpu_us, double *switches)
{
    struct rusage self, children;
    getrusage (RUSAGE_SELF, &self);
    getrusage (RUSAGE_CHILDREN, &children);
    *cpu_us = (self.ru_utime.tv_sec + self.ru_stime.tv_sec
            +  children.ru_utime.tv_sec + children.ru_stime.tv_sec) * 1e6
            +  (self.ru_utime.tv_usec + self.ru_stime.tv_usec
            +  children.ru_utime.tv_usec + children.ru_stime.tv_usec);
    *switches = (double) (self.ru_nvcsw + self.ru_nivcsw + children.ru_nvcsw + children.ru_nivcsw);
}

static bool s_ipc = false;       //  --transport ipc: unix sockets instead of TCP

//  Bind a server socket on an ephemeral TCP port or a fresh ipc path, and
//  say where in endpoint. Returns 0 or -1.
static int
s_bind (zsock_t *sock, char *endpoint, size_t size)
{
    static int counter = 0;
    if (s_ipc)
        snprintf (endpoint, size, "ipc:///tmp/mdp-bench-%d-%d.ipc", (int) getpid (), counter++);
    else
        snprintf (endpoint, size, "tcp://127.0.0.1:*");
    int port = zsock_bind (sock, "%s", endpoint);
    if (port < 0)
        return -1;
    if (!s_ipc)
        snprintf (endpoint, size, "tcp://127.0.0.1:%d", port);
    return 0;
}

typedef struct {
    char endpoint [64];
    zcert_t *cert;              //  worker or server certificate, or NULL
    const char *server_public;
} s_peer_args_t;

//  --------------------------------------------------------------------------
//  The request every run sends: the same bytes for raw and broker runs.

static envelope_t *
s_request (void)
{
    envelope_t *request = envelope_new_request ("echo.get");
    request->body = json_pack ("{s:{s:s}}", "params", "id", "12");
    envelope_set_str (&request->rid, "5f1c0c2e-9a7d-4a43-8c1e-3c1b7d9e0a11");
    envelope_set_str (&request->consumer, "demo");
    request->retryable = true;
    return request;
}

static zframe_t *
s_payload (void)
{
    envelope_t *request = s_request ();
    zframe_t *frame = envelope_encode (request);
    envelope_destroy (&request);
    return frame;
}

//  --------------------------------------------------------------------------
//  The raw echo: a ROUTER that sends every message back, draining what is
//  waiting on each wakeup. Stops on a message from pipe (thread mode) or
//  on a signal (process mode).

static void
s_echo_loop (zsock_t *router, zsock_t *pipe)
{
    void *handle = zsock_resolve (router);
    while (!zsys_interrupted) {
        zmq_pollitem_t items [] = { { handle, 0, ZMQ_POLLIN, 0 },
                                    { pipe ? zsock_resolve (pipe) : NULL, 0, ZMQ_POLLIN, 0 } };
        if (zmq_poll (items, pipe ? 2 : 1, 100) < 0 && zmq_errno () != EINTR)
            break;
        if (pipe && (items [1].revents & ZMQ_POLLIN))
            break;
        while (zsock_events (router) & ZMQ_POLLIN) {
            zmsg_t *msg = zmsg_recv (router);
            if (!msg)
                break;
            zmsg_send (&msg, router);
        }
    }
}

static zsock_t *
s_echo_socket (zcert_t *cert, char *endpoint, size_t size)
{
    zsock_t *router = zsock_new (ZMQ_ROUTER);
    assert (router);
    if (cert)
        curvekeys_apply_server (router, cert);
    zsock_set_sndhwm (router, 0);
    zsock_set_rcvhwm (router, 0);
    zsock_set_linger (router, 0);
    int rc = s_bind (router, endpoint, size);
    assert (rc == 0);
    return router;
}

static void
s_echo_actor (zsock_t *pipe, void *args)
{
    s_peer_args_t *peer = (s_peer_args_t *) args;
    zsock_t *router = s_echo_socket (peer->cert, peer->endpoint, sizeof peer->endpoint);
    zsock_signal (pipe, 0);
    s_echo_loop (router, pipe);
    zsock_destroy (&router);
}

//  --------------------------------------------------------------------------
//  The echo worker.

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
//  A broker engine bound on an ephemeral port; with CURVE, the caller has
//  started the authenticator already.

static mdp_broker_t *
s_broker_new (zcert_t *server, char *endpoint, size_t size)
{
    mdp_broker_t *broker = mdp_broker_new (NULL);
    assert (broker);
    if (server)
        mdp_broker_set_certificate (broker, server);
    if (s_ipc) {
        static int counter = 0;
        snprintf (endpoint, size, "ipc:///tmp/mdp-bench-broker-%d-%d.ipc", (int) getpid (), counter++);
        int rc = mdp_broker_bind (broker, endpoint);
        assert (rc == 0);
    }
    else {
        int port = mdp_broker_bind (broker, "tcp://127.0.0.1:*");
        assert (port > 0);
        snprintf (endpoint, size, "tcp://127.0.0.1:%d", port);
    }
    return broker;
}

//  --------------------------------------------------------------------------
//  Process mode: start this binary with a role; it prints its endpoint (or
//  "ready") on its standard output, which we read here.

typedef struct {
    pid_t pid;
    char line [64];
} s_child_t;

static int
s_spawn (s_bench_t *bench, const char *wrap_env, char **role_args, s_child_t *child)
{
    char *argv [BENCH_MAX_ARGS + 1];
    int argc = 0;
    char *wrap = getenv (wrap_env) ? strdup (getenv (wrap_env)) : NULL;
    if (wrap) {
        char *saveptr = NULL;
        for (char *word = strtok_r (wrap, " ", &saveptr); word && argc < BENCH_MAX_ARGS / 2;
             word = strtok_r (NULL, " ", &saveptr))
            argv [argc++] = word;
    }
    argv [argc++] = (char *) bench->self_path;
    for (int index = 0; role_args [index] && argc < BENCH_MAX_ARGS; index++)
        argv [argc++] = role_args [index];
    argv [argc] = NULL;
    int fds [2];
    if (pipe (fds) != 0) {
        free (wrap);
        return -1;
    }
    fflush (stdout);
    child->pid = fork ();
    if (child->pid == 0) {
        dup2 (fds [1], STDOUT_FILENO);
        close (fds [0]);
        close (fds [1]);
        execvp (argv [0], argv);
        _exit (127);
    }
    close (fds [1]);
    free (wrap);
    //  One line: the endpoint or "ready".
    size_t used = 0;
    child->line [0] = 0;
    while (used + 1 < sizeof child->line) {
        ssize_t got = read (fds [0], child->line + used, 1);
        if (got <= 0 || child->line [used] == '\n')
            break;
        used++;
    }
    child->line [used] = 0;
    close (fds [0]);
    return child->pid > 0 && used > 0 ? 0 : -1;
}

static void
s_reap (s_child_t *child)
{
    if (child->pid > 0) {
        kill (child->pid, SIGTERM);
        waitpid (child->pid, NULL, 0);
        child->pid = 0;
    }
}

//  --------------------------------------------------------------------------
//  Roles of the process mode.

static int
s_role_main (const char *role, const char *dir, bool curve, const char *endpoint)
{
    //  Named so that a profile tells the processes apart (perf --sort comm).
    char name [16];
    snprintf (name, sizeof name, "mdp-%s", role);
    prctl (PR_SET_NAME, name, 0, 0, 0);
    zcert_t *server = curvekeys_ensure (dir, "broker", false);
    assert (server);
    int rc = 0;
    if (streq (role, "echo")) {
        char bound [64];
        zsock_t *router = s_echo_socket (curve ? server : NULL, bound, sizeof bound);
        printf ("%s\n", bound);
        fflush (stdout);
        s_echo_loop (router, NULL);
        zsock_destroy (&router);
    }
    else
    if (streq (role, "broker")) {
        //  As broker/main.c does: authenticator first, engine on a zloop in
        //  the main thread.
        char allowed [512];
        snprintf (allowed, sizeof allowed, "%s/allowed", dir);
        zactor_t *auth = curve ? curvekeys_auth_new (allowed) : NULL;
        char bound [64];
        mdp_broker_t *broker = s_broker_new (curve ? server : NULL, bound, sizeof bound);
        zloop_t *loop = zloop_new ();
        mdp_broker_attach (broker, loop);
        printf ("%s\n", bound);
        fflush (stdout);
        zloop_start (loop);
        zloop_destroy (&loop);
        mdp_broker_destroy (&broker);
        zactor_destroy (&auth);
    }
    else
    if (streq (role, "worker") && endpoint) {
        zcert_t *cert = curve ? curvekeys_ensure (dir, "worker", true) : NULL;
        mdp_worker_t *worker = mdp_worker_new (endpoint, "echo", cert,
                                               curve ? zcert_public_txt (server) : NULL, NULL);
        assert (worker);
        printf ("ready\n");
        fflush (stdout);
        mdp_worker_run (worker, NULL, s_echo_handler, NULL);
        mdp_worker_destroy (&worker);
        zcert_destroy (&cert);
    }
    else
        rc = 2;
    zcert_destroy (&server);
    return rc;
}

static void
s_role_args (char **args, const char *role, const char *dir, bool curve, const char *endpoint)
{
    int argc = 0;
    args [argc++] = "--role";
    args [argc++] = (char *) role;
    args [argc++] = "--dir";
    args [argc++] = (char *) dir;
    args [argc++] = "--curve";
    args [argc++] = curve ? "on" : "off";
    args [argc++] = "--transport";
    args [argc++] = s_ipc ? "ipc" : "tcp";
    if (endpoint) {
        args [argc++] = "--endpoint";
        args [argc++] = (char *) endpoint;
    }
    args [argc] = NULL;
}

//  --------------------------------------------------------------------------
//  Raw run: N copies of the payload in flight, one back, one out.

static s_result_t
s_run_raw (s_bench_t *bench, bool curve, int inflight, zcert_t *server, zcert_t *client)
{
    s_result_t result = { 0 };
    double cpu_before, switches_before;
    s_usage_now (&cpu_before, &switches_before);
    s_peer_args_t peer = { "", curve ? server : NULL, NULL };
    zactor_t *echo = NULL;
    s_child_t child = { 0 };
    if (bench->process) {
        char *args [BENCH_MAX_ARGS];
        s_role_args (args, "echo", bench->dir, curve, NULL);
        if (s_spawn (bench, "MDP_BENCH_WRAP_ECHO", args, &child) != 0) {
            s_reap (&child);
            return result;
        }
        snprintf (peer.endpoint, sizeof peer.endpoint, "%s", child.line);
    }
    else
        echo = zactor_new (s_echo_actor, &peer);
    zsock_t *dealer = zsock_new (ZMQ_DEALER);
    if (curve)
        curvekeys_apply_client (dealer, client, zcert_public_txt (server));
    zsock_set_sndhwm (dealer, 0);
    zsock_set_rcvhwm (dealer, 0);
    zsock_set_linger (dealer, 0);
    zsock_set_rcvtimeo (dealer, 5000);
    zsock_connect (dealer, "%s", peer.endpoint);
    zframe_t *payload = s_payload ();
    for (int i = 0; i < inflight; i++) {
        zframe_t *copy = zframe_dup (payload);
        zframe_send (&copy, dealer, 0);
    }
    int64_t count = 0;
    int64_t start = zclock_mono ();
    int64_t end = start + bench->seconds * 1000;
    while (zclock_mono () < end) {
        zframe_t *frame = zframe_recv (dealer);
        if (!frame)
            break;
        zframe_destroy (&frame);
        count++;
        zframe_t *copy = zframe_dup (payload);
        zframe_send (&copy, dealer, 0);
    }
    result.rate = count * 1000.0 / (double) (zclock_mono () - start);
    zframe_destroy (&payload);
    zsock_destroy (&dealer);
    zactor_destroy (&echo);
    s_reap (&child);
    double cpu_after, switches_after;
    s_usage_now (&cpu_after, &switches_after);
    if (count > 0) {
        result.cpu_us = (cpu_after - cpu_before) / (double) count;
        result.switches = (switches_after - switches_before) / (double) count;
    }
    return result;
}

//  --------------------------------------------------------------------------
//  How many workers the broker knows for "echo" (mmi.service).

static int
s_workers_ready (mdp_client_t *client)
{
    envelope_t *request = envelope_new_request ("mmi.service");
    request->body = json_pack ("{s:s}", "service", "echo");
    request->deadline = zclock_time () + 1000;
    envelope_t *reply = mdp_client_call (client, MDP_MMI_SERVICE, &request);
    int workers = reply && reply->body
                ? (int) json_integer_value (json_object_get (reply->body, "workers")) : 0;
    envelope_destroy (&reply);
    return workers;
}

//  --------------------------------------------------------------------------
//  Broker run: an mdp_client with N requests in flight, W workers.

static s_result_t
s_run_broker (s_bench_t *bench, bool curve, int inflight, int workers, zcert_t *server,
              zcert_t *worker_cert, zcert_t *client_cert, const char *allowed_dir)
{
    s_result_t result = { 0 };
    double cpu_before, switches_before;
    s_usage_now (&cpu_before, &switches_before);
    zactor_t *auth = NULL;
    zactor_t *broker_actor = NULL;
    zactor_t *actors [BENCH_MAX_WORKERS];
    s_child_t broker_child = { 0 };
    s_child_t children [BENCH_MAX_WORKERS];
    memset (children, 0, sizeof children);
    s_peer_args_t peer;
    peer.cert = curve ? worker_cert : NULL;
    peer.server_public = curve ? zcert_public_txt (server) : NULL;
    if (bench->process) {
        char *args [BENCH_MAX_ARGS];
        s_role_args (args, "broker", bench->dir, curve, NULL);
        if (s_spawn (bench, "MDP_BENCH_WRAP_BROKER", args, &broker_child) != 0) {
            s_reap (&broker_child);
            return result;
        }
        snprintf (peer.endpoint, sizeof peer.endpoint, "%s", broker_child.line);
        for (int i = 0; i < workers; i++) {
            s_role_args (args, "worker", bench->dir, curve, peer.endpoint);
            s_spawn (bench, "MDP_BENCH_WRAP_WORKER", args, &children [i]);
        }
    }
    else {
        if (curve) {
            auth = curvekeys_auth_new (allowed_dir);
            assert (auth);
        }
        mdp_broker_t *broker = s_broker_new (curve ? server : NULL, peer.endpoint, sizeof peer.endpoint);
        broker_actor = zactor_new (mdp_broker_actor, broker);
        for (int i = 0; i < workers; i++)
            actors [i] = zactor_new (s_worker_actor, &peer);
    }
    mdp_client_t *client = mdp_client_new (peer.endpoint, curve ? client_cert : NULL,
                                           peer.server_public);
    assert (client);
    mdp_client_set_resend (client, 0);
    mdp_client_set_timeout (client, 10000);
    //  Wait until every worker said READY (up to a minute: profilers are slow).
    int64_t ready_by = zclock_mono () + 60000;
    while (s_workers_ready (client) < workers && zclock_mono () < ready_by)
        zclock_sleep (50);

    for (int i = 0; i < inflight; i++) {
        envelope_t *request = s_request ();
        mdp_client_send (client, "echo", &request);
    }
    int64_t count = 0, errors = 0;
    int64_t start = zclock_mono ();
    int64_t end = start + bench->seconds * 1000;
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
            envelope_t *request = s_request ();
            mdp_client_send (client, "echo", &request);
        }
        mdp_client_tick (client);
    }
    result.rate = count * 1000.0 / (double) (zclock_mono () - start);
    if (errors)
        printf ("   (%lld error replies)\n", (long long) errors);
    mdp_client_destroy (&client);
    if (bench->process) {
        for (int i = 0; i < workers; i++)
            s_reap (&children [i]);
        s_reap (&broker_child);
    }
    else {
        for (int i = 0; i < workers; i++)
            zactor_destroy (&actors [i]);
        zactor_destroy (&broker_actor);
        zactor_destroy (&auth);
    }
    double cpu_after, switches_after;
    s_usage_now (&cpu_after, &switches_after);
    if (count > 0) {
        result.cpu_us = (cpu_after - cpu_before) / (double) count;
        result.switches = (switches_after - switches_before) / (double) count;
    }
    return result;
}

//  --------------------------------------------------------------------------
//  The median of each figure over the repeated runs.

static int
s_compare (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

static s_result_t
s_median (s_result_t *runs, int count)
{
    double rate [count], cpu [count], switches [count];
    for (int index = 0; index < count; index++) {
        rate [index] = runs [index].rate;
        cpu [index] = runs [index].cpu_us;
        switches [index] = runs [index].switches;
    }
    qsort (rate, (size_t) count, sizeof (double), s_compare);
    qsort (cpu, (size_t) count, sizeof (double), s_compare);
    qsort (switches, (size_t) count, sizeof (double), s_compare);
    s_result_t median = { rate [count / 2], cpu [count / 2], switches [count / 2] };
    return median;
}

//  --------------------------------------------------------------------------

static void
s_usage (void)
{
    printf ("usage: mdp_bench [--seconds S] [--repeat R] [--workers W] [--inflight N]\n"
            "                 [--curve on|off|both] [--mode process|thread] [--only raw|broker]\n"
            "                 [--transport tcp|ipc] [--dir DIR]\n"
            "Without --workers: W = 2, 4, 8. Without --inflight: N = W, then N = 64.\n"
            "Each figure is the median of R runs (default 1) of S seconds (default 3).\n");
}

int
main (int argc, char **argv)
{
    s_bench_t bench = { .dir = "var/bench/mdp", .seconds = 3, .repeat = 1, .process = true };
    int workers = 0, inflight = 0;
    const char *curve_arg = "both", *only = NULL, *role = NULL, *endpoint = NULL;
    for (int i = 1; i < argc; i++) {
        const char *value = i + 1 < argc ? argv [i + 1] : NULL;
        if (streq (argv [i], "--help") || streq (argv [i], "-h")) {
            s_usage ();
            return 0;
        }
        if (!value) {
            s_usage ();
            return 2;
        }
        i++;
        if (streq (argv [i - 1], "--seconds"))
            bench.seconds = atoi (value);
        else
        if (streq (argv [i - 1], "--repeat"))
            bench.repeat = atoi (value);
        else
        if (streq (argv [i - 1], "--inflight"))
            inflight = atoi (value);
        else
        if (streq (argv [i - 1], "--workers"))
            workers = atoi (value);
        else
        if (streq (argv [i - 1], "--dir"))
            bench.dir = value;
        else
        if (streq (argv [i - 1], "--curve"))
            curve_arg = value;
        else
        if (streq (argv [i - 1], "--mode"))
            bench.process = !streq (value, "thread");
        else
        if (streq (argv [i - 1], "--only"))
            only = value;
        else
        if (streq (argv [i - 1], "--role"))
            role = value;
        else
        if (streq (argv [i - 1], "--endpoint"))
            endpoint = value;
        else
        if (streq (argv [i - 1], "--transport"))
            s_ipc = streq (value, "ipc");
        else
        if (streq (argv [i - 1], "--broker"))
            ;                   //  accepted for bench/run.sh; the engine is linked in
        else {
            s_usage ();
            return 2;
        }
    }
    if (bench.seconds < 1 || inflight < 0 || workers < 0 || workers > BENCH_MAX_WORKERS
        || bench.repeat < 1 || bench.repeat > BENCH_MAX_REPEAT)
        return 2;
    logline_init (role ? role : "mdp_bench", LOGLINE_WARN);
    zsys_init ();
    zsys_set_pipehwm (0);
    if (role)
        return s_role_main (role, bench.dir, streq (curve_arg, "on"), endpoint);
    prctl (PR_SET_NAME, "mdp-client", 0, 0, 0);
    bench.self_path = "/proc/self/exe";
    char self [4096];
    ssize_t size = readlink ("/proc/self/exe", self, sizeof self - 1);
    if (size > 0) {
        self [size] = 0;
        bench.self_path = self;
    }

    zcert_t *server = curvekeys_ensure (bench.dir, "broker", false);
    zcert_t *worker_cert = curvekeys_ensure (bench.dir, "worker", true);
    zcert_t *client_cert = curvekeys_ensure (bench.dir, "client", true);
    assert (server && worker_cert && client_cert);
    char allowed [512];
    snprintf (allowed, sizeof allowed, "%s/allowed", bench.dir);

    int worker_counts [] = { 2, 4, 8 };
    int worker_n = 3;
    if (workers) {
        worker_counts [0] = workers;
        worker_n = 1;
    }
    bool curves [2];
    int curve_n = 0;
    if (!streq (curve_arg, "on"))
        curves [curve_n++] = false;
    if (!streq (curve_arg, "off"))
        curves [curve_n++] = true;
    bool do_raw = !only || streq (only, "raw");
    bool do_broker = !only || streq (only, "broker");

    zframe_t *payload = s_payload ();
    printf ("mdp_bench: %s mode over %s, %d s per run, median of %d run%s, payload %zu bytes\n",
            bench.process ? "process" : "thread", s_ipc ? "ipc" : "tcp", bench.seconds, bench.repeat,
            bench.repeat > 1 ? "s" : "", zframe_size (payload));
    printf ("CPU and switches: every process and thread involved, per request\n");
    zframe_destroy (&payload);
    printf ("%3s %4s %-5s | %9s %7s %6s | %9s %7s %6s | %6s %6s\n", "W", "N", "CURVE",
            "raw req/s", "CPU us", "csw", "mdp req/s", "CPU us", "csw", "ratio", "CPUx");
    s_result_t results [3][2][2][2];    //  [workers][inflight kind][curve][raw, broker]
    memset (results, 0, sizeof results);
    s_result_t runs [BENCH_MAX_REPEAT];
    for (int w = 0; w < worker_n; w++) {
        int inflights [2] = { inflight ? inflight : worker_counts [w], 64 };
        int inflight_n = inflight || worker_counts [w] == 64 ? 1 : 2;
        for (int n = 0; n < inflight_n; n++) {
            for (int c = 0; c < curve_n; c++) {
                s_result_t *row = results [w][n][curves [c]];
                if (do_raw) {
                    for (int r = 0; r < bench.repeat; r++)
                        runs [r] = s_run_raw (&bench, curves [c], inflights [n], server, client_cert);
                    row [0] = s_median (runs, bench.repeat);
                }
                if (do_broker) {
                    for (int r = 0; r < bench.repeat; r++)
                        runs [r] = s_run_broker (&bench, curves [c], inflights [n], worker_counts [w],
                                                 server, worker_cert, client_cert, allowed);
                    row [1] = s_median (runs, bench.repeat);
                }
                printf ("%3d %4d %-5s | %9.0f %7.1f %6.2f | %9.0f %7.1f %6.2f | %6.2f %6.2f\n",
                        worker_counts [w], inflights [n], curves [c] ? "on" : "off",
                        row [0].rate, row [0].cpu_us, row [0].switches,
                        row [1].rate, row [1].cpu_us, row [1].switches,
                        row [0].rate > 0 ? row [1].rate / row [0].rate : 0,
                        row [0].cpu_us > 0 ? row [1].cpu_us / row [0].cpu_us : 0);
                fflush (stdout);
            }
        }
    }
    printf ("ratio: broker req/s over raw req/s; CPUx: broker CPU per request over raw\n");
    if (curve_n == 2) {
        printf ("\nCURVE on/off (req/s)\n%3s %4s %8s %8s\n", "W", "N", "raw", "broker");
        for (int w = 0; w < worker_n; w++) {
            int inflights [2] = { inflight ? inflight : worker_counts [w], 64 };
            int inflight_n = inflight || worker_counts [w] == 64 ? 1 : 2;
            for (int n = 0; n < inflight_n; n++) {
                s_result_t *off = results [w][n][0], *on = results [w][n][1];
                printf ("%3d %4d %8.2f %8.2f\n", worker_counts [w], inflights [n],
                        off [0].rate > 0 ? on [0].rate / off [0].rate : 0,
                        off [1].rate > 0 ? on [1].rate / off [1].rate : 0);
            }
        }
    }
    zcert_destroy (&server);
    zcert_destroy (&worker_cert);
    zcert_destroy (&client_cert);
    return 0;
}
