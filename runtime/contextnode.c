/*  =========================================================================
    contextnode - the main of every bounded context's process

    Why a thread per worker actor and not one worker serving many requests:
    a handler blocks on its database round trips, and a Majordomo worker is
    given one request at a time by the broker. Several actors, each with its
    own DEALER and its own connection, let one process serve several
    requests at once without sharing anything mutable. The parent thread
    only supervises: it restarts an actor that reports FAILED (its database
    was away at start, say), with a backoff that doubles up to a ceiling.

    Metrics: each actor counts in its own registry and sends a rendered
    snapshot to the parent over its pipe at most every METRICS_PUSH_MS (and
    once more when it falls idle), so nothing is shared between threads.
    The parent answers the Majordomo service "_metrics.<process>" with the
    latest snapshot of every actor, which the edge's /metrics collects: one
    scrape target for the whole system, wherever the process runs. Side
    actors (an event feed, say) push theirs through sidemetrics to the
    parent, which adds the latest snapshot of each after the actors'.
    =========================================================================
*/
#include "contextnode.h"
#include "curvekeys.h"
#include "logline.h"
#include "mdp.h"
#include "mdp_worker.h"
#include "metrics.h"
#include "sidemetrics.h"

#include <getopt.h>

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define MAX_ACTORS     64
#define METRICS_PUSH_MS 1000
#define METRICS_PREFIX  "_metrics."

//  What one worker actor is given; owned by the parent, read-only here.
typedef struct {
    const contextnode_def_t *def;
    settings_t *settings;
    int instance;
    int index;
    zcert_t *cert;
    char *server_key;
    char identity [128];
    char process [64];
} worker_args_t;

//  What the parent keeps per actor.
typedef struct {
    zactor_t *zactor;
    worker_args_t args;
    int64_t restart_at;         //  0 = running
    int backoff_ms;
    int restarts;
    char *metrics;              //  the actor's latest snapshot, or NULL
} slot_t;

//  What a running actor keeps.
typedef struct {
    const worker_args_t *args;
    void *state;
    metrics_t *metrics;
    bool dirty;                 //  counted since the last snapshot
    int64_t pushed_at;          //  when the last snapshot went to the parent
} running_t;

//  The Majordomo worker of this thread's actor (each worker actor is a
//  thread of its own), for contextnode_keepalive.
static __thread mdp_worker_t *s_thread_worker;

//  --------------------------------------------------------------------------

int
contextnode_keepalive (void *arg)
{
    (void) arg;
    return s_thread_worker ? mdp_worker_keepalive (s_thread_worker) : -1;
}

//  --------------------------------------------------------------------------

envelope_t *
contextnode_dispatch (const contextnode_def_t *def, const envelope_t *request, void *state)
{
    if (request->kind != ENVELOPE_REQUEST)
        return envelope_new_error (request, 400, "invalid_envelope", "expected a request", NULL);
    if (envelope_expired (request, zclock_time ()))
        return envelope_new_error (request, 504, "upstream_timeout",
                                   "the request's deadline passed before it was handled", NULL);
    for (const contextnode_verb_t *verb = def->verbs; verb->verb; verb++) {
        if (streq (verb->verb, request->verb)) {
            envelope_t *reply = verb->handler (request, state);
            if (!reply)
                reply = envelope_new_error (request, 500, "internal_error",
                                            "the handler gave no answer", NULL);
            return reply;
        }
    }
    return envelope_new_error (request, 404, "unknown_verb", "this context has no such verb",
                               json_pack ("[{s:s, s:s}]", "field", "verb", "problem",
                                          request->verb ? request->verb : ""));
}

//  --------------------------------------------------------------------------
//  Called by the worker loop for each request (the loop owns the request).

static envelope_t *
s_handle (envelope_t *request, void *arg)
{
    running_t *running = (running_t *) arg;
    int64_t started = zclock_usecs ();
    envelope_t *reply = contextnode_dispatch (running->args->def, request, running->state);
    double seconds = (double) (zclock_usecs () - started) / 1e6;
    char labels [256];
    snprintf (labels, sizeof labels, "verb=\"%.64s\",status=\"%d\"",
              request->verb, reply ? reply->status : 500);
    metrics_counter_add (running->metrics, "comptoir_context_requests_total", labels, 1);
    snprintf (labels, sizeof labels, "verb=\"%.64s\"", request->verb);
    metrics_observe (running->metrics, "comptoir_context_request_duration_seconds", labels, seconds);
    int level = reply && reply->status >= 500 ? LOGLINE_WARN : LOGLINE_DEBUG;
    logline_write ((loglevel_t) level, request->rid, "%s -> %d in %.1f ms (actor %s)",
                   request->verb, reply ? reply->status : 500, seconds * 1000,
                   running->args->identity);
    running->dirty = true;
    return reply;
}

