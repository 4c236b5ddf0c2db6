/*  =========================================================================
    edge_reply - what the edge answers, before it becomes an HTTP response

    The error shape is built in one function, edge_reply_error, so that no
    path of the edge can answer an error in another shape. A context's
    reply is trusted for its status only within 100..599; anything else
    from upstream is a bad gateway, since a broken worker must not make
    the edge send a broken HTTP status. See edge_reply.h.
    =========================================================================
*/
#include "edge_reply.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>
#include <strings.h>

static const char *s_json_type = "application/json";

//  --------------------------------------------------------------------------

static edge_reply_t *
s_reply_new (int status, const char *content_type)
{
    edge_reply_t *self = (edge_reply_t *) zmalloc (sizeof (edge_reply_t));
    self->status = status;
    self->content_type = content_type;
    return self;
}

//  --------------------------------------------------------------------------
//  Destroy a reply.

void
edge_reply_destroy (edge_reply_t **self_p)
{
    assert (self_p);
    edge_reply_t *self = *self_p;
    if (!self)
        return;
    free (self->body);
    free (self->location);
    free (self->allow);
    free (self);
    *self_p = NULL;
}

//  --------------------------------------------------------------------------
//  A JSON reply.

edge_reply_t *
edge_reply_json (int status, const json_t *body)
{
    edge_reply_t *self = s_reply_new (status, s_json_type);
    if (self && body && status != 204 && status != 304) {
        //  15 significant digits: a double prints as the decimal it came
        //  from (163.3, not 163.30000000000001); money is never a real.
        self->body = json_dumps (body, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION (15));
        if (!self->body) {
            edge_reply_destroy (&self);
            return NULL;
        }
        self->body_size = strlen (self->body);
    }
    return self;
}

//  --------------------------------------------------------------------------
//  A raw reply.

edge_reply_t *
edge_reply_raw (int status, const char *content_type, const char *data, size_t size)
{
    edge_reply_t *self = s_reply_new (status, content_type);
    if (!self)
        return NULL;
    self->body = (char *) malloc (size + 1);
    if (!self->body) {
        edge_reply_destroy (&self);
        return NULL;
    }
    if (size)
        memcpy (self->body, data, size);
    self->body [size] = 0;
    self->body_size = size;
    return self;
}

//  --------------------------------------------------------------------------
//  The code for a status, when the reply carries none.

const char *
edge_reply_code_for_status (int status)
{
    switch (status) {
        case 400: return "validation_failed";
        case 401: return "unauthorized";
        case 402: return "payment_declined";
        case 403: return "forbidden";
        case 404: return "not_found";
        case 405: return "method_not_allowed";
        case 409: return "conflict";
        case 413: return "payload_too_large";
        case 414: return "uri_too_long";
        case 415: return "unsupported_media_type";
        case 422: return "idempotency_key_reused";
        case 429: return "rate_limited";
        case 431: return "header_fields_too_large";
        case 502: return "bad_gateway";
        case 503: return "service_unavailable";
        case 504: return "upstream_timeout";
        default:  return status >= 500 ? "internal_error" : "bad_request";
    }
}

//  --------------------------------------------------------------------------
//  An error reply.

edge_reply_t *
edge_reply_error (int status, const char *code, const char *message,
                  const char *rid, json_t *details)
{
    if (!code)
        code = edge_reply_code_for_status (status);
    if (!message)
        message = code;
    if (!details)
        details = json_array ();
    //  Strings from upstream may be invalid UTF-8: json_string would fail,
    //  so fall back to something valid rather than lose the whole answer.
    json_t *code_j = json_string (code);
    json_t *message_j = json_string (message);
    json_t *error = json_pack ("{s:o, s:o, s:s, s:o}",
        "code", code_j ? code_j : json_string (edge_reply_code_for_status (status)),
        "message", message_j ? message_j : json_string ("(unprintable message)"),
        "request_id", rid ? rid : "",
        "details", details);
    json_t *body = error ? json_pack ("{s:o}", "error", error) : NULL;
    edge_reply_t *self = body ? edge_reply_json (status, body) : NULL;
    json_decref (body);
    if (!self)
        return NULL;
    if (status == 401)
        self->www_authenticate = "ApiKey realm=\"comptoir\"";
    if (status == 503 || status == 429)
        self->retry_after = true;
    return self;
}

