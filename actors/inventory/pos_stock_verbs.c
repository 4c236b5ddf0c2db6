/*  =========================================================================
    pos_stock_verbs - stock taken and given back by the point of sale

    Why it is built this way:

    - A sale takes all its lines or none: one transaction calls
      inventory_change for every line (on_hand down only where enough is
      available, re-checked by PostgreSQL on the newest row when sales
      race) and rolls back when any line is short. Lines are taken in
      product order, the same order in every transaction (reservations
      too), so two sales of the same products never deadlock.
    - The caller names each operation (sql/inventory/0003_pos_stock.sql):
      the operation row is inserted first, with ON CONFLICT DO NOTHING, so
      a retry waits for the first attempt and then finds it instead of
      taking the goods twice. The lines taken are stored with it; the
      answer to a retry and the goods an undo gives back come from there,
      never from the retried request.
    - An undo locks the sale's row and looks at its status, so two undos
      give back once. An undo that finds no sale leaves a voided row: the
      sales context undoes when it cannot know whether a sell went
      through, and a sell still queued behind that undo must then take
      nothing.
    =========================================================================
*/
#include "pos_stock_verbs.h"
#include "inventory_context.h"
#include "inventory_input.h"
#include "stock_verbs.h"

#include <stdlib.h>
#include <string.h>

#define POS_STOCK_REF_MAX  100

typedef enum {
    S_DONE = 0,
    S_EXISTS = 1,
    S_OUT_OF_STOCK = 2,
    S_FAILED = -1
} s_outcome_t;

typedef struct {
    const envelope_t *request;
    const char *kind;               //  "sale" or "return"
    const char *ref;
    char store [24];
    char location [24];
    inventory_line_t lines [INVENTORY_MAX_LINES];
    size_t line_count;
    json_t *short_lines;            //  sell: the lines that were short
    bool existing;                  //  sell, return: the ref was there before
    bool replayed;                  //  undo: the sale was voided already
} s_work_t;

//  --------------------------------------------------------------------------
//  The operation and the lines it moved, as the reply body; NULL when not
//  found or failed (*failed says which).

static json_t *
s_load (pgdb_t *db, const char *kind, const char *ref, bool *failed)
{
    const char *params [] = { kind, ref };
    PGresult *res = pgdb_exec (db, "pos_stock_load",
        "SELECT o.status, o.store_id, o.location_id, " INVENTORY_TIME ("o.updated_at") ","
        " coalesce ((SELECT json_agg (json_build_object ('product_id', l.product_id,"
        "                                                 'quantity', l.quantity) ORDER BY l.product_id)"
        "              FROM pos_stock_lines l WHERE l.kind = o.kind AND l.ref = o.ref), '[]')"
        " FROM pos_stock_ops o WHERE o.kind = $1 AND o.ref = $2", 2, params);
    *failed = res == NULL;
    if (!res || PQntuples (res) == 0) {
        PQclear (res);
        return NULL;
    }
    bool placed = !PQgetisnull (res, 0, 1);
    json_t *lines = json_loads (PQgetvalue (res, 0, 4), 0, NULL);
    json_t *operation = lines ? json_pack ("{s:s, s:s, s:o, s:o, s:s, s:o, s:b}",
        streq (kind, "sale") ? "sale_ref" : "return_ref", ref,
        "status", PQgetvalue (res, 0, 0),
        "store_id", placed ? json_integer (inventory_int (res, 0, 1)) : json_null (),
        "location_id", placed ? json_integer (inventory_int (res, 0, 2)) : json_null (),
        "updated_at", PQgetvalue (res, 0, 3),
        "lines", lines,
        "replayed", false) : NULL;
    *failed = operation == NULL;
    PQclear (res);
    return operation;
}

//  --------------------------------------------------------------------------
//  Sell or return, in one transaction: the operation row, then each line
//  stored and moved. A sale that is short anywhere rolls back whole.

