/*  =========================================================================
    auth_verbs - the handlers of the auth.* verbs

    Why it is built this way:

    - A login answers the same 401 for an unknown name and a wrong password,
      and takes the same time: an unknown name is checked against a dummy
      Argon2id hash of the same cost, so neither the body nor the clock
      tells an attacker which accounts exist.
    - Attempts are counted in the database before the password is checked
      (customer_login_attempt), so that attempts arriving together cannot
      slip past the limit, and every worker of every instance agrees. After
      lockout_failures failures within lockout_window_s the name is refused
      for lockout_s (429, with retry_after_s in the details for the edge's
      Retry-After); a success clears the count. Unknown names are counted
      too, or a 429 would reveal which names exist.
    - Before the lockout, failures are slowed: from the slowdown_after-th
      failure the name must wait slowdown_base_s, then twice as long after
      each further failure (0002_login_slowdown.sql). The wait is a time kept
      with the name, never a sleep: a worker holds one request at a time and
      the broker expires a silent one, so an attempt inside the wait is
      answered 429 at once, without checking the password or counting it.
    - Hashes are checked outside any transaction: Argon2id takes tens of
      milliseconds, and no row lock is held meanwhile.
    - Tokens carry sub as a string, role, store_id for staff, iat, nbf
      (= iat), exp, iss, aud and a random 128-bit jti (customer_keys signs).
    =========================================================================
*/
#include "auth_verbs.h"
#include "customer_context.h"
#include "customer_input.h"
#include "customer_verbs.h"
#include "logline.h"

#include <string.h>
#include <time.h>

#define STAFF_COLUMNS "id, username, role, store_id, password_hash"

static const char *const s_register_fields [] = {
    "email", "password", "first_name", "last_name", "phone", "province", NULL
};
static const char *const s_login_fields [] = { "email", "password", NULL };
static const char *const s_staff_login_fields [] = { "username", "password", NULL };

//  --------------------------------------------------------------------------
//  A password field: a string of 1 (min_len) to CUSTOMER_PASSWORD_MAX
//  characters, taken as typed (never trimmed). NULL with a detail otherwise.

static const char *
s_password (json_t *data, size_t min_len, json_t *details)
{
    json_t *value = json_object_get (data, "password");
    if (!value) {
        request_input_problem (details, "password", "is required");
        return NULL;
    }
    if (!json_is_string (value)) {
        request_input_problem (details, "password", "must be a string");
        return NULL;
    }
    const char *text = json_string_value (value);
    if (strlen (text) != json_string_length (value)) {
        request_input_problem (details, "password", "must not contain NUL characters");
        return NULL;
    }
    size_t characters = 0;
    for (const char *c = text; *c; c++)
        characters += ((unsigned char) *c & 0xC0) != 0x80;
    if (characters < min_len) {
        char problem [64];
        snprintf (problem, sizeof problem, "must be at least %zu characters", min_len);
        request_input_problem (details, "password", problem);
        return NULL;
    }
    if (characters > CUSTOMER_PASSWORD_MAX) {
        request_input_problem (details, "password", "must be at most 256 characters");
        return NULL;
    }
    return text;
}

//  --------------------------------------------------------------------------
//  Sign a token for an account: {token, token_type, expires_in}, or NULL.

static json_t *
s_issue (customer_state_t *self, const char *sub, const char *role, const char *store_id,
         int64_t ttl_s)
{
    unsigned char random [16];
    char jti [33];
    randombytes_buf (random, sizeof random);
    sodium_bin2hex (jti, sizeof jti, random, sizeof random);
    json_int_t now = (json_int_t) time (NULL);
    json_t *claims = json_pack ("{s:s, s:s, s:I, s:I, s:I, s:s, s:s, s:s}",
                                "sub", sub, "role", role, "iat", now, "nbf", now,
                                "exp", now + (json_int_t) ttl_s,
                                "iss", self->auth.issuer, "aud", self->auth.audience, "jti", jti);
    if (claims && store_id)
        json_object_set_new (claims, "store_id", json_integer ((json_int_t) strtoll (store_id, NULL, 10)));
    char *token = claims ? customer_keys_sign (self->keys, claims) : NULL;
    json_decref (claims);
    if (!token) {
        log_error (NULL, "auth: cannot sign a token (no usable key in the jwt keys folder?)");
        return NULL;
    }
    json_t *answer = json_pack ("{s:s, s:s, s:I}", "token", token, "token_type", "Bearer",
                                "expires_in", (json_int_t) ttl_s);
    free (token);
    return answer;
}

