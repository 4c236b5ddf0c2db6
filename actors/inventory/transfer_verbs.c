/*  =========================================================================
    transfer_verbs - moving stock between locations

    Why it is built this way:

    - Every state change is one transaction that starts by locking the
      transfer row (SELECT ... FOR UPDATE): two managers approving the same
      transfer at once are served one after the other, and the second sees
      "approved" and answers 409 invalid_state. The status machine is a
      table of allowed moves, checked under that lock.
    - Approval reserves the quantity at the source (a conditional update
      through inventory_change), so what is promised to the destination
      cannot be sold meanwhile; cancelling an approved transfer releases it.
    - Delivery moves the goods: the source loses on_hand and the
      reservation, the destination gains on_hand, two movements, one
      transaction. The two stock rows are changed in location order, the
      same order for every transaction, so two deliveries in opposite
      directions do not deadlock.
    - Who: managers and admins (API.md), for the list too. A manager acts
      on transfers that leave from or arrive at their own store; an admin
      on any.
    - A create with an Idempotency-Key is stored with it: a retry finds the
      first transfer (same answer), the same key for another transfer is 422.
    =========================================================================
*/
#include "transfer_verbs.h"
#include "inventory_context.h"
#include "inventory_input.h"
#include "stock_verbs.h"

#include <stdlib.h>
#include <string.h>

#define TRANSFER_COLUMNS \
    "t.id, t.product_id, t.from_location_id, t.to_location_id, t.quantity, t.status, " \
    "t.requested_by, " INVENTORY_TIME ("t.created_at") ", " INVENTORY_TIME ("t.updated_at") ", " \
    "coalesce (f.store_id, 0), coalesce (d.store_id, 0)"

#define TRANSFER_FROM_OF(source) \
    " FROM " source " t JOIN locations f ON f.id = t.from_location_id" \
    " JOIN locations d ON d.id = t.to_location_id"
#define TRANSFER_FROM TRANSFER_FROM_OF ("transfers")

typedef enum {
    S_DONE = 0,
    S_NOT_FOUND = 1,
    S_INVALID_STATE = 2,
    S_OUT_OF_STOCK = 3,
    S_FORBIDDEN = 4,
    S_FAILED = -1
} s_outcome_t;

//  One state change: what the transaction needs and what it found.
typedef struct {
    const envelope_t *request;
    const char *id;             //  the transfer id, as text
    const char *action;         //  approve, deliver, cancel
    json_t *transfer;           //  the answer, when done
    json_int_t available;       //  at the source, when out of stock
    json_int_t quantity;
    json_int_t product_id;
} s_step_t;

//  --------------------------------------------------------------------------

static json_t *
s_transfer_json (PGresult *res, int row)
{
    return json_pack ("{s:I, s:I, s:I, s:I, s:I, s:s, s:o, s:s, s:s}",
                      "id", inventory_int (res, row, 0),
                      "product_id", inventory_int (res, row, 1),
                      "from_location_id", inventory_int (res, row, 2),
                      "to_location_id", inventory_int (res, row, 3),
                      "quantity", inventory_int (res, row, 4),
                      "status", PQgetvalue (res, row, 5),
                      "requested_by", PQgetisnull (res, row, 6)
                                      ? json_null () : json_string (PQgetvalue (res, row, 6)),
                      "created_at", PQgetvalue (res, row, 7),
                      "updated_at", PQgetvalue (res, row, 8));
}

//  A manager acts on transfers from or to their own store; admin on any.
static bool
s_may_act (const envelope_t *request, json_int_t from_store, json_int_t to_store)
{
    if (streq (request->role, "admin"))
        return true;
    return request->store_id > 0 && (request->store_id == from_store || request->store_id == to_store);
}

//  --------------------------------------------------------------------------
//  inventory_change in the open transaction: 1 done, 0 refused (not enough
//  stock), -1 failed.

static int
s_change (pgdb_t *db, const envelope_t *request, json_int_t product_id, json_int_t location_id,
          json_int_t on_hand_delta, json_int_t reserved_delta, const char *cause, const char *reference)
{
    char location [24];
    snprintf (location, sizeof location, "%lld", (long long) location_id);
    inventory_line_t line = { product_id, 0 };
    return inventory_change_line (db, request, location, &line, on_hand_delta, reserved_delta,
                                  cause, reference);
}

//  --------------------------------------------------------------------------
//  The transaction of approve, deliver and cancel.

