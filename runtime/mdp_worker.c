/*  =========================================================================
    mdp_worker - Majordomo worker

    The worker half of MDP/0.1 (RFC 7) over one DEALER: READY on connect,
    REQUEST in, REPLY out, HEARTBEAT both ways, DISCONNECT from the broker.

    Liveness: every message from the broker proves it alive. When it stays
    silent for liveness x heartbeat, the worker throws its socket away and
    connects a new one (a new socket is the only way to make sure the broker
    sees a fresh peer and a fresh READY). The socket is never left NULL, so
    callers can always poll it: the new one is made at once and says READY
    after the backoff, which doubles from MDP_RECONNECT_MS_DEFAULT up to
    MDP_RECONNECT_MAX_MS while the broker stays away (silent, or answering
    DISCONNECT). Any message from the broker resets the backoff.

    The worker is single-threaded: while a handler runs, the loop sends no
    heartbeats, so a handler that runs longer than liveness x heartbeat gets
    the worker expired by the broker (and its request requeued or failed).
    A handler that waits on something slow (another context, through
    mdp_client_call) calls mdp_worker_keepalive meanwhile: the broker keeps
    the worker, busy, for as long as it beats. Anything else must be shorter
    than liveness x heartbeat.

    Requests and replies go through libzmq messages directly (read with
    ZMQ_DONTWAIT until the socket is empty, sent frame by frame from
    constants), not through zmsg/zframe lists: that halved the worker's own
    instructions per request outside the envelope codec (bench/mdp_bench.c).
    =========================================================================
*/
#include "mdp_worker.h"
#include "mdp.h"
#include "curvekeys.h"
#include "logline.h"

#define MDP_WORKER_HWM       10000
#define MDP_WORKER_DRAIN_MAX 64
#define MDP_WORKER_PARTS_MAX 16     //  frames of a message from the broker kept (more are dropped)
#define MDP_WORKER_ADDRESS_MAX 255  //  bytes in a client's routing id

struct _mdp_worker_t {
    char *endpoint;
    char *service;
    char *identity;             //  may be NULL
    zcert_t *cert;              //  our copy, may be NULL
    char *server_public;        //  may be NULL
    zsock_t *sock;
    int heartbeat_ms;
    int liveness;
    int reconnect_ms;           //  current backoff
    int64_t ready_at;           //  0 when READY was sent, else when to send it
    int64_t heartbeat_at;       //  when to send the next HEARTBEAT
    int64_t broker_expiry;      //  when a silent broker counts as dead
    byte reply_to [MDP_WORKER_ADDRESS_MAX];     //  client of the request being served
    size_t reply_to_size;
    bool holding;               //  a request is in hand (reply_to is set)
    uint64_t served;
};

//  --------------------------------------------------------------------------
//  Send [empty] [MDPW01] [command] [frames of msg...] to the broker. Takes
//  ownership of *msg_p (may be NULL). Never blocks.

static int
s_send_command (mdp_worker_t *self, const char *command, zmsg_t **msg_p)
{
    zmsg_t *msg = msg_p && *msg_p ? *msg_p : zmsg_new ();
    if (msg_p)
        *msg_p = NULL;
    zmsg_pushstr (msg, command);
    zmsg_pushstr (msg, MDPW_WORKER);
    zmsg_pushstr (msg, "");
    int rc = 0;
    if (!self->sock)
        rc = -1;
    else {
        void *handle = zsock_resolve (self->sock);
        zframe_t *frame = zmsg_first (msg);
        while (frame) {
            zframe_t *next = zmsg_next (msg);
            int flags = ZFRAME_REUSE | ZFRAME_DONTWAIT | (next ? ZFRAME_MORE : 0);
            if (zframe_send (&frame, handle, flags) != 0) {
                rc = -1;
                break;
            }
            frame = next;
        }
    }
    zmsg_destroy (&msg);
    if (rc == 0)
        self->heartbeat_at = zclock_mono () + self->heartbeat_ms;
    return rc;
}

//  --------------------------------------------------------------------------
//  Send READY for our service.

static void
s_send_ready (mdp_worker_t *self)
{
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, self->service);
    if (s_send_command (self, MDPW_READY, &msg) != 0)
        log_warn (NULL, "mdp_worker: cannot send READY for %s", self->service);
    int64_t now = zclock_mono ();
    self->ready_at = 0;
    self->broker_expiry = now + (int64_t) self->heartbeat_ms * self->liveness;
}

