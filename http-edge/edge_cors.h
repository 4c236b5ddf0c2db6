/*  =========================================================================
    edge_cors - the edge's CORS policy (which web origins may call the API)

    Browsers ask before a cross-origin request that is not "simple" (a
    JSON body, an X-API-Key or Authorization header: all of ours) with a
    preflight OPTIONS carrying Origin and Access-Control-Request-Method;
    the edge answers it by itself, from the configuration (edge/cors):

        origins         "*" or a list of origins ("https://shop.example.com,
                        https://pos.example.com"); empty: CORS off
        methods         methods a page may use (default GET, POST, PUT, PATCH, DELETE)
        headers         request headers a page may send (default Content-Type,
                        Authorization, X-API-Key, X-Request-ID, Idempotency-Key)
        expose_headers  response headers a page may read (default X-Request-ID,
                        Location, Retry-After, RateLimit-*, X-RateLimit-*)
        credentials     1: Access-Control-Allow-Credentials: true
        max_age         seconds a browser may keep a preflight's answer

    A preflight from an origin not allowed, or asking for a method or a
    header not allowed, is refused with 403 and no CORS header at all: the
    browser then blocks the request, and the refusal is visible in the
    network log rather than looking like a success. Normal answers to an
    allowed origin carry Access-Control-Allow-Origin (the origin itself,
    with Vary: Origin, or "*" when every origin is allowed and credentials
    are off) and the exposed headers; other origins get none.
    =========================================================================
*/
#ifndef COMPTOIR_EDGE_CORS_H
#define COMPTOIR_EDGE_CORS_H

#include "settings.h"

#include <stdbool.h>
#include <stddef.h>

#define EDGE_CORS_ORIGIN_MAX    512     //  characters of an Origin header considered at all
#define EDGE_CORS_ORIGINS_MAX   64      //  origins in the list

typedef enum {
    EDGE_CORS_ALLOWED = 0,
    EDGE_CORS_BAD_ORIGIN,       //  CORS off, or the origin is not in the list
    EDGE_CORS_BAD_METHOD,
    EDGE_CORS_BAD_HEADERS
} edge_cors_check_t;

typedef struct _edge_cors_t edge_cors_t;

//  The policy of edge/cors. Returns NULL on allocation failure or when a
//  setting is invalid (logged): a wrong CORS setting must not start an
//  edge that silently refuses or allows the wrong pages.
edge_cors_t *edge_cors_new (settings_t *settings);

void edge_cors_destroy (edge_cors_t **self_p);

//  True when some origin may call (edge/cors/origins is not empty).
bool edge_cors_enabled (edge_cors_t *self);

//  True when this Origin header value may call.
bool edge_cors_origin_allowed (edge_cors_t *self, const char *origin);

//  Check a preflight: Origin, Access-Control-Request-Method and
//  Access-Control-Request-Headers (may be NULL).
edge_cors_check_t edge_cors_preflight (edge_cors_t *self, const char *origin, const char *method,
                                       const char *request_headers);

//  The value of Access-Control-Allow-Origin for an allowed origin: "*"
//  or the origin itself. Vary: Origin is needed unless it is "*".
const char *edge_cors_allow_origin (edge_cors_t *self, const char *origin);

//  The header values of the configuration (never NULL).
const char *edge_cors_methods (edge_cors_t *self);
const char *edge_cors_headers (edge_cors_t *self);
const char *edge_cors_expose_headers (edge_cors_t *self);
const char *edge_cors_max_age (edge_cors_t *self);
bool edge_cors_credentials (edge_cors_t *self);

void edge_cors_test (bool verbose);

#endif
