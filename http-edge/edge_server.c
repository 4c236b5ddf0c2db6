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
    and reveals the least to a stranger: the API key before the route's
    answer, the Content-Type and Content-Length before any byte of body,
    the body size while it streams, the JSON (syntax, type, depth) before
    anything leaves for a context. Every answer, from here or from a
    context, passes through s_request_answer: one place for the error
    shape, X-Request-ID, the access log line and the metrics.
    =========================================================================
*/
#include "edge_server.h"
#include "edge_keys.h"
#include "edge_reply.h"
#include "edge_routes.h"

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
#include <sys/socket.h>

//  Defaults, each overridden by the setting named beside it.
#define EDGE_ADDRESS            "127.0.0.1"     //  edge/address, edge/admin_address
#define EDGE_PORT               8080            //  edge/port
#define EDGE_ADMIN_PORT         8081            //  edge/admin_port
#define EDGE_BODY_LIMIT         1048576         //  edge/body_limit (bytes)
#define EDGE_TIMEOUT_MS         5000            //  edge/timeout_ms
#define EDGE_MAX_CONNECTIONS    1024            //  edge/max_connections
#define EDGE_RETRY_AFTER_S      1               //  edge/retry_after_s
#define EDGE_HEADER_LIMIT       32768           //  edge/header_limit (bytes per connection)
#define EDGE_IDLE_TIMEOUT_S     30              //  edge/idle_timeout_s (keep-alive)
#define EDGE_READY_CACHE_MS     1000            //  edge/ready_cache_ms
#define EDGE_PROBE_TIMEOUT_MS   1000            //  edge/probe_timeout_ms (mmi.* calls)
#define EDGE_BROKER_WAIT_MS     10000           //  edge/broker_wait_ms (broker key at start)
#define EDGE_ROUTES             "etc/routes.cfg"    //  edge/routes
#define EDGE_OPENAPI            "docs/openapi.yaml" //  edge/openapi
#define EDGE_KEYS_DIR           "var/keys"          //  keys/dir
#define EDGE_BROKER_ENDPOINT    "tcp://127.0.0.1:5555"  //  broker/endpoint

//  Fixed by the protocol or by sanity, not by deployment.
#define EDGE_OPENAPI_MAX        (4 * 1024 * 1024)   //  biggest spec file served
#define EDGE_SHUTDOWN_MS        200                 //  time to flush answers on stop
#define EDGE_API_PREFIX         "/api/"
#define METRICS_CONTENT_TYPE    "text/plain; version=0.0.4; charset=utf-8"

typedef enum {
    KIND_API,           //  a route of the table, answered by a context
    KIND_READY,         //  GET /ready, answered from the broker's view
    KIND_METRICS,       //  admin GET /metrics
    KIND_SERVICES,      //  admin GET /admin/services
    KIND_LOCAL          //  answered by the edge itself
} request_kind_t;

typedef struct _edge_request_t edge_request_t;

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
    size_t resumed;                 //  connections resumed since the last MHD_run
    size_t in_flight;
    //  settings
    char *openapi_path;
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
    if (self->cid) {
        zhashx_delete (server->waiting, self->cid);
        free (self->cid);
    }
    void *handle = zlistx_find (server->ready_waiters, self);
    if (handle)
        zlistx_delete (server->ready_waiters, handle);
    free (self->path);
    free (self->body);
    json_decref (self->params);
    edge_reply_destroy (&self->reply);
    free (self);
    *self_p = NULL;
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
    if (reply->allow)
        MHD_add_response_header (response, MHD_HTTP_HEADER_ALLOW, reply->allow);
    if (reply->www_authenticate)
        MHD_add_response_header (response, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                 reply->www_authenticate);
    if (reply->retry_after) {
        char seconds [24];
        snprintf (seconds, sizeof seconds, "%" PRId64, server->retry_after_s);
        MHD_add_response_header (response, MHD_HTTP_HEADER_RETRY_AFTER, seconds);
    }
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
    log_info (self->rid, "access method=%s status=%d duration_ms=%.3f consumer=%s path=%s",
              self->method, status, seconds * 1000.0,
              self->consumer ? self->consumer : "-", self->path);
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
//  Public port, at headers time: everything that can be refused before a
//  byte of body is read.

