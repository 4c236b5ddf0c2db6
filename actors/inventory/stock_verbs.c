/*  =========================================================================
    stock_verbs - locations, stock levels, adjustments, the journal, alerts

    Why it is built this way:

    - An adjustment is one statement: inventory_change (sql/inventory,
      0002) updates the level with a conditional UPDATE, writes the movement
      and the outbox events, and the statement joins back to the movement
      for the answer. One statement is one transaction: the level, its
      movement and its events are written together or not at all.
    - "Never below zero" means available: an adjustment cannot take away
      stock that is reserved for a checkout or an approved transfer.
    - Reads are open to every staff role at every location; adjustments
      are for the staff of that location's store, or an admin (see
      inventory_input).
    - A product the inventory has never received has no rows: stock.get
      answers its empty list with total_available 0 rather than 404, since
      the catalog, not the inventory, knows which products exist.
    =========================================================================
*/
#include "stock_verbs.h"
#include "inventory_context.h"
#include "inventory_input.h"

#include <stdlib.h>
#include <string.h>

#define STOCK_COLUMNS \
    "product_id, location_id, on_hand, reserved, available, alert_threshold"

#define MOVEMENT_COLUMNS(m) \
    m ".id, " m ".product_id, " m ".location_id, " m ".cause, " m ".reference, " \
    m ".delta, " m ".on_hand_after, " m ".actor_sub, " m ".actor_role, " \
    INVENTORY_TIME (m ".created_at")

static const char *const s_reasons [] = { "receipt", "count", "damage", "other", NULL };
static const char *const s_causes [] = {
    "sale", "return", "order", "order_cancel", "transfer_out", "transfer_in", "adjustment", NULL
};

//  --------------------------------------------------------------------------

static json_t *
s_string_or_null (PGresult *res, int row, int column)
{
    return PQgetisnull (res, row, column) ? json_null () : json_string (PQgetvalue (res, row, column));
}

static json_t *
s_stock_json (PGresult *res, int row)
{
    return json_pack ("{s:I, s:I, s:I, s:I, s:I, s:I}",
                      "product_id", inventory_int (res, row, 0),
                      "location_id", inventory_int (res, row, 1),
                      "on_hand", inventory_int (res, row, 2),
                      "reserved", inventory_int (res, row, 3),
                      "available", inventory_int (res, row, 4),
                      "alert_threshold", inventory_int (res, row, 5));
}

static json_t *
s_movement_json (PGresult *res, int row)
{
    return json_pack ("{s:I, s:I, s:I, s:s, s:s, s:I, s:I, s:{s:o, s:o}, s:s}",
                      "id", inventory_int (res, row, 0),
                      "product_id", inventory_int (res, row, 1),
                      "location_id", inventory_int (res, row, 2),
                      "cause", PQgetvalue (res, row, 3),
                      "reference", PQgetvalue (res, row, 4),
                      "delta", inventory_int (res, row, 5),
                      "on_hand_after", inventory_int (res, row, 6),
                      "actor", "sub", s_string_or_null (res, row, 7),
                               "role", s_string_or_null (res, row, 8),
                      "created_at", PQgetvalue (res, row, 9));
}

//  --------------------------------------------------------------------------
//  Build {"data": [rows]} with the row function, or a paged reply.

typedef json_t *(s_row_fn) (PGresult *res, int row);

static json_t *
s_rows (PGresult *res, s_row_fn *fn)
{
    json_t *data = json_array ();
    for (int row = 0; data && row < PQntuples (res); row++)
        if (json_array_append_new (data, fn (res, row))) {
            json_decref (data);
            data = NULL;
        }
    return data;
}

//  --------------------------------------------------------------------------

static json_t *
s_location_json (PGresult *res, int row)
{
    return json_pack ("{s:I, s:s, s:s, s:s, s:b, s:o}",
                      "id", inventory_int (res, row, 0),
                      "name", PQgetvalue (res, row, 1),
                      "type", PQgetvalue (res, row, 2),
                      "province", PQgetvalue (res, row, 3),
                      "active", streq (PQgetvalue (res, row, 4), "t"),
                      "store_id", PQgetisnull (res, row, 5)
                                  ? json_null () : json_integer (inventory_int (res, row, 5)));
}