//  --------------------------------------------------------------------------
//  Make a new socket and connect it. READY goes now, or after delay_ms.

static void
s_connect (mdp_worker_t *self, int delay_ms)
{
    zsock_destroy (&self->sock);
    self->holding = false;      //  a request in hand is lost with the pipe
    self->sock = zsock_new (ZMQ_DEALER);
    if (!self->sock) {
        log_error (NULL, "mdp_worker: cannot create a socket");
        self->ready_at = zclock_mono () + self->reconnect_ms;
        return;
    }
    zsock_set_linger (self->sock, 0);
    zsock_set_sndhwm (self->sock, MDP_WORKER_HWM);
    zsock_set_rcvhwm (self->sock, MDP_WORKER_HWM);
    if (self->identity)
        zsock_set_identity (self->sock, self->identity);
    if (self->cert && self->server_public)
        curvekeys_apply_client (self->sock, self->cert, self->server_public);
    if (zsock_connect (self->sock, "%s", self->endpoint) != 0)
        log_error (NULL, "mdp_worker: cannot connect to %s", self->endpoint);
    if (delay_ms > 0)
        self->ready_at = zclock_mono () + delay_ms;
    else
        s_send_ready (self);
}

//  --------------------------------------------------------------------------
//  The broker went away: reconnect, waiting a little longer each time.

static void
s_reconnect (mdp_worker_t *self, const char *why)
{
    log_warn (NULL, "mdp_worker: %s; reconnecting to %s (backoff %d ms)", why, self->endpoint,
              self->reconnect_ms);
    int delay = self->reconnect_ms;
    self->reconnect_ms *= 2;
    if (self->reconnect_ms > MDP_RECONNECT_MAX_MS)
        self->reconnect_ms = MDP_RECONNECT_MAX_MS;
    s_connect (self, delay);
}

//  --------------------------------------------------------------------------
//  Create a worker and say READY.

mdp_worker_t *
mdp_worker_new (const char *endpoint, const char *service, zcert_t *cert,
                const char *server_public, const char *identity)
{
    assert (endpoint);
    assert (service);
    mdp_worker_t *self = (mdp_worker_t *) zmalloc (sizeof (mdp_worker_t));
    if (!self)
        return NULL;
    self->endpoint = strdup (endpoint);
    self->service = strdup (service);
    self->identity = identity && *identity ? strdup (identity) : NULL;
    self->cert = cert ? zcert_dup (cert) : NULL;
    self->server_public = server_public ? strdup (server_public) : NULL;
    self->heartbeat_ms = MDP_HEARTBEAT_MS_DEFAULT;
    self->liveness = MDP_LIVENESS_DEFAULT;
    self->reconnect_ms = MDP_RECONNECT_MS_DEFAULT;
    if (!self->endpoint || !self->service || (cert && !self->cert)) {
        mdp_worker_destroy (&self);
        return NULL;
    }
    s_connect (self, 0);
    if (!self->sock) {
        mdp_worker_destroy (&self);
        return NULL;
    }
    return self;
}

//  --------------------------------------------------------------------------
//  Destroy the worker, telling the broker we leave.

void
mdp_worker_destroy (mdp_worker_t **self_p)
{
    assert (self_p);
    mdp_worker_t *self = *self_p;
    if (self) {
        if (self->sock && self->ready_at == 0) {
            //  a short linger so that the goodbye leaves before the socket dies
            zsock_set_linger (self->sock, 100);
            s_send_command (self, MDPW_DISCONNECT, NULL);
        }
        zsock_destroy (&self->sock);
        zcert_destroy (&self->cert);
        free (self->endpoint);
        free (self->service);
        free (self->identity);
        free (self->server_public);
        free (self);
        *self_p = NULL;
    }
}

//  --------------------------------------------------------------------------

void
mdp_worker_set_heartbeat (mdp_worker_t *self, int heartbeat_ms, int liveness)
{
    assert (self);
    if (heartbeat_ms > 0)
        self->heartbeat_ms = heartbeat_ms;
    if (liveness > 0)
        self->liveness = liveness;
    int64_t now = zclock_mono ();
    self->heartbeat_at = now + self->heartbeat_ms;
    if (self->ready_at == 0)
        self->broker_expiry = now + (int64_t) self->heartbeat_ms * self->liveness;
}

