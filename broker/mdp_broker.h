/*  =========================================================================
    mdp_broker - the Majordomo broker engine (MDP/0.1, RFC 7; MMI, RFC 8)

    One ROUTER socket for clients and workers. The engine is a plain object
    that attaches to a zloop, so the process's main runs it in its own
    thread and the tests run it as an actor in theirs.
    =========================================================================
*/
#ifndef COMPTOIR_MDP_BROKER_H
#define COMPTOIR_MDP_BROKER_H

#include <czmq.h>
#include "settings.h"

typedef struct _mdp_broker_t mdp_broker_t;

//  Create a broker. Reads broker/heartbeat_ms, broker/liveness,
//  broker/queue_max, broker/no_worker_wait_ms and broker/service_linger_ms
//  from settings (which may be NULL: defaults), and broker/events_max. Returns NULL on failure.
mdp_broker_t *mdp_broker_new (settings_t *settings);
void mdp_broker_destroy (mdp_broker_t **self_p);

//  Make the socket a CURVE server with this certificate (the broker keeps
//  a copy). Call before bind, after the ZAP authenticator is running.
void mdp_broker_set_certificate (mdp_broker_t *self, zcert_t *cert);

//  Tuning, mostly for tests (the settings give the same).
void mdp_broker_set_heartbeat (mdp_broker_t *self, int heartbeat_ms, int liveness);
void mdp_broker_set_queue_max (mdp_broker_t *self, size_t queue_max);
void mdp_broker_set_no_worker_wait (mdp_broker_t *self, int no_worker_wait_ms);
void mdp_broker_set_service_linger (mdp_broker_t *self, int service_linger_ms);
//  Socket events kept for mmi.events (broker/events_max, default 1,000);
//  the events kept so far are dropped. Returns 0 or -1.
int mdp_broker_set_events_max (mdp_broker_t *self, size_t events_max);

//  Bind the socket. Returns the port for tcp endpoints (ephemeral ports
//  allowed: tcp://127.0.0.1:*), 0 for other transports, -1 on failure.
int mdp_broker_bind (mdp_broker_t *self, const char *endpoint);

//  Add the broker's socket reader and timer to a loop.
int mdp_broker_attach (mdp_broker_t *self, zloop_t *loop);

//  The broker's view as JSON (what mmi.status answers). Caller frees.
char *mdp_broker_status (mdp_broker_t *self);

//  Run as a zactor: args is an mdp_broker_t * that the actor then owns
//  (create, configure and bind it first; do not touch it afterwards).
//  Pipe commands: "$TERM"; "STATUS" answers the status JSON.
void mdp_broker_actor (zsock_t *pipe, void *args);

void mdp_broker_test (bool verbose);

#endif
