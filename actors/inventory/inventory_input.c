/*  =========================================================================
    inventory_input - what every inventory handler checks first

    The store rule: a cashier or a manager carries the store_id of the store
    they work in (a claim of their token); they act only on the location
    whose store_id is theirs. An admin acts anywhere. Reads are open to all
    staff, because a cashier answering "is it in stock in Toronto?" and a
    manager planning a transfer both need every location's levels; the
    rule applies to what changes stock. Transfers, listed or changed, are
    for managers and admins (transfer_verbs).

    Reservations are asked for by other contexts through the broker, never
    by HTTP clients: the caller sets role "service" and its own name as the
    consumer. The edge never forwards that role (tokens carry customer,
    cashier, manager or admin) and the route table has no reservation route.
    =========================================================================
*/
#include "inventory_input.h"

#include <stdlib.h>
#include <string.h>

#define INVENTORY_MAX_PAGE      1000000
#define INVENTORY_MAX_PER_PAGE  100
#define INVENTORY_PER_PAGE      20

const char *const inventory_staff_roles [] = { "cashier", "manager", "admin", NULL };
const char *const inventory_manager_roles [] = { "manager", "admin", NULL };
const char *const inventory_service_roles [] = { "service", NULL };

//  The contexts that may hold stock.
static const char *const s_service_consumers [] = { "order", "sales", NULL };

//  --------------------------------------------------------------------------

int
inventory_location_load (pgdb_t *db, int64_t id, inventory_location_t *location)
{
    char text [24];
    snprintf (text, sizeof text, "%lld", (long long) id);
    const char *params [] = { text };
    PGresult *res = pgdb_exec (db, "inventory_location_load",
        "SELECT id, type, coalesce (store_id, 0), active FROM locations WHERE id = $1",
        1, params);
    if (!res)
        return -1;
    int found = PQntuples (res) == 1;
    if (found) {
        memset (location, 0, sizeof *location);
        location->id = inventory_int (res, 0, 0);
        snprintf (location->type, sizeof location->type, "%s", PQgetvalue (res, 0, 1));
        location->store_id = inventory_int (res, 0, 2);
        location->active = streq (PQgetvalue (res, 0, 3), "t");
    }
    PQclear (res);
    return found;
}

//  --------------------------------------------------------------------------

envelope_t *
inventory_store_location (pgdb_t *db, const envelope_t *request, int64_t store_id,
                          char *location, size_t size)
{
    char text [24];
    snprintf (text, sizeof text, "%lld", (long long) store_id);
    const char *params [] = { text };
    PGresult *res = pgdb_exec (db, "inventory_store_location",
        "SELECT id FROM locations WHERE store_id = $1 AND type = 'store' AND active", 1, params);
    if (!res)
        return request_input_db_failure (request, db, "inventory");
    bool found = PQntuples (res) == 1;
    if (found)
        snprintf (location, size, "%s", PQgetvalue (res, 0, 0));
    PQclear (res);
    return found ? NULL : request_input_not_found (request, "store");
}

//  --------------------------------------------------------------------------

bool
inventory_may_act_at (const envelope_t *request, const inventory_location_t *location)
{
    if (request->role && streq (request->role, "admin"))
        return true;
    return location->store_id > 0 && request->store_id == location->store_id;
}

//  --------------------------------------------------------------------------

envelope_t *
inventory_require_service (const envelope_t *request)
{
    envelope_t *reply = request_input_roles (request, inventory_service_roles);
    if (reply)
        return reply;
    for (const char *const *consumer = s_service_consumers; *consumer; consumer++)
        if (request->consumer && streq (request->consumer, *consumer))
            return NULL;
    return request_input_forbidden (request, "this context may not hold stock");
}

//  --------------------------------------------------------------------------

