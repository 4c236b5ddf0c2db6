/*  =========================================================================
    customer_verbs - the handlers of the customer.* verbs

    Why it is built this way:

    - A customer's profile verbs take the id from the token (envelope sub),
      never from the request: there is no way to name another customer.
    - Only first_name, last_name, phone and province can be changed; any
      other field (email, role, id, created_at, password...) is refused
      with 400, so a client learns at once that it was not applied.
    - The staff's lookup searches a lower-cased copy of email and names
      with LIKE, served by a trigram index; the search text is passed as a
      parameter and its LIKE wildcards are escaped in SQL.
    =========================================================================
*/
#include "customer_verbs.h"
#include "customer_context.h"
#include "customer_input.h"

#include <stdlib.h>
#include <string.h>

#define CUSTOMER_MAX_PAGE          1000000
#define CUSTOMER_MAX_PER_PAGE      100
#define CUSTOMER_DEFAULT_PER_PAGE  20
#define CUSTOMER_MAX_QUERY         200

static const char *const s_staff_roles [] = { "manager", "admin", NULL };
static const char *const s_profile_fields [] = {
    "first_name", "last_name", "phone", "province", NULL
};

#define CUSTOMER_LIST_WHERE \
    " WHERE ($1::text IS NULL OR search_text LIKE '%' ||" \
    "        replace (replace (replace (lower ($1), '\\', '\\\\'), '%', '\\%'), '_', '\\_') || '%')"

//  --------------------------------------------------------------------------

json_t *
customer_json (PGresult *res, int row, int first)
{
    return json_pack ("{s:I, s:s, s:s, s:s, s:o, s:s, s:s, s:s}",
                      "id", (json_int_t) strtoll (PQgetvalue (res, row, first), NULL, 10),
                      "email", PQgetvalue (res, row, first + 1),
                      "first_name", PQgetvalue (res, row, first + 2),
                      "last_name", PQgetvalue (res, row, first + 3),
                      "phone", PQgetisnull (res, row, first + 4)
                               ? json_null () : json_string (PQgetvalue (res, row, first + 4)),
                      "province", PQgetvalue (res, row, first + 5),
                      "created_at", PQgetvalue (res, row, first + 6),
                      "updated_at", PQgetvalue (res, row, first + 7));
}

//  --------------------------------------------------------------------------
//  The reply for a result of at most one customer row.

static envelope_t *
s_customer_reply (const envelope_t *request, PGresult *res)
{
    envelope_t *reply;
    if (PQntuples (res) == 0)
        reply = request_input_not_found (request, "customer");
    else {
        json_t *customer = customer_json (res, 0, 0);
        reply = customer ? envelope_new_reply (request, 200, customer) : request_input_internal (request);
    }
    PQclear (res);
    return reply;
}

//  --------------------------------------------------------------------------

static envelope_t *
s_get (const envelope_t *request, customer_state_t *self, const char *id)
{
    const char *params [] = { id };
    PGresult *res = pgdb_exec (self->db, "customer_get",
        "SELECT " CUSTOMER_COLUMNS " FROM customers WHERE id = $1", 1, params);
    if (!res)
        return request_input_db_failure (request, self->db, "customer");
    return s_customer_reply (request, res);
}

envelope_t *
customer_me_get (const envelope_t *request, void *state)
{
    char id [24];
    envelope_t *refused = customer_input_customer (request, id);
    if (refused)
        return refused;
    return s_get (request, (customer_state_t *) state, id);
}

//  --------------------------------------------------------------------------

