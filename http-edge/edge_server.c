/*  =========================================================================
    edge_server - the HTTP edge: libmicrohttpd and the broker in one loop

    Why one thread: an edge request spends nearly all of its life waiting
    for a context, so a thread per request would mostly sleep, and a pool
    would add a hand-off between threads (tens of microseconds each on
    these machines) to every request. libmicrohttpd's external-select mode
    with epoll and suspend/resume lets one loop do it all: zmq_poll waits
    on the two epoll descriptors and the broker socket at once; a request
    is suspended while its envelope travels and resumed when the reply
    with its correlation id arrives.

    Each request is checked in the order that costs the least to the edge
    and reveals the least to a stranger: sizes (URL, headers) first, a
    CORS preflight (browsers send it without a key), the API key before
    the route's answer, the rate limits (consumer, and client address on
    the auth routes) before any token (guessing tokens costs requests
    too), the token and the route's roles, the Content-Type and
    Content-Length before any byte of body, the body size while it
    streams, the JSON (syntax, type, depth) before anything leaves for a
    context.

    Tokens are verified here (edge_jwt) with the public keys the customer
    context publishes (auth.jwks through the broker: the edge never holds
    a private key), fetched at start, every jwks_refresh_s, and when a
    token names a kid we do not know; such a request waits for that fetch
    rather than failing, so a rotation logs nobody out. The verified
    identity (sub, role, store_id) rides in the envelope; the contexts
    check ownership again. Rate-limit counters are local (edge_ratelimit):
    one loop makes them exact by construction. Every answer, from here or from a
    context, passes through s_request_answer: one place for the error
    shape, X-Request-ID, the access log line and the metrics.

    The response cache (edge_cache) sits at the last step before a request
    leaves for its context: everything before it (API key, route, query
    checks) and after it (X-Request-ID, log line, metrics) happens for a
    hit as for a miss, so a hit is only a context's answer that did not
    travel. Only GET routes open to any consumer with a cache_ttl_ms in
    routes.cfg are cached, and only their 200 answers. A write through
    this edge drops its service's entries; writes elsewhere (another edge,
    the database) show after at most the TTL.

    The admin /metrics fans out: the broker's view (mmi.status) names one
    "_metrics.<process>" service per context process, each asked in
    parallel with one deadline; what answers in time is merged with the
    edge's and the broker's metrics into one exposition (edge_metrics).
    =========================================================================
*/
#include "edge_server.h"
#include "edge_cache.h"
#include "edge_cors.h"
#include "edge_jwt.h"
#include "edge_keys.h"
#include "edge_metrics.h"
#include "edge_ratelimit.h"
#include "edge_redislimit.h"
#include "edge_reply.h"
#include "edge_routes.h"
#include "edge_supervision.h"

#include "curvekeys.h"
#include "envelope.h"
#include "logline.h"
#include "mdp.h"
#include "mdp_client.h"
#include "metrics.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <signal.h>
#include <sys/wait.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sodium.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

//  Defaults, each overridden by the setting named beside it.
#define EDGE_ADDRESS            "127.0.0.1"     //  edge/address, edge/admin_address
#define EDGE_PORT               8080            //  edge/port
#define EDGE_ADMIN_PORT         8081            //  edge/admin_port
#define EDGE_BODY_LIMIT         1048576         //  edge/body_limit (bytes)
#define EDGE_TIMEOUT_MS         5000            //  edge/timeout_ms
#define EDGE_MAX_CONNECTIONS    1024            //  edge/max_connections
#define EDGE_RETRY_AFTER_S      1               //  edge/retry_after_s
#define EDGE_HEADER_LIMIT       16384           //  edge/header_limit (bytes per connection)
#define EDGE_IDLE_TIMEOUT_S     30              //  edge/idle_timeout_s (keep-alive)
#define EDGE_READY_CACHE_MS     1000            //  edge/ready_cache_ms
#define EDGE_PROBE_TIMEOUT_MS   1000            //  edge/probe_timeout_ms (mmi.* calls)
#define EDGE_BROKER_WAIT_MS     10000           //  edge/broker_wait_ms (broker key at start)
#define EDGE_CACHE              1               //  edge/cache (0: no response cache at all)
#define EDGE_CACHE_MAX_ENTRIES  10000           //  edge/cache_max_entries
#define EDGE_CACHE_MAX_BODY     65536           //  edge/cache_max_body (bytes)
#define EDGE_CACHE_MAX_BYTES    (64 * 1024 * 1024)  //  edge/cache_max_bytes (keys and bodies in all)
#define EDGE_URL_LIMIT          2048            //  edge/url_limit (bytes of path and query: 414)
#define EDGE_HEADER_COUNT_LIMIT 64              //  edge/header_count_limit (headers: 431)
#define EDGE_HEADER_BYTES_LIMIT 8192            //  edge/header_bytes_limit (names and values: 431)
#define EDGE_TOKEN_LEEWAY_S     60              //  edge/token_leeway_s (nbf, iat ahead of our clock)
#define EDGE_JWKS_REFRESH_S     60              //  edge/jwks_refresh_s
#define EDGE_JWKS_RETRY_MS      1000            //  edge/jwks_retry_ms (until the first key set)
#define EDGE_JWKS_MIN_INTERVAL_MS 5000          //  edge/jwks_min_interval_ms (refresh on unknown kid)
#define EDGE_JWKS_SERVICE       "customer"      //  edge/jwks_service
#define EDGE_JWKS_VERB          "auth.jwks"     //  edge/jwks_verb
#define EDGE_AUTH_ISSUER        "comptoir"      //  auth/issuer
#define EDGE_AUTH_AUDIENCE      "comptoir-api"  //  auth/audience
#define EDGE_RATE_SECOND        0               //  edge/rate_limit/second (0: no limit)
#define EDGE_RATE_MINUTE        100             //  edge/rate_limit/minute
#define EDGE_RATE_HOUR          1000            //  edge/rate_limit/hour
#define EDGE_RATE_DAY           10000           //  edge/rate_limit/day
#define EDGE_AUTH_RATE_MINUTE   20              //  edge/auth_rate_limit/minute (per client address)
#define EDGE_RATE_MAX_ADDRESSES 100000          //  edge/rate_limit_max_addresses
#define EDGE_RATE_REDIS         0               //  edge/rate_limit_redis (1: counters shared in Redis)
#define EDGE_RATE_REDIS_TIMEOUT_MS 5            //  edge/rate_limit_redis_timeout_ms (per request, at most)
#define EDGE_RATE_REDIS_CONNECT_MS 50           //  edge/rate_limit_redis_connect_ms
#define EDGE_RATE_REDIS_RETRY_MS 1000           //  edge/rate_limit_redis_retry_ms (after a failure)
#define EDGE_RATE_REDIS_PREFIX  "comptoir:ratelimit"    //  edge/rate_limit_redis_prefix
#define EDGE_REDIS_HOST         "127.0.0.1"     //  redis/host
#define EDGE_REDIS_PORT         6380            //  redis/port
#define EDGE_ROUTES             "etc/routes.cfg"    //  edge/routes
#define EDGE_OPENAPI            "docs/openapi.yaml" //  edge/openapi
#define EDGE_KEYS_DIR           "var/keys"          //  keys/dir
#define EDGE_BROKER_ENDPOINT    "tcp://127.0.0.1:5555"  //  broker/endpoint

//  Fixed by the protocol or by sanity, not by deployment.
#define EDGE_OPENAPI_MAX        (4 * 1024 * 1024)   //  biggest spec file served
#define EDGE_SHUTDOWN_MS        200                 //  time to flush answers on stop
#define EDGE_API_PREFIX         "/api/"
#define METRICS_CONTENT_TYPE    "text/plain; version=0.0.4; charset=utf-8"
#define EDGE_CACHE_SWEEP_MS     1000                //  expired cache entries leave this often
#define EDGE_METRICS_SERVICE    "_metrics."         //  prefix of the contexts' metrics services
#define EDGE_SCRAPE_MAX         256                 //  processes asked per /metrics, at most
#define EDGE_RANDOM_BATCH       4096                //  random bytes drawn at once, for request ids
#define EDGE_RATE_SWEEP_MS      10000               //  idle rate-limit counters leave this often
#define EDGE_WWW_BEARER         "Bearer realm=\"comptoir\""
#define EDGE_WWW_INVALID        "Bearer realm=\"comptoir\", error=\"invalid_token\""
#define EDGE_WWW_EXPIRED        "Bearer realm=\"comptoir\", error=\"invalid_token\", " \
                                "error_description=\"the token has expired\""
#define EDGE_WWW_SCOPE          "Bearer realm=\"comptoir\", error=\"insufficient_scope\""

typedef enum {
    KIND_API,           //  a route of the table, answered by a context
    KIND_READY,         //  GET /ready, answered from the broker's view
    KIND_METRICS,       //  admin GET /metrics
    KIND_SERVICES,      //  admin GET /admin/services
    KIND_LOCAL          //  answered by the edge itself
} request_kind_t;

typedef enum {
    CACHE_NONE,         //  not a cacheable route: no X-Cache
    CACHE_MISS,
    CACHE_HIT
} cache_state_t;

typedef struct _edge_request_t edge_request_t;

//  A /metrics request's fan-out: the parts still awaited and the texts in.
typedef struct {
    zhashx_t *parts;                //  cid -> service asked (mmi.metrics, mmi.status, _metrics.*)
    zhashx_t *texts;                //  process -> its exposition text
    char *broker;                   //  the broker's text, or NULL
    int64_t deadline;               //  zclock_time: every part's deadline
} scrape_t;

//  What a daemon's callbacks get as their closure.
typedef struct {
    edge_server_t *server;
    bool admin;
} listener_t;

struct _edge_server_t {
    settings_t *settings;           //  not owned
    edge_routes_t *routes;
    zlistx_t *services;             //  services named by the routes
    edge_keys_t *keys;
    zcert_t *cert;
    mdp_client_t *client;
    metrics_t *metrics;
    struct MHD_Daemon *daemon;
    struct MHD_Daemon *admin;
    listener_t public_listener;
    listener_t admin_listener;
    int port;
    int admin_port;
    zhashx_t *waiting;              //  cid -> edge_request_t (not owned)
    zlistx_t *ready_waiters;        //  edge_request_t waiting for a probe
    char *ready_cid;                //  the readiness probe in flight, or NULL
    int64_t ready_at;               //  zclock_mono of the last probe's answer
    json_t *ready_missing;          //  what was missing then (array)
    json_t *ready_held;             //  and what the supervisor held down (array)
    size_t resumed;                 //  connections resumed since the last MHD_run
    size_t in_flight;
    edge_cache_t *cache;            //  NULL when edge/cache is 0
    int64_t cache_sweep_at;         //  zclock_mono of the next sweep
    uint64_t cache_reported [EDGE_CACHE_REASONS];   //  removals already in the metrics
    zhashx_t *scrapes;              //  cid -> edge_request_t waiting for a /metrics part
    zhashx_t *leaders;              //  cache key -> the miss in flight for it
    unsigned char random [EDGE_RANDOM_BATCH];       //  for request ids: 16 bytes each
    size_t random_used;
    edge_jwt_t *jwt;                //  the customer context's public keys
    char *jwks_cid;                 //  the key set request in flight, or NULL
    int64_t jwks_next_at;           //  zclock_mono of the next scheduled fetch
    int64_t jwks_asked_at;          //  zclock_mono of the last fetch sent
    zlistx_t *jwks_waiters;         //  requests whose token names a kid being fetched
    uint64_t jwks_fetched;          //  fetches finished (answered or failed) so far
    edge_ratelimit_t *limits;       //  per consumer
    edge_ratelimit_t *address_limits;   //  per client address, on address_limited routes
    edge_redislimit_t *shared_limits;   //  the same in Redis, when edge/rate_limit_redis is 1
    zhashx_t *policies;             //  consumer -> edge_ratelimit_policy_t
    edge_ratelimit_policy_t default_policy;
    edge_ratelimit_policy_t address_policy;
    int64_t rate_sweep_at;
    edge_cors_t *cors;
    zlistx_t *trusted_proxies;      //  addresses whose X-Forwarded-For is believed, or NULL
    //  settings
    char *openapi_path;
    char *supervisor_status;        //  the launcher's <var>/run/children, read for /metrics and /ready
    int64_t url_limit;
    int64_t header_count_limit;
    int64_t header_bytes_limit;
    int64_t jwks_refresh_ms;
    int64_t jwks_retry_ms;
    int64_t jwks_min_interval_ms;
    const char *jwks_service;       //  belong to the settings
    const char *jwks_verb;
    int64_t body_limit;
    int64_t timeout_ms;
    int64_t retry_after_s;
    int64_t ready_cache_ms;
    int64_t probe_timeout_ms;
};

struct _edge_request_t {
    edge_server_t *server;
    struct MHD_Connection *connection;
    request_kind_t kind;
    bool admin;
    int64_t started;                //  zclock_usecs
    const char *method;             //  static: one of the known methods, or "OTHER"
    char *path;
    const char *route_label;        //  for metrics: a pattern, or a fixed name
    char rid [EDGE_RID_MAX + 1];
    const char *consumer;           //  belongs to the key table
    const edge_route_t *route;
    json_t *params;
    bool bad_query;                 //  a query value was not UTF-8
    char *body;
    size_t body_size;
    size_t body_capacity;
    bool too_large;
    bool has_body;                  //  the headers announce a body
    bool deferring;                 //  at headers time, with no body to refuse
    bool dispatched;                //  sent upstream, connection suspended
    char *cid;                      //  in server->waiting while set
    edge_reply_t *reply;            //  the answer, when it came while suspended
    cache_state_t cache_state;
    char *cache_key;                //  a miss to store, or NULL
    uint64_t cache_generation;      //  of the route's service when the miss left
    int64_t cache_age_s;            //  a hit: seconds since it was stored
    zlistx_t *followers;            //  a miss in flight: requests for the same key waiting
    edge_request_t *leader;         //  a follower: the miss it waits for
    void *leader_handle;            //  its place in the leader's followers
    scrape_t *scrape;               //  admin /metrics: its fan-out, or NULL
    size_t body_limit;              //  of this request's route
    char *token;                    //  the bearer token, while its kid is being fetched
    bool kid_pending;               //  its kid is unknown: verify again after a fetch
    uint64_t jwks_seen;             //  server->jwks_fetched when it was found unknown
    bool authenticated;             //  identity holds a verified token's claims
    edge_jwt_identity_t identity;
    bool rated;                     //  rate holds what the headers say
    edge_ratelimit_result_t rate;
    const char *origin;             //  the Origin header, when CORS allows it (the connection's)
    bool preflight;                 //  an allowed CORS preflight: answer its headers
    bool answered;                  //  an answer is decided (queued, or waiting for the end)
};

static const char *s_known_methods [] = { "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", NULL };

//  --------------------------------------------------------------------------
//  libmicrohttpd's own complaints go to our log, as JSON lines.

static void
s_mhd_log (void *cls, const char *fmt, va_list args)
{
    char message [512];
    vsnprintf (message, sizeof message, fmt, args);
    size_t len = strlen (message);
    while (len && message [len - 1] == '\n')
        message [--len] = 0;
    log_warn (NULL, "microhttpd: %s", message);
}

//  --------------------------------------------------------------------------
//  Prometheus label values: escape backslash, quote and newline.

static void
s_label_escape (char *out, size_t size, const char *value)
{
    size_t pos = 0;
    for (const char *c = value; *c && pos + 3 < size; c++) {
        if (*c == '\\' || *c == '"') {
            out [pos++] = '\\';
            out [pos++] = *c;
        }
        else
        if (*c == '\n') {
            out [pos++] = '\\';
            out [pos++] = 'n';
        }
        else
            out [pos++] = *c;
    }
    out [pos] = 0;
}

//  --------------------------------------------------------------------------

static void
s_request_destroy (edge_request_t **self_p)
{
    edge_request_t *self = *self_p;
    if (!self)
        return;
    edge_server_t *server = self->server;
    //  A follower leaves its leader; a leader that leaves with followers
    //  hands them its request in flight, so they are not asked again.
    if (self->leader)
        zlistx_delete (self->leader->followers, self->leader_handle);
    if (self->cache_key && zhashx_lookup (server->leaders, self->cache_key) == self) {
        edge_request_t *heir = self->followers
                             ? (edge_request_t *) zlistx_first (self->followers) : NULL;
        if (heir && self->cid) {
            zlistx_delete (self->followers, heir->leader_handle);
            heir->leader = NULL;
            heir->leader_handle = NULL;
            heir->cid = self->cid;
            self->cid = NULL;
            zhashx_update (server->waiting, heir->cid, heir);
            heir->followers = self->followers;
            self->followers = NULL;
            edge_request_t *follower = (edge_request_t *) zlistx_first (heir->followers);
            while (follower) {
                follower->leader = heir;
                follower = (edge_request_t *) zlistx_next (heir->followers);
            }
            free (heir->cache_key);
            heir->cache_key = self->cache_key;
            self->cache_key = NULL;
            heir->cache_generation = self->cache_generation;
            heir->cache_state = CACHE_MISS;
            zhashx_update (server->leaders, heir->cache_key, heir);
        }
        else
            zhashx_delete (server->leaders, self->cache_key);
    }
    zlistx_destroy (&self->followers);
    if (self->cid) {
        zhashx_delete (server->waiting, self->cid);
        free (self->cid);
    }
    void *handle = zlistx_find (server->ready_waiters, self);
    if (handle)
        zlistx_delete (server->ready_waiters, handle);
    handle = zlistx_find (server->jwks_waiters, self);
    if (handle)
        zlistx_delete (server->jwks_waiters, handle);
    if (self->token) {
        sodium_memzero (self->token, strlen (self->token));
        free (self->token);
    }
    if (self->scrape) {
        //  Parts still out: their late replies find nobody.
        const char *cid = (const char *) zhashx_first (self->scrape->parts);
        while (cid) {
            zhashx_delete (server->scrapes, zhashx_cursor (self->scrape->parts));
            cid = (const char *) zhashx_next (self->scrape->parts);
        }
        zhashx_destroy (&self->scrape->parts);
        zhashx_destroy (&self->scrape->texts);
        free (self->scrape->broker);
        free (self->scrape);
    }
    free (self->cache_key);
    free (self->path);
    free (self->body);
    json_decref (self->params);
    edge_reply_destroy (&self->reply);
    free (self);
    *self_p = NULL;
}

//  --------------------------------------------------------------------------
//  The rate-limit headers: RateLimit-* of the tightest window (IETF
//  draft), X-RateLimit-*-<Window> of each limited window (Kong's names).

static void
s_rate_headers (struct MHD_Response *response, const edge_ratelimit_result_t *rate)
{
    char name [64], value [24];
    int tightest = rate->tightest;
    if (tightest < 0)
        return;
    snprintf (value, sizeof value, "%" PRId64, rate->limit [tightest]);
    MHD_add_response_header (response, "RateLimit-Limit", value);
    snprintf (value, sizeof value, "%" PRId64, rate->remaining [tightest]);
    MHD_add_response_header (response, "RateLimit-Remaining", value);
    snprintf (value, sizeof value, "%" PRId64, rate->reset_s [tightest]);
    MHD_add_response_header (response, "RateLimit-Reset", value);
    for (int window = 0; window < EDGE_RATELIMIT_WINDOWS; window++) {
        if (rate->limit [window] <= 0)
            continue;
        snprintf (name, sizeof name, "X-RateLimit-Limit-%s", edge_ratelimit_window_name (window));
        snprintf (value, sizeof value, "%" PRId64, rate->limit [window]);
        MHD_add_response_header (response, name, value);
        snprintf (name, sizeof name, "X-RateLimit-Remaining-%s", edge_ratelimit_window_name (window));
        snprintf (value, sizeof value, "%" PRId64, rate->remaining [window]);
        MHD_add_response_header (response, name, value);
    }
}

//  --------------------------------------------------------------------------
//  CORS headers: for an allowed origin only; a preflight also gets what
//  it asked about. Vary: Origin whenever the answer depends on it.

static void
s_cors_headers (edge_request_t *self, struct MHD_Response *response)
{
    edge_cors_t *cors = self->server->cors;
    if (!self->origin) {
        if (edge_cors_enabled (cors) && MHD_lookup_connection_value (self->connection,
                                                                     MHD_HEADER_KIND, "Origin"))
            MHD_add_response_header (response, "Vary", "Origin");
        return;
    }
    const char *allow = edge_cors_allow_origin (cors, self->origin);
    MHD_add_response_header (response, "Access-Control-Allow-Origin", allow);
    if (!streq (allow, "*"))
        MHD_add_response_header (response, "Vary", self->preflight
            ? "Origin, Access-Control-Request-Method, Access-Control-Request-Headers" : "Origin");
    if (edge_cors_credentials (cors))
        MHD_add_response_header (response, "Access-Control-Allow-Credentials", "true");
    if (self->preflight) {
        MHD_add_response_header (response, "Access-Control-Allow-Methods", edge_cors_methods (cors));
        MHD_add_response_header (response, "Access-Control-Allow-Headers", edge_cors_headers (cors));
        MHD_add_response_header (response, "Access-Control-Max-Age", edge_cors_max_age (cors));
    }
    else
        MHD_add_response_header (response, "Access-Control-Expose-Headers",
                                 edge_cors_expose_headers (cors));
}

