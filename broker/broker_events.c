/*  =========================================================================
    broker_events - the broker's socket events, kept for mmi.events

    Two sources feed one ring. libzmq's socket monitor on the broker's
    ROUTER says when a connection is accepted, closed, and how its handshake
    ended; the ZAP authenticator (runtime/curvekeys.c) publishes each of its
    verdicts with the client's address and public key.

    What the peer's address is, and how we know it. Debian 12's libzmq
    4.3.4 has only the v1 monitor (zmq_socket_monitor_versioned is a draft):
    each event is a 16-bit event and a 32-bit value, then the endpoint,
    and for a listener the endpoint is our own bound address, never the
    peer's. So:
    - ACCEPTED carries the new connection's file descriptor: we ask the
      kernel for its peer (getpeername) when we read the event, and remember
      the address by descriptor. A connection already closed by then shows
      "?" (its descriptor is gone; libzmq closes it only after reporting
      DISCONNECTED, so a number is never read for the wrong connection
      while its DISCONNECTED is still unread, except in that window).
    - A failed handshake carries a reason, not a descriptor; libzmq reports
      DISCONNECTED with the descriptor right after it, from the same I/O
      thread (the broker's context has one), so the failure takes the
      address of that DISCONNECTED.
    - A successful handshake carries neither: it has no address here. The
      authenticator's zap_allowed event just before it names the client's
      IP and key (ZAP gives the IP without the port).
    The ring holds fixed-size records: recording an event allocates nothing.
    The monitor's PAIR has libzmq's default high-water mark (1,000 events);
    the broker's loop reads it on every wake-up, so it does not fill.
    =========================================================================
*/
#include "broker_events.h"
#include "curvekeys.h"
#include "logline.h"

#include <netdb.h>
#include <sys/socket.h>

#define EVENTS_MONITORED (ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_ACCEPT_FAILED | ZMQ_EVENT_CLOSED \
                          | ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL \
                          | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH \
                          | ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
#define EVENTS_DRAIN_MAX    256         //  monitor messages read per wake-up
#define EVENTS_PEERS_MAX    65536       //  descriptors remembered at once
#define EVENTS_KIND_MAX     32
#define EVENTS_ADDRESS_MAX  72
#define EVENTS_KEY_MAX      41
#define EVENTS_DETAIL_MAX   96

typedef struct {
    uint64_t seq;
    int64_t at;                         //  zclock_time, ms since the epoch
    char kind [EVENTS_KIND_MAX];
    char address [EVENTS_ADDRESS_MAX];
    char key [EVENTS_KEY_MAX];
    char detail [EVENTS_DETAIL_MAX];
} event_t;

struct _broker_events_t {
    event_t *ring;
    size_t capacity;
    size_t count;                       //  events kept
    uint64_t next_seq;                  //  of the next event (the first is 1)
    void *watched;                      //  libzmq handle of the socket watched
    zsock_t *monitor;                   //  PAIR: the monitor's events
    zsock_t *reports;                   //  SUB: the authenticator's verdicts
    zhashx_t *peers;                    //  "fd" -> "address", accepted connections
    bool failure_pending;               //  a handshake failure waits for its DISCONNECTED
    char failure_kind [EVENTS_KIND_MAX];
    char failure_detail [EVENTS_DETAIL_MAX];
};

//  --------------------------------------------------------------------------
//  Create the ring, start the monitor, subscribe to the reports.

