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
    envelope_destroy (&request);
    if (verbose)
        printf ("OK\n");
}