//  --------------------------------------------------------------------------
//  Send the actor's metrics to the parent when they changed.

static void
s_push_metrics (running_t *running, zsock_t *pipe)
{
    char labels [160];
    snprintf (labels, sizeof labels, "process=\"%s\",actor=\"%d\"",
              running->args->process, running->args->index);
    char *text = metrics_render (running->metrics, labels);
    if (text)
        zstr_sendx (pipe, "METRICS", text, NULL);
    free (text);
    running->dirty = false;
    running->pushed_at = zclock_mono ();
}

//  --------------------------------------------------------------------------
//  The actor's loop: requests from the broker, $TERM from the parent, and
//  the metrics snapshot when due. Returns when told to stop.

static void
s_worker_loop (running_t *running, mdp_worker_t *worker, zsock_t *pipe)
{
    s_push_metrics (running, pipe);
    while (!zsys_interrupted) {
        int timeout = mdp_worker_tick (worker);
        if (running->dirty) {
            int64_t due = running->pushed_at + METRICS_PUSH_MS - zclock_mono ();
            if (due <= 0) {
                s_push_metrics (running, pipe);
                due = METRICS_PUSH_MS;
            }
            if (due < timeout)
                timeout = (int) due;
        }
        //  The worker's socket changes after a reconnect: take it anew each turn.
        zmq_pollitem_t items [2] = {
            { zsock_resolve (pipe), 0, ZMQ_POLLIN, 0 },
            { zsock_resolve (mdp_worker_sock (worker)), 0, ZMQ_POLLIN, 0 },
        };
        if (zmq_poll (items, 2, timeout) < 0) {
            if (zmq_errno () == EINTR)
                continue;
            break;
        }
        if (items [0].revents & ZMQ_POLLIN) {
            char *command = zstr_recv (pipe);
            bool term = !command || streq (command, "$TERM");
            free (command);
            if (term)
                break;
        }
        if (items [1].revents & ZMQ_POLLIN) {
            envelope_t *request;
            while ((request = mdp_worker_recv (worker))) {
                envelope_t *reply = s_handle (request, running);
                mdp_worker_send (worker, &reply);
                envelope_destroy (&request);
            }
        }
    }
}

//  --------------------------------------------------------------------------

static void
s_wait_term (zsock_t *pipe)
{
    while (true) {
        char *command = zstr_recv (pipe);
        bool term = !command || streq (command, "$TERM");
        free (command);
        if (term)
            break;
    }
}

static void
s_worker_actor (zsock_t *pipe, void *arg)
{
    const worker_args_t *args = (const worker_args_t *) arg;
    zsock_signal (pipe, 0);
    running_t running = { .args = args };
    running.state = args->def->make_state (args->settings, args->instance, args->index);
    running.metrics = metrics_new ();
    if (running.metrics) {
        metrics_declare (running.metrics, "comptoir_context_requests_total", "counter",
                         "Requests answered by this actor, by verb and status.");
        metrics_declare (running.metrics, "comptoir_context_request_duration_seconds", "histogram",
                         "Time spent in the verb's handler.");
    }
    zcert_t *cert = zcert_dup (args->cert);
    const char *endpoint = settings_get (args->settings, "broker/endpoint", "tcp://127.0.0.1:5555");
    mdp_worker_t *worker = running.state && running.metrics && cert
        ? mdp_worker_new (endpoint, args->def->name, cert, args->server_key, args->identity)
        : NULL;
    if (!worker) {
        zstr_send (pipe, "FAILED");
        s_wait_term (pipe);
    }
    else {
        mdp_worker_set_heartbeat (worker,
            (int) settings_get_int (args->settings, "broker/heartbeat_ms", MDP_HEARTBEAT_MS_DEFAULT),
            (int) settings_get_int (args->settings, "broker/liveness", MDP_LIVENESS_DEFAULT));
        log_info (NULL, "actor %s serving %s at %s", args->identity, args->def->name, endpoint);
        zstr_send (pipe, "READY");
        s_thread_worker = worker;
        s_worker_loop (&running, worker, pipe);
        s_thread_worker = NULL;
        mdp_worker_destroy (&worker);
    }
    if (running.state && args->def->free_state)
        args->def->free_state (&running.state);
    metrics_destroy (&running.metrics);
    zcert_destroy (&cert);
}

