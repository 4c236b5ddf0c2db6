/*  =========================================================================
    mdp_worker - Majordomo worker

    A DEALER that announces READY for one service, answers requests, sends
    heartbeats and reconnects with a growing backoff when the broker goes
    silent. The worker hides the protocol: the caller sees envelopes.
    A body that is not a valid envelope is answered with a 400 error
    envelope (when it can be) and logged, never passed on.
    =========================================================================
*/
#ifndef COMPTOIR_MDP_WORKER_H
#define COMPTOIR_MDP_WORKER_H

#include "envelope.h"

typedef struct _mdp_worker_t mdp_worker_t;

//  identity may be NULL; with one, a restarted worker takes over its old
//  pipe at the broker (ROUTER_HANDOVER).
mdp_worker_t *mdp_worker_new (const char *endpoint, const char *service,
                              zcert_t *cert, const char *server_public, const char *identity);
void mdp_worker_destroy (mdp_worker_t **self_p);

//  Heartbeat interval and liveness (missed heartbeats before reconnecting).
void mdp_worker_set_heartbeat (mdp_worker_t *self, int heartbeat_ms, int liveness);

//  Socket to poll for input. It changes after a reconnect: poll anew each turn.
zsock_t *mdp_worker_sock (mdp_worker_t *self);

//  Read what is waiting on the socket. Returns a request (the caller must
//  answer it with mdp_worker_send) or NULL when the input was protocol
//  traffic or garbage. Never blocks when called after poll said readable.
envelope_t *mdp_worker_recv (mdp_worker_t *self);

//  Answer the request received last. Takes ownership of *reply_p.
int mdp_worker_send (mdp_worker_t *self, envelope_t **reply_p);

//  Heartbeats and liveness. Call at least every heartbeat interval. Returns
//  milliseconds until the next call is due.
int mdp_worker_tick (mdp_worker_t *self);

//  While a handler holds a request and waits on something slow (a call to
//  another context), keep the broker from expiring this worker: sends a
//  HEARTBEAT when one is due, reads nothing. Does nothing when no request
//  is in hand. Returns milliseconds until it is next due.
int mdp_worker_keepalive (mdp_worker_t *self);

//  Requests answered so far.
uint64_t mdp_worker_served (mdp_worker_t *self);

//  A simple loop: answer requests with handler until the pipe (may be NULL)
//  says $TERM or the process is interrupted. For actors and tests.
typedef envelope_t *(mdp_handler_fn) (envelope_t *request, void *arg);
void mdp_worker_run (mdp_worker_t *self, zsock_t *pipe, mdp_handler_fn *handler, void *arg);

void mdp_worker_test (bool verbose);

#endif
