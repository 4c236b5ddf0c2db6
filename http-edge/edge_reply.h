/*  =========================================================================
    edge_reply - what the edge answers, before it becomes an HTTP response

    Every answer the edge gives (a context's reply, a broker error, the
    edge's own 4xx) is first built here as a plain struct: status, compact
    JSON body, and the few headers that depend on it (Location, Allow,
    WWW-Authenticate, Retry-After). Keeping libmicrohttpd out of this class
    lets the unit tests check the exact bodies of API.md without a socket,
    and gives the server one place that turns a reply into a response.
    Also here: request ids (validation of the client's, UUID v4 otherwise)
    and the checks on request bodies (Content-Type, JSON depth).
    =========================================================================
*/
#ifndef COMPTOIR_EDGE_REPLY_H
#define COMPTOIR_EDGE_REPLY_H

#include "envelope.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

//  A request id: at most this many printable characters [A-Za-z0-9._-].
#define EDGE_RID_MAX    128
//  Deepest JSON nesting accepted in a request body.
#define EDGE_JSON_MAX_DEPTH 32

typedef struct {
    int status;                     //  HTTP status
    char *body;                     //  owned; NULL for no body (204)
    size_t body_size;
    const char *content_type;       //  static string
    char *location;                 //  owned, or NULL
    char *allow;                    //  owned, or NULL (405)
    const char *www_authenticate;   //  static string, or NULL (401, 403)
    bool retry_after;               //  503, 429: the server adds Retry-After
    int64_t retry_after_s;          //  its value when > 0, else the server's default
    bool replayed;                  //  an idempotent context replayed a stored answer:
                                    //  Idempotent-Replayed: true
} edge_reply_t;

//  A JSON reply: body is serialized compactly (NULL body: no body).
//  Does not take ownership of body. Returns NULL on allocation failure.
edge_reply_t *edge_reply_json (int status, const json_t *body);

//  A raw reply (text/plain metrics, YAML...). Copies the bytes.
edge_reply_t *edge_reply_raw (int status, const char *content_type,
                              const char *data, size_t size);

//  An error reply, body {"error": {code, message, request_id, details}}.
//  Takes ownership of details (NULL gives []). Sets the headers that the
//  status implies (WWW-Authenticate on 401, Retry-After on 503).
edge_reply_t *edge_reply_error (int status, const char *code, const char *message,
                                const char *rid, json_t *details);

//  Turn a context's reply envelope into a reply. Errors (status >= 400,
//  or a missing/invalid status) become the error shape with rid; a 201 whose
//  body has an "id" gets Location: <path>/<id>; 204 has no body; a body
//  that is a JSON string is sent as that text, text/plain; charset=utf-8
//  (the point of sale's receipts).
edge_reply_t *edge_reply_from_envelope (const envelope_t *envelope, const char *rid,
                                        const char *path);

//  The same, with a route's location rule for a 201 with an "id": NULL
//  for <path>/<id>, "" for no Location, else a path in which {id} is
//  replaced by the id. Also: a 429 whose details hold
//  {"field":"retry_after_s","problem":"<n>"} gets Retry-After: n, a
//  context's 401 asks for a Bearer token, and a reply that carries the
//  request's Idempotency-Key (the context's mark of a stored answer played
//  again) is flagged replayed.
edge_reply_t *edge_reply_from_envelope_at (const envelope_t *envelope, const char *rid,
                                           const char *path, const char *location);

void edge_reply_destroy (edge_reply_t **self_p);

//  The error code API.md gives a status when the context named none.
const char *edge_reply_code_for_status (int status);

//  True when rid is acceptable as a request id from a client.
bool edge_rid_valid (const char *rid);

//  Write a new random UUID v4 (36 chars + NUL) into rid.
void edge_rid_new (char rid [37]);

//  The same from 16 random bytes the caller drew (the server draws them
//  in batches: one system call per request is a cost at 30k requests/s).
void edge_rid_from_bytes (char rid [37], const unsigned char bytes [16]);

//  True when a Content-Type header says application/json (parameters such
//  as charset=utf-8 allowed, case-insensitive).
bool edge_content_type_is_json (const char *content_type);

//  True when value nests no deeper than max_depth (a scalar is depth 0,
//  {} or [] is depth 1).
bool edge_json_depth_ok (const json_t *value, int max_depth);

void edge_reply_test (bool verbose);

#endif
