/*  =========================================================================
    reservation_verbs - stock held for a checkout, by another context

    Why it is built this way:

    - All lines or none: one transaction takes every line with a
      conditional update (inventory_change: reserved + q only where
      available >= q, re-checked by PostgreSQL on the newest row when
      transactions race), and rolls back when any line is short. The lines
      are taken in product order, the same order in every transaction, so
      two reservations of the same products never deadlock.
    - The caller names the reservation (the order context uses its order's
      reference). The id is the primary key: a retried reserve finds the
      reservation it made (or waits for the first attempt to commit and
      then finds it) instead of holding the stock twice; commit, release
      and restock lock the reservation row and look at its status, so
      doing one twice does it once.
    - Where: the web channel's location for a shipped order, or a store's
      (store_id, resolved as the point of sale resolves it) for click &
      collect, so a pickup order and the store's tills take the same units
      under the same conditional update and can never sell one twice.
    - Expiry: a held reservation past expires_at is released by the sweep
      (inventory_context's sweeper, every inventory/reservation_sweep_ms),
      one reservation per transaction, taken with FOR UPDATE SKIP LOCKED so
      that sweepers of several processes share the work without waiting on
      each other. A commit that arrives after expires_at but before the
      sweep still succeeds: the stock was still held.
    =========================================================================
*/
#include "reservation_verbs.h"
#include "inventory_context.h"
#include "inventory_input.h"
#include "stock_verbs.h"

#include <stdlib.h>
#include <string.h>

#define RESERVATION_ID_MAX     100
#define RESERVATION_REF_MAX    200

typedef enum {
    S_DONE = 0,
    S_NOT_FOUND = 1,
    S_INVALID_STATE = 2,
    S_OUT_OF_STOCK = 3,
    S_EXISTS = 4,
    S_FAILED = -1
} s_outcome_t;

typedef struct {
    const envelope_t *request;
    const char *id;
    const char *reference;          //  reserve: the reference; commit: a new one or NULL
    char location [24];
    char ttl [24];
    inventory_line_t lines [INVENTORY_MAX_LINES];
    size_t line_count;
    json_t *short_lines;            //  reserve: the lines that were short
    const char *action;             //  commit, release, restock
    bool replayed;                  //  already in the state asked for
} s_work_t;

//  --------------------------------------------------------------------------

static int
s_reserve (pgdb_t *db, void *arg)
{
    s_work_t *work = (s_work_t *) arg;
    json_decref (work->short_lines);
    work->short_lines = NULL;
    const char *params [] = {
        work->id, work->location, work->reference, work->ttl,
        work->request->consumer
    };
    PGresult *res = pgdb_exec (db, "reservation_insert",
        "INSERT INTO reservations (id, location_id, reference, expires_at, created_by)"
        " VALUES ($1, $2, $3, now () + make_interval (secs => $4::integer), $5)"
        " ON CONFLICT (id) DO NOTHING RETURNING id", 5, params);
    if (!res)
        return S_FAILED;
    bool created = PQntuples (res) == 1;
    PQclear (res);
    if (!created)
        return S_EXISTS;

    work->short_lines = json_array ();
    for (size_t i = 0; i < work->line_count; i++) {
        const inventory_line_t *line = &work->lines [i];
        char product [24], quantity [24];
        snprintf (product, sizeof product, "%lld", (long long) line->product_id);
        snprintf (quantity, sizeof quantity, "%lld", (long long) line->quantity);
        const char *line_params [] = { work->id, product, quantity };
        res = pgdb_exec (db, "reservation_line_insert",
            "INSERT INTO reservation_lines (reservation_id, product_id, quantity) VALUES ($1, $2, $3)",
            3, line_params);
        if (!res)
            return S_FAILED;
        PQclear (res);
        int done = inventory_change_line (db, work->request, work->location, line, 0,
                                          line->quantity, "reservation", work->reference);
        if (done < 0)
            return S_FAILED;
        if (done == 0 && inventory_short_line (db, work->location, line, work->short_lines))
            return S_FAILED;
    }
    return json_array_size (work->short_lines) ? S_OUT_OF_STOCK : S_DONE;
}

//  --------------------------------------------------------------------------
//  Commit, release or restock one reservation, under its row lock.

