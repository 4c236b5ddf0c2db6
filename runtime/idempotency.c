/*  =========================================================================
    idempotency - Idempotency-Key for the writes that must happen once

    A key older than 24 hours is taken again by a new request as if it were
    free (the claim's ON CONFLICT ... WHERE): the contexts' sweeps delete
    old rows only to keep the table small.
    =========================================================================
*/
#include "idempotency.h"
#include "logline.h"
#include "request_input.h"

#include <sodium.h>
#include <string.h>

#define IDEMPOTENCY_KEY_MAX 255

//  --------------------------------------------------------------------------

envelope_t *
idempotency_key_check (const envelope_t *request, const char *what)
{
    const char *key = request->idem_key;
    if (!key || !*key) {
        char message [128];
        snprintf (message, sizeof message, "%s needs an Idempotency-Key header", what);
        return envelope_new_error (request, 400, "missing_idempotency_key", message, NULL);
    }
    size_t length = strlen (key);
    bool printable = length <= IDEMPOTENCY_KEY_MAX;
    for (size_t i = 0; printable && i < length; i++)
        printable = key [i] >= 0x21 && key [i] <= 0x7e;
    if (printable)
        return NULL;
    json_t *details = json_array ();
    request_input_problem (details, "Idempotency-Key", "must be 1 to 255 printable characters");
    return request_input_invalid (request, details);
}

//  --------------------------------------------------------------------------

void
idempotency_fingerprint (const json_t *value, char hash [65])
{
    char *text = value ? json_dumps (value, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;
    unsigned char digest [32];
    crypto_generichash (digest, sizeof digest, (const unsigned char *) (text ? text : ""),
                        text ? strlen (text) : 0, NULL, 0);
    sodium_bin2hex (hash, 65, digest, sizeof digest);
    free (text);
}

//  --------------------------------------------------------------------------
//  The stored answer, played again for request.
static envelope_t *
s_replay (const envelope_t *request, const char *response)
{
    json_t *stored = json_loads (response, 0, NULL);
    int status = (int) json_integer_value (json_object_get (stored, "status"));
    json_t *error = json_object_get (stored, "error");
    envelope_t *reply;
    if (error) {
        reply = envelope_new_error (request, status, "replayed", "", NULL);
        if (reply) {
            json_decref (reply->error);
            reply->error = json_incref (error);
        }
    }
    else
        reply = envelope_new_reply (request, status, json_incref (json_object_get (stored, "body")));
    //  The replay marker for the edge (Idempotent-Replayed: true).
    if (reply)
        envelope_set_str (&reply->idem_key, request->idem_key);
    json_decref (stored);
    return reply;
}

//  --------------------------------------------------------------------------

idempotency_claim_t
idempotency_claim (pgdb_t *db, const envelope_t *request, const char *hash, envelope_t **reply)
{
    const char *params [] = { request->sub ? request->sub : "", request->idem_key, hash };
    PGresult *res = pgdb_exec (db, "idempotency_claim",
        "INSERT INTO idempotency_keys (scope, key, request_hash) VALUES ($1, $2, $3) "
        "ON CONFLICT (scope, key) DO UPDATE SET request_hash = EXCLUDED.request_hash, "
        "  status = 'running', response = NULL, created_at = now () "
        "  WHERE idempotency_keys.created_at < now () - interval '24 hours' "
        "RETURNING 1", 3, params);
    if (!res)
        return IDEMPOTENCY_FAILED;
    bool owned = PQntuples (res) == 1;
    PQclear (res);
    if (owned)
        return IDEMPOTENCY_OWNED;
    res = pgdb_exec (db, "idempotency_read",
        "SELECT request_hash, status, response::text FROM idempotency_keys "
        "WHERE scope = $1 AND key = $2", 2, params);
    if (!res)
        return IDEMPOTENCY_FAILED;
    if (PQntuples (res) == 0 || streq (PQgetvalue (res, 0, 1), "running"))
        *reply = envelope_new_error (request, 409, "idempotency_key_in_use",
                                     "a request with this Idempotency-Key is still running", NULL);
    else
    if (!streq (PQgetvalue (res, 0, 0), hash))
        *reply = envelope_new_error (request, 422, "idempotency_key_reused",
                                     "this Idempotency-Key was used with another request", NULL);
    else
        *reply = s_replay (request, PQgetvalue (res, 0, 2));
    PQclear (res);
    return *reply ? IDEMPOTENCY_REPLY : IDEMPOTENCY_FAILED;
}

//  --------------------------------------------------------------------------

int
idempotency_forget (pgdb_t *db, const char *scope, const char *key)
{
    const char *params [] = { scope, key };
    PGresult *res = pgdb_exec (db, "idempotency_forget",
                               "DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2", 2, params);
    if (!res)
        return -1;
    PQclear (res);
    return 0;
}

//  --------------------------------------------------------------------------

void
idempotency_finish (pgdb_t *db, const envelope_t *request, const envelope_t *reply)
{
    const char *scope = request->sub ? request->sub : "";
    int rc;
    if (reply->status >= 500)
        rc = idempotency_forget (db, scope, request->idem_key);
    else {
        json_t *stored = reply->error
            ? json_pack ("{s:i, s:O}", "status", reply->status, "error", reply->error)
            : json_pack ("{s:i, s:O?}", "status", reply->status, "body", reply->body);
        char *text = stored ? json_dumps (stored, JSON_COMPACT) : NULL;
        const char *params [] = { scope, request->idem_key, text };
        PGresult *res = text ? pgdb_exec (db, "idempotency_done",
                                          "UPDATE idempotency_keys SET status = 'done', response = $3::jsonb "
                                          "WHERE scope = $1 AND key = $2", 3, params) : NULL;
        rc = res ? 0 : -1;
        if (res)
            PQclear (res);
        free (text);
        json_decref (stored);
    }
    if (rc)
        log_warn (request->rid, "idempotency key not settled: %s", pgdb_error (db));
}

//  --------------------------------------------------------------------------

int
idempotency_store (pgdb_t *db, const char *verb, const char *scope, const char *key,
                   int status, json_t *body)
{
    envelope_t *first = envelope_new_request (verb);
    if (!first) {
        json_decref (body);
        return -1;
    }
    envelope_set_str (&first->sub, scope);
    envelope_set_str (&first->idem_key, key);
    envelope_t *reply = envelope_new_reply (first, status, body);
    int rc = reply ? 0 : -1;
    if (reply)
        idempotency_finish (db, first, reply);
    envelope_destroy (&reply);
    envelope_destroy (&first);
    return rc;
}

//  --------------------------------------------------------------------------

int
idempotency_expire (pgdb_t *db, int limit)
{
    char count [24];
    snprintf (count, sizeof count, "%d", limit);
    const char *params [] = { count };
    PGresult *res = pgdb_exec (db, "idempotency_expire",
        "DELETE FROM idempotency_keys WHERE ctid = ANY (ARRAY ("
        "  SELECT ctid FROM idempotency_keys WHERE created_at < now () - interval '24 hours' "
        "    AND status = 'done' LIMIT $1::integer))", 1, params);
    if (!res)
        return -1;
    PQclear (res);
    return 0;
}
