/*  =========================================================================
    mdp_client - asynchronous Majordomo client

    One DEALER to the broker, many requests in flight. Each request is an
    envelope with a correlation id; replies are matched by that id, so order
    does not matter. The client keeps a copy of each pending request: when
    its deadline passes the caller gets a 504 reply made here, and a request
    marked retryable is sent again when no answer came within the resend
    interval (the broker, or a new one, may have lost it). Replies for
    requests no longer pending (late, duplicate) are dropped.
    =========================================================================
*/
#ifndef COMPTOIR_MDP_CLIENT_H
#define COMPTOIR_MDP_CLIENT_H

#include "envelope.h"

typedef struct _mdp_client_t mdp_client_t;

//  Connect to the broker. cert and server_public may be NULL for a plain
//  (non-CURVE) connection, which our broker refuses; tests use it to prove it.
mdp_client_t *mdp_client_new (const char *endpoint, zcert_t *cert, const char *server_public);
void mdp_client_destroy (mdp_client_t **self_p);

//  Milliseconds after which a retryable request with no answer is sent again
//  (default 1000; 0 disables resends).
void mdp_client_set_resend (mdp_client_t *self, int resend_ms);

//  Default deadline for requests that carry none (default 5000 ms).
void mdp_client_set_timeout (mdp_client_t *self, int timeout_ms);

//  Send a request to a service. Takes ownership of *request_p. Sets a
//  deadline when it has none. Returns 0, or -1 when it cannot be sent.
int mdp_client_send (mdp_client_t *self, const char *service, envelope_t **request_p);

//  The next reply, or NULL when none is ready (never blocks). Expired
//  requests come back here as 504 upstream_timeout replies.
envelope_t *mdp_client_recv (mdp_client_t *self);

//  Expire deadlines and resend retryables. Call after polling. Returns the
//  milliseconds until it next needs a call (-1 when nothing is pending).
int mdp_client_tick (mdp_client_t *self);

//  While mdp_client_call waits, call waiting (arg) at least as often as it
//  asks: it returns the milliseconds until it wants to be called again. A
//  worker's handler uses it to keep sending heartbeats (contextnode_keepalive).
typedef int (mdp_client_waiting_fn) (void *arg);
void mdp_client_set_waiting (mdp_client_t *self, mdp_client_waiting_fn *waiting, void *arg);

//  Socket to poll for input.
zsock_t *mdp_client_sock (mdp_client_t *self);

//  Number of requests waiting for an answer.
size_t mdp_client_pending (mdp_client_t *self);

//  Synchronous call: send and wait for that request's reply (other replies
//  that arrive meanwhile are kept for mdp_client_recv). Returns the reply
//  (a 504 error when the deadline passes), NULL only on a send failure.
envelope_t *mdp_client_call (mdp_client_t *self, const char *service, envelope_t **request_p);

void mdp_client_test (bool verbose);

#endif
