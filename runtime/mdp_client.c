/*  =========================================================================
    mdp_client - asynchronous Majordomo client

    A DEALER speaking the client half of MDP/0.1 (RFC 7): [empty] [MDPC01]
    [service] [body]. The DEALER (not a REQ) lets one socket carry many
    requests at once; the empty first frame keeps us wire-compatible with
    brokers written for REQ clients.

    Why the client keeps every pending request: the envelope's correlation
    id is the only thing that ties a reply to its request, so replies may
    come in any order and late or duplicate ones are recognised and
    dropped. Holding the encoded frame also lets a retryable request be sent
    again when nothing came back within the resend interval (the broker may
    have restarted and lost it), and lets us answer the caller with a 504
    at the deadline without trusting anybody else to do it.
    Replies are read as libzmq messages with ZMQ_DONTWAIT (no ZMQ_EVENTS
    query, no zmsg per reply): a third of the client's instructions per
    request went there (bench/mdp_bench.c, callgrind).
    =========================================================================
*/
#include "mdp_client.h"
#include "mdp.h"
#include "curvekeys.h"
#include "logline.h"

#define MDP_CLIENT_HWM          100000
#define MDP_CLIENT_RESEND_MS    1000
#define MDP_CLIENT_TIMEOUT_MS   5000
#define MDP_CLIENT_DRAIN_MAX    256
#define MDP_SERVICE_MAX         255

//  One request waiting for its answer.
typedef struct {
    envelope_t *request;        //  owned: for the 504 we may have to make
    char *service;
    zframe_t *frame;            //  the encoded body, kept for resends
    int64_t sent_at;            //  zclock_time of the last send
} pending_t;

struct _mdp_client_t {
    zsock_t *sock;
    zhashx_t *pending;          //  cid -> pending_t
    zlistx_t *replies;          //  envelope_t ready for mdp_client_recv
    int resend_ms;
    int timeout_ms;
    int64_t next_due;           //  earliest deadline or resend; tick scans only then
    mdp_client_waiting_fn *waiting;     //  called while mdp_client_call waits
    void *waiting_arg;
};

//  --------------------------------------------------------------------------
//  Destructor of a pending_t, used by the hash table.

static void
s_pending_destroy (void **item_p)
{
    pending_t *self = (pending_t *) *item_p;
    if (self) {
        envelope_destroy (&self->request);
        zframe_destroy (&self->frame);
        free (self->service);
        free (self);
        *item_p = NULL;
    }
}

static void
s_envelope_destructor (void **item_p)
{
    envelope_destroy ((envelope_t **) item_p);
}

//  --------------------------------------------------------------------------
//  Create a client connected to the broker.

mdp_client_t *
mdp_client_new (const char *endpoint, zcert_t *cert, const char *server_public)
{
    assert (endpoint);
    mdp_client_t *self = (mdp_client_t *) zmalloc (sizeof (mdp_client_t));
    if (!self)
        return NULL;
    self->resend_ms = MDP_CLIENT_RESEND_MS;
    self->timeout_ms = MDP_CLIENT_TIMEOUT_MS;
    self->pending = zhashx_new ();
    self->replies = zlistx_new ();
    self->sock = zsock_new (ZMQ_DEALER);
    if (!self->pending || !self->replies || !self->sock) {
        mdp_client_destroy (&self);
        return NULL;
    }
    zhashx_set_destructor (self->pending, s_pending_destroy);
    zlistx_set_destructor (self->replies, s_envelope_destructor);
    zsock_set_linger (self->sock, 0);
    zsock_set_sndhwm (self->sock, MDP_CLIENT_HWM);
    zsock_set_rcvhwm (self->sock, MDP_CLIENT_HWM);
    if (cert && server_public)
        curvekeys_apply_client (self->sock, cert, server_public);
    if (zsock_connect (self->sock, "%s", endpoint) != 0) {
        log_error (NULL, "mdp_client: cannot connect to %s", endpoint);
        mdp_client_destroy (&self);
        return NULL;
    }
    return self;
}

