/*  =========================================================================
    mdp_broker - the Majordomo broker engine (MDP/0.1, RFC 7; MMI, RFC 8)

    One ROUTER carries clients ([empty] [MDPC01] [service] [body...]) and
    workers ([empty] [MDPW01] [command] ...). Every message is read top to
    bottom: validate the frames, one dispatch, one state change. The frames
    are exactly RFC 7's, so foreign Majordomo clients and workers work here.

    What this broker adds to the textbook one, and why:
    - It remembers the request each worker holds. When the worker dies,
      expires or disconnects, a request marked retryable in its envelope goes
      back to the FRONT of its queue for another worker; any other request
      gets a 503 "worker_lost" at once instead of a silent wait for the
      client's deadline.
    - Busy workers expire too: a worker that stops talking while holding a
      request is as dead as an idle one. A worker is single-threaded, so a
      handler longer than liveness x heartbeat gets its worker expired.
    - Queues are bounded (503 when full); queued requests whose deadline
      passes get a 504; requests for a service with no worker at all get a
      503 after no_worker_wait_ms (workers may be restarting), whatever the
      service, known or not.
    - Services with no worker and no queue are freed after a while.
    - ROUTER_MANDATORY: sending to a peer that is gone fails at once
      (EHOSTUNREACH) instead of vanishing; a dead worker is noticed on the
      next heartbeat we send it. ROUTER_HANDOVER: a restarted worker with the
      same identity takes over its old pipe.
    Sends never block (ZMQ_DONTWAIT): a full peer loses that message, the
    broker does not stall.
    Bodies that are our envelopes give the broker a correlation id, deadline
    and retry marker (envelope_peek: the body is never built in memory; the
    verb and request id, needed only for error replies and log lines, are
    decoded when first needed); foreign bodies travel untouched, are not
    retryable and have no deadline.

    The hot path works on libzmq messages, not CZMQ frames: a message is read
    into an array of zmq_msg_t with ZMQ_DONTWAIT until the socket is empty,
    the request's client id and body stay the very zmq_msg_t that came in,
    and go to the worker as reference-counted copies (no byte copy, no
    allocation per frame; the body is kept for a requeue). A reply's body
    frames are moved to the client. Per-service counters go into the
    metrics registry when metrics are rendered, not per message. Measured
    with bench/mdp_bench.c under callgrind: the broker thread's instructions
    per request (a request in, a reply out) fell from 52k to 17.5k. What is
    left is mostly libzmq's; the broker's CPU per request is now dominated
    by the kernel (wake-ups of its I/O thread and its own thread, TCP).
    The frames of every message are RFC 7's, so CURVE encrypts each one
    (20 frames cross the wire per request against 2 for a raw echo).

    For comptoir-top, the status answer carries per service the requests per
    second over the last few seconds (a snapshot of the request counter each
    second, in the timer) and p50/p99 over the last replies (a small ring of
    latencies filled on each reply, sorted only when asked); mmi.events
    gives the socket events (broker_events.c), with workers coming (READY)
    and leaving (and why) among them: a worker restarted under the same
    identity is back before its line could vanish from a screen, but not
    before its worker_left and worker_ready events.
    =========================================================================
*/
#include "mdp_broker.h"
#include "mdp.h"
#include "envelope.h"
#include "curvekeys.h"
#include "logline.h"
#include "metrics.h"
#include "broker_events.h"

#define BROKER_HWM              100000
#define BROKER_DRAIN_MAX        256     //  messages handled per wakeup
#define BROKER_TICK_MAX_MS      50      //  housekeeping interval, at most
#define BROKER_MAX_FRAMES       16      //  of a whole message, after the first three
#define BROKER_MAX_PARTS        (BROKER_MAX_FRAMES + 3)
#define BROKER_MAX_BODY_FRAMES  8
#define BROKER_SERVICE_MAX      128     //  bytes in a service name
#define BROKER_ADDRESS_MAX      255     //  bytes in a routing id
#define BROKER_MAX_ATTEMPTS     3       //  workers tried for one retryable request
#define BROKER_QUEUE_MAX        10000
#define BROKER_NO_WORKER_WAIT   1000
#define BROKER_SERVICE_LINGER   60000
#define BROKER_SERVICES_MAX     10000   //  services known at once; more answer 503
#define BROKER_LATENCY_SAMPLES  512     //  replies behind a service's p50 and p99
#define BROKER_RATE_SLOTS       5       //  seconds behind a service's requests per second
#define BROKER_PEER_MAX         48      //  bytes of a peer's IP address

typedef struct _service_t service_t;

//  One message as read from the socket: its frames, as libzmq gave them.
typedef struct {
    zmq_msg_t part [BROKER_MAX_PARTS];
    size_t count;
    bool too_many;              //  more frames than we accept (the rest dropped)
} input_t;

//  A client request, queued or held by a worker.
typedef struct {
    zmq_msg_t client;           //  the client's routing id
    zmq_msg_t body [BROKER_MAX_BODY_FRAMES];    //  the body frames, as they came
    size_t body_count;
    bool ours;                  //  the body is one of our request envelopes
    char cid [ENVELOPE_MAX_STRING + 1];         //  from the envelope, when ours
    bool ids_known;             //  verb and rid decoded (on first need)
    char *verb;                 //  from the envelope; NULL for foreign bodies
    char *rid;
    bool retryable;
    int64_t deadline;           //  zclock_time ms, 0 = none
    int64_t received;           //  zclock_mono ms
    int64_t received_us;        //  zclock_usecs, for the latency histogram
    int attempts;               //  workers it was given to
} request_t;

//  A worker that said READY.
typedef struct {
    char *key;                  //  routing id in hex: the workers table key
    char *name;                 //  routing id, printable when it is
    byte *address;              //  routing id
    size_t address_size;
    service_t *service;
    int64_t expiry;             //  zclock_mono ms
    request_t *request;         //  the request it holds, or NULL
    void *idle_handle;          //  place in service->idle, NULL when busy
    int64_t ready_at;           //  zclock_mono of its READY
    uint64_t served;
    char peer [BROKER_PEER_MAX];    //  its IP, from the READY message ("" unknown)
} worker_t;

struct _service_t {
    char *name;
    char *labels;               //  service="name", for metrics
    zlistx_t *requests;         //  request_t, front is next
    zlistx_t *idle;             //  worker_t, front is least recently used
    size_t workers;
    int64_t active_at;          //  last time it had a worker or a request
    int64_t workerless_at;      //  when its last worker left (or it was made)
    uint64_t requests_n, replies_n, failures_n, expired_n, requeued_n;
    uint64_t requests_flushed, replies_flushed;     //  already in the metrics
    uint32_t latency_us [BROKER_LATENCY_SAMPLES];   //  the last replies' latencies
    size_t latency_count, latency_next;
    uint64_t rate_requests [BROKER_RATE_SLOTS];     //  requests_n, once a second
    int64_t rate_at [BROKER_RATE_SLOTS];            //  when (zclock_mono)
    size_t rate_next;                               //  oldest snapshot
};

struct _mdp_broker_t {
    zsock_t *socket;
    void *handle;               //  the socket's libzmq handle
    zhashx_t *services;         //  name -> service_t
    zhashx_t *workers;          //  key -> worker_t
    metrics_t *metrics;
    broker_events_t *events;    //  the socket's events, for mmi.events
    int heartbeat_ms;
    int liveness;
    size_t queue_max;
    int no_worker_wait_ms;
    int service_linger_ms;
    int64_t heartbeat_at;
    int64_t rate_at;            //  next requests-per-second snapshot
    int64_t started;
    //  whole-broker counters
    uint64_t requests_n, replies_n, rejected_n, expired_workers_n, requeued_n;
    uint64_t client_errors_n, worker_errors_n, unroutable_n, worker_lost_n;
};

static void s_worker_delete (mdp_broker_t *self, worker_t *worker, const char *why, bool disconnect);
static void s_dispatch (mdp_broker_t *self, service_t *service);