zsock_t *
mdp_worker_sock (mdp_worker_t *self)
{
    assert (self);
    return self->sock;
}

uint64_t
mdp_worker_served (mdp_worker_t *self)
{
    assert (self);
    return self->served;
}

//  --------------------------------------------------------------------------
//  Send [empty] [MDPW01] [REPLY] [client] [empty] [frame] to the broker.
//  Destroys *frame_p. Never blocks.

static int
s_send_reply (mdp_worker_t *self, const byte *client, size_t client_size, zframe_t **frame_p)
{
    int rc = -1;
    void *handle = self->sock ? zsock_resolve (self->sock) : NULL;
    //  Once the first frame is accepted, the rest of the message is too.
    if (handle && zmq_send (handle, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT) == 0) {
        zmq_send (handle, MDPW_WORKER, strlen (MDPW_WORKER), ZMQ_SNDMORE | ZMQ_DONTWAIT);
        zmq_send (handle, MDPW_REPLY, 1, ZMQ_SNDMORE | ZMQ_DONTWAIT);
        zmq_send (handle, client, client_size, ZMQ_SNDMORE | ZMQ_DONTWAIT);
        zmq_send (handle, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT);
        if (zframe_send (frame_p, handle, ZFRAME_DONTWAIT) == 0)
            rc = 0;
    }
    zframe_destroy (frame_p);
    if (rc == 0)
        self->heartbeat_at = zclock_mono () + self->heartbeat_ms;
    return rc;
}

//  --------------------------------------------------------------------------
//  Handle one message from the broker, as its frames (too_many: more came
//  and were dropped). Returns a request or NULL.

static envelope_t *
s_handle (mdp_worker_t *self, zmq_msg_t *part, size_t count, bool too_many)
{
    //  [empty] [MDPW01] [command] ...
    envelope_t *request = NULL;
    if (count < 3 || zmq_msg_size (&part [0]) != 0
        || zmq_msg_size (&part [1]) != strlen (MDPW_WORKER)
        || memcmp (zmq_msg_data (&part [1]), MDPW_WORKER, strlen (MDPW_WORKER)) != 0
        || zmq_msg_size (&part [2]) != 1) {
        log_warn (NULL, "mdp_worker: malformed message from broker");
        return NULL;
    }
    self->broker_expiry = zclock_mono () + (int64_t) self->heartbeat_ms * self->liveness;
    self->reconnect_ms = MDP_RECONNECT_MS_DEFAULT;
    byte command = *(byte *) zmq_msg_data (&part [2]);
    if (command == (byte) MDPW_REQUEST [0]) {
        //  [client] [empty] [body]
        zmq_msg_t *client = count > 3 ? &part [3] : NULL;
        zmq_msg_t *separator = count > 4 ? &part [4] : NULL;
        zmq_msg_t *body = count > 5 ? &part [5] : NULL;
        if (!client || zmq_msg_size (client) == 0 || zmq_msg_size (client) > MDP_WORKER_ADDRESS_MAX
            || !separator || zmq_msg_size (separator) != 0 || !body) {
            log_warn (NULL, "mdp_worker: malformed REQUEST from broker");
        }
        else {
            const char *error = NULL;
            if (count == 6 && !too_many)
                request = envelope_decode ((const byte *) zmq_msg_data (body), zmq_msg_size (body), &error);
            else
                error = "more than one body frame";
            if (request && request->kind != ENVELOPE_REQUEST) {
                error = "not a request";
                envelope_destroy (&request);
            }
            if (request) {
                self->reply_to_size = zmq_msg_size (client);
                memcpy (self->reply_to, zmq_msg_data (client), self->reply_to_size);
                self->holding = true;
            }
            else {
                log_warn (NULL, "mdp_worker: invalid envelope on %s: %s", self->service,
                          error ? error : "?");
                envelope_t *reply = envelope_new_error (NULL, 400, "invalid_envelope",
                                                        "the request is not a valid envelope",
                                                        json_pack ("{s:s}", "reason", error ? error : "?"));
                zframe_t *frame = reply ? envelope_encode (reply) : NULL;
                if (frame)
                    s_send_reply (self, (const byte *) zmq_msg_data (client), zmq_msg_size (client), &frame);
                envelope_destroy (&reply);
            }
        }
    }
    else
    if (command == (byte) MDPW_HEARTBEAT [0])
        ;                       //  liveness was refreshed above
    else
    if (command == (byte) MDPW_DISCONNECT [0])
        s_reconnect (self, "broker sent DISCONNECT");
    else
        log_warn (NULL, "mdp_worker: unexpected command %d from broker", command);
    return request;
}

