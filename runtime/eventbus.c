/*  =========================================================================
    eventbus - domain events from a context's outbox to its subscribers

    Why it is built this way:

    - Direct PUB -> SUB per context (DESIGN.md's XPUB/XSUB proxy in the
      broker can come later without changing the frames): the relay of a
      context binds `eventbus/<context>/publish` and `.../replay`.
    - Every frame is an envelope (msgpack in one frame): envelope_decode
      already walks untrusted bytes before msgpack-c allocates anything, so
      events and replays get the same hardening as requests.
    - PUB drops messages (slow joiner, high-water mark, a subscriber that
      was down): the outbox is the truth and the subscriber repairs from it.
      Each event carries prev, the seq published just before it. An event
      with prev <= last is next in line (a bigserial hole is not a gap);
      prev > last means something was missed: the subscriber replays from
      last + 1 over a DEALER before it applies the newer event.
    - The replay is answered by the publisher's owner from its store (a
      callback): the runtime knows nothing about SQL.
    - A replay that does not answer in time drops the DEALER (a late answer
      must not be taken for the next one) and the live event: it is in the
      outbox and will come back with the next replay.
    - Plain TCP on loopback for now: the endpoints carry only events that
      any context may read, but CURVE (curvekeys_apply_server/client) is
      the next step before the bus leaves one host.
    =========================================================================
*/
#include "eventbus.h"
#include "actor.h"
#include "curvekeys.h"
#include "envelope.h"
#include "logline.h"

#include <string.h>

#define EVENTBUS_TOPIC_MAX 200
//  No frame from a peer may be larger than an envelope can be: libzmq drops
//  the connection of a peer that sends more, before we allocate it.
#define EVENTBUS_MAX_FRAME (ENVELOPE_MAX_SIZE + 1024)

struct _eventbus_publisher_t {
    char *context;
    zsock_t *pub;
    zsock_t *router;
};

struct _eventbus_subscriber_t {
    char *context;
    char *replay_endpoint;
    zsock_t *sub;
    zsock_t *dealer;
    int64_t last;
    int timeout_ms;
    int page;                   //  events asked per replay round trip
    zcert_t *cert;              //  CURVE client certificate, or NULL (plain)
    char *server_public;        //  the publisher's public key (z85)
    size_t duplicates;
    size_t dropped;
};

//  --------------------------------------------------------------------------
//  True when s is a reasonable name: letters, digits, '.', '_' and '-'.

static bool
s_valid_name (const char *s)
{
    if (!s || !*s || strlen (s) > EVENTBUS_TOPIC_MAX)
        return false;
    for (; *s; s++)
        if (!(isalnum ((unsigned char) *s) || *s == '.' || *s == '_' || *s == '-'))
            return false;
    return true;
}

//  --------------------------------------------------------------------------

eventbus_publisher_t *
eventbus_publisher_new (const char *context, const char *publish_endpoint,
                        const char *replay_endpoint)
{
    return eventbus_publisher_new_secure (context, publish_endpoint, replay_endpoint, NULL);
}

//  --------------------------------------------------------------------------

eventbus_publisher_t *
eventbus_publisher_new_secure (const char *context, const char *publish_endpoint,
                               const char *replay_endpoint, zcert_t *cert)
{
    if (!s_valid_name (context) || !publish_endpoint || !replay_endpoint)
        return NULL;
    eventbus_publisher_t *self = (eventbus_publisher_t *) zmalloc (sizeof (eventbus_publisher_t));
    if (!self)
        return NULL;
    self->context = strdup (context);
    self->pub = zsock_new (ZMQ_PUB);
    self->router = zsock_new (ZMQ_ROUTER);
    if (!self->context || !self->pub || !self->router) {
        eventbus_publisher_destroy (&self);
        return NULL;
    }
    zsock_set_sndhwm (self->pub, 100000);
    zsock_set_linger (self->pub, 0);
    zsock_set_linger (self->router, 0);
    zsock_set_maxmsgsize (self->router, EVENTBUS_MAX_FRAME);
    if (cert) {
        curvekeys_apply_server (self->pub, cert);
        curvekeys_apply_server (self->router, cert);
    }
    if (zsock_bind (self->pub, "%s", publish_endpoint) == -1
    ||  zsock_bind (self->router, "%s", replay_endpoint) == -1) {
        log_error (NULL, "eventbus: %s cannot bind %s / %s: %s", context,
                   publish_endpoint, replay_endpoint, zmq_strerror (zmq_errno ()));
        eventbus_publisher_destroy (&self);
        return NULL;
    }
    return self;
}

