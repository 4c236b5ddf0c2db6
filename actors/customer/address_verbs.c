/*  =========================================================================
    address_verbs - the handlers of the address.* verbs

    Why it is built this way:

    - Ownership is in the SQL: every statement says customer_id = <the
      token's sub>, so another customer's address id reads, updates and
      deletes nothing and answers 404, exactly like an id that never was.
    - A new default clears the old default of that type in the same
      transaction, after locking the customer's row: changes to one
      customer's addresses happen one at a time, and the partial unique
      index (one default per customer and type) proves the result.
    - Addresses are Canadian (country CA): postal codes are checked and
      normalised to "A1A 1A1", provinces are the 13 codes taxes know.
    =========================================================================
*/
#include "address_verbs.h"
#include "customer_context.h"
#include "customer_input.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define ADDRESS_MAX_PER_CUSTOMER 50

#define ADDRESS_COLUMNS \
    "id, type, full_name, line1, line2, city, province, postal_code, country, is_default, " \
    "to_char (created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), " \
    "to_char (updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

static const char *const s_address_fields [] = {
    "type", "full_name", "line1", "line2", "city", "province", "postal_code", "country",
    "is_default", NULL
};

//  What a create or update body says, checked and normalised.
typedef struct {
    char *type;
    char *full_name;
    char *line1;
    char *line2;
    bool has_line2;             //  present, possibly null
    char *city;
    char *province_text;
    char *postal_text;
    char *country_text;
    char province [3];
    char postal_code [8];
    bool has_default;
    bool is_default;
} s_fields_t;

//  What a transaction hands back.
typedef enum { OUTCOME_DONE, OUTCOME_NOT_FOUND, OUTCOME_TOO_MANY } s_outcome_t;

typedef struct {
    const char *customer_id;
    const char *address_id;     //  update only
    s_fields_t *fields;
    PGresult *res;              //  the address row, when done
    s_outcome_t outcome;
} s_txn_t;

//  --------------------------------------------------------------------------

static json_t *
s_address_json (PGresult *res, int row)
{
    return json_pack ("{s:I, s:s, s:s, s:s, s:o, s:s, s:s, s:s, s:s, s:b, s:s, s:s}",
                      "id", (json_int_t) strtoll (PQgetvalue (res, row, 0), NULL, 10),
                      "type", PQgetvalue (res, row, 1),
                      "full_name", PQgetvalue (res, row, 2),
                      "line1", PQgetvalue (res, row, 3),
                      "line2", PQgetisnull (res, row, 4)
                               ? json_null () : json_string (PQgetvalue (res, row, 4)),
                      "city", PQgetvalue (res, row, 5),
                      "province", PQgetvalue (res, row, 6),
                      "postal_code", PQgetvalue (res, row, 7),
                      "country", PQgetvalue (res, row, 8),
                      "is_default", streq (PQgetvalue (res, row, 9), "t"),
                      "created_at", PQgetvalue (res, row, 10),
                      "updated_at", PQgetvalue (res, row, 11));
}

//  The reply for a result of at most one address row (res is cleared).
static envelope_t *
s_address_reply (const envelope_t *request, PGresult *res, int status)
{
    envelope_t *reply;
    if (PQntuples (res) == 0)
        reply = request_input_not_found (request, "address");
    else {
        json_t *address = s_address_json (res, 0);
        reply = address ? envelope_new_reply (request, status, address) : request_input_internal (request);
    }
    PQclear (res);
    return reply;
}

//  --------------------------------------------------------------------------

static void
s_fields_free (s_fields_t *fields)
{
    free (fields->type);
    free (fields->full_name);
    free (fields->line1);
    free (fields->line2);
    free (fields->city);
    free (fields->province_text);
    free (fields->postal_text);
    free (fields->country_text);
    memset (fields, 0, sizeof *fields);
}

