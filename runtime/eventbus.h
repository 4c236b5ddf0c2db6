/*  =========================================================================
    eventbus - domain events from a context's outbox to its subscribers

    A publisher (the relay of one context) sends each event on a PUB socket
    as two frames: the topic "<context>.<event>" (so SUB prefix filters
    work) and one envelope frame (msgpack, decoded by envelope_decode, which
    checks every length before allocating) whose verb is that topic and
    whose body is {context, seq, prev, topic, payload, at}. seq is the
    outbox sequence; prev is the seq of the event published just before it,
    so a subscriber can tell a real gap from a hole that bigserial leaves
    when a transaction rolls back.

    Replay: the publisher binds a ROUTER; a subscriber's DEALER sends an
    envelope request "<context>.events_since" {from, max} and gets a reply
    {events: [...], more: bool}. The owner of the publisher answers from the
    outbox (a callback), so nothing is lost while a subscriber or the bus
    was down.

    A subscriber follows one whole context (prefix "<context>."): it keeps
    the last applied seq (the caller persists it), skips duplicates, and on
    a gap asks for a replay before applying newer events, so every event is
    applied once and in order. Both sides may use CURVE (the _secure
    constructors); the inventory relay is plain TCP on loopback for now.
    =========================================================================
*/
#ifndef COMPTOIR_EVENTBUS_H
#define COMPTOIR_EVENTBUS_H

#include <czmq.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define EVENTBUS_MAX_REPLAY 500         //  events per replay answer, at most

typedef struct _eventbus_publisher_t eventbus_publisher_t;
typedef struct _eventbus_subscriber_t eventbus_subscriber_t;

//  One event as the subscriber's apply function sees it (borrowed).
typedef struct {
    const char *context;
    int64_t seq;
    int64_t prev;
    const char *topic;          //  "stock.changed"
    const json_t *payload;
    int64_t at;                 //  ms since the epoch (created_at)
} eventbus_event_t;

//  Owner's answer to a replay: append to events (a JSON array) objects
//  {seq, prev, topic, payload, at} for published events with seq >= from,
//  in seq order, at most max. Set *more when there are more. Return 0, or
//  -1 when the store failed (the subscriber then gets an error reply).
typedef int (eventbus_replay_fn) (int64_t from, size_t max, json_t *events,
                                  bool *more, void *arg);

//  Apply one event. Return 0, or -1 to stop (the event is not counted as
//  applied and will be offered again).
typedef int (eventbus_apply_fn) (const eventbus_event_t *event, void *arg);

//  Publisher: binds both endpoints. NULL when one cannot be bound.
eventbus_publisher_t *eventbus_publisher_new (const char *context, const char *publish_endpoint,
                                              const char *replay_endpoint);
//  The same as a CURVE server with cert (a ZAP handler, curvekeys_auth_new,
//  must run in the process first, or libzmq admits every client).
eventbus_publisher_t *eventbus_publisher_new_secure (const char *context, const char *publish_endpoint,
                                                     const char *replay_endpoint, zcert_t *cert);
void eventbus_publisher_destroy (eventbus_publisher_t **self_p);
//  Publish one event (payload borrowed). Returns 0 / -1.
int eventbus_publisher_send (eventbus_publisher_t *self, int64_t seq, int64_t prev,
                             const char *topic, const json_t *payload, int64_t at);
//  The endpoint actually bound (replay or publish), e.g. after "tcp://127.0.0.1:*".
const char *eventbus_publisher_endpoint (eventbus_publisher_t *self, bool replay);
//  The ROUTER to poll; when readable call eventbus_publisher_serve_replay.
zsock_t *eventbus_publisher_replay_sock (eventbus_publisher_t *self);
//  Read one replay request and answer it. A malformed request is dropped
//  with a log line. Returns 0 (also when dropped).
int eventbus_publisher_serve_replay (eventbus_publisher_t *self, eventbus_replay_fn *fn, void *arg);

//  Subscriber: connects both endpoints, follows "<context>.".
eventbus_subscriber_t *eventbus_subscriber_new (const char *context, const char *publish_endpoint,
                                                const char *replay_endpoint);
//  The same as a CURVE client (cert is copied) of the publisher whose public
//  key (z85) is given.
eventbus_subscriber_t *eventbus_subscriber_new_secure (const char *context, const char *publish_endpoint,
                                                       const char *replay_endpoint, zcert_t *cert,
                                                       const char *server_public);
void eventbus_subscriber_destroy (eventbus_subscriber_t **self_p);
void eventbus_subscriber_set_last (eventbus_subscriber_t *self, int64_t last);
int64_t eventbus_subscriber_last (eventbus_subscriber_t *self);
//  How long a replay request may take (default 2000 ms).
void eventbus_subscriber_set_timeout (eventbus_subscriber_t *self, int timeout_ms);
//  Events asked per replay round trip (1..EVENTBUS_MAX_REPLAY, the default).
void eventbus_subscriber_set_page (eventbus_subscriber_t *self, int page);
//  The SUB socket to poll.
zsock_t *eventbus_subscriber_sock (eventbus_subscriber_t *self);
//  Read one message from the SUB socket and apply what it makes applicable
//  (replaying first on a gap). Returns the number of events applied, or -1
//  when apply asked to stop. A malformed message is dropped with a log line.
int eventbus_subscriber_handle (eventbus_subscriber_t *self, eventbus_apply_fn *apply, void *arg);
//  Replay everything after last (a subscriber that starts late; call it
//  now and then too: the last events before a quiet spell, if missed, show
//  no gap until a newer one arrives). Returns
//  the number applied, or -1 when the replay did not answer or apply stopped.
int eventbus_subscriber_catch_up (eventbus_subscriber_t *self, eventbus_apply_fn *apply, void *arg);
//  Counters: duplicates skipped, malformed messages dropped.
size_t eventbus_subscriber_duplicates (eventbus_subscriber_t *self);
size_t eventbus_subscriber_dropped (eventbus_subscriber_t *self);

void eventbus_test (bool verbose);

#endif