static int
s_settle (pgdb_t *db, void *arg)
{
    s_work_t *work = (s_work_t *) arg;
    work->replayed = false;
    const char *params [] = { work->id };
    PGresult *res = pgdb_exec (db, "reservation_lock",
        "SELECT status, location_id, reference FROM reservations WHERE id = $1 FOR UPDATE",
        1, params);
    if (!res)
        return S_FAILED;
    if (PQntuples (res) == 0) {
        PQclear (res);
        return S_NOT_FOUND;
    }
    char status [16], reference [RESERVATION_REF_MAX + 1];
    snprintf (status, sizeof status, "%s", PQgetvalue (res, 0, 0));
    snprintf (work->location, sizeof work->location, "%s", PQgetvalue (res, 0, 1));
    snprintf (reference, sizeof reference, "%s", work->reference ? work->reference : PQgetvalue (res, 0, 2));
    PQclear (res);

    const char *from, *to, *cause;
    int64_t on_hand_sign, reserved_sign;
    if (streq (work->action, "commit")) {
        from = "held"; to = "committed"; cause = "order"; on_hand_sign = -1; reserved_sign = -1;
        work->replayed = streq (status, "committed");
    }
    else
    if (streq (work->action, "release")) {
        from = "held"; to = "released"; cause = "release"; on_hand_sign = 0; reserved_sign = -1;
        work->replayed = streq (status, "released") || streq (status, "expired");
    }
    else
    if (streq (work->action, "restock")) {
        from = "committed"; to = "restocked"; cause = "order_cancel"; on_hand_sign = 1; reserved_sign = 0;
        work->replayed = streq (status, "restocked");
    }
    else {  //  expire: the sweep
        from = "held"; to = "expired"; cause = "expiry"; on_hand_sign = 0; reserved_sign = -1;
    }
    if (work->replayed)
        return S_DONE;
    if (!streq (status, from))
        return S_INVALID_STATE;

    res = pgdb_exec (db, "reservation_lines",
        "SELECT product_id, quantity FROM reservation_lines WHERE reservation_id = $1"
        " ORDER BY product_id", 1, params);
    if (!res)
        return S_FAILED;
    int outcome = S_DONE;
    for (int row = 0; outcome == S_DONE && row < PQntuples (res); row++) {
        inventory_line_t line = { inventory_int (res, row, 0), inventory_int (res, row, 1) };
        if (inventory_change_line (db, work->request, work->location, &line,
                                   on_hand_sign * line.quantity, reserved_sign * line.quantity,
                                   cause, reference) != 1)
            outcome = S_FAILED;     //  the constraints say the held stock is there
    }
    PQclear (res);
    if (outcome != S_DONE)
        return outcome;
    const char *update [] = { work->id, to, reference };
    res = pgdb_exec (db, "reservation_set_status",
        "UPDATE reservations SET status = $2, reference = $3, updated_at = now () WHERE id = $1",
        3, update);
    if (!res)
        return S_FAILED;
    PQclear (res);
    return S_DONE;
}

//  --------------------------------------------------------------------------
//  The reservation as JSON, or NULL (not found or failed: *failed says).

static json_t *
s_load (pgdb_t *db, const char *id, bool *failed)
{
    const char *params [] = { id };
    PGresult *res = pgdb_exec (db, "reservation_load",
        "SELECT r.id, r.location_id, r.reference, r.status, " INVENTORY_TIME ("r.expires_at") ", "
        INVENTORY_TIME ("r.created_at") ", " INVENTORY_TIME ("r.updated_at") ","
        " coalesce ((SELECT json_agg (json_build_object ('product_id', l.product_id,"
        "                                                 'quantity', l.quantity) ORDER BY l.product_id)"
        "              FROM reservation_lines l WHERE l.reservation_id = r.id), '[]')"
        " FROM reservations r WHERE r.id = $1", 1, params);
    *failed = res == NULL;
    if (!res || PQntuples (res) == 0) {
        PQclear (res);
        return NULL;
    }
    json_t *lines = json_loads (PQgetvalue (res, 0, 7), 0, NULL);
    json_t *reservation = lines ? json_pack ("{s:s, s:I, s:s, s:s, s:s, s:s, s:s, s:o}",
        "id", PQgetvalue (res, 0, 0),
        "location_id", inventory_int (res, 0, 1),
        "reference", PQgetvalue (res, 0, 2),
        "status", PQgetvalue (res, 0, 3),
        "expires_at", PQgetvalue (res, 0, 4),
        "created_at", PQgetvalue (res, 0, 5),
        "updated_at", PQgetvalue (res, 0, 6),
        "lines", lines) : NULL;
    *failed = reservation == NULL;
    PQclear (res);
    return reservation;
}

static envelope_t *
s_reservation_reply (const envelope_t *request, pgdb_t *db, const char *id, int status)
{
    bool failed;
    json_t *reservation = s_load (db, id, &failed);
    if (reservation)
        return envelope_new_reply (request, status, reservation);
    return failed ? request_input_db_failure (request, db, "inventory")
                  : request_input_not_found (request, "reservation");
}