envelope_t *
location_list (const envelope_t *request, void *state)
{
    //  Any valid API key: the edge checked it; stores are public places.
    inventory_state_t *self = (inventory_state_t *) state;
    PGresult *res = pgdb_exec (self->db, "location_list",
        "SELECT id, name, type, province, active, store_id FROM locations ORDER BY id", 0, NULL);
    if (!res)
        return request_input_db_failure (request, self->db, "inventory");
    json_t *data = s_rows (res, s_location_json);
    PQclear (res);
    json_t *body = data ? json_pack ("{s:o}", "data", data) : NULL;
    return body ? envelope_new_reply (request, 200, body) : inventory_no_answer (request);
}

//  --------------------------------------------------------------------------

envelope_t *
stock_list (const envelope_t *request, void *state)
{
    inventory_state_t *self = (inventory_state_t *) state;
    envelope_t *refused = request_input_roles (request, inventory_staff_roles);
    if (refused)
        return refused;
    json_t *details = json_array ();
    int64_t product_id, location_id, page, per_page;
    inventory_id_param (request, "product_id", &product_id, details);
    inventory_id_param (request, "location_id", &location_id, details);
    inventory_read_page (request, &page, &per_page, details);
    if (json_array_size (details))
        return request_input_invalid (request, details);
    json_decref (details);

    char limit [24], offset [24];
    snprintf (limit, sizeof limit, "%lld", (long long) per_page);
    snprintf (offset, sizeof offset, "%lld", (long long) ((page - 1) * per_page));
    const char *params [] = {
        request_input_param (request, "product_id"), request_input_param (request, "location_id"),
        limit, offset
    };
    PGresult *res = pgdb_exec (self->db, "stock_list",
        "SELECT " STOCK_COLUMNS ", count (*) OVER () FROM stock"
        " WHERE ($1::bigint IS NULL OR product_id = $1) AND ($2::bigint IS NULL OR location_id = $2)"
        " ORDER BY product_id, location_id LIMIT $3 OFFSET $4", 4, params);
    if (!res)
        return request_input_db_failure (request, self->db, "inventory");
    json_int_t total = PQntuples (res) ? inventory_int (res, 0, 6) : 0;
    bool past_end = PQntuples (res) == 0 && page > 1;
    json_t *data = s_rows (res, s_stock_json);
    PQclear (res);
    if (past_end && data) {
        //  Past the last page the window count is empty: count separately.
        res = pgdb_exec (self->db, "stock_count",
            "SELECT count (*) FROM stock"
            " WHERE ($1::bigint IS NULL OR product_id = $1) AND ($2::bigint IS NULL OR location_id = $2)",
            2, params);
        if (!res) {
            json_decref (data);
            return request_input_db_failure (request, self->db, "inventory");
        }
        total = inventory_int (res, 0, 0);
        PQclear (res);
    }
    if (!data)
        return inventory_no_answer (request);
    return inventory_page_reply (request, data, page, per_page, total);
}

//  --------------------------------------------------------------------------

envelope_t *
stock_get (const envelope_t *request, void *state)
{
    inventory_state_t *self = (inventory_state_t *) state;
    envelope_t *refused = request_input_roles (request, inventory_staff_roles);
    if (refused)
        return refused;
    int64_t product_id;
    envelope_t *invalid = inventory_required_id (request, "product_id", &product_id);
    if (invalid)
        return invalid;

    const char *params [] = { request_input_param (request, "product_id") };
    PGresult *res = pgdb_exec (self->db, "stock_get",
        "SELECT " STOCK_COLUMNS " FROM stock WHERE product_id = $1 ORDER BY location_id", 1, params);
    if (!res)
        return request_input_db_failure (request, self->db, "inventory");
    json_int_t total = 0;
    for (int row = 0; row < PQntuples (res); row++)
        total += inventory_int (res, row, 4);
    json_t *data = s_rows (res, s_stock_json);
    PQclear (res);
    json_t *body = data ? json_pack ("{s:I, s:o, s:I}", "product_id", (json_int_t) product_id,
                                     "data", data, "total_available", total) : NULL;
    return body ? envelope_new_reply (request, 200, body) : inventory_no_answer (request);
}

//  --------------------------------------------------------------------------
//  The current available of a row (0 when there is none), for details.

static json_int_t
s_available_now (pgdb_t *db, const char *product_id, const char *location_id)
{
    const char *params [] = { product_id, location_id };
    PGresult *res = pgdb_exec (db, "stock_available_now",
        "SELECT available FROM stock WHERE product_id = $1 AND location_id = $2", 2, params);
    json_int_t available = res && PQntuples (res) ? inventory_int (res, 0, 0) : 0;
    PQclear (res);
    return available;
}

//  --------------------------------------------------------------------------