//  Check a create (creating: the required fields must be there) or update
//  body. Problems go to details.
static void
s_read_fields (json_t *data, bool creating, s_fields_t *fields, json_t *details)
{
    memset (fields, 0, sizeof *fields);
    request_input_unknown_fields (data, s_address_fields, details);
    fields->type = customer_input_text (data, "type", 1, 16, creating, false, NULL, details);
    if (fields->type && !streq (fields->type, "shipping") && !streq (fields->type, "billing"))
        request_input_problem (details, "type", "must be shipping or billing");
    fields->full_name = customer_input_text (data, "full_name", 1, 200, creating, false, NULL, details);
    fields->line1 = customer_input_text (data, "line1", 1, 200, creating, false, NULL, details);
    fields->line2 = customer_input_text (data, "line2", 0, 200, false, true, &fields->has_line2, details);
    if (fields->line2 && !*fields->line2) {
        free (fields->line2);   //  an empty second line is no second line
        fields->line2 = NULL;
    }
    fields->city = customer_input_text (data, "city", 1, 100, creating, false, NULL, details);
    fields->province_text = customer_input_text (data, "province", 2, 2, creating, false, NULL, details);
    if (fields->province_text)
        customer_input_province (fields->province_text, "province", fields->province, details);
    fields->postal_text = customer_input_text (data, "postal_code", 6, 7, creating, false, NULL, details);
    if (fields->postal_text)
        customer_input_postal_code (fields->postal_text, "postal_code", fields->postal_code, details);
    fields->country_text = customer_input_text (data, "country", 2, 2, false, false, NULL, details);
    if (fields->country_text
    && !(toupper ((unsigned char) fields->country_text [0]) == 'C'
         && toupper ((unsigned char) fields->country_text [1]) == 'A'))
        request_input_problem (details, "country", "must be CA (only Canadian addresses are served)");
    if (request_input_bool (data, "is_default", &fields->is_default, details) == 1)
        fields->has_default = true;
}

//  --------------------------------------------------------------------------
//  The address id param: a positive integer string, else a 400 reply.

static envelope_t *
s_id_param (const envelope_t *request, const char **id)
{
    int64_t value;
    *id = request_input_param (request, "id");
    if (request_input_int (*id, 1, INT64_MAX, &value) == 0)
        return NULL;
    json_t *details = json_array ();
    request_input_problem (details, "id", "must be a positive integer");
    return request_input_invalid (request, details);
}

//  --------------------------------------------------------------------------
//  Lock the customer's row: changes to one customer's addresses happen one
//  at a time. 1 locked, 0 no such customer, -1 database failure.

static int
s_lock_customer (pgdb_t *db, const char *customer_id)
{
    const char *params [] = { customer_id };
    PGresult *res = pgdb_exec (db, "address_lock_customer",
        "SELECT id FROM customers WHERE id = $1 FOR UPDATE", 1, params);
    if (!res)
        return -1;
    int found = PQntuples (res) == 1;
    PQclear (res);
    return found;
}

//  Clear the default of a type, except for one address (NULL: none).
static int
s_clear_default (pgdb_t *db, const char *customer_id, const char *type, const char *except_id)
{
    const char *params [] = { customer_id, type, except_id };
    PGresult *res = pgdb_exec (db, "address_clear_default",
        "UPDATE addresses SET is_default = false, updated_at = now ()"
        " WHERE customer_id = $1 AND type = $2 AND is_default"
        "   AND ($3::bigint IS NULL OR id <> $3)", 3, params);
    if (!res)
        return -1;
    PQclear (res);
    return 0;
}

//  --------------------------------------------------------------------------