//  --------------------------------------------------------------------------
//  Request: constructor and destructor. Takes the client id and the body
//  frames (the caller's messages are left empty).

static request_t *
s_request_new (zmq_msg_t *client, zmq_msg_t *body, size_t body_count)
{
    request_t *self = (request_t *) zmalloc (sizeof (request_t));
    zmq_msg_init (&self->client);
    zmq_msg_move (&self->client, client);
    for (size_t index = 0; index < body_count; index++) {
        zmq_msg_init (&self->body [index]);
        zmq_msg_move (&self->body [index], &body [index]);
    }
    self->body_count = body_count;
    self->received = zclock_mono ();
    self->received_us = zclock_usecs ();
    //  Our own envelopes tell us the cid, the deadline and the retry marker.
    if (body_count == 1)
        self->ours = envelope_peek ((const byte *) zmq_msg_data (&self->body [0]),
                                    zmq_msg_size (&self->body [0]), &self->retryable,
                                    &self->deadline, self->cid, sizeof self->cid)
                     == ENVELOPE_REQUEST;
    return self;
}

static void
s_request_destroy (request_t **self_p)
{
    request_t *self = *self_p;
    if (self) {
        zmq_msg_close (&self->client);
        for (size_t index = 0; index < self->body_count; index++)
            zmq_msg_close (&self->body [index]);
        free (self->verb);
        free (self->rid);
        free (self);
        *self_p = NULL;
    }
}

static void
s_request_destructor (void **item_p)
{
    s_request_destroy ((request_t **) item_p);
}

//  --------------------------------------------------------------------------
//  The request's verb and request id, decoded from its envelope the first
//  time an error reply or a log line needs them. NULL for foreign bodies
//  (and for envelopes whose body is not valid: the worker would refuse it).

static void
s_request_ids (request_t *self)
{
    if (self->ids_known)
        return;
    self->ids_known = true;
    if (!self->ours)
        return;
    envelope_t *envelope = envelope_decode ((const byte *) zmq_msg_data (&self->body [0]),
                                            zmq_msg_size (&self->body [0]), NULL);
    if (envelope && envelope->kind == ENVELOPE_REQUEST) {
        self->verb = envelope->verb ? strdup (envelope->verb) : NULL;
        self->rid = envelope->rid ? strdup (envelope->rid) : NULL;
    }
    envelope_destroy (&envelope);
}

static const char *
s_request_rid (request_t *self)
{
    if (!self)
        return NULL;
    s_request_ids (self);
    return self->rid;
}

static const char *
s_request_verb (request_t *self)
{
    s_request_ids (self);
    return self->verb;
}

static const char *
s_request_cid (request_t *self)
{
    return self->ours ? self->cid : NULL;
}

//  --------------------------------------------------------------------------
//  Service: constructor and destructor (for the services table).

static service_t *
s_service_new (const char *name)
{
    service_t *self = (service_t *) zmalloc (sizeof (service_t));
    self->name = strdup (name);
    self->labels = zsys_sprintf ("service=\"%s\"", name);
    self->requests = zlistx_new ();
    self->idle = zlistx_new ();
    zlistx_set_destructor (self->requests, s_request_destructor);
    self->active_at = zclock_mono ();
    self->workerless_at = self->active_at;
    for (size_t slot = 0; slot < BROKER_RATE_SLOTS; slot++)
        self->rate_at [slot] = self->active_at;
    return self;
}

static void
s_service_destructor (void **item_p)
{
    service_t *self = (service_t *) *item_p;
    if (self) {
        zlistx_destroy (&self->requests);
        zlistx_destroy (&self->idle);       //  holds no ownership
        free (self->name);
        zstr_free (&self->labels);
        free (self);
        *item_p = NULL;
    }
}

static void
s_worker_destructor (void **item_p)
{
    worker_t *self = (worker_t *) *item_p;
    if (self) {
        s_request_destroy (&self->request);
        free (self->address);
        free (self->key);
        free (self->name);
        free (self);
        *item_p = NULL;
    }
}

//  --------------------------------------------------------------------------
//  Add what a service counted since the last time to the metrics registry.
//  (Counting in the service and adding here spares two hash lookups and a
//  label string per message; the series stay exact and monotonic.)

static void
s_metrics_flush (mdp_broker_t *self, service_t *service)
{
    if (service->requests_n > service->requests_flushed) {
        metrics_counter_add (self->metrics, "comptoir_broker_requests_total", service->labels,
                             (double) (service->requests_n - service->requests_flushed));
        service->requests_flushed = service->requests_n;
    }
    if (service->replies_n > service->replies_flushed) {
        metrics_counter_add (self->metrics, "comptoir_broker_replies_total", service->labels,
                             (double) (service->replies_n - service->replies_flushed));
        service->replies_flushed = service->replies_n;
    }
}
//  --------------------------------------------------------------------------
//  Create a broker.

mdp_broker_t *
mdp_broker_new (settings_t *settings)
{
    mdp_broker_t *self = (mdp_broker_t *) zmalloc (sizeof (mdp_broker_t));
    if (!self)
        return NULL;
    self->heartbeat_ms = MDP_HEARTBEAT_MS_DEFAULT;
    self->liveness = MDP_LIVENESS_DEFAULT;
    self->queue_max = BROKER_QUEUE_MAX;
    self->no_worker_wait_ms = BROKER_NO_WORKER_WAIT;
    self->service_linger_ms = BROKER_SERVICE_LINGER;
    if (settings) {
        mdp_broker_set_heartbeat (self,
            (int) settings_get_int (settings, "broker/heartbeat_ms", MDP_HEARTBEAT_MS_DEFAULT),
            (int) settings_get_int (settings, "broker/liveness", MDP_LIVENESS_DEFAULT));
        int64_t queue_max = settings_get_int (settings, "broker/queue_max", BROKER_QUEUE_MAX);
        if (queue_max > 0)
            self->queue_max = (size_t) queue_max;
        mdp_broker_set_no_worker_wait (self,
            (int) settings_get_int (settings, "broker/no_worker_wait_ms", BROKER_NO_WORKER_WAIT));
        mdp_broker_set_service_linger (self,
            (int) settings_get_int (settings, "broker/service_linger_ms", BROKER_SERVICE_LINGER));
    }
    self->services = zhashx_new ();
    self->workers = zhashx_new ();
    self->metrics = metrics_new ();
    self->socket = zsock_new (ZMQ_ROUTER);
    int64_t events_max = settings
                       ? settings_get_int (settings, "broker/events_max", BROKER_EVENTS_DEFAULT)
                       : BROKER_EVENTS_DEFAULT;
    if (events_max < 1 || events_max > 1000000) {
        log_warn (NULL, "broker: events_max %" PRId64 " out of range, keeping %d", events_max,
                  BROKER_EVENTS_DEFAULT);
        events_max = BROKER_EVENTS_DEFAULT;
    }
    if (self->socket)
        self->events = broker_events_new (self->socket, (size_t) events_max);
    if (!self->services || !self->workers || !self->metrics || !self->socket || !self->events) {
        mdp_broker_destroy (&self);
        return NULL;
    }
    zhashx_set_destructor (self->services, s_service_destructor);
    zhashx_set_destructor (self->workers, s_worker_destructor);
    self->handle = zsock_resolve (self->socket);
    zsock_set_router_mandatory (self->socket, 1);
    zsock_set_router_handover (self->socket, 1);
    zsock_set_linger (self->socket, 0);
    zsock_set_sndhwm (self->socket, BROKER_HWM);
    zsock_set_rcvhwm (self->socket, BROKER_HWM);
    //  libzmq drops a peer that sends a bigger frame, before we see it
    zsock_set_maxmsgsize (self->socket, ENVELOPE_MAX_SIZE + 4096);
    self->started = zclock_mono ();
    self->heartbeat_at = self->started + self->heartbeat_ms;
    self->rate_at = self->started + 1000;

    metrics_t *m = self->metrics;
    metrics_declare (m, "comptoir_broker_requests_total", "counter", "Requests received, by service");
    metrics_declare (m, "comptoir_broker_replies_total", "counter", "Replies relayed from workers, by service");
    metrics_declare (m, "comptoir_broker_failures_total", "counter",
                     "Error replies made by the broker, by service and code");
    metrics_declare (m, "comptoir_broker_rejected_total", "counter",
                     "Requests refused at once (queue full, no worker), by service");
    metrics_declare (m, "comptoir_broker_requeued_total", "counter",
                     "Retryable requests requeued after their worker was lost, by service");
    metrics_declare (m, "comptoir_broker_expired_workers_total", "counter", "Workers dropped for silence");
    metrics_declare (m, "comptoir_broker_protocol_errors_total", "counter", "Malformed messages, by peer kind");
    metrics_declare (m, "comptoir_broker_unroutable_total", "counter", "Messages to peers that were gone");
    metrics_declare (m, "comptoir_broker_queue_depth", "gauge", "Requests waiting, by service");
    metrics_declare (m, "comptoir_broker_workers", "gauge", "Workers, by service");
    metrics_declare (m, "comptoir_broker_idle_workers", "gauge", "Idle workers, by service");
    metrics_declare (m, "comptoir_broker_request_seconds", "histogram",
                     "Time from request received to reply relayed, by service");
    return self;
}