//  --------------------------------------------------------------------------

envelope_t *
auth_register (const envelope_t *request, void *state)
{
    customer_state_t *self = (customer_state_t *) state;
    json_t *details = json_array ();
    json_t *data = request_input_object (request, details);
    char *email = NULL, *first_name = NULL, *last_name = NULL, *phone = NULL, *province = NULL;
    const char *password = NULL;
    char province_code [3] = "QC";
    if (data) {
        request_input_unknown_fields (data, s_register_fields, details);
        email = customer_input_text (data, "email", 3, CUSTOMER_EMAIL_MAX, true, false, NULL, details);
        if (email)
            customer_input_email (email, "email", details);
        password = s_password (data, CUSTOMER_PASSWORD_MIN, details);
        first_name = customer_input_text (data, "first_name", 1, 100, true, false, NULL, details);
        last_name = customer_input_text (data, "last_name", 1, 100, true, false, NULL, details);
        phone = customer_input_text (data, "phone", 1, 32, false, true, NULL, details);
        if (phone)
            customer_input_phone (phone, "phone", details);
        province = customer_input_text (data, "province", 2, 2, false, false, NULL, details);
        if (province)
            customer_input_province (province, "province", province_code, details);
    }
    envelope_t *reply = NULL;
    char hash [crypto_pwhash_STRBYTES];
    if (json_array_size (details))
        reply = request_input_invalid (request, details);
    else {
        json_decref (details);
        if (customer_password_hash (&self->auth.cost, password, hash))
            reply = envelope_new_error (request, 503, "service_unavailable",
                                        "cannot hash the password now, try again", NULL);
    }
    if (!reply) {
        const char *params [] = { email, hash, first_name, last_name, phone, province_code };
        PGresult *res = pgdb_exec (self->db, "auth_register",
            "INSERT INTO customers (email, password_hash, first_name, last_name, phone, province)"
            " VALUES ($1, $2, $3, $4, $5, $6) RETURNING " CUSTOMER_COLUMNS, 6, params);
        if (res) {
            json_t *customer = customer_json (res, 0, 0);
            reply = customer ? envelope_new_reply (request, 201, customer) : request_input_internal (request);
            PQclear (res);
            log_info (request->rid, "auth: customer registered");
        }
        else
        if (pgdb_is_unique_violation (self->db))
            reply = request_input_conflict (request, "an account with this email already exists");
        else
            reply = request_input_db_failure (request, self->db, "customer");
    }
    sodium_memzero (hash, sizeof hash);
    free (email);
    free (first_name);
    free (last_name);
    free (phone);
    free (province);
    return reply;
}

//  --------------------------------------------------------------------------
//  The lockout around one password check.
//  Before: 0 to go ahead, > 0 seconds to wait, -1 database failure.

static int
s_attempt (customer_state_t *self, const char *kind, const char *login)
{
    char limit [16], window [16];
    snprintf (limit, sizeof limit, "%d", self->auth.lockout_failures);
    snprintf (window, sizeof window, "%d", self->auth.lockout_window_s);
    const char *params [] = { kind, login, limit, window };
    PGresult *res = pgdb_exec (self->db, "auth_attempt",
        "SELECT customer_login_attempt ($1, lower ($2), $3::integer, $4::integer)", 4, params);
    if (!res)
        return -1;
    int wait = atoi (PQgetvalue (res, 0, 0));
    PQclear (res);
    return wait;
}