//  --------------------------------------------------------------------------
//  Read what is waiting: the first request, or NULL. Reads with
//  ZMQ_DONTWAIT, so it needs no ZMQ_EVENTS query per message.

envelope_t *
mdp_worker_recv (mdp_worker_t *self)
{
    assert (self);
    for (int count = 0; count < MDP_WORKER_DRAIN_MAX; count++) {
        if (!self->sock)
            return NULL;
        void *handle = zsock_resolve (self->sock);
        zmq_msg_t part [MDP_WORKER_PARTS_MAX];
        size_t parts = 0;
        bool too_many = false;
        zmq_msg_init (&part [0]);
        if (zmq_msg_recv (&part [0], handle, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&part [0]);
            return NULL;
        }
        parts = 1;
        bool more = zmq_msg_more (&part [0]);
        while (more) {
            zmq_msg_t extra;
            zmq_msg_t *next = parts < MDP_WORKER_PARTS_MAX ? &part [parts] : &extra;
            zmq_msg_init (next);
            //  The rest of a message is there once its first frame is.
            if (zmq_msg_recv (next, handle, 0) < 0) {
                zmq_msg_close (next);
                too_many = true;
                break;
            }
            more = zmq_msg_more (next);
            if (next == &extra) {
                zmq_msg_close (next);
                too_many = true;
            }
            else
                parts++;
        }
        //  (s_handle may replace the socket: the frames were read already)
        envelope_t *request = s_handle (self, part, parts, too_many);
        for (size_t index = 0; index < parts; index++)
            zmq_msg_close (&part [index]);
        if (request)
            return request;
    }
    return NULL;
}

//  --------------------------------------------------------------------------
//  Answer the request received last.

int
mdp_worker_send (mdp_worker_t *self, envelope_t **reply_p)
{
    assert (self);
    assert (reply_p);
    envelope_t *reply = *reply_p;
    *reply_p = NULL;
    if (!reply)
        return -1;
    int rc = -1;
    if (!self->holding)
        log_warn (reply->rid, "mdp_worker: reply with no request in hand (lost on reconnect?)");
    else {
        zframe_t *frame = envelope_encode (reply);
        if (!frame) {
            log_error (reply->rid, "mdp_worker: cannot encode reply to %s", reply->verb ? reply->verb : "?");
            envelope_t *error = envelope_new_error (reply, 500, "internal",
                                                    "the reply could not be encoded", NULL);
            frame = error ? envelope_encode (error) : NULL;
            envelope_destroy (&error);
        }
        if (frame)
            rc = s_send_reply (self, self->reply_to, self->reply_to_size, &frame);
        self->holding = false;
        if (rc == 0)
            self->served++;
    }
    envelope_destroy (&reply);
    return rc;
}

//  --------------------------------------------------------------------------
//  Heartbeats and liveness.

int
mdp_worker_tick (mdp_worker_t *self)
{
    assert (self);
    int64_t now = zclock_mono ();
    if (self->ready_at) {
        if (now >= self->ready_at) {
            if (!self->sock)
                s_connect (self, 0);
            else
                s_send_ready (self);
        }
    }
    else
    if (now >= self->broker_expiry) {
        //  Unread input means the broker spoke while we were busy.
        if (self->sock && (zsock_events (self->sock) & ZMQ_POLLIN))
            self->broker_expiry = now + self->heartbeat_ms;
        else
            s_reconnect (self, "broker silent");
    }
    else
    if (now >= self->heartbeat_at)
        s_send_command (self, MDPW_HEARTBEAT, NULL);

    now = zclock_mono ();
    int64_t next = self->ready_at ? self->ready_at : self->heartbeat_at;
    if (!self->ready_at && self->broker_expiry < next)
        next = self->broker_expiry;
    return next > now ? (int) (next - now) : 0;
}

//  --------------------------------------------------------------------------
//  Heartbeats while a handler is busy. Nothing is read: the broker's own
//  heartbeats wait in the socket, and mdp_worker_tick counts unread input
//  as a sign of life once the handler is done.