static int
s_move (pgdb_t *db, void *arg)
{
    s_work_t *work = (s_work_t *) arg;
    json_decref (work->short_lines);
    work->short_lines = NULL;
    bool selling = streq (work->kind, "sale");
    const char *params [] = {
        work->kind, work->ref, selling ? "taken" : "returned", work->store, work->location,
        work->request->consumer
    };
    PGresult *res = pgdb_exec (db, "pos_stock_insert",
        "INSERT INTO pos_stock_ops (kind, ref, status, store_id, location_id, created_by)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (kind, ref) DO NOTHING RETURNING ref",
        6, params);
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
        const char *line_params [] = { work->kind, work->ref, product, quantity };
        res = pgdb_exec (db, "pos_stock_line_insert",
            "INSERT INTO pos_stock_lines (kind, ref, product_id, quantity) VALUES ($1, $2, $3, $4)",
            4, line_params);
        if (!res)
            return S_FAILED;
        PQclear (res);
        int64_t delta = selling ? -line->quantity : line->quantity;
        int done = inventory_change_line (db, work->request, work->location, line, delta, 0,
                                          selling ? "sale" : "return", work->ref);
        if (done < 0)
            return S_FAILED;
        if (done == 0 && inventory_short_line (db, work->location, line, work->short_lines))
            return S_FAILED;
    }
    return json_array_size (work->short_lines) ? S_OUT_OF_STOCK : S_DONE;
}

//  --------------------------------------------------------------------------
//  The sale's row, locked; when there is none, a voided one is left in its
//  place (or, when a sell commits it meanwhile, that one is locked).
//  Returns 1 and its status, 0 when the voided row was just written, -1.

static int
s_lock_sale (pgdb_t *db, const s_work_t *work, char *status, size_t size)
{
    const char *params [] = { work->ref, work->request->consumer };
    for (int attempt = 0; attempt < 2; attempt++) {
        PGresult *res = pgdb_exec (db, "pos_stock_lock_sale",
            "SELECT status FROM pos_stock_ops WHERE kind = 'sale' AND ref = $1"
            " FOR UPDATE", 1, params);
        if (!res)
            return -1;
        bool found = PQntuples (res) == 1;
        if (found)
            snprintf (status, size, "%s", PQgetvalue (res, 0, 0));
        PQclear (res);
        if (found)
            return 1;
        res = pgdb_exec (db, "pos_stock_void_first",
            "INSERT INTO pos_stock_ops (kind, ref, status, created_by) VALUES ('sale', $1, 'voided', $2)"
            " ON CONFLICT (kind, ref) DO NOTHING RETURNING ref", 2, params);
        if (!res)
            return -1;
        bool voided = PQntuples (res) == 1;
        PQclear (res);
        if (voided)
            return 0;
    }
    return -1;          //  inserted and gone again: operations are never deleted
}

static int
s_undo (pgdb_t *db, void *arg)
{
    s_work_t *work = (s_work_t *) arg;
    char status [16] = "";
    int found = s_lock_sale (db, work, status, sizeof status);
    work->replayed = found == 1 && streq (status, "voided");
    if (found < 0)
        return S_FAILED;
    if (found == 0 || work->replayed)
        return S_DONE;

    const char *params [] = { work->ref };
    PGresult *res = pgdb_exec (db, "pos_stock_sale_lines",
        "SELECT l.product_id, l.quantity, o.location_id FROM pos_stock_lines l"
        " JOIN pos_stock_ops o ON o.kind = l.kind AND o.ref = l.ref"
        " WHERE l.kind = 'sale' AND l.ref = $1 ORDER BY l.product_id", 1, params);
    if (!res)
        return S_FAILED;
    char reference [POS_STOCK_REF_MAX + 8];
    snprintf (reference, sizeof reference, "void:%s", work->ref);
    int outcome = S_DONE;
    for (int row = 0; outcome == S_DONE && row < PQntuples (res); row++) {
        inventory_line_t line = { inventory_int (res, row, 0), inventory_int (res, row, 1) };
        if (inventory_change_line (db, work->request, PQgetvalue (res, row, 2), &line,
                                   line.quantity, 0, "return", reference) != 1)
            outcome = S_FAILED;     //  goods coming back cannot be short
    }
    PQclear (res);
    if (outcome != S_DONE)
        return outcome;
    res = pgdb_exec (db, "pos_stock_set_voided",
        "UPDATE pos_stock_ops SET status = 'voided', updated_at = now ()"
        " WHERE kind = 'sale' AND ref = $1", 1, params);
    if (!res)
        return S_FAILED;
    PQclear (res);
    return S_DONE;
}

//  --------------------------------------------------------------------------
//  The answer: the operation as it is stored. When the ref existed before
//  this request (work->existing), the same request retried gets what was
//  done (replayed); the ref reused for another operation is the caller's
//  bug (409 conflict) and a voided sale is not taken again (409).