static int
s_attempt_done (customer_state_t *self, const char *kind, const char *login, bool success)
{
    char limit [16], lock [16];
    snprintf (limit, sizeof limit, "%d", self->auth.lockout_failures);
    snprintf (lock, sizeof lock, "%d", self->auth.lockout_s);
    PGresult *res;
    if (success) {
        const char *params [] = { kind, login };
        res = pgdb_exec (self->db, "auth_attempt_cleared",
            "DELETE FROM login_attempts WHERE kind = $1 AND login = lower ($2)", 2, params);
    }
    else {
        char after [16], base [16];
        snprintf (after, sizeof after, "%d", self->auth.slowdown_after);
        snprintf (base, sizeof base, "%d", self->auth.slowdown_base_s);
        const char *params [] = { kind, login, limit, lock, after, base };
        res = pgdb_exec (self->db, "auth_attempt_failed",
            "SELECT customer_login_failed ($1, lower ($2), $3::integer, $4::integer,"
            " $5::integer, $6::integer)", 6, params);
    }
    if (!res)
        return -1;
    PQclear (res);
    return 0;
}

//  --------------------------------------------------------------------------
//  After a successful login: a hash made at an older cost is made again.

static void
s_rehash (customer_state_t *self, const char *table_statement, const char *sql,
          const char *id, const char *hash, const char *password)
{
    if (!customer_password_needs_rehash (hash, &self->auth.cost))
        return;
    char fresh [crypto_pwhash_STRBYTES];
    if (customer_password_hash (&self->auth.cost, password, fresh) == 0) {
        const char *params [] = { id, fresh };
        PGresult *res = pgdb_exec (self->db, table_statement, sql, 2, params);
        if (res)
            PQclear (res);
    }
    sodium_memzero (fresh, sizeof fresh);
}

//  --------------------------------------------------------------------------
//  Read {<name_field>, password} of a login body. 0, or -1 with details.

static int
s_login_body (const envelope_t *request, const char *name_field, size_t name_max,
              const char *const *fields, char **name, const char **password, json_t *details)
{
    json_t *data = request_input_object (request, details);
    if (data) {
        request_input_unknown_fields (data, fields, details);
        *name = customer_input_text (data, name_field, 1, name_max, true, false, NULL, details);
        *password = s_password (data, 1, details);
    }
    return json_array_size (details) ? -1 : 0;
}

//  --------------------------------------------------------------------------

envelope_t *
auth_login (const envelope_t *request, void *state)
{
    customer_state_t *self = (customer_state_t *) state;
    json_t *details = json_array ();
    char *email = NULL;
    const char *password = NULL;
    if (s_login_body (request, "email", CUSTOMER_EMAIL_MAX, s_login_fields, &email, &password, details)) {
        free (email);
        return request_input_invalid (request, details);
    }
    json_decref (details);

    envelope_t *reply = NULL;
    int wait = s_attempt (self, "customer", email);
    if (wait < 0)
        reply = request_input_db_failure (request, self->db, "customer");
    else
    if (wait > 0) {
        log_info (request->rid, "auth: login refused, account slowed or locked for %d s", wait);
        reply = customer_input_rate_limited (request, wait);
    }
    PGresult *res = NULL;
    if (!reply) {
        const char *params [] = { email };
        res = pgdb_exec (self->db, "auth_login_find",
            "SELECT " CUSTOMER_COLUMNS ", password_hash FROM customers WHERE lower (email) = lower ($1)",
            1, params);
        if (!res)
            reply = request_input_db_failure (request, self->db, "customer");
    }
    if (!reply) {
        bool known = PQntuples (res) == 1;
        const char *hash = known ? PQgetvalue (res, 0, CUSTOMER_COLUMN_COUNT) : self->dummy_hash;
        bool matches = customer_password_verify (hash, password) && known;
        if (s_attempt_done (self, "customer", email, matches))
            reply = request_input_db_failure (request, self->db, "customer");
        else
        if (!matches) {
            log_info (request->rid, "auth: customer login failed");
            reply = request_input_unauthorized (request, "wrong email or password");
        }
        else {
            const char *id = PQgetvalue (res, 0, 0);
            s_rehash (self, "auth_rehash_customer",
                      "UPDATE customers SET password_hash = $2 WHERE id = $1", id, hash, password);
            json_t *answer = s_issue (self, id, "customer", NULL, self->auth.customer_ttl_s);
            json_t *customer = customer_json (res, 0, 0);
            if (answer && customer) {
                json_object_set_new (answer, "customer", customer);
                reply = envelope_new_reply (request, 200, answer);
            }
            else {
                json_decref (answer);
                json_decref (customer);
                reply = request_input_internal (request);
            }
        }
    }
    if (res)
        PQclear (res);
    free (email);
    return reply;
}

