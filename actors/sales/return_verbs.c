/*  =========================================================================
    return_verbs - taking goods back from a completed sale

    Why it is built this way:

    - What may come back is what was sold minus what already came back, per
      product. The check and the return's rows are one transaction that
      first locks the sale row: two returns of the same sale queue there,
      so together they can never take back more than was sold (409 beyond).
    - The refund is the price paid: each line's share of its net (after the
      discount) and of its tax, by cumulative shares (sale_model_share), so
      returning everything, in one go or in several, refunds exactly the
      sale's total.
    - The money goes back by the sale's own tenders: cash first, up to the
      cash the sale kept (cash given minus change, minus earlier cash
      refunds), the rest to its card and mobile payments. Cash leaves a
      drawer: it needs an open session, on the register named in the body
      (register_id, a register of the sale's store) or else on the sale's
      own register (409 register_closed). A refund with no cash needs no
      open session; when one is open there it counts in its Z report.
    - The return is recorded (with sale.returned in the outbox) before its
      stock goes back through the inventory (stock.return, idempotent by
      return_ref): the refund happened at the till whatever the inventory
      says, and the recovery sweep sends the stock back for the returns
      whose stock_back is still false.
    =========================================================================
*/
#include "sales_verbs.h"
#include "idempotency.h"
#include "logline.h"
#include "request_input.h"
#include "sale_model.h"
#include "sales_access.h"
#include "sales_render.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_METHODS 4
static const char *const s_methods [S_METHODS] = { "cash", "credit_card", "debit_card", "mobile" };

typedef struct {
    int64_t product_id;
    int64_t quantity;
    //  computed in the transaction
    int64_t net_cents;
    int64_t tax_cents;
    int64_t cost_cents;
} s_return_line_t;

//  A return being made: the request and what the transaction finds.
typedef struct {
    const envelope_t *request;
    int64_t sale_id;
    int64_t store_id;
    int64_t register_id;                //  where the refund is given
    const char *reason;
    size_t count;
    s_return_line_t lines [SALE_MAX_LINES];
    char return_ref [48];
    envelope_t *reply;                  //  set when the transaction refuses
    int64_t return_id;
} s_return_t;

//  ==========================================================================
//  Reading the request

//  --------------------------------------------------------------------------

static void
s_return_read (const envelope_t *request, s_return_t *input, json_t *details)
{
    json_t *data = request_input_object (request, details);
    if (!data)
        return;
    static const char *const allowed [] = { "items", "reason", "register_id", NULL };
    request_input_unknown_fields (data, allowed, details);
    input->reason = json_string_value (json_object_get (data, "reason"));
    size_t reason_length = input->reason ? strlen (input->reason) : 0;
    if (reason_length < 1 || request_input_utf8_length (input->reason, reason_length) > 200)
        request_input_problem (details, "reason", "is required: 1 to 200 characters");
    request_input_integer (data, "register_id", 1, INT64_MAX, &input->register_id, details);
    json_t *items = json_object_get (data, "items");
    if (!json_is_array (items) || json_array_size (items) < 1 || json_array_size (items) > SALE_MAX_LINES) {
        request_input_problem (details, "items", "must be an array of 1 to 100 lines");
        return;
    }
    size_t index;
    json_t *item;
    json_array_foreach (items, index, item) {
        s_return_line_t *line = &input->lines [index];
        json_t *product = json_object_get (item, "product_id");
        json_t *quantity = json_object_get (item, "quantity");
        char field [32];
        snprintf (field, sizeof field, "items[%zu]", index);
        if (!json_is_object (item) || json_object_size (item) != 2 || !json_is_integer (product)
        ||  !json_is_integer (quantity) || json_integer_value (product) < 1
        ||  json_integer_value (quantity) < 1 || json_integer_value (quantity) > SALE_MAX_QUANTITY) {
            request_input_problem (details, field, "must be {product_id > 0, quantity 1 to 10000}");
            continue;
        }
        line->product_id = json_integer_value (product);
        line->quantity = json_integer_value (quantity);
        for (size_t other = 0; other < index; other++)
            if (input->lines [other].product_id == line->product_id)
                request_input_problem (details, field, "the product is on another line: one line per product");
    }
    input->count = json_array_size (items);
}