envelope_t *
customer_me_update (const envelope_t *request, void *state)
{
    customer_state_t *self = (customer_state_t *) state;
    char id [24];
    envelope_t *refused = customer_input_customer (request, id);
    if (refused)
        return refused;
    json_t *details = json_array ();
    json_t *data = request_input_object (request, details);
    char *first_name = NULL, *last_name = NULL, *phone = NULL, *province = NULL;
    bool has_phone = false;
    char province_code [3] = "";
    if (data) {
        request_input_unknown_fields (data, s_profile_fields, details);
        first_name = customer_input_text (data, "first_name", 1, 100, false, false, NULL, details);
        last_name = customer_input_text (data, "last_name", 1, 100, false, false, NULL, details);
        phone = customer_input_text (data, "phone", 1, 32, false, true, &has_phone, details);
        if (phone)
            customer_input_phone (phone, "phone", details);
        province = customer_input_text (data, "province", 2, 2, false, false, NULL, details);
        if (province)
            customer_input_province (province, "province", province_code, details);
    }
    envelope_t *reply = NULL;
    if (json_array_size (details))
        reply = request_input_invalid (request, details);
    else {
        json_decref (details);
        const char *params [] = {
            id, first_name, last_name, has_phone ? "true" : "false", phone,
            province_code [0] ? province_code : NULL
        };
        PGresult *res = pgdb_exec (self->db, "customer_me_update",
            "UPDATE customers SET"
            "  first_name = coalesce ($2, first_name),"
            "  last_name = coalesce ($3, last_name),"
            "  phone = CASE WHEN $4::boolean THEN $5 ELSE phone END,"
            "  province = coalesce ($6, province),"
            "  updated_at = now ()"
            " WHERE id = $1 RETURNING " CUSTOMER_COLUMNS, 6, params);
        reply = res ? s_customer_reply (request, res) : request_input_db_failure (request, self->db, "customer");
    }
    free (first_name);
    free (last_name);
    free (phone);
    free (province);
    return reply;
}

//  --------------------------------------------------------------------------

envelope_t *
customer_list (const envelope_t *request, void *state)
{
    customer_state_t *self = (customer_state_t *) state;
    envelope_t *refused = request_input_roles (request, s_staff_roles);
    if (refused)
        return refused;
    json_t *details = json_array ();
    int64_t page = 1, per_page = CUSTOMER_DEFAULT_PER_PAGE;
    const char *text = request_input_param (request, "page");
    if (text && request_input_int (text, 1, CUSTOMER_MAX_PAGE, &page))
        request_input_problem (details, "page", "must be an integer between 1 and 1000000");
    text = request_input_param (request, "per_page");
    if (text && request_input_int (text, 1, CUSTOMER_MAX_PER_PAGE, &per_page))
        request_input_problem (details, "per_page", "must be an integer between 1 and 100");
    const char *q = request_input_param (request, "q");
    if (q && q [strspn (q, " ")] == 0)
        q = NULL;               //  an empty search is no search
    size_t characters = 0;
    bool controls = false;
    for (const char *c = q; c && *c; c++) {
        characters += ((unsigned char) *c & 0xC0) != 0x80;
        controls |= (unsigned char) *c < 0x20;
    }
    if (characters > CUSTOMER_MAX_QUERY || controls)
        request_input_problem (details, "q", "must be at most 200 characters, without controls");
    if (json_array_size (details))
        return request_input_invalid (request, details);
    json_decref (details);

    char limit [24], offset [24];
    snprintf (limit, sizeof limit, "%lld", (long long) per_page);
    snprintf (offset, sizeof offset, "%lld", (long long) ((page - 1) * per_page));
    const char *params [] = { q, limit, offset };
    PGresult *res = pgdb_exec (self->db, "customer_count",
        "SELECT count(*) FROM customers" CUSTOMER_LIST_WHERE, 1, params);
    if (!res)
        return request_input_db_failure (request, self->db, "customer");
    json_int_t total = (json_int_t) strtoll (PQgetvalue (res, 0, 0), NULL, 10);
    PQclear (res);
    res = pgdb_exec (self->db, "customer_list",
        "SELECT " CUSTOMER_COLUMNS " FROM customers" CUSTOMER_LIST_WHERE
        " ORDER BY id LIMIT $2 OFFSET $3", 3, params);
    if (!res)
        return request_input_db_failure (request, self->db, "customer");
    json_t *data = json_array ();
    for (int row = 0; row < PQntuples (res); row++)
        json_array_append_new (data, customer_json (res, row, 0));
    PQclear (res);
    json_t *body = json_pack ("{s:o, s:{s:I, s:I, s:I}}", "data", data,
                              "meta", "page", (json_int_t) page, "per_page", (json_int_t) per_page,
                              "total", total);
    return body ? envelope_new_reply (request, 200, body) : request_input_internal (request);
}

//  --------------------------------------------------------------------------

envelope_t *
customer_get (const envelope_t *request, void *state)
{
    envelope_t *refused = request_input_roles (request, s_staff_roles);
    if (refused)
        return refused;
    int64_t value;
    const char *id = request_input_param (request, "id");
    if (request_input_int (id, 1, INT64_MAX, &value)) {
        json_t *details = json_array ();
        request_input_problem (details, "id", "must be a positive integer");
        return request_input_invalid (request, details);
    }
    return s_get (request, (customer_state_t *) state, id);
}