//  --------------------------------------------------------------------------
//  Turn a reply into an HTTP response and queue it: the only place where
//  the edge answers, so every answer has its X-Request-ID, log line and
//  metrics. Takes self->reply.

static enum MHD_Result
s_request_answer (edge_request_t *self)
{
    edge_server_t *server = self->server;
    //  An answer decided when the headers came, for a request without a
    //  body, waits for the end of the request: libmicrohttpd closes the
    //  connection of a request answered before it is complete, and
    //  keep-alive matters more than the microsecond saved.
    self->answered = true;
    if (self->deferring && self->reply)
        return MHD_YES;
    edge_reply_t *reply = self->reply;
    self->reply = NULL;
    if (!reply)
        reply = edge_reply_error (500, "internal_error", "the edge could not build an answer",
                                  self->rid, NULL);
    if (!reply)
        return MHD_NO;

    struct MHD_Response *response;
    if (reply->body) {
        response = MHD_create_response_from_buffer (reply->body_size, reply->body,
                                                    MHD_RESPMEM_MUST_FREE);
        if (response)
            reply->body = NULL;         //  libmicrohttpd frees it now
    }
    else
        response = MHD_create_response_from_buffer (0, NULL, MHD_RESPMEM_PERSISTENT);
    if (!response) {
        edge_reply_destroy (&reply);
        return MHD_NO;
    }
    if (reply->body_size && reply->content_type)
        MHD_add_response_header (response, MHD_HTTP_HEADER_CONTENT_TYPE, reply->content_type);
    MHD_add_response_header (response, "X-Request-ID", self->rid);
    if (reply->location)
        MHD_add_response_header (response, MHD_HTTP_HEADER_LOCATION, reply->location);
    if (reply->replayed)
        MHD_add_response_header (response, "Idempotent-Replayed", "true");
    if (reply->allow)
        MHD_add_response_header (response, MHD_HTTP_HEADER_ALLOW, reply->allow);
    if (reply->www_authenticate)
        MHD_add_response_header (response, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                 reply->www_authenticate);
    if (reply->retry_after) {
        char seconds [24];
        snprintf (seconds, sizeof seconds, "%" PRId64,
                  reply->retry_after_s > 0 ? reply->retry_after_s : server->retry_after_s);
        MHD_add_response_header (response, MHD_HTTP_HEADER_RETRY_AFTER, seconds);
    }
    if (self->rated)
        s_rate_headers (response, &self->rate);
    if (server->cors)
        s_cors_headers (self, response);
    if (self->cache_state == CACHE_HIT) {
        char age [24];
        snprintf (age, sizeof age, "%" PRId64, self->cache_age_s);
        MHD_add_response_header (response, "X-Cache", "HIT");
        MHD_add_response_header (response, MHD_HTTP_HEADER_AGE, age);
    }
    else
    if (self->cache_state == CACHE_MISS)
        MHD_add_response_header (response, "X-Cache", "MISS");
    int status = reply->status;
    enum MHD_Result rc = MHD_queue_response (self->connection, (unsigned int) status, response);
    MHD_destroy_response (response);
    edge_reply_destroy (&reply);

    //  Metrics and the access line.
    double seconds = (double) (zclock_usecs () - self->started) / 1e6;
    char route [300], labels [400];
    s_label_escape (route, sizeof route, self->route_label);
    snprintf (labels, sizeof labels, "route=\"%s\",method=\"%s\",status=\"%d\"",
              route, self->method, status);
    metrics_counter_add (server->metrics, "comptoir_edge_requests_total", labels, 1);
    snprintf (labels, sizeof labels, "route=\"%s\"", route);
    metrics_observe (server->metrics, "comptoir_edge_request_duration_seconds", labels, seconds);
    log_info (self->rid, "access method=%s status=%d duration_ms=%.3f consumer=%s path=%s%s",
              self->method, status, seconds * 1000.0,
              self->consumer ? self->consumer : "-", self->path,
              self->cache_state == CACHE_HIT ? " cache=hit"
            : self->cache_state == CACHE_MISS ? " cache=miss" : "");
    return rc;
}

//  --------------------------------------------------------------------------
//  Answer an error now.

static enum MHD_Result
s_answer_error (edge_request_t *self, int status, const char *code, const char *message)
{
    edge_reply_destroy (&self->reply);
    self->reply = edge_reply_error (status, code, message, self->rid, NULL);
    return s_request_answer (self);
}

//  --------------------------------------------------------------------------
//  Answer 405 with Allow.

static enum MHD_Result
s_answer_not_allowed (edge_request_t *self, const char *allow)
{
    self->reply = edge_reply_error (405, "method_not_allowed",
                                    "this path does not accept this method", self->rid, NULL);
    if (self->reply)
        self->reply->allow = strdup (allow);
    return s_request_answer (self);
}

//  --------------------------------------------------------------------------
//  Answer a JSON value now.

static enum MHD_Result
s_answer_json (edge_request_t *self, int status, json_t *body)
{
    self->reply = edge_reply_json (status, body);
    json_decref (body);
    return s_request_answer (self);
}

//  --------------------------------------------------------------------------
//  A reply is ready for a suspended request: keep it and wake the connection.

static void
s_request_resume (edge_request_t *self, edge_reply_t *reply)
{
    edge_server_t *server = self->server;
    edge_reply_destroy (&self->reply);
    self->reply = reply;
    if (self->cid) {
        zhashx_delete (server->waiting, self->cid);
        zstr_free (&self->cid);
    }
    if (self->dispatched) {
        self->dispatched = false;
        MHD_resume_connection (self->connection);
        server->resumed++;
    }
}

//  --------------------------------------------------------------------------
//  Send an envelope upstream on behalf of a request and suspend it.
//  Returns 0, or -1 when the envelope could not be sent (then the caller
//  answers).

static int
s_request_dispatch (edge_request_t *self, const char *service, envelope_t **envelope_p)
{
    edge_server_t *server = self->server;
    char *cid = strdup ((*envelope_p)->cid);
    if (!cid || mdp_client_send (server->client, service, envelope_p) != 0) {
        free (cid);
        envelope_destroy (envelope_p);
        return -1;
    }
    self->cid = cid;
    zhashx_insert (server->waiting, cid, self);
    self->dispatched = true;
    MHD_suspend_connection (self->connection);
    return 0;
}

//  --------------------------------------------------------------------------
//  A management request to the broker (mmi.status, mmi.metrics) with a
//  short deadline. Returns NULL on allocation failure.

static envelope_t *
s_mmi_request (edge_server_t *self, const char *verb, const char *rid)
{
    envelope_t *request = envelope_new_request (verb);
    if (!request)
        return NULL;
    if (rid)
        envelope_set_str (&request->rid, rid);
    request->deadline = zclock_time () + self->probe_timeout_ms;
    return request;
}

//  --------------------------------------------------------------------------
//  Does the broker's mmi.status view show a worker for this service? The
//  view is read defensively: services as an object keyed by name or as an
//  array of {name}, workers as a count or as a list.

static bool
s_status_has_worker (const json_t *view, const char *service)
{
    const json_t *services = json_object_get (view, "services");
    const json_t *entry = NULL;
    if (json_is_object (services))
        entry = json_object_get (services, service);
    else
    if (json_is_array (services)) {
        size_t index;
        const json_t *item;
        json_array_foreach (services, index, item) {
            const char *name = json_string_value (json_object_get (item, "name"));
            if (!name)
                name = json_string_value (json_object_get (item, "service"));
            if (name && streq (name, service)) {
                entry = item;
                break;
            }
        }
    }
    if (!json_is_object (entry))
        return false;
    const json_t *workers = json_object_get (entry, "workers");
    if (json_is_integer (workers))
        return json_integer_value (workers) > 0;
    if (json_is_array (workers))
        return json_array_size (workers) > 0;
    return false;
}

//  --------------------------------------------------------------------------
//  The /ready answer from the cached view.

static edge_reply_t *
s_ready_reply (edge_server_t *self)
{
    json_t *body;
    int status;
    if (self->ready_missing && json_array_size (self->ready_missing) == 0) {
        status = 200;
        body = json_pack ("{s:s}", "status", "ok");
    }
    else {
        status = 503;
        body = json_pack ("{s:s, s:O}", "status", "unavailable", "missing",
                          self->ready_missing ? self->ready_missing : json_array ());
    }
    //  Processes the supervisor holds down: the context may still serve
    //  through its other instances (200), but the operator is told.
    if (body && json_array_size (self->ready_held) > 0)
        json_object_set (body, "held", self->ready_held);
    edge_reply_t *reply = edge_reply_json (status, body);
    json_decref (body);
    if (reply && status == 503)
        reply->retry_after = true;
    return reply;
}

//  --------------------------------------------------------------------------
//  The readiness probe's answer: what is missing, then wake every waiter.
//  A reply that is not a 200 view means the broker itself is missing.

static void
s_ready_finish (edge_server_t *self, envelope_t *reply)
{
    json_decref (self->ready_missing);
    self->ready_missing = json_array ();
    json_decref (self->ready_held);
    self->ready_held = edge_supervision_held (self->supervisor_status);
    bool broker_ok = reply && reply->status == 200 && json_is_object (reply->body);
    if (!broker_ok)
        json_array_append_new (self->ready_missing, json_string ("broker"));
    const char *service = (const char *) zlistx_first (self->services);
    while (service) {
        if (!broker_ok || !s_status_has_worker (reply->body, service))
            json_array_append_new (self->ready_missing, json_string (service));
        service = (const char *) zlistx_next (self->services);
    }
    self->ready_at = zclock_mono ();
    zstr_free (&self->ready_cid);
    edge_request_t *waiter = (edge_request_t *) zlistx_first (self->ready_waiters);
    while (waiter) {
        s_request_resume (waiter, s_ready_reply (self));
        waiter = (edge_request_t *) zlistx_next (self->ready_waiters);
    }
    zlistx_purge (self->ready_waiters);
}

//  --------------------------------------------------------------------------
//  GET /ready: from the cache when it is fresh, else wait for one probe
//  shared by every request that asks meanwhile.

static enum MHD_Result
s_ready_request (edge_request_t *self)
{
    edge_server_t *server = self->server;
    if (server->ready_missing && zclock_mono () - server->ready_at < server->ready_cache_ms) {
        self->reply = s_ready_reply (server);
        return s_request_answer (self);
    }
    if (!server->ready_cid) {
        envelope_t *probe = s_mmi_request (server, MDP_MMI_STATUS, NULL);
        char *cid = probe ? strdup (probe->cid) : NULL;
        if (!cid || mdp_client_send (server->client, MDP_MMI_STATUS, &probe) != 0) {
            free (cid);
            envelope_destroy (&probe);
            s_ready_finish (server, NULL);
            self->reply = s_ready_reply (server);
            return s_request_answer (self);
        }
        server->ready_cid = cid;
    }
    zlistx_add_end (server->ready_waiters, self);
    self->dispatched = true;
    MHD_suspend_connection (self->connection);
    return MHD_YES;
}

//  --------------------------------------------------------------------------
//  GET /openapi.yaml: the contract, read from disk at each request so that
//  a new version needs no restart.

static enum MHD_Result
s_openapi_request (edge_request_t *self)
{
    const char *path = self->server->openapi_path;
    FILE *file = fopen (path, "rb");
    if (!file)
        return s_answer_error (self, 404, "not_found", "no OpenAPI document is installed");
    char *data = (char *) malloc (EDGE_OPENAPI_MAX);
    size_t size = data ? fread (data, 1, EDGE_OPENAPI_MAX, file) : 0;
    bool ok = data && !ferror (file) && size < EDGE_OPENAPI_MAX;
    fclose (file);
    if (ok)
        self->reply = edge_reply_raw (200, "application/yaml", data, size);
    free (data);
    if (!ok)
        return s_answer_error (self, 500, "internal_error", "the OpenAPI document cannot be read");
    return s_request_answer (self);
}

//  --------------------------------------------------------------------------
//  Admin port, at headers time.

static enum MHD_Result
s_admin_begin (edge_request_t *self)
{
    if (streq (self->path, "/metrics")) {
        self->route_label = "/metrics";
        self->kind = KIND_METRICS;
    }
    else
    if (streq (self->path, "/admin/services")) {
        self->route_label = "/admin/services";
        self->kind = KIND_SERVICES;
    }
    else
        return s_answer_error (self, 404, "not_found", "no such admin route");
    if (!streq (self->method, "GET"))
        return s_answer_not_allowed (self, "GET");
    return MHD_YES;
}

//  --------------------------------------------------------------------------
//  The sizes libmicrohttpd does not bound for us: the URL (path and query),
//  the number of headers and their bytes. Its own pool (edge/header_limit)
//  is the hard stop behind these, answered by libmicrohttpd itself.

typedef struct {
    size_t count;
    size_t bytes;
} s_size_t;

static enum MHD_Result
s_size_value (void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void) kind;
    s_size_t *size = (s_size_t *) cls;
    size->count++;
    size->bytes += (key ? strlen (key) : 0) + (value ? strlen (value) : 0) + 2;
    return MHD_YES;
}

static enum MHD_Result
s_check_sizes (edge_request_t *self)
{
    edge_server_t *server = self->server;
    s_size_t url = { 0, strlen (self->path) };
    MHD_get_connection_values (self->connection, MHD_GET_ARGUMENT_KIND, s_size_value, &url);
    if ((int64_t) url.bytes > server->url_limit)
        return s_answer_error (self, 414, "uri_too_long", "the URL is over the length limit");
    s_size_t headers = { 0, 0 };
    MHD_get_connection_values (self->connection, MHD_HEADER_KIND, s_size_value, &headers);
    if ((int64_t) headers.count > server->header_count_limit)
        return s_answer_error (self, 431, "header_fields_too_large", "too many request headers");
    if ((int64_t) headers.bytes > server->header_bytes_limit)
        return s_answer_error (self, 431, "header_fields_too_large",
                               "the request headers are over the size limit");
    return MHD_YES;
}

//  --------------------------------------------------------------------------
//  A CORS preflight (OPTIONS with Origin and Access-Control-Request-Method):
//  204 with the policy for an allowed origin, method and headers; 403 with
//  no CORS header otherwise.

static enum MHD_Result
s_preflight (edge_request_t *self, const char *origin, const char *method)
{
    edge_server_t *server = self->server;
    self->route_label = "preflight";
    const char *headers = MHD_lookup_connection_value (self->connection, MHD_HEADER_KIND,
                                                       "Access-Control-Request-Headers");
    edge_cors_check_t check = server->cors
                            ? edge_cors_preflight (server->cors, origin, method, headers)
                            : EDGE_CORS_BAD_ORIGIN;
    if (check != EDGE_CORS_ALLOWED) {
        self->origin = NULL;            //  no CORS header at all
        metrics_counter_add (server->metrics, "comptoir_edge_cors_refused_total", NULL, 1);
        return s_answer_error (self, 403, "forbidden",
                               check == EDGE_CORS_BAD_ORIGIN ? "this origin may not call the API"
                             : check == EDGE_CORS_BAD_METHOD ? "this method is not allowed across origins"
                             : "a requested header is not allowed across origins");
    }
    self->preflight = true;
    self->reply = edge_reply_json (204, NULL);
    return s_request_answer (self);
}

//  --------------------------------------------------------------------------
//  The client's address as text (for the per-address limits): the peer
//  of the connection, or, when that peer is one of edge/trusted_proxies
//  (a load balancer in front of the edge), the last address its
//  X-Forwarded-For names. Nobody else's X-Forwarded-For is believed: a
//  client could otherwise pick a new address for each guess.