//  ==========================================================================
//  The transaction

//  --------------------------------------------------------------------------
//  Each line's refund from the sale's lines (locked sale). 0, or 2 with
//  the reply (409 beyond what is left), or -1.
static int
s_return_price (pgdb_t *db, s_return_t *self)
{
    char sale [24];
    snprintf (sale, sizeof sale, "%lld", (long long) self->sale_id);
    const char *params [] = { sale };
    PGresult *res = pgdb_exec (db, "sales_return_lines",
        "SELECT i.product_id, i.quantity, i.net_cents, i.tax_cents, i.cost_cents, "
        "       COALESCE ((SELECT sum (ri.quantity) FROM return_items ri JOIN returns r ON r.id = ri.return_id "
        "                  WHERE r.sale_id = i.sale_id AND ri.product_id = i.product_id), 0) "
        "FROM sale_items i WHERE i.sale_id = $1", 1, params);
    if (!res)
        return -1;
    json_t *details = json_array ();
    for (size_t k = 0; k < self->count; k++) {
        s_return_line_t *line = &self->lines [k];
        int row = 0;
        while (row < PQntuples (res) && sales_access_int (PQgetvalue (res, row, 0)) != line->product_id)
            row++;
        int64_t sold = row < PQntuples (res) ? sales_access_int (PQgetvalue (res, row, 1)) : 0;
        int64_t before = row < PQntuples (res) ? sales_access_int (PQgetvalue (res, row, 5)) : 0;
        if (line->quantity > sold - before) {
            json_array_append_new (details, json_pack ("{s:I, s:I, s:I}", "product_id", (json_int_t) line->product_id,
                                                       "requested", (json_int_t) line->quantity,
                                                       "returnable", (json_int_t) (sold - before)));
            continue;
        }
        int64_t net = sales_access_int (PQgetvalue (res, row, 2));
        int64_t tax = sales_access_int (PQgetvalue (res, row, 3));
        line->net_cents = sale_model_share (net, sold, before, before + line->quantity);
        line->tax_cents = sale_model_share (tax, sold, before, before + line->quantity);
        line->cost_cents = sales_access_int (PQgetvalue (res, row, 4));
    }
    PQclear (res);
    if (json_array_size (details)) {
        self->reply = envelope_new_error (self->request, 409, "conflict",
                                          "more than what is left to return of this sale", details);
        return 2;
    }
    json_decref (details);
    return 0;
}