//  --------------------------------------------------------------------------

void
eventbus_publisher_destroy (eventbus_publisher_t **self_p)
{
    if (self_p && *self_p) {
        eventbus_publisher_t *self = *self_p;
        zsock_destroy (&self->pub);
        zsock_destroy (&self->router);
        free (self->context);
        free (self);
        *self_p = NULL;
    }
}

//  --------------------------------------------------------------------------
//  The wire body of one event.

static json_t *
s_event_body (const char *context, int64_t seq, int64_t prev, const char *topic,
              const json_t *payload, int64_t at)
{
    return json_pack ("{s:s, s:I, s:I, s:s, s:O, s:I}", "context", context,
                      "seq", (json_int_t) seq, "prev", (json_int_t) prev, "topic", topic,
                      "payload", (json_t *) payload, "at", (json_int_t) at);
}

//  --------------------------------------------------------------------------

int
eventbus_publisher_send (eventbus_publisher_t *self, int64_t seq, int64_t prev,
                         const char *topic, const json_t *payload, int64_t at)
{
    assert (self);
    if (seq <= 0 || prev < 0 || prev >= seq || !s_valid_name (topic) || !payload)
        return -1;
    char full [2 * EVENTBUS_TOPIC_MAX + 2];
    snprintf (full, sizeof full, "%s.%s", self->context, topic);
    envelope_t *event = envelope_new_request (full);
    if (!event)
        return -1;
    event->body = s_event_body (self->context, seq, prev, topic, payload, at);
    zframe_t *frame = event->body ? envelope_encode (event) : NULL;
    envelope_destroy (&event);
    if (!frame)
        return -1;
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, full);
    zmsg_append (msg, &frame);
    return zmsg_send (&msg, self->pub);
}

//  --------------------------------------------------------------------------

const char *
eventbus_publisher_endpoint (eventbus_publisher_t *self, bool replay)
{
    assert (self);
    return zsock_endpoint (replay ? self->router : self->pub);
}

//  --------------------------------------------------------------------------

zsock_t *
eventbus_publisher_replay_sock (eventbus_publisher_t *self)
{
    assert (self);
    return self->router;
}

//  --------------------------------------------------------------------------

int
eventbus_publisher_serve_replay (eventbus_publisher_t *self, eventbus_replay_fn *fn, void *arg)
{
    assert (self);
    zmsg_t *msg = zmsg_recv (self->router);
    if (!msg)
        return 0;
    //  [identity] [envelope]
    if (zmsg_size (msg) != 2) {
        log_warn (NULL, "eventbus: %s replay: dropped a request of %zu frames",
                  self->context, zmsg_size (msg));
        zmsg_destroy (&msg);
        return 0;
    }
    zframe_t *identity = zmsg_pop (msg);
    zframe_t *frame = zmsg_pop (msg);
    zmsg_destroy (&msg);
    const char *why = NULL;
    envelope_t *request = envelope_decode (zframe_data (frame), zframe_size (frame), &why);
    zframe_destroy (&frame);
    char verb [EVENTBUS_TOPIC_MAX + 32];
    snprintf (verb, sizeof verb, "%s.events_since", self->context);
    json_t *from_j = request && request->kind == ENVELOPE_REQUEST && json_is_object (request->body)
                   ? json_object_get (request->body, "from") : NULL;
    json_t *max_j = from_j ? json_object_get (request->body, "max") : NULL;
    if (!request || request->kind != ENVELOPE_REQUEST || strcmp (request->verb, verb)
    ||  !json_is_integer (from_j) || json_integer_value (from_j) < 1
    ||  !json_is_integer (max_j) || json_integer_value (max_j) < 1) {
        log_warn (NULL, "eventbus: %s replay: dropped a malformed request (%s)",
                  self->context, why ? why : "not an events_since request");
        envelope_destroy (&request);
        zframe_destroy (&identity);
        return 0;
    }
    size_t max = (size_t) json_integer_value (max_j);
    if (max > EVENTBUS_MAX_REPLAY)
        max = EVENTBUS_MAX_REPLAY;
    json_t *events = json_array ();
    bool more = false;
    envelope_t *reply;
    if (fn (json_integer_value (from_j), max, events, &more, arg) == 0) {
        //  Add context to each event so the subscriber checks one shape.
        size_t index;
        json_t *event;
        json_array_foreach (events, index, event)
            json_object_set_new (event, "context", json_string (self->context));
        reply = envelope_new_reply (request, 200,
                                    json_pack ("{s:o, s:b}", "events", events, "more", more));
    }
    else {
        json_decref (events);
        reply = envelope_new_error (request, 503, "unavailable", "the event store failed", NULL);
    }
    envelope_destroy (&request);
    zframe_t *out = reply ? envelope_encode (reply) : NULL;
    envelope_destroy (&reply);
    if (!out) {
        log_warn (NULL, "eventbus: %s replay: cannot encode the answer", self->context);
        zframe_destroy (&identity);
        return 0;
    }
    zmsg_t *answer = zmsg_new ();
    zmsg_append (answer, &identity);
    zmsg_append (answer, &out);
    zmsg_send (&answer, self->router);
    return 0;
}

