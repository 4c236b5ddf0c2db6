/*  =========================================================================
    broker_events - the broker's socket events, kept for mmi.events

    A bounded ring of what happened on the broker's socket: connections
    accepted and closed, CURVE handshakes that succeeded or failed, and the
    authenticator's verdicts (the key and address of a refused client). Each
    event has a sequence number, so a monitoring tool asks "since N" and
    sees every event once, or learns how many it missed.
    =========================================================================
*/
#ifndef COMPTOIR_BROKER_EVENTS_H
#define COMPTOIR_BROKER_EVENTS_H

#include <czmq.h>
#include <jansson.h>

#define BROKER_EVENTS_DEFAULT   1000    //  events kept

typedef struct _broker_events_t broker_events_t;

//  Watch a socket (the broker's ROUTER) with a libzmq socket monitor, and
//  listen to the authenticator's reports (CURVEKEYS_ZAP_EVENTS). Keeps the
//  last capacity events. Returns NULL on failure.
broker_events_t *broker_events_new (zsock_t *socket, size_t capacity);

//  Keep this many events from now on (the events kept so far are dropped).
//  Returns 0, or -1 when out of memory (the ring is unchanged).
int broker_events_set_capacity (broker_events_t *self, size_t capacity);

//  Stop the monitor and free everything. Call before the socket watched is
//  destroyed.
void broker_events_destroy (broker_events_t **self_p);

//  Add the monitor's and the reports' readers to a loop.
int broker_events_attach (broker_events_t *self, zloop_t *loop);

//  Read whatever is waiting on the monitor and the reports now (the loop
//  does it too; tests and the status answer use this to be current).
void broker_events_drain (broker_events_t *self);

//  Record one event. address, key and detail may be NULL.
void broker_events_add (broker_events_t *self, const char *kind, const char *address,
                        const char *key, const char *detail);

//  The events with a sequence number above since, oldest first, as
//  {"events": [{seq, at, kind, address, key?, detail}], "first": F, "last": L}
//  where first is the oldest sequence still kept (0 when none) and last the
//  newest given (0 when none ever). Caller owns the result.
json_t *broker_events_since (broker_events_t *self, uint64_t since);

void broker_events_test (bool verbose);

#endif