static const char *
s_one_of (json_t *object, const char *field, const char *const *words, json_t *details)
{
    json_t *value = json_object_get (object, field);
    if (!value) {
        request_input_problem (details, field, "is required");
        return NULL;
    }
    for (const char *const *word = words; json_is_string (value) && *word; word++)
        if (streq (json_string_value (value), *word))
            return *word;
    request_input_problem (details, field, "is not one of the allowed values");
    return NULL;
}

envelope_t *
stock_adjust (const envelope_t *request, void *state)
{
    inventory_state_t *self = (inventory_state_t *) state;
    envelope_t *refused = request_input_roles (request, inventory_staff_roles);
    if (refused)
        return refused;
    static const char *const fields [] = { "product_id", "location_id", "delta", "reason", NULL };
    json_t *details = json_array ();
    int64_t product_id = 0, location_id = 0, delta = 0;
    const char *reason = NULL;
    json_t *data = request_input_object (request, details);
    if (data) {
        request_input_unknown_fields (data, fields, details);
        inventory_required_integer (data, "product_id", 1, INT64_MAX, &product_id, details);
        inventory_required_integer (data, "location_id", 1, INT64_MAX, &location_id, details);
        if (inventory_required_integer (data, "delta", -INVENTORY_MAX_QUANTITY,
                                        INVENTORY_MAX_QUANTITY, &delta, details) == 0
        &&  delta == 0)
            request_input_problem (details, "delta", "must not be 0");
        reason = s_one_of (data, "reason", s_reasons, details);
    }
    if (json_array_size (details))
        return request_input_invalid (request, details);

    inventory_location_t location;
    int found = inventory_location_load (self->db, location_id, &location);
    if (found < 0) {
        json_decref (details);
        return request_input_db_failure (request, self->db, "inventory");
    }
    if (found == 0 || !location.active) {
        request_input_problem (details, "location_id", "no such active location");
        return request_input_invalid (request, details);
    }
    json_decref (details);
    if (!inventory_may_act_at (request, &location))
        return request_input_forbidden (request, "you may adjust the stock of your own store only");

    char product_text [24], location_text [24], delta_text [24], reference [64];
    snprintf (product_text, sizeof product_text, "%lld", (long long) product_id);
    snprintf (location_text, sizeof location_text, "%lld", (long long) location_id);
    snprintf (delta_text, sizeof delta_text, "%lld", (long long) delta);
    snprintf (reference, sizeof reference, "adjustment:%s", reason);
    const char *params [] = {
        product_text, location_text, delta_text, reference, request->sub, request->role
    };
    //  The outer query cannot see the movement the function inserts (one
    //  snapshot per statement): the answer is built from what it returns.
    PGresult *res = pgdb_exec (self->db, "stock_adjust",
        "SELECT c.movement_id, $1::bigint, $2::bigint, 'adjustment', $4::text, $3::integer,"
        "       c.new_on_hand, $5::text, $6::text, " INVENTORY_TIME ("now ()") ","
        "       c.new_reserved, c.new_available"
        " FROM inventory_change ($1, $2, $3, 0, 'adjustment', $4, $5, $6) c", 6, params);
    if (!res)
        return request_input_db_failure (request, self->db, "inventory");
    if (PQntuples (res) == 0) {
        PQclear (res);
        json_t *short_line = json_pack ("[{s:I, s:I, s:I, s:I}]",
            "product_id", (json_int_t) product_id, "location_id", (json_int_t) location_id,
            "requested", (json_int_t) -delta,
            "available", s_available_now (self->db, product_text, location_text));
        return inventory_out_of_stock (request, short_line);
    }
    json_t *movement = s_movement_json (res, 0);
    if (movement) {
        json_object_set_new (movement, "reserved", json_integer (inventory_int (res, 0, 10)));
        json_object_set_new (movement, "available", json_integer (inventory_int (res, 0, 11)));
    }
    PQclear (res);
    return movement ? envelope_new_reply (request, 201, movement) : inventory_no_answer (request);
}

//  --------------------------------------------------------------------------