//  --------------------------------------------------------------------------
//  The seconds a context asks a client to wait, from the details of its
//  429 ([{"field":"retry_after_s","problem":"<n>"}]), or 0.

static int64_t
s_retry_after_of (const json_t *details)
{
    size_t index;
    const json_t *detail;
    json_array_foreach (details, index, detail) {
        const char *field = json_string_value (json_object_get (detail, "field"));
        const char *problem = json_string_value (json_object_get (detail, "problem"));
        if (!field || !streq (field, "retry_after_s") || !problem)
            continue;
        char *end = NULL;
        errno = 0;
        long long seconds = strtoll (problem, &end, 10);
        if (!errno && end != problem && !*end && seconds > 0)
            return seconds > 86400 ? 86400 : (int64_t) seconds;
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Turn a reply envelope into a reply.

edge_reply_t *
edge_reply_from_envelope (const envelope_t *envelope, const char *rid, const char *path)
{
    return edge_reply_from_envelope_at (envelope, rid, path, NULL);
}

edge_reply_t *
edge_reply_from_envelope_at (const envelope_t *envelope, const char *rid, const char *path,
                             const char *location)
{
    assert (envelope);
    int status = envelope->status;
    if (status < 100 || status > 599)
        return edge_reply_error (502, "bad_gateway", "the service gave an invalid answer",
                                 rid, NULL);
    if (status >= 400) {
        const json_t *error = envelope->error;
        const char *code = NULL, *message = NULL;
        json_t *details = NULL;
        if (json_is_object (error)) {
            code = json_string_value (json_object_get (error, "code"));
            message = json_string_value (json_object_get (error, "message"));
            json_t *given = json_object_get (error, "details");
            if (json_is_array (given))
                details = json_incref (given);
        }
        //  API.md has one code each for 503 and 504, whatever the broker or
        //  the client library named them (no_worker, worker_lost...).
        if (status == 503)
            code = "service_unavailable";
        else
        if (status == 504)
            code = "upstream_timeout";
        int64_t retry_after_s = status == 429 ? s_retry_after_of (details) : 0;
        edge_reply_t *self = edge_reply_error (status, code, message, rid, details);
        if (self && status == 401)
            self->www_authenticate = "Bearer realm=\"comptoir\"";
        if (self && status == 403)
            self->www_authenticate = "Bearer realm=\"comptoir\", error=\"insufficient_scope\"";
        if (self) {
            self->retry_after_s = retry_after_s;
            self->replayed = envelope->idem_key != NULL;
        }
        return self;
    }
    //  A text answer (a receipt): a body that is a JSON string goes out
    //  as that text. No JSON API answers a bare string, so nothing else
    //  changes shape.
    edge_reply_t *self = json_is_string (envelope->body)
        ? edge_reply_raw (status, "text/plain; charset=utf-8", json_string_value (envelope->body),
                          json_string_length (envelope->body))
        : edge_reply_json (status, envelope->body);
    if (!self)
        return NULL;
    self->replayed = envelope->idem_key != NULL;
    json_t *id = status == 201 && json_is_object (envelope->body)
               ? json_object_get (envelope->body, "id") : NULL;
    char text [32];
    const char *id_text = NULL;
    if (json_is_integer (id)) {
        snprintf (text, sizeof text, "%" JSON_INTEGER_FORMAT, json_integer_value (id));
        id_text = text;
    }
    else
    if (json_is_string (id))
        id_text = json_string_value (id);
    //  An id that could break out of its header or path is not used.
    if (id_text && (!*id_text || strpbrk (id_text, "\r\n/?# ")))
        id_text = NULL;
    if (id_text && location && *location) {
        const char *slot = strstr (location, "{id}");
        self->location = slot
            ? zsys_sprintf ("%.*s%s%s", (int) (slot - location), location, id_text, slot + 4)
            : strdup (location);
    }
    else
    if (id_text && !location && path)
        self->location = zsys_sprintf ("%s/%s", path, id_text);
    return self;
}

//  --------------------------------------------------------------------------
//  A client's request id: 1..128 characters of [A-Za-z0-9._-].

bool
edge_rid_valid (const char *rid)
{
    if (!rid || !*rid)
        return false;
    size_t len = 0;
    for (const char *c = rid; *c; c++, len++) {
        if (len >= EDGE_RID_MAX)
            return false;
        bool ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z')
               || (*c >= '0' && *c <= '9') || *c == '.' || *c == '_' || *c == '-';
        if (!ok)
            return false;
    }
    return true;
}

//  --------------------------------------------------------------------------
//  A new UUID v4 (RFC 4122): 122 random bits from libsodium.

void
edge_rid_new (char rid [37])
{
    unsigned char bytes [16];
    randombytes_buf (bytes, sizeof bytes);
    edge_rid_from_bytes (rid, bytes);
}

//  --------------------------------------------------------------------------
//  A UUID v4 from 16 random bytes.

void
edge_rid_from_bytes (char rid [37], const unsigned char bytes [16])
{
    static const char hex [] = "0123456789abcdef";
    size_t out = 0;
    for (size_t i = 0; i < 16; i++) {
        unsigned char byte = bytes [i];
        if (i == 6)
            byte = (unsigned char) ((byte & 0x0F) | 0x40);     //  version 4
        if (i == 8)
            byte = (unsigned char) ((byte & 0x3F) | 0x80);     //  variant 10
        if (i == 4 || i == 6 || i == 8 || i == 10)
            rid [out++] = '-';
        rid [out++] = hex [byte >> 4];
        rid [out++] = hex [byte & 0x0F];
    }
    rid [out] = 0;
}

//  --------------------------------------------------------------------------
//  application/json, with or without parameters.

bool
edge_content_type_is_json (const char *content_type)
{
    if (!content_type)
        return false;
    while (*content_type == ' ' || *content_type == '\t')
        content_type++;
    const char *type = "application/json";
    size_t len = strlen (type);
    if (strncasecmp (content_type, type, len) != 0)
        return false;
    char next = content_type [len];
    return next == 0 || next == ';' || next == ' ' || next == '\t';
}

//  --------------------------------------------------------------------------
//  Depth check; recursion is bounded by max_depth, not by the input.

static bool
s_depth_ok (const json_t *value, int depth_left)
{
    if (!json_is_object (value) && !json_is_array (value))
        return true;
    if (depth_left <= 0)
        return false;
    if (json_is_array (value)) {
        size_t index;
        const json_t *item;
        json_array_foreach (value, index, item)
            if (!s_depth_ok (item, depth_left - 1))
                return false;
    }
    else {
        const char *key;
        const json_t *item;
        json_object_foreach ((json_t *) value, key, item)
            if (!s_depth_ok (item, depth_left - 1))
                return false;
    }
    return true;
}

bool
edge_json_depth_ok (const json_t *value, int max_depth)
{
    return s_depth_ok (value, max_depth);
}

//  --------------------------------------------------------------------------
//  Self test

void
edge_reply_test (bool verbose)
{
    printf (" * edge_reply: ");

    //  The error shape of API.md, exactly
    edge_reply_t *reply = edge_reply_error (404, "not_found", "no such route", "rid-1", NULL);
    assert (reply);
    assert (reply->status == 404);
    assert (streq (reply->content_type, "application/json"));
    assert (streq (reply->body, "{\"error\":{\"code\":\"not_found\",\"message\":\"no such route\","
                                "\"request_id\":\"rid-1\",\"details\":[]}}"));
    assert (reply->body_size == strlen (reply->body));
    assert (!reply->www_authenticate && !reply->retry_after && !reply->location);
    edge_reply_destroy (&reply);
    assert (reply == NULL);

    //  401 names the scheme, 503 asks for Retry-After
    reply = edge_reply_error (401, "unauthorized", "missing API key", "r", NULL);
    assert (streq (reply->www_authenticate, "ApiKey realm=\"comptoir\""));
    edge_reply_destroy (&reply);
    reply = edge_reply_error (503, NULL, NULL, "r", NULL);
    assert (reply->retry_after);
    json_t *parsed = json_loads (reply->body, 0, NULL);
    assert (streq (json_string_value (json_object_get (json_object_get (parsed, "error"), "code")),
                   "service_unavailable"));
    json_decref (parsed);
    edge_reply_destroy (&reply);

    //  Details are kept
    reply = edge_reply_error (400, "validation_failed", "bad", "r",
                              json_pack ("[{s:s, s:s}]", "field", "quantity", "problem", "must be > 0"));
    assert (strstr (reply->body, "\"details\":[{\"field\":\"quantity\",\"problem\":\"must be > 0\"}]"));
    edge_reply_destroy (&reply);

    //  Invalid UTF-8 in a message does not lose the answer
    reply = edge_reply_error (409, "conflict", "bad \xff byte", "r", NULL);
    assert (reply && strstr (reply->body, "unprintable"));
    edge_reply_destroy (&reply);

    //  Envelopes: a success body is compact JSON
    envelope_t *request = envelope_new_request ("product.get");
    assert (request);
    envelope_t *envelope = envelope_new_reply (request, 200,
                                               json_pack ("{s:i, s:s}", "id", 7, "name", "Cafe"));
    reply = edge_reply_from_envelope (envelope, "r", "/api/v1/products/7");
    assert (reply->status == 200);
    assert (streq (reply->body, "{\"id\":7,\"name\":\"Cafe\"}"));
    assert (reply->location == NULL);
    assert (!reply->replayed);
    edge_reply_destroy (&reply);
    //  A stored answer played again carries the key: success or error alike
    envelope_set_str (&envelope->idem_key, "key-1");
    reply = edge_reply_from_envelope (envelope, "r", "/api/v1/checkout");
    assert (reply->replayed);
    edge_reply_destroy (&reply);
    envelope_destroy (&envelope);
    envelope = envelope_new_error (request, 402, "payment_declined", "declined", NULL);
    envelope_set_str (&envelope->idem_key, "key-1");
    reply = edge_reply_from_envelope (envelope, "r", "/api/v1/checkout");
    assert (reply->status == 402 && reply->replayed);
    edge_reply_destroy (&reply);
    envelope_destroy (&envelope);

    //  201 with an id gets a Location
    envelope = envelope_new_reply (request, 201, json_pack ("{s:i}", "id", 12));
    reply = edge_reply_from_envelope (envelope, "r", "/api/v1/products");
    assert (reply->status == 201);
    assert (streq (reply->location, "/api/v1/products/12"));
    edge_reply_destroy (&reply);
    envelope_destroy (&envelope);

    //  A route's own Location rule, or none; an id that is no path segment
    envelope = envelope_new_reply (request, 201, json_pack ("{s:i}", "id", 12));
    reply = edge_reply_from_envelope_at (envelope, "r", "/api/v1/auth/register", "/api/v1/customers/{id}");
    assert (streq (reply->location, "/api/v1/customers/12"));
    edge_reply_destroy (&reply);
    reply = edge_reply_from_envelope_at (envelope, "r", "/api/v1/auth/register", "");
    assert (reply->location == NULL);
    edge_reply_destroy (&reply);
    envelope_destroy (&envelope);
    envelope = envelope_new_reply (request, 201, json_pack ("{s:s}", "id", "a\r\nSet-Cookie: x"));
    reply = edge_reply_from_envelope (envelope, "r", "/api/v1/carts");
    assert (reply->location == NULL);
    edge_reply_destroy (&reply);
    envelope_destroy (&envelope);
    envelope = envelope_new_reply (request, 201, json_pack ("{s:s}", "id", "Ab_12-x"));
    reply = edge_reply_from_envelope (envelope, "r", "/api/v1/carts");
    assert (streq (reply->location, "/api/v1/carts/Ab_12-x"));
    edge_reply_destroy (&reply);
    envelope_destroy (&envelope);

    //  A context's 429 with retry_after_s: Retry-After with its value;
    //  its 401 asks for a Bearer token, its 403 says the scope is short
    envelope = envelope_new_error (request, 429, "rate_limited", "locked",
                                   json_pack ("[{s:s, s:s}]", "field", "retry_after_s", "problem", "42"));
    reply = edge_reply_from_envelope (envelope, "r", "/x");
    assert (reply->status == 429 && reply->retry_after && reply->retry_after_s == 42);
    edge_reply_destroy (&reply);
    envelope_destroy (&envelope);
    envelope = envelope_new_error (request, 429, "rate_limited", "locked",
                                   json_pack ("[{s:s, s:s}]", "field", "retry_after_s", "problem", "-3"));
    reply = edge_reply_from_envelope (envelope, "r", "/x");
    assert (reply->retry_after && reply->retry_after_s == 0);
    edge_reply_destroy (&reply);
    envelope_destroy (&envelope);
    envelope = envelope_new_error (request, 401, "unauthorized", "wrong password", NULL);
    reply = edge_reply_from_envelope (envelope, "r", "/x");
    assert (streq (reply->www_authenticate, "Bearer realm=\"comptoir\""));
    edge_reply_destroy (&reply);
    envelope_destroy (&envelope);
    envelope = envelope_new_error (request, 403, "forbidden", "not yours", NULL);
    reply = edge_reply_from_envelope (envelope, "r", "/x");
    assert (strstr (reply->www_authenticate, "insufficient_scope"));
    edge_reply_destroy (&reply);
    envelope_destroy (&envelope);
    assert (streq (edge_reply_code_for_status (414), "uri_too_long"));
    assert (streq (edge_reply_code_for_status (431), "header_fields_too_large"));

    //  204 has no body
    envelope = envelope_new_reply (request, 204, json_object ());
    reply = edge_reply_from_envelope (envelope, "r", "/x");
    assert (reply->status == 204 && reply->body == NULL && reply->body_size == 0);
    edge_reply_destroy (&reply);
    envelope_destroy (&envelope);

    //  A context's error keeps its code and message, gets the request id
    envelope = envelope_new_error (request, 409, "out_of_stock", "not enough",
                                   json_pack ("[{s:i}]", "product_id", 3));
    reply = edge_reply_from_envelope (envelope, "rid-9", "/x");
    assert (reply->status == 409);
    parsed = json_loads (reply->body, 0, NULL);
    json_t *error = json_object_get (parsed, "error");
    assert (streq (json_string_value (json_object_get (error, "code")), "out_of_stock"));
    assert (streq (json_string_value (json_object_get (error, "message")), "not enough"));
    assert (streq (json_string_value (json_object_get (error, "request_id")), "rid-9"));
    assert (json_array_size (json_object_get (error, "details")) == 1);
    json_decref (parsed);
    edge_reply_destroy (&reply);
    envelope_destroy (&envelope);

    //  Broker errors map to the codes of API.md
    envelope = envelope_new_error (request, 503, "no_worker", "no worker for product", NULL);
    reply = edge_reply_from_envelope (envelope, "r", "/x");
    assert (reply->status == 503 && reply->retry_after);
    assert (strstr (reply->body, "\"code\":\"service_unavailable\""));
    edge_reply_destroy (&reply);
    envelope_destroy (&envelope);
    envelope = envelope_new_error (request, 504, "timeout", "deadline passed", NULL);
    reply = edge_reply_from_envelope (envelope, "r", "/x");
    assert (reply->status == 504);
    assert (strstr (reply->body, "\"code\":\"upstream_timeout\""));
    edge_reply_destroy (&reply);
    envelope_destroy (&envelope);

    //  An error status without an error object still has the shape
    envelope = envelope_new_reply (request, 404, NULL);
    reply = edge_reply_from_envelope (envelope, "r", "/x");
    assert (strstr (reply->body, "\"code\":\"not_found\""));
    edge_reply_destroy (&reply);
    envelope_destroy (&envelope);

    //  A nonsense status is a bad gateway
    envelope = envelope_new_reply (request, 0, NULL);
    reply = edge_reply_from_envelope (envelope, "r", "/x");
    assert (reply->status == 502);
    edge_reply_destroy (&reply);
    envelope_destroy (&envelope);
    envelope_destroy (&request);

    //  Raw replies
    reply = edge_reply_raw (200, "text/plain", "abc", 3);
    assert (reply->body_size == 3 && streq (reply->body, "abc"));
    edge_reply_destroy (&reply);

    //  A context's text answer: a string body goes out as text/plain
    request = envelope_new_request ("sale.receipt");
    envelope = envelope_new_reply (request, 200, json_string ("  Montr\xc3\xa9" "al\nTOTAL 1.00\n"));
    reply = edge_reply_from_envelope (envelope, "r", "/api/v1/sales/1/receipt");
    assert (reply->status == 200 && streq (reply->content_type, "text/plain; charset=utf-8"));
    assert (streq (reply->body, "  Montr\xc3\xa9" "al\nTOTAL 1.00\n") && reply->body_size == 23);
    edge_reply_destroy (&reply);
    envelope_destroy (&envelope);
    envelope_destroy (&request);

    //  Request ids
    assert (edge_rid_valid ("abc-DEF_1.2"));
    assert (!edge_rid_valid (""));
    assert (!edge_rid_valid (NULL));
    assert (!edge_rid_valid ("a b"));
    assert (!edge_rid_valid ("a\"b"));
    assert (!edge_rid_valid ("a\nb"));
    assert (!edge_rid_valid ("caf\xc3\xa9"));
    char long_rid [EDGE_RID_MAX + 2];
    memset (long_rid, 'a', EDGE_RID_MAX);
    long_rid [EDGE_RID_MAX] = 0;
    assert (edge_rid_valid (long_rid));
    long_rid [EDGE_RID_MAX] = 'a';
    long_rid [EDGE_RID_MAX + 1] = 0;
    assert (!edge_rid_valid (long_rid));

    char rid1 [37], rid2 [37];
    edge_rid_new (rid1);
    edge_rid_new (rid2);
    assert (strlen (rid1) == 36);
    assert (!streq (rid1, rid2));
    assert (rid1 [8] == '-' && rid1 [13] == '-' && rid1 [18] == '-' && rid1 [23] == '-');
    assert (rid1 [14] == '4');
    assert (strchr ("89ab", rid1 [19]));
    assert (edge_rid_valid (rid1));
    unsigned char ones [16];
    memset (ones, 0xFF, sizeof ones);
    edge_rid_from_bytes (rid1, ones);
    assert (streq (rid1, "ffffffff-ffff-4fff-bfff-ffffffffffff"));
    memset (ones, 0, sizeof ones);
    edge_rid_from_bytes (rid1, ones);
    assert (streq (rid1, "00000000-0000-4000-8000-000000000000"));

    //  Content types
    assert (edge_content_type_is_json ("application/json"));
    assert (edge_content_type_is_json ("Application/JSON; charset=utf-8"));
    assert (!edge_content_type_is_json ("application/jsonp"));
    assert (!edge_content_type_is_json ("text/plain"));
    assert (!edge_content_type_is_json ("application/x-www-form-urlencoded"));
    assert (!edge_content_type_is_json (NULL));

    //  JSON depth
    json_t *flat = json_pack ("{s:i}", "a", 1);
    assert (edge_json_depth_ok (flat, 1));
    assert (!edge_json_depth_ok (flat, 0));
    json_decref (flat);
    json_t *scalar = json_integer (1);
    assert (edge_json_depth_ok (scalar, 0));
    json_decref (scalar);
    //  33 nested arrays fail at 32, 32 pass
    char deep [80];
    memset (deep, '[', 33);
    memset (deep + 33, ']', 33);
    deep [66] = 0;
    json_t *nested = json_loads (deep, 0, NULL);
    assert (nested);
    assert (!edge_json_depth_ok (nested, EDGE_JSON_MAX_DEPTH));
    assert (edge_json_depth_ok (nested, 33));
    json_decref (nested);
    memset (deep, '[', 32);
    memset (deep + 32, ']', 32);
    deep [64] = 0;
    nested = json_loads (deep, 0, NULL);
    assert (edge_json_depth_ok (nested, EDGE_JSON_MAX_DEPTH));
    json_decref (nested);
    printf ("OK\n");
}