//  --------------------------------------------------------------------------
//  Destroy the broker.

void
mdp_broker_destroy (mdp_broker_t **self_p)
{
    assert (self_p);
    mdp_broker_t *self = *self_p;
    if (self) {
        //  workers first: they point into services
        zhashx_destroy (&self->workers);
        zhashx_destroy (&self->services);
        metrics_destroy (&self->metrics);
        broker_events_destroy (&self->events);      //  before the socket it watches
        zsock_destroy (&self->socket);
        free (self);
        *self_p = NULL;
    }
}

//  --------------------------------------------------------------------------
//  Configuration.

void
mdp_broker_set_certificate (mdp_broker_t *self, zcert_t *cert)
{
    assert (self);
    assert (cert);
    curvekeys_apply_server (self->socket, cert);
}

void
mdp_broker_set_heartbeat (mdp_broker_t *self, int heartbeat_ms, int liveness)
{
    assert (self);
    if (heartbeat_ms >= 10 && heartbeat_ms <= 60000)
        self->heartbeat_ms = heartbeat_ms;
    else
        log_warn (NULL, "broker: heartbeat_ms %d out of range, keeping %d", heartbeat_ms, self->heartbeat_ms);
    if (liveness >= 1 && liveness <= 100)
        self->liveness = liveness;
    else
        log_warn (NULL, "broker: liveness %d out of range, keeping %d", liveness, self->liveness);
}

void
mdp_broker_set_queue_max (mdp_broker_t *self, size_t queue_max)
{
    assert (self);
    if (queue_max > 0)
        self->queue_max = queue_max;
}

void
mdp_broker_set_no_worker_wait (mdp_broker_t *self, int no_worker_wait_ms)
{
    assert (self);
    if (no_worker_wait_ms >= 0)
        self->no_worker_wait_ms = no_worker_wait_ms;
}

void
mdp_broker_set_service_linger (mdp_broker_t *self, int service_linger_ms)
{
    assert (self);
    if (service_linger_ms >= 0)
        self->service_linger_ms = service_linger_ms;
}

int
mdp_broker_set_events_max (mdp_broker_t *self, size_t events_max)
{
    assert (self);
    return broker_events_set_capacity (self->events, events_max);
}

int
mdp_broker_bind (mdp_broker_t *self, const char *endpoint)
{
    assert (self);
    int rc = zsock_bind (self->socket, "%s", endpoint);
    if (rc < 0)
        log_error (NULL, "broker: cannot bind %s: %s", endpoint, zmq_strerror (zmq_errno ()));
    else {
        char *bound = zsock_last_endpoint (self->socket);
        log_info (NULL, "broker: listening on %s", bound ? bound : endpoint);
        free (bound);
    }
    return rc;
}

//  --------------------------------------------------------------------------
//  Start a message to a peer with its routing id, without blocking. Returns
//  0, or -1 when the peer is gone or full (then nothing was sent). Once the
//  first frame is accepted, the rest of the message always is.