//  --------------------------------------------------------------------------

eventbus_subscriber_t *
eventbus_subscriber_new (const char *context, const char *publish_endpoint,
                         const char *replay_endpoint)
{
    return eventbus_subscriber_new_secure (context, publish_endpoint, replay_endpoint, NULL, NULL);
}

//  --------------------------------------------------------------------------

eventbus_subscriber_t *
eventbus_subscriber_new_secure (const char *context, const char *publish_endpoint,
                                const char *replay_endpoint, zcert_t *cert,
                                const char *server_public)
{
    if (!s_valid_name (context) || !publish_endpoint || !replay_endpoint
    ||  (cert && (!server_public || strlen (server_public) != 40)))
        return NULL;
    eventbus_subscriber_t *self = (eventbus_subscriber_t *) zmalloc (sizeof (eventbus_subscriber_t));
    if (!self)
        return NULL;
    self->context = strdup (context);
    self->replay_endpoint = strdup (replay_endpoint);
    self->sub = zsock_new (ZMQ_SUB);
    self->timeout_ms = 2000;
    self->page = EVENTBUS_MAX_REPLAY;
    if (cert) {
        self->cert = zcert_dup (cert);
        self->server_public = strdup (server_public);
    }
    if (!self->context || !self->replay_endpoint || !self->sub
    ||  (cert && (!self->cert || !self->server_public))) {
        eventbus_subscriber_destroy (&self);
        return NULL;
    }
    if (self->cert)
        curvekeys_apply_client (self->sub, self->cert, self->server_public);
    zsock_set_rcvhwm (self->sub, 100000);
    zsock_set_linger (self->sub, 0);
    zsock_set_maxmsgsize (self->sub, EVENTBUS_MAX_FRAME);
    char prefix [EVENTBUS_TOPIC_MAX + 2];
    snprintf (prefix, sizeof prefix, "%s.", context);
    zsock_set_subscribe (self->sub, prefix);
    if (zsock_connect (self->sub, "%s", publish_endpoint) == -1) {
        eventbus_subscriber_destroy (&self);
        return NULL;
    }
    return self;
}

//  --------------------------------------------------------------------------

void
eventbus_subscriber_destroy (eventbus_subscriber_t **self_p)
{
    if (self_p && *self_p) {
        eventbus_subscriber_t *self = *self_p;
        zsock_destroy (&self->sub);
        zsock_destroy (&self->dealer);
        zcert_destroy (&self->cert);
        free (self->server_public);
        free (self->context);
        free (self->replay_endpoint);
        free (self);
        *self_p = NULL;
    }
}

//  --------------------------------------------------------------------------

void
eventbus_subscriber_set_last (eventbus_subscriber_t *self, int64_t last)
{
    assert (self);
    self->last = last < 0 ? 0 : last;
}

//  --------------------------------------------------------------------------

int64_t
eventbus_subscriber_last (eventbus_subscriber_t *self)
{
    assert (self);
    return self->last;
}

//  --------------------------------------------------------------------------

void
eventbus_subscriber_set_timeout (eventbus_subscriber_t *self, int timeout_ms)
{
    assert (self);
    self->timeout_ms = timeout_ms > 0 ? timeout_ms : 2000;
}

//  --------------------------------------------------------------------------

void
eventbus_subscriber_set_page (eventbus_subscriber_t *self, int page)
{
    assert (self);
    self->page = page > 0 && page <= EVENTBUS_MAX_REPLAY ? page : EVENTBUS_MAX_REPLAY;
}

//  --------------------------------------------------------------------------