//  --------------------------------------------------------------------------
//  A reserve whose id exists: the same request retried gets the reservation
//  (200, whatever its status now); the id reused for other lines or
//  another location is a caller's bug, answered 409 conflict.

static envelope_t *
s_existing_reply (const envelope_t *request, pgdb_t *db, const s_work_t *work)
{
    bool failed;
    json_t *reservation = s_load (db, work->id, &failed);
    if (!reservation)
        return failed ? request_input_db_failure (request, db, "inventory")
                      : request_input_conflict (request, "this reservation is being replaced; try again");
    bool same = json_integer_value (json_object_get (reservation, "location_id")) == atoll (work->location)
             && inventory_lines_equal (json_object_get (reservation, "lines"), work->lines, work->line_count);
    if (!same) {
        json_decref (reservation);
        return request_input_conflict (request, "this reservation_id already holds other lines");
    }
    return envelope_new_reply (request, 200, reservation);
}

//  --------------------------------------------------------------------------

envelope_t *
reservation_reserve (const envelope_t *request, void *state)
{
    inventory_state_t *self = (inventory_state_t *) state;
    envelope_t *refused = inventory_require_service (request);
    if (refused)
        return refused;
    static const char *const allowed [] = {
        "reservation_id", "reference", "location_id", "store_id", "lines", "ttl_s", NULL
    };
    s_work_t *work = (s_work_t *) zmalloc (sizeof (s_work_t));
    if (!work)
        return inventory_no_answer (request);
    work->request = request;
    json_t *details = json_array ();
    int64_t location_id = 0, store_id = 0, ttl_s = self->reservation_ttl_s;
    json_t *data = request_input_object (request, details);
    if (data) {
        request_input_unknown_fields (data, allowed, details);
        work->id = inventory_name_field (data, "reservation_id", RESERVATION_ID_MAX, true, details);
        work->reference = inventory_name_field (data, "reference", RESERVATION_REF_MAX, false, details);
        request_input_integer (data, "location_id", 1, INT64_MAX, &location_id, details);
        request_input_integer (data, "store_id", 1, INT64_MAX, &store_id, details);
        if (location_id && store_id)
            request_input_problem (details, "store_id", "give location_id or store_id, not both");
        request_input_integer (data, "ttl_s", 1, INVENTORY_RESERVATION_TTL_MAX_S, &ttl_s, details);
        work->line_count = inventory_read_lines (data, work->lines, INVENTORY_MAX_QUANTITY,
                                                 INVENTORY_REFUSE_REPEATS, details);
    }
    if (json_array_size (details)) {
        free (work);
        return request_input_invalid (request, details);
    }
    char reference [RESERVATION_REF_MAX + 1];
    if (!work->reference) {
        snprintf (reference, sizeof reference, "reservation:%s", work->id);
        work->reference = reference;
    }
    snprintf (work->ttl, sizeof work->ttl, "%lld", (long long) ttl_s);

    //  The location: the one asked for, the store's, else the web channel's.
    envelope_t *reply = NULL;
    if (store_id)
        reply = inventory_store_location (self->db, request, store_id, work->location,
                                          sizeof work->location);
    else
    if (location_id) {
        inventory_location_t location;
        int found = inventory_location_load (self->db, location_id, &location);
        if (found < 0)
            reply = request_input_db_failure (request, self->db, "inventory");
        else
        if (found == 0 || !location.active) {
            request_input_problem (details, "location_id", "no such active location");
            reply = request_input_invalid (request, details);
            details = NULL;
        }
        snprintf (work->location, sizeof work->location, "%lld", (long long) location_id);
    }
    else {
        PGresult *res = pgdb_exec (self->db, "reservation_web_location",
            "SELECT id FROM locations WHERE type = 'web' AND active", 0, NULL);
        if (!res)
            reply = request_input_db_failure (request, self->db, "inventory");
        else
        if (PQntuples (res) == 0)
            reply = envelope_new_error (request, 503, "service_unavailable",
                                        "no active web location", NULL);
        else
            snprintf (work->location, sizeof work->location, "%s", PQgetvalue (res, 0, 0));
        PQclear (res);
    }
    json_decref (details);
    if (!reply) {
        int outcome = pgdb_transaction (self->db, NULL, s_reserve, work, 5);
        if (outcome == S_DONE)
            reply = s_reservation_reply (request, self->db, work->id, 201);
        else
        if (outcome == S_EXISTS)
            reply = s_existing_reply (request, self->db, work);
        else
        if (outcome == S_OUT_OF_STOCK) {
            reply = inventory_out_of_stock (request, work->short_lines);
            work->short_lines = NULL;
        }
        else
            reply = request_input_db_failure (request, self->db, "inventory");
    }
    json_decref (work->short_lines);
    free (work);
    return reply;
}

