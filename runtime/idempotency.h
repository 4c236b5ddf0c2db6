/*  =========================================================================
    idempotency - Idempotency-Key for the writes that must happen once

    API.md: the first answer to a key is stored for 24 h and played again to
    a repeat of the same request (marked Idempotent-Replayed: true); the
    same key with another request answers 422; a repeat while the first is
    still running answers 409 idempotency_key_in_use. Keys are scoped to the
    caller (its sub). Checkout, point-of-sale sales and returns work alike,
    so the rules live here once, over a table every such context has:

        idempotency_keys (scope, key, request_hash, status 'running'|'done',
                          response jsonb, created_at), PRIMARY KEY (scope, key)

    One row per (scope, key) taken with INSERT ... ON CONFLICT: of many
    concurrent attempts exactly one runs. 5xx answers are not stored: the
    client may try again with the same key.
    =========================================================================
*/
#ifndef COMPTOIR_IDEMPOTENCY_H
#define COMPTOIR_IDEMPOTENCY_H

#include "envelope.h"
#include "pgdb.h"

typedef enum {
    IDEMPOTENCY_OWNED,          //  this request runs; finish it with idempotency_finish
    IDEMPOTENCY_REPLY,          //  *reply is the answer: stored, 409 or 422
    IDEMPOTENCY_FAILED          //  the database failed
} idempotency_claim_t;

//  NULL when the request carries a usable Idempotency-Key (1 to 255
//  printable ASCII characters), else the reply: 400 missing_idempotency_key
//  (what names the operation in the message: "checkout") or validation_failed.
envelope_t *idempotency_key_check (const envelope_t *request, const char *what);

//  The request's fingerprint: a hash of value serialized with sorted keys,
//  64 hex digits and a NUL.
void idempotency_fingerprint (const json_t *value, char hash [65]);

//  Take the key of request (scope request->sub) for the request whose
//  fingerprint is hash, or make the reply a repeat gets (a stored answer
//  carries the request's idem_key in the reply: the edge's replay marker).
idempotency_claim_t idempotency_claim (pgdb_t *db, const envelope_t *request, const char *hash,
                                       envelope_t **reply);

//  Store the first answer (2xx-4xx), or let the key go (5xx: try again).
void idempotency_finish (pgdb_t *db, const envelope_t *request, const envelope_t *reply);

//  Store status and body as the first answer to (scope, key) of verb, as
//  the handler would have done (a recovery sweep that finished a request
//  whose worker died). Takes ownership of body. 0 / -1.
int idempotency_store (pgdb_t *db, const char *verb, const char *scope, const char *key,
                       int status, json_t *body);

//  Let a running key go (the request it guarded left nothing behind).
//  0 / -1.
int idempotency_forget (pgdb_t *db, const char *scope, const char *key);

//  Delete up to limit keys past their 24 hours (the claim already treats
//  them as free; this keeps the table small). 0 / -1.
int idempotency_expire (pgdb_t *db, int limit);

#endif