zsock_t *
eventbus_subscriber_sock (eventbus_subscriber_t *self)
{
    assert (self);
    return self->sub;
}

//  --------------------------------------------------------------------------

size_t
eventbus_subscriber_duplicates (eventbus_subscriber_t *self)
{
    assert (self);
    return self->duplicates;
}

//  --------------------------------------------------------------------------

size_t
eventbus_subscriber_dropped (eventbus_subscriber_t *self)
{
    assert (self);
    return self->dropped;
}

//  --------------------------------------------------------------------------
//  Check an event body and fill event (borrowing from body). 0 or -1.

static int
s_event_parse (eventbus_subscriber_t *self, const json_t *body, eventbus_event_t *event)
{
    if (!json_is_object (body))
        return -1;
    json_t *context = json_object_get (body, "context");
    json_t *seq = json_object_get (body, "seq");
    json_t *prev = json_object_get (body, "prev");
    json_t *topic = json_object_get (body, "topic");
    json_t *payload = json_object_get (body, "payload");
    json_t *at = json_object_get (body, "at");
    if (!json_is_string (context) || strcmp (json_string_value (context), self->context)
    ||  !json_is_integer (seq) || json_integer_value (seq) < 1
    ||  !json_is_integer (prev) || json_integer_value (prev) < 0
    ||  json_integer_value (prev) >= json_integer_value (seq)
    ||  !json_is_string (topic) || !s_valid_name (json_string_value (topic))
    ||  !payload || !json_is_integer (at))
        return -1;
    event->context = self->context;
    event->seq = json_integer_value (seq);
    event->prev = json_integer_value (prev);
    event->topic = json_string_value (topic);
    event->payload = payload;
    event->at = json_integer_value (at);
    return 0;
}

//  --------------------------------------------------------------------------
//  Offer one event: 1 applied, 0 duplicate, 2 gap (not applied), -1 stop.

static int
s_offer (eventbus_subscriber_t *self, const eventbus_event_t *event,
         eventbus_apply_fn *apply, void *arg)
{
    if (event->seq <= self->last) {
        self->duplicates++;
        return 0;
    }
    if (event->prev > self->last)
        return 2;
    if (apply (event, arg) != 0)
        return -1;
    self->last = event->seq;
    return 1;
}

//  --------------------------------------------------------------------------
//  One replay round trip from last + 1: applies what comes back. Returns the
//  number applied (0 = nothing more), -1 on no answer, -2 when apply
//  stopped; *more tells
//  whether the publisher has more.

static int
s_replay_once (eventbus_subscriber_t *self, eventbus_apply_fn *apply, void *arg, bool *more)
{
    *more = false;
    if (!self->dealer) {
        self->dealer = zsock_new (ZMQ_DEALER);
        if (!self->dealer)
            return -1;
        zsock_set_linger (self->dealer, 0);
        zsock_set_maxmsgsize (self->dealer, EVENTBUS_MAX_FRAME);
        if (self->cert)
            curvekeys_apply_client (self->dealer, self->cert, self->server_public);
        if (zsock_connect (self->dealer, "%s", self->replay_endpoint) == -1) {
            zsock_destroy (&self->dealer);
            return -1;
        }
    }
    char verb [EVENTBUS_TOPIC_MAX + 32];
    snprintf (verb, sizeof verb, "%s.events_since", self->context);
    envelope_t *request = envelope_new_request (verb);
    if (!request)
        return -1;
    request->body = json_pack ("{s:I, s:i}", "from", (json_int_t) (self->last + 1),
                               "max", self->page);
    zframe_t *frame = envelope_encode (request);
    char cid [257];
    snprintf (cid, sizeof cid, "%s", request->cid);
    envelope_destroy (&request);
    if (!frame || zframe_send (&frame, self->dealer, 0) == -1) {
        zframe_destroy (&frame);
        return -1;
    }
    int64_t deadline = zclock_mono () + self->timeout_ms;
    envelope_t *reply = NULL;
    while (!reply) {
        int64_t left = deadline - zclock_mono ();
        zmq_pollitem_t item = { zsock_resolve (self->dealer), 0, ZMQ_POLLIN, 0 };
        if (left <= 0 || zmq_poll (&item, 1, (long) left) <= 0 || !(item.revents & ZMQ_POLLIN)) {
            log_warn (NULL, "eventbus: %s replay from %" PRId64 " did not answer",
                      self->context, self->last + 1);
            zsock_destroy (&self->dealer);
            return -1;
        }
        zmsg_t *msg = zmsg_recv (self->dealer);
        zframe_t *first = msg && zmsg_size (msg) == 1 ? zmsg_first (msg) : NULL;
        reply = first ? envelope_decode (zframe_data (first), zframe_size (first), NULL) : NULL;
        zmsg_destroy (&msg);
        if (reply && (reply->kind != ENVELOPE_REPLY || strcmp (reply->cid, cid))) {
            envelope_destroy (&reply);          //  a stale answer: keep waiting
            continue;
        }
        if (!reply)
            self->dropped++;
    }
    json_t *events = reply->status == 200 && json_is_object (reply->body)
                   ? json_object_get (reply->body, "events") : NULL;
    if (!json_is_array (events)) {
        log_warn (NULL, "eventbus: %s replay answered %d without events", self->context,
                  reply->status);
        envelope_destroy (&reply);
        return -1;
    }
    int applied = 0;
    size_t index;
    json_t *body;
    json_array_foreach (events, index, body) {
        eventbus_event_t event;
        if (s_event_parse (self, body, &event)) {
            log_warn (NULL, "eventbus: %s replay: dropped a malformed event", self->context);
            self->dropped++;
            break;
        }
        int rc = s_offer (self, &event, apply, arg);
        if (rc == -1) {
            envelope_destroy (&reply);
            return -2;
        }
        if (rc == 2) {
            log_warn (NULL, "eventbus: %s replay has a hole before %" PRId64,
                      self->context, event.seq);
            break;
        }
        if (rc == 1)
            applied++;
    }
    *more = applied > 0 && json_is_true (json_object_get (reply->body, "more"));
    envelope_destroy (&reply);
    return applied;
}

