/*  =========================================================================
    envelope - the message that travels between Comptoir processes

    One msgpack map in one ZeroMQ frame, after the Majordomo protocol frames
    (CURVE costs per frame, so everything rides in one). A request names a
    verb and carries the caller's identity, a correlation id, the edge's
    request id, a deadline and a retry marker; a reply carries an HTTP-like
    status and either a body or an error {code, message, details}.

    In memory the body is a jansson value: handlers work with JSON-shaped
    data, and the edge turns HTTP JSON into envelopes without a second model.
    Decoding never trusts its input: the bytes are walked once to check that
    every length fits in what is left before msgpack-c allocates anything.
    =========================================================================
*/
#ifndef COMPTOIR_ENVELOPE_H
#define COMPTOIR_ENVELOPE_H

#include <czmq.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define ENVELOPE_VERSION 1
//  Hard limits on what decode accepts.
#define ENVELOPE_MAX_SIZE     (4 * 1024 * 1024)
#define ENVELOPE_MAX_DEPTH    32
#define ENVELOPE_MAX_STRING   256     //  for header fields; body strings may be longer

typedef enum { ENVELOPE_REQUEST = 1, ENVELOPE_REPLY = 2 } envelope_kind_t;

typedef struct {
    envelope_kind_t kind;
    int version;
    char *verb;             //  request: "product.get"; reply: copied from request
    char *cid;              //  correlation id, matches a reply to its request
    char *rid;              //  request id from the edge, for logs
    int64_t deadline;       //  ms since the epoch (zclock_time), 0 = none
    //  the caller's identity
    char *sub;              //  account id, or NULL
    char *role;             //  customer, cashier, manager, admin, or NULL
    int64_t store_id;       //  0 = none
    char *consumer;         //  API consumer name, or NULL
    bool retryable;         //  safe to hand to another worker if one dies
    char *idem_key;         //  Idempotency-Key, or NULL
    //  reply fields
    int status;             //  HTTP-like status, 0 on requests
    json_t *body;           //  owned; may be NULL
    json_t *error;          //  reply only: {code, message, details}; owned
} envelope_t;

//  Create a request for a verb. Fills a fresh random correlation id.
envelope_t *envelope_new_request (const char *verb);

//  Create a reply to a request. Takes ownership of body (may be NULL).
envelope_t *envelope_new_reply (const envelope_t *request, int status, json_t *body);

//  Create an error reply: {code, message, details}. Takes ownership of details
//  (may be NULL). request may be NULL (then cid is empty).
envelope_t *envelope_new_error (const envelope_t *request, int status,
                                const char *code, const char *message, json_t *details);

//  Deep copy.
envelope_t *envelope_dup (const envelope_t *self);

void envelope_destroy (envelope_t **self_p);

//  Set a string field (frees the old value). Returns 0 or -1.
int envelope_set_str (char **field, const char *value);

//  Encode to one frame. Returns NULL if the envelope cannot be encoded.
zframe_t *envelope_encode (const envelope_t *self);

//  Decode a frame. Returns NULL on any malformed input; when error is not
//  NULL it receives a short static reason ("truncated", "bad type: verb"...).
envelope_t *envelope_decode (const byte *data, size_t size, const char **error);

//  Read only what a router needs from an encoded envelope, without building
//  the body: the retry marker, the deadline (0 = none) and the correlation
//  id (copied into cid, NUL-terminated; cid_size must hold 257 bytes to be
//  sure of room). The whole frame is checked as decode checks it (sizes,
//  nesting, trailing bytes, header fields' types and ranges, required
//  fields), except that body and error values are not converted to JSON.
//  Returns the kind (ENVELOPE_REQUEST or ENVELOPE_REPLY), or -1 when the
//  frame is not an envelope (then the outputs are left alone).
int envelope_peek (const byte *data, size_t size, bool *retryable, int64_t *deadline,
                   char *cid, size_t cid_size);

//  Convert between a jansson value and msgpack bytes (used by the envelope
//  and by anyone who stores bodies). pack returns 0 / -1.
int  envelope_json_pack (const json_t *value, void *packer);
json_t *envelope_json_unpack (const void *object, int depth);

//  True when the deadline has passed.
bool envelope_expired (const envelope_t *self, int64_t now_ms);

void envelope_test (bool verbose);

#endif