//  --------------------------------------------------------------------------
//  How the refund goes back: [{method, amount_cents}], cash first up to
//  what the sale kept in cash. Sets *cash. NULL on a db failure.
static json_t *
s_return_tenders (pgdb_t *db, s_return_t *self, int64_t refund, int64_t *cash)
{
    char sale [24];
    snprintf (sale, sizeof sale, "%lld", (long long) self->sale_id);
    const char *params [] = { sale };
    //  Per method: paid (cash net of change) minus already refunded.
    PGresult *res = pgdb_exec (db, "sales_return_tenders",
        "SELECT m.method, "
        "       COALESCE ((SELECT sum (p.amount_cents) FROM sale_payments p WHERE p.sale_id = $1 "
        "                  AND p.method = m.method), 0) "
        "     - CASE WHEN m.method = 'cash' THEN (SELECT change_cents FROM sales WHERE id = $1) ELSE 0 END "
        "     - COALESCE ((SELECT sum (x.amount_cents) FROM returns r, "
        "                  jsonb_to_recordset (r.refunds) AS x (method text, amount_cents bigint) "
        "                  WHERE r.sale_id = $1 AND x.method = m.method), 0) "
        "FROM unnest (ARRAY ['cash', 'credit_card', 'debit_card', 'mobile']) WITH ORDINALITY AS m (method, n) "
        "ORDER BY m.n", 1, params);
    if (!res || PQntuples (res) != S_METHODS) {
        if (res)
            PQclear (res);
        return NULL;
    }
    json_t *tenders = json_array ();
    int64_t left = refund;
    *cash = 0;
    for (int row = 0; row < S_METHODS && left > 0; row++) {
        int64_t room = sales_access_int (PQgetvalue (res, row, 1));
        int64_t amount = room < left ? room : left;
        if (amount <= 0)
            continue;
        json_array_append_new (tenders, json_pack ("{s:s, s:I}", "method", s_methods [row],
                                                   "amount_cents", (json_int_t) amount));
        if (row == 0)
            *cash = amount;
        left -= amount;
    }
    PQclear (res);
    //  Cannot happen (returns refund at most what was paid): the rest in cash.
    if (left > 0) {
        log_warn (self->request->rid, "sales: return of sale %lld refunds %lld more than its tenders",
                  (long long) self->sale_id, (long long) left);
        json_array_append_new (tenders, json_pack ("{s:s, s:I}", "method", "cash", "amount_cents", (json_int_t) left));
        *cash += left;
    }
    return tenders;
}

//  --------------------------------------------------------------------------
//  The open session of the refund's register, locked against its close
//  (FOR SHARE); 0 when none, -1 on failure.
static int64_t
s_return_session (pgdb_t *db, int64_t register_id)
{
    char text [24];
    snprintf (text, sizeof text, "%lld", (long long) register_id);
    const char *params [] = { text };
    PGresult *res = pgdb_exec (db, "sales_return_session",
        "SELECT id FROM register_sessions WHERE register_id = $1 AND closed_at IS NULL FOR SHARE",
        1, params);
    if (!res)
        return -1;
    int64_t session = PQntuples (res) ? sales_access_int (PQgetvalue (res, 0, 0)) : 0;
    PQclear (res);
    return session;
}

//  --------------------------------------------------------------------------