//  --------------------------------------------------------------------------

int
eventbus_subscriber_catch_up (eventbus_subscriber_t *self, eventbus_apply_fn *apply, void *arg)
{
    assert (self);
    int total = 0;
    for (int round = 0; round < 100000; round++) {
        bool more;
        int applied = s_replay_once (self, apply, arg, &more);
        if (applied < 0)
            return -1;
        total += applied;
        if (!more)
            break;
    }
    return total;
}

//  --------------------------------------------------------------------------

int
eventbus_subscriber_handle (eventbus_subscriber_t *self, eventbus_apply_fn *apply, void *arg)
{
    assert (self);
    zmsg_t *msg = zmsg_recv (self->sub);
    if (!msg)
        return 0;
    envelope_t *envelope = NULL;
    eventbus_event_t event;
    if (zmsg_size (msg) == 2) {
        char *topic = zframe_strdup (zmsg_first (msg));
        zframe_t *frame = zmsg_next (msg);
        envelope = envelope_decode (zframe_data (frame), zframe_size (frame), NULL);
        if (envelope && (envelope->kind != ENVELOPE_REQUEST || !topic
                     ||  strcmp (envelope->verb, topic)
                     ||  s_event_parse (self, envelope->body, &event)))
            envelope_destroy (&envelope);
        //  the verb must be "<context>.<topic>"
        size_t length = strlen (self->context);
        if (envelope && (strncmp (topic, self->context, length) || topic [length] != '.'
                     ||  strcmp (topic + length + 1, event.topic)))
            envelope_destroy (&envelope);
        free (topic);
    }
    if (!envelope) {
        log_warn (NULL, "eventbus: %s: dropped a malformed event message of %zu frames",
                  self->context, zmsg_size (msg));
        self->dropped++;
        zmsg_destroy (&msg);
        return 0;
    }
    zmsg_destroy (&msg);
    int applied = 0;
    int rc = s_offer (self, &event, apply, arg);
    if (rc == 2) {
        //  A gap: replay until the live event is next in line.
        for (int round = 0; round < 10000 && event.prev > self->last; round++) {
            bool more;
            int got = s_replay_once (self, apply, arg, &more);
            if (got < 0) {
                envelope_destroy (&envelope);
                return got == -2 ? -1 : applied;     //  no answer: the event waits in the outbox
            }
            applied += got;
            if (got == 0)
                break;
        }
        rc = s_offer (self, &event, apply, arg);
        if (rc == 2)
            log_warn (NULL, "eventbus: %s: seq %" PRId64 " left for a later replay",
                      self->context, event.seq);
    }
    envelope_destroy (&envelope);
    if (rc == -1)
        return -1;
    return applied + (rc == 1 ? 1 : 0);
}