static int
s_create_txn (pgdb_t *db, void *arg)
{
    s_txn_t *txn = (s_txn_t *) arg;
    s_fields_t *fields = txn->fields;
    if (txn->res) {             //  a retried transaction starts over
        PQclear (txn->res);
        txn->res = NULL;
    }
    int locked = s_lock_customer (db, txn->customer_id);
    if (locked <= 0) {
        txn->outcome = OUTCOME_NOT_FOUND;
        return locked < 0 ? -1 : 1;
    }
    const char *params [] = {
        txn->customer_id, fields->type, fields->full_name, fields->line1, fields->line2,
        fields->city, fields->province, fields->postal_code, fields->is_default ? "true" : "false"
    };
    PGresult *res = pgdb_exec (db, "address_count",
        "SELECT count(*) FROM addresses WHERE customer_id = $1", 1, params);
    if (!res)
        return -1;
    long count = atol (PQgetvalue (res, 0, 0));
    PQclear (res);
    if (count >= ADDRESS_MAX_PER_CUSTOMER) {
        txn->outcome = OUTCOME_TOO_MANY;
        return 1;
    }
    if (fields->is_default && s_clear_default (db, txn->customer_id, fields->type, NULL))
        return -1;
    txn->res = pgdb_exec (db, "address_create",
        "INSERT INTO addresses (customer_id, type, full_name, line1, line2, city, province,"
        "                       postal_code, country, is_default)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'CA', $9::boolean)"
        " RETURNING " ADDRESS_COLUMNS, 9, params);
    if (!txn->res)
        return -1;
    txn->outcome = OUTCOME_DONE;
    return 0;
}

//  --------------------------------------------------------------------------

static int
s_update_txn (pgdb_t *db, void *arg)
{
    s_txn_t *txn = (s_txn_t *) arg;
    s_fields_t *fields = txn->fields;
    if (txn->res) {
        PQclear (txn->res);
        txn->res = NULL;
    }
    txn->outcome = OUTCOME_NOT_FOUND;
    int locked = s_lock_customer (db, txn->customer_id);
    if (locked <= 0)
        return locked < 0 ? -1 : 1;
    const char *find [] = { txn->address_id, txn->customer_id };
    PGresult *res = pgdb_exec (db, "address_find_for_update",
        "SELECT type, is_default FROM addresses WHERE id = $1 AND customer_id = $2 FOR UPDATE",
        2, find);
    if (!res)
        return -1;
    if (PQntuples (res) == 0) {
        PQclear (res);
        return 1;
    }
    char type [16];
    snprintf (type, sizeof type, "%s", fields->type ? fields->type : PQgetvalue (res, 0, 0));
    bool is_default = fields->has_default ? fields->is_default : streq (PQgetvalue (res, 0, 1), "t");
    PQclear (res);
    if (is_default && s_clear_default (db, txn->customer_id, type, txn->address_id))
        return -1;
    const char *params [] = {
        txn->address_id, txn->customer_id, type, fields->full_name, fields->line1,
        fields->has_line2 ? "true" : "false", fields->line2, fields->city,
        fields->province [0] ? fields->province : NULL,
        fields->postal_code [0] ? fields->postal_code : NULL,
        is_default ? "true" : "false"
    };
    txn->res = pgdb_exec (db, "address_update",
        "UPDATE addresses SET"
        "  type = $3,"
        "  full_name = coalesce ($4, full_name),"
        "  line1 = coalesce ($5, line1),"
        "  line2 = CASE WHEN $6::boolean THEN $7 ELSE line2 END,"
        "  city = coalesce ($8, city),"
        "  province = coalesce ($9, province),"
        "  postal_code = coalesce ($10, postal_code),"
        "  is_default = $11::boolean,"
        "  updated_at = now ()"
        " WHERE id = $1 AND customer_id = $2"
        " RETURNING " ADDRESS_COLUMNS, 11, params);
    if (!txn->res)
        return -1;
    txn->outcome = OUTCOME_DONE;
    return 0;
}

//  --------------------------------------------------------------------------
//  Create and update share their shape: check, run the transaction, answer.