broker_events_t *
broker_events_new (zsock_t *socket, size_t capacity)
{
    assert (socket);
    broker_events_t *self = (broker_events_t *) zmalloc (sizeof (broker_events_t));
    if (!self)
        return NULL;
    self->capacity = capacity > 0 ? capacity : BROKER_EVENTS_DEFAULT;
    self->ring = (event_t *) calloc (self->capacity, sizeof (event_t));
    self->next_seq = 1;
    self->peers = zhashx_new ();
    self->watched = zsock_resolve (socket);
    char endpoint [64];
    snprintf (endpoint, sizeof endpoint, "inproc://comptoir.broker.monitor.%p", (void *) self);
    if (!self->ring || !self->peers
    ||  zmq_socket_monitor (self->watched, endpoint, EVENTS_MONITORED) != 0) {
        log_error (NULL, "broker: cannot monitor the broker socket: %s", zmq_strerror (zmq_errno ()));
        self->watched = NULL;
        broker_events_destroy (&self);
        return NULL;
    }
    zhashx_set_destructor (self->peers, (czmq_destructor *) zstr_free);
    self->monitor = zsock_new_pair (endpoint);
    self->reports = zsock_new_sub (CURVEKEYS_ZAP_EVENTS, "");
    if (!self->monitor || !self->reports) {
        broker_events_destroy (&self);
        return NULL;
    }
    return self;
}

//  --------------------------------------------------------------------------

void
broker_events_destroy (broker_events_t **self_p)
{
    assert (self_p);
    broker_events_t *self = *self_p;
    if (self) {
        if (self->watched)
            zmq_socket_monitor (self->watched, NULL, 0);
        zsock_destroy (&self->monitor);
        zsock_destroy (&self->reports);
        zhashx_destroy (&self->peers);
        free (self->ring);
        free (self);
        *self_p = NULL;
    }
}

//  --------------------------------------------------------------------------

int
broker_events_set_capacity (broker_events_t *self, size_t capacity)
{
    assert (self);
    event_t *ring = capacity > 0 ? (event_t *) calloc (capacity, sizeof (event_t)) : NULL;
    if (!ring)
        return -1;
    free (self->ring);
    self->ring = ring;
    self->capacity = capacity;
    self->count = 0;
    return 0;
}

//  --------------------------------------------------------------------------

void
broker_events_add (broker_events_t *self, const char *kind, const char *address,
                   const char *key, const char *detail)
{
    assert (self);
    assert (kind);
    event_t *event = &self->ring [(self->next_seq - 1) % self->capacity];
    event->seq = self->next_seq++;
    event->at = zclock_time ();
    snprintf (event->kind, sizeof event->kind, "%s", kind);
    snprintf (event->address, sizeof event->address, "%s", address ? address : "");
    snprintf (event->key, sizeof event->key, "%s", key ? key : "");
    snprintf (event->detail, sizeof event->detail, "%s", detail ? detail : "");
    if (self->count < self->capacity)
        self->count++;
}

//  --------------------------------------------------------------------------

json_t *
broker_events_since (broker_events_t *self, uint64_t since)
{
    assert (self);
    uint64_t first = self->next_seq - self->count;      //  oldest kept
    json_t *events = json_array ();
    for (uint64_t seq = since + 1 > first ? since + 1 : first; seq < self->next_seq; seq++) {
        event_t *event = &self->ring [(seq - 1) % self->capacity];
        json_t *item = json_pack ("{s:I, s:I, s:s, s:s, s:s}",
                                  "seq", (json_int_t) event->seq,
                                  "at", (json_int_t) event->at,
                                  "kind", event->kind,
                                  "address", event->address,
                                  "detail", event->detail);
        if (item && *event->key)
            json_object_set_new (item, "key", json_string (event->key));
        json_array_append_new (events, item);
    }
    return json_pack ("{s:o, s:I, s:I}", "events", events,
                      "first", (json_int_t) (self->count ? first : 0),
                      "last", (json_int_t) (self->next_seq - 1));
}

//  --------------------------------------------------------------------------
//  The peer of a connected socket, "ip:port" ("[ip]:port" for IPv6), or
//  "?" when the descriptor is no longer a connected socket.