void
inventory_read_page (const envelope_t *request, int64_t *page, int64_t *per_page, json_t *details)
{
    *page = 1;
    *per_page = INVENTORY_PER_PAGE;
    const char *text = request_input_param (request, "page");
    if (text && request_input_int (text, 1, INVENTORY_MAX_PAGE, page))
        request_input_problem (details, "page", "must be an integer between 1 and 1000000");
    text = request_input_param (request, "per_page");
    if (text && request_input_int (text, 1, INVENTORY_MAX_PER_PAGE, per_page))
        request_input_problem (details, "per_page", "must be an integer between 1 and 100");
}

//  --------------------------------------------------------------------------

int
inventory_id_param (const envelope_t *request, const char *name, int64_t *value, json_t *details)
{
    const char *text = request_input_param (request, name);
    if (!text)
        return 0;
    if (request_input_int (text, 1, INT64_MAX, value)) {
        request_input_problem (details, name, "must be a positive integer");
        return -1;
    }
    return 1;
}

//  --------------------------------------------------------------------------

envelope_t *
inventory_required_id (const envelope_t *request, const char *name, int64_t *value)
{
    json_t *details = json_array ();
    if (inventory_id_param (request, name, value, details) == 1) {
        json_decref (details);
        return NULL;
    }
    if (json_array_size (details) == 0)
        request_input_problem (details, name, "is required");
    return request_input_invalid (request, details);
}

//  --------------------------------------------------------------------------

int
inventory_required_integer (json_t *object, const char *field, int64_t min, int64_t max,
                            int64_t *value, json_t *details)
{
    int found = request_input_integer (object, field, min, max, value, details);
    if (found == 0)
        request_input_problem (details, field, "is required");
    return found == 1 ? 0 : -1;
}

//  --------------------------------------------------------------------------

static int
s_by_product (const void *a, const void *b)
{
    const inventory_line_t *left = (const inventory_line_t *) a;
    const inventory_line_t *right = (const inventory_line_t *) b;
    return (left->product_id > right->product_id) - (left->product_id < right->product_id);
}

//  One line into *line: 0, or -1 with its problems named after it.
static int
s_read_line (json_t *item, size_t index, int64_t max_quantity, inventory_line_t *line,
             json_t *details)
{
    static const char *const allowed [] = { "product_id", "quantity", NULL };
    char field [48];
    snprintf (field, sizeof field, "lines[%zu]", index);
    if (!json_is_object (item)) {
        request_input_problem (details, field, "must be an object");
        return -1;
    }
    json_t *problems = json_array ();
    request_input_unknown_fields (item, allowed, problems);
    inventory_required_integer (item, "product_id", 1, INT64_MAX, &line->product_id, problems);
    inventory_required_integer (item, "quantity", 1, max_quantity, &line->quantity, problems);
    size_t which;
    json_t *problem;
    json_array_foreach (problems, which, problem) {
        char named [96];
        snprintf (named, sizeof named, "%s.%s", field,
                  json_string_value (json_object_get (problem, "field")));
        request_input_problem (details, named,
                               json_string_value (json_object_get (problem, "problem")));
    }
    int rc = json_array_size (problems) ? -1 : 0;
    json_decref (problems);
    return rc;
}

size_t
inventory_read_lines (json_t *data, inventory_line_t *lines, int64_t max_quantity,
                      inventory_repeats_t repeats, json_t *details)
{
    json_t *items = json_object_get (data, "lines");
    if (!json_is_array (items) || json_array_size (items) == 0
    ||  json_array_size (items) > INVENTORY_MAX_LINES) {
        request_input_problem (details, "lines", "must be an array of 1 to 100 lines");
        return 0;
    }
    size_t count = 0, index;
    json_t *item;
    json_array_foreach (items, index, item)
        if (s_read_line (item, index, max_quantity, &lines [count], details) == 0)
            count++;
    qsort (lines, count, sizeof (inventory_line_t), s_by_product);
    size_t kept = count ? 1 : 0;
    for (size_t i = 1; i < count; i++) {
        if (lines [i].product_id != lines [kept - 1].product_id)
            lines [kept++] = lines [i];
        else
        if (repeats == INVENTORY_MERGE_REPEATS)
            lines [kept - 1].quantity += lines [i].quantity;   //  at most 100 x max: no overflow
        else {
            request_input_problem (details, "lines", "a product appears on two lines");
            break;
        }
    }
    return kept;
}