//  --------------------------------------------------------------------------
//  Self-test: a publisher actor holding events 1..100 (no 50: a rolled-back
//  bigserial) answers commands from the test: "SEND a b" publishes a..b,
//  "MARK b" makes events up to b replayable without sending them (what a
//  subscriber that was away missed), "JUNK" sends hostile messages.

#define S_TEST_PUB    "inproc://eventbus-test-pub"
#define S_TEST_REPLAY "inproc://eventbus-test-replay"
#define S_TEST_EVENTS 100
#define S_TEST_HOLE   50

typedef struct {
    eventbus_publisher_t *publisher;
    int64_t published;          //  replayable up to this seq
} s_test_pub_t;

static int64_t
s_test_prev (int64_t seq)
{
    return seq - 1 == S_TEST_HOLE ? seq - 2 : seq - 1;
}

static int
s_test_replay (int64_t from, size_t max, json_t *events, bool *more, void *arg)
{
    s_test_pub_t *self = (s_test_pub_t *) arg;
    for (int64_t seq = from; seq <= self->published; seq++) {
        if (seq == S_TEST_HOLE)
            continue;
        if (json_array_size (events) == max) {
            *more = true;
            break;
        }
        json_array_append_new (events, json_pack ("{s:I, s:I, s:s, s:{s:I}, s:I}",
            "seq", (json_int_t) seq, "prev", (json_int_t) s_test_prev (seq),
            "topic", "stock.changed", "payload", "n", (json_int_t) seq, "at", (json_int_t) 1));
    }
    return 0;
}

static int
s_test_on_replay (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop; (void) reader;
    s_test_pub_t *self = (s_test_pub_t *) arg;
    return eventbus_publisher_serve_replay (self->publisher, s_test_replay, self);
}

static int
s_test_pub_init (zloop_t *loop, zsock_t *pipe, void *args, void **state_p)
{
    (void) pipe; (void) args;
    s_test_pub_t *self = (s_test_pub_t *) zmalloc (sizeof (s_test_pub_t));
    self->publisher = eventbus_publisher_new ("inventory", S_TEST_PUB, S_TEST_REPLAY);
    if (!self->publisher) {
        free (self);
        return -1;
    }
    zloop_reader (loop, eventbus_publisher_replay_sock (self->publisher), s_test_on_replay, self);
    *state_p = self;
    return 0;
}

static void
s_test_pub_destroy (void **state_p)
{
    s_test_pub_t *self = (s_test_pub_t *) *state_p;
    eventbus_publisher_destroy (&self->publisher);
    free (self);
    *state_p = NULL;
}

static int
s_test_pub_command (zmsg_t *msg, zsock_t *pipe, void *state)
{
    s_test_pub_t *self = (s_test_pub_t *) state;
    char *command = zmsg_popstr (msg);
    if (streq (command, "SEND")) {
        char *a = zmsg_popstr (msg), *b = zmsg_popstr (msg);
        int64_t from = atoll (a), to = atoll (b);
        if (to > self->published)
            self->published = to;
        for (int64_t seq = from; seq <= to; seq++) {
            if (seq == S_TEST_HOLE)
                continue;
            json_t *payload = json_pack ("{s:I}", "n", (json_int_t) seq);
            eventbus_publisher_send (self->publisher, seq, s_test_prev (seq),
                                     "stock.changed", payload, 1);
            json_decref (payload);
        }
        free (a);
        free (b);
    }
    else
    if (streq (command, "MARK")) {
        char *b = zmsg_popstr (msg);
        self->published = atoll (b);
        free (b);
    }
    else
    if (streq (command, "JUNK")) {
        zsock_t *pub = self->publisher->pub;
        zstr_send (pub, "inventory.stock.changed");                 //  one frame
        zstr_sendm (pub, "inventory.stock.changed");
        zstr_send (pub, "\x93\xff\x01");                            //  not an envelope
        zstr_sendx (pub, "inventory.x", "a", "b", NULL);            //  three frames
        //  a well-formed envelope that lies: other context, bad seq
        envelope_t *liar = envelope_new_request ("inventory.stock.changed");
        liar->body = json_pack ("{s:s, s:i, s:i, s:s, s:{}, s:i}", "context", "order",
                                "seq", 99, "prev", 98, "topic", "stock.changed",
                                "payload", "at", 1);
        zframe_t *frame = envelope_encode (liar);
        zstr_sendm (pub, "inventory.stock.changed");
        zframe_send (&frame, pub, 0);
        json_object_set_new (liar->body, "context", json_string ("inventory"));
        json_object_set_new (liar->body, "prev", json_integer (99));    //  prev >= seq
        frame = envelope_encode (liar);
        zstr_sendm (pub, "inventory.stock.changed");
        zframe_send (&frame, pub, 0);
        envelope_destroy (&liar);
    }
    free (command);
    zstr_send (pipe, "OK");
    return 0;
}