static int
s_return_txn (pgdb_t *db, void *arg)
{
    s_return_t *self = (s_return_t *) arg;
    char sale [24];
    snprintf (sale, sizeof sale, "%lld", (long long) self->sale_id);
    const char *lock_params [] = { sale };
    PGresult *res = pgdb_exec (db, "sales_return_lock", "SELECT id FROM sales WHERE id = $1 FOR UPDATE",
                               1, lock_params);
    if (!res)
        return -1;
    PQclear (res);
    int rc = s_return_price (db, self);
    if (rc)
        return rc;
    int64_t net = 0, tax = 0, cash = 0;
    json_t *lines = json_array ();
    for (size_t k = 0; k < self->count; k++) {
        s_return_line_t *line = &self->lines [k];
        net += line->net_cents;
        tax += line->tax_cents;
        json_array_append_new (lines, json_pack ("{s:I, s:I, s:I, s:I, s:I, s:I}",
            "product_id", (json_int_t) line->product_id, "quantity", (json_int_t) line->quantity,
            "net_cents", (json_int_t) line->net_cents, "tax_cents", (json_int_t) line->tax_cents,
            "refund_cents", (json_int_t) (line->net_cents + line->tax_cents),
            "cost_cents", (json_int_t) line->cost_cents));
    }
    json_t *tenders = s_return_tenders (db, self, net + tax, &cash);
    int64_t session = tenders ? s_return_session (db, self->register_id) : -1;
    if (session == 0 && cash > 0) {
        self->reply = envelope_new_error (self->request, 409, "register_closed",
                                          "a cash refund needs an open session on the register", NULL);
        rc = 2;
    }
    char *lines_text = json_dumps (lines, JSON_COMPACT);
    char *tenders_text = tenders ? json_dumps (tenders, JSON_COMPACT) : NULL;
    json_decref (lines);
    json_decref (tenders);
    if (rc == 0 && session >= 0 && lines_text && tenders_text) {
        char store [24], reg [24], session_text [24], net_text [24], tax_text [24], refund [24], cash_text [24];
        snprintf (store, sizeof store, "%lld", (long long) self->store_id);
        snprintf (reg, sizeof reg, "%lld", (long long) self->register_id);
        snprintf (session_text, sizeof session_text, "%lld", (long long) session);
        snprintf (net_text, sizeof net_text, "%lld", (long long) net);
        snprintf (tax_text, sizeof tax_text, "%lld", (long long) tax);
        snprintf (refund, sizeof refund, "%lld", (long long) (net + tax));
        snprintf (cash_text, sizeof cash_text, "%lld", (long long) cash);
        const char *params [] = { sale, self->return_ref, store, reg, session ? session_text : NULL,
                                  self->request->sub ? self->request->sub : "", self->reason,
                                  net_text, tax_text, refund, tenders_text, cash_text, lines_text,
                                  self->request->idem_key };
        res = pgdb_exec (db, "sales_return_write",
            "WITH r AS (INSERT INTO returns (sale_id, return_ref, store_id, register_id, session_id, "
            "           cashier_id, reason, net_cents, tax_cents, refund_cents, refunds, cash_refund_cents, "
            "           idem_scope, idem_key) "
            "           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, $12, $6, $14) RETURNING *), "
            "x AS (SELECT * FROM jsonb_to_recordset ($13::jsonb) AS x (product_id bigint, quantity integer, "
            "      net_cents bigint, tax_cents bigint, refund_cents bigint, cost_cents bigint)), "
            "i AS (INSERT INTO return_items (return_id, product_id, quantity, net_cents, tax_cents, "
            "      refund_cents, cost_cents) SELECT r.id, x.product_id, x.quantity, x.net_cents, "
            "      x.tax_cents, x.refund_cents, x.cost_cents FROM r, x), "
            "e AS (INSERT INTO outbox (topic, payload) SELECT 'sale.returned', sales_returned_event ("
            "      ROW (r.*)::returns, (SELECT jsonb_agg (to_jsonb (x) ORDER BY x.product_id) FROM x)) FROM r) "
            "SELECT id FROM r", 14, params);
        if (res) {
            self->return_id = sales_access_int (PQgetvalue (res, 0, 0));
            PQclear (res);
        }
        else
            rc = -1;
    }
    else
    if (rc == 0)
        rc = -1;
    free (lines_text);
    free (tenders_text);
    return rc;
}

//  ==========================================================================
//  Stock back

//  --------------------------------------------------------------------------
//  Send the return's goods back to the store's stock; mark it so. 0 / -1.
int
sales_return_stock (sales_state_t *self, const envelope_t *request, int64_t return_id)
{
    char text [24];
    snprintf (text, sizeof text, "%lld", (long long) return_id);
    const char *params [] = { text };
    PGresult *res = pgdb_exec (self->db, "sales_return_stock_lines",
        "SELECT r.return_ref, r.store_id, (SELECT jsonb_agg (jsonb_build_object ('product_id', i.product_id, "
        "       'quantity', i.quantity) ORDER BY i.product_id) FROM return_items i WHERE i.return_id = r.id)::text "
        "FROM returns r WHERE r.id = $1 AND NOT r.stock_back", 1, params);
    if (!res)
        return -1;
    if (PQntuples (res) == 0) {
        PQclear (res);
        return 0;
    }
    json_t *lines = json_loads (PQgetvalue (res, 0, 2), 0, NULL);
    envelope_t *answer = sales_access_call (self, request, "inventory", "stock.return",
        json_pack ("{s:s, s:I, s:o}", "return_ref", PQgetvalue (res, 0, 0),
                   "store_id", (json_int_t) sales_access_int (PQgetvalue (res, 0, 1)),
                   "lines", lines ? lines : json_array ()));
    PQclear (res);
    int status = answer->status;
    envelope_destroy (&answer);
    if (status != 200) {
        log_warn (request ? request->rid : NULL, "sales: stock.return of return %lld answered %d (the sweep retries)",
                  (long long) return_id, status);
        return -1;
    }
    res = pgdb_exec (self->db, "sales_return_stock_back",
                     "UPDATE returns SET stock_back = true WHERE id = $1", 1, params);
    if (!res)
        return -1;
    PQclear (res);
    return 0;
}