static int
s_step (pgdb_t *db, void *arg)
{
    s_step_t *step = (s_step_t *) arg;
    json_decref (step->transfer);       //  from an attempt that was retried
    step->transfer = NULL;
    const char *params [] = { step->id };
    PGresult *res = pgdb_exec (db, "transfer_lock",
        "SELECT " TRANSFER_COLUMNS TRANSFER_FROM " WHERE t.id = $1 FOR UPDATE OF t", 1, params);
    if (!res)
        return S_FAILED;
    if (PQntuples (res) == 0) {
        PQclear (res);
        return S_NOT_FOUND;
    }
    json_int_t product_id = inventory_int (res, 0, 1);
    json_int_t from = inventory_int (res, 0, 2);
    json_int_t to = inventory_int (res, 0, 3);
    json_int_t quantity = inventory_int (res, 0, 4);
    char status [16];
    snprintf (status, sizeof status, "%s", PQgetvalue (res, 0, 5));
    bool allowed = s_may_act (step->request, inventory_int (res, 0, 9), inventory_int (res, 0, 10));
    PQclear (res);
    if (!allowed)
        return S_FORBIDDEN;
    step->product_id = product_id;
    step->quantity = quantity;

    char reference [48];
    snprintf (reference, sizeof reference, "transfer:%s", step->id);
    const char *next = NULL;
    int done = 1;
    if (streq (step->action, "approve")) {
        if (!streq (status, "requested"))
            return S_INVALID_STATE;
        done = s_change (db, step->request, product_id, from, 0, quantity, "transfer_hold", reference);
        if (done == 0) {
            const char *where [] = { step->id };
            res = pgdb_exec (db, "transfer_source_available",
                "SELECT coalesce ((SELECT s.available FROM stock s JOIN transfers t"
                "   ON s.product_id = t.product_id AND s.location_id = t.from_location_id"
                "  WHERE t.id = $1), 0)", 1, where);
            step->available = res ? inventory_int (res, 0, 0) : 0;
            PQclear (res);
            return S_OUT_OF_STOCK;
        }
        next = "approved";
    }
    else
    if (streq (step->action, "deliver")) {
        if (!streq (status, "approved"))
            return S_INVALID_STATE;
        //  Rows in location order: the same lock order in every transaction.
        if (from < to) {
            done = s_change (db, step->request, product_id, from, -quantity, -quantity, "transfer_out", reference);
            if (done == 1)
                done = s_change (db, step->request, product_id, to, quantity, 0, "transfer_in", reference);
        }
        else {
            done = s_change (db, step->request, product_id, to, quantity, 0, "transfer_in", reference);
            if (done == 1)
                done = s_change (db, step->request, product_id, from, -quantity, -quantity, "transfer_out", reference);
        }
        next = "delivered";
    }
    else {
        if (streq (status, "approved"))
            done = s_change (db, step->request, product_id, from, 0, -quantity, "transfer_release", reference);
        else
        if (!streq (status, "requested"))
            return S_INVALID_STATE;
        next = "cancelled";
    }
    if (done != 1)
        return S_FAILED;        //  the reservation held: only a broken database gets here

    const char *update [] = { step->id, next };
    res = pgdb_exec (db, "transfer_set_status",
        "WITH changed AS (UPDATE transfers SET status = $2, updated_at = now () WHERE id = $1 RETURNING *)"
        " SELECT " TRANSFER_COLUMNS TRANSFER_FROM_OF ("changed"), 2, update);
    if (!res)
        return S_FAILED;
    step->transfer = PQntuples (res) ? s_transfer_json (res, 0) : NULL;
    PQclear (res);
    return step->transfer ? S_DONE : S_FAILED;
}

//  --------------------------------------------------------------------------

static envelope_t *
s_run_step (const envelope_t *request, void *state, const char *action)
{
    inventory_state_t *self = (inventory_state_t *) state;
    envelope_t *refused = request_input_roles (request, inventory_manager_roles);
    if (refused)
        return refused;
    int64_t id;
    envelope_t *invalid = inventory_required_id (request, "id", &id);
    if (invalid)
        return invalid;

    s_step_t step = { .request = request, .id = request_input_param (request, "id"), .action = action };
    int outcome = pgdb_transaction (self->db, NULL, s_step, &step, 5);
    envelope_t *reply;
    switch (outcome) {
        case S_DONE:
            reply = envelope_new_reply (request, 200, step.transfer);
            step.transfer = NULL;
            break;
        case S_NOT_FOUND:
            reply = request_input_not_found (request, "transfer");
            break;
        case S_FORBIDDEN:
            reply = request_input_forbidden (request, "you may act on transfers of your own store only");
            break;
        case S_INVALID_STATE: {
            char message [64];
            snprintf (message, sizeof message, "this transfer cannot be %s now",
                      streq (action, "approve") ? "approved"
                    : streq (action, "deliver") ? "delivered" : "cancelled");
            reply = inventory_invalid_state (request, message);
            break;
        }
        case S_OUT_OF_STOCK:
            reply = inventory_out_of_stock (request, json_pack ("[{s:I, s:I, s:I}]",
                "product_id", step.product_id, "requested", step.quantity,
                "available", step.available));
            break;
        default:
            reply = request_input_db_failure (request, self->db, "inventory");
    }
    json_decref (step.transfer);
    return reply;
}