typedef struct {
    int64_t seen [S_TEST_EVENTS + 10];
    size_t count;
} s_test_log_t;

static int
s_test_apply (const eventbus_event_t *event, void *arg)
{
    s_test_log_t *log = (s_test_log_t *) arg;
    assert (log->count < S_TEST_EVENTS + 10);
    assert (streq (event->context, "inventory"));
    assert (streq (event->topic, "stock.changed"));
    assert (json_integer_value (json_object_get (event->payload, "n")) == event->seq);
    log->seen [log->count++] = event->seq;
    return 0;
}

static void
s_test_command (actor_t *publisher, const char *a, const char *b, const char *c)
{
    zstr_sendx (actor_sock (publisher), a, b, c, NULL);
    char *ok = zstr_recv (actor_sock (publisher));
    assert (ok && streq (ok, "OK"));
    free (ok);
}

//  Handle what the subscriber receives until quiet for quiet_ms.
static void
s_test_drain (eventbus_subscriber_t *subscriber, s_test_log_t *log, int quiet_ms)
{
    zpoller_t *poller = zpoller_new (eventbus_subscriber_sock (subscriber), NULL);
    for (int i = 0; i < 10000 && zpoller_wait (poller, quiet_ms); i++)
        assert (eventbus_subscriber_handle (subscriber, s_test_apply, log) >= 0);
    zpoller_destroy (&poller);
}