//  ==========================================================================

//  --------------------------------------------------------------------------

static envelope_t *
s_return_run (sales_state_t *self, const envelope_t *request, s_return_t *input)
{
    envelope_t *reply = sales_access_sale (self, request, input->sale_id, &input->store_id);
    if (reply)
        return reply;
    if (!input->register_id) {
        char text [24];
        snprintf (text, sizeof text, "%lld", (long long) input->sale_id);
        const char *params [] = { text };
        PGresult *res = pgdb_exec (self->db, "sales_sale_register",
                                   "SELECT register_id FROM sales WHERE id = $1", 1, params);
        if (!res || PQntuples (res) != 1) {
            if (res)
                PQclear (res);
            return request_input_db_failure (request, self->db, "sales");
        }
        input->register_id = sales_access_int (PQgetvalue (res, 0, 0));
        PQclear (res);
    }
    sales_register_t reg;
    reply = sales_access_register (self, request, input->register_id, &reg);
    if (reply)
        return reply;
    if (reg.store_id != input->store_id) {
        json_t *details = json_array ();
        request_input_problem (details, "register_id", "must be a register of the sale's store");
        return request_input_invalid (request, details);
    }
    unsigned char random [12];
    char hex [25];
    randombytes_buf (random, sizeof random);
    sodium_bin2hex (hex, sizeof hex, random, sizeof random);
    snprintf (input->return_ref, sizeof input->return_ref, "return:%s", hex);
    int rc = pgdb_transaction (self->db, "READ COMMITTED", s_return_txn, input, 5);
    if (rc == 2)
        return input->reply;
    if (rc != 0)
        return request_input_db_failure (request, self->db, "sales");
    sales_return_stock (self, request, input->return_id);
    return sales_render_reply (self, request, "return", input->return_id, 201);
}

//  --------------------------------------------------------------------------

envelope_t *
sale_return (const envelope_t *request, void *state)
{
    sales_state_t *self = (sales_state_t *) state;
    envelope_t *refused = sales_access_staff (request);
    if (!refused)
        refused = idempotency_key_check (request, "a return");
    if (refused)
        return refused;
    s_return_t *input = (s_return_t *) zmalloc (sizeof (s_return_t));
    if (!input)
        return request_input_internal (request);
    input->request = request;
    json_t *details = json_array ();
    sales_access_id (request, "id", &input->sale_id, details);
    s_return_read (request, input, details);
    envelope_t *reply = NULL;
    if (json_array_size (details))
        reply = request_input_invalid (request, details);
    else {
        json_decref (details);
        //  The fingerprint: which sale, and what comes back
        json_t *what = json_pack ("{s:I, s:O?}", "sale_id", (json_int_t) input->sale_id,
                                  "data", request_input_data (request));
        char hash [65];
        idempotency_fingerprint (what, hash);
        json_decref (what);
        idempotency_claim_t claim = idempotency_claim (self->db, request, hash, &reply);
        if (claim == IDEMPOTENCY_FAILED)
            reply = request_input_db_failure (request, self->db, "sales");
        else
        if (claim == IDEMPOTENCY_OWNED) {
            reply = s_return_run (self, request, input);
            idempotency_finish (self->db, request, reply);
        }
    }
    free (input);
    return reply;
}