//  --------------------------------------------------------------------------

static void
s_usage (const contextnode_def_t *def, const char *program)
{
    printf ("usage: %s [--config FILE] [--instance N] [--actors N]\n"
            "\n"
            "Runs one instance of the %s context: worker actors that register with the\n"
            "Majordomo broker as service \"%s\" and answer its verbs.\n"
            "\n"
            "  -c, --config FILE   configuration file (default etc/comptoir.cfg)\n"
            "  -i, --instance N    instance number, names the process and its key (default 1)\n"
            "  -a, --actors N      worker actors in this process (default %s/actors, else 2)\n"
            "  -h, --help          this text\n"
            "\n"
            "Settings read: broker/endpoint, broker/heartbeat_ms, broker/liveness, keys/dir,\n"
            "%s/actors and the context's own section. Environment overrides: COMPTOIR_<PATH>.\n",
            program, def->name, def->name, def->name, def->name);
}

//  Start (or restart) the actor in a slot. Its first word, READY or
//  FAILED, is read by the supervision loop.
static void
s_slot_start (slot_t *slot)
{
    slot->zactor = zactor_new (s_worker_actor, &slot->args);
    slot->restart_at = slot->zactor ? 0 : zclock_mono () + slot->backoff_ms;
}

//  Read one word from an actor: READY, FAILED (restart it after the
//  backoff) or METRICS with its snapshot.
static void
s_slot_report (slot_t *slot)
{
    zmsg_t *msg = zmsg_recv (slot->zactor);
    char *word = msg ? zmsg_popstr (msg) : NULL;
    if (word && streq (word, "METRICS")) {
        free (slot->metrics);
        slot->metrics = zmsg_popstr (msg);
    }
    else
    if (word && streq (word, "FAILED")) {
        zactor_destroy (&slot->zactor);
        slot->restarts++;
        slot->restart_at = zclock_mono () + slot->backoff_ms;
        log_warn (NULL, "actor %s failed; restart %d in %d ms", slot->args.identity,
                  slot->restarts, slot->backoff_ms);
        slot->backoff_ms = slot->backoff_ms * 2 > BACKOFF_MAX_MS
            ? BACKOFF_MAX_MS : slot->backoff_ms * 2;
    }
    free (word);
    zmsg_destroy (&msg);
}

//  Add one actor's snapshot to the families seen so far. The text format
//  wants all the samples of a family in one group under one HELP and one
//  TYPE line, so each family's lines are gathered in their own chunk: the
//  header from the first snapshot that has it, the samples from all.
static void
s_merge_snapshot (zhashx_t *families, const char *snapshot)
{
    zchunk_t *current = NULL;
    bool keep_header = false;
    while (*snapshot) {
        const char *eol = strchr (snapshot, '\n');
        size_t len = eol ? (size_t) (eol - snapshot + 1) : strlen (snapshot);
        if (strncmp (snapshot, "# HELP ", 7) == 0 || strncmp (snapshot, "# TYPE ", 7) == 0) {
            char name [128];
            const char *start = snapshot + 7;
            size_t n = strcspn (start, " \n");
            snprintf (name, sizeof name, "%.*s", (int) (n < sizeof name ? n : sizeof name - 1), start);
            zchunk_t *family = (zchunk_t *) zhashx_lookup (families, name);
            if (!family) {
                family = zchunk_new (NULL, 1024);
                zhashx_insert (families, name, family);
                keep_header = true;
            }
            else
            if (family != current)
                keep_header = false;    //  an earlier snapshot gave the header
            if (keep_header)
                zchunk_extend (family, snapshot, len);
            current = family;
        }
        else
        if (current && snapshot [0] != '#')
            zchunk_extend (current, snapshot, len);
        snapshot += len;
    }
}

static int
s_compare_names (const void *a, const void *b)
{
    return strcmp (*(const char *const *) a, *(const char *const *) b);
}

//  Append the families, sorted by name, to text.
static void
s_render_families (zhashx_t *families, zchunk_t *text)
{
    zlistx_t *names = zhashx_keys (families);
    size_t count = zlistx_size (names), n = 0;
    const char **sorted = (const char **) calloc (count + 1, sizeof (char *));
    for (const char *name = (const char *) zlistx_first (names); name && sorted;
         name = (const char *) zlistx_next (names))
        sorted [n++] = name;
    if (sorted) {
        qsort (sorted, n, sizeof (char *), s_compare_names);
        for (size_t i = 0; i < n; i++) {
            zchunk_t *family = (zchunk_t *) zhashx_lookup (families, sorted [i]);
            zchunk_extend (text, zchunk_data (family), zchunk_size (family));
        }
    }
    free (sorted);
    zlistx_destroy (&names);
}