int
mdp_worker_keepalive (mdp_worker_t *self)
{
    assert (self);
    if (!self->holding || self->ready_at || !self->sock)
        return self->heartbeat_ms;
    int64_t now = zclock_mono ();
    if (now >= self->heartbeat_at
    &&  s_send_command (self, MDPW_HEARTBEAT, NULL) != 0)
        self->heartbeat_at = now + self->heartbeat_ms;     //  not again at once
    int64_t next = self->heartbeat_at - zclock_mono ();
    return next > 0 ? (int) next : 0;
}

//  --------------------------------------------------------------------------
//  A simple loop: answer requests with handler. The handler does not own the
//  request; a NULL answer becomes a 500 so that the client is not left waiting.

void
mdp_worker_run (mdp_worker_t *self, zsock_t *pipe, mdp_handler_fn *handler, void *arg)
{
    assert (self);
    assert (handler);
    while (!zsys_interrupted) {
        int timeout = mdp_worker_tick (self);
        zmq_pollitem_t items [2];
        int count = 0;
        if (self->sock)
            items [count++] = (zmq_pollitem_t) { zsock_resolve (self->sock), 0, ZMQ_POLLIN, 0 };
        if (pipe)
            items [count++] = (zmq_pollitem_t) { zsock_resolve (pipe), 0, ZMQ_POLLIN, 0 };
        if (zmq_poll (items, count, timeout) < 0) {
            if (zmq_errno () == EINTR)
                continue;
            break;
        }
        if (pipe && (items [count - 1].revents & ZMQ_POLLIN)) {
            zmsg_t *msg = zmsg_recv (pipe);
            char *command = msg ? zmsg_popstr (msg) : NULL;
            bool term = !command || streq (command, "$TERM");
            free (command);
            zmsg_destroy (&msg);
            if (term)
                break;
        }
        if (self->sock && (items [0].revents & ZMQ_POLLIN)) {
            envelope_t *request;
            while ((request = mdp_worker_recv (self))) {
                envelope_t *reply = handler (request, arg);
                if (!reply)
                    reply = envelope_new_error (request, 500, "internal",
                                                "the handler gave no answer", NULL);
                mdp_worker_send (self, &reply);
                envelope_destroy (&request);
            }
        }
    }
}

//  --------------------------------------------------------------------------
//  Self-test helpers: a fake broker driven by hand.

//  Receive one message at the fake broker; returns the command byte (or -1)
//  and the worker's address in *address_p; the remaining frames in *rest_p.
static int
s_fake_recv (zsock_t *router, zframe_t **address_p, zmsg_t **rest_p, int timeout_ms)
{
    zsock_set_rcvtimeo (router, timeout_ms);
    zmsg_t *msg = zmsg_recv (router);
    if (!msg)
        return -1;
    zframe_t *address = zmsg_pop (msg);
    zframe_t *empty = zmsg_pop (msg);
    assert (zframe_size (empty) == 0);
    char *header = zmsg_popstr (msg);
    assert (streq (header, MDPW_WORKER));
    zframe_t *command = zmsg_pop (msg);
    assert (zframe_size (command) == 1);
    int code = zframe_data (command) [0];
    if (address_p) {
        zframe_destroy (address_p);
        *address_p = address;
    }
    else
        zframe_destroy (&address);
    if (rest_p)
        *rest_p = msg;
    else
        zmsg_destroy (&msg);
    zframe_destroy (&empty);
    zframe_destroy (&command);
    free (header);
    return code;
}

//  Wait for a command, skipping heartbeats.
static int
s_fake_expect (zsock_t *router, zframe_t **address_p, zmsg_t **rest_p, int timeout_ms)
{
    int64_t until = zclock_mono () + timeout_ms;
    while (zclock_mono () < until) {
        zmsg_t *rest = NULL;
        int code = s_fake_recv (router, address_p, &rest, (int) (until - zclock_mono ()) + 1);
        if (code == MDPW_HEARTBEAT [0]) {
            zmsg_destroy (&rest);
            continue;
        }
        if (rest_p)
            *rest_p = rest;
        else
            zmsg_destroy (&rest);
        return code;
    }
    return -1;
}