static envelope_t *
s_write (const envelope_t *request, customer_state_t *self, bool creating)
{
    char customer_id [24];
    envelope_t *reply = customer_input_customer (request, customer_id);
    if (reply)
        return reply;
    const char *address_id = NULL;
    if (!creating && (reply = s_id_param (request, &address_id)) != NULL)
        return reply;
    json_t *details = json_array ();
    s_fields_t fields;
    memset (&fields, 0, sizeof fields);
    json_t *data = request_input_object (request, details);
    if (data)
        s_read_fields (data, creating, &fields, details);
    if (json_array_size (details)) {
        s_fields_free (&fields);
        return request_input_invalid (request, details);
    }
    json_decref (details);

    s_txn_t txn = { customer_id, address_id, &fields, NULL, OUTCOME_NOT_FOUND };
    int rc = pgdb_transaction (self->db, NULL, creating ? s_create_txn : s_update_txn, &txn, 3);
    if (rc == 0 && txn.outcome == OUTCOME_DONE) {
        reply = s_address_reply (request, txn.res, creating ? 201 : 200);
        txn.res = NULL;
    }
    else
    if (rc > 0 && txn.outcome == OUTCOME_TOO_MANY)
        reply = request_input_conflict (request, "a customer keeps at most 50 addresses");
    else
    if (rc > 0)
        reply = request_input_not_found (request, creating ? "customer" : "address");
    else
        reply = request_input_db_failure (request, self->db, "customer");
    if (txn.res)
        PQclear (txn.res);
    s_fields_free (&fields);
    return reply;
}

//  --------------------------------------------------------------------------

envelope_t *
address_create (const envelope_t *request, void *state)
{
    return s_write (request, (customer_state_t *) state, true);
}

envelope_t *
address_update (const envelope_t *request, void *state)
{
    return s_write (request, (customer_state_t *) state, false);
}

//  --------------------------------------------------------------------------

envelope_t *
address_list (const envelope_t *request, void *state)
{
    customer_state_t *self = (customer_state_t *) state;
    char customer_id [24];
    envelope_t *refused = customer_input_customer (request, customer_id);
    if (refused)
        return refused;
    const char *params [] = { customer_id };
    PGresult *res = pgdb_exec (self->db, "address_list",
        "SELECT " ADDRESS_COLUMNS " FROM addresses WHERE customer_id = $1 ORDER BY id", 1, params);
    if (!res)
        return request_input_db_failure (request, self->db, "customer");
    json_t *data = json_array ();
    for (int row = 0; row < PQntuples (res); row++)
        json_array_append_new (data, s_address_json (res, row));
    PQclear (res);
    json_t *body = json_pack ("{s:o}", "data", data);
    return body ? envelope_new_reply (request, 200, body) : request_input_internal (request);
}

//  --------------------------------------------------------------------------

envelope_t *
address_get (const envelope_t *request, void *state)
{
    customer_state_t *self = (customer_state_t *) state;
    char customer_id [24];
    const char *address_id = NULL;
    envelope_t *refused = customer_input_customer (request, customer_id);
    if (!refused)
        refused = s_id_param (request, &address_id);
    if (refused)
        return refused;
    const char *params [] = { address_id, customer_id };
    PGresult *res = pgdb_exec (self->db, "address_get",
        "SELECT " ADDRESS_COLUMNS " FROM addresses WHERE id = $1 AND customer_id = $2", 2, params);
    if (!res)
        return request_input_db_failure (request, self->db, "customer");
    return s_address_reply (request, res, 200);
}

//  --------------------------------------------------------------------------

envelope_t *
address_delete (const envelope_t *request, void *state)
{
    customer_state_t *self = (customer_state_t *) state;
    char customer_id [24];
    const char *address_id = NULL;
    envelope_t *refused = customer_input_customer (request, customer_id);
    if (!refused)
        refused = s_id_param (request, &address_id);
    if (refused)
        return refused;
    const char *params [] = { address_id, customer_id };
    PGresult *res = pgdb_exec (self->db, "address_delete",
        "DELETE FROM addresses WHERE id = $1 AND customer_id = $2", 2, params);
    if (!res)
        return request_input_db_failure (request, self->db, "customer");
    bool deleted = streq (PQcmdTuples (res), "1");
    PQclear (res);
    if (!deleted)
        return request_input_not_found (request, "address");
    return envelope_new_reply (request, 204, NULL);
}