//  Answer a request to the metrics service with every actor's snapshot,
//  then every side actor's (source -> text).
static void
s_answer_metrics (mdp_worker_t *worker, slot_t *slots, int actors, zhashx_t *sides,
                  const char *process)
{
    envelope_t *request;
    while ((request = mdp_worker_recv (worker))) {
        zhashx_t *families = zhashx_new ();
        zhashx_set_destructor (families, (zhashx_destructor_fn *) zchunk_destroy);
        zchunk_t *text = zchunk_new (NULL, 4096);
        char line [256];
        snprintf (line, sizeof line,
                  "# HELP comptoir_context_actor_restarts_total Restarts of a failed worker actor.\n"
                  "# TYPE comptoir_context_actor_restarts_total counter\n");
        zchunk_extend (text, line, strlen (line));
        for (int i = 0; i < actors; i++) {
            snprintf (line, sizeof line,
                      "comptoir_context_actor_restarts_total{process=\"%s\",actor=\"%d\"} %d\n",
                      process, i + 1, slots [i].restarts);
            zchunk_extend (text, line, strlen (line));
        }
        for (int i = 0; i < actors; i++)
            if (slots [i].metrics)
                s_merge_snapshot (families, slots [i].metrics);
        for (const char *side = (const char *) zhashx_first (sides); side;
             side = (const char *) zhashx_next (sides))
            s_merge_snapshot (families, side);
        s_render_families (families, text);
        json_t *body = json_pack ("{s:s%}", "text", (const char *) zchunk_data (text),
                                  zchunk_size (text));
        zchunk_destroy (&text);
        zhashx_destroy (&families);
        envelope_t *reply = body ? envelope_new_reply (request, 200, body)
                                 : envelope_new_error (request, 500, "internal_error",
                                                       "cannot render the metrics", NULL);
        mdp_worker_send (worker, &reply);
        envelope_destroy (&request);
    }
}

