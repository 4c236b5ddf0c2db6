/*  =========================================================================
    contextcall - one context calling another through the broker

    A context that needs another (order: cart and inventory; sales: product
    and inventory) gives each worker actor its own Majordomo client, with
    the process's own certificate, and calls a verb synchronously with its
    own deadline, not the client's: once a saga holds something in another
    context it must reach a final state even if its client has gone. While
    it waits, the worker keeps beating (contextnode_keepalive), so the
    broker does not take a busy worker for dead.
    =========================================================================
*/
#ifndef COMPTOIR_CONTEXTCALL_H
#define COMPTOIR_CONTEXTCALL_H

#include "envelope.h"
#include "mdp_client.h"
#include "settings.h"

//  The broker client of process name ("order-1"): its certificate under
//  keys/dir (made when missing), the broker's public key there, deadline
//  timeout_ms, heartbeats while it waits. NULL when there are no keys.
mdp_client_t *contextcall_client_new (settings_t *settings, const char *name, int timeout_ms);

//  Call verb of service with body {params, data}: as role and sub, or
//  when role is NULL as the "service" role of consumer. The request id of
//  request (may be NULL) goes along for the logs; retryable (every verb a
//  context calls is safe to repeat). Takes ownership of params and data.
//  Never NULL: a 503 is made here when the call cannot be made.
envelope_t *contextcall (mdp_client_t *client, const envelope_t *request, const char *consumer,
                         const char *service, const char *verb, const char *role, const char *sub,
                         json_t *params, json_t *data, int timeout_ms);

#endif