void
eventbus_test (bool verbose)
{
    printf (" * eventbus: ");
    (void) verbose;

    assert (!eventbus_publisher_new ("bad context!", S_TEST_PUB, S_TEST_REPLAY));
    actor_t *publisher = actor_new ("eventbus-test-pub", s_test_pub_init, s_test_pub_command,
                                    s_test_pub_destroy, NULL);
    assert (publisher);
    //  1..10 go out before the subscriber exists: it starts late.
    s_test_command (publisher, "SEND", "1", "10");
    eventbus_subscriber_t *subscriber = eventbus_subscriber_new ("inventory", S_TEST_PUB, S_TEST_REPLAY);
    assert (subscriber);
    eventbus_subscriber_set_timeout (subscriber, 2000);
    zclock_sleep (200);                         //  let SUB join
    s_test_log_t log = { { 0 }, 0 };
    //  11..19: the first seen has prev 10 > 0, so 1..10 are replayed first.
    s_test_command (publisher, "SEND", "11", "19");
    s_test_drain (subscriber, &log, 300);
    assert (eventbus_subscriber_last (subscriber) == 19);
    //  20..40 missed (published while the subscriber was away), then 41..100
    //  arrive live: 41 has prev 40 > 19, so 20..40 are replayed.
    s_test_command (publisher, "MARK", "40", NULL);
    s_test_command (publisher, "SEND", "41", "100");
    //  Hostile messages, then duplicates.
    s_test_command (publisher, "JUNK", NULL, NULL);
    s_test_command (publisher, "SEND", "90", "95");
    s_test_drain (subscriber, &log, 300);
    assert (eventbus_subscriber_last (subscriber) == 100);
    assert (eventbus_subscriber_duplicates (subscriber) >= 6);
    assert (eventbus_subscriber_dropped (subscriber) >= 5);
    //  Exactly once, in order: 1..100 without the hole.
    assert (log.count == S_TEST_EVENTS - 1);
    int64_t expect = 1;
    for (size_t i = 0; i < log.count; i++) {
        if (expect == S_TEST_HOLE)
            expect++;
        assert (log.seen [i] == expect);
        expect++;
    }
    //  A hostile replay request is dropped; the publisher still answers.
    zsock_t *dealer = zsock_new_dealer (S_TEST_REPLAY);
    zstr_send (dealer, "garbage");
    zstr_sendx (dealer, "a", "b", NULL);
    envelope_t *wrong = envelope_new_request ("inventory.events_since");
    wrong->body = json_pack ("{s:s}", "from", "1");
    zframe_t *frame = envelope_encode (wrong);
    zframe_send (&frame, dealer, 0);
    envelope_destroy (&wrong);
    zsock_destroy (&dealer);
    //  A subscriber that starts from 0 later catches up with the replay alone.
    eventbus_subscriber_t *late = eventbus_subscriber_new ("inventory", S_TEST_PUB, S_TEST_REPLAY);
    s_test_log_t late_log = { { 0 }, 0 };
    eventbus_subscriber_set_page (late, 7);         //  15 round trips
    assert (eventbus_subscriber_catch_up (late, s_test_apply, &late_log) == S_TEST_EVENTS - 1);
    assert (eventbus_subscriber_last (late) == 100);
    for (size_t i = 1; i < late_log.count; i++)
        assert (late_log.seen [i] > late_log.seen [i - 1]);
    assert (eventbus_subscriber_catch_up (late, s_test_apply, &late_log) == 0);
    eventbus_subscriber_destroy (&late);
    eventbus_subscriber_destroy (&subscriber);
    actor_destroy (&publisher);
    //  No publisher: catch_up fails within the timeout, no hang.
    eventbus_subscriber_t *alone = eventbus_subscriber_new ("inventory", "inproc://nobody-pub",
                                                            "inproc://nobody-replay");
    eventbus_subscriber_set_timeout (alone, 200);
    assert (eventbus_subscriber_catch_up (alone, s_test_apply, &late_log) == -1);
    eventbus_subscriber_destroy (&alone);

    //  CURVE: an admitted subscriber gets the event; a plain one and one
    //  whose key is not allowed get nothing.
    char dir [] = "/tmp/eventbus-test-XXXXXX";
    assert (mkdtemp (dir));
    zcert_t *server = curvekeys_ensure (dir, "inventory-events", false);
    zcert_t *client = curvekeys_ensure (dir, "reporting", true);
    assert (server && client);
    char *allowed = zsys_sprintf ("%s/allowed", dir);
    zactor_t *auth = curvekeys_auth_new (allowed);
    assert (auth);
    eventbus_publisher_t *secure = eventbus_publisher_new_secure ("inventory", "tcp://127.0.0.1:*",
                                                                  "tcp://127.0.0.1:*", server);
    assert (secure);
    char *pub_ep = strdup (eventbus_publisher_endpoint (secure, false));
    char *replay_ep = strdup (eventbus_publisher_endpoint (secure, true));
    const char *server_key = zcert_public_txt (server);
    assert (!eventbus_subscriber_new_secure ("inventory", pub_ep, replay_ep, client, "short"));
    eventbus_subscriber_t *admitted = eventbus_subscriber_new_secure ("inventory", pub_ep, replay_ep,
                                                                      client, server_key);
    eventbus_subscriber_t *plain = eventbus_subscriber_new ("inventory", pub_ep, replay_ep);
    zcert_t *stranger_cert = zcert_new ();
    eventbus_subscriber_t *stranger = eventbus_subscriber_new_secure ("inventory", pub_ep, replay_ep,
                                                                      stranger_cert, server_key);
    assert (admitted && plain && stranger);
    zclock_sleep (500);                         //  handshakes
    json_t *payload = json_pack ("{s:i}", "n", 1);
    assert (eventbus_publisher_send (secure, 1, 0, "stock.changed", payload, 1) == 0);
    json_decref (payload);
    s_test_log_t secure_log = { { 0 }, 0 };
    s_test_drain (admitted, &secure_log, 500);
    assert (secure_log.count == 1 && secure_log.seen [0] == 1);
    s_test_drain (plain, &secure_log, 100);
    s_test_drain (stranger, &secure_log, 100);
    assert (secure_log.count == 1);
    eventbus_subscriber_destroy (&admitted);
    eventbus_subscriber_destroy (&plain);
    eventbus_subscriber_destroy (&stranger);
    eventbus_publisher_destroy (&secure);
    zactor_destroy (&auth);
    zcert_destroy (&stranger_cert);
    zcert_destroy (&server);
    zcert_destroy (&client);
    free (pub_ep);
    free (replay_ep);
    zsys_dir_delete (allowed);
    zstr_free (&allowed);
    //  remove what curvekeys_ensure wrote
    zdir_t *tree = zdir_new (dir, NULL);
    if (tree) {
        zdir_remove (tree, true);
        zdir_destroy (&tree);
    }
    printf ("OK\n");
}