static int
s_send_start (mdp_broker_t *self, const void *address, size_t size, request_t *request)
{
    if (zmq_send (self->handle, address, size, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0)
        return 0;
    self->unroutable_n++;
    metrics_counter_add (self->metrics, "comptoir_broker_unroutable_total", NULL, 1);
    log_info (s_request_rid (request), "broker: dropping a message to a peer that is gone or full: %s",
              zmq_strerror (zmq_errno ()));
    return -1;
}

static void
s_send_bytes (mdp_broker_t *self, const void *data, size_t size, bool more)
{
    zmq_send (self->handle, data, size, ZMQ_DONTWAIT | (more ? ZMQ_SNDMORE : 0));
}

//  Send a frame we keep: a reference-counted copy, not a byte copy.
static void
s_send_copy (mdp_broker_t *self, zmq_msg_t *msg, bool more)
{
    zmq_msg_t copy;
    zmq_msg_init (&copy);
    zmq_msg_copy (&copy, msg);
    if (zmq_msg_send (&copy, self->handle, ZMQ_DONTWAIT | (more ? ZMQ_SNDMORE : 0)) < 0)
        zmq_msg_close (&copy);
}

//  --------------------------------------------------------------------------
//  Start [client] [empty] [MDPC01] [service] to a client; the caller sends
//  the body frames (the last one without more). Returns 0 or -1.

static int
s_send_client_header (mdp_broker_t *self, const void *client, size_t client_size,
                      const char *service, request_t *request)
{
    if (s_send_start (self, client, client_size, request) != 0)
        return -1;
    s_send_bytes (self, "", 0, true);
    s_send_bytes (self, MDPC_CLIENT, strlen (MDPC_CLIENT), true);
    s_send_bytes (self, service, strlen (service), true);
    return 0;
}

//  --------------------------------------------------------------------------
//  Send an error envelope to the client of a request, made here.

static void
s_reply_error (mdp_broker_t *self, const char *service, request_t *request,
               int status, const char *code, const char *message)
{
    envelope_t stub = { .kind = ENVELOPE_REQUEST, .version = ENVELOPE_VERSION,
                        .verb = (char *) s_request_verb (request),
                        .cid = (char *) s_request_cid (request),
                        .rid = (char *) s_request_rid (request) };
    envelope_t *reply = envelope_new_error (&stub, status, code, message, NULL);
    zframe_t *frame = reply ? envelope_encode (reply) : NULL;
    envelope_destroy (&reply);
    if (!frame) {
        log_error (stub.rid, "broker: cannot encode an error reply");
        return;
    }
    if (s_send_client_header (self, zmq_msg_data (&request->client), zmq_msg_size (&request->client),
                              service, request) == 0)
        s_send_bytes (self, zframe_data (frame), zframe_size (frame), false);
    zframe_destroy (&frame);
    if (zhashx_lookup (self->services, service)) {
        //  (no series for names the broker refused to know: no label explosion)
        char labels [256];
        snprintf (labels, sizeof labels, "service=\"%s\",code=\"%s\"", service, code);
        metrics_counter_add (self->metrics, "comptoir_broker_failures_total", labels, 1);
    }
    log_info (stub.rid, "broker: %s answers %d %s to %s", service, status, code,
              stub.verb ? stub.verb : "a foreign request");
}

//  --------------------------------------------------------------------------
//  Send [worker] [empty] [MDPW01] [command] to a worker.

static int
s_send_command (mdp_broker_t *self, const void *address, size_t size, const char *command)
{
    if (s_send_start (self, address, size, NULL) != 0)
        return -1;
    s_send_bytes (self, "", 0, true);
    s_send_bytes (self, MDPW_WORKER, strlen (MDPW_WORKER), true);
    s_send_bytes (self, command, 1, false);
    return 0;
}

//  --------------------------------------------------------------------------
//  A service name we accept: printable, no quotes or backslashes (it goes
//  into logs and metric labels), not too long.

static bool
s_valid_name (zmq_msg_t *frame)
{
    size_t size = zmq_msg_size (frame);
    if (size == 0 || size > BROKER_SERVICE_MAX)
        return false;
    const byte *data = (const byte *) zmq_msg_data (frame);
    for (size_t index = 0; index < size; index++)
        if (data [index] < 0x21 || data [index] > 0x7e || data [index] == '"' || data [index] == '\\')
            return false;
    return true;
}

//  --------------------------------------------------------------------------
//  Find a service, creating it when absent.

static service_t *
s_service_require (mdp_broker_t *self, const char *name)
{
    service_t *service = (service_t *) zhashx_lookup (self->services, name);
    if (!service) {
        service = s_service_new (name);
        zhashx_insert (self->services, name, service);
        log_debug (NULL, "broker: new service %s", name);
    }
    return service;
}

//  --------------------------------------------------------------------------
//  Hand queued requests to idle workers, least recently used first.

static void
s_dispatch (mdp_broker_t *self, service_t *service)
{
    while (zlistx_size (service->requests) > 0 && zlistx_size (service->idle) > 0) {
        worker_t *worker = (worker_t *) zlistx_first (service->idle);
        zlistx_delete (service->idle, worker->idle_handle);
        worker->idle_handle = NULL;
        request_t *request = (request_t *) zlistx_first (service->requests);
        if (s_send_start (self, worker->address, worker->address_size, request) != 0) {
            //  The worker is gone: the request was never delivered, keep it.
            s_worker_delete (self, worker, "unreachable", false);
            continue;
        }
        //  [empty] [MDPW01] [REQUEST] [client] [empty] [body...]
        s_send_bytes (self, "", 0, true);
        s_send_bytes (self, MDPW_WORKER, strlen (MDPW_WORKER), true);
        s_send_bytes (self, MDPW_REQUEST, 1, true);
        s_send_bytes (self, zmq_msg_data (&request->client), zmq_msg_size (&request->client), true);
        s_send_bytes (self, "", 0, true);
        for (size_t index = 0; index < request->body_count; index++)
            s_send_copy (self, &request->body [index], index + 1 < request->body_count);
        worker->request = (request_t *) zlistx_detach (service->requests, NULL);
        request->attempts++;
        log_debug (NULL, "broker: %s request %s to worker %s", service->name,
                   request->ours ? request->cid : "(foreign)", worker->name);
    }
}

//  --------------------------------------------------------------------------
//  A request lost its worker: back to the front of the queue when it may be
//  retried, else an error for its client at once.

static void
s_request_orphaned (mdp_broker_t *self, service_t *service, request_t **request_p)
{
    request_t *request = *request_p;
    *request_p = NULL;
    if (request->deadline && request->deadline <= zclock_time ()) {
        service->expired_n++;
        s_reply_error (self, service->name, request, 504, "upstream_timeout",
                       "the request's deadline passed while a worker held it");
        s_request_destroy (&request);
    }
    else
    if (request->retryable && request->attempts < BROKER_MAX_ATTEMPTS) {
        service->requeued_n++;
        self->requeued_n++;
        metrics_counter_add (self->metrics, "comptoir_broker_requeued_total", service->labels, 1);
        log_info (s_request_rid (request), "broker: requeueing %s on %s after its worker was lost",
                  s_request_verb (request) ? s_request_verb (request) : "request", service->name);
        zlistx_add_start (service->requests, request);
    }
    else {
        service->failures_n++;
        self->worker_lost_n++;
        s_reply_error (self, service->name, request, 503, "worker_lost",
                       request->retryable
                       ? "the workers handling the request stopped; it was retried too many times"
                       : "the worker handling the request stopped; it was not retried because it is "
                         "not marked retryable");
        s_request_destroy (&request);
    }
}

//  --------------------------------------------------------------------------
//  Forget a worker. Its request, if any, is requeued or answered.

static void
s_worker_delete (mdp_broker_t *self, worker_t *worker, const char *why, bool disconnect)
{
    if (disconnect)
        s_send_command (self, worker->address, worker->address_size, MDPW_DISCONNECT);
    service_t *service = worker->service;
    request_t *request = worker->request;
    worker->request = NULL;
    log_info (s_request_rid (request), "broker: worker %s of %s leaves (%s)%s", worker->name,
              service->name, why, request ? " holding a request" : "");
    if (worker->idle_handle)
        zlistx_delete (service->idle, worker->idle_handle);
    service->workers--;
    service->active_at = zclock_mono ();
    if (service->workers == 0)
        service->workerless_at = service->active_at;
    char detail [160];
    snprintf (detail, sizeof detail, "%s of %s: %s", worker->name, service->name, why);
    broker_events_add (self->events, "worker_left", worker->peer, NULL, detail);
    zhashx_delete (self->workers, worker->key);
    if (request) {
        s_request_orphaned (self, service, &request);
        s_dispatch (self, service);
    }
}
//  --------------------------------------------------------------------------
//  Management services, answered by the broker itself.

static int
s_compare_latency (const void *one, const void *two)
{
    uint32_t a = *(const uint32_t *) one, b = *(const uint32_t *) two;
    return a < b ? -1 : a > b;
}

//  Requests per second since the oldest snapshot, and p50/p99 (ms, null
//  before the first reply) over the last replies: into the service's status.
static void
s_service_figures (service_t *service, int64_t now, json_t *object)
{
    size_t oldest = service->rate_next;
    int64_t elapsed = now - service->rate_at [oldest];
    double rps = elapsed > 0
               ? (double) (service->requests_n - service->rate_requests [oldest]) * 1000.0 / (double) elapsed
               : 0.0;
    double p50 = -1, p99 = -1;
    if (service->latency_count > 0) {
        uint32_t sorted [BROKER_LATENCY_SAMPLES];
        size_t count = service->latency_count;
        memcpy (sorted, service->latency_us, count * sizeof (uint32_t));
        qsort (sorted, count, sizeof (uint32_t), s_compare_latency);
        p50 = sorted [(count - 1) * 50 / 100] / 1000.0;
        p99 = sorted [(count - 1) * 99 / 100] / 1000.0;
    }
    json_object_set_new (object, "rps", json_real (rps));
    json_object_set_new (object, "p50_ms", p50 < 0 ? json_null () : json_real (p50));
    json_object_set_new (object, "p99_ms", p99 < 0 ? json_null () : json_real (p99));
    json_object_set_new (object, "latency_samples", json_integer ((json_int_t) service->latency_count));
}

static json_t *
s_status_json (mdp_broker_t *self)
{
    int64_t now = zclock_mono ();
    json_t *services = json_array ();
    service_t *service = (service_t *) zhashx_first (self->services);
    while (service) {
        json_t *object = json_pack (
            "{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
            "name", service->name,
            "workers", (json_int_t) service->workers,
            "idle", (json_int_t) zlistx_size (service->idle),
            "queue", (json_int_t) zlistx_size (service->requests),
            "requests", (json_int_t) service->requests_n,
            "replies", (json_int_t) service->replies_n,
            "failures", (json_int_t) service->failures_n,
            "expired", (json_int_t) service->expired_n,
            "requeued", (json_int_t) service->requeued_n);
        if (object) {
            s_service_figures (service, now, object);
            json_array_append_new (services, object);
        }
        service = (service_t *) zhashx_next (self->services);
    }
    json_t *workers = json_array ();
    worker_t *worker = (worker_t *) zhashx_first (self->workers);
    while (worker) {
        int64_t expires_in = worker->expiry - now;
        json_array_append_new (workers, json_pack (
            "{s:s, s:s, s:s, s:b, s:I, s:I, s:I, s:I}",
            "id", worker->name,
            "service", worker->service->name,
            "address", worker->peer,
            "idle", worker->request == NULL,
            "served", (json_int_t) worker->served,
            "expires_in_ms", (json_int_t) expires_in,
            "age_ms", (json_int_t) (now - worker->ready_at),
            "seen_ms_ago", (json_int_t) ((int64_t) self->heartbeat_ms * self->liveness - expires_in)));
        worker = (worker_t *) zhashx_next (self->workers);
    }
    //  "ha": this broker runs alone until a Binary Star pair exists.
    return json_pack ("{s:o, s:o, s:s, s:I, s:i, s:i, s:I, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}}",
        "services", services,
        "workers", workers,
        "ha", "single",
        "uptime_s", (json_int_t) ((now - self->started) / 1000),
        "heartbeat_ms", self->heartbeat_ms,
        "liveness", self->liveness,
        "queue_max", (json_int_t) self->queue_max,
        "counters",
            "requests", (json_int_t) self->requests_n,
            "replies", (json_int_t) self->replies_n,
            "rejected", (json_int_t) self->rejected_n,
            "requeued", (json_int_t) self->requeued_n,
            "worker_lost", (json_int_t) self->worker_lost_n,
            "expired_workers", (json_int_t) self->expired_workers_n,
            "client_errors", (json_int_t) self->client_errors_n,
            "worker_errors", (json_int_t) self->worker_errors_n,
            "unroutable", (json_int_t) self->unroutable_n);
}

char *
mdp_broker_status (mdp_broker_t *self)
{
    assert (self);
    json_t *status = s_status_json (self);
    char *text = json_dumps (status, JSON_COMPACT);
    json_decref (status);
    return text;
}

static char *
s_metrics_text (mdp_broker_t *self)
{
    service_t *service = (service_t *) zhashx_first (self->services);
    while (service) {
        s_metrics_flush (self, service);
        metrics_gauge_set (self->metrics, "comptoir_broker_queue_depth", service->labels,
                           (double) zlistx_size (service->requests));
        metrics_gauge_set (self->metrics, "comptoir_broker_workers", service->labels,
                           (double) service->workers);
        metrics_gauge_set (self->metrics, "comptoir_broker_idle_workers", service->labels,
                           (double) zlistx_size (service->idle));
        service = (service_t *) zhashx_next (self->services);
    }
    return metrics_render (self->metrics, NULL);
}

//  Answer an MMI request. Envelopes get envelopes; raw bodies get raw text
//  (RFC 8's "200"/"404"/"501" for mmi.service, as foreign clients expect).
static void
s_mmi (mdp_broker_t *self, zmq_msg_t *client, const char *name, zmq_msg_t *body, size_t body_count)
{
    zmq_msg_t *frame = &body [0];
    envelope_t *request = NULL;
    if (body_count == 1)
        request = envelope_decode ((const byte *) zmq_msg_data (frame), zmq_msg_size (frame), NULL);
    if (request && request->kind != ENVELOPE_REQUEST)
        envelope_destroy (&request);

    char *raw = NULL;
    envelope_t *reply = NULL;
    if (streq (name, MDP_MMI_SERVICE)) {
        char *wanted = NULL;
        if (request) {
            json_t *value = json_object_get (request->body, "service");
            wanted = json_is_string (value) ? strdup (json_string_value (value)) : NULL;
        }
        else
            wanted = strndup ((const char *) zmq_msg_data (frame), zmq_msg_size (frame));
        service_t *service = wanted ? (service_t *) zhashx_lookup (self->services, wanted) : NULL;
        bool found = service && service->workers > 0;
        if (request)
            reply = envelope_new_reply (request, found ? 200 : 404, json_pack ("{s:s?, s:I}",
                                        "service", wanted, "workers",
                                        (json_int_t) (service ? service->workers : 0)));
        else
            raw = strdup (found ? "200" : "404");
        free (wanted);
    }
    else
    if (streq (name, MDP_MMI_STATUS)) {
        json_t *status = s_status_json (self);
        if (request)
            reply = envelope_new_reply (request, 200, status);
        else {
            raw = json_dumps (status, JSON_COMPACT);
            json_decref (status);
        }
    }
    else
    if (streq (name, MDP_MMI_EVENTS)) {
        //  {since: N} in an envelope; a raw body is N in decimal.
        uint64_t since = 0;
        bool valid = true;
        if (request) {
            json_t *value = json_object_get (request->body, "since");
            valid = !value || (json_is_integer (value) && json_integer_value (value) >= 0);
            if (valid && value)
                since = (uint64_t) json_integer_value (value);
        }
        else {
            char text [24];
            size_t size = zmq_msg_size (frame);
            valid = size > 0 && size < sizeof text;
            if (valid) {
                memcpy (text, zmq_msg_data (frame), size);
                text [size] = 0;
                char *end = NULL;
                errno = 0;
                since = strtoull (text, &end, 10);
                valid = errno == 0 && *end == 0 && text [0] >= '0' && text [0] <= '9';
            }
        }
        if (!valid) {
            if (request)
                reply = envelope_new_error (request, 400, "bad_request", "since must be an integer >= 0", NULL);
            else
                raw = strdup ("400");
        }
        else {
            broker_events_drain (self->events);     //  what libzmq has already said
            json_t *events = broker_events_since (self->events, since);
            if (request)
                reply = envelope_new_reply (request, 200, events);
            else {
                raw = json_dumps (events, JSON_COMPACT);
                json_decref (events);
            }
        }
    }
    else
    if (streq (name, MDP_MMI_METRICS)) {
        char *text = s_metrics_text (self);
        if (request)
            reply = envelope_new_reply (request, 200, json_pack ("{s:s}", "text", text ? text : ""));
        else
            raw = text ? strdup (text) : strdup ("");
        free (text);
    }
    else {
        if (request)
            reply = envelope_new_error (request, 501, "not_implemented", "no such management service", NULL);
        else
            raw = strdup ("501");
    }
    zframe_t *answer = NULL;
    if (reply)
        answer = envelope_encode (reply);
    else
    if (raw)
        answer = zframe_from (raw);
    if (answer && s_send_client_header (self, zmq_msg_data (client), zmq_msg_size (client),
                                        name, NULL) == 0)
        s_send_bytes (self, zframe_data (answer), zframe_size (answer), false);
    zframe_destroy (&answer);
    free (raw);
    envelope_destroy (&reply);
    envelope_destroy (&request);
}

//  --------------------------------------------------------------------------
//  A protocol error from a client: drop the message, with a log line.

static void
s_client_error (mdp_broker_t *self, const char *why)
{
    self->client_errors_n++;
    metrics_counter_add (self->metrics, "comptoir_broker_protocol_errors_total", "peer=\"client\"", 1);
    log_warn (NULL, "broker: dropping a malformed client message: %s", why);
}

//  --------------------------------------------------------------------------
//  A client request: [sender] [empty] [MDPC01] [service] [body...].

static void
s_client_message (mdp_broker_t *self, input_t *input)
{
    zmq_msg_t *name_frame = input->count > 3 ? &input->part [3] : NULL;
    zmq_msg_t *body = &input->part [4];
    size_t body_count = input->count > 4 ? input->count - 4 : 0;
    size_t content = 0;
    for (size_t index = 0; index < body_count; index++)
        content += zmq_msg_size (&body [index]);
    if (!name_frame || !s_valid_name (name_frame) || body_count == 0
        || body_count > BROKER_MAX_BODY_FRAMES || content > ENVELOPE_MAX_SIZE) {
        s_client_error (self, "bad service name or body");
        return;
    }
    char name [BROKER_SERVICE_MAX + 1];
    memcpy (name, zmq_msg_data (name_frame), zmq_msg_size (name_frame));
    name [zmq_msg_size (name_frame)] = 0;
    if (strncmp (name, MDP_MMI_PREFIX, strlen (MDP_MMI_PREFIX)) == 0) {
        s_mmi (self, &input->part [0], name, body, body_count);
        return;
    }
    request_t *request = s_request_new (&input->part [0], body, body_count);
    service_t *service = (service_t *) zhashx_lookup (self->services, name);
    if (!service && zhashx_size (self->services) >= BROKER_SERVICES_MAX) {
        self->rejected_n++;
        s_reply_error (self, name, request, 503, "service_unavailable", "the broker knows too many services");
        s_request_destroy (&request);
        return;
    }
    if (!service)
        service = s_service_require (self, name);
    service->requests_n++;
    service->active_at = request->received;
    self->requests_n++;

    if (request->deadline && request->deadline <= zclock_time ()) {
        service->expired_n++;
        s_reply_error (self, service->name, request, 504, "upstream_timeout",
                       "the request's deadline had passed when it reached the broker");
        s_request_destroy (&request);
    }
    else
    if (zlistx_size (service->requests) >= self->queue_max
    || (service->workers == 0 && self->no_worker_wait_ms == 0)) {
        self->rejected_n++;
        service->failures_n++;
        metrics_counter_add (self->metrics, "comptoir_broker_rejected_total", service->labels, 1);
        s_reply_error (self, service->name, request, 503, "service_unavailable",
                       service->workers == 0 ? "no worker serves this service"
                                             : "the service's queue is full");
        s_request_destroy (&request);
    }
    else {
        zlistx_add_end (service->requests, request);
        s_dispatch (self, service);
    }
}

//  --------------------------------------------------------------------------
//  A protocol error from a worker: DISCONNECT, and forget it when known.

static void
s_worker_error (mdp_broker_t *self, zmq_msg_t *sender, worker_t *worker, const char *why)
{
    self->worker_errors_n++;
    metrics_counter_add (self->metrics, "comptoir_broker_protocol_errors_total", "peer=\"worker\"", 1);
    log_warn (NULL, "broker: protocol error from worker %s: %s", worker ? worker->name : "(unknown)", why);
    if (worker)
        s_worker_delete (self, worker, why, true);
    else
        s_send_command (self, zmq_msg_data (sender), zmq_msg_size (sender), MDPW_DISCONNECT);
}

//  --------------------------------------------------------------------------
//  A printable name for a routing id.

static char *
s_peer_name (const byte *data, size_t size)
{
    bool printable = size > 0 && data [0] != 0;
    for (size_t index = 0; printable && index < size; index++)
        printable = data [index] >= 0x20 && data [index] < 0x7f && data [index] != '"' && data [index] != '\\';
    if (printable)
        return strndup ((const char *) data, size);
    char *hex = (char *) malloc (2 * size + 1);
    if (hex) {
        static const char digits [] = "0123456789ABCDEF";
        for (size_t index = 0; index < size; index++) {
            hex [2 * index] = digits [data [index] >> 4];
            hex [2 * index + 1] = digits [data [index] & 15];
        }
        hex [2 * size] = 0;
    }
    return hex;
}

//  The workers table key of a routing id: its bytes in hex, into key.
static void
s_peer_key (char *key, const byte *data, size_t size)
{
    static const char digits [] = "0123456789ABCDEF";
    for (size_t index = 0; index < size; index++) {
        key [2 * index] = digits [data [index] >> 4];
        key [2 * index + 1] = digits [data [index] & 15];
    }
    key [2 * size] = 0;
}

//  --------------------------------------------------------------------------
//  A worker message: [sender] [empty] [MDPW01] [command] [...].

static void
s_worker_message (mdp_broker_t *self, input_t *input)
{
    zmq_msg_t *sender = &input->part [0];
    char key [2 * BROKER_ADDRESS_MAX + 1];
    s_peer_key (key, (const byte *) zmq_msg_data (sender), zmq_msg_size (sender));
    worker_t *worker = (worker_t *) zhashx_lookup (self->workers, key);
    zmq_msg_t *command = input->count > 3 ? &input->part [3] : NULL;
    zmq_msg_t *args = &input->part [4];
    size_t arg_count = input->count > 4 ? input->count - 4 : 0;
    if (worker)
        worker->expiry = zclock_mono () + (int64_t) self->heartbeat_ms * self->liveness;

    byte code = command && zmq_msg_size (command) == 1 ? *(byte *) zmq_msg_data (command) : 0;
    if (!command || zmq_msg_size (command) != 1)
        s_worker_error (self, sender, worker, "bad command frame");
    else
    if (code == (byte) MDPW_REPLY [0]) {
        //  [client] [empty] [body...]
        zmq_msg_t *client = arg_count > 0 ? &args [0] : NULL;
        zmq_msg_t *empty = arg_count > 1 ? &args [1] : NULL;
        zmq_msg_t *body = &args [2];
        size_t body_count = arg_count > 2 ? arg_count - 2 : 0;
        if (!worker)
            s_worker_error (self, sender, NULL, "REPLY from a worker that is not ready");
        else
        if (!client || !empty || zmq_msg_size (empty) != 0 || body_count == 0
            || body_count > BROKER_MAX_BODY_FRAMES)
            s_worker_error (self, sender, worker, "malformed REPLY");
        else
        if (!worker->request
        ||  zmq_msg_size (client) != zmq_msg_size (&worker->request->client)
        ||  memcmp (zmq_msg_data (client), zmq_msg_data (&worker->request->client),
                    zmq_msg_size (client)) != 0)
            s_worker_error (self, sender, worker, "REPLY for a request it does not hold");
        else {
            service_t *service = worker->service;
            request_t *request = worker->request;
            worker->request = NULL;
            //  The body frames go on as they came (moved, not copied).
            if (s_send_client_header (self, zmq_msg_data (client), zmq_msg_size (client),
                                      service->name, request) == 0)
                for (size_t index = 0; index < body_count; index++)
                    if (zmq_msg_send (&body [index], self->handle,
                                      ZMQ_DONTWAIT | (index + 1 < body_count ? ZMQ_SNDMORE : 0)) < 0)
                        break;
            service->replies_n++;
            self->replies_n++;
            worker->served++;
            int64_t latency_us = zclock_usecs () - request->received_us;
            metrics_observe (self->metrics, "comptoir_broker_request_seconds", service->labels,
                             (double) latency_us / 1e6);
            service->latency_us [service->latency_next] =
                latency_us > UINT32_MAX ? UINT32_MAX : (uint32_t) (latency_us > 0 ? latency_us : 0);
            service->latency_next = (service->latency_next + 1) % BROKER_LATENCY_SAMPLES;
            if (service->latency_count < BROKER_LATENCY_SAMPLES)
                service->latency_count++;
            log_debug (NULL, "broker: reply from %s for %s request %s", worker->name, service->name,
                       request->ours ? request->cid : "(foreign)");
            s_request_destroy (&request);
            //  back to the END of the idle list: least recently used goes first
            worker->idle_handle = zlistx_add_end (service->idle, worker);
            s_dispatch (self, service);
        }
    }
    else
    if (code == (byte) MDPW_READY [0]) {
        zmq_msg_t *name = arg_count > 0 ? &args [0] : NULL;
        size_t prefix = strlen (MDP_MMI_PREFIX);
        bool valid = arg_count == 1 && s_valid_name (name)
                  && !(zmq_msg_size (name) >= prefix
                       && memcmp (zmq_msg_data (name), MDP_MMI_PREFIX, prefix) == 0);
        if (!valid)
            s_worker_error (self, sender, worker, "bad READY");
        else {
            if (worker)     //  the same identity again: it restarted
                s_worker_delete (self, worker, "READY again", false);
            char service_name [BROKER_SERVICE_MAX + 1];
            memcpy (service_name, zmq_msg_data (name), zmq_msg_size (name));
            service_name [zmq_msg_size (name)] = 0;
            worker = (worker_t *) zmalloc (sizeof (worker_t));
            worker->key = strdup (key);
            worker->address_size = zmq_msg_size (sender);
            worker->address = (byte *) malloc (worker->address_size);
            memcpy (worker->address, zmq_msg_data (sender), worker->address_size);
            worker->name = s_peer_name (worker->address, worker->address_size);
            //  libzmq gives the peer's IP with each message from the wire
            //  (not with the routing id, which the ROUTER makes).
            const char *peer = zmq_msg_gets (&input->part [2], "Peer-Address");
            snprintf (worker->peer, sizeof worker->peer, "%s", peer ? peer : "");
            worker->service = s_service_require (self, service_name);
            worker->ready_at = zclock_mono ();
            worker->expiry = worker->ready_at + (int64_t) self->heartbeat_ms * self->liveness;
            zhashx_insert (self->workers, worker->key, worker);
            char detail [160];
            snprintf (detail, sizeof detail, "%s for %s", worker->name, service_name);
            broker_events_add (self->events, "worker_ready", worker->peer, NULL, detail);
            service_t *service = worker->service;
            service->workers++;
            service->active_at = zclock_mono ();
            worker->idle_handle = zlistx_add_end (service->idle, worker);
            log_info (NULL, "broker: worker %s ready for %s (%zu workers)", worker->name,
                      service_name, service->workers);
            s_dispatch (self, service);
        }
    }
    else
    if (code == (byte) MDPW_HEARTBEAT [0]) {
        if (!worker)
            s_worker_error (self, sender, NULL, "HEARTBEAT from a worker that is not ready");
        else
        if (arg_count != 0)
            s_worker_error (self, sender, worker, "malformed HEARTBEAT");
    }
    else
    if (code == (byte) MDPW_DISCONNECT [0]) {
        if (worker)
            s_worker_delete (self, worker, "DISCONNECT", false);
    }
    else
        s_worker_error (self, sender, worker, "unknown command");
}

//  --------------------------------------------------------------------------
//  One message from the socket: [sender] [empty] [MDPC01|MDPW01] ...

static void
s_handle_message (mdp_broker_t *self, input_t *input)
{
    zmq_msg_t *part = input->part;
    if (input->too_many || input->count < 3 || zmq_msg_size (&part [0]) == 0
        || zmq_msg_size (&part [0]) > BROKER_ADDRESS_MAX || zmq_msg_size (&part [1]) != 0)
        s_client_error (self, "bad envelope frames");
    else
    if (zmq_msg_size (&part [2]) == strlen (MDPC_CLIENT)
    &&  memcmp (zmq_msg_data (&part [2]), MDPC_CLIENT, strlen (MDPC_CLIENT)) == 0)
        s_client_message (self, input);
    else
    if (zmq_msg_size (&part [2]) == strlen (MDPW_WORKER)
    &&  memcmp (zmq_msg_data (&part [2]), MDPW_WORKER, strlen (MDPW_WORKER)) == 0)
        s_worker_message (self, input);
    else
        s_client_error (self, "unknown protocol header");
}

//  --------------------------------------------------------------------------
//  Read one whole message without waiting. Returns 0, or -1 when none is
//  there. Frames past BROKER_MAX_PARTS are read and dropped (too_many).

static int
s_recv_input (mdp_broker_t *self, input_t *input)
{
    input->count = 0;
    input->too_many = false;
    zmq_msg_init (&input->part [0]);
    if (zmq_msg_recv (&input->part [0], self->handle, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close (&input->part [0]);
        return -1;
    }
    input->count = 1;
    bool more = zmq_msg_more (&input->part [0]);
    while (more) {
        zmq_msg_t extra;
        zmq_msg_t *part = input->count < BROKER_MAX_PARTS ? &input->part [input->count] : &extra;
        zmq_msg_init (part);
        //  The rest of a message is there once its first frame is.
        if (zmq_msg_recv (part, self->handle, 0) < 0) {
            zmq_msg_close (part);
            input->too_many = true;
            break;
        }
        more = zmq_msg_more (part);
        if (part == &extra) {
            zmq_msg_close (part);
            input->too_many = true;
        }
        else
            input->count++;
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Socket reader: drain a batch of messages per wakeup, with no poll or
//  ZMQ_EVENTS query between them.

static int
s_handle_input (zloop_t *loop, zsock_t *reader, void *arg)
{
    mdp_broker_t *self = (mdp_broker_t *) arg;
    input_t input;
    for (int count = 0; count < BROKER_DRAIN_MAX; count++) {
        if (s_recv_input (self, &input) != 0)
            break;
        s_handle_message (self, &input);
        for (size_t index = 0; index < input.count; index++)
            zmq_msg_close (&input.part [index]);
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Housekeeping: heartbeats, expiries, deadlines, idle services.

static void
s_purge_service (mdp_broker_t *self, service_t *service, int64_t now, int64_t now_ms)
{
    request_t *request = (request_t *) zlistx_first (service->requests);
    while (request) {
        const char *code = NULL;
        if (request->deadline && request->deadline <= now_ms)
            code = "upstream_timeout";
        else
        if (service->workers == 0
        &&  now - request->received >= self->no_worker_wait_ms
        &&  now - service->workerless_at >= self->no_worker_wait_ms)
            code = "service_unavailable";
        if (code) {
            request = (request_t *) zlistx_detach_cur (service->requests);
            if (streq (code, "upstream_timeout")) {
                service->expired_n++;
                s_reply_error (self, service->name, request, 504, code,
                               "the request's deadline passed while it waited for a worker");
            }
            else {
                service->failures_n++;
                self->rejected_n++;
                metrics_counter_add (self->metrics, "comptoir_broker_rejected_total", service->labels, 1);
                s_reply_error (self, service->name, request, 503, code, "no worker serves this service");
            }
            s_request_destroy (&request);
            //  detaching moved the cursor back one: next is still right
        }
        request = (request_t *) zlistx_next (service->requests);
    }
}

static int
s_handle_timer (zloop_t *loop, int timer_id, void *arg)
{
    mdp_broker_t *self = (mdp_broker_t *) arg;
    int64_t now = zclock_mono ();
    int64_t now_ms = zclock_time ();

    //  Heartbeats to every worker, idle or busy; a send that fails means
    //  the peer is gone.
    //  Keys are copied: deleting one worker may delete others (a failed
    //  dispatch) and free their keys.
    zlistx_t *dead = zlistx_new ();
    zlistx_set_duplicator (dead, (czmq_duplicator *) strdup);
    zlistx_set_destructor (dead, (czmq_destructor *) zstr_free);
    bool beat = now >= self->heartbeat_at;
    if (beat)
        self->heartbeat_at = now + self->heartbeat_ms;
    worker_t *worker = (worker_t *) zhashx_first (self->workers);
    while (worker) {
        if (worker->expiry <= now)
            zlistx_add_end (dead, worker->key);
        else
        if (beat && s_send_command (self, worker->address, worker->address_size, MDPW_HEARTBEAT) != 0)
            zlistx_add_end (dead, worker->key);
        worker = (worker_t *) zhashx_next (self->workers);
    }
    const char *key = (const char *) zlistx_first (dead);
    while (key) {
        worker = (worker_t *) zhashx_lookup (self->workers, key);
        if (worker) {
            bool expired = worker->expiry <= now;
            if (expired) {
                self->expired_workers_n++;
                metrics_counter_add (self->metrics, "comptoir_broker_expired_workers_total", NULL, 1);
            }
            s_worker_delete (self, worker, expired ? "expired" : "unreachable", false);
        }
        key = (const char *) zlistx_next (dead);
    }
    zlistx_destroy (&dead);

    //  Deadlines, services without workers, services nobody uses; once a
    //  second, a snapshot of each service's request count for its rate.
    bool snapshot = now >= self->rate_at;
    if (snapshot)
        self->rate_at = now + 1000;
    zlistx_t *unused = zlistx_new ();
    zlistx_set_duplicator (unused, (czmq_duplicator *) strdup);
    zlistx_set_destructor (unused, (czmq_destructor *) zstr_free);
    service_t *service = (service_t *) zhashx_first (self->services);
    while (service) {
        if (snapshot) {
            service->rate_requests [service->rate_next] = service->requests_n;
            service->rate_at [service->rate_next] = now;
            service->rate_next = (service->rate_next + 1) % BROKER_RATE_SLOTS;
        }
        if (zlistx_size (service->requests) > 0)
            s_purge_service (self, service, now, now_ms);
        if (service->workers > 0 || zlistx_size (service->requests) > 0)
            service->active_at = now;
        else
        if (now - service->active_at >= self->service_linger_ms)
            zlistx_add_end (unused, service->name);
        service = (service_t *) zhashx_next (self->services);
    }
    const char *name = (const char *) zlistx_first (unused);
    while (name) {
        service = (service_t *) zhashx_lookup (self->services, name);
        metrics_gauge_set (self->metrics, "comptoir_broker_queue_depth", service->labels, 0);
        metrics_gauge_set (self->metrics, "comptoir_broker_workers", service->labels, 0);
        metrics_gauge_set (self->metrics, "comptoir_broker_idle_workers", service->labels, 0);
        log_debug (NULL, "broker: freeing unused service %s", name);
        s_metrics_flush (self, service);
        zhashx_delete (self->services, name);
        name = (const char *) zlistx_next (unused);
    }
    zlistx_destroy (&unused);
    return 0;
}

//  --------------------------------------------------------------------------
//  Attach to a loop.

int
mdp_broker_attach (mdp_broker_t *self, zloop_t *loop)
{
    assert (self);
    assert (loop);
    if (zloop_reader (loop, self->socket, s_handle_input, self) != 0)
        return -1;
    zloop_reader_set_tolerant (loop, self->socket);
    if (broker_events_attach (self->events, loop) != 0)
        return -1;
    int tick = self->heartbeat_ms / 2;
    if (tick > BROKER_TICK_MAX_MS)
        tick = BROKER_TICK_MAX_MS;
    if (tick < 5)
        tick = 5;
    if (zloop_timer (loop, (size_t) tick, 0, s_handle_timer, self) < 0)
        return -1;
    return 0;
}

//  --------------------------------------------------------------------------
//  The actor.

static int
s_handle_pipe (zloop_t *loop, zsock_t *pipe, void *arg)
{
    mdp_broker_t *self = (mdp_broker_t *) arg;
    zmsg_t *msg = zmsg_recv (pipe);
    char *command = msg ? zmsg_popstr (msg) : NULL;
    int rc = 0;
    if (!command || streq (command, "$TERM"))
        rc = -1;
    else
    if (streq (command, "STATUS")) {
        char *status = mdp_broker_status (self);
        zstr_send (pipe, status);
        free (status);
    }
    else
        log_warn (NULL, "broker: unknown actor command %s", command);
    free (command);
    zmsg_destroy (&msg);
    return rc;
}

void
mdp_broker_actor (zsock_t *pipe, void *args)
{
    mdp_broker_t *self = (mdp_broker_t *) args;
    zloop_t *loop = zloop_new ();
    if (!loop || mdp_broker_attach (self, loop) != 0
    || zloop_reader (loop, pipe, s_handle_pipe, self) != 0) {
        zloop_destroy (&loop);
        mdp_broker_destroy (&self);
        zsock_signal (pipe, 1);
        return;
    }
    zsock_signal (pipe, 0);
    zloop_start (loop);
    zloop_destroy (&loop);
    mdp_broker_destroy (&self);
}

//  --------------------------------------------------------------------------
//  Self-test: plaintext, in-process, raw frames (the real-process and CURVE
//  cases are in tests/brokertest.c).

static zmsg_t *
s_recv_timeout (zsock_t *sock, int timeout_ms)
{
    zsock_set_rcvtimeo (sock, timeout_ms);
    return zmsg_recv (sock);
}

void
mdp_broker_test (bool verbose)
{
    printf (" * mdp_broker: ");
    mdp_broker_t *broker = mdp_broker_new (NULL);
    assert (broker);
    mdp_broker_set_heartbeat (broker, 50, 3);
    int port = mdp_broker_bind (broker, "tcp://127.0.0.1:*");
    assert (port > 0);
    zactor_t *actor = zactor_new (mdp_broker_actor, broker);
    assert (actor);
    char endpoint [64];
    snprintf (endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", port);

    //  A raw worker and a raw client, as foreign peers would be.
    zsock_t *worker = zsock_new_dealer (endpoint);
    zsock_t *client = zsock_new_dealer (endpoint);
    assert (worker && client);
    zstr_sendm (worker, "");
    zstr_sendm (worker, MDPW_WORKER);
    zstr_sendm (worker, MDPW_READY);
    zstr_send (worker, "echo");

    //  MMI (RFC 8): "200" once the worker is known; "404" for others.
    zmsg_t *msg = NULL;
    for (int turn = 0; turn < 100; turn++) {
        zstr_sendx (client, "", MDPC_CLIENT, MDP_MMI_SERVICE, "echo", NULL);
        msg = s_recv_timeout (client, 2000);
        assert (msg && zmsg_size (msg) == 4);
        if (zframe_streq (zmsg_last (msg), "200"))
            break;
        assert (zframe_streq (zmsg_last (msg), "404"));
        zmsg_destroy (&msg);
        zclock_sleep (20);
    }
    assert (msg);
    zmsg_destroy (&msg);
    zstr_sendx (client, "", MDPC_CLIENT, MDP_MMI_SERVICE, "nosuch", NULL);
    msg = s_recv_timeout (client, 2000);
    assert (msg && zframe_streq (zmsg_last (msg), "404"));
    zmsg_destroy (&msg);

    //  mmi.events: the socket events and workers' comings, after seq 0.
    zstr_sendx (client, "", MDPC_CLIENT, MDP_MMI_EVENTS, "0", NULL);
    msg = s_recv_timeout (client, 2000);
    assert (msg && zmsg_size (msg) == 4);
    char *events = zframe_strdup (zmsg_last (msg));
    assert (events && strstr (events, "\"accepted\"") && strstr (events, "\"worker_ready\""));
    free (events);
    zmsg_destroy (&msg);
    zstr_sendx (client, "", MDPC_CLIENT, MDP_MMI_EVENTS, "-1", NULL);
    msg = s_recv_timeout (client, 2000);
    assert (msg && zframe_streq (zmsg_last (msg), "400"));
    zmsg_destroy (&msg);

    //  A foreign request travels to the worker and back untouched.
    zstr_sendm (client, "");
    zstr_sendm (client, MDPC_CLIENT);
    zstr_sendm (client, "echo");
    zstr_send (client, "hello");
    while (true) {
        msg = s_recv_timeout (worker, 2000);
        assert (msg);
        zmsg_first (msg);
        zmsg_next (msg);
        zframe_t *command = zmsg_next (msg);
        if (zframe_streq (command, MDPW_REQUEST))
            break;
        zmsg_destroy (&msg);
    }
    assert (zmsg_size (msg) == 6);
    assert (zframe_streq (zmsg_last (msg), "hello"));
    zmsg_first (msg);
    zmsg_next (msg);
    zframe_t *command = zmsg_next (msg);
    zframe_reset (command, MDPW_REPLY, 1);
    zframe_reset (zmsg_last (msg), "world", 5);
    zmsg_send (&msg, worker);
    msg = s_recv_timeout (client, 2000);
    assert (msg && zmsg_size (msg) == 4);
    assert (zframe_streq (zmsg_last (msg), "world"));
    zmsg_destroy (&msg);

    zstr_send (actor, "STATUS");
    char *status = zstr_recv (actor);
    assert (status && strstr (status, "\"echo\""));
    free (status);
    zsock_destroy (&worker);
    zsock_destroy (&client);
    zactor_destroy (&actor);
    printf ("OK\n");
}