//  --------------------------------------------------------------------------

bool
inventory_lines_equal (json_t *stored, const inventory_line_t *lines, size_t count)
{
    bool same = json_is_array (stored) && json_array_size (stored) == count;
    for (size_t i = 0; same && i < count; i++) {
        json_t *line = json_array_get (stored, i);
        same = json_integer_value (json_object_get (line, "product_id")) == lines [i].product_id
            && json_integer_value (json_object_get (line, "quantity")) == lines [i].quantity;
    }
    return same;
}

//  --------------------------------------------------------------------------

const char *
inventory_name_field (json_t *data, const char *field, size_t max, bool required, json_t *details)
{
    json_t *value = json_object_get (data, field);
    if (!value) {
        if (required)
            request_input_problem (details, field, "is required");
        return NULL;
    }
    const char *text = json_string_value (value);
    size_t length = text ? strlen (text) : 0;
    bool ok = length > 0 && length <= max;
    for (size_t i = 0; ok && i < length; i++) {
        char c = text [i];
        ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
          || c == ':' || c == '_' || c == '.' || c == '-';
    }
    if (!ok) {
        char problem [96];
        snprintf (problem, sizeof problem,
                  "must be 1 to %zu of letters, digits, ':', '_', '.', '-'", max);
        request_input_problem (details, field, problem);
        return NULL;
    }
    return text;
}

//  --------------------------------------------------------------------------

int
inventory_change_line (pgdb_t *db, const envelope_t *request, const char *location_id,
                       const inventory_line_t *line, int64_t on_hand_delta,
                       int64_t reserved_delta, const char *cause, const char *reference)
{
    char product [24], on_hand [24], reserved [24];
    snprintf (product, sizeof product, "%lld", (long long) line->product_id);
    snprintf (on_hand, sizeof on_hand, "%lld", (long long) on_hand_delta);
    snprintf (reserved, sizeof reserved, "%lld", (long long) reserved_delta);
    const char *params [] = {
        product, location_id, on_hand, reserved, cause, reference, request ? request->sub : NULL,
        request ? request->role : "system"
    };
    PGresult *res = pgdb_exec (db, "inventory_change_line",
        "SELECT new_available FROM inventory_change ($1, $2, $3, $4, $5, $6, $7, $8)", 8, params);
    if (!res)
        return -1;
    int done = PQntuples (res) == 1;
    PQclear (res);
    return done;
}

//  --------------------------------------------------------------------------

int
inventory_short_line (pgdb_t *db, const char *location_id, const inventory_line_t *line,
                      json_t *short_lines)
{
    char product [24];
    snprintf (product, sizeof product, "%lld", (long long) line->product_id);
    const char *params [] = { product, location_id };
    PGresult *res = pgdb_exec (db, "inventory_short_line",
        "SELECT coalesce ((SELECT available FROM stock"
        "                   WHERE product_id = $1 AND location_id = $2), 0)", 2, params);
    if (!res)
        return -1;
    json_array_append_new (short_lines, json_pack ("{s:I, s:I, s:I}",
        "product_id", (json_int_t) line->product_id,
        "requested", (json_int_t) line->quantity,
        "available", inventory_int (res, 0, 0)));
    PQclear (res);
    return 0;
}

//  --------------------------------------------------------------------------

json_int_t
inventory_int (PGresult *res, int row, int column)
{
    return (json_int_t) strtoll (PQgetvalue (res, row, column), NULL, 10);
}

//  --------------------------------------------------------------------------