int
contextnode_main (int argc, char **argv, const contextnode_def_t *def)
{
    const char *config = "etc/comptoir.cfg";
    int instance = 1, actors = -1;
    static struct option options [] = {
        { "config", required_argument, 0, 'c' },
        { "instance", required_argument, 0, 'i' },
        { "actors", required_argument, 0, 'a' },
        { "help", no_argument, 0, 'h' },
        { 0, 0, 0, 0 }
    };
    int opt;
    while ((opt = getopt_long (argc, argv, "c:i:a:h", options, NULL)) != -1) {
        switch (opt) {
            case 'c': config = optarg; break;
            case 'i': instance = atoi (optarg); break;
            case 'a': actors = atoi (optarg); break;
            case 'h': s_usage (def, argv [0]); return 0;
            default: s_usage (def, argv [0]); return 2;
        }
    }
    char process [64];
    snprintf (process, sizeof process, "%s-%d", def->name, instance);
    logline_init (process, -1);
    if (instance < 1 || instance > 9999) {
        log_error (NULL, "--instance must be between 1 and 9999");
        return 2;
    }
    settings_t *settings = settings_load (config);
    if (!settings)
        return 1;
    settings_apply_log_level (settings, process);
    char path [128];
    snprintf (path, sizeof path, "%s/actors", def->name);
    if (actors < 0)
        actors = (int) settings_get_int (settings, path, 2);
    if (actors < 1 || actors > MAX_ACTORS) {
        log_error (NULL, "actors must be between 1 and %d", MAX_ACTORS);
        settings_destroy (&settings);
        return 2;
    }
    const char *keys_dir = settings_get (settings, "keys/dir", "var/keys");
    zcert_t *cert = curvekeys_ensure (keys_dir, process, true);
    char broker_cert [512];
    snprintf (broker_cert, sizeof broker_cert, "%s/broker", keys_dir);
    char *server_key = curvekeys_public_of (broker_cert);
    if (!cert || !server_key) {
        log_error (NULL, "no certificate for %s or for the broker under %s", process, keys_dir);
        zcert_destroy (&cert);
        free (server_key);
        settings_destroy (&settings);
        return 1;
    }
    slot_t *slots = (slot_t *) calloc ((size_t) actors, sizeof (slot_t));
    assert (slots);
    for (int i = 0; i < actors; i++) {
        worker_args_t *args = &slots [i].args;
        args->def = def;
        args->settings = settings;
        args->instance = instance;
        args->index = i + 1;
        args->cert = cert;
        args->server_key = server_key;
        snprintf (args->identity, sizeof args->identity, "%s.%d", process, i + 1);
        snprintf (args->process, sizeof args->process, "%s", process);
        slots [i].backoff_ms = BACKOFF_MIN_MS;
        s_slot_start (&slots [i]);
    }
    log_info (NULL, "%s started with %d actors", process, actors);

    //  The process's metrics service: the edge's /metrics asks it.
    char metrics_service [96], metrics_identity [96];
    snprintf (metrics_service, sizeof metrics_service, METRICS_PREFIX "%s", process);
    snprintf (metrics_identity, sizeof metrics_identity, "%s.metrics", process);
    mdp_worker_t *metrics_worker = mdp_worker_new (
        settings_get (settings, "broker/endpoint", "tcp://127.0.0.1:5555"), metrics_service,
        cert, server_key, metrics_identity);
    if (metrics_worker)
        mdp_worker_set_heartbeat (metrics_worker,
            (int) settings_get_int (settings, "broker/heartbeat_ms", MDP_HEARTBEAT_MS_DEFAULT),
            (int) settings_get_int (settings, "broker/liveness", MDP_LIVENESS_DEFAULT));
    else
        log_warn (NULL, "cannot start the %s worker: no metrics for this process", metrics_service);

    //  Side actors' snapshots: bound after the actors started, which is
    //  fine for inproc (a connect may come before its bind).
    zsock_t *side_pull = zsock_new_pull ("@" SIDEMETRICS_ENDPOINT);
    zhashx_t *sides = zhashx_new ();
    assert (sides);
    zhashx_set_destructor (sides, (zhashx_destructor_fn *) zstr_free);
    if (!side_pull)
        log_warn (NULL, "cannot bind %s: no side actor metrics for this process", SIDEMETRICS_ENDPOINT);

    //  Supervise: restart an actor that reports FAILED, keep the actors'
    //  metrics, answer the metrics service, until interrupted.
    while (!zsys_interrupted) {
        int timeout = 100;
        if (metrics_worker) {
            int due = mdp_worker_tick (metrics_worker);
            if (due < timeout)
                timeout = due;
        }
        zmq_pollitem_t live [MAX_ACTORS + 2];
        int map [MAX_ACTORS], nlive = 0;
        for (int i = 0; i < actors; i++)
            if (slots [i].zactor) {
                live [nlive] = (zmq_pollitem_t) { zsock_resolve (slots [i].zactor), -1, ZMQ_POLLIN, 0 };
                map [nlive++] = i;
            }
        int items = nlive;
        if (side_pull)
            live [items++] = (zmq_pollitem_t) { zsock_resolve (side_pull), -1, ZMQ_POLLIN, 0 };
        if (metrics_worker)
            live [items++] = (zmq_pollitem_t) {
                zsock_resolve (mdp_worker_sock (metrics_worker)), -1, ZMQ_POLLIN, 0 };
        if (zmq_poll (live, items, timeout) < 0 && errno != EINTR)
            break;
        for (int k = 0; k < nlive; k++)
            if (live [k].revents & ZMQ_POLLIN)
                s_slot_report (&slots [map [k]]);
        if (side_pull && (live [nlive].revents & ZMQ_POLLIN))
            while (zsock_events (side_pull) & ZMQ_POLLIN)
                if (sidemetrics_recv (side_pull, sides))
                    log_warn (NULL, "a side actor's metrics message was not a snapshot: dropped");
        if (metrics_worker && (live [items - 1].revents & ZMQ_POLLIN))
            s_answer_metrics (metrics_worker, slots, actors, sides, process);
        int64_t now = zclock_mono ();
        for (int i = 0; i < actors; i++)
            if (!slots [i].zactor && slots [i].restart_at && now >= slots [i].restart_at)
                s_slot_start (&slots [i]);
    }
    mdp_worker_destroy (&metrics_worker);
    zsock_destroy (&side_pull);
    zhashx_destroy (&sides);
    log_info (NULL, "%s stopping", process);
    for (int i = 0; i < actors; i++) {
        zactor_destroy (&slots [i].zactor);
        free (slots [i].metrics);
    }
    free (slots);
    zcert_destroy (&cert);
    free (server_key);
    settings_destroy (&settings);
    return 0;
}

