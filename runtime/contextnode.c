/*  =========================================================================
    contextnode - the main of every bounded context's process

    Why a thread per worker actor and not one worker serving many requests:
    a handler blocks on its database round trips, and a Majordomo worker is
    given one request at a time by the broker. Several actors, each with its
    own DEALER and its own connection, let one process serve several
    requests at once without sharing anything mutable. The parent thread
    only supervises: it restarts an actor that reports FAILED (its database
    was away at start, say), with a backoff that doubles up to a ceiling.
    =========================================================================
*/
#include "contextnode.h"
#include "curvekeys.h"
#include "logline.h"
#include "mdp.h"
#include "mdp_worker.h"
#include "metrics.h"

#include <getopt.h>

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define MAX_ACTORS     64

//  What one worker actor is given; owned by the parent, read-only here.
typedef struct {
    const contextnode_def_t *def;
    settings_t *settings;
    int instance;
    int index;
    zcert_t *cert;
    char *server_key;
    char identity [128];
} worker_args_t;

//  What the parent keeps per actor.
typedef struct {
    zactor_t *zactor;
    worker_args_t args;
    int64_t restart_at;         //  0 = running
    int backoff_ms;
    int restarts;
} slot_t;

//  What a running actor keeps.
typedef struct {
    const worker_args_t *args;
    void *state;
    metrics_t *metrics;
} running_t;

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
    return reply;
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
        mdp_worker_run (worker, pipe, s_handle, &running);
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
        slots [i].backoff_ms = BACKOFF_MIN_MS;
        s_slot_start (&slots [i]);
    }
    log_info (NULL, "%s started with %d actors", process, actors);

    //  Supervise: restart an actor that reports FAILED, until interrupted.
    while (!zsys_interrupted) {
        zmq_pollitem_t live [MAX_ACTORS];
        int map [MAX_ACTORS], nlive = 0;
        for (int i = 0; i < actors; i++)
            if (slots [i].zactor) {
                live [nlive] = (zmq_pollitem_t) { zsock_resolve (slots [i].zactor), -1, ZMQ_POLLIN, 0 };
                map [nlive++] = i;
            }
        if (zmq_poll (live, nlive, 100) < 0 && errno != EINTR)
            break;
        for (int k = 0; k < nlive; k++) {
            if (!(live [k].revents & ZMQ_POLLIN))
                continue;
            slot_t *slot = &slots [map [k]];
            char *report = zstr_recv (slot->zactor);
            if (report && streq (report, "FAILED")) {
                zactor_destroy (&slot->zactor);
                slot->restarts++;
                slot->restart_at = zclock_mono () + slot->backoff_ms;
                log_warn (NULL, "actor %s failed; restart %d in %d ms", slot->args.identity,
                          slot->restarts, slot->backoff_ms);
                slot->backoff_ms = slot->backoff_ms * 2 > BACKOFF_MAX_MS
                    ? BACKOFF_MAX_MS : slot->backoff_ms * 2;
            }
            free (report);
        }
        int64_t now = zclock_mono ();
        for (int i = 0; i < actors; i++)
            if (!slots [i].zactor && slots [i].restart_at && now >= slots [i].restart_at)
                s_slot_start (&slots [i]);
    }
    log_info (NULL, "%s stopping", process);
    for (int i = 0; i < actors; i++)
        zactor_destroy (&slots [i].zactor);
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
    if (verbose)
        printf ("(verbose) ");
    printf ("OK\n");
}
