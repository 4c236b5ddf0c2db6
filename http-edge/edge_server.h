/*  =========================================================================
    edge_server - the HTTP edge: libmicrohttpd and the broker in one loop

    Two libmicrohttpd daemons (the public API and the loopback admin port)
    run in external-select mode with epoll: their epoll descriptors sit in
    one zmq_poll with the Majordomo client's socket. A request to a context
    is checked, turned into an envelope, sent to the broker, and its
    connection suspended; when the reply comes back (matched by correlation
    id) the connection is resumed and answered. One thread serves every
    connection, with no thread per request and no hop between threads.
    The public catalog reads may be answered from a response cache
    (edge_cache, routes with cache_ttl_ms); the admin /metrics gathers the
    broker's and every context process's metrics (edge_metrics). Tokens
    (edge_jwt), roles (edge_routes), rate limits (edge_ratelimit) and CORS
    (edge_cors) are enforced here, before a request leaves for a context.
    =========================================================================
*/
#ifndef COMPTOIR_EDGE_SERVER_H
#define COMPTOIR_EDGE_SERVER_H

#include "settings.h"

#include <stdbool.h>

typedef struct _edge_server_t edge_server_t;

//  Load the route table and the API keys, connect to the broker and start
//  listening, all as the settings say. Returns NULL (and logs why) when
//  anything is missing: the edge refuses to run half-configured.
edge_server_t *edge_server_new (settings_t *settings);

//  Stop listening; requests still waiting for a context answer 503 first.
void edge_server_destroy (edge_server_t **self_p);

//  Serve until interrupted (SIGINT/SIGTERM, see zsys_interrupted) or until
//  run_ms milliseconds have passed (run_ms < 0: no limit). Returns 0, or -1
//  on a fatal poll error.
int edge_server_run (edge_server_t *self, int run_ms);

//  The ports actually bound (useful when the settings asked for port 0).
int edge_server_port (edge_server_t *self);
int edge_server_admin_port (edge_server_t *self);

void edge_server_test (bool verbose);

#endif