envelope_t *
transfer_approve (const envelope_t *request, void *state)
{
    return s_run_step (request, state, "approve");
}

envelope_t *
transfer_deliver (const envelope_t *request, void *state)
{
    return s_run_step (request, state, "deliver");
}

envelope_t *
transfer_cancel (const envelope_t *request, void *state)
{
    return s_run_step (request, state, "cancel");
}

//  --------------------------------------------------------------------------
//  The transfer stored under the caller's Idempotency-Key, when it matches
//  the request: 1 (reply set), 0 none, -1 failed.

static int
s_replay (pgdb_t *db, const envelope_t *request, const char *const *fields, envelope_t **reply)
{
    const char *params [] = { request->sub ? request->sub : "", request->idem_key };
    PGresult *res = pgdb_exec (db, "transfer_by_key",
        "SELECT " TRANSFER_COLUMNS TRANSFER_FROM
        " WHERE t.requested_by = $1 AND t.idempotency_key = $2", 2, params);
    if (!res)
        return -1;
    if (PQntuples (res) == 0) {
        PQclear (res);
        return 0;
    }
    bool same = true;
    for (int column = 1; column <= 4; column++)
        same = same && streq (PQgetvalue (res, 0, column), fields [column - 1]);
    if (same) {
        json_t *transfer = s_transfer_json (res, 0);
        *reply = transfer ? envelope_new_reply (request, 201, transfer) : inventory_no_answer (request);
    }
    else
        *reply = envelope_new_error (request, 422, "idempotency_key_reused",
                                     "this Idempotency-Key was used for another transfer", NULL);
    PQclear (res);
    return 1;
}

envelope_t *
transfer_create (const envelope_t *request, void *state)
{
    inventory_state_t *self = (inventory_state_t *) state;
    envelope_t *refused = request_input_roles (request, inventory_manager_roles);
    if (refused)
        return refused;
    static const char *const allowed [] = {
        "product_id", "from_location_id", "to_location_id", "quantity", NULL
    };
    json_t *details = json_array ();
    int64_t product_id = 0, from = 0, to = 0, quantity = 0;
    json_t *data = request_input_object (request, details);
    if (data) {
        request_input_unknown_fields (data, allowed, details);
        inventory_required_integer (data, "product_id", 1, INT64_MAX, &product_id, details);
        inventory_required_integer (data, "from_location_id", 1, INT64_MAX, &from, details);
        inventory_required_integer (data, "to_location_id", 1, INT64_MAX, &to, details);
        inventory_required_integer (data, "quantity", 1, INVENTORY_MAX_QUANTITY, &quantity, details);
        if (from && from == to)
            request_input_problem (details, "to_location_id", "must differ from from_location_id");
    }
    if (request->idem_key && strlen (request->idem_key) > 200)
        request_input_problem (details, "Idempotency-Key", "must be at most 200 characters");
    if (json_array_size (details))
        return request_input_invalid (request, details);

    inventory_location_t source, destination;
    int found_source = inventory_location_load (self->db, from, &source);
    int found_destination = found_source < 0 ? -1 : inventory_location_load (self->db, to, &destination);
    if (found_source < 0 || found_destination < 0) {
        json_decref (details);
        return request_input_db_failure (request, self->db, "inventory");
    }
    if (!found_source || !source.active)
        request_input_problem (details, "from_location_id", "no such active location");
    if (!found_destination || !destination.active)
        request_input_problem (details, "to_location_id", "no such active location");
    if (json_array_size (details))
        return request_input_invalid (request, details);
    json_decref (details);
    if (!s_may_act (request, source.store_id, destination.store_id))
        return request_input_forbidden (request, "you may request transfers of your own store only");

    char texts [4][24];
    snprintf (texts [0], 24, "%lld", (long long) product_id);
    snprintf (texts [1], 24, "%lld", (long long) from);
    snprintf (texts [2], 24, "%lld", (long long) to);
    snprintf (texts [3], 24, "%lld", (long long) quantity);
    const char *fields [] = { texts [0], texts [1], texts [2], texts [3] };
    envelope_t *reply = NULL;
    if (request->idem_key) {
        int replayed = s_replay (self->db, request, fields, &reply);
        if (replayed)
            return replayed < 0 ? request_input_db_failure (request, self->db, "inventory") : reply;
    }
    const char *params [] = {
        texts [0], texts [1], texts [2], texts [3], request->sub ? request->sub : "", request->idem_key
    };
    PGresult *res = pgdb_exec (self->db, "transfer_create",
        "WITH created AS (INSERT INTO transfers (product_id, from_location_id, to_location_id, quantity,"
        "                                        requested_by, idempotency_key)"
        "                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING *)"
        " SELECT " TRANSFER_COLUMNS TRANSFER_FROM_OF ("created"), 6, params);
    if (!res) {
        //  The same key at the same moment: the other request won; replay it.
        if (pgdb_is_unique_violation (self->db) && request->idem_key
        &&  s_replay (self->db, request, fields, &reply) == 1)
            return reply;
        return request_input_db_failure (request, self->db, "inventory");
    }
    json_t *transfer = PQntuples (res) ? s_transfer_json (res, 0) : NULL;
    PQclear (res);
    return transfer ? envelope_new_reply (request, 201, transfer) : inventory_no_answer (request);
}