//  --------------------------------------------------------------------------
//  Destroy the client; pending requests are forgotten.

void
mdp_client_destroy (mdp_client_t **self_p)
{
    assert (self_p);
    mdp_client_t *self = *self_p;
    if (self) {
        zhashx_destroy (&self->pending);
        zlistx_destroy (&self->replies);
        zsock_destroy (&self->sock);
        free (self);
        *self_p = NULL;
    }
}

//  --------------------------------------------------------------------------

void
mdp_client_set_resend (mdp_client_t *self, int resend_ms)
{
    assert (self);
    self->resend_ms = resend_ms > 0 ? resend_ms : 0;
    self->next_due = 0;         //  rescan at the next tick
}

void
mdp_client_set_timeout (mdp_client_t *self, int timeout_ms)
{
    assert (self);
    if (timeout_ms > 0)
        self->timeout_ms = timeout_ms;
}

zsock_t *
mdp_client_sock (mdp_client_t *self)
{
    assert (self);
    return self->sock;
}

size_t
mdp_client_pending (mdp_client_t *self)
{
    assert (self);
    return zhashx_size (self->pending);
}

//  --------------------------------------------------------------------------
//  Put one request on the wire without blocking. Returns 0 or -1.

static int
s_send_pending (mdp_client_t *self, pending_t *pending)
{
    void *handle = zsock_resolve (self->sock);
    if (zmq_send (handle, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT) != 0)
        return -1;
    //  Once the first frame is accepted, the rest of the message is too.
    zmq_send (handle, MDPC_CLIENT, strlen (MDPC_CLIENT), ZMQ_SNDMORE);
    zmq_send (handle, pending->service, strlen (pending->service), ZMQ_SNDMORE);
    zframe_t *frame = pending->frame;
    if (zframe_send (&frame, handle, ZFRAME_REUSE) != 0)
        return -1;
    pending->sent_at = zclock_time ();
    return 0;
}

//  --------------------------------------------------------------------------
//  Send a request to a service. Takes ownership of *request_p.

int
mdp_client_send (mdp_client_t *self, const char *service, envelope_t **request_p)
{
    assert (self);
    assert (request_p);
    envelope_t *request = *request_p;
    *request_p = NULL;
    if (!request)
        return -1;
    if (!service || !*service || strlen (service) > MDP_SERVICE_MAX) {
        log_warn (request->rid, "mdp_client: invalid service name");
        envelope_destroy (&request);
        return -1;
    }
    if (!request->cid || !*request->cid) {
        char cid [33];
        snprintf (cid, sizeof cid, "%08x%08x%08x%08x", (unsigned) randof (0x7fffffff),
                  (unsigned) randof (0x7fffffff), (unsigned) randof (0x7fffffff),
                  (unsigned) randof (0x7fffffff));
        envelope_set_str (&request->cid, cid);
    }
    if (zhashx_lookup (self->pending, request->cid)) {
        log_warn (request->rid, "mdp_client: correlation id %s already pending", request->cid);
        envelope_destroy (&request);
        return -1;
    }
    if (request->deadline == 0)
        request->deadline = zclock_time () + self->timeout_ms;

    pending_t *pending = (pending_t *) zmalloc (sizeof (pending_t));
    pending->frame = envelope_encode (request);
    pending->service = strdup (service);
    pending->request = request;
    if (!pending->frame || !pending->service) {
        log_warn (request->rid, "mdp_client: cannot encode request %s", request->verb ? request->verb : "");
        s_pending_destroy ((void **) &pending);
        return -1;
    }
    if (s_send_pending (self, pending) != 0) {
        log_warn (request->rid, "mdp_client: cannot send to %s: %s", service, zmq_strerror (zmq_errno ()));
        s_pending_destroy ((void **) &pending);
        return -1;
    }
    zhashx_insert (self->pending, request->cid, pending);
    int64_t due = request->deadline;
    if (request->retryable && self->resend_ms > 0 && pending->sent_at + self->resend_ms < due)
        due = pending->sent_at + self->resend_ms;
    if (self->next_due == 0 || due < self->next_due)
        self->next_due = due;
    return 0;
}