static void
s_fake_send (zsock_t *router, zframe_t *address, const char *command, zframe_t *client, zframe_t *body)
{
    zmsg_t *msg = zmsg_new ();
    zframe_t *to = zframe_dup (address);
    zmsg_append (msg, &to);
    zmsg_addstr (msg, "");
    zmsg_addstr (msg, MDPW_WORKER);
    zmsg_addstr (msg, command);
    if (client) {
        zframe_t *copy = zframe_dup (client);
        zmsg_append (msg, &copy);
        zmsg_addstr (msg, "");
    }
    if (body) {
        zframe_t *copy = zframe_dup (body);
        zmsg_append (msg, &copy);
    }
    assert (zmsg_send (&msg, router) == 0);
}

//  Poll the worker for a request, ticking it meanwhile.
static envelope_t *
s_worker_wait (mdp_worker_t *worker, int timeout_ms)
{
    int64_t until = zclock_mono () + timeout_ms;
    while (zclock_mono () < until) {
        int wait = mdp_worker_tick (worker);
        zmq_pollitem_t item = { zsock_resolve (mdp_worker_sock (worker)), 0, ZMQ_POLLIN, 0 };
        zmq_poll (&item, 1, wait > 10 ? 10 : wait);
        envelope_t *request = mdp_worker_recv (worker);
        if (request)
            return request;
    }
    return NULL;
}

static envelope_t *
s_echo_handler (envelope_t *request, void *arg)
{
    (*(int *) arg)++;
    return envelope_new_reply (request, 200, json_incref (request->body));
}

typedef struct {
    char endpoint [64];
    int handled;
} s_run_args_t;

static void
s_run_actor (zsock_t *pipe, void *args)
{
    s_run_args_t *run = (s_run_args_t *) args;
    mdp_worker_t *worker = mdp_worker_new (run->endpoint, "echo", NULL, NULL, "run-worker");
    assert (worker);
    zsock_signal (pipe, 0);
    mdp_worker_run (worker, pipe, s_echo_handler, &run->handled);
    mdp_worker_destroy (&worker);
}

//  --------------------------------------------------------------------------
//  Self-test