static void
s_peer_address (int fd, char *address, size_t size)
{
    struct sockaddr_storage peer;
    socklen_t length = sizeof peer;
    char host [NI_MAXHOST], port [NI_MAXSERV];
    snprintf (address, size, "?");
    if (getpeername (fd, (struct sockaddr *) &peer, &length) != 0)
        return;
    if (peer.ss_family == AF_UNIX)
        snprintf (address, size, "ipc");
    else
    if (getnameinfo ((struct sockaddr *) &peer, length, host, sizeof host, port, sizeof port,
                     NI_NUMERICHOST | NI_NUMERICSERV) == 0)
        snprintf (address, size, peer.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
}

//  A ZMTP protocol error, in words.
static const char *
s_protocol_error (uint32_t code)
{
    switch (code) {
        case ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH:
            return "security mechanism mismatch (a plaintext or PLAIN peer?)";
        case ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC:
            return "cryptographic error (wrong server key?)";
        case ZMQ_PROTOCOL_ERROR_ZMTP_UNEXPECTED_COMMAND:
            return "unexpected ZMTP command";
        case ZMQ_PROTOCOL_ERROR_ZMTP_INVALID_SEQUENCE:
            return "invalid ZMTP sequence";
        case ZMQ_PROTOCOL_ERROR_ZMTP_KEY_EXCHANGE:
            return "key exchange failed";
        case ZMQ_PROTOCOL_ERROR_ZMTP_INVALID_METADATA:
            return "invalid metadata";
        default:
            if (code >= ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_UNSPECIFIED
            &&  code <= ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_WELCOME)
                return "malformed ZMTP command";
            if ((code & 0xF0000000) == ZMQ_PROTOCOL_ERROR_ZAP_UNSPECIFIED)
                return "bad answer from the ZAP handler";
            return "protocol error";
    }
}

//  --------------------------------------------------------------------------
//  One monitor event: [event:16, value:32] [endpoint].

static void
s_monitor_event (broker_events_t *self, uint16_t event, uint32_t value, const char *endpoint)
{
    char address [EVENTS_ADDRESS_MAX], key [16];
    if (event == ZMQ_EVENT_ACCEPTED) {
        s_peer_address ((int) value, address, sizeof address);
        snprintf (key, sizeof key, "%u", value);
        if (zhashx_size (self->peers) >= EVENTS_PEERS_MAX)
            zhashx_purge (self->peers);         //  DISCONNECTEDs were lost: start over
        zhashx_update (self->peers, key, strdup (address));
        broker_events_add (self, "accepted", address, NULL, endpoint);
    }
    else
    if (event == ZMQ_EVENT_DISCONNECTED) {
        snprintf (key, sizeof key, "%u", value);
        const char *known = (const char *) zhashx_lookup (self->peers, key);
        snprintf (address, sizeof address, "%s", known ? known : "?");
        zhashx_delete (self->peers, key);
        if (self->failure_pending) {
            self->failure_pending = false;
            broker_events_add (self, self->failure_kind, address, NULL, self->failure_detail);
        }
        else
            broker_events_add (self, "disconnected", address, NULL, NULL);
    }
    else
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL || event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
    ||  event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
        if (self->failure_pending)      //  never seen with one I/O thread; keep it anyway
            broker_events_add (self, self->failure_kind, "?", NULL, self->failure_detail);
        self->failure_pending = true;
        if (event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) {
            snprintf (self->failure_kind, sizeof self->failure_kind, "handshake_failed_no_detail");
            snprintf (self->failure_detail, sizeof self->failure_detail, "%s",
                      value ? strerror ((int) value) : "connection lost during the handshake");
        }
        else
        if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) {
            snprintf (self->failure_kind, sizeof self->failure_kind, "handshake_failed_protocol");
            snprintf (self->failure_detail, sizeof self->failure_detail, "%s",
                      s_protocol_error (value));
        }
        else {
            snprintf (self->failure_kind, sizeof self->failure_kind, "handshake_failed_auth");
            snprintf (self->failure_detail, sizeof self->failure_detail,
                      "refused by the authenticator (ZAP status %u)", value);
        }
    }
    else
    if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
        broker_events_add (self, "handshake_succeeded", NULL, NULL, NULL);
    else
    if (event == ZMQ_EVENT_ACCEPT_FAILED)
        broker_events_add (self, "accept_failed", endpoint, NULL, strerror ((int) value));
    else
    if (event == ZMQ_EVENT_CLOSED)
        broker_events_add (self, "closed", endpoint, NULL, "listener closed");
}