//  --------------------------------------------------------------------------
//  Self test: dispatch by verb, unknown verbs, expired deadlines.

static envelope_t *
s_echo (const envelope_t *request, void *state)
{
    (*(int *) state)++;
    return envelope_new_reply (request, 200, json_incref (request->body));
}

static envelope_t *
s_silent (const envelope_t *request, void *state)
{
    return NULL;
}

void
contextnode_test (bool verbose)
{
    printf (" * contextnode: ");
    //  No worker in this thread: the keepalive does nothing and wants no call.
    assert (contextnode_keepalive (NULL) == -1);
    static const contextnode_verb_t verbs [] = {
        { "test.echo", s_echo },
        { "test.silent", s_silent },
        { NULL, NULL }
    };
    contextnode_def_t def = { "test", verbs, NULL, NULL };
    int calls = 0;

    envelope_t *request = envelope_new_request ("test.echo");
    request->body = json_pack ("{s:s}", "hello", "world");
    envelope_t *reply = contextnode_dispatch (&def, request, &calls);
    assert (reply && reply->status == 200 && calls == 1);
    assert (streq (reply->cid, request->cid));
    assert (json_equal (reply->body, request->body));
    envelope_destroy (&reply);

    //  A deadline in the past is answered 504 without calling the handler
    request->deadline = zclock_time () - 1;
    reply = contextnode_dispatch (&def, request, &calls);
    assert (reply->status == 504 && calls == 1);
    assert (streq (json_string_value (json_object_get (reply->error, "code")), "upstream_timeout"));
    envelope_destroy (&reply);
    request->deadline = 0;

    //  An unknown verb is a 404 that names it
    envelope_set_str (&request->verb, "test.nothing");
    reply = contextnode_dispatch (&def, request, &calls);
    assert (reply->status == 404);
    assert (streq (json_string_value (json_object_get (reply->error, "code")), "unknown_verb"));
    envelope_destroy (&reply);

    //  A handler that answers nothing becomes a 500, not a crash
    envelope_set_str (&request->verb, "test.silent");
    reply = contextnode_dispatch (&def, request, &calls);
    assert (reply->status == 500);
    envelope_destroy (&reply);

    //  A reply given to dispatch is refused
    envelope_t *wrong = envelope_new_reply (request, 200, NULL);
    reply = contextnode_dispatch (&def, wrong, &calls);
    assert (reply->status == 400);
    envelope_destroy (&reply);
    envelope_destroy (&wrong);
    envelope_destroy (&request);

    //  Two actors' snapshots merge into one group per family, with one
    //  HELP and one TYPE line each, as the text format requires
    metrics_t *one = metrics_new ();
    metrics_t *two = metrics_new ();
    metrics_declare (one, "a_total", "counter", "A.");
    metrics_declare (two, "a_total", "counter", "A.");
    metrics_declare (one, "b_total", "counter", "B.");
    metrics_declare (two, "b_total", "counter", "B.");
    metrics_counter_add (one, "a_total", NULL, 1);
    metrics_counter_add (one, "b_total", NULL, 2);
    metrics_counter_add (two, "a_total", NULL, 3);
    metrics_counter_add (two, "b_total", NULL, 4);
    char *text_one = metrics_render (one, "actor=\"1\"");
    char *text_two = metrics_render (two, "actor=\"2\"");
    zhashx_t *families = zhashx_new ();
    zhashx_set_destructor (families, (zhashx_destructor_fn *) zchunk_destroy);
    s_merge_snapshot (families, text_one);
    s_merge_snapshot (families, text_two);
    zchunk_t *merged = zchunk_new (NULL, 1024);
    s_render_families (families, merged);
    zchunk_extend (merged, "", 1);
    const char *expected =
        "# HELP a_total A.\n# TYPE a_total counter\n"
        "a_total{actor=\"1\"} 1\na_total{actor=\"2\"} 3\n"
        "# HELP b_total B.\n# TYPE b_total counter\n"
        "b_total{actor=\"1\"} 2\nb_total{actor=\"2\"} 4\n";
    if (verbose)
        printf ("\n%s", (char *) zchunk_data (merged));
    assert (streq ((char *) zchunk_data (merged), expected));
    zchunk_destroy (&merged);
    zhashx_destroy (&families);
    free (text_one);
    free (text_two);
    metrics_destroy (&one);
    metrics_destroy (&two);
    if (verbose)
        printf ("(verbose) ");
    printf ("OK\n");
}