//  --------------------------------------------------------------------------
//  Read one message from the socket, if one is waiting. Returns a reply
//  that matched a pending request (and forgets that request), or NULL with
//  *more set when something was read but thrown away.

static envelope_t *
s_read_one (mdp_client_t *self, bool *more)
{
    *more = false;
    //  [empty] [MDPC01] [service] [body], read as libzmq messages without
    //  waiting (no ZMQ_EVENTS query, no zmsg/zframe allocations).
    void *handle = zsock_resolve (self->sock);
    zmq_msg_t part [4];
    size_t count = 0, frames = 0;
    zmq_msg_init (&part [0]);
    if (zmq_msg_recv (&part [0], handle, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close (&part [0]);
        return NULL;
    }
    *more = true;
    count = frames = 1;
    bool next = zmq_msg_more (&part [0]);
    while (next) {
        zmq_msg_t extra;
        zmq_msg_t *into = count < 4 ? &part [count] : &extra;
        zmq_msg_init (into);
        //  The rest of a message is there once its first frame is.
        if (zmq_msg_recv (into, handle, 0) < 0) {
            zmq_msg_close (into);
            frames = 0;
            break;
        }
        next = zmq_msg_more (into);
        frames++;
        if (into == &extra)
            zmq_msg_close (into);
        else
            count++;
    }
    envelope_t *reply = NULL;
    if (frames != 4 || zmq_msg_size (&part [0]) != 0
        || zmq_msg_size (&part [1]) != strlen (MDPC_CLIENT)
        || memcmp (zmq_msg_data (&part [1]), MDPC_CLIENT, strlen (MDPC_CLIENT)) != 0
        || zmq_msg_size (&part [2]) == 0) {
        log_warn (NULL, "mdp_client: malformed message from broker (%zu frames)", frames);
        goto done;
    }
    const char *error = NULL;
    reply = envelope_decode ((const byte *) zmq_msg_data (&part [3]), zmq_msg_size (&part [3]), &error);
    if (!reply) {
        log_warn (NULL, "mdp_client: undecodable reply: %s", error ? error : "?");
        goto done;
    }
    if (reply->kind != ENVELOPE_REPLY || !reply->cid || !zhashx_lookup (self->pending, reply->cid)) {
        log_debug (reply->rid, "mdp_client: dropping reply for unknown or late cid %s",
                   reply->cid ? reply->cid : "");
        envelope_destroy (&reply);
        goto done;
    }
    zhashx_delete (self->pending, reply->cid);
done:
    for (size_t index = 0; index < count; index++)
        zmq_msg_close (&part [index]);
    return reply;
}

//  --------------------------------------------------------------------------
//  The next reply, or NULL when none is ready. Never blocks.

envelope_t *
mdp_client_recv (mdp_client_t *self)
{
    assert (self);
    if (zlistx_size (self->replies) > 0)
        return (envelope_t *) zlistx_detach (self->replies, NULL);
    for (int count = 0; count < MDP_CLIENT_DRAIN_MAX; count++) {
        bool more;
        envelope_t *reply = s_read_one (self, &more);
        if (reply || !more)
            return reply;
    }
    return NULL;
}

//  --------------------------------------------------------------------------
//  Expire deadlines and resend retryables.

int
mdp_client_tick (mdp_client_t *self)
{
    assert (self);
    bool ready = zlistx_size (self->replies) > 0;
    if (zhashx_size (self->pending) == 0)
        return ready ? 0 : -1;
    int64_t now = zclock_time ();
    //  Nothing is due before next_due: skip the scan (the edge ticks often).
    if (self->next_due > now)
        return ready ? 0 : (int) (self->next_due - now);
    int64_t next = INT64_MAX;
    zlistx_t *expired = zlistx_new ();
    pending_t *pending = (pending_t *) zhashx_first (self->pending);
    while (pending) {
        envelope_t *request = pending->request;
        if (request->deadline <= now)
            zlistx_add_end (expired, (void *) zhashx_cursor (self->pending));
        else {
            if (request->deadline < next)
                next = request->deadline;
            if (request->retryable && self->resend_ms > 0) {
                if (now - pending->sent_at >= self->resend_ms) {
                    log_debug (request->rid, "mdp_client: resending %s", request->cid);
                    if (s_send_pending (self, pending) != 0)
                        pending->sent_at = now;     //  try again next interval
                }
                if (pending->sent_at + self->resend_ms < next)
                    next = pending->sent_at + self->resend_ms;
            }
        }
        pending = (pending_t *) zhashx_next (self->pending);
    }
    const char *cid = (const char *) zlistx_first (expired);
    while (cid) {
        pending = (pending_t *) zhashx_lookup (self->pending, cid);
        envelope_t *reply = envelope_new_error (pending->request, 504, "upstream_timeout",
                                                "no answer came before the request's deadline", NULL);
        if (reply)
            zlistx_add_end (self->replies, reply);
        zhashx_delete (self->pending, cid);
        cid = (const char *) zlistx_next (expired);
    }
    zlistx_destroy (&expired);
    self->next_due = next == INT64_MAX ? 0 : next;
    if (zlistx_size (self->replies) > 0)
        return 0;
    if (next == INT64_MAX)
        return -1;
    return next > now ? (int) (next - now) : 0;
}

//  --------------------------------------------------------------------------
//  Take the reply for cid out of the ready queue, if it is there.

static envelope_t *
s_take_reply (mdp_client_t *self, const char *cid)
{
    envelope_t *reply = (envelope_t *) zlistx_first (self->replies);
    while (reply) {
        if (reply->cid && streq (reply->cid, cid))
            return (envelope_t *) zlistx_detach_cur (self->replies);
        reply = (envelope_t *) zlistx_next (self->replies);
    }
    return NULL;
}

//  --------------------------------------------------------------------------

void
mdp_client_set_waiting (mdp_client_t *self, mdp_client_waiting_fn *waiting, void *arg)
{
    assert (self);
    self->waiting = waiting;
    self->waiting_arg = arg;
}

//  --------------------------------------------------------------------------
//  Synchronous call.

envelope_t *
mdp_client_call (mdp_client_t *self, const char *service, envelope_t **request_p)
{
    assert (self);
    assert (request_p);
    char *cid = (*request_p && (*request_p)->cid) ? strdup ((*request_p)->cid) : NULL;
    if (*request_p && !cid) {
        //  give it a cid now so that we can recognise its reply
        char fresh [33];
        snprintf (fresh, sizeof fresh, "%08x%08x%08x%08x", (unsigned) randof (0x7fffffff),
                  (unsigned) randof (0x7fffffff), (unsigned) randof (0x7fffffff),
                  (unsigned) randof (0x7fffffff));
        envelope_set_str (&(*request_p)->cid, fresh);
        cid = strdup (fresh);
    }
    if (mdp_client_send (self, service, request_p) != 0) {
        free (cid);
        return NULL;
    }
    envelope_t *reply = NULL;
    while (!reply) {
        int timeout = mdp_client_tick (self);
        reply = s_take_reply (self, cid);
        if (reply)
            break;
        if (!zhashx_lookup (self->pending, cid))
            break;              //  cannot happen: answered or expired above
        zmq_pollitem_t item = { zsock_resolve (self->sock), 0, ZMQ_POLLIN, 0 };
        //  tick says 0 when other replies wait for recv: not a reason to spin
        if (timeout <= 0 && self->next_due > zclock_time ())
            timeout = (int) (self->next_due - zclock_time ());
        if (timeout < 0 || timeout > 100)
            timeout = 100;
        if (self->waiting) {
            int due = self->waiting (self->waiting_arg);
            if (due >= 0 && due < timeout)
                timeout = due > 0 ? due : 1;
        }
        if (zmq_poll (&item, 1, timeout) < 0 && zmq_errno () != EINTR)
            break;
        bool more = true;
        for (int count = 0; more && count < MDP_CLIENT_DRAIN_MAX; count++) {
            envelope_t *other = s_read_one (self, &more);
            if (!other)
                continue;
            if (streq (other->cid, cid)) {
                reply = other;
                break;
            }
            zlistx_add_end (self->replies, other);
        }
    }
    free (cid);
    return reply;
}

//  A waiting hook that counts its calls and asks again in 20 ms.
static int
s_count_waiting (void *arg)
{
    (*(int *) arg)++;
    return 20;
}

//  --------------------------------------------------------------------------
//  Self-test helpers: a fake broker that answers every request by echoing
//  its body back in a 200 reply.

static void
s_echo_broker (zsock_t *pipe, void *args)
{
    zsock_t *router = zsock_new (ZMQ_ROUTER);
    assert (router);
    int port = zsock_bind (router, "tcp://127.0.0.1:*");
    assert (port > 0);
    zsock_signal (pipe, 0);
    zsock_send (pipe, "i", port);
    zpoller_t *poller = zpoller_new (pipe, router, NULL);
    while (true) {
        void *which = zpoller_wait (poller, -1);
        if (which != router)
            break;
        zmsg_t *msg = zmsg_recv (router);
        if (!msg)
            break;
        //  [client] [empty] [MDPC01] [service] [body]
        zframe_t *body = zmsg_last (msg);
        envelope_t *request = envelope_decode (zframe_data (body), zframe_size (body), NULL);
        assert (request);
        envelope_t *reply = envelope_new_reply (request, 200, json_incref (request->body));
        zframe_t *encoded = envelope_encode (reply);
        zmsg_remove (msg, body);
        zframe_destroy (&body);
        zmsg_append (msg, &encoded);
        zmsg_send (&msg, router);
        envelope_destroy (&request);
        envelope_destroy (&reply);
    }
    zpoller_destroy (&poller);
    zsock_destroy (&router);
}

//  Receive one request at the fake broker: returns the decoded envelope and
//  keeps the client's address in *address_p.

static envelope_t *
s_fake_recv (zsock_t *router, zframe_t **address_p, int timeout_ms)
{
    zsock_set_rcvtimeo (router, timeout_ms);
    zmsg_t *msg = zmsg_recv (router);
    if (!msg)
        return NULL;
    assert (zmsg_size (msg) == 5);
    *address_p = zmsg_pop (msg);
    zframe_t *empty = zmsg_pop (msg);
    assert (zframe_size (empty) == 0);
    zframe_destroy (&empty);
    char *header = zmsg_popstr (msg);
    assert (streq (header, MDPC_CLIENT));
    free (header);
    char *service = zmsg_popstr (msg);
    assert (streq (service, "echo"));
    free (service);
    zframe_t *body = zmsg_pop (msg);
    envelope_t *request = envelope_decode (zframe_data (body), zframe_size (body), NULL);
    assert (request);
    zframe_destroy (&body);
    zmsg_destroy (&msg);
    return request;
}

static void
s_fake_reply (zsock_t *router, zframe_t *address, envelope_t *request, int status)
{
    envelope_t *reply = envelope_new_reply (request, status, json_pack ("{s:s}", "cid", request->cid));
    zmsg_t *msg = zmsg_new ();
    zframe_t *to = zframe_dup (address);
    zmsg_append (msg, &to);
    zmsg_addstr (msg, "");
    zmsg_addstr (msg, MDPC_CLIENT);
    zmsg_addstr (msg, "echo");
    zframe_t *encoded = envelope_encode (reply);
    zmsg_append (msg, &encoded);
    assert (zmsg_send (&msg, router) == 0);
    envelope_destroy (&reply);
}

//  Wait up to timeout_ms for the next reply from the client.
static envelope_t *
s_wait_reply (mdp_client_t *client, int timeout_ms)
{
    int64_t until = zclock_mono () + timeout_ms;
    while (zclock_mono () < until) {
        int wait = mdp_client_tick (client);
        envelope_t *reply = mdp_client_recv (client);
        if (reply)
            return reply;
        if (wait < 0 || wait > 20)
            wait = 20;
        zmq_pollitem_t item = { zsock_resolve (mdp_client_sock (client)), 0, ZMQ_POLLIN, 0 };
        zmq_poll (&item, 1, wait);
    }
    return NULL;
}

//  --------------------------------------------------------------------------
//  Self-test

void
mdp_client_test (bool verbose)
{
    printf (" * mdp_client: ");
    //  A fake broker driven by hand, to control order and silence.
    zsock_t *router = zsock_new (ZMQ_ROUTER);
    assert (router);
    zsock_set_linger (router, 0);
    int port = zsock_bind (router, "tcp://127.0.0.1:*");
    assert (port > 0);
    char endpoint [64];
    snprintf (endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", port);
    mdp_client_t *client = mdp_client_new (endpoint, NULL, NULL);
    assert (client);
    assert (mdp_client_pending (client) == 0);
    assert (mdp_client_tick (client) == -1);
    assert (mdp_client_recv (client) == NULL);

    //  Replies match by cid, in any order; unknown cids are dropped.
    envelope_t *first = envelope_new_request ("echo.first");
    envelope_t *second = envelope_new_request ("echo.second");
    char *first_cid = strdup (first->cid);
    char *second_cid = strdup (second->cid);
    assert (mdp_client_send (client, "echo", &first) == 0);
    assert (first == NULL);
    assert (mdp_client_send (client, "echo", &second) == 0);
    assert (mdp_client_pending (client) == 2);
    zframe_t *address = NULL;
    envelope_t *got_first = s_fake_recv (router, &address, 2000);
    assert (got_first && streq (got_first->cid, first_cid));
    assert (got_first->deadline > zclock_time ());     //  a default deadline was set
    zframe_destroy (&address);
    envelope_t *got_second = s_fake_recv (router, &address, 2000);
    assert (got_second && streq (got_second->cid, second_cid));
    envelope_t *stranger = envelope_new_request ("echo.stranger");
    s_fake_reply (router, address, stranger, 200);
    s_fake_reply (router, address, got_second, 200);
    s_fake_reply (router, address, got_first, 200);
    envelope_t *reply = s_wait_reply (client, 2000);
    assert (reply && reply->kind == ENVELOPE_REPLY && streq (reply->cid, second_cid));
    envelope_destroy (&reply);
    reply = s_wait_reply (client, 2000);
    assert (reply && streq (reply->cid, first_cid));
    envelope_destroy (&reply);
    assert (mdp_client_pending (client) == 0);
    //  A duplicate of an answered request is dropped too.
    s_fake_reply (router, address, got_first, 200);
    reply = s_wait_reply (client, 200);
    assert (reply == NULL);
    envelope_destroy (&got_first);
    envelope_destroy (&got_second);
    envelope_destroy (&stranger);
    zframe_destroy (&address);
    free (first_cid);
    free (second_cid);

    //  A request nobody answers comes back as a 504 at its deadline.
    envelope_t *lost = envelope_new_request ("echo.lost");
    lost->deadline = zclock_time () + 150;
    char *lost_cid = strdup (lost->cid);
    assert (mdp_client_send (client, "echo", &lost) == 0);
    envelope_t *got_lost = s_fake_recv (router, &address, 2000);
    assert (got_lost);
    envelope_destroy (&got_lost);
    zframe_destroy (&address);
    int64_t start = zclock_mono ();
    reply = s_wait_reply (client, 2000);
    assert (reply && reply->status == 504 && streq (reply->cid, lost_cid));
    assert (zclock_mono () - start < 1000);
    json_t *code = json_object_get (reply->error, "code");
    assert (code && streq (json_string_value (code), "upstream_timeout"));
    envelope_destroy (&reply);
    free (lost_cid);
    assert (mdp_client_pending (client) == 0);

    //  A retryable request is sent again when no answer comes in time.
    mdp_client_set_resend (client, 100);
    envelope_t *again = envelope_new_request ("echo.again");
    again->retryable = true;
    char *again_cid = strdup (again->cid);
    assert (mdp_client_send (client, "echo", &again) == 0);
    envelope_t *copy1 = s_fake_recv (router, &address, 2000);
    assert (copy1 && streq (copy1->cid, again_cid));
    //  The resend happens on tick; keep ticking until the copy arrives.
    envelope_t *copy2 = NULL;
    for (int turn = 0; turn < 100 && !copy2; turn++) {
        mdp_client_tick (client);
        zframe_t *address2 = NULL;
        copy2 = s_fake_recv (router, &address2, 20);
        zframe_destroy (&address2);
    }
    assert (copy2 && streq (copy2->cid, again_cid));
    s_fake_reply (router, address, copy1, 200);
    s_fake_reply (router, address, copy2, 200);
    reply = s_wait_reply (client, 2000);
    assert (reply && streq (reply->cid, again_cid) && reply->status == 200);
    envelope_destroy (&reply);
    reply = s_wait_reply (client, 200);
    assert (reply == NULL);             //  the second answer was a duplicate
    envelope_destroy (&copy1);
    envelope_destroy (&copy2);
    free (again_cid);
    zframe_destroy (&address);

    //  While a call waits, the waiting hook runs as often as it asks (a
    //  worker's heartbeats): every 20 ms over a 200 ms deadline.
    int waited = 0;
    mdp_client_set_waiting (client, s_count_waiting, &waited);
    envelope_t *slow = envelope_new_request ("echo.slow");
    slow->deadline = zclock_time () + 200;
    start = zclock_mono ();
    reply = mdp_client_call (client, "echo", &slow);
    assert (reply && reply->status == 504);
    assert (zclock_mono () - start >= 150);
    assert (waited >= 5);
    envelope_destroy (&reply);
    envelope_t *unanswered = s_fake_recv (router, &address, 2000);
    envelope_destroy (&unanswered);
    zframe_destroy (&address);
    mdp_client_set_waiting (client, NULL, NULL);

    //  Invalid calls fail cleanly.
    envelope_t *bad = envelope_new_request ("x");
    assert (mdp_client_send (client, "", &bad) == -1);
    assert (bad == NULL);
    mdp_client_destroy (&client);
    assert (client == NULL);
    zsock_destroy (&router);

    //  The synchronous call keeps other replies for recv.
    zactor_t *echo = zactor_new (s_echo_broker, NULL);
    assert (echo);
    int echo_port = 0;
    zsock_recv (echo, "i", &echo_port);
    snprintf (endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", echo_port);
    client = mdp_client_new (endpoint, NULL, NULL);
    assert (client);
    envelope_t *background = envelope_new_request ("echo.background");
    background->body = json_pack ("{s:i}", "n", 1);
    char *background_cid = strdup (background->cid);
    assert (mdp_client_send (client, "echo", &background) == 0);
    envelope_t *request = envelope_new_request ("echo.call");
    request->body = json_pack ("{s:i}", "n", 2);
    reply = mdp_client_call (client, "echo", &request);
    assert (reply && reply->status == 200);
    assert (json_integer_value (json_object_get (reply->body, "n")) == 2);
    envelope_destroy (&reply);
    reply = s_wait_reply (client, 2000);
    assert (reply && streq (reply->cid, background_cid));
    envelope_destroy (&reply);
    free (background_cid);
    mdp_client_destroy (&client);
    zactor_destroy (&echo);
    printf ("OK\n");
}
