/*  =========================================================================
    edge_routes - the edge's route table: HTTP (method, path) -> (service, verb)

    The table is data, not code: etc/routes.cfg (ZPL) holds one child per
    route, so adding a route to a new context never touches the edge. A
    pattern is a list of path segments, each either literal or a {name}
    parameter that captures the whole segment. When several patterns fit a
    path, the one with the most literal segments wins, so that
    /products/sku/{sku} beats /products/{id} for /products/sku/AB-1.
    A path that some pattern fits, but not for this method, is told apart
    from a path that no pattern fits: the first answers 405 with Allow.
    =========================================================================
*/
#ifndef COMPTOIR_EDGE_ROUTES_H
#define COMPTOIR_EDGE_ROUTES_H

#include <czmq.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

//  Limits that keep a route table sane (and matching cheap).
#define EDGE_ROUTES_MAX_SEGMENTS  16
#define EDGE_ROUTES_MAX_NAME      64

typedef struct {
    char *method;           //  GET, POST, PUT, PATCH, DELETE
    char *pattern;          //  "/api/v1/products/{id}", also the metrics label
    char *service;          //  Majordomo service, e.g. "product"
    char *verb;             //  envelope verb, e.g. "product.get"
    char *roles;            //  "any", or a comma list such as "manager,admin"
    unsigned role_mask;     //  EDGE_ROLE_* bits of roles (0 for "any")
    bool retryable;         //  safe to resend (GET defaults to true)
    int64_t cache_ttl_ms;   //  edge cache lifetime of a 200 answer, 0 = not cached
    int64_t body_limit;     //  bytes of body accepted, 0 = the edge's edge/body_limit
    bool address_limited;   //  also rate-limited per client address (the auth/* routes)
    char *location;         //  a 201's Location: NULL = <path>/<id>, "" = none,
                            //  else a path where {id} stands for the new id
    size_t segments;        //  number of path segments
    size_t literals;        //  how many of them are literal (specificity)
    char *segment [EDGE_ROUTES_MAX_SEGMENTS];   //  "{id}" kept as "{id}"
} edge_route_t;

//  The roles a token may carry (API.md), as bits of route->role_mask.
#define EDGE_ROLE_CUSTOMER  1u
#define EDGE_ROLE_CASHIER   2u
#define EDGE_ROLE_MANAGER   4u
#define EDGE_ROLE_ADMIN     8u

typedef enum {
    EDGE_MATCH_FOUND = 0,       //  a route for this method and path
    EDGE_MATCH_NO_METHOD = 1,   //  the path fits, not for this method: 405
    EDGE_MATCH_NONE = 2         //  no pattern fits: 404
} edge_match_t;

typedef struct _edge_routes_t edge_routes_t;

//  An empty table.
edge_routes_t *edge_routes_new (void);

//  Load a table from a ZPL file. Returns NULL (and logs why) when the file
//  cannot be read or any route in it is invalid: a half-loaded table would
//  answer 404 for routes that exist.
edge_routes_t *edge_routes_load (const char *path);

void edge_routes_destroy (edge_routes_t **self_p);

//  Add a route. roles NULL means "any"; otherwise a comma list of the
//  roles customer, cashier, manager, admin (a typo must not lock a route
//  or open it). Returns 0, or -1 when a field is invalid or (method,
//  pattern) is already in the table.
int edge_routes_add (edge_routes_t *self, const char *method, const char *pattern,
                     const char *service, const char *verb, bool retryable,
                     const char *roles);

size_t edge_routes_size (edge_routes_t *self);
const edge_route_t *edge_routes_at (edge_routes_t *self, size_t index);

//  Match a request. On EDGE_MATCH_FOUND *route_p is the route and, when
//  params is not NULL, each {name} is set in params to its segment (a JSON
//  string). On EDGE_MATCH_NO_METHOD allow receives the methods the path
//  accepts ("GET, POST"). path must be valid UTF-8 (the caller checks).
edge_match_t edge_routes_match (edge_routes_t *self, const char *method, const char *path,
                                const edge_route_t **route_p, json_t *params,
                                char *allow, size_t allow_size);

//  Let the edge cache the 200 answers of the route (method, pattern) for
//  ttl_ms (0: never). Returns -1 when no such route exists, ttl_ms is
//  negative, or the route may not be cached: only GET routes open to any
//  consumer (roles "any") are, because a cached answer is served to every
//  consumer alike.
int edge_routes_set_cache_ttl (edge_routes_t *self, const char *method, const char *pattern,
                               int64_t ttl_ms);

//  True when the answers of a route may be cached (GET, roles "any", TTL).
bool edge_route_cached (const edge_route_t *route);

//  True when the route may be reached with an API key alone.
bool edge_route_open (const edge_route_t *route);

//  True when a token with this role may use the route (always for "any").
bool edge_route_allows (const edge_route_t *route, const char *role);

//  The EDGE_ROLE_* bit of a role name, 0 for an unknown one.
unsigned edge_role_bit (const char *role);

//  Set a route's per-route options (see edge_route_t): body_limit >= 0,
//  location NULL or a path. Returns -1 when no such route exists or an
//  option is invalid.
int edge_routes_set_options (edge_routes_t *self, const char *method, const char *pattern,
                             int64_t body_limit, bool address_limited, const char *location);

//  The distinct service names of the table, in table order. Caller destroys.
zlistx_t *edge_routes_services (edge_routes_t *self);

void edge_routes_test (bool verbose);

#endif