void
mdp_worker_test (bool verbose)
{
    printf (" * mdp_worker: ");
    zsock_t *router = zsock_new (ZMQ_ROUTER);
    assert (router);
    zsock_set_linger (router, 0);
    int port = zsock_bind (router, "tcp://127.0.0.1:*");
    assert (port > 0);
    char endpoint [64];
    snprintf (endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", port);
    mdp_worker_t *worker = mdp_worker_new (endpoint, "echo", NULL, NULL, "worker-1");
    assert (worker);
    mdp_worker_set_heartbeat (worker, 50, 3);

    //  READY comes first, with the service and our identity.
    zframe_t *address = NULL;
    zmsg_t *rest = NULL;
    assert (s_fake_recv (router, &address, &rest, 2000) == MDPW_READY [0]);
    assert (zframe_streq (address, "worker-1"));
    char *service = zmsg_popstr (rest);
    assert (service && streq (service, "echo"));
    free (service);
    zmsg_destroy (&rest);

    //  A request comes out as an envelope; the reply goes back to its client.
    envelope_t *request = envelope_new_request ("echo.ping");
    request->body = json_pack ("{s:s}", "say", "hello");
    zframe_t *body = envelope_encode (request);
    zframe_t *client = zframe_from ("client-A");
    s_fake_send (router, address, MDPW_REQUEST, client, body);
    zframe_destroy (&body);
    envelope_t *got = s_worker_wait (worker, 2000);
    assert (got && streq (got->cid, request->cid) && streq (got->verb, "echo.ping"));
    //  A busy handler keeps the broker informed: HEARTBEAT once due, not before.
    while (s_fake_recv (router, NULL, NULL, 0) != -1)
        ;                       //  what the worker said while we waited
    zclock_sleep (60);
    assert (mdp_worker_keepalive (worker) > 0);
    assert (s_fake_recv (router, NULL, NULL, 500) == MDPW_HEARTBEAT [0]);
    assert (mdp_worker_keepalive (worker) > 0);
    assert (s_fake_recv (router, NULL, NULL, 20) == -1);
    envelope_t *reply = envelope_new_reply (got, 200, json_pack ("{s:s}", "said", "hello"));
    assert (mdp_worker_send (worker, &reply) == 0);
    assert (reply == NULL);
    assert (mdp_worker_served (worker) == 1);
    envelope_destroy (&got);
    assert (s_fake_expect (router, &address, &rest, 2000) == MDPW_REPLY [0]);
    zframe_t *to = zmsg_pop (rest);
    assert (zframe_streq (to, "client-A"));
    zframe_destroy (&to);
    zframe_t *separator = zmsg_pop (rest);
    assert (zframe_size (separator) == 0);
    zframe_destroy (&separator);
    zframe_t *answer = zmsg_pop (rest);
    envelope_t *decoded = envelope_decode (zframe_data (answer), zframe_size (answer), NULL);
    assert (decoded && decoded->status == 200 && streq (decoded->cid, request->cid));
    envelope_destroy (&decoded);
    zframe_destroy (&answer);
    zmsg_destroy (&rest);
    envelope_destroy (&request);
    //  A second reply with no request in hand is refused.
    reply = envelope_new_error (NULL, 500, "x", "y", NULL);
    assert (mdp_worker_send (worker, &reply) == -1);

    //  Garbage in the body is answered with a 400 and never handed up.
    zframe_t *garbage = zframe_from ("\xc1 not msgpack");
    s_fake_send (router, address, MDPW_REQUEST, client, garbage);
    zframe_destroy (&garbage);
    assert (s_worker_wait (worker, 300) == NULL);
    assert (s_fake_expect (router, &address, &rest, 2000) == MDPW_REPLY [0]);
    zframe_t *last = zmsg_last (rest);
    decoded = envelope_decode (zframe_data (last), zframe_size (last), NULL);
    assert (decoded && decoded->status == 400);
    assert (streq (json_string_value (json_object_get (decoded->error, "code")), "invalid_envelope"));
    envelope_destroy (&decoded);
    zmsg_destroy (&rest);

    //  Heartbeats flow while idle.
    int64_t start = zclock_mono ();
    int code = -1;
    while (code != MDPW_HEARTBEAT [0] && zclock_mono () - start < 1000) {
        mdp_worker_tick (worker);
        code = s_fake_recv (router, NULL, NULL, 10);
    }
    assert (code == MDPW_HEARTBEAT [0]);

    //  A silent broker makes the worker reconnect and say READY again.
    code = -1;
    start = zclock_mono ();
    while (code != MDPW_READY [0] && zclock_mono () - start < 2000) {
        mdp_worker_tick (worker);
        code = s_fake_recv (router, NULL, NULL, 10);
    }
    assert (code == MDPW_READY [0]);
    assert (zclock_mono () - start >= 150);     //  not before liveness x heartbeat

    //  DISCONNECT also makes it come back.
    s_fake_send (router, address, MDPW_DISCONNECT, NULL, NULL);
    code = -1;
    start = zclock_mono ();
    while (code != MDPW_READY [0] && zclock_mono () - start < 3000) {
        mdp_worker_tick (worker);
        zmq_pollitem_t item = { zsock_resolve (mdp_worker_sock (worker)), 0, ZMQ_POLLIN, 0 };
        zmq_poll (&item, 1, 5);
        envelope_t *none = mdp_worker_recv (worker);
        assert (none == NULL);
        code = s_fake_recv (router, NULL, NULL, 5);
    }
    assert (code == MDPW_READY [0]);
    zframe_destroy (&client);
    zframe_destroy (&address);
    mdp_worker_destroy (&worker);
    assert (worker == NULL);

    //  The run loop answers requests until $TERM.
    s_run_args_t run = { .handled = 0 };
    snprintf (run.endpoint, sizeof run.endpoint, "%s", endpoint);
    zactor_t *actor = zactor_new (s_run_actor, &run);
    assert (actor);
    //  skip what the destroyed worker said on its way out
    while (true) {
        code = s_fake_expect (router, &address, &rest, 2000);
        if (code == MDPW_READY [0] && zframe_streq (address, "run-worker"))
            break;
        zmsg_destroy (&rest);
        assert (code != -1);
    }
    zmsg_destroy (&rest);
    request = envelope_new_request ("echo.run");
    body = envelope_encode (request);
    client = zframe_from ("client-B");
    s_fake_send (router, address, MDPW_REQUEST, client, body);
    assert (s_fake_expect (router, &address, &rest, 2000) == MDPW_REPLY [0]);
    zmsg_destroy (&rest);
    zactor_destroy (&actor);
    assert (run.handled == 1);
    envelope_destroy (&request);
    zframe_destroy (&body);
    zframe_destroy (&client);
    zframe_destroy (&address);
    zsock_destroy (&router);
    printf ("OK\n");
}