//  --------------------------------------------------------------------------

envelope_t *
auth_staff_login (const envelope_t *request, void *state)
{
    customer_state_t *self = (customer_state_t *) state;
    json_t *details = json_array ();
    char *username = NULL;
    const char *password = NULL;
    if (s_login_body (request, "username", 64, s_staff_login_fields, &username, &password, details)) {
        free (username);
        return request_input_invalid (request, details);
    }
    json_decref (details);

    envelope_t *reply = NULL;
    int wait = s_attempt (self, "staff", username);
    if (wait < 0)
        reply = request_input_db_failure (request, self->db, "customer");
    else
    if (wait > 0) {
        log_info (request->rid, "auth: staff login refused, account slowed or locked for %d s", wait);
        reply = customer_input_rate_limited (request, wait);
    }
    PGresult *res = NULL;
    if (!reply) {
        const char *params [] = { username };
        res = pgdb_exec (self->db, "auth_staff_find",
            "SELECT " STAFF_COLUMNS " FROM staff WHERE lower (username) = lower ($1) AND active",
            1, params);
        if (!res)
            reply = request_input_db_failure (request, self->db, "customer");
    }
    if (!reply) {
        bool known = PQntuples (res) == 1;
        const char *hash = known ? PQgetvalue (res, 0, 4) : self->dummy_hash;
        bool matches = customer_password_verify (hash, password) && known;
        if (s_attempt_done (self, "staff", username, matches))
            reply = request_input_db_failure (request, self->db, "customer");
        else
        if (!matches) {
            log_info (request->rid, "auth: staff login failed");
            reply = request_input_unauthorized (request, "wrong username or password");
        }
        else {
            const char *id = PQgetvalue (res, 0, 0);
            const char *role = PQgetvalue (res, 0, 2);
            const char *store_id = PQgetisnull (res, 0, 3) ? NULL : PQgetvalue (res, 0, 3);
            s_rehash (self, "auth_rehash_staff",
                      "UPDATE staff SET password_hash = $2 WHERE id = $1", id, hash, password);
            json_t *answer = s_issue (self, id, role, store_id, self->auth.staff_ttl_s);
            json_t *staff = json_pack ("{s:I, s:s, s:s, s:o}",
                                       "id", (json_int_t) strtoll (id, NULL, 10),
                                       "username", PQgetvalue (res, 0, 1), "role", role,
                                       "store_id", store_id
                                           ? json_integer ((json_int_t) strtoll (store_id, NULL, 10))
                                           : json_null ());
            if (answer && staff) {
                json_object_set_new (answer, "staff", staff);
                reply = envelope_new_reply (request, 200, answer);
            }
            else {
                json_decref (answer);
                json_decref (staff);
                reply = request_input_internal (request);
            }
            log_info (request->rid, "auth: staff %s logged in", id);
        }
    }
    if (res)
        PQclear (res);
    free (username);
    return reply;
}

//  --------------------------------------------------------------------------

envelope_t *
auth_jwks (const envelope_t *request, void *state)
{
    customer_state_t *self = (customer_state_t *) state;
    json_t *jwks = customer_keys_jwks (self->keys);
    if (!jwks || json_array_size (json_object_get (jwks, "keys")) == 0) {
        json_decref (jwks);
        log_error (request->rid, "auth: no public key to publish");
        return envelope_new_error (request, 503, "service_unavailable",
                                   "no signing key is available", NULL);
    }
    return envelope_new_reply (request, 200, jwks);
}