//  Read one monitor message without waiting. Returns -1 when none is there.
static int
s_monitor_read (broker_events_t *self)
{
    void *handle = zsock_resolve (self->monitor);
    zmq_msg_t head, tail;
    zmq_msg_init (&head);
    if (zmq_msg_recv (&head, handle, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close (&head);
        return -1;
    }
    zmq_msg_init (&tail);
    bool good = zmq_msg_size (&head) == 6 && zmq_msg_more (&head)
             && zmq_msg_recv (&tail, handle, 0) >= 0 && !zmq_msg_more (&tail)
             && zmq_msg_size (&tail) < 256;
    if (good) {
        uint16_t event;
        uint32_t value;
        const byte *data = (const byte *) zmq_msg_data (&head);
        memcpy (&event, data, sizeof event);
        memcpy (&value, data + sizeof event, sizeof value);
        char endpoint [256];
        memcpy (endpoint, zmq_msg_data (&tail), zmq_msg_size (&tail));
        endpoint [zmq_msg_size (&tail)] = 0;
        s_monitor_event (self, event, value, endpoint);
    }
    else {
        log_warn (NULL, "broker: dropping a malformed socket monitor message");
        //  Read off whatever is left of it.
        while (zsock_rcvmore (self->monitor)) {
            zmq_msg_close (&tail);
            zmq_msg_init (&tail);
            if (zmq_msg_recv (&tail, handle, 0) < 0)
                break;
        }
    }
    zmq_msg_close (&head);
    zmq_msg_close (&tail);
    return 0;
}

//  --------------------------------------------------------------------------
//  One verdict of the authenticator: [verdict] [address] [key] [mechanism]
//  [reason]. Returns -1 when none is waiting.

static int
s_report_read (broker_events_t *self)
{
    zmq_pollitem_t item = { zsock_resolve (self->reports), 0, ZMQ_POLLIN, 0 };
    if (zmq_poll (&item, 1, 0) <= 0)
        return -1;
    zmsg_t *msg = zmsg_recv (self->reports);
    if (!msg)
        return -1;
    char *verdict = zmsg_popstr (msg);
    char *address = zmsg_popstr (msg);
    char *key = zmsg_popstr (msg);
    char *mechanism = zmsg_popstr (msg);
    char *reason = zmsg_popstr (msg);
    bool good = zmsg_size (msg) == 0 && verdict && address && key && mechanism && reason
             && (streq (verdict, "allowed") || streq (verdict, "denied"))
             && strlen (address) < EVENTS_ADDRESS_MAX && strlen (key) < EVENTS_KEY_MAX
             && strlen (mechanism) <= 16 && strlen (reason) <= 64;
    if (good) {
        char detail [EVENTS_DETAIL_MAX];
        snprintf (detail, sizeof detail, "%s: %s", mechanism, reason);
        broker_events_add (self, streq (verdict, "allowed") ? "zap_allowed" : "zap_denied",
                           address, key, detail);
    }
    else
        log_warn (NULL, "broker: dropping a malformed report from the authenticator");
    free (verdict);
    free (address);
    free (key);
    free (mechanism);
    free (reason);
    zmsg_destroy (&msg);
    return 0;
}

//  --------------------------------------------------------------------------

void
broker_events_drain (broker_events_t *self)
{
    assert (self);
    //  The verdicts first: the authenticator publishes one before libzmq
    //  learns it, so it is already here when the handshake's end is.
    for (int count = 0; count < EVENTS_DRAIN_MAX; count++)
        if (s_report_read (self) != 0)
            break;
    for (int count = 0; count < EVENTS_DRAIN_MAX; count++)
        if (s_monitor_read (self) != 0)
            break;
}

static int
s_handle_readable (zloop_t *loop, zsock_t *reader, void *arg)
{
    broker_events_drain ((broker_events_t *) arg);
    return 0;
}

int
broker_events_attach (broker_events_t *self, zloop_t *loop)
{
    assert (self);
    if (zloop_reader (loop, self->reports, s_handle_readable, self) != 0
    ||  zloop_reader (loop, self->monitor, s_handle_readable, self) != 0)
        return -1;
    zloop_reader_set_tolerant (loop, self->reports);
    zloop_reader_set_tolerant (loop, self->monitor);
    return 0;
}

//  --------------------------------------------------------------------------
//  Self-test: a plaintext ROUTER watched, one peer in and out, a small ring.

static json_t *
s_wait_kind (broker_events_t *self, const char *kind)
{
    for (int turn = 0; turn < 200; turn++) {
        broker_events_drain (self);
        json_t *answer = broker_events_since (self, 0);
        size_t index;
        json_t *event;
        json_array_foreach (json_object_get (answer, "events"), index, event)
            if (streq (json_string_value (json_object_get (event, "kind")), kind)) {
                json_t *found = json_incref (event);
                json_decref (answer);
                return found;
            }
        json_decref (answer);
        zclock_sleep (10);
    }
    return NULL;
}

void
broker_events_test (bool verbose)
{
    printf (" * broker_events: ");
    zsock_t *router = zsock_new (ZMQ_ROUTER);
    assert (router);
    broker_events_t *events = broker_events_new (router, 0);
    assert (events);
    assert (broker_events_set_capacity (events, 4) == 0);
    int port = zsock_bind (router, "tcp://127.0.0.1:*");
    assert (port > 0);

    //  A peer's address comes from its connection, on accept and on close.
    zsock_t *peer = zsock_new_dealer (NULL);
    assert (peer);
    assert (zsock_connect (peer, "tcp://127.0.0.1:%d", port) == 0);
    zstr_send (peer, "hello");
    zsock_set_rcvtimeo (router, 2000);
    zmsg_t *msg = zmsg_recv (router);
    assert (msg);
    zmsg_destroy (&msg);
    json_t *accepted = s_wait_kind (events, "accepted");
    assert (accepted);
    const char *address = json_string_value (json_object_get (accepted, "address"));
    assert (address && strncmp (address, "127.0.0.1:", 10) == 0);
    if (verbose)
        printf ("(%s) ", address);
    zsock_destroy (&peer);
    json_t *gone = s_wait_kind (events, "disconnected");
    assert (gone);
    assert (streq (json_string_value (json_object_get (gone, "address")), address));
    json_decref (accepted);
    json_decref (gone);

    //  The ring keeps the last four; since gives what came after.
    for (int index = 0; index < 10; index++)
        broker_events_add (events, "test", "here", index % 2 ? "KEY" : NULL, "filler");
    json_t *answer = broker_events_since (events, 0);
    json_t *list = json_object_get (answer, "events");
    uint64_t last = (uint64_t) json_integer_value (json_object_get (answer, "last"));
    assert (json_array_size (list) == 4);
    assert ((uint64_t) json_integer_value (json_object_get (answer, "first")) == last - 3);
    assert ((uint64_t) json_integer_value (json_object_get (json_array_get (list, 3), "seq")) == last);
    assert (json_object_get (json_array_get (list, 3), "key"));
    assert (!json_object_get (json_array_get (list, 2), "key"));
    json_decref (answer);
    answer = broker_events_since (events, last - 1);
    assert (json_array_size (json_object_get (answer, "events")) == 1);
    json_decref (answer);
    answer = broker_events_since (events, last);
    assert (json_array_size (json_object_get (answer, "events")) == 0);
    json_decref (answer);

    broker_events_destroy (&events);
    assert (events == NULL);
    zsock_destroy (&router);
    printf ("OK\n");
}