static void
s_client_address (edge_request_t *self, char *text, size_t size)
{
    snprintf (text, size, "unknown");
    const union MHD_ConnectionInfo *info = MHD_get_connection_info (self->connection,
                                                                    MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *address = info ? info->client_addr : NULL;
    if (address && address->sa_family == AF_INET)
        inet_ntop (AF_INET, &((const struct sockaddr_in *) address)->sin_addr, text, (socklen_t) size);
    else
    if (address && address->sa_family == AF_INET6)
        inet_ntop (AF_INET6, &((const struct sockaddr_in6 *) address)->sin6_addr, text, (socklen_t) size);
    zlistx_t *proxies = self->server->trusted_proxies;
    if (!proxies || !zlistx_find (proxies, text))
        return;
    const char *forwarded = MHD_lookup_connection_value (self->connection, MHD_HEADER_KIND,
                                                         "X-Forwarded-For");
    if (!forwarded)
        return;
    const char *last = strrchr (forwarded, ',');
    last = last ? last + 1 : forwarded;
    while (*last == ' ')
        last++;
    char candidate [INET6_ADDRSTRLEN + 1];
    size_t length = strcspn (last, " ");
    unsigned char binary [sizeof (struct in6_addr)];
    if (length == 0 || length >= sizeof candidate)
        return;
    memcpy (candidate, last, length);
    candidate [length] = 0;
    if (inet_pton (AF_INET, candidate, binary) == 1 || inet_pton (AF_INET6, candidate, binary) == 1)
        snprintf (text, size, "%s", candidate);
}

//  --------------------------------------------------------------------------
//  Count a request against one limit: in Redis when the counters are
//  shared (prefix "c:" consumers, "a:" addresses), else, or when Redis
//  cannot answer in time, here. The local table keeps a copy of the shared
//  counts, so that counting here during an outage starts from them, and
//  what it let through meanwhile is added to Redis when it answers again.
//  Returns 0, or -1 when the local table has no room; *shared tells where
//  it was counted.

static int
s_limit_take (edge_server_t *self, edge_ratelimit_t *local, const char *kind, const char *key,
              const edge_ratelimit_policy_t *policy, int64_t now, edge_ratelimit_result_t *result,
              bool *shared)
{
    *shared = false;
    if (self->shared_limits) {
        char name [400];
        snprintf (name, sizeof name, "%s:%s", kind, key);
        int64_t floor [EDGE_RATELIMIT_WINDOWS], floor_ms [EDGE_RATELIMIT_WINDOWS];
        bool unsynced = edge_ratelimit_unsynced (local, key, now, floor, floor_ms);
        if (edge_redislimit_take (self->shared_limits, name, policy, unsynced ? floor : NULL,
                                  unsynced ? floor_ms : NULL, result) == 0) {
            *shared = true;
            edge_ratelimit_raise (local, key, result, now);     //  a full table only loses the copy
            return 0;
        }
        metrics_counter_add (self->metrics, "comptoir_edge_rate_limit_local_fallbacks_total", NULL, 1);
    }
    return edge_ratelimit_take (local, key, policy, now, result);
}

//  --------------------------------------------------------------------------
//  The rate limits of a request to a route: its consumer's, and its
//  address's on the auth routes. Returns MHD_YES to go on, else the 429
//  is answered. A request is counted by both or by neither.

static enum MHD_Result
s_rate_check (edge_request_t *self)
{
    edge_server_t *server = self->server;
    const edge_ratelimit_policy_t *policy =
        (const edge_ratelimit_policy_t *) zhashx_lookup (server->policies, self->consumer);
    if (!policy)
        policy = &server->default_policy;
    int64_t now = zclock_mono ();
    edge_ratelimit_result_t result;
    bool shared = false, address_shared = false;
    if (s_limit_take (server, server->limits, "c", self->consumer, policy, now, &result, &shared) != 0) {
        log_error (self->rid, "rate limits: no room for consumer %s", self->consumer);
        return s_answer_error (self, 503, "service_unavailable", "the rate limiter is full");
    }
    self->rate = result;
    self->rated = true;
    const char *refused_by = result.allowed ? NULL : "consumer";
    if (result.allowed && self->route->address_limited
    &&  edge_ratelimit_policy_active (&server->address_policy)) {
        char address [INET6_ADDRSTRLEN + 8];
        s_client_address (self, address, sizeof address);
        edge_ratelimit_result_t by_address;
        if (s_limit_take (server, server->address_limits, "a", address, &server->address_policy,
                          now, &by_address, &address_shared) != 0) {
            //  A flood of addresses fills the table: refuse rather than
            //  stop limiting (the table empties as windows close).
            memset (&by_address, 0, sizeof by_address);
            by_address.tightest = -1;
            by_address.retry_after_s = server->retry_after_s;
            log_warn (self->rid, "rate limits: the address table is full, %s refused", address);
        }
        if (!by_address.allowed) {
            if (shared) {
                char name [400];
                snprintf (name, sizeof name, "c:%s", self->consumer);
                edge_redislimit_give_back (server->shared_limits, name, policy);
            }
            edge_ratelimit_give_back (server->limits, self->consumer, now);
            refused_by = "address";
            if (by_address.tightest >= 0)
                self->rate = by_address;
            else
                self->rate.retry_after_s = by_address.retry_after_s;
            self->rate.allowed = false;
        }
        else
        if (by_address.tightest >= 0
        &&  (result.tightest < 0
             || by_address.remaining [by_address.tightest] < result.remaining [result.tightest]))
            self->rate = by_address;    //  the headers tell the limit nearest to refusing
    }
    if (!refused_by)
        return MHD_YES;
    char labels [64];
    snprintf (labels, sizeof labels, "limit=\"%s\"", refused_by);
    metrics_counter_add (server->metrics, "comptoir_edge_rate_limited_total", labels, 1);
    self->reply = edge_reply_error (429, "rate_limited",
                                    streq (refused_by, "consumer")
                                    ? "too many requests for this API key, try again later"
                                    : "too many requests from this address, try again later",
                                    self->rid, NULL);
    if (self->reply)
        self->reply->retry_after_s = self->rate.retry_after_s > 0 ? self->rate.retry_after_s : 1;
    return s_request_answer (self);
}

//  --------------------------------------------------------------------------
//  Answer 401 for a token, with the WWW-Authenticate that says why.

static enum MHD_Result
s_answer_token_refused (edge_request_t *self, edge_jwt_result_t result)
{
    edge_server_t *server = self->server;
    char labels [64];
    snprintf (labels, sizeof labels, "reason=\"%s\"", edge_jwt_reason (result));
    metrics_counter_add (server->metrics, "comptoir_edge_token_failures_total", labels, 1);
    metrics_counter_add (server->metrics, "comptoir_edge_auth_failures_total", NULL, 1);
    log_info (self->rid, "token refused: %s", edge_jwt_reason (result));
    edge_reply_destroy (&self->reply);
    self->reply = edge_reply_error (401, "unauthorized",
                                    result == EDGE_JWT_EXPIRED ? "the token has expired"
                                  : result == EDGE_JWT_NOT_YET_VALID ? "the token is not valid yet"
                                  : "the token is not valid", self->rid, NULL);
    if (self->reply)
        self->reply->www_authenticate = result == EDGE_JWT_EXPIRED ? EDGE_WWW_EXPIRED : EDGE_WWW_INVALID;
    return s_request_answer (self);
}

//  --------------------------------------------------------------------------
//  Ask the customer context for its key set, unless a request is on its
//  way. Returns 0, or -1 when it cannot be sent.

static int
s_jwks_fetch (edge_server_t *self)
{
    if (self->jwks_cid)
        return 0;
    envelope_t *request = envelope_new_request (self->jwks_verb);
    char *cid = request ? strdup (request->cid) : NULL;
    if (!request || !cid) {
        envelope_destroy (&request);
        free (cid);
        return -1;
    }
    request->retryable = true;
    request->deadline = zclock_time () + self->probe_timeout_ms;
    self->jwks_asked_at = zclock_mono ();
    if (mdp_client_send (self->client, self->jwks_service, &request) != 0) {
        envelope_destroy (&request);
        free (cid);
        self->jwks_next_at = zclock_mono () + self->jwks_retry_ms;
        return -1;
    }
    self->jwks_cid = cid;
    return 0;
}

//  --------------------------------------------------------------------------
//  The token of a request, if it carries one. Returns MHD_YES to go on
//  (identity set, or no token, or a kid to fetch first), else the refusal
//  is answered. A token that is present must be valid, on every route:
//  a client must learn that its token is bad.

static enum MHD_Result
s_token_check (edge_request_t *self, const char *token)
{
    edge_server_t *server = self->server;
    edge_jwt_result_t result = edge_jwt_verify (server->jwt, token, (int64_t) time (NULL),
                                                &self->identity);
    if (result == EDGE_JWT_OK) {
        self->authenticated = true;
        return MHD_YES;
    }
    if (result == EDGE_JWT_NO_KEYS) {
        s_jwks_fetch (server);
        edge_reply_destroy (&self->reply);
        self->reply = edge_reply_error (503, "service_unavailable",
                                        "tokens cannot be checked yet (no signing keys known)",
                                        self->rid, NULL);
        return s_request_answer (self);
    }
    //  A kid we do not know may be a key made since the last fetch (a
    //  rotation): fetch again, at once or, when the last fetch is less than
    //  jwks_min_interval_ms old, as soon as that has passed (a stream of
    //  forged kids must not hammer the customer context), and verify once
    //  the key set is in. A new key's first tokens wait, never fail.
    if (result == EDGE_JWT_UNKNOWN_KID && self->identity.kid [0] && !self->kid_pending) {
        int64_t allowed_at = server->jwks_asked_at + server->jwks_min_interval_ms;
        if (!server->jwks_cid && zclock_mono () >= allowed_at)
            s_jwks_fetch (server);
        else
        if (!server->jwks_cid && allowed_at < server->jwks_next_at)
            server->jwks_next_at = allowed_at;
        self->token = strdup (token);
        if (self->token) {
            self->kid_pending = true;
            self->jwks_seen = server->jwks_fetched;
            return MHD_YES;
        }
    }
    return s_answer_token_refused (self, result);
}

//  --------------------------------------------------------------------------
//  The route's roles against the identity: 401 without a token, 403 with
//  a role the route does not allow.

static enum MHD_Result
s_roles_check (edge_request_t *self)
{
    edge_server_t *server = self->server;
    if (edge_route_open (self->route))
        return MHD_YES;
    if (!self->authenticated) {
        metrics_counter_add (server->metrics, "comptoir_edge_auth_failures_total", NULL, 1);
        self->reply = edge_reply_error (401, "unauthorized",
                                        "this route needs a bearer token (Authorization: Bearer ...)",
                                        self->rid, NULL);
        if (self->reply)
            self->reply->www_authenticate = EDGE_WWW_BEARER;
        return s_request_answer (self);
    }
    if (!edge_route_allows (self->route, self->identity.role)) {
        metrics_counter_add (server->metrics, "comptoir_edge_forbidden_total", NULL, 1);
        self->reply = edge_reply_error (403, "forbidden", "this role may not use this route",
                                        self->rid, NULL);
        if (self->reply)
            self->reply->www_authenticate = EDGE_WWW_SCOPE;
        return s_request_answer (self);
    }
    return MHD_YES;
}

//  --------------------------------------------------------------------------
//  The bearer token of the Authorization header: NULL when there is no
//  header, "" when the header is not a bearer token.

static const char *
s_bearer_of (const char *authorization)
{
    if (!authorization)
        return NULL;
    if (strncasecmp (authorization, "Bearer ", 7) != 0)
        return "";
    const char *token = authorization + 7;
    while (*token == ' ')
        token++;
    return token;
}

//  --------------------------------------------------------------------------
//  An Idempotency-Key: 1..255 visible ASCII characters.

static bool
s_idempotency_key_valid (const char *key)
{
    size_t length = strnlen (key, 256);
    if (length == 0 || length > 255)
        return false;
    for (size_t i = 0; i < length; i++)
        if (key [i] < 0x21 || key [i] > 0x7e)
            return false;
    return true;
}

//  --------------------------------------------------------------------------
//  Public port, at headers time: everything that can be refused before a
//  byte of body is read.

static enum MHD_Result
s_public_begin (edge_request_t *self)
{
    edge_server_t *server = self->server;
    struct MHD_Connection *connection = self->connection;
    enum MHD_Result rc = s_check_sizes (self);
    if (rc != MHD_YES || self->answered)
        return rc;

    //  CORS: the origin is remembered when it may call; a preflight is
    //  answered here, before the API key that browsers never send on it.
    const char *origin = MHD_lookup_connection_value (connection, MHD_HEADER_KIND, "Origin");
    if (server->cors && edge_cors_origin_allowed (server->cors, origin))
        self->origin = origin;
    const char *preflight_method = MHD_lookup_connection_value (connection, MHD_HEADER_KIND,
                                                                "Access-Control-Request-Method");
    if (streq (self->method, "OPTIONS") && origin && preflight_method)
        return s_preflight (self, origin, preflight_method);

    //  The operations routes, open to anybody. Load balancers probe
    //  /health and /ready with HEAD: the same answer, which libmicrohttpd
    //  sends without its body.
    if (streq (self->path, "/health") || streq (self->path, "/ready")
    ||  streq (self->path, "/openapi.yaml")) {
        bool probe = !streq (self->path, "/openapi.yaml");
        self->route_label = streq (self->path, "/health") ? "/health"
                          : streq (self->path, "/ready") ? "/ready" : "/openapi.yaml";
        if (!streq (self->method, "GET") && !(probe && streq (self->method, "HEAD")))
            return s_answer_not_allowed (self, probe ? "GET, HEAD" : "GET");
        if (streq (self->path, "/health"))
            return s_answer_json (self, 200, json_pack ("{s:s}", "status", "ok"));
        if (streq (self->path, "/openapi.yaml"))
            return s_openapi_request (self);
        self->kind = KIND_READY;
        return MHD_YES;
    }

    //  Routes of the table. Match first (cheap, and it names the metrics
    //  series), but answer a missing key before telling whether the route
    //  exists.
    char allow [64];
    self->params = json_object ();
    if (!self->params)
        return MHD_NO;
    edge_match_t match = edge_routes_match (server->routes, self->method, self->path,
                                            &self->route, self->params, allow, sizeof allow);
    if (match == EDGE_MATCH_FOUND)
        self->route_label = self->route->pattern;
    if (strncmp (self->path, EDGE_API_PREFIX, strlen (EDGE_API_PREFIX)) == 0) {
        const char *key = MHD_lookup_connection_value (connection, MHD_HEADER_KIND, "X-API-Key");
        self->consumer = edge_keys_lookup (server->keys, key);
        if (!self->consumer) {
            metrics_counter_add (server->metrics, "comptoir_edge_auth_failures_total", NULL, 1);
            return s_answer_error (self, 401, "unauthorized",
                                   key ? "the API key is not valid" : "an X-API-Key header is required");
        }
    }
    if (match == EDGE_MATCH_NONE)
        return s_answer_error (self, 404, "not_found", "no route for this path");
    if (match == EDGE_MATCH_NO_METHOD)
        return s_answer_not_allowed (self, allow);

    //  Limits before tokens: guessing tokens costs requests too.
    rc = self->consumer ? s_rate_check (self) : MHD_YES;
    if (rc != MHD_YES || self->answered)
        return rc;

    //  A token, when one is sent, then the route's roles.
    const char *token = s_bearer_of (MHD_lookup_connection_value (connection, MHD_HEADER_KIND,
                                                                  MHD_HTTP_HEADER_AUTHORIZATION));
    rc = token ? s_token_check (self, token) : MHD_YES;
    if (rc != MHD_YES || self->answered)
        return rc;
    rc = self->kid_pending ? MHD_YES : s_roles_check (self);
    if (rc != MHD_YES || self->answered)
        return rc;

    //  An Idempotency-Key travels to the context, which keeps the answers
    //  (API.md: checkout, sales, returns, transfers); it must fit the envelope.
    const char *idempotency = MHD_lookup_connection_value (connection, MHD_HEADER_KIND,
                                                           "Idempotency-Key");
    if (idempotency && !s_idempotency_key_valid (idempotency))
        return s_answer_error (self, 400, "validation_failed",
                               "Idempotency-Key must be 1 to 255 visible ASCII characters");

    //  A body must be JSON, and not bigger than the limit it announces.
    self->body_limit = (size_t) (self->route->body_limit > 0 ? self->route->body_limit
                                                             : server->body_limit);
    const char *length = MHD_lookup_connection_value (connection, MHD_HEADER_KIND,
                                                      MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (length) {
        errno = 0;
        char *end = NULL;
        unsigned long long announced = strtoull (length, &end, 10);
        if (errno || end == length)
            return s_answer_error (self, 400, "validation_failed", "invalid Content-Length");
        if (announced > (unsigned long long) self->body_limit)
            return s_answer_error (self, 413, "payload_too_large", "the body is over the size limit");
    }
    if (self->has_body) {
        const char *type = MHD_lookup_connection_value (connection, MHD_HEADER_KIND,
                                                        MHD_HTTP_HEADER_CONTENT_TYPE);
        if (!edge_content_type_is_json (type))
            return s_answer_error (self, 415, "unsupported_media_type",
                                   "the body must be application/json");
    }
    self->kind = KIND_API;
    return MHD_YES;
}

//  --------------------------------------------------------------------------
//  A body chunk: kept for routes of the table, counted against the limit
//  (a chunked body announces no length), dropped otherwise.

static void
s_request_take_body (edge_request_t *self, const char *data, size_t size)
{
    if (self->kind != KIND_API || self->too_large)
        return;
    size_t limit = self->body_limit;
    if (size > limit || self->body_size > limit - size) {
        self->too_large = true;
        zstr_free (&self->body);
        self->body_size = self->body_capacity = 0;
        return;
    }
    if (self->body_size + size > self->body_capacity) {
        size_t capacity = self->body_capacity ? self->body_capacity : 4096;
        while (capacity < self->body_size + size)
            capacity *= 2;
        if (capacity > limit)
            capacity = limit;
        char *grown = (char *) realloc (self->body, capacity);
        if (!grown) {
            self->too_large = true;         //  cannot hold it: treat as too big
            zstr_free (&self->body);
            self->body_size = self->body_capacity = 0;
            return;
        }
        self->body = grown;
        self->body_capacity = capacity;
    }
    memcpy (self->body + self->body_size, data, size);
    self->body_size += size;
}

//  --------------------------------------------------------------------------
//  Query arguments join the params; path params were set first and win.

static enum MHD_Result
s_query_argument (void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    edge_request_t *self = (edge_request_t *) cls;
    if (!key || json_object_get (self->params, key))
        return MHD_YES;
    json_t *string = json_string (value ? value : "");
    if (!string || json_object_set_new (self->params, key, string) != 0) {
        self->bad_query = true;     //  not UTF-8
        return MHD_NO;
    }
    return MHD_YES;
}

//  --------------------------------------------------------------------------
//  A cache key being built: on the stack while it is short, which every
//  catalog read is, so that a hit allocates nothing for its key.

typedef struct {
    char *data;
    size_t size;
    size_t capacity;
    bool failed;
    char small [512];
} cache_key_t;

static void
s_key_append (cache_key_t *key, const char *text, size_t len)
{
    if (key->failed)
        return;
    if (key->size + len + 1 > key->capacity) {
        size_t capacity = key->capacity * 2;
        while (capacity < key->size + len + 1)
            capacity *= 2;
        char *grown = (char *) malloc (capacity);
        if (!grown) {
            key->failed = true;
            return;
        }
        memcpy (grown, key->data, key->size);
        if (key->data != key->small)
            free (key->data);
        key->data = grown;
        key->capacity = capacity;
    }
    memcpy (key->data + key->size, text, len);
    key->size += len;
    key->data [key->size] = 0;
}

//  Append a query name or value with the characters that separate them
//  escaped, so that no two different queries give the same key.
static void
s_key_append_escaped (cache_key_t *key, const char *text)
{
    const char *start = text;
    for (const char *c = text; *c; c++) {
        const char *escape = *c == '%' ? "%25" : *c == '&' ? "%26" : *c == '=' ? "%3D"
                           : *c == '\n' ? "%0A" : NULL;
        if (escape) {
            s_key_append (key, start, (size_t) (c - start));
            s_key_append (key, escape, 3);
            start = c + 1;
        }
    }
    s_key_append (key, start, strlen (start));
}

static enum MHD_Result
s_key_argument (void *cls, enum MHD_ValueKind kind, const char *name, const char *value)
{
    (void) kind;
    cache_key_t *key = (cache_key_t *) cls;
    s_key_append (key, "&", 1);
    s_key_append_escaped (key, name ? name : "");
    if (value) {                    //  ?a and ?a= are told apart
        s_key_append (key, "=", 1);
        s_key_append_escaped (key, value);
    }
    return MHD_YES;
}

//  The key of a request to a cached route: the route's method and pattern
//  (so that no key can stand for two routes), the path, and the query
//  arguments in the order they came. Returns key->data, or NULL.

static const char *
s_cache_key (edge_request_t *self, cache_key_t *key)
{
    key->data = key->small;
    key->size = 0;
    key->capacity = sizeof key->small;
    key->failed = false;
    key->small [0] = 0;
    s_key_append (key, self->route->method, strlen (self->route->method));
    s_key_append (key, " ", 1);
    s_key_append (key, self->route->pattern, strlen (self->route->pattern));
    s_key_append (key, "\n", 1);
    s_key_append (key, self->path, strlen (self->path));
    s_key_append (key, "\n", 1);
    MHD_get_connection_values (self->connection, MHD_GET_ARGUMENT_KIND, s_key_argument, key);
    return key->failed ? NULL : key->data;
}

static void
s_cache_key_free (cache_key_t *key)
{
    if (key->data != key->small)
        free (key->data);
    key->data = NULL;
}

//  --------------------------------------------------------------------------
//  A per-route counter, e.g. cache hits.

static void
s_route_count (edge_server_t *server, const char *name, const char *route_label)
{
    char route [300], labels [320];
    s_label_escape (route, sizeof route, route_label);
    snprintf (labels, sizeof labels, "route=\"%s\"", route);
    metrics_counter_add (server->metrics, name, labels, 1);
}

//  --------------------------------------------------------------------------
//  A request to a cached route: answer it from the cache when the answer
//  is there, or wait for the same read in flight (returns true: the
//  request is answered or parked), else remember its key so that the
//  answer is stored when it comes (returns false: send it).

static bool
s_cache_answer (edge_request_t *self)
{
    edge_server_t *server = self->server;
    self->cache_state = CACHE_MISS;
    if (self->body_size > 0 || self->has_body)
        return false;               //  a GET with a body is not a plain read
    cache_key_t key;
    const char *text = s_cache_key (self, &key);
    if (!text)
        return false;
    int64_t now = zclock_mono ();
    const edge_cache_entry_t *entry = edge_cache_lookup (server->cache, text, now);
    if (entry) {
        self->reply = edge_reply_raw (200, entry->content_type, entry->body, entry->body_size);
        if (self->reply) {
            self->cache_state = CACHE_HIT;
            self->cache_age_s = (now - entry->stored_at) / 1000;
            s_route_count (server, "comptoir_edge_cache_hits_total", self->route_label);
            s_cache_key_free (&key);
            return true;
        }
    }
    //  The same read already on its way: wait for its answer instead of
    //  sending another. Without this, every connection asking for a hot
    //  entry when it expires goes to the database at the same moment.
    edge_request_t *leader = (edge_request_t *) zhashx_lookup (server->leaders, text);
    if (leader) {
        if (!leader->followers)
            leader->followers = zlistx_new ();
        self->leader_handle = leader->followers
                            ? zlistx_add_end (leader->followers, self) : NULL;
        if (self->leader_handle) {
            self->leader = leader;
            self->dispatched = true;
            MHD_suspend_connection (self->connection);
            s_route_count (server, "comptoir_edge_cache_coalesced_total", self->route_label);
            s_cache_key_free (&key);
            return true;
        }
    }
    s_route_count (server, "comptoir_edge_cache_misses_total", self->route_label);
    self->cache_key = strdup (text);
    self->cache_generation = edge_cache_generation (server->cache, self->route->service);
    if (self->cache_key && !leader)
        zhashx_insert (server->leaders, self->cache_key, self);
    s_cache_key_free (&key);
    return false;
}

//  --------------------------------------------------------------------------
//  A write to a service through this edge: its cached reads are no
//  longer true. Called when the write leaves and again when it is
//  answered (reads that ran meanwhile may have seen the state before it).

static void
s_cache_invalidate (edge_server_t *self, const edge_route_t *route)
{
    if (self->cache && route && !streq (route->method, "GET"))
        edge_cache_invalidate (self->cache, route->service);
}

//  --------------------------------------------------------------------------
//  The whole request is in: check the body and send it to its context.

static enum MHD_Result
s_api_complete (edge_request_t *self)
{
    edge_server_t *server = self->server;
    json_t *data = NULL;
    if (self->body_size > 0) {
        json_error_t error;
        data = json_loadb (self->body, self->body_size, 0, &error);
        if (!data) {
            char message [200];
            snprintf (message, sizeof message, "malformed JSON at line %d, column %d: %s",
                      error.line, error.column, error.text);
            return s_answer_error (self, 400, "invalid_json", message);
        }
        if (!json_is_object (data)) {
            json_decref (data);
            return s_answer_error (self, 400, "invalid_json", "the body must be a JSON object");
        }
        if (!edge_json_depth_ok (data, EDGE_JSON_MAX_DEPTH)) {
            json_decref (data);
            return s_answer_error (self, 400, "invalid_json", "the body nests too deep");
        }
        zstr_free (&self->body);
        self->body_size = self->body_capacity = 0;
    }
    MHD_get_connection_values (self->connection, MHD_GET_ARGUMENT_KIND, s_query_argument, self);
    if (self->bad_query) {
        json_decref (data);
        return s_answer_error (self, 400, "validation_failed", "a query value is not valid UTF-8");
    }
    if (server->cache && edge_route_cached (self->route) && s_cache_answer (self)) {
        json_decref (data);
        return self->leader ? MHD_YES : s_request_answer (self);
    }

    envelope_t *envelope = envelope_new_request (self->route->verb);
    json_t *body = json_pack ("{s:O}", "params", self->params);
    if (!envelope || !body) {
        envelope_destroy (&envelope);
        json_decref (body);
        json_decref (data);
        return MHD_NO;
    }
    if (data)
        json_object_set_new (body, "data", data);
    envelope->body = body;
    envelope_set_str (&envelope->rid, self->rid);
    if (self->consumer)
        envelope_set_str (&envelope->consumer, self->consumer);
    const char *idempotency = MHD_lookup_connection_value (self->connection, MHD_HEADER_KIND,
                                                           "Idempotency-Key");
    if (idempotency)
        envelope_set_str (&envelope->idem_key, idempotency);
    if (self->authenticated) {
        envelope_set_str (&envelope->sub, self->identity.sub);
        envelope_set_str (&envelope->role, self->identity.role);
        envelope->store_id = self->identity.store_id;
    }
    envelope->retryable = self->route->retryable;
    envelope->deadline = zclock_time () + server->timeout_ms;
    s_cache_invalidate (server, self->route);
    if (s_request_dispatch (self, self->route->service, &envelope) != 0)
        return s_answer_error (self, 503, "service_unavailable",
                               "the request could not be sent to its service");
    return MHD_YES;
}

//  --------------------------------------------------------------------------
//  The cache's own numbers into the metrics: done at scrape time, so that
//  a request pays nothing for them.

static void
s_cache_metrics (edge_server_t *self)
{
    if (!self->cache)
        return;
    metrics_gauge_set (self->metrics, "comptoir_edge_cache_entries", NULL,
                       (double) edge_cache_size (self->cache));
    metrics_gauge_set (self->metrics, "comptoir_edge_cache_bytes", NULL,
                       (double) edge_cache_bytes (self->cache));
    static const char *reasons [EDGE_CACHE_REASONS] = {
        "reason=\"capacity\"", "reason=\"expired\"", "reason=\"invalidated\""
    };
    for (int reason = 0; reason < EDGE_CACHE_REASONS; reason++) {
        uint64_t removed = edge_cache_removed (self->cache, (edge_cache_reason_t) reason);
        metrics_counter_add (self->metrics, "comptoir_edge_cache_evictions_total", reasons [reason],
                             (double) (removed - self->cache_reported [reason]));
        self->cache_reported [reason] = removed;
    }
}

//  --------------------------------------------------------------------------
//  A part of a /metrics scrape that did not come: counted by process.

static void
s_scrape_error (edge_server_t *self, const char *process)
{
    char escaped [300], labels [320];
    s_label_escape (escaped, sizeof escaped, process);
    snprintf (labels, sizeof labels, "process=\"%s\"", escaped);
    metrics_counter_add (self->metrics, "comptoir_edge_metrics_scrape_errors_total", labels, 1);
}

//  --------------------------------------------------------------------------
//  Ask one part of a scrape. Returns 0, or -1 when it cannot be sent.

static int
s_scrape_send (edge_request_t *self, const char *service)
{
    edge_server_t *server = self->server;
    envelope_t *request = envelope_new_request (service);
    char *cid = request ? strdup (request->cid) : NULL;
    char *name = strdup (service);
    if (!request || !cid || !name) {
        envelope_destroy (&request);
        free (cid);
        free (name);
        return -1;
    }
    envelope_set_str (&request->rid, self->rid);
    request->deadline = self->scrape->deadline;
    if (mdp_client_send (server->client, service, &request) != 0) {
        envelope_destroy (&request);
        free (cid);
        free (name);
        return -1;
    }
    zhashx_insert (self->scrape->parts, cid, name);
    zhashx_insert (server->scrapes, cid, self);
    free (cid);
    return 0;
}

//  --------------------------------------------------------------------------
//  Every part is in (or out of time): the merged exposition, the edge's
//  own first, then the broker's, then the processes' by name.

static edge_reply_t *
s_scrape_reply (edge_request_t *self)
{
    edge_server_t *server = self->server;
    scrape_t *scrape = self->scrape;
    s_cache_metrics (server);
    edge_metrics_t *merged = edge_metrics_new ();
    char *text = metrics_render (server->metrics, NULL);
    if (merged && text)
        edge_metrics_add (merged, text, strlen (text));
    free (text);
    if (merged && scrape->broker)
        edge_metrics_add (merged, scrape->broker, strlen (scrape->broker));
    else
    if (merged) {
        const char *note = "# the broker's metrics are unavailable\n";
        edge_metrics_add (merged, note, strlen (note));
    }
    zlistx_t *processes = zhashx_keys (scrape->texts);
    if (merged && processes) {
        zlistx_set_comparator (processes, (czmq_comparator *) strcmp);
        zlistx_sort (processes);
        const char *process = (const char *) zlistx_first (processes);
        while (process) {
            const char *part = (const char *) zhashx_lookup (scrape->texts, process);
            edge_metrics_add (merged, part, strlen (part));
            process = (const char *) zlistx_next (processes);
        }
    }
    zlistx_destroy (&processes);
    char *supervision = edge_supervision_metrics (server->supervisor_status);
    if (merged && supervision)
        edge_metrics_add (merged, supervision, strlen (supervision));
    free (supervision);
    char *all = merged ? edge_metrics_render (merged) : NULL;
    edge_metrics_destroy (&merged);
    edge_reply_t *reply = all ? edge_reply_raw (200, METRICS_CONTENT_TYPE, all, strlen (all)) : NULL;
    free (all);
    return reply;
}

//  --------------------------------------------------------------------------
//  Admin GET /metrics: ask the broker for its metrics and its view at
//  once; the view names the processes to ask next.

static enum MHD_Result
s_scrape_start (edge_request_t *self)
{
    edge_server_t *server = self->server;
    self->scrape = (scrape_t *) zmalloc (sizeof (scrape_t));
    self->scrape->parts = zhashx_new ();
    self->scrape->texts = zhashx_new ();
    if (!self->scrape->parts || !self->scrape->texts)
        return MHD_NO;
    zhashx_set_destructor (self->scrape->parts, (zhashx_destructor_fn *) zstr_free);
    zhashx_set_destructor (self->scrape->texts, (zhashx_destructor_fn *) zstr_free);
    self->scrape->deadline = zclock_time () + server->probe_timeout_ms;
    bool asked = s_scrape_send (self, MDP_MMI_METRICS) == 0;
    asked = (s_scrape_send (self, MDP_MMI_STATUS) == 0) || asked;
    if (!asked) {
        s_scrape_error (server, "broker");
        self->reply = s_scrape_reply (self);
        return s_request_answer (self);
    }
    self->dispatched = true;
    MHD_suspend_connection (self->connection);
    return MHD_YES;
}

//  --------------------------------------------------------------------------
//  The broker's view came for a scrape: ask every metrics service that
//  has a worker; one without is a process that is gone (an error).

static void
s_scrape_processes (edge_request_t *self, const envelope_t *reply)
{
    edge_server_t *server = self->server;
    const json_t *services = reply->status == 200
                           ? json_object_get (reply->body, "services") : NULL;
    size_t index, asked = 0;
    const json_t *item;
    size_t prefix = strlen (EDGE_METRICS_SERVICE);
    json_array_foreach (services, index, item) {
        const char *name = json_string_value (json_object_get (item, "name"));
        if (!name || strncmp (name, EDGE_METRICS_SERVICE, prefix) != 0 || !name [prefix])
            continue;
        if (asked == EDGE_SCRAPE_MAX) {
            s_scrape_error (server, name + prefix);
            continue;
        }
        const json_t *workers = json_object_get (item, "workers");
        if (!json_is_integer (workers) || json_integer_value (workers) <= 0
        ||  s_scrape_send (self, name) != 0)
            s_scrape_error (server, name + prefix);
        else
            asked++;
    }
}

//  --------------------------------------------------------------------------
//  A part of a scrape came back.

static void
s_scrape_part (edge_server_t *self, edge_request_t *request, const envelope_t *reply)
{
    scrape_t *scrape = request->scrape;
    zhashx_delete (self->scrapes, reply->cid);
    const char *service = (const char *) zhashx_lookup (scrape->parts, reply->cid);
    if (!service)
        return;
    const char *text = reply->status == 200
                     ? json_string_value (json_object_get (reply->body, "text")) : NULL;
    if (streq (service, MDP_MMI_STATUS)) {
        if (reply->status == 200)
            s_scrape_processes (request, reply);
        else
            s_scrape_error (self, "broker");
    }
    else
    if (streq (service, MDP_MMI_METRICS)) {
        if (text) {
            free (scrape->broker);
            scrape->broker = strdup (text);
        }
        else
            s_scrape_error (self, "broker");
    }
    else {
        const char *process = service + strlen (EDGE_METRICS_SERVICE);
        if (text)
            zhashx_update (scrape->texts, process, strdup (text));
        else {
            if (reply->status == 504)
                log_warn (request->rid, "metrics of %s did not come in time", process);
            s_scrape_error (self, process);
        }
    }
    zhashx_delete (scrape->parts, reply->cid);
    if (zhashx_size (scrape->parts) == 0)
        s_request_resume (request, s_scrape_reply (request));
}

//  --------------------------------------------------------------------------
//  The admin view of the services, without the metrics services: they are
//  not contexts, only a way to reach each process.

static void
s_hide_metrics_services (json_t *view)
{
    size_t prefix = strlen (EDGE_METRICS_SERVICE);
    const char *fields [] = { "services", "name", "workers", "service", NULL };
    for (const char **field = fields; *field; field += 2) {
        json_t *list = json_object_get (view, field [0]);
        if (!json_is_array (list))
            continue;
        for (size_t index = json_array_size (list); index > 0; index--) {
            const char *name = json_string_value (json_object_get (json_array_get (list, index - 1),
                                                                   field [1]));
            if (name && strncmp (name, EDGE_METRICS_SERVICE, prefix) == 0)
                json_array_remove (list, index - 1);
        }
    }
}

//  --------------------------------------------------------------------------
//  Verify again a token whose kid was unknown, now that a key set came
//  (or did not): the roles next. Returns true when the request may go on,
//  false when its answer (401, 403) is in self->reply.

static bool
s_token_again (edge_request_t *self)
{
    self->kid_pending = false;
    char *token = self->token;
    self->token = NULL;
    edge_jwt_result_t result = edge_jwt_verify (self->server->jwt, token, (int64_t) time (NULL),
                                                &self->identity);
    sodium_memzero (token, strlen (token));
    free (token);
    bool deferring = self->deferring;
    self->deferring = true;             //  keep the answer in self->reply
    if (result == EDGE_JWT_OK)
        self->authenticated = true;
    else
        s_answer_token_refused (self, result);
    if (!self->reply)
        s_roles_check (self);
    self->deferring = deferring;
    return self->reply == NULL;
}

//  --------------------------------------------------------------------------
//  The request is complete and its token names a kid being fetched: wait
//  for the key set (suspended), or verify at once when it came already.

static enum MHD_Result
s_jwks_wait (edge_request_t *self)
{
    edge_server_t *server = self->server;
    if (server->jwks_fetched == self->jwks_seen && zlistx_add_end (server->jwks_waiters, self)) {
        self->dispatched = true;
        MHD_suspend_connection (self->connection);
        return MHD_YES;
    }
    if (!s_token_again (self))
        return s_request_answer (self);
    return s_api_complete (self);
}

//  --------------------------------------------------------------------------
//  A key set came (reply 200), or the fetch failed: keep the keys, plan
//  the next fetch, and let the waiting requests go on or be refused.

static void
s_jwks_finish (edge_server_t *self, const envelope_t *reply)
{
    zstr_free (&self->jwks_cid);
    self->jwks_fetched++;
    int64_t now = zclock_mono ();
    size_t before = edge_jwt_size (self->jwt);
    int loaded = reply && reply->status == 200 ? edge_jwt_load_jwks (self->jwt, reply->body) : -1;
    if (loaded > 0) {
        self->jwks_next_at = now + self->jwks_refresh_ms;
        metrics_counter_add (self->metrics, "comptoir_edge_jwks_fetches_total", "result=\"ok\"", 1);
        if (before == 0 || (size_t) loaded != before)
            log_info (NULL, "jwks: %d signing keys known (from %s)", loaded, self->jwks_service);
    }
    else {
        //  Keep the keys we have; ask again soon while we have none.
        self->jwks_next_at = now + (before ? self->jwks_retry_ms * 5 : self->jwks_retry_ms);
        metrics_counter_add (self->metrics, "comptoir_edge_jwks_fetches_total", "result=\"failed\"", 1);
        log_warn (NULL, "jwks: the key set could not be fetched from %s (status %d)",
                  self->jwks_service, reply ? reply->status : 0);
    }
    metrics_gauge_set (self->metrics, "comptoir_edge_jwks_keys", NULL,
                       (double) edge_jwt_size (self->jwt));
    edge_request_t *waiter = (edge_request_t *) zlistx_first (self->jwks_waiters);
    while (waiter) {
        s_token_again (waiter);
        //  Woken either way: with its answer, or to go on to its context
        //  (s_access finds no reply and completes it).
        if (waiter->reply) {
            edge_reply_t *answer = waiter->reply;
            waiter->reply = NULL;
            s_request_resume (waiter, answer);
        }
        else {
            waiter->dispatched = false;
            MHD_resume_connection (waiter->connection);
            self->resumed++;
        }
        waiter = (edge_request_t *) zlistx_next (self->jwks_waiters);
    }
    zlistx_purge (self->jwks_waiters);
}

//  --------------------------------------------------------------------------
//  The whole request is in, for the other kinds.

static enum MHD_Result
s_request_complete (edge_request_t *self)
{
    edge_server_t *server = self->server;
    if (self->too_large)
        return s_answer_error (self, 413, "payload_too_large", "the body is over the size limit");
    switch (self->kind) {
        case KIND_API:
            if (self->kid_pending)
                return s_jwks_wait (self);
            return s_api_complete (self);
        case KIND_READY:
            return s_ready_request (self);
        case KIND_METRICS:
            return s_scrape_start (self);
        case KIND_SERVICES: {
            envelope_t *request = s_mmi_request (server, MDP_MMI_STATUS, self->rid);
            if (request && s_request_dispatch (self, MDP_MMI_STATUS, &request) == 0)
                return MHD_YES;
            return s_answer_error (self, 503, "service_unavailable", "the broker cannot be reached");
        }
        default:
            return s_answer_error (self, 500, "internal_error", "unexpected request state");
    }
}

//  --------------------------------------------------------------------------
//  A new request id, from random bytes drawn a batch at a time.

static void
s_request_id_new (edge_server_t *self, char rid [EDGE_RID_MAX + 1])
{
    if (self->random_used + 16 > sizeof self->random) {
        randombytes_buf (self->random, sizeof self->random);
        self->random_used = 0;
    }
    edge_rid_from_bytes (rid, self->random + self->random_used);
    sodium_memzero (self->random + self->random_used, 16);
    self->random_used += 16;
}

//  --------------------------------------------------------------------------
//  libmicrohttpd's access handler: called at headers, for each body chunk,
//  at the end, and again after a resume.

static enum MHD_Result
s_access (void *cls, struct MHD_Connection *connection, const char *url, const char *method,
          const char *version, const char *upload_data, size_t *upload_data_size,
          void **con_cls)
{
    listener_t *listener = (listener_t *) cls;
    edge_server_t *server = listener->server;
    edge_request_t *self = (edge_request_t *) *con_cls;

    if (!self) {
        self = (edge_request_t *) zmalloc (sizeof (edge_request_t));
        self->server = server;
        self->connection = connection;
        self->admin = listener->admin;
        self->kind = KIND_LOCAL;
        self->started = zclock_usecs ();
        self->route_label = "unmatched";
        self->method = "OTHER";
        for (const char **m = s_known_methods; *m; m++)
            if (streq (*m, method))
                self->method = *m;
        self->path = strdup (url ? url : "");
        if (!self->path) {
            free (self);
            return MHD_NO;
        }
        *con_cls = self;
        server->in_flight++;
        metrics_gauge_set (server->metrics, "comptoir_edge_in_flight", NULL,
                           (double) server->in_flight);
        const char *rid = MHD_lookup_connection_value (connection, MHD_HEADER_KIND, "X-Request-ID");
        if (edge_rid_valid (rid))
            snprintf (self->rid, sizeof self->rid, "%s", rid);
        else
            s_request_id_new (server, self->rid);
        const char *length = MHD_lookup_connection_value (connection, MHD_HEADER_KIND,
                                                          MHD_HTTP_HEADER_CONTENT_LENGTH);
        self->has_body = MHD_lookup_connection_value (connection, MHD_HEADER_KIND,
                                                      MHD_HTTP_HEADER_TRANSFER_ENCODING)
                      || (length && strspn (length, "0") != strlen (length));
        self->deferring = !self->has_body;
        enum MHD_Result rc;
        //  Everything after this check may copy the path into JSON.
        json_t *check = json_string (self->path);
        if (!check)
            rc = s_answer_error (self, 400, "validation_failed", "the path is not valid UTF-8");
        else
            rc = self->admin ? s_admin_begin (self) : s_public_begin (self);
        json_decref (check);
        self->deferring = false;
        return rc;
    }
    if (*upload_data_size > 0) {
        s_request_take_body (self, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (self->reply)
        return s_request_answer (self);         //  resumed with its answer
    if (self->dispatched)
        return MHD_YES;                         //  woken without one: keep waiting
    return s_request_complete (self);
}

//  --------------------------------------------------------------------------
//  A request is over (answered, or its connection died): free its state.

static void
s_completed (void *cls, struct MHD_Connection *connection, void **con_cls,
             enum MHD_RequestTerminationCode toe)
{
    listener_t *listener = (listener_t *) cls;
    edge_server_t *server = listener->server;
    edge_request_t *self = (edge_request_t *) *con_cls;
    if (!self)
        return;
    if (server->in_flight)
        server->in_flight--;
    metrics_gauge_set (server->metrics, "comptoir_edge_in_flight", NULL, (double) server->in_flight);
    if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
        log_debug (self->rid, "request ended early (%d)", (int) toe);
    s_request_destroy (&self);
    *con_cls = NULL;
}

//  --------------------------------------------------------------------------
//  A reply from the broker: find who waits for it and wake them.

static void
s_handle_reply (edge_server_t *self, envelope_t *reply)
{
    if (self->ready_cid && reply->cid && streq (reply->cid, self->ready_cid)) {
        s_ready_finish (self, reply);
        return;
    }
    if (self->jwks_cid && reply->cid && streq (reply->cid, self->jwks_cid)) {
        s_jwks_finish (self, reply);
        return;
    }
    edge_request_t *request = reply->cid
        ? (edge_request_t *) zhashx_lookup (self->scrapes, reply->cid) : NULL;
    if (request) {
        s_scrape_part (self, request, reply);
        return;
    }
    request = reply->cid ? (edge_request_t *) zhashx_lookup (self->waiting, reply->cid) : NULL;
    if (!request) {
        log_debug (reply->rid, "reply for no waiting request (cid %s)", reply->cid ? reply->cid : "");
        return;
    }
    edge_reply_t *answer = NULL;
    if (request->kind == KIND_API) {
        if (reply->status == 504)
            s_route_count (self, "comptoir_edge_upstream_timeouts_total", request->route_label);
        answer = edge_reply_from_envelope_at (reply, request->rid, request->path,
                                              request->route->location);
        //  A write that succeeded, or whose outcome is unknown (5xx, a
        //  timeout), may have changed what the cache holds.
        if (reply->status < 300 || reply->status >= 500)
            s_cache_invalidate (self, request->route);
        if (request->cache_key && answer && answer->status == 200 && answer->body)
            edge_cache_store (self->cache, request->cache_key, request->route->service,
                              request->cache_generation, request->route->cache_ttl_ms,
                              answer->content_type, answer->body, answer->body_size,
                              zclock_mono ());
        if (request->cache_key && zhashx_lookup (self->leaders, request->cache_key) == request)
            zhashx_delete (self->leaders, request->cache_key);
        //  The requests that waited for this read get its answer, each
        //  with its own request id (an error body names it).
        edge_request_t *follower = request->followers
                                 ? (edge_request_t *) zlistx_first (request->followers) : NULL;
        while (follower) {
            follower->leader = NULL;
            follower->leader_handle = NULL;
            follower->cache_state = reply->status == 200 ? CACHE_HIT : CACHE_MISS;
            follower->cache_age_s = 0;
            s_request_resume (follower, edge_reply_from_envelope (reply, follower->rid,
                                                                  follower->path));
            follower = (edge_request_t *) zlistx_next (request->followers);
        }
        zlistx_destroy (&request->followers);
    }
    else
    if (request->kind == KIND_SERVICES) {
        if (reply->status == 200 && json_is_object (reply->body)) {
            s_hide_metrics_services (reply->body);
            answer = edge_reply_json (200, reply->body);
        }
        else
            answer = edge_reply_from_envelope (reply, request->rid, request->path);
    }
    s_request_resume (request, answer);
}

//  --------------------------------------------------------------------------
//  Start one daemon. Returns NULL (and logs) on failure.

static struct MHD_Daemon *
s_daemon_start (edge_server_t *self, listener_t *listener, const char *address, int64_t port,
                int *bound_port)
{
    settings_t *settings = self->settings;
    struct sockaddr_in6 sin6;
    struct sockaddr_in sin4;
    struct sockaddr *sockaddr;
    unsigned int flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (port < 0 || port > 65535) {
        log_error (NULL, "invalid port %" PRId64, port);
        return NULL;
    }
    memset (&sin4, 0, sizeof sin4);
    memset (&sin6, 0, sizeof sin6);
    if (inet_pton (AF_INET, address, &sin4.sin_addr) == 1) {
        sin4.sin_family = AF_INET;
        sin4.sin_port = htons ((uint16_t) port);
        sockaddr = (struct sockaddr *) &sin4;
    }
    else
    if (inet_pton (AF_INET6, address, &sin6.sin6_addr) == 1) {
        sin6.sin6_family = AF_INET6;
        sin6.sin6_port = htons ((uint16_t) port);
        sockaddr = (struct sockaddr *) &sin6;
        flags |= MHD_USE_IPv6;
    }
    else {
        log_error (NULL, "invalid listen address %s (a numeric IPv4 or IPv6 address)", address);
        return NULL;
    }
    int64_t header_limit = settings_get_int (settings, "edge/header_limit", EDGE_HEADER_LIMIT);
    int64_t max_connections = settings_get_int (settings, "edge/max_connections", EDGE_MAX_CONNECTIONS);
    int64_t idle_timeout = settings_get_int (settings, "edge/idle_timeout_s", EDGE_IDLE_TIMEOUT_S);
    if (header_limit < 4096)
        header_limit = 4096;            //  below this no real client gets through
    if (max_connections < 1)
        max_connections = 1;
    struct MHD_Daemon *daemon = MHD_start_daemon (flags, (uint16_t) port, NULL, NULL,
        s_access, listener,
        MHD_OPTION_EXTERNAL_LOGGER, s_mhd_log, NULL,
        MHD_OPTION_SOCK_ADDR, sockaddr,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) header_limit,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int) max_connections,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) (idle_timeout > 0 ? idle_timeout : 0),
        MHD_OPTION_NOTIFY_COMPLETED, s_completed, listener,
        MHD_OPTION_END);
    if (!daemon) {
        log_error (NULL, "cannot listen on %s:%" PRId64, address, port);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info (daemon, MHD_DAEMON_INFO_BIND_PORT);
    *bound_port = info ? (int) info->port : (int) port;
    return daemon;
}

//  --------------------------------------------------------------------------
//  A rate-limit policy from path/{second,minute,hour,day}, each defaulting
//  to the same window of base. Returns 0, or -1 when a value is negative.

static int
s_policy_read (settings_t *settings, const char *path, const edge_ratelimit_policy_t *base,
               edge_ratelimit_policy_t *policy)
{
    for (int window = 0; window < EDGE_RATELIMIT_WINDOWS; window++) {
        char key [300];
        snprintf (key, sizeof key, "%s/%s", path, edge_ratelimit_window_setting (window));
        policy->limit [window] = settings_get_int (settings, key, base->limit [window]);
        if (policy->limit [window] < 0) {
            log_error (NULL, "%s must be 0 (no limit) or a number of requests", key);
            return -1;
        }
    }
    return 0;
}

//  The policies: edge/rate_limit for every consumer, edge/consumers/<name>/
//  rate_limit for one, edge/auth_rate_limit per client address.
static int
s_policies_load (edge_server_t *self)
{
    edge_ratelimit_policy_t builtin = { { EDGE_RATE_SECOND, EDGE_RATE_MINUTE, EDGE_RATE_HOUR,
                                          EDGE_RATE_DAY } };
    edge_ratelimit_policy_t builtin_address = { { 0, EDGE_AUTH_RATE_MINUTE, 0, 0 } };
    if (s_policy_read (self->settings, "edge/rate_limit", &builtin, &self->default_policy)
    ||  s_policy_read (self->settings, "edge/auth_rate_limit", &builtin_address,
                       &self->address_policy))
        return -1;
    zhashx_set_destructor (self->policies, (zhashx_destructor_fn *) zstr_free);
    zconfig_t *consumers = settings_locate (self->settings, "edge/consumers");
    for (zconfig_t *child = consumers ? zconfig_child (consumers) : NULL;
         child; child = zconfig_next (child)) {
        char path [300];
        snprintf (path, sizeof path, "edge/consumers/%s/rate_limit", zconfig_name (child));
        edge_ratelimit_policy_t *policy = (edge_ratelimit_policy_t *) zmalloc (sizeof *policy);
        if (s_policy_read (self->settings, path, &self->default_policy, policy)) {
            free (policy);
            return -1;
        }
        zhashx_update (self->policies, zconfig_name (child), policy);
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Create the edge.

edge_server_t *
edge_server_new (settings_t *settings)
{
    assert (settings);
    if (sodium_init () < 0)
        return NULL;
    edge_server_t *self = (edge_server_t *) zmalloc (sizeof (edge_server_t));
    self->settings = settings;
    self->random_used = sizeof self->random;    //  drawn at the first request
    self->body_limit = settings_get_int (settings, "edge/body_limit", EDGE_BODY_LIMIT);
    self->timeout_ms = settings_get_int (settings, "edge/timeout_ms", EDGE_TIMEOUT_MS);
    self->retry_after_s = settings_get_int (settings, "edge/retry_after_s", EDGE_RETRY_AFTER_S);
    self->ready_cache_ms = settings_get_int (settings, "edge/ready_cache_ms", EDGE_READY_CACHE_MS);
    self->probe_timeout_ms = settings_get_int (settings, "edge/probe_timeout_ms", EDGE_PROBE_TIMEOUT_MS);
    self->openapi_path = strdup (settings_get (settings, "edge/openapi", EDGE_OPENAPI));
    const char *status = settings_get (settings, "edge/supervisor_status", "");
    self->supervisor_status = *status ? strdup (status)
                            : zsys_sprintf ("%s/run/children", settings_get (settings, "comptoir/var", "var"));
    self->url_limit = settings_get_int (settings, "edge/url_limit", EDGE_URL_LIMIT);
    self->header_count_limit = settings_get_int (settings, "edge/header_count_limit",
                                                 EDGE_HEADER_COUNT_LIMIT);
    self->header_bytes_limit = settings_get_int (settings, "edge/header_bytes_limit",
                                                 EDGE_HEADER_BYTES_LIMIT);
    self->jwks_refresh_ms = 1000 * settings_get_int (settings, "edge/jwks_refresh_s", EDGE_JWKS_REFRESH_S);
    self->jwks_retry_ms = settings_get_int (settings, "edge/jwks_retry_ms", EDGE_JWKS_RETRY_MS);
    self->jwks_min_interval_ms = settings_get_int (settings, "edge/jwks_min_interval_ms",
                                                   EDGE_JWKS_MIN_INTERVAL_MS);
    self->jwks_service = settings_get (settings, "edge/jwks_service", EDGE_JWKS_SERVICE);
    self->jwks_verb = settings_get (settings, "edge/jwks_verb", EDGE_JWKS_VERB);
    if (self->body_limit < 0)
        self->body_limit = 0;
    if (self->jwks_refresh_ms < 1000)
        self->jwks_refresh_ms = 1000;
    if (self->jwks_retry_ms < 100)
        self->jwks_retry_ms = 100;
    if (self->jwks_min_interval_ms < 0)
        self->jwks_min_interval_ms = 0;
    if (self->timeout_ms < 1)
        self->timeout_ms = EDGE_TIMEOUT_MS;
    self->waiting = zhashx_new ();
    self->scrapes = zhashx_new ();
    self->leaders = zhashx_new ();
    self->ready_waiters = zlistx_new ();
    self->jwks_waiters = zlistx_new ();
    self->policies = zhashx_new ();
    self->limits = edge_ratelimit_new (SIZE_MAX);
    int64_t max_addresses = settings_get_int (settings, "edge/rate_limit_max_addresses",
                                              EDGE_RATE_MAX_ADDRESSES);
    self->address_limits = edge_ratelimit_new (max_addresses > 0 ? (size_t) max_addresses : 1);
    int64_t leeway = settings_get_int (settings, "edge/token_leeway_s", EDGE_TOKEN_LEEWAY_S);
    self->jwt = edge_jwt_new (settings_get (settings, "auth/issuer", EDGE_AUTH_ISSUER),
                              settings_get (settings, "auth/audience", EDGE_AUTH_AUDIENCE),
                              leeway >= 0 && leeway <= 3600 ? leeway : EDGE_TOKEN_LEEWAY_S);
    self->cors = edge_cors_new (settings);
    const char *proxies = settings_get (settings, "edge/trusted_proxies", "");
    if (*proxies) {
        self->trusted_proxies = zlistx_new ();
        zlistx_set_duplicator (self->trusted_proxies, (czmq_duplicator *) strdup);
        zlistx_set_destructor (self->trusted_proxies, (czmq_destructor *) zstr_free);
        zlistx_set_comparator (self->trusted_proxies, (czmq_comparator *) strcmp);
        char *copy = strdup (proxies);
        for (char *save = NULL, *item = copy ? strtok_r (copy, ", ", &save) : NULL; item;
             item = strtok_r (NULL, ", ", &save))
            zlistx_add_end (self->trusted_proxies, item);
        free (copy);
    }
    self->metrics = metrics_new ();
    self->keys = edge_keys_new ();
    self->public_listener.server = self;
    self->admin_listener.server = self;
    self->admin_listener.admin = true;
    if (!self->openapi_path || !self->waiting || !self->scrapes || !self->leaders
    ||  !self->ready_waiters || !self->jwks_waiters || !self->policies || !self->limits
    ||  !self->address_limits || !self->jwt || !self->cors
    ||  !self->metrics || !self->keys) {
        edge_server_destroy (&self);
        return NULL;
    }

    //  The route table and the keys: refuse to start without them.
    const char *routes_path = settings_get (settings, "edge/routes", EDGE_ROUTES);
    self->routes = edge_routes_load (routes_path);
    self->services = self->routes ? edge_routes_services (self->routes) : NULL;
    if (!self->routes || !self->services) {
        edge_server_destroy (&self);
        return NULL;
    }
    int consumers = edge_keys_load (self->keys, settings);
    if (consumers < 0) {
        edge_server_destroy (&self);
        return NULL;
    }
    if (consumers == 0)
        log_warn (NULL, "no API consumer is configured (edge/consumers): every /api route answers 401");
    if (s_policies_load (self) != 0) {
        edge_server_destroy (&self);
        return NULL;
    }
    if (settings_get_int (settings, "edge/rate_limit_redis", EDGE_RATE_REDIS) == 1) {
        const char *host = settings_get (settings, "redis/host", EDGE_REDIS_HOST);
        int64_t port = settings_get_int (settings, "redis/port", EDGE_REDIS_PORT);
        int64_t timeout = settings_get_int (settings, "edge/rate_limit_redis_timeout_ms",
                                            EDGE_RATE_REDIS_TIMEOUT_MS);
        int64_t connect = settings_get_int (settings, "edge/rate_limit_redis_connect_ms",
                                            EDGE_RATE_REDIS_CONNECT_MS);
        int64_t retry = settings_get_int (settings, "edge/rate_limit_redis_retry_ms",
                                          EDGE_RATE_REDIS_RETRY_MS);
        self->shared_limits = edge_redislimit_new (host, (int) port,
            settings_get (settings, "edge/rate_limit_redis_prefix", EDGE_RATE_REDIS_PREFIX),
            connect > 0 && connect <= 1000 ? (int) connect : EDGE_RATE_REDIS_CONNECT_MS,
            timeout > 0 && timeout <= 1000 ? (int) timeout : EDGE_RATE_REDIS_TIMEOUT_MS,
            retry >= 0 && retry <= 60000 ? (int) retry : EDGE_RATE_REDIS_RETRY_MS);
        if (!self->shared_limits) {
            log_error (NULL, "edge/rate_limit_redis: redis/host and redis/port are not usable");
            edge_server_destroy (&self);
            return NULL;
        }
        log_info (NULL, "rate limits shared in Redis at %s:%" PRId64 " (local counting while it is away)",
                  host, port);
    }

    metrics_declare (self->metrics, "comptoir_edge_requests_total", "counter",
                     "HTTP requests answered by the edge, by route, method and status");
    metrics_declare (self->metrics, "comptoir_edge_request_duration_seconds", "histogram",
                     "Time from request headers to answer, by route");
    metrics_declare (self->metrics, "comptoir_edge_auth_failures_total", "counter",
                     "Requests refused for a missing or bad credential");
    metrics_declare (self->metrics, "comptoir_edge_in_flight", "gauge",
                     "Requests received and not yet answered");
    metrics_declare (self->metrics, "comptoir_edge_upstream_timeouts_total", "counter",
                     "Requests whose context did not answer before the deadline, by route");
    metrics_declare (self->metrics, "comptoir_edge_metrics_scrape_errors_total", "counter",
                     "Parts of an admin /metrics scrape that did not come in time, by process");
    metrics_declare (self->metrics, "comptoir_edge_token_failures_total", "counter",
                     "Bearer tokens refused, by reason (expired, bad_signature, bad_alg...)");
    metrics_declare (self->metrics, "comptoir_edge_forbidden_total", "counter",
                     "Requests with a valid token whose role the route does not allow");
    metrics_declare (self->metrics, "comptoir_edge_rate_limited_total", "counter",
                     "Requests refused by a rate limit, by limit (consumer, address)");
    metrics_declare (self->metrics, "comptoir_edge_rate_limit_local_fallbacks_total", "counter",
                     "Requests counted by this edge alone because Redis did not answer in time");
    metrics_declare (self->metrics, "comptoir_edge_cors_refused_total", "counter",
                     "CORS preflights refused (origin, method or header not allowed)");
    metrics_declare (self->metrics, "comptoir_edge_jwks_fetches_total", "counter",
                     "Fetches of the customer context's key set, by result");
    metrics_declare (self->metrics, "comptoir_edge_jwks_keys", "gauge",
                     "Token signing keys the edge knows");
    metrics_gauge_set (self->metrics, "comptoir_edge_in_flight", NULL, 0);
    metrics_gauge_set (self->metrics, "comptoir_edge_jwks_keys", NULL, 0);
    metrics_counter_add (self->metrics, "comptoir_edge_auth_failures_total", NULL, 0);
    metrics_counter_add (self->metrics, "comptoir_edge_rate_limited_total", "limit=\"consumer\"", 0);
    metrics_counter_add (self->metrics, "comptoir_edge_rate_limit_local_fallbacks_total", NULL, 0);

    //  The response cache, unless it is switched off; a cache_ttl_ms in
    //  the route table means nothing then.
    if (settings_get_int (settings, "edge/cache", EDGE_CACHE)) {
        int64_t max_entries = settings_get_int (settings, "edge/cache_max_entries",
                                                EDGE_CACHE_MAX_ENTRIES);
        int64_t max_body = settings_get_int (settings, "edge/cache_max_body", EDGE_CACHE_MAX_BODY);
        int64_t max_bytes = settings_get_int (settings, "edge/cache_max_bytes", EDGE_CACHE_MAX_BYTES);
        self->cache = edge_cache_new (max_entries > 0 ? (size_t) max_entries : 0,
                                      max_body > 0 ? (size_t) max_body : 0,
                                      max_bytes > 0 ? (size_t) max_bytes : 0);
        if (!self->cache) {
            edge_server_destroy (&self);
            return NULL;
        }
        self->cache_sweep_at = zclock_mono () + EDGE_CACHE_SWEEP_MS;
        metrics_declare (self->metrics, "comptoir_edge_cache_hits_total", "counter",
                         "Requests answered from the edge's response cache, by route");
        metrics_declare (self->metrics, "comptoir_edge_cache_misses_total", "counter",
                         "Requests to a cached route that went to their context, by route");
        metrics_declare (self->metrics, "comptoir_edge_cache_coalesced_total", "counter",
                         "Requests that missed while the same read was in flight, and waited "
                         "for its answer, by route");
        metrics_declare (self->metrics, "comptoir_edge_cache_entries", "gauge",
                         "Answers held in the edge's response cache");
        metrics_declare (self->metrics, "comptoir_edge_cache_bytes", "gauge",
                         "Bytes of keys and bodies held in the edge's response cache");
        metrics_declare (self->metrics, "comptoir_edge_cache_evictions_total", "counter",
                         "Answers that left the cache, by reason (capacity, expired, invalidated)");
        s_cache_metrics (self);
    }

    //  The broker: our certificate, and its public key (the broker may be
    //  starting at the same time as we are, so wait a little for its key).
    const char *keys_dir = settings_get (settings, "keys/dir", EDGE_KEYS_DIR);
    self->cert = curvekeys_ensure (keys_dir, "edge", true);
    if (!self->cert) {
        edge_server_destroy (&self);
        return NULL;
    }
    char *broker_cert = zsys_sprintf ("%s/broker", keys_dir);
    char *broker_public = NULL;
    int64_t wait_until = zclock_mono ()
                       + settings_get_int (settings, "edge/broker_wait_ms", EDGE_BROKER_WAIT_MS);
    while (broker_cert && !(broker_public = curvekeys_public_of (broker_cert))
           && zclock_mono () < wait_until && !zsys_interrupted)
        zclock_sleep (100);
    if (!broker_public) {
        log_error (NULL, "cannot read the broker's public key %s", broker_cert ? broker_cert : "?");
        zstr_free (&broker_cert);
        edge_server_destroy (&self);
        return NULL;
    }
    zstr_free (&broker_cert);
    const char *endpoint = settings_get (settings, "broker/endpoint", EDGE_BROKER_ENDPOINT);
    self->client = mdp_client_new (endpoint, self->cert, broker_public);
    zstr_free (&broker_public);
    if (!self->client) {
        edge_server_destroy (&self);
        return NULL;
    }
    mdp_client_set_timeout (self->client, (int) self->timeout_ms);
    //  The key set: asked for at once, then every jwks_refresh_s.
    self->jwks_next_at = zclock_mono ();
    self->jwks_asked_at = zclock_mono () - self->jwks_min_interval_ms;
    self->rate_sweep_at = zclock_mono () + EDGE_RATE_SWEEP_MS;

    //  The two daemons.
    self->daemon = s_daemon_start (self, &self->public_listener,
                                   settings_get (settings, "edge/address", EDGE_ADDRESS),
                                   settings_get_int (settings, "edge/port", EDGE_PORT), &self->port);
    if (self->daemon)
        self->admin = s_daemon_start (self, &self->admin_listener,
                                      settings_get (settings, "edge/admin_address", EDGE_ADDRESS),
                                      settings_get_int (settings, "edge/admin_port", EDGE_ADMIN_PORT),
                                      &self->admin_port);
    if (!self->daemon || !self->admin) {
        edge_server_destroy (&self);
        return NULL;
    }
    size_t cached = 0;
    for (size_t i = 0; i < edge_routes_size (self->routes); i++)
        cached += edge_route_cached (edge_routes_at (self->routes, i));
    log_info (NULL, "edge listening on %s:%d (admin %s:%d), broker %s, %zu routes, %d consumers, "
              "cache %s (%zu routes)",
              settings_get (settings, "edge/address", EDGE_ADDRESS), self->port,
              settings_get (settings, "edge/admin_address", EDGE_ADDRESS), self->admin_port,
              endpoint, edge_routes_size (self->routes), consumers,
              self->cache ? "on" : "off", self->cache ? cached : 0);
    return self;
}

//  --------------------------------------------------------------------------
//  Run both daemons once.

static void
s_run_daemons (edge_server_t *self)
{
    self->resumed = 0;
    MHD_run (self->daemon);
    MHD_run (self->admin);
}

//  --------------------------------------------------------------------------
//  Destroy the edge.

void
edge_server_destroy (edge_server_t **self_p)
{
    assert (self_p);
    edge_server_t *self = *self_p;
    if (!self)
        return;
    //  A suspended connection cannot be stopped: answer 503 to everything
    //  still waiting, and give the answers a moment to leave.
    if (self->daemon && self->admin) {
        zlistx_t *waiting = zhashx_values (self->waiting);
        edge_request_t *request = waiting ? (edge_request_t *) zlistx_first (waiting) : NULL;
        while (request) {
            s_request_resume (request, edge_reply_error (503, "service_unavailable",
                                                         "the edge is shutting down", request->rid, NULL));
            request = (edge_request_t *) zlistx_next (waiting);
        }
        zlistx_destroy (&waiting);
        //  Followers wait for no cid of their own: their leaders were just
        //  answered 503 above, so answer them the same.
        waiting = zhashx_values (self->leaders);
        request = waiting ? (edge_request_t *) zlistx_first (waiting) : NULL;
        while (request) {
            edge_request_t *follower = request->followers
                                     ? (edge_request_t *) zlistx_first (request->followers) : NULL;
            while (follower) {
                follower->leader = NULL;
                s_request_resume (follower, edge_reply_error (503, "service_unavailable",
                                                              "the edge is shutting down",
                                                              follower->rid, NULL));
                follower = (edge_request_t *) zlistx_next (request->followers);
            }
            if (request->followers)
                zlistx_purge (request->followers);
            request = (edge_request_t *) zlistx_next (waiting);
        }
        zlistx_destroy (&waiting);
        waiting = zhashx_values (self->scrapes);
        request = waiting ? (edge_request_t *) zlistx_first (waiting) : NULL;
        while (request) {
            if (request->dispatched)
                s_request_resume (request, edge_reply_error (503, "service_unavailable",
                                                             "the edge is shutting down",
                                                             request->rid, NULL));
            request = (edge_request_t *) zlistx_next (waiting);
        }
        zlistx_destroy (&waiting);
        request = (edge_request_t *) zlistx_first (self->jwks_waiters);
        while (request) {
            s_request_resume (request, edge_reply_error (503, "service_unavailable",
                                                         "the edge is shutting down",
                                                         request->rid, NULL));
            request = (edge_request_t *) zlistx_next (self->jwks_waiters);
        }
        zlistx_purge (self->jwks_waiters);
        zstr_free (&self->ready_cid);
        json_decref (self->ready_missing);
        self->ready_missing = json_pack ("[s]", "edge");
        request = (edge_request_t *) zlistx_first (self->ready_waiters);
        while (request) {
            s_request_resume (request, s_ready_reply (self));
            request = (edge_request_t *) zlistx_next (self->ready_waiters);
        }
        zlistx_purge (self->ready_waiters);
        int64_t until = zclock_mono () + EDGE_SHUTDOWN_MS;
        do
            s_run_daemons (self);
        while (self->in_flight > 0 && zclock_mono () < until && (zclock_sleep (5), true));
    }
    if (self->daemon)
        MHD_stop_daemon (self->daemon);
    if (self->admin)
        MHD_stop_daemon (self->admin);
    mdp_client_destroy (&self->client);
    zcert_destroy (&self->cert);
    edge_routes_destroy (&self->routes);
    zlistx_destroy (&self->services);
    edge_keys_destroy (&self->keys);
    metrics_destroy (&self->metrics);
    zhashx_destroy (&self->waiting);
    zhashx_destroy (&self->scrapes);
    zhashx_destroy (&self->leaders);
    edge_cache_destroy (&self->cache);
    zlistx_destroy (&self->ready_waiters);
    zlistx_destroy (&self->jwks_waiters);
    free (self->jwks_cid);
    edge_jwt_destroy (&self->jwt);
    edge_ratelimit_destroy (&self->limits);
    edge_ratelimit_destroy (&self->address_limits);
    edge_redislimit_destroy (&self->shared_limits);
    zhashx_destroy (&self->policies);
    edge_cors_destroy (&self->cors);
    zlistx_destroy (&self->trusted_proxies);
    json_decref (self->ready_held);
    json_decref (self->ready_missing);
    free (self->ready_cid);
    free (self->openapi_path);
    zstr_free (&self->supervisor_status);
    free (self);
    *self_p = NULL;
}

//  --------------------------------------------------------------------------

int
edge_server_port (edge_server_t *self)
{
    assert (self);
    return self->port;
}

int
edge_server_admin_port (edge_server_t *self)
{
    assert (self);
    return self->admin_port;
}

//  --------------------------------------------------------------------------
//  The poll timeout: the nearest of what the daemons and the client need.

static long
s_next_timeout (edge_server_t *self, int64_t stop_at)
{
    long timeout = -1;
    MHD_UNSIGNED_LONG_LONG mhd_timeout;
    struct MHD_Daemon *daemons [2] = { self->daemon, self->admin };
    for (int i = 0; i < 2; i++)
        if (MHD_get_timeout (daemons [i], &mhd_timeout) == MHD_YES)
            if (timeout < 0 || mhd_timeout < (MHD_UNSIGNED_LONG_LONG) timeout)
                timeout = (long) (mhd_timeout > 60000 ? 60000 : mhd_timeout);
    int client_timeout = mdp_client_tick (self->client);
    if (client_timeout >= 0 && (timeout < 0 || client_timeout < timeout))
        timeout = client_timeout;
    if (self->cache) {
        int64_t sweep = self->cache_sweep_at - zclock_mono ();
        if (sweep < 0)
            sweep = 0;
        if (timeout < 0 || sweep < timeout)
            timeout = (long) sweep;
    }
    int64_t jwks = self->jwks_cid ? -1 : self->jwks_next_at - zclock_mono ();
    if (!self->jwks_cid && (timeout < 0 || (jwks < 0 ? 0 : jwks) < timeout))
        timeout = (long) (jwks < 0 ? 0 : jwks);
    int64_t sweep = self->rate_sweep_at - zclock_mono ();
    if (timeout < 0 || (sweep < 0 ? 0 : sweep) < timeout)
        timeout = (long) (sweep < 0 ? 0 : sweep);
    if (stop_at > 0) {
        int64_t left = stop_at - zclock_mono ();
        if (left < 0)
            left = 0;
        if (timeout < 0 || left < timeout)
            timeout = (long) left;
    }
    return timeout;
}

//  --------------------------------------------------------------------------
//  The loop.

int
edge_server_run (edge_server_t *self, int run_ms)
{
    assert (self);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info (self->daemon, MHD_DAEMON_INFO_EPOLL_FD);
    int public_fd = info ? info->epoll_fd : -1;
    info = MHD_get_daemon_info (self->admin, MHD_DAEMON_INFO_EPOLL_FD);
    int admin_fd = info ? info->epoll_fd : -1;
    if (public_fd < 0 || admin_fd < 0) {
        log_error (NULL, "libmicrohttpd gave no epoll descriptor");
        return -1;
    }
    zmq_pollitem_t items [] = {
        { zsock_resolve (mdp_client_sock (self->client)), 0, ZMQ_POLLIN, 0 },
        { NULL, public_fd, ZMQ_POLLIN, 0 },
        { NULL, admin_fd, ZMQ_POLLIN, 0 }
    };
    int64_t stop_at = run_ms >= 0 ? zclock_mono () + run_ms : 0;
    while (!zsys_interrupted) {
        long timeout = s_next_timeout (self, stop_at);
        if (zmq_poll (items, 3, timeout) < 0) {
            if (zmq_errno () == EINTR)
                continue;
            log_error (NULL, "zmq_poll: %s", zmq_strerror (zmq_errno ()));
            return -1;
        }
        s_run_daemons (self);
        mdp_client_tick (self->client);
        envelope_t *reply;
        while ((reply = mdp_client_recv (self->client))) {
            s_handle_reply (self, reply);
            envelope_destroy (&reply);
        }
        if (self->resumed)
            s_run_daemons (self);
        if (self->cache && zclock_mono () >= self->cache_sweep_at) {
            edge_cache_sweep (self->cache, zclock_mono ());
            self->cache_sweep_at = zclock_mono () + EDGE_CACHE_SWEEP_MS;
        }
        int64_t now = zclock_mono ();
        if (!self->jwks_cid && now >= self->jwks_next_at && s_jwks_fetch (self) == 0)
            self->jwks_next_at = now + self->jwks_refresh_ms;   //  until its answer plans again
        if (now >= self->rate_sweep_at) {
            edge_ratelimit_sweep (self->limits, now);
            edge_ratelimit_sweep (self->address_limits, now);
            self->rate_sweep_at = now + EDGE_RATE_SWEEP_MS;
        }
        if (stop_at > 0 && zclock_mono () >= stop_at)
            break;
    }
    return 0;
}

//  ==========================================================================
//  Self test: a real edge on free ports, with no broker behind it. Every
//  refusal the edge makes by itself is checked over HTTP, and a request
//  that reaches for a context proves the 504 at its deadline.

//  One HTTP exchange over a fresh connection; returns the bytes received
//  (up to size - 1, NUL-terminated) or -1.

static int
s_http (int port, const char *request, size_t request_size, char *response, size_t size)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    assert (fd >= 0);
    struct timeval tv = { 5, 0 };
    setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in sin;
    memset (&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_port = htons ((uint16_t) port);
    sin.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    if (connect (fd, (struct sockaddr *) &sin, sizeof sin) != 0) {
        close (fd);
        return -1;
    }
    size_t sent = 0;
    while (sent < request_size) {
        ssize_t rc = send (fd, request + sent, request_size - sent, MSG_NOSIGNAL);
        if (rc <= 0)
            break;              //  the edge may close early (413): read what it said
        sent += (size_t) rc;
    }
    size_t got = 0;
    while (got < size - 1) {
        ssize_t rc = recv (fd, response + got, size - 1 - got, 0);
        if (rc <= 0)
            break;
        got += (size_t) rc;
    }
    response [got] = 0;
    close (fd);
    return (int) got;
}

static int
s_get (int port, const char *path, const char *headers, char *response, size_t size)
{
    char request [16384];
    snprintf (request, sizeof request, "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n%s\r\n",
              path, headers ? headers : "");
    return s_http (port, request, strlen (request), response, size);
}

static int
s_post (int port, const char *method, const char *path, const char *headers, const char *body,
        char *response, size_t size)
{
    char request [8192];
    snprintf (request, sizeof request,
              "%s %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: %zu\r\n%s\r\n%s",
              method, path, strlen (body), headers ? headers : "", body);
    return s_http (port, request, strlen (request), response, size);
}

//  Start an edge in a child process; ports receives its public and admin
//  ports. Returns the child's pid.
static pid_t
s_test_edge_start (const char *config_file, bool verbose, int ports [2])
{
    int ports_pipe [2];
    assert (pipe (ports_pipe) == 0);
    pid_t child = fork ();
    assert (child >= 0);
    if (child == 0) {
        close (ports_pipe [0]);
        logline_init ("edge-test", verbose ? LOGLINE_DEBUG : LOGLINE_ERROR);
        settings_t *settings = settings_load (config_file);
        assert (settings);
        edge_server_t *server = edge_server_new (settings);
        int bound [2] = { server ? edge_server_port (server) : -1,
                          server ? edge_server_admin_port (server) : -1 };
        assert (write (ports_pipe [1], bound, sizeof bound) == sizeof bound);
        close (ports_pipe [1]);
        if (server)
            edge_server_run (server, 30000);
        edge_server_destroy (&server);
        settings_destroy (&settings);
        _exit (0);
    }
    close (ports_pipe [1]);
    assert (read (ports_pipe [0], ports, 2 * sizeof (int)) == 2 * sizeof (int));
    close (ports_pipe [0]);
    assert (ports [0] > 0 && ports [1] > 0);
    return child;
}

static void
s_test_edge_stop (pid_t child)
{
    kill (child, SIGTERM);
    int status = 0;
    assert (waitpid (child, &status, 0) == child);
    assert (WIFEXITED (status) && WEXITSTATUS (status) == 0);
}

//  The value of a response header (first line that has it), or "".
static const char *
s_header_of (const char *response, const char *name, char *value, size_t size)
{
    value [0] = 0;
    const char *end = strstr (response, "\r\n\r\n");
    size_t name_len = strlen (name);
    const char *line = strstr (response, "\r\n");
    while (line && (!end || line < end)) {
        line += 2;
        if (strncasecmp (line, name, name_len) == 0 && line [name_len] == ':') {
            const char *start = line + name_len + 1;
            while (*start == ' ')
                start++;
            const char *stop = strstr (start, "\r\n");
            size_t len = stop ? (size_t) (stop - start) : strlen (start);
            if (len >= size)
                len = size - 1;
            memcpy (value, start, len);
            value [len] = 0;
            return value;
        }
        line = strstr (line, "\r\n");
    }
    return value;
}

//  The body of a response ("" when none).
static const char *
s_body_of (const char *response)
{
    const char *body = strstr (response, "\r\n\r\n");
    return body ? body + 4 : "";
}

static int
s_status_of (const char *response)
{
    int status = 0;
    if (sscanf (response, "HTTP/1.1 %d", &status) != 1)
        return -1;
    return status;
}

//  The value of the error code in a response body, or "".
static const char *
s_error_code_of (const char *response, char *code, size_t size)
{
    code [0] = 0;
    const char *body = strstr (response, "\r\n\r\n");
    json_t *json = body ? json_loads (body + 4, 0, NULL) : NULL;
    json_t *error = json_object_get (json, "error");
    const char *value = json_string_value (json_object_get (error, "code"));
    if (value && json_is_string (json_object_get (error, "request_id"))
    &&  json_is_string (json_object_get (error, "message"))
    &&  json_is_array (json_object_get (error, "details")))
        snprintf (code, size, "%s", value);
    json_decref (json);
    return code;
}

//  A fake broker for the second edge: answers mmi.status, mmi.metrics,
//  the metrics services of two processes (a third never answers), and the
//  "thing" service, whose answers count the requests that reached it so
//  that a test can tell a cache hit from a miss.

static void
s_fake_broker_send (zsock_t *router, zframe_t *address, const char *service, envelope_t **reply_p)
{
    zmsg_t *msg = zmsg_new ();
    zframe_t *to = zframe_dup (address);
    zmsg_append (msg, &to);
    zmsg_addstr (msg, "");
    zmsg_addstr (msg, MDPC_CLIENT);
    zmsg_addstr (msg, service);
    zframe_t *encoded = envelope_encode (*reply_p);
    assert (encoded);
    zmsg_append (msg, &encoded);
    zmsg_send (&msg, router);
    envelope_destroy (reply_p);
}

//  The signing keys of the fake customer context: A, B and C (never
//  published until set 3), and which set it publishes (0: A; 1: A and B;
//  2: B; 3: B and C). The
//  test thread changes the set while the broker's thread reads it.
static unsigned char s_key_pk [3][crypto_sign_PUBLICKEYBYTES];
static unsigned char s_key_sk [3][crypto_sign_SECRETKEYBYTES];
static const char *s_key_kid [3] = { "key-a", "key-b", "key-c" };
static int s_key_set = 0;
static int s_jwks_served = 0;

static json_t *
s_test_jwk (int key)
{
    char x [64];
    sodium_bin2base64 (x, sizeof x, s_key_pk [key], crypto_sign_PUBLICKEYBYTES,
                       sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return json_pack ("{s:s, s:s, s:s, s:s, s:s, s:s}", "kty", "OKP", "crv", "Ed25519",
                      "kid", s_key_kid [key], "x", x, "use", "sig", "alg", "EdDSA");
}

static json_t *
s_test_jwks (void)
{
    int set = __atomic_load_n (&s_key_set, __ATOMIC_SEQ_CST);
    __atomic_add_fetch (&s_jwks_served, 1, __ATOMIC_SEQ_CST);
    json_t *keys = json_array ();
    if (set <= 1)
        json_array_append_new (keys, s_test_jwk (0));
    if (set >= 1)
        json_array_append_new (keys, s_test_jwk (1));
    if (set == 3)
        json_array_append_new (keys, s_test_jwk (2));
    return json_pack ("{s:o}", "keys", keys);
}

//  A token signed by one of the test keys, for claims in JSON text (a
//  new string).
static char *
s_test_token (int key, const char *claims)
{
    char header [128], head [256], body [1024], signature_text [128];
    snprintf (header, sizeof header, "{\"alg\":\"EdDSA\",\"typ\":\"JWT\",\"kid\":\"%s\"}",
              s_key_kid [key]);
    sodium_bin2base64 (head, sizeof head, (const unsigned char *) header, strlen (header),
                       sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_bin2base64 (body, sizeof body, (const unsigned char *) claims, strlen (claims),
                       sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *input = zsys_sprintf ("%s.%s", head, body);
    unsigned char signature [crypto_sign_BYTES];
    crypto_sign_detached (signature, NULL, (const unsigned char *) input, strlen (input),
                          s_key_sk [key]);
    sodium_bin2base64 (signature_text, sizeof signature_text, signature, sizeof signature,
                       sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *token = zsys_sprintf ("%s.%s", input, signature_text);
    zstr_free (&input);
    return token;
}

//  Claims of a token for role (store_id 0: none), valid for an hour.
static char *
s_test_claims (const char *sub, const char *role, int store_id)
{
    long long now = (long long) time (NULL);
    char store [32] = "";
    if (store_id)
        snprintf (store, sizeof store, ",\"store_id\":%d", store_id);
    return zsys_sprintf ("{\"sub\":\"%s\",\"role\":\"%s\"%s,\"iat\":%lld,\"nbf\":%lld,"
                         "\"exp\":%lld,\"iss\":\"comptoir\",\"aud\":\"comptoir-api\"}",
                         sub, role, store, now, now, now + 3600);
}

static envelope_t *
s_fake_broker_answer (const char *service, const envelope_t *request, int *reached)
{
    if (streq (service, MDP_MMI_STATUS))
        return envelope_new_reply (request, 200, json_pack (
            "{s:[{s:s, s:i}, {s:s, s:i}, {s:s, s:i}, {s:s, s:i}, {s:s, s:i}, {s:s, s:i}],"
            " s:[{s:s, s:s}, {s:s, s:s}]}",
            "services",
                "name", "customer", "workers", 1,
                "name", "thing", "workers", 1,
                "name", "_metrics.thing-1", "workers", 1,
                "name", "_metrics.thing-2", "workers", 1,
                "name", "_metrics.slow-1", "workers", 1,
                "name", "_metrics.gone-1", "workers", 0,
            "workers",
                "id", "w1", "service", "thing",
                "id", "m1", "service", "_metrics.thing-1"));
    if (streq (service, MDP_MMI_METRICS))
        return envelope_new_reply (request, 200, json_pack ("{s:s}", "text",
            "# TYPE comptoir_broker_requests_total counter\ncomptoir_broker_requests_total 5\n"));
    if (streq (service, "_metrics.slow-1"))
        return NULL;
    if (strncmp (service, "_metrics.", 9) == 0) {
        char *text = zsys_sprintf (
            "# HELP comptoir_context_requests_total Requests handled\n"
            "# TYPE comptoir_context_requests_total counter\n"
            "comptoir_context_requests_total{process=\"%s\"} 3\n", service + 9);
        envelope_t *reply = envelope_new_reply (request, 200, json_pack ("{s:s}", "text", text));
        zstr_free (&text);
        return reply;
    }
    if (streq (service, "customer") && streq (request->verb, "auth.jwks"))
        return envelope_new_reply (request, 200, s_test_jwks ());
    if (streq (service, "customer"))
        return envelope_new_error (request, 429, "rate_limited", "too many failed logins",
                                   json_pack ("[{s:s, s:s}]", "field", "retry_after_s",
                                              "problem", "42"));
    assert (streq (service, "thing"));
    if (streq (request->verb, "thing.mine")) {
        json_t *body = json_pack ("{s:s?, s:s?, s:I, s:s?}",
            "sub", request->sub, "role", request->role, "store_id", (json_int_t) request->store_id,
            "consumer", request->consumer);
        if (request->idem_key)
            json_object_set_new (body, "idem", json_string (request->idem_key));
        return envelope_new_reply (request, 200, body);
    }
    (*reached)++;
    if (streq (request->verb, "thing.create"))
        return envelope_new_reply (request, 201, json_pack ("{s:i}", "id", 9));
    const char *id = json_string_value (json_object_get (json_object_get (request->body, "params"), "id"));
    if (id && streq (id, "404"))
        return envelope_new_error (request, 404, "not_found", "no such thing", NULL);
    if (id && streq (id, "slow"))
        zclock_sleep (300);         //  long enough for other reads of it to arrive
    if (id && streq (id, "big"))
        return envelope_new_reply (request, 200, json_pack ("{s:s, s:s}", "id", id, "padding",
            "0123456789012345678901234567890123456789012345678901234567890123456789"));
    return envelope_new_reply (request, 200, json_pack ("{s:s?, s:i}", "id", id, "n", *reached));
}

typedef struct {
    char *endpoint;
    zcert_t *cert;
} fake_broker_args_t;

static void
s_fake_broker (zsock_t *pipe, void *args)
{
    fake_broker_args_t *config = (fake_broker_args_t *) args;
    zsock_t *router = zsock_new (ZMQ_ROUTER);
    assert (router);
    curvekeys_apply_server (router, config->cert);
    assert (zsock_bind (router, "%s", config->endpoint) != -1);
    zsock_signal (pipe, 0);
    zpoller_t *poller = zpoller_new (pipe, router, NULL);
    int reached = 0;
    while (true) {
        void *which = zpoller_wait (poller, -1);
        if (which != router)
            break;                  //  $TERM, or interrupted
        zmsg_t *msg = zmsg_recv (router);
        if (!msg || zmsg_size (msg) != 5) {
            zmsg_destroy (&msg);
            continue;
        }
        zframe_t *address = zmsg_pop (msg);
        zframe_t *empty = zmsg_pop (msg);
        char *header = zmsg_popstr (msg);
        char *service = zmsg_popstr (msg);
        zframe_t *body = zmsg_pop (msg);
        envelope_t *request = envelope_decode (zframe_data (body), zframe_size (body), NULL);
        if (request && header && streq (header, MDPC_CLIENT)) {
            envelope_t *reply = s_fake_broker_answer (service, request, &reached);
            if (reply)
                s_fake_broker_send (router, address, service, &reply);
        }
        envelope_destroy (&request);
        zframe_destroy (&body);
        zstr_free (&service);
        zstr_free (&header);
        zframe_destroy (&empty);
        zframe_destroy (&address);
        zmsg_destroy (&msg);
    }
    zpoller_destroy (&poller);
    zsock_destroy (&router);
}

//  A TCP port nobody listens on right now.
static int
s_free_port (void)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    assert (fd >= 0);
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = 0,
                               .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
    assert (bind (fd, (struct sockaddr *) &sin, sizeof sin) == 0);
    socklen_t len = sizeof sin;
    assert (getsockname (fd, (struct sockaddr *) &sin, &len) == 0);
    close (fd);
    return ntohs (sin.sin_port);
}

//  GET path with a bearer token (and the tester's key); returns the status.
static int
s_get_as (int port, const char *path, const char *token, char *response, size_t size)
{
    char headers [4096];
    snprintf (headers, sizeof headers, "X-API-Key: test-key-0123456789\r\n%s%s%s",
              token ? "Authorization: Bearer " : "", token ? token : "", token ? "\r\n" : "");
    s_get (port, path, headers, response, size);
    return s_status_of (response);
}

//  Tokens through the edge: the identity reaches the context, roles are
//  enforced, every forged token is refused with WWW-Authenticate, and the
//  key set follows rotations.
static void
s_test_tokens (int port, bool verbose)
{
    char response [16384], value [512], code [64];
    char *claims = s_test_claims ("42", "customer", 0);
    char *customer = s_test_token (0, claims);
    zstr_free (&claims);
    claims = s_test_claims ("7", "manager", 2);
    char *manager = s_test_token (0, claims);
    zstr_free (&claims);

    //  The key set comes at start (asked until the customer context answers)
    int64_t until = zclock_mono () + 5000;
    while (s_get_as (port, "/api/v1/mine", customer, response, sizeof response) == 503
           && zclock_mono () < until)
        zclock_sleep (50);
    //  A customer's token: the context gets sub, role and consumer
    if (verbose || s_status_of (response) != 200
    ||  !streq (s_body_of (response), "{\"sub\":\"42\",\"role\":\"customer\",\"store_id\":0,"
                                     "\"consumer\":\"tester\"}"))
        printf ("\n%s\n", response), fflush (stdout);
    assert (s_status_of (response) == 200);
    assert (streq (s_body_of (response), "{\"sub\":\"42\",\"role\":\"customer\",\"store_id\":0,"
                                        "\"consumer\":\"tester\"}"));
    //  No token: 401 asking for one; another role: 403
    assert (s_get_as (port, "/api/v1/mine", NULL, response, sizeof response) == 401);
    assert (streq (s_header_of (response, "WWW-Authenticate", value, sizeof value),
                   "Bearer realm=\"comptoir\""));
    assert (streq (s_error_code_of (response, code, sizeof code), "unauthorized"));
    assert (s_get_as (port, "/api/v1/mine", manager, response, sizeof response) == 403);
    assert (streq (s_error_code_of (response, code, sizeof code), "forbidden"));
    assert (strstr (s_header_of (response, "WWW-Authenticate", value, sizeof value),
                    "insufficient_scope"));
    //  A staff route: the manager's store travels with it
    char request [4096];
    snprintf (request, sizeof request, "DELETE /api/v1/things/5 HTTP/1.1\r\nHost: t\r\n"
              "Connection: close\r\nX-API-Key: test-key-0123456789\r\n"
              "Authorization: Bearer %s\r\n\r\n", manager);
    s_http (port, request, strlen (request), response, sizeof response);
    assert (s_status_of (response) == 200);
    assert (strstr (s_body_of (response), "\"role\":\"manager\",\"store_id\":2"));
    //  An Idempotency-Key reaches the context; one that could not is refused
    snprintf (request, sizeof request, "DELETE /api/v1/things/5 HTTP/1.1\r\nHost: t\r\n"
              "Connection: close\r\nX-API-Key: test-key-0123456789\r\nIdempotency-Key: k-42\r\n"
              "Authorization: Bearer %s\r\n\r\n", manager);
    s_http (port, request, strlen (request), response, sizeof response);
    assert (strstr (s_body_of (response), "\"idem\":\"k-42\""));
    snprintf (request, sizeof request, "DELETE /api/v1/things/5 HTTP/1.1\r\nHost: t\r\n"
              "Connection: close\r\nX-API-Key: test-key-0123456789\r\nIdempotency-Key: %0300d\r\n"
              "Authorization: Bearer %s\r\n\r\n", 0, manager);
    s_http (port, request, strlen (request), response, sizeof response);
    assert (s_status_of (response) == 400);
    snprintf (request, sizeof request, "DELETE /api/v1/things/5 HTTP/1.1\r\nHost: t\r\n"
              "Connection: close\r\nX-API-Key: test-key-0123456789\r\n"
              "Authorization: Bearer %s\r\n\r\n", customer);
    s_http (port, request, strlen (request), response, sizeof response);
    assert (s_status_of (response) == 403);

    //  Forged tokens: a signature by a key nobody published under a known
    //  kid, a tampered payload, none, garbage, another scheme. A present
    //  bad token is refused on an open route too, cached or not.
    char *forged_claims = s_test_claims ("1", "admin", 0);
    char *forged = s_test_token (2, forged_claims);
    char *dot = strchr (forged, '.');
    char *renamed = zsys_sprintf ("%s%s", "eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCIsImtpZCI6ImtleS1hIn0", dot);
    zstr_free (&forged_claims);
    char *tampered = strdup (customer);
    char *payload = strchr (tampered, '.') + 1;
    payload [5] = payload [5] == 'A' ? 'B' : 'A';
    const char *bad_tokens [] = {
        renamed, tampered, "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.", "garbage", "a.b.c", NULL
    };
    for (const char **bad = bad_tokens; *bad; bad++) {
        const char *paths [] = { "/api/v1/mine", "/api/v1/things/1", "/api/v1/others/1", NULL };
        for (const char **path = paths; *path; path++) {
            assert (s_get_as (port, *path, *bad, response, sizeof response) == 401);
            assert (streq (s_header_of (response, "WWW-Authenticate", value, sizeof value),
                           "Bearer realm=\"comptoir\", error=\"invalid_token\""));
            assert (streq (s_error_code_of (response, code, sizeof code), "unauthorized"));
            assert (streq (s_header_of (response, "X-Cache", value, sizeof value), ""));
        }
    }
    s_get (port, "/api/v1/things/1", "X-API-Key: test-key-0123456789\r\n"
           "Authorization: Basic dXNlcjpwYXNz\r\n", response, sizeof response);
    assert (s_status_of (response) == 401);
    zstr_free (&renamed);
    zstr_free (&forged);
    free (tampered);
    //  Expired: its own description
    long long now = (long long) time (NULL);
    char *old_claims = zsys_sprintf ("{\"sub\":\"42\",\"role\":\"customer\",\"exp\":%lld,"
                                     "\"iss\":\"comptoir\",\"aud\":\"comptoir-api\"}", now - 10);
    char *expired = s_test_token (0, old_claims);
    assert (s_get_as (port, "/api/v1/mine", expired, response, sizeof response) == 401);
    assert (strstr (s_header_of (response, "WWW-Authenticate", value, sizeof value), "expired"));
    zstr_free (&expired);
    zstr_free (&old_claims);
    //  A valid token on an open, cached route: served as before
    assert (s_get_as (port, "/api/v1/things/1", customer, response, sizeof response) == 200);

    //  Rotation: a token by key B (unknown yet) makes the edge fetch the
    //  set again at once; A's tokens still verify while A is published
    __atomic_store_n (&s_key_set, 1, __ATOMIC_SEQ_CST);
    claims = s_test_claims ("43", "customer", 0);
    char *newer = s_test_token (1, claims);
    zstr_free (&claims);
    assert (s_get_as (port, "/api/v1/mine", newer, response, sizeof response) == 200);
    assert (strstr (s_body_of (response), "\"sub\":\"43\""));
    assert (s_get_as (port, "/api/v1/mine", customer, response, sizeof response) == 200);
    //  A removed: refused after the next refresh (every second here)
    __atomic_store_n (&s_key_set, 2, __ATOMIC_SEQ_CST);
    until = zclock_mono () + 4000;
    while (s_get_as (port, "/api/v1/mine", customer, response, sizeof response) == 200
           && zclock_mono () < until)
        zclock_sleep (100);
    assert (s_status_of (response) == 401);
    assert (s_get_as (port, "/api/v1/mine", newer, response, sizeof response) == 200);
    //  Unknown kids fetch again, at most as often as allowed (300 ms here):
    //  C was never published, so its token stays refused
    int served = __atomic_load_n (&s_jwks_served, __ATOMIC_SEQ_CST);
    claims = s_test_claims ("44", "customer", 0);
    char *unpublished = s_test_token (2, claims);
    zstr_free (&claims);
    char *unknown = zsys_sprintf ("eyJhbGciOiJFZERTQSIsImtpZCI6ImtleS1jIn0%s", strchr (unpublished, '.'));
    assert (s_get_as (port, "/api/v1/mine", unknown, response, sizeof response) == 401);
    assert (__atomic_load_n (&s_jwks_served, __ATOMIC_SEQ_CST) > served);
    zstr_free (&unknown);
    //  C published right after that fetch: its token waits for the next
    //  fetch allowed (jwks_min_interval_ms, 300 ms here), then passes
    __atomic_store_n (&s_key_set, 3, __ATOMIC_SEQ_CST);
    int64_t start = zclock_mono ();
    assert (s_get_as (port, "/api/v1/mine", unpublished, response, sizeof response) == 200);
    assert (strstr (s_body_of (response), "\"sub\":\"44\""));
    assert (zclock_mono () - start < 2000);
    zstr_free (&unpublished);
    zstr_free (&newer);
    zstr_free (&customer);
    zstr_free (&manager);
}

//  Rate limits per consumer and per address, the context's Retry-After,
//  the size limits, and CORS.
static void
s_test_limits_and_cors (int port)
{
    char response [16384], value [512], code [64];
    //  Exactly three a minute for "limited", with the headers, then 429
    for (int i = 0; i < 3; i++) {
        s_get (port, "/api/v1/others/1", "X-API-Key: limited-key-0123456789\r\n",
               response, sizeof response);
        assert (s_status_of (response) == 200);
        char expected [8];
        snprintf (expected, sizeof expected, "%d", 2 - i);
        assert (streq (s_header_of (response, "RateLimit-Remaining", value, sizeof value), expected));
        assert (streq (s_header_of (response, "X-RateLimit-Remaining-Minute", value, sizeof value), expected));
        assert (streq (s_header_of (response, "RateLimit-Limit", value, sizeof value), "3"));
        assert (streq (s_header_of (response, "X-RateLimit-Limit-Minute", value, sizeof value), "3"));
        assert (streq (s_header_of (response, "X-RateLimit-Limit-Day", value, sizeof value), "100"));
        assert (streq (s_header_of (response, "X-RateLimit-Limit-Hour", value, sizeof value), "1000"));
        assert (streq (s_header_of (response, "X-RateLimit-Limit-Second", value, sizeof value), ""));
        int reset = atoi (s_header_of (response, "RateLimit-Reset", value, sizeof value));
        assert (reset >= 59 && reset <= 60);
    }
    s_get (port, "/api/v1/others/1", "X-API-Key: limited-key-0123456789\r\n", response, sizeof response);
    assert (s_status_of (response) == 429);
    assert (streq (s_error_code_of (response, code, sizeof code), "rate_limited"));
    int retry = atoi (s_header_of (response, "Retry-After", value, sizeof value));
    assert (retry >= 59 && retry <= 60);
    assert (streq (s_header_of (response, "RateLimit-Remaining", value, sizeof value), "0"));
    //  Another consumer is not affected
    s_get (port, "/api/v1/others/1", "X-API-Key: test-key-0123456789\r\n", response, sizeof response);
    assert (s_status_of (response) == 200);

    //  The auth routes: the context's 429 carries its Retry-After; three
    //  a minute per address, then the edge refuses by itself
    const char *json_key = "X-API-Key: test-key-0123456789\r\nContent-Type: application/json\r\n";
    for (int i = 0; i < 3; i++) {
        s_post (port, "POST", "/api/v1/auth/login", json_key, "{\"email\":\"a@b.c\"}",
                response, sizeof response);
        assert (s_status_of (response) == 429);
        assert (streq (s_header_of (response, "Retry-After", value, sizeof value), "42"));
    }
    s_post (port, "POST", "/api/v1/auth/login", json_key, "{}", response, sizeof response);
    assert (s_status_of (response) == 429);
    assert (strstr (s_body_of (response), "from this address"));
    //  Behind a trusted proxy (127.0.0.1 here), the address it forwards
    //  counts: another client has its own three; a forged header from an
    //  untrusted peer would be ignored (only the last hop is read)
    const char *forwarded = "X-API-Key: test-key-0123456789\r\nContent-Type: application/json\r\n"
                            "X-Forwarded-For: 6.6.6.6, 203.0.113.9\r\n";
    for (int i = 0; i < 4; i++) {
        s_post (port, "POST", "/api/v1/auth/login", forwarded, "{}", response, sizeof response);
        assert (s_status_of (response) == 429);
        assert (i < 3 ? streq (s_header_of (response, "Retry-After", value, sizeof value), "42")
                      : strstr (s_body_of (response), "from this address") != NULL);
    }
    retry = atoi (s_header_of (response, "Retry-After", value, sizeof value));
    assert (retry >= 59 && retry <= 60);
    assert (streq (s_header_of (response, "RateLimit-Limit", value, sizeof value), "3"));

    //  Sizes: URL, header count, header bytes, a route's own body limit
    char *long_path = (char *) malloc (4000);
    snprintf (long_path, 4000, "/api/v1/things/1?q=%02990d", 0);
    s_get (port, long_path, "X-API-Key: test-key-0123456789\r\n", response, sizeof response);
    assert (s_status_of (response) == 414);
    assert (streq (s_error_code_of (response, code, sizeof code), "uri_too_long"));
    free (long_path);
    char headers [12000] = "";
    for (int i = 0; i < 70; i++)
        snprintf (headers + strlen (headers), sizeof headers - strlen (headers), "X-H%d: v\r\n", i);
    s_get (port, "/health", headers, response, sizeof response);
    assert (s_status_of (response) == 431);
    assert (streq (s_error_code_of (response, code, sizeof code), "header_fields_too_large"));
    snprintf (headers, sizeof headers, "X-Big: %09000d\r\n", 0);
    s_get (port, "/health", headers, response, sizeof response);
    assert (s_status_of (response) == 431);
    s_post (port, "POST", "/api/v1/auth/login", "X-API-Key: limited-key-0123456789\r\n"
            "Content-Type: application/json\r\n",
            "{\"email\":\"0123456789012345678901234567890123456789@example.com\"}",
            response, sizeof response);
    assert (s_status_of (response) == 413 || s_status_of (response) == 429);

    //  CORS: an allowed origin's preflight gets the policy, with no key
    const char *preflight = "OPTIONS /api/v1/things/1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                            "Origin: https://shop.example.com\r\n"
                            "Access-Control-Request-Method: PUT\r\n"
                            "Access-Control-Request-Headers: content-type, x-api-key, authorization\r\n\r\n";
    s_http (port, preflight, strlen (preflight), response, sizeof response);
    assert (s_status_of (response) == 204);
    assert (streq (s_header_of (response, "Access-Control-Allow-Origin", value, sizeof value),
                   "https://shop.example.com"));
    assert (strstr (s_header_of (response, "Access-Control-Allow-Methods", value, sizeof value), "PUT"));
    assert (strstr (s_header_of (response, "Access-Control-Allow-Headers", value, sizeof value), "X-API-Key"));
    assert (streq (s_header_of (response, "Access-Control-Max-Age", value, sizeof value), "120"));
    assert (strstr (s_header_of (response, "Vary", value, sizeof value), "Origin"));
    //  Another origin, method or header: 403 and no CORS header
    const char *refused [] = {
        "Origin: https://evil.example.com\r\nAccess-Control-Request-Method: GET\r\n",
        "Origin: https://shop.example.com\r\nAccess-Control-Request-Method: TRACE\r\n",
        "Origin: https://shop.example.com\r\nAccess-Control-Request-Method: GET\r\n"
        "Access-Control-Request-Headers: x-evil\r\n",
        NULL
    };
    for (const char **headers_p = refused; *headers_p; headers_p++) {
        char request [1024];
        snprintf (request, sizeof request, "OPTIONS /api/v1/things/1 HTTP/1.1\r\nHost: t\r\n"
                  "Connection: close\r\n%s\r\n", *headers_p);
        s_http (port, request, strlen (request), response, sizeof response);
        assert (s_status_of (response) == 403);
        assert (streq (s_error_code_of (response, code, sizeof code), "forbidden"));
        assert (streq (s_header_of (response, "Access-Control-Allow-Origin", value, sizeof value), ""));
    }
    //  Normal answers: the allowed origin is echoed with what it may read
    s_get (port, "/api/v1/others/1", "X-API-Key: test-key-0123456789\r\n"
           "Origin: https://shop.example.com\r\n", response, sizeof response);
    assert (s_status_of (response) == 200);
    assert (streq (s_header_of (response, "Access-Control-Allow-Origin", value, sizeof value),
                   "https://shop.example.com"));
    assert (strstr (s_header_of (response, "Access-Control-Expose-Headers", value, sizeof value),
                    "RateLimit-Remaining"));
    assert (streq (s_header_of (response, "Vary", value, sizeof value), "Origin"));
    s_get (port, "/api/v1/others/1", "X-API-Key: test-key-0123456789\r\n"
           "Origin: https://evil.example.com\r\n", response, sizeof response);
    assert (s_status_of (response) == 200);
    assert (streq (s_header_of (response, "Access-Control-Allow-Origin", value, sizeof value), ""));
    assert (streq (s_header_of (response, "Access-Control-Expose-Headers", value, sizeof value), ""));
    //  ... on errors too, so that a page can read them
    s_get (port, "/api/v1/others/1", "Origin: https://shop.example.com\r\n", response, sizeof response);
    assert (s_status_of (response) == 401);
    assert (streq (s_header_of (response, "Access-Control-Allow-Origin", value, sizeof value),
                   "https://shop.example.com"));
}

static void
s_test_with_broker (const char *dir, const char *keys_dir, bool verbose)
{
    for (int key = 0; key < 3; key++)
        crypto_sign_keypair (s_key_pk [key], s_key_sk [key]);
    char *routes_file = zsys_sprintf ("%s/routes-cached.cfg", dir);
    char *config_file = zsys_sprintf ("%s/edge-cached.cfg", dir);
    FILE *file = fopen (routes_file, "w");
    assert (file);
    fprintf (file,
        "route\n    method = \"GET\"\n    path = \"/api/v1/things/{id}\"\n"
        "    service = \"thing\"\n    verb = \"thing.get\"\n    cache_ttl_ms = 400\n"
        "route\n    method = \"GET\"\n    path = \"/api/v1/others/{id}\"\n"
        "    service = \"thing\"\n    verb = \"thing.get\"\n"
        "route\n    method = \"POST\"\n    path = \"/api/v1/things\"\n"
        "    service = \"thing\"\n    verb = \"thing.create\"\n"
        "route\n    method = \"GET\"\n    path = \"/api/v1/mine\"\n"
        "    service = \"thing\"\n    verb = \"thing.mine\"\n    roles = \"customer\"\n"
        "route\n    method = \"DELETE\"\n    path = \"/api/v1/things/{id}\"\n"
        "    service = \"thing\"\n    verb = \"thing.mine\"\n    roles = \"manager, admin\"\n"
        "route\n    method = \"POST\"\n    path = \"/api/v1/auth/login\"\n"
        "    service = \"customer\"\n    verb = \"auth.login\"\n    address_limited = 1\n"
        "    body_limit = 64\n");
    fclose (file);
    int broker_port = s_free_port ();
    file = fopen (config_file, "w");
    assert (file);
    fprintf (file,
        "keys\n    dir = \"%s\"\n"
        "broker\n    endpoint = \"tcp://127.0.0.1:%d\"\n"
        "edge\n    address = \"127.0.0.1\"\n    port = 0\n    admin_port = 0\n"
        "    timeout_ms = 2000\n    probe_timeout_ms = 300\n    ready_cache_ms = 0\n"
        "    broker_wait_ms = 0\n    routes = \"%s\"\n"
        "    cache = 1\n    cache_max_entries = 100\n    cache_max_body = 64\n"
        "    jwks_min_interval_ms = 300\n    jwks_refresh_s = 1\n"
        "    auth_rate_limit\n        minute = 3\n    trusted_proxies = \"10.0.0.1, 127.0.0.1\"\n"
        "    cors\n        origins = \"https://shop.example.com\"\n        max_age = 120\n"
        "    consumers\n        tester\n            key = \"test-key-0123456789\"\n"
        "            rate_limit\n                minute = 1000\n"
        "        limited\n            key = \"limited-key-0123456789\"\n"
        "            rate_limit\n                minute = 3\n                day = 100\n",
        keys_dir, broker_port, routes_file);
    fclose (file);

    int ports [2];
    pid_t child = s_test_edge_start (config_file, verbose, ports);
    int port = ports [0], admin_port = ports [1];
    fake_broker_args_t args = { zsys_sprintf ("tcp://127.0.0.1:%d", broker_port),
                                curvekeys_ensure (keys_dir, "broker", false) };
    assert (args.cert);
    zactor_t *broker = zactor_new (s_fake_broker, &args);
    assert (broker);

    const char *key = "X-API-Key: test-key-0123456789\r\n";
    char response [16384], value [256], first_rid [64], body [256];

    //  Ready once the broker answers; the metrics services are not contexts
    int64_t until = zclock_mono () + 5000;
    do
        s_get (port, "/ready", NULL, response, sizeof response);
    while (s_status_of (response) != 200 && zclock_mono () < until && (zclock_sleep (50), true));
    assert (s_status_of (response) == 200);

    //  First read: a miss, from the context
    s_get (port, "/api/v1/things/1", key, response, sizeof response);
    assert (s_status_of (response) == 200);
    assert (streq (s_header_of (response, "X-Cache", value, sizeof value), "MISS"));
    assert (streq (s_header_of (response, "Age", value, sizeof value), ""));
    snprintf (body, sizeof body, "%s", s_body_of (response));
    assert (streq (body, "{\"id\":\"1\",\"n\":1}"));
    s_header_of (response, "X-Request-ID", first_rid, sizeof first_rid);

    //  Second read: a hit, same body, its own request id, an Age
    s_get (port, "/api/v1/things/1", key, response, sizeof response);
    assert (s_status_of (response) == 200);
    assert (streq (s_header_of (response, "X-Cache", value, sizeof value), "HIT"));
    assert (streq (s_header_of (response, "Age", value, sizeof value), "0"));
    assert (streq (s_header_of (response, "Content-Type", value, sizeof value), "application/json"));
    assert (streq (s_body_of (response), body));
    assert (*s_header_of (response, "X-Request-ID", value, sizeof value));
    assert (!streq (value, first_rid));

    //  The cache never answers before the key is checked
    s_get (port, "/api/v1/things/1", NULL, response, sizeof response);
    assert (s_status_of (response) == 401);
    assert (streq (s_header_of (response, "X-Cache", value, sizeof value), ""));

    //  Another query is another entry; a route without cache_ttl_ms has no X-Cache
    s_get (port, "/api/v1/things/1?x=1", key, response, sizeof response);
    assert (streq (s_header_of (response, "X-Cache", value, sizeof value), "MISS"));
    assert (streq (s_body_of (response), "{\"id\":\"1\",\"n\":2}"));
    s_get (port, "/api/v1/things/1?x=1", key, response, sizeof response);
    assert (streq (s_header_of (response, "X-Cache", value, sizeof value), "HIT"));
    s_get (port, "/api/v1/others/1", key, response, sizeof response);
    assert (s_status_of (response) == 200);
    assert (streq (s_header_of (response, "X-Cache", value, sizeof value), ""));

    //  Only 200 answers are kept, and only bodies up to cache_max_body
    for (int round = 0; round < 2; round++) {
        s_get (port, "/api/v1/things/404", key, response, sizeof response);
        assert (s_status_of (response) == 404);
        assert (streq (s_header_of (response, "X-Cache", value, sizeof value), "MISS"));
        s_get (port, "/api/v1/things/big", key, response, sizeof response);
        assert (s_status_of (response) == 200);
        assert (streq (s_header_of (response, "X-Cache", value, sizeof value), "MISS"));
    }

    //  A write to the service through this edge drops its entries
    s_post (port, "POST", "/api/v1/things", "X-API-Key: test-key-0123456789\r\n"
            "Content-Type: application/json\r\n", "{}", response, sizeof response);
    assert (s_status_of (response) == 201);
    s_get (port, "/api/v1/things/1", key, response, sizeof response);
    assert (streq (s_header_of (response, "X-Cache", value, sizeof value), "MISS"));
    assert (!streq (s_body_of (response), body));
    snprintf (body, sizeof body, "%s", s_body_of (response));
    s_get (port, "/api/v1/things/1", key, response, sizeof response);
    assert (streq (s_header_of (response, "X-Cache", value, sizeof value), "HIT"));
    assert (streq (s_body_of (response), body));

    //  Reads of an entry that is on its way wait for it: one goes to the
    //  context, the others get its answer, each with its own request id
    int fds [5];
    for (int i = 0; i < 5; i++) {
        fds [i] = socket (AF_INET, SOCK_STREAM, 0);
        struct timeval tv = { 5, 0 };
        setsockopt (fds [i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) port),
                                   .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
        assert (connect (fds [i], (struct sockaddr *) &sin, sizeof sin) == 0);
        char request [256];
        snprintf (request, sizeof request, "GET /api/v1/things/slow HTTP/1.1\r\nHost: t\r\n"
                  "Connection: close\r\nX-Request-ID: herd-%d\r\n%s\r\n", i, key);
        assert (send (fds [i], request, strlen (request), 0) == (ssize_t) strlen (request));
        if (i == 0)
            zclock_sleep (50);      //  the first is the one in flight
    }
    int misses = 0;
    char herd_body [256] = "";
    for (int i = 0; i < 5; i++) {
        size_t got = 0;
        ssize_t rc;
        while (got < sizeof response - 1
           && (rc = recv (fds [i], response + got, sizeof response - 1 - got, 0)) > 0)
            got += (size_t) rc;
        response [got] = 0;
        close (fds [i]);
        assert (s_status_of (response) == 200);
        char rid [32];
        snprintf (rid, sizeof rid, "herd-%d", i);
        assert (streq (s_header_of (response, "X-Request-ID", value, sizeof value), rid));
        misses += streq (s_header_of (response, "X-Cache", value, sizeof value), "MISS");
        if (i == 0)
            snprintf (herd_body, sizeof herd_body, "%s", s_body_of (response));
        assert (streq (s_body_of (response), herd_body));
    }
    assert (misses == 1);
    assert (strstr (herd_body, "\"id\":\"slow\""));

    //  After the TTL the context is asked again
    zclock_sleep (450);
    s_get (port, "/api/v1/things/1", key, response, sizeof response);
    assert (streq (s_header_of (response, "X-Cache", value, sizeof value), "MISS"));
    assert (!streq (s_body_of (response), body));

    //  /metrics: the edge's, the broker's and each process's, one TYPE per
    //  family; the process that does not answer in time and the one with
    //  no worker are counted as scrape errors
    int64_t start = zclock_mono ();
    s_get (admin_port, "/metrics", NULL, response, sizeof response);
    int64_t elapsed = zclock_mono () - start;
    assert (s_status_of (response) == 200);
    assert (elapsed >= 250 && elapsed < 2000);
    if (verbose)
        printf ("\n%s\n", response);
    assert (strstr (response, "comptoir_edge_cache_hits_total{route=\"/api/v1/things/{id}\"} 3\n"));
    assert (strstr (response, "comptoir_edge_cache_misses_total{route=\"/api/v1/things/{id}\"} 9\n"));
    assert (strstr (response, "comptoir_edge_cache_coalesced_total{route=\"/api/v1/things/{id}\"} 4\n"));
    //  things/1, and things/slow until the sweep sees it expired
    assert (strstr (response, "comptoir_edge_cache_entries 1\n")
         || strstr (response, "comptoir_edge_cache_entries 2\n"));
    assert (strstr (response, "comptoir_edge_cache_evictions_total{reason=\"invalidated\"} 2\n"));
    assert (strstr (response, "comptoir_broker_requests_total 5\n"));
    assert (strstr (response, "comptoir_context_requests_total{process=\"thing-1\"} 3\n"));
    assert (strstr (response, "comptoir_context_requests_total{process=\"thing-2\"} 3\n"));
    const char *type = "# TYPE comptoir_context_requests_total counter";
    assert (strstr (response, type) && strstr (strstr (response, type) + 1, type) == NULL);
    assert (strstr (response, "comptoir_edge_metrics_scrape_errors_total{process=\"slow-1\"} 1\n"));
    assert (strstr (response, "comptoir_edge_metrics_scrape_errors_total{process=\"gone-1\"} 1\n"));
    assert (!strstr (response, "process=\"thing-1\"} 1\n"));

    //  /admin/services hides the metrics services
    s_get (admin_port, "/admin/services", NULL, response, sizeof response);
    assert (s_status_of (response) == 200);
    assert (strstr (response, "\"thing\""));
    assert (!strstr (response, "_metrics."));

    s_test_tokens (port, verbose);
    s_test_limits_and_cors (port);

    s_test_edge_stop (child);
    zactor_destroy (&broker);
    zcert_destroy (&args.cert);
    zstr_free (&args.endpoint);
    zstr_free (&routes_file);
    zstr_free (&config_file);
}

void
edge_server_test (bool verbose)
{
    printf (" * edge_server: ");
    char dir [] = "/tmp/edge_server_test_XXXXXX";
    assert (mkdtemp (dir));
    char *routes_file = zsys_sprintf ("%s/routes.cfg", dir);
    char *config_file = zsys_sprintf ("%s/edge.cfg", dir);
    char *openapi_file = zsys_sprintf ("%s/openapi.yaml", dir);
    char *keys_dir = zsys_sprintf ("%s/keys", dir);
    FILE *file = fopen (routes_file, "w");
    assert (file);
    fprintf (file,
        "route\n    method = \"GET\"\n    path = \"/api/v1/things/{id}\"\n"
        "    service = \"thing\"\n    verb = \"thing.get\"\n"
        "route\n    method = \"POST\"\n    path = \"/api/v1/things\"\n"
        "    service = \"thing\"\n    verb = \"thing.create\"\n"
        "route\n    method = \"DELETE\"\n    path = \"/api/v1/things/{id}\"\n"
        "    service = \"thing\"\n    verb = \"thing.delete\"\n    roles = \"manager,admin\"\n");
    fclose (file);
    file = fopen (openapi_file, "w");
    assert (file);
    fprintf (file, "openapi: 3.1.0\n");
    fclose (file);
    //  A broker port that nobody listens on: requests wait until their deadline.
    file = fopen (config_file, "w");
    assert (file);
    fprintf (file,
        "keys\n    dir = \"%s\"\n"
        "broker\n    endpoint = \"tcp://127.0.0.1:1\"\n"
        "edge\n    address = \"127.0.0.1\"\n    port = 0\n    admin_port = 0\n"
        "    timeout_ms = 300\n    probe_timeout_ms = 200\n    body_limit = 1024\n"
        "    broker_wait_ms = 0\n    routes = \"%s\"\n    openapi = \"%s\"\n"
        "    consumers\n        tester\n            key = \"test-key-0123456789\"\n",
        keys_dir, routes_file, openapi_file);
    fclose (file);
    //  The broker's certificate, as the broker would have made it.
    zcert_t *broker_cert = curvekeys_ensure (keys_dir, "broker", false);
    assert (broker_cert);
    zcert_destroy (&broker_cert);

    //  The edge runs in a child process; this one is the HTTP client.
    int ports [2];
    pid_t child = s_test_edge_start (config_file, verbose, ports);
    int port = ports [0], admin_port = ports [1];

    const char *key = "X-API-Key: test-key-0123456789\r\n";
    const char *json_key = "X-API-Key: test-key-0123456789\r\nContent-Type: application/json\r\n";
    char response [16384], code [64];

    //  /health answers and carries a new request id (a UUID)
    assert (s_get (port, "/health", NULL, response, sizeof response) > 0);
    assert (s_status_of (response) == 200);
    assert (strstr (response, "{\"status\":\"ok\"}"));
    const char *rid = strstr (response, "X-Request-ID: ");
    assert (rid && rid [14 + 8] == '-' && rid [14 + 14] == '4');

    //  A client's valid request id is echoed; an invalid one is replaced
    s_get (port, "/health", "X-Request-ID: my-id.1_2\r\n", response, sizeof response);
    assert (strstr (response, "X-Request-ID: my-id.1_2\r\n"));
    s_get (port, "/health", "X-Request-ID: bad id!\r\n", response, sizeof response);
    assert (!strstr (response, "bad id!"));
    assert (strstr (response, "X-Request-ID: "));
    //  /health accepts GET and HEAD; HEAD answers the same without a body
    s_post (port, "POST", "/health", NULL, "", response, sizeof response);
    assert (s_status_of (response) == 405 && strstr (response, "Allow: GET, HEAD\r\n"));
    char head [256];
    snprintf (head, sizeof head, "HEAD /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    s_http (port, head, strlen (head), response, sizeof response);
    assert (s_status_of (response) == 200);
    assert (strstr (response, "X-Request-ID: "));
    assert (streq (s_body_of (response), ""));
    snprintf (head, sizeof head, "HEAD /ready HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    s_http (port, head, strlen (head), response, sizeof response);
    assert (s_status_of (response) == 503);
    assert (streq (s_body_of (response), ""));
    snprintf (head, sizeof head, "HEAD /openapi.yaml HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    s_http (port, head, strlen (head), response, sizeof response);
    assert (s_status_of (response) == 405);

    //  The contract is served as YAML
    s_get (port, "/openapi.yaml", NULL, response, sizeof response);
    assert (s_status_of (response) == 200);
    assert (strstr (response, "Content-Type: application/yaml"));
    assert (strstr (response, "openapi: 3.1.0"));

    //  /api without a key, or with a wrong one: 401 with WWW-Authenticate
    s_get (port, "/api/v1/things/1", NULL, response, sizeof response);
    assert (s_status_of (response) == 401);
    assert (strstr (response, "WWW-Authenticate: ApiKey realm=\"comptoir\""));
    assert (streq (s_error_code_of (response, code, sizeof code), "unauthorized"));
    s_get (port, "/api/v1/things/1", "X-API-Key: wrong-key-0123456789\r\n", response, sizeof response);
    assert (s_status_of (response) == 401);
    //  ...even for a route that does not exist
    s_get (port, "/api/v1/nothing", NULL, response, sizeof response);
    assert (s_status_of (response) == 401);

    //  Unknown route: 404 with the error shape and the request id
    s_get (port, "/api/v1/nothing", "X-Request-ID: rid-404\r\nX-API-Key: test-key-0123456789\r\n",
           response, sizeof response);
    assert (s_status_of (response) == 404);
    assert (streq (s_error_code_of (response, code, sizeof code), "not_found"));
    assert (strstr (response, "\"request_id\":\"rid-404\""));
    s_get (port, "/nothing", NULL, response, sizeof response);
    assert (s_status_of (response) == 404);

    //  Known path, wrong method: 405 with Allow
    s_post (port, "PUT", "/api/v1/things/1", json_key, "{}", response, sizeof response);
    assert (s_status_of (response) == 405);
    assert (strstr (response, "Allow: GET, DELETE\r\n"));
    assert (streq (s_error_code_of (response, code, sizeof code), "method_not_allowed"));

    //  A route for roles: 401 asking for a token, for now
    char request [4096];
    snprintf (request, sizeof request, "DELETE /api/v1/things/1 HTTP/1.1\r\nHost: t\r\n"
              "Connection: close\r\n%s\r\n", key);
    s_http (port, request, strlen (request), response, sizeof response);
    assert (s_status_of (response) == 401);
    assert (strstr (response, "WWW-Authenticate: Bearer"));

    //  A token cannot be checked before the key set came (no customer
    //  context here): 503 with Retry-After, never a guess; a malformed one
    //  is still refused as such
    s_get (port, "/api/v1/things/1", "X-API-Key: test-key-0123456789\r\n"
           "Authorization: Bearer eyJhbGciOiJFZERTQSIsImtpZCI6ImsifQ.e30.AAAA\r\n",
           response, sizeof response);
    assert (s_status_of (response) == 503);
    assert (streq (s_error_code_of (response, code, sizeof code), "service_unavailable"));
    assert (*s_header_of (response, "Retry-After", code, sizeof code));
    s_get (port, "/api/v1/things/1", "X-API-Key: test-key-0123456789\r\n"
           "Authorization: Bearer garbage\r\n", response, sizeof response);
    assert (s_status_of (response) == 401);
    assert (strstr (response, "error=\"invalid_token\""));

    //  Bodies: wrong type 415, malformed 400, not an object 400, too deep 400
    s_post (port, "POST", "/api/v1/things", "X-API-Key: test-key-0123456789\r\nContent-Type: text/plain\r\n",
            "{}", response, sizeof response);
    assert (s_status_of (response) == 415);
    assert (streq (s_error_code_of (response, code, sizeof code), "unsupported_media_type"));
    s_post (port, "POST", "/api/v1/things", key, "{}", response, sizeof response);
    assert (s_status_of (response) == 415);
    s_post (port, "POST", "/api/v1/things", json_key, "{\"a\":", response, sizeof response);
    assert (s_status_of (response) == 400);
    assert (streq (s_error_code_of (response, code, sizeof code), "invalid_json"));
    s_post (port, "POST", "/api/v1/things", json_key, "[1,2]", response, sizeof response);
    assert (s_status_of (response) == 400);
    assert (streq (s_error_code_of (response, code, sizeof code), "invalid_json"));
    char deep [200] = "{\"a\":";
    for (int i = 0; i < 40; i++)
        strcat (deep, "[");
    for (int i = 0; i < 40; i++)
        strcat (deep, "]");
    strcat (deep, "}");
    s_post (port, "POST", "/api/v1/things", json_key, deep, response, sizeof response);
    assert (s_status_of (response) == 400);
    assert (strstr (response, "too deep"));

    //  Over the body limit: announced (413 before the body) or streamed
    char big [2048];
    memset (big, ' ', sizeof big - 1);
    big [sizeof big - 1] = 0;
    big [0] = '{';
    big [sizeof big - 2] = '}';
    s_post (port, "POST", "/api/v1/things", json_key, big, response, sizeof response);
    assert (s_status_of (response) == 413);
    assert (streq (s_error_code_of (response, code, sizeof code), "payload_too_large"));
    snprintf (request, sizeof request,
              "POST /api/v1/things HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
              "Transfer-Encoding: chunked\r\n%s\r\n"
              "258\r\n{%599s\r\n258\r\n%599s}\r\n0\r\n\r\n", json_key, "", "");
    s_http (port, request, strlen (request), response, sizeof response);
    assert (s_status_of (response) == 413);

    //  A good request with no context behind it: 504 at the deadline
    int64_t start = zclock_mono ();
    s_get (port, "/api/v1/things/7?x=1", key, response, sizeof response);
    int64_t elapsed = zclock_mono () - start;
    assert (s_status_of (response) == 504);
    assert (streq (s_error_code_of (response, code, sizeof code), "upstream_timeout"));
    assert (elapsed >= 250 && elapsed < 3000);

    //  Keep-alive: a second request on the same connection, after the first
    //  answer (libmicrohttpd closes connections that pipeline)
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    assert (fd >= 0);
    struct timeval tv = { 5, 0 };
    setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) port),
                               .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
    assert (connect (fd, (struct sockaddr *) &sin, sizeof sin) == 0);
    const char *first = "GET /health HTTP/1.1\r\nHost: t\r\n\r\n";
    assert (send (fd, first, strlen (first), 0) == (ssize_t) strlen (first));
    size_t got = 0;
    response [0] = 0;
    while (!strstr (response, "{\"status\":\"ok\"}") && got < sizeof response - 1) {
        ssize_t rc = recv (fd, response + got, sizeof response - 1 - got, 0);
        assert (rc > 0);
        got += (size_t) rc;
        response [got] = 0;
    }
    assert (s_status_of (response) == 200);
    assert (!strstr (response, "Connection: close"));
    const char *again = "GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    assert (send (fd, again, strlen (again), MSG_NOSIGNAL) == (ssize_t) strlen (again));
    ssize_t last = recv (fd, response, sizeof response - 1, 0);
    assert (last > 0);
    response [last] = 0;
    assert (s_status_of (response) == 200);
    close (fd);

    //  Not ready without a broker, and it says what is missing
    s_get (port, "/ready", NULL, response, sizeof response);
    assert (s_status_of (response) == 503);
    assert (strstr (response, "\"missing\":[\"broker\",\"thing\"]"));
    assert (strstr (response, "Retry-After: "));

    //  Admin: metrics name our series even without the broker
    s_get (admin_port, "/metrics", NULL, response, sizeof response);
    assert (s_status_of (response) == 200);
    assert (strstr (response, "comptoir_edge_requests_total{route=\"/api/v1/things/{id}\",method=\"GET\",status=\"504\"} 1"));
    assert (strstr (response, "comptoir_edge_auth_failures_total"));
    assert (strstr (response, "comptoir_edge_upstream_timeouts_total"));
    assert (strstr (response, "comptoir_edge_request_duration_seconds_bucket"));
    assert (strstr (response, "comptoir_edge_in_flight"));
    s_get (admin_port, "/admin/services", NULL, response, sizeof response);
    assert (s_status_of (response) == 504 || s_status_of (response) == 503);
    s_get (admin_port, "/api/v1/things/1", NULL, response, sizeof response);
    assert (s_status_of (response) == 404);
    //  The public port has no admin routes
    s_get (port, "/metrics", NULL, response, sizeof response);
    assert (s_status_of (response) == 404);

    s_test_edge_stop (child);

    //  The second edge talks to a fake broker: the cache and the scrape
    s_test_with_broker (dir, keys_dir, verbose);

    //  A broken configuration refuses to start
    file = fopen (config_file, "w");
    fprintf (file, "edge\n    routes = \"%s/none.cfg\"\n", dir);
    fclose (file);
    logline_init ("edge-test", LOGLINE_ERROR + 1);
    settings_t *settings = settings_load (config_file);
    edge_server_t *server = edge_server_new (settings);
    assert (server == NULL);
    settings_destroy (&settings);

    char *command = zsys_sprintf ("rm -rf '%s'", dir);
    int rc = system (command);
    (void) rc;
    zstr_free (&command);
    zstr_free (&routes_file);
    zstr_free (&config_file);
    zstr_free (&openapi_file);
    zstr_free (&keys_dir);
    printf ("OK\n");
}