static envelope_t *
s_operation_reply (const envelope_t *request, pgdb_t *db, const s_work_t *work)
{
    bool failed;
    json_t *operation = s_load (db, work->kind, work->ref, &failed);
    if (!operation)
        return failed ? request_input_db_failure (request, db, "inventory")
                      : request_input_conflict (request, "this operation is in progress; try again");
    envelope_t *reply = NULL;
    if (work->existing) {
        bool same = json_integer_value (json_object_get (operation, "store_id")) == atoll (work->store)
                 && inventory_lines_equal (json_object_get (operation, "lines"),
                                           work->lines, work->line_count);
        if (streq (json_string_value (json_object_get (operation, "status")), "voided"))
            reply = inventory_invalid_state (request, "this sale was voided");
        else
        if (!same)
            reply = request_input_conflict (request, streq (work->kind, "sale")
                                            ? "this sale_ref already took other lines"
                                            : "this return_ref already returned other lines");
    }
    if (reply) {
        json_decref (operation);
        return reply;
    }
    if (work->existing || work->replayed)
        json_object_set_new (operation, "replayed", json_true ());
    return envelope_new_reply (request, 200, operation);
}

//  --------------------------------------------------------------------------
//  stock.sell and stock.return: read and check, find the store, move.

static envelope_t *
s_move_verb (const envelope_t *request, void *state, const char *kind)
{
    inventory_state_t *self = (inventory_state_t *) state;
    envelope_t *refused = inventory_require_service (request);
    if (refused)
        return refused;
    bool selling = streq (kind, "sale");
    const char *ref_field = selling ? "sale_ref" : "return_ref";
    const char *const allowed [] = { ref_field, "store_id", "lines", NULL };
    s_work_t *work = (s_work_t *) zmalloc (sizeof (s_work_t));
    if (!work)
        return inventory_no_answer (request);
    work->request = request;
    work->kind = kind;
    json_t *details = json_array ();
    json_t *data = request_input_object (request, details);
    int64_t store_id = 0;
    if (data) {
        request_input_unknown_fields (data, allowed, details);
        work->ref = inventory_name_field (data, ref_field, POS_STOCK_REF_MAX, true, details);
        inventory_required_integer (data, "store_id", 1, INT64_MAX, &store_id, details);
        snprintf (work->store, sizeof work->store, "%lld", (long long) store_id);
        work->line_count = inventory_read_lines (data, work->lines, POS_STOCK_MAX_QUANTITY,
                                                 INVENTORY_MERGE_REPEATS, details);
    }
    envelope_t *reply = NULL;
    if (json_array_size (details))
        reply = request_input_invalid (request, details);
    else {
        json_decref (details);
        reply = inventory_store_location (self->db, request, store_id, work->location,
                                          sizeof work->location);
    }
    if (!reply) {
        int outcome = pgdb_transaction (self->db, NULL, s_move, work, 5);
        work->existing = outcome == S_EXISTS;
        if (outcome == S_DONE || outcome == S_EXISTS)
            reply = s_operation_reply (request, self->db, work);
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

envelope_t *
pos_stock_sell (const envelope_t *request, void *state)
{
    return s_move_verb (request, state, "sale");
}

envelope_t *
pos_stock_return (const envelope_t *request, void *state)
{
    return s_move_verb (request, state, "return");
}

//  --------------------------------------------------------------------------

envelope_t *
pos_stock_sell_undo (const envelope_t *request, void *state)
{
    inventory_state_t *self = (inventory_state_t *) state;
    envelope_t *refused = inventory_require_service (request);
    if (refused)
        return refused;
    static const char *const allowed [] = { "sale_ref", NULL };
    s_work_t work = { .request = request, .kind = "sale" };
    json_t *details = json_array ();
    json_t *data = request_input_object (request, details);
    if (data) {
        request_input_unknown_fields (data, allowed, details);
        work.ref = inventory_name_field (data, "sale_ref", POS_STOCK_REF_MAX, true, details);
    }
    if (json_array_size (details))
        return request_input_invalid (request, details);
    json_decref (details);
    if (pgdb_transaction (self->db, NULL, s_undo, &work, 5) != S_DONE)
        return request_input_db_failure (request, self->db, "inventory");
    return s_operation_reply (request, self->db, &work);
}