envelope_t *
movement_list (const envelope_t *request, void *state)
{
    inventory_state_t *self = (inventory_state_t *) state;
    envelope_t *refused = request_input_roles (request, inventory_staff_roles);
    if (refused)
        return refused;
    json_t *details = json_array ();
    int64_t product_id, location_id, page, per_page;
    inventory_id_param (request, "product_id", &product_id, details);
    inventory_id_param (request, "location_id", &location_id, details);
    inventory_read_page (request, &page, &per_page, details);
    const char *cause = request_input_param (request, "cause");
    bool known = cause == NULL;
    for (const char *const *word = s_causes; cause && *word; word++)
        known = known || streq (cause, *word);
    if (!known)
        request_input_problem (details, "cause", "is not one of the movement causes");
    if (json_array_size (details))
        return request_input_invalid (request, details);
    json_decref (details);

    char limit [24], offset [24];
    snprintf (limit, sizeof limit, "%lld", (long long) per_page);
    snprintf (offset, sizeof offset, "%lld", (long long) ((page - 1) * per_page));
    const char *params [] = {
        request_input_param (request, "product_id"), request_input_param (request, "location_id"),
        cause, limit, offset
    };
    PGresult *res = pgdb_exec (self->db, "movement_count",
        "SELECT count (*) FROM movements"
        " WHERE ($1::bigint IS NULL OR product_id = $1) AND ($2::bigint IS NULL OR location_id = $2)"
        "   AND ($3::text IS NULL OR cause = $3)", 3, params);
    if (!res)
        return request_input_db_failure (request, self->db, "inventory");
    json_int_t total = inventory_int (res, 0, 0);
    PQclear (res);
    res = pgdb_exec (self->db, "movement_list",
        "SELECT " MOVEMENT_COLUMNS ("m") " FROM movements m"
        " WHERE ($1::bigint IS NULL OR m.product_id = $1) AND ($2::bigint IS NULL OR m.location_id = $2)"
        "   AND ($3::text IS NULL OR m.cause = $3)"
        " ORDER BY m.id DESC LIMIT $4 OFFSET $5", 5, params);
    if (!res)
        return request_input_db_failure (request, self->db, "inventory");
    json_t *data = s_rows (res, s_movement_json);
    PQclear (res);
    if (!data)
        return inventory_no_answer (request);
    return inventory_page_reply (request, data, page, per_page, total);
}

//  --------------------------------------------------------------------------

static json_t *
s_alert_json (PGresult *res, int row)
{
    json_int_t available = inventory_int (res, row, 2);
    return json_pack ("{s:I, s:I, s:I, s:I, s:I, s:s}",
                      "product_id", inventory_int (res, row, 0),
                      "location_id", inventory_int (res, row, 1),
                      "available", available,
                      "on_hand", inventory_int (res, row, 3),
                      "alert_threshold", inventory_int (res, row, 4),
                      "level", available == 0 ? "out" : "low");
}

envelope_t *
alert_list (const envelope_t *request, void *state)
{
    inventory_state_t *self = (inventory_state_t *) state;
    envelope_t *refused = request_input_roles (request, inventory_staff_roles);
    if (refused)
        return refused;
    json_t *details = json_array ();
    int64_t location_id, page, per_page;
    inventory_id_param (request, "location_id", &location_id, details);
    inventory_read_page (request, &page, &per_page, details);
    const char *level = request_input_param (request, "level");
    if (level && !streq (level, "low") && !streq (level, "out"))
        request_input_problem (details, "level", "must be low or out");
    if (json_array_size (details))
        return request_input_invalid (request, details);
    json_decref (details);

    char limit [24], offset [24];
    snprintf (limit, sizeof limit, "%lld", (long long) per_page);
    snprintf (offset, sizeof offset, "%lld", (long long) ((page - 1) * per_page));
    const char *params [] = { request_input_param (request, "location_id"), level, limit, offset };
    #define ALERT_WHERE \
        " WHERE available <= alert_threshold AND ($1::bigint IS NULL OR location_id = $1)" \
        "   AND ($2::text IS NULL OR ($2 = 'out') = (available = 0))"
    PGresult *res = pgdb_exec (self->db, "alert_count",
        "SELECT count (*) FROM stock" ALERT_WHERE, 2, params);
    if (!res)
        return request_input_db_failure (request, self->db, "inventory");
    json_int_t total = inventory_int (res, 0, 0);
    PQclear (res);
    res = pgdb_exec (self->db, "alert_list",
        "SELECT product_id, location_id, available, on_hand, alert_threshold FROM stock" ALERT_WHERE
        " ORDER BY available = 0 DESC, location_id, product_id LIMIT $3 OFFSET $4", 4, params);
    #undef ALERT_WHERE
    if (!res)
        return request_input_db_failure (request, self->db, "inventory");
    json_t *data = s_rows (res, s_alert_json);
    PQclear (res);
    if (!data)
        return inventory_no_answer (request);
    return inventory_page_reply (request, data, page, per_page, total);
}