//  --------------------------------------------------------------------------

static envelope_t *
s_settle_verb (const envelope_t *request, void *state, const char *action)
{
    inventory_state_t *self = (inventory_state_t *) state;
    envelope_t *refused = inventory_require_service (request);
    if (refused)
        return refused;
    static const char *const allowed_commit [] = { "reservation_id", "reference", NULL };
    static const char *const allowed [] = { "reservation_id", NULL };
    s_work_t work = { .request = request, .action = action };
    json_t *details = json_array ();
    json_t *data = request_input_object (request, details);
    if (data) {
        bool committing = streq (action, "commit");
        request_input_unknown_fields (data, committing ? allowed_commit : allowed, details);
        work.id = inventory_name_field (data, "reservation_id", RESERVATION_ID_MAX, true, details);
        if (committing)
            work.reference = inventory_name_field (data, "reference", RESERVATION_REF_MAX, false, details);
    }
    if (json_array_size (details))
        return request_input_invalid (request, details);
    json_decref (details);

    int outcome = pgdb_transaction (self->db, NULL, s_settle, &work, 5);
    if (outcome == S_DONE)
        return s_reservation_reply (request, self->db, work.id, 200);
    if (outcome == S_NOT_FOUND)
        return request_input_not_found (request, "reservation");
    if (outcome == S_INVALID_STATE) {
        char message [64];
        snprintf (message, sizeof message, "this reservation cannot be %s now",
                  streq (action, "commit") ? "committed"
                : streq (action, "release") ? "released" : "restocked");
        return inventory_invalid_state (request, message);
    }
    return request_input_db_failure (request, self->db, "inventory");
}

envelope_t *
reservation_commit (const envelope_t *request, void *state)
{
    return s_settle_verb (request, state, "commit");
}

envelope_t *
reservation_release (const envelope_t *request, void *state)
{
    return s_settle_verb (request, state, "release");
}

envelope_t *
reservation_restock (const envelope_t *request, void *state)
{
    return s_settle_verb (request, state, "restock");
}

//  --------------------------------------------------------------------------

envelope_t *
reservation_get (const envelope_t *request, void *state)
{
    inventory_state_t *self = (inventory_state_t *) state;
    envelope_t *refused = inventory_require_service (request);
    if (refused)
        return refused;
    json_t *details = json_array ();
    json_t *data = request_input_object (request, details);
    const char *id = data ? inventory_name_field (data, "reservation_id", RESERVATION_ID_MAX, true, details) : NULL;
    if (json_array_size (details))
        return request_input_invalid (request, details);
    json_decref (details);
    return s_reservation_reply (request, self->db, id, 200);
}

//  --------------------------------------------------------------------------
//  One expired reservation, taken with SKIP LOCKED and released.

typedef struct {
    s_work_t work;
    char id [RESERVATION_ID_MAX + 1];
    bool found;
} s_sweep_t;

static int
s_sweep_one (pgdb_t *db, void *arg)
{
    s_sweep_t *sweep = (s_sweep_t *) arg;
    sweep->found = false;
    PGresult *res = pgdb_exec (db, "reservation_expired",
        "SELECT id FROM reservations WHERE status = 'held' AND expires_at < now ()"
        " ORDER BY expires_at LIMIT 1 FOR UPDATE SKIP LOCKED", 0, NULL);
    if (!res)
        return S_FAILED;
    sweep->found = PQntuples (res) == 1;
    if (sweep->found)
        snprintf (sweep->id, sizeof sweep->id, "%s", PQgetvalue (res, 0, 0));
    PQclear (res);
    if (!sweep->found)
        return S_DONE;
    sweep->work.id = sweep->id;
    sweep->work.action = "expire";
    return s_settle (db, &sweep->work);
}

int
inventory_reservation_sweep (pgdb_t *db, int limit)
{
    int released = 0;
    for (int i = 0; i < limit; i++) {
        s_sweep_t sweep;
        memset (&sweep, 0, sizeof sweep);
        int outcome = pgdb_transaction (db, NULL, s_sweep_one, &sweep, 3);
        if (outcome != S_DONE)
            return released ? released : -1;
        if (!sweep.found)
            break;
        released++;
    }
    return released;
}