//  --------------------------------------------------------------------------

envelope_t *
transfer_get (const envelope_t *request, void *state)
{
    inventory_state_t *self = (inventory_state_t *) state;
    envelope_t *refused = request_input_roles (request, inventory_manager_roles);
    if (refused)
        return refused;
    int64_t id;
    envelope_t *invalid = inventory_required_id (request, "id", &id);
    if (invalid)
        return invalid;
    const char *params [] = { request_input_param (request, "id") };
    PGresult *res = pgdb_exec (self->db, "transfer_get",
        "SELECT " TRANSFER_COLUMNS TRANSFER_FROM " WHERE t.id = $1", 1, params);
    if (!res)
        return request_input_db_failure (request, self->db, "inventory");
    json_t *transfer = PQntuples (res) ? s_transfer_json (res, 0) : NULL;
    bool found = PQntuples (res) > 0;
    PQclear (res);
    if (!found)
        return request_input_not_found (request, "transfer");
    return transfer ? envelope_new_reply (request, 200, transfer) : inventory_no_answer (request);
}

//  --------------------------------------------------------------------------

envelope_t *
transfer_list (const envelope_t *request, void *state)
{
    inventory_state_t *self = (inventory_state_t *) state;
    envelope_t *refused = request_input_roles (request, inventory_manager_roles);
    if (refused)
        return refused;
    json_t *details = json_array ();
    int64_t location_id, page, per_page;
    inventory_id_param (request, "location_id", &location_id, details);
    inventory_read_page (request, &page, &per_page, details);
    const char *status = request_input_param (request, "status");
    if (status && !streq (status, "requested") && !streq (status, "approved")
    &&  !streq (status, "delivered") && !streq (status, "cancelled"))
        request_input_problem (details, "status", "must be requested, approved, delivered or cancelled");
    if (json_array_size (details))
        return request_input_invalid (request, details);
    json_decref (details);

    char limit [24], offset [24];
    snprintf (limit, sizeof limit, "%lld", (long long) per_page);
    snprintf (offset, sizeof offset, "%lld", (long long) ((page - 1) * per_page));
    const char *params [] = { status, request_input_param (request, "location_id"), limit, offset };
    #define TRANSFER_WHERE \
        " WHERE ($1::text IS NULL OR t.status = $1)" \
        "   AND ($2::bigint IS NULL OR t.from_location_id = $2 OR t.to_location_id = $2)"
    PGresult *res = pgdb_exec (self->db, "transfer_count",
        "SELECT count (*) FROM transfers t" TRANSFER_WHERE, 2, params);
    if (!res)
        return request_input_db_failure (request, self->db, "inventory");
    json_int_t total = inventory_int (res, 0, 0);
    PQclear (res);
    res = pgdb_exec (self->db, "transfer_list",
        "SELECT " TRANSFER_COLUMNS TRANSFER_FROM TRANSFER_WHERE
        " ORDER BY t.id DESC LIMIT $3 OFFSET $4", 4, params);
    #undef TRANSFER_WHERE
    if (!res)
        return request_input_db_failure (request, self->db, "inventory");
    json_t *data = json_array ();
    for (int row = 0; data && row < PQntuples (res); row++)
        json_array_append_new (data, s_transfer_json (res, row));
    PQclear (res);
    if (!data)
        return inventory_no_answer (request);
    return inventory_page_reply (request, data, page, per_page, total);
}