static enum MHD_Result
s_public_begin (edge_request_t *self)
{
    edge_server_t *server = self->server;
    struct MHD_Connection *connection = self->connection;

    //  The operations routes, open to anybody.
    if (streq (self->path, "/health") || streq (self->path, "/ready")
    ||  streq (self->path, "/openapi.yaml")) {
        self->route_label = streq (self->path, "/health") ? "/health"
                          : streq (self->path, "/ready") ? "/ready" : "/openapi.yaml";
        if (!streq (self->method, "GET"))
            return s_answer_not_allowed (self, "GET");
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

    //  Routes restricted to roles need a token; tokens come with the next
    //  issue (customer context and JWT), so until then no request can
    //  satisfy such a route and it answers 401 asking for a Bearer token.
    if (!edge_route_open (self->route)) {
        metrics_counter_add (server->metrics, "comptoir_edge_auth_failures_total", NULL, 1);
        self->reply = edge_reply_error (401, "unauthorized",
                                        "this route needs a staff token with one of the roles: "
                                        "tokens are not issued yet", self->rid, NULL);
        if (self->reply)
            self->reply->www_authenticate = "Bearer realm=\"comptoir\"";
        return s_request_answer (self);
    }

    //  A body must be JSON, and not bigger than the limit it announces.
    const char *length = MHD_lookup_connection_value (connection, MHD_HEADER_KIND,
                                                      MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (length) {
        errno = 0;
        char *end = NULL;
        unsigned long long announced = strtoull (length, &end, 10);
        if (errno || end == length)
            return s_answer_error (self, 400, "validation_failed", "invalid Content-Length");
        if (announced > (unsigned long long) server->body_limit)
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
    size_t limit = (size_t) self->server->body_limit;
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
    envelope->retryable = self->route->retryable;
    envelope->deadline = zclock_time () + server->timeout_ms;
    if (s_request_dispatch (self, self->route->service, &envelope) != 0)
        return s_answer_error (self, 503, "service_unavailable",
                               "the request could not be sent to its service");
    return MHD_YES;
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
            return s_api_complete (self);
        case KIND_READY:
            return s_ready_request (self);
        case KIND_METRICS:
        case KIND_SERVICES: {
            const char *verb = self->kind == KIND_METRICS ? MDP_MMI_METRICS : MDP_MMI_STATUS;
            envelope_t *request = s_mmi_request (server, verb, self->rid);
            if (request && s_request_dispatch (self, verb, &request) == 0)
                return MHD_YES;
            if (self->kind == KIND_SERVICES)
                return s_answer_error (self, 503, "service_unavailable", "the broker cannot be reached");
            //  Metrics without the broker's part are still worth a scrape.
            char *text = metrics_render (server->metrics, NULL);
            self->reply = edge_reply_raw (200, METRICS_CONTENT_TYPE, text ? text : "",
                                          text ? strlen (text) : 0);
            free (text);
            return s_request_answer (self);
        }
        default:
            return s_answer_error (self, 500, "internal_error", "unexpected request state");
    }
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
            edge_rid_new (self->rid);
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
    edge_request_t *request = reply->cid
        ? (edge_request_t *) zhashx_lookup (self->waiting, reply->cid) : NULL;
    if (!request) {
        log_debug (reply->rid, "reply for no waiting request (cid %s)", reply->cid ? reply->cid : "");
        return;
    }
    edge_reply_t *answer = NULL;
    if (request->kind == KIND_API) {
        if (reply->status == 504) {
            char route [300], labels [320];
            s_label_escape (route, sizeof route, request->route_label);
            snprintf (labels, sizeof labels, "route=\"%s\"", route);
            metrics_counter_add (self->metrics, "comptoir_edge_upstream_timeouts_total", labels, 1);
        }
        answer = edge_reply_from_envelope (reply, request->rid, request->path);
    }
    else
    if (request->kind == KIND_METRICS) {
        char *text = metrics_render (self->metrics, NULL);
        const char *broker = reply->status == 200
                           ? json_string_value (json_object_get (reply->body, "text")) : NULL;
        char *both = zsys_sprintf ("%s%s%s", text ? text : "",
                                   broker ? "" : "# the broker's metrics are unavailable\n",
                                   broker ? broker : "");
        if (both)
            answer = edge_reply_raw (200, METRICS_CONTENT_TYPE, both, strlen (both));
        free (text);
        zstr_free (&both);
    }
    else
    if (request->kind == KIND_SERVICES) {
        if (reply->status == 200 && reply->body)
            answer = edge_reply_json (200, reply->body);
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
//  Create the edge.

edge_server_t *
edge_server_new (settings_t *settings)
{
    assert (settings);
    if (sodium_init () < 0)
        return NULL;
    edge_server_t *self = (edge_server_t *) zmalloc (sizeof (edge_server_t));
    self->settings = settings;
    self->body_limit = settings_get_int (settings, "edge/body_limit", EDGE_BODY_LIMIT);
    self->timeout_ms = settings_get_int (settings, "edge/timeout_ms", EDGE_TIMEOUT_MS);
    self->retry_after_s = settings_get_int (settings, "edge/retry_after_s", EDGE_RETRY_AFTER_S);
    self->ready_cache_ms = settings_get_int (settings, "edge/ready_cache_ms", EDGE_READY_CACHE_MS);
    self->probe_timeout_ms = settings_get_int (settings, "edge/probe_timeout_ms", EDGE_PROBE_TIMEOUT_MS);
    self->openapi_path = strdup (settings_get (settings, "edge/openapi", EDGE_OPENAPI));
    if (self->body_limit < 0)
        self->body_limit = 0;
    if (self->timeout_ms < 1)
        self->timeout_ms = EDGE_TIMEOUT_MS;
    self->waiting = zhashx_new ();
    self->ready_waiters = zlistx_new ();
    self->metrics = metrics_new ();
    self->keys = edge_keys_new ();
    self->public_listener.server = self;
    self->admin_listener.server = self;
    self->admin_listener.admin = true;
    if (!self->openapi_path || !self->waiting || !self->ready_waiters || !self->metrics
    ||  !self->keys) {
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
    metrics_gauge_set (self->metrics, "comptoir_edge_in_flight", NULL, 0);
    metrics_counter_add (self->metrics, "comptoir_edge_auth_failures_total", NULL, 0);

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
    log_info (NULL, "edge listening on %s:%d (admin %s:%d), broker %s, %zu routes, %d consumers",
              settings_get (settings, "edge/address", EDGE_ADDRESS), self->port,
              settings_get (settings, "edge/admin_address", EDGE_ADDRESS), self->admin_port,
              endpoint, edge_routes_size (self->routes), consumers);
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
    zlistx_destroy (&self->ready_waiters);
    json_decref (self->ready_missing);
    free (self->ready_cid);
    free (self->openapi_path);
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
    char request [2048];
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
        int ports [2] = { server ? edge_server_port (server) : -1,
                          server ? edge_server_admin_port (server) : -1 };
        assert (write (ports_pipe [1], ports, sizeof ports) == sizeof ports);
        close (ports_pipe [1]);
        if (server)
            edge_server_run (server, 30000);
        edge_server_destroy (&server);
        settings_destroy (&settings);
        _exit (0);
    }
    close (ports_pipe [1]);
    int ports [2];
    assert (read (ports_pipe [0], ports, sizeof ports) == sizeof ports);
    close (ports_pipe [0]);
    int port = ports [0], admin_port = ports [1];
    assert (port > 0 && admin_port > 0);

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
    //  /health accepts GET only
    s_post (port, "POST", "/health", NULL, "", response, sizeof response);
    assert (s_status_of (response) == 405 && strstr (response, "Allow: GET"));

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

    kill (child, SIGTERM);
    int status = 0;
    assert (waitpid (child, &status, 0) == child);
    assert (WIFEXITED (status) && WEXITSTATUS (status) == 0);

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