envelope_t *
inventory_page_reply (const envelope_t *request, json_t *data,
                      int64_t page, int64_t per_page, json_int_t total)
{
    json_t *body = json_pack ("{s:o, s:{s:I, s:I, s:I}}", "data", data,
                              "meta", "page", (json_int_t) page,
                              "per_page", (json_int_t) per_page, "total", total);
    if (!body)
        return inventory_no_answer (request);
    return envelope_new_reply (request, 200, body);
}

//  --------------------------------------------------------------------------

envelope_t *
inventory_out_of_stock (const envelope_t *request, json_t *details)
{
    return envelope_new_error (request, 409, "out_of_stock",
                               "not enough stock available", details);
}

envelope_t *
inventory_invalid_state (const envelope_t *request, const char *message)
{
    return envelope_new_error (request, 409, "invalid_state", message, NULL);
}

envelope_t *
inventory_no_answer (const envelope_t *request)
{
    return envelope_new_error (request, 500, "internal_error", "cannot build the answer", NULL);
}

//  --------------------------------------------------------------------------

void
inventory_input_test (bool verbose)
{
    if (verbose)
        printf (" * inventory_input: ");
    envelope_t *request = envelope_new_request ("stock.adjust");
    assert (request);
    inventory_location_t store = { .id = 2, .store_id = 2 };
    inventory_location_t warehouse = { .id = 4, .store_id = 0 };

    //  staff act at their own store only; admin anywhere
    envelope_set_str (&request->role, "cashier");
    request->store_id = 2;
    assert (inventory_may_act_at (request, &store));
    assert (!inventory_may_act_at (request, &warehouse));
    request->store_id = 1;
    assert (!inventory_may_act_at (request, &store));
    envelope_set_str (&request->role, "admin");
    request->store_id = 0;
    assert (inventory_may_act_at (request, &store) && inventory_may_act_at (request, &warehouse));

    //  services: role and consumer both
    envelope_t *reply = inventory_require_service (request);
    assert (reply && reply->status == 403);
    envelope_destroy (&reply);
    envelope_set_str (&request->role, "service");
    reply = inventory_require_service (request);
    assert (reply && reply->status == 403);
    envelope_destroy (&reply);
    envelope_set_str (&request->consumer, "order");
    assert (inventory_require_service (request) == NULL);
    envelope_set_str (&request->role, NULL);
    reply = inventory_require_service (request);
    assert (reply && reply->status == 401);
    envelope_destroy (&reply);

    //  paging
    request->body = json_pack ("{s:{s:s, s:s}}", "params", "page", "3", "per_page", "101");
    json_t *details = json_array ();
    int64_t page, per_page;
    inventory_read_page (request, &page, &per_page, details);
    assert (page == 3 && json_array_size (details) == 1);
    json_decref (details);

    //  lines: sorted by product; a repeated product merged or refused
    inventory_line_t lines [INVENTORY_MAX_LINES];
    json_t *data = json_loads ("{\"lines\": [{\"product_id\": 9, \"quantity\": 2},"
                               " {\"product_id\": 3, \"quantity\": 1}, {\"product_id\": 9, \"quantity\": 5}]}",
                               0, NULL);
    details = json_array ();
    assert (inventory_read_lines (data, lines, 10, INVENTORY_MERGE_REPEATS, details) == 2);
    assert (json_array_size (details) == 0);
    assert (lines [0].product_id == 3 && lines [1].product_id == 9 && lines [1].quantity == 7);
    inventory_read_lines (data, lines, 10, INVENTORY_REFUSE_REPEATS, details);
    assert (json_array_size (details) == 1);
    json_decref (details);
    details = json_array ();
    json_object_set_new (data, "lines", json_pack ("[{s:i, s:i}]", "product_id", 3, "quantity", 11));
    assert (inventory_read_lines (data, lines, 10, INVENTORY_MERGE_REPEATS, details) == 0);
    assert (streq (json_string_value (json_object_get (json_array_get (details, 0), "field")),
                   "lines[0].quantity"));
    json_decref (details);
    json_decref (data);
    envelope_destroy (&request);
    if (verbose)
        printf ("OK\n");
}
