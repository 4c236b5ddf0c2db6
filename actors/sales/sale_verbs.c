/*  =========================================================================
    sale_verbs - ringing up a sale at a register, and reading sales back

    Why it is built this way:

    - A sale is a short saga across the catalog and the inventory: check
      the register's session, price the lines with ONE product.get_many,
      compute discounts and taxes (sale_model), authorize the card payments
      at the simulated gateway, write the sale 'pending' with its sale_ref,
      take the stock at the store (stock.sell, all lines or none), then
      complete: one statement spends the store's next receipt number,
      completes the sale, records its payments and writes sale.completed in
      the outbox. A failure before the stock is taken deletes the pending
      row (nothing recorded); a failure while taking it gives the stock
      back (stock.sell_undo, idempotent) before answering.
    - Receipt numbers are spent only by that completing statement, which
      locks the sale (still pending?) and the session (still open?) before
      it takes the store's counter: no number is spent by a sale that does
      not complete, and a register closes after or before a sale, never in
      the middle of one.
    - Crash recovery gives the stock back rather than completing: the
      client got no 201, the till shows the sale failed, and the cashier
      rings it up again with the same key once the sweep let it go.
    - The simulated gateway: card payments (credit_card, debit_card,
      mobile) are authorized with their card_token; no token means the
      card was presented at the terminal and is approved; tok_visa,
      tok_mastercard, tok_debit and tok_mobile are approved, anything else
      (tok_declined) is declined: 402, nothing taken, nothing recorded.
    =========================================================================
*/
#include "sales_verbs.h"
#include "idempotency.h"
#include "logline.h"
#include "receipt.h"
#include "request_input.h"
#include "sale_model.h"
#include "sales_access.h"
#include "sales_render.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  What a sale request says, checked.
typedef struct {
    int64_t register_id;
    int64_t customer_id;                        //  0: none
    size_t line_count;
    sale_line_t lines [SALE_MAX_LINES];
    char skus [SALE_MAX_LINES][128];           //  the catalog's, whole (never cut mid-character)
    char names [SALE_MAX_LINES][512];
    size_t payment_count;
    sale_payment_t payments [SALE_MAX_PAYMENTS];
    const char *tokens [SALE_MAX_PAYMENTS];     //  card_token, or NULL
} s_sale_t;

//  ==========================================================================
//  Reading the request

//  --------------------------------------------------------------------------
//  Check object's integer field as request_input_integer does, naming the
//  problem "<prefix>.<field>". Same returns.
static int
s_nested_int (json_t *object, const char *prefix, const char *field, int64_t min, int64_t max,
              int64_t *value, json_t *details)
{
    json_t *scratch = json_array ();
    int rc = request_input_integer (object, field, min, max, value, scratch);
    size_t index;
    json_t *problem;
    json_array_foreach (scratch, index, problem) {
        char name [96];
        snprintf (name, sizeof name, "%s.%s", prefix, field);
        request_input_problem (details, name, json_string_value (json_object_get (problem, "problem")));
    }
    json_decref (scratch);
    return rc;
}

//  --------------------------------------------------------------------------

static void
s_read_lines (json_t *items, s_sale_t *input, json_t *details)
{
    if (!json_is_array (items) || json_array_size (items) < 1 || json_array_size (items) > SALE_MAX_LINES) {
        request_input_problem (details, "items", "must be an array of 1 to 100 lines");
        return;
    }
    static const char *const allowed [] = { "product_id", "quantity", "discount_percent", NULL };
    size_t index;
    json_t *item;
    json_array_foreach (items, index, item) {
        char prefix [32];
        snprintf (prefix, sizeof prefix, "items[%zu]", index);
        if (!json_is_object (item)) {
            request_input_problem (details, prefix, "must be an object");
            continue;
        }
        json_t *scratch = json_array ();
        request_input_unknown_fields (item, allowed, scratch);
        if (json_array_size (scratch))
            request_input_problem (details, prefix, "unknown field (product_id, quantity, discount_percent)");
        json_decref (scratch);
        sale_line_t *line = &input->lines [index];
        if (s_nested_int (item, prefix, "product_id", 1, INT64_MAX, &line->product_id, details) == 0)
            request_input_problem (details, prefix, "product_id is required");
        if (s_nested_int (item, prefix, "quantity", 1, SALE_MAX_QUANTITY, &line->quantity, details) == 0)
            request_input_problem (details, prefix, "quantity is required");
        s_nested_int (item, prefix, "discount_percent", 0, 100, &line->discount_percent, details);
        for (size_t other = 0; other < index; other++)
            if (line->product_id && input->lines [other].product_id == line->product_id)
                request_input_problem (details, prefix, "the product is on another line: one line per product");
    }
    input->line_count = json_array_size (items);
}

//  --------------------------------------------------------------------------

static void
s_read_payments (json_t *payments, s_sale_t *input, json_t *details)
{
    if (!json_is_array (payments) || json_array_size (payments) > SALE_MAX_PAYMENTS) {
        request_input_problem (details, "payments", "must be an array of at most 10 payments");
        return;
    }
    static const char *const allowed [] = { "method", "amount_cents", "card_token", NULL };
    size_t index;
    json_t *payment;
    json_array_foreach (payments, index, payment) {
        char prefix [32];
        snprintf (prefix, sizeof prefix, "payments[%zu]", index);
        if (!json_is_object (payment)) {
            request_input_problem (details, prefix, "must be an object");
            continue;
        }
        json_t *scratch = json_array ();
        request_input_unknown_fields (payment, allowed, scratch);
        if (json_array_size (scratch))
            request_input_problem (details, prefix, "unknown field (method, amount_cents, card_token)");
        json_decref (scratch);
        sale_payment_t *pay = &input->payments [index];
        pay->method = json_string_value (json_object_get (payment, "method"));
        if (!sale_model_method_valid (pay->method)) {
            char field [48];
            snprintf (field, sizeof field, "%s.method", prefix);
            request_input_problem (details, field, "must be cash, credit_card, debit_card or mobile");
        }
        if (s_nested_int (payment, prefix, "amount_cents", 1, SALE_MAX_AMOUNT, &pay->amount_cents, details) == 0)
            request_input_problem (details, prefix, "amount_cents is required");
        json_t *token = json_object_get (payment, "card_token");
        if (token) {
            const char *text = json_string_value (token);
            size_t length = text ? strlen (text) : 0;
            bool printable = length > 0 && length <= 64;
            for (size_t i = 0; printable && i < length; i++)
                printable = text [i] > 0x20 && text [i] < 0x7f;
            char field [48];
            snprintf (field, sizeof field, "%s.card_token", prefix);
            if (!printable)
                request_input_problem (details, field, "must be 1 to 64 printable characters");
            else
            if (pay->method && streq (pay->method, "cash"))
                request_input_problem (details, field, "only a card or mobile payment has a card_token");
            else
                input->tokens [index] = text;
        }
    }
    input->payment_count = json_array_size (payments);
}

//  --------------------------------------------------------------------------

static void
s_sale_read (const envelope_t *request, s_sale_t *input, json_t *details)
{
    json_t *data = request_input_object (request, details);
    if (!data)
        return;
    static const char *const allowed [] = { "register_id", "items", "payments", "customer_id", NULL };
    request_input_unknown_fields (data, allowed, details);
    if (request_input_integer (data, "register_id", 1, INT64_MAX, &input->register_id, details) == 0)
        request_input_problem (details, "register_id", "is required");
    request_input_integer (data, "customer_id", 1, INT64_MAX, &input->customer_id, details);
    s_read_lines (json_object_get (data, "items"), input, details);
    if (!json_object_get (data, "payments"))
        request_input_problem (details, "payments", "is required");
    else
        s_read_payments (json_object_get (data, "payments"), input, details);
}

//  ==========================================================================
//  The catalog: one product.get_many for every line

//  --------------------------------------------------------------------------

static envelope_t *
s_price (sales_state_t *self, const envelope_t *request, s_sale_t *input)
{
    json_t *ids = json_array ();
    for (size_t i = 0; i < input->line_count; i++)
        json_array_append_new (ids, json_integer (input->lines [i].product_id));
    envelope_t *answer = sales_access_call (self, request, "product", "product.get_many",
                                            json_pack ("{s:o}", "ids", ids));
    if (answer->status != 200) {
        log_warn (request->rid, "sales: product.get_many answered %d", answer->status);
        envelope_destroy (&answer);
        return envelope_new_error (request, 503, "service_unavailable", "the catalog cannot price the sale", NULL);
    }
    json_t *products = json_object_get (answer->body, "data");
    json_t *details = json_array ();
    for (size_t i = 0; i < input->line_count; i++) {
        sale_line_t *line = &input->lines [i];
        json_t *found = NULL, *product;
        size_t index;
        json_array_foreach (products, index, product)
            if (json_integer_value (json_object_get (product, "id")) == line->product_id)
                found = product;
        json_t *price = json_object_get (found, "price_cents");
        json_t *cost = json_object_get (found, "cost_cents");
        const char *sku = json_string_value (json_object_get (found, "sku"));
        const char *name = json_string_value (json_object_get (found, "name"));
        char field [48];
        snprintf (field, sizeof field, "items[%zu].product_id", i);
        if (!found || json_is_false (json_object_get (found, "active")) || !json_is_integer (price)
        ||  !sku || !name) {
            request_input_problem (details, field, "no such product in the catalog");
            continue;
        }
        line->unit_price_cents = json_integer_value (price);
        line->cost_cents = json_is_integer (cost) ? json_integer_value (cost) : 0;
        if (line->unit_price_cents < 0 || line->unit_price_cents > SALE_MAX_PRICE || line->cost_cents < 0
        ||  strlen (sku) >= sizeof input->skus [i] || strlen (name) >= sizeof input->names [i])
            request_input_problem (details, field, "the catalog's product cannot be sold here (price or name out of range)");
        snprintf (input->skus [i], sizeof input->skus [i], "%s", sku);
        snprintf (input->names [i], sizeof input->names [i], "%s", name);
    }
    envelope_destroy (&answer);
    if (json_array_size (details))
        return envelope_new_error (request, 404, "not_found", "a product of the sale is not in the catalog",
                                   details);
    json_decref (details);
    return NULL;
}

//  ==========================================================================
//  The simulated gateway

//  --------------------------------------------------------------------------

static bool
s_gateway_approves (const char *token)
{
    return !token || streq (token, "tok_visa") || streq (token, "tok_mastercard")
        || streq (token, "tok_debit") || streq (token, "tok_mobile");
}

//  --------------------------------------------------------------------------
//  The payments as stored: [{line_no, method, amount_cents, authorization_code}];
//  NULL when a card is declined.
static json_t *
s_authorize (const s_sale_t *input)
{
    json_t *payments = json_array ();
    for (size_t i = 0; i < input->payment_count; i++) {
        const sale_payment_t *pay = &input->payments [i];
        json_t *row = json_pack ("{s:I, s:s, s:I}", "line_no", (json_int_t) (i + 1), "method", pay->method,
                                 "amount_cents", (json_int_t) pay->amount_cents);
        if (!streq (pay->method, "cash")) {
            if (!s_gateway_approves (input->tokens [i])) {
                json_decref (row);
                json_decref (payments);
                return NULL;
            }
            char code [16];
            snprintf (code, sizeof code, "A%06u", (unsigned) (randombytes_uniform (1000000)));
            json_object_set_new (row, "authorization_code", json_string (code));
        }
        json_array_append_new (payments, row);
    }
    return payments;
}

//  ==========================================================================
//  The rows

//  --------------------------------------------------------------------------
//  Write the sale pending with its lines. Its id, or -1.
static int64_t
s_write_pending (sales_state_t *self, const envelope_t *request, const s_sale_t *input,
                 const sales_register_t *reg, const sale_totals_t *totals, const char *sale_ref)
{
    json_t *lines = json_array ();
    for (size_t i = 0; i < input->line_count; i++) {
        const sale_line_t *line = &input->lines [i];
        json_array_append_new (lines, json_pack ("{s:I, s:I, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
            "line_no", (json_int_t) (i + 1), "product_id", (json_int_t) line->product_id,
            "sku", input->skus [i], "name", input->names [i], "quantity", (json_int_t) line->quantity,
            "unit_price_cents", (json_int_t) line->unit_price_cents,
            "discount_percent", (json_int_t) line->discount_percent,
            "discount_cents", (json_int_t) line->discount_cents, "net_cents", (json_int_t) line->net_cents,
            "tax_cents", (json_int_t) line->tax_cents, "cost_cents", (json_int_t) line->cost_cents));
    }
    json_t *taxes = json_array ();
    for (int i = 0; i < 2 && totals->taxes [i].name; i++) {
        char rate [24];
        salestax_rate_text (totals->taxes [i].rate, rate, sizeof rate);
        json_array_append_new (taxes, json_pack ("{s:s, s:s, s:I}", "name", totals->taxes [i].name,
                                                 "rate", rate, "amount_cents", (json_int_t) totals->tax_amounts [i]));
    }
    char *lines_text = json_dumps (lines, JSON_COMPACT);
    char *taxes_text = json_dumps (taxes, JSON_COMPACT);
    json_decref (lines);
    json_decref (taxes);
    char store [24], reg_id [24], session [24], customer [24], subtotal [24], discount [24], tax [24], total [24];
    snprintf (store, sizeof store, "%lld", (long long) reg->store_id);
    snprintf (reg_id, sizeof reg_id, "%lld", (long long) reg->id);
    snprintf (session, sizeof session, "%lld", (long long) reg->session_id);
    snprintf (customer, sizeof customer, "%lld", (long long) input->customer_id);
    snprintf (subtotal, sizeof subtotal, "%lld", (long long) totals->subtotal_cents);
    snprintf (discount, sizeof discount, "%lld", (long long) totals->discount_cents);
    snprintf (tax, sizeof tax, "%lld", (long long) totals->tax_cents);
    snprintf (total, sizeof total, "%lld", (long long) totals->total_cents);
    const char *params [] = { sale_ref, store, reg_id, session, request->sub ? request->sub : "",
                              input->customer_id ? customer : NULL, subtotal, discount, tax, total,
                              taxes_text, request->idem_key, lines_text };
    PGresult *res = lines_text && taxes_text ? pgdb_exec (self->db, "sales_write_pending",
        "WITH s AS (INSERT INTO sales (sale_ref, store_id, register_id, session_id, cashier_id, customer_id, "
        "           subtotal_cents, discount_cents, tax_cents, total_cents, taxes, idem_scope, idem_key) "
        "           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, $5, $12) RETURNING id), "
        "i AS (INSERT INTO sale_items (sale_id, line_no, product_id, sku, name, quantity, unit_price_cents, "
        "      discount_percent, discount_cents, net_cents, tax_cents, cost_cents) "
        "      SELECT s.id, x.line_no, x.product_id, x.sku, x.name, x.quantity, x.unit_price_cents, "
        "             x.discount_percent, x.discount_cents, x.net_cents, x.tax_cents, x.cost_cents "
        "      FROM s, jsonb_to_recordset ($13::jsonb) AS x (line_no integer, product_id bigint, sku text, "
        "           name text, quantity integer, unit_price_cents bigint, discount_percent integer, "
        "           discount_cents bigint, net_cents bigint, tax_cents bigint, cost_cents bigint)) "
        "SELECT id FROM s", 13, params) : NULL;
    free (lines_text);
    free (taxes_text);
    int64_t id = res ? sales_access_int (PQgetvalue (res, 0, 0)) : -1;
    if (res)
        PQclear (res);
    return id;
}

//  --------------------------------------------------------------------------
//  Forget a pending sale that took nothing: its lines and row go.
static void
s_forget_pending (sales_state_t *self, int64_t id)
{
    char text [24];
    snprintf (text, sizeof text, "%lld", (long long) id);
    const char *params [] = { text };
    PGresult *res = pgdb_exec (self->db, "sales_forget_pending",
        "WITH i AS (DELETE FROM sale_items WHERE sale_id = $1 "
        "           AND EXISTS (SELECT 1 FROM sales WHERE id = $1 AND status = 'pending')) "
        "DELETE FROM sales WHERE id = $1 AND status = 'pending'", 1, params);
    if (res)
        PQclear (res);
}

//  --------------------------------------------------------------------------
//  Complete the pending sale: the store's next receipt number, payments,
//  sale.completed in the outbox, one statement. 1 completed, 0 when the
//  sale is no longer pending or its session closed, -1 on failure.
static int
s_complete (sales_state_t *self, int64_t id, int64_t store_id, int64_t change, json_t *payments)
{
    char text [24], store [24], change_text [24];
    snprintf (text, sizeof text, "%lld", (long long) id);
    snprintf (store, sizeof store, "%lld", (long long) store_id);
    snprintf (change_text, sizeof change_text, "%lld", (long long) change);
    char *payments_text = json_dumps (payments, JSON_COMPACT);
    const char *params [] = { text, store, change_text, payments_text };
    PGresult *res = payments_text ? pgdb_exec (self->db, "sales_complete",
        "WITH p AS (SELECT s.id FROM sales s JOIN register_sessions r ON r.id = s.session_id "
        "           WHERE s.id = $1 AND s.status = 'pending' AND r.closed_at IS NULL "
        "           FOR UPDATE OF s FOR SHARE OF r), "
        "n AS (UPDATE stores SET next_receipt = next_receipt + 1 "
        "      WHERE id = $2 AND EXISTS (SELECT 1 FROM p) RETURNING next_receipt - 1 AS seq, code), "
        "s AS (UPDATE sales x SET status = 'completed', receipt_seq = n.seq, "
        "          receipt_number = n.code || '-' || lpad (n.seq::text, greatest (6, length (n.seq::text)), '0'), "
        "          completed_at = now (), change_cents = $3 "
        "      FROM n WHERE x.id = $1 RETURNING x.*), "
        "y AS (SELECT * FROM jsonb_to_recordset ($4::jsonb) AS y (line_no integer, method text, "
        "      amount_cents bigint, authorization_code text)), "
        "pay AS (INSERT INTO sale_payments (sale_id, line_no, method, amount_cents, authorization_code) "
        "        SELECT s.id, y.line_no, y.method, y.amount_cents, y.authorization_code FROM s, y), "
        "e AS (INSERT INTO outbox (topic, payload) SELECT 'sale.completed', sales_completed_event ("
        "      ROW (s.*)::sales, COALESCE ((SELECT jsonb_agg (jsonb_build_object ('method', y.method, "
        "          'amount_cents', y.amount_cents) ORDER BY y.line_no) FROM y), '[]')) FROM s) "
        "SELECT id FROM s", 4, params) : NULL;
    free (payments_text);
    int rows = res ? PQntuples (res) : -1;
    if (res)
        PQclear (res);
    return rows;
}

//  ==========================================================================
//  The stock at the store

//  --------------------------------------------------------------------------
//  Give back what sale_ref took. 0 when done (or nothing was taken), -1
//  when the inventory could not say.
static int
s_stock_back (sales_state_t *self, const envelope_t *request, const char *sale_ref)
{
    envelope_t *answer = sales_access_call (self, request, "inventory", "stock.sell_undo",
                                            json_pack ("{s:s}", "sale_ref", sale_ref));
    int status = answer->status;
    envelope_destroy (&answer);
    return status == 200 ? 0 : -1;
}

//  --------------------------------------------------------------------------
//  Take the lines' stock. NULL when taken, else the reply (the pending
//  sale is then forgotten, or left for the recovery when the inventory
//  could not say whether it took anything).
static envelope_t *
s_take_stock (sales_state_t *self, const envelope_t *request, const s_sale_t *input,
              const sales_register_t *reg, int64_t id, const char *sale_ref)
{
    json_t *lines = json_array ();
    for (size_t i = 0; i < input->line_count; i++)
        json_array_append_new (lines, json_pack ("{s:I, s:I}", "product_id", (json_int_t) input->lines [i].product_id,
                                                 "quantity", (json_int_t) input->lines [i].quantity));
    envelope_t *answer = sales_access_call (self, request, "inventory", "stock.sell",
        json_pack ("{s:s, s:I, s:o}", "sale_ref", sale_ref, "store_id", (json_int_t) reg->store_id,
                   "lines", lines));
    int status = answer->status;
    envelope_t *reply = NULL;
    const char *code = json_string_value (json_object_get (answer->error, "code"));
    if (status == 409 && code && streq (code, "out_of_stock")) {
        json_t *error = answer->error;
        json_t *details = json_object_get (error, "details");
        reply = envelope_new_error (request, 409, "out_of_stock", "not enough stock at the store for this sale",
                                    json_is_array (details) ? json_incref (details) : NULL);
        s_forget_pending (self, id);
    }
    else
    if (status >= 400 && status < 500) {
        log_warn (request->rid, "sales: stock.sell answered %d %s", status, code ? code : "");
        reply = envelope_new_error (request, 503, "service_unavailable", "the inventory refused the sale", NULL);
        s_forget_pending (self, id);
    }
    else
    if (status != 200) {
        reply = envelope_new_error (request, 503, "service_unavailable", "the inventory did not answer", NULL);
        if (s_stock_back (self, request, sale_ref) == 0)
            s_forget_pending (self, id);
    }
    envelope_destroy (&answer);
    return reply;
}

//  ==========================================================================
//  The sale

//  --------------------------------------------------------------------------
//  Whether the session closed (false also when the database cannot say).
static bool
s_session_closed (sales_state_t *self, int64_t session_id)
{
    char text [24];
    snprintf (text, sizeof text, "%lld", (long long) session_id);
    const char *params [] = { text };
    PGresult *res = pgdb_exec (self->db, "sales_session_closed",
        "SELECT 1 FROM register_sessions WHERE id = $1 AND closed_at IS NOT NULL", 1, params);
    bool closed = res && PQntuples (res) == 1;
    if (res)
        PQclear (res);
    return closed;
}

//  --------------------------------------------------------------------------
//  The status of sale id into status. 0, or -1 when the database cannot say.
static int
s_sale_status (sales_state_t *self, int64_t id, char *status, size_t size)
{
    char text [24];
    snprintf (text, sizeof text, "%lld", (long long) id);
    const char *params [] = { text };
    PGresult *res = pgdb_exec (self->db, "sales_sale_status", "SELECT status FROM sales WHERE id = $1",
                               1, params);
    if (!res)
        return -1;
    snprintf (status, size, "%s", PQntuples (res) ? PQgetvalue (res, 0, 0) : "");
    PQclear (res);
    return 0;
}

//  --------------------------------------------------------------------------

static envelope_t *
s_sale_run (sales_state_t *self, const envelope_t *request, s_sale_t *input)
{
    sales_register_t reg;
    envelope_t *reply = sales_access_register (self, request, input->register_id, &reg);
    if (reply)
        return reply;
    if (!reg.session_id)
        return envelope_new_error (request, 409, "register_closed", "the register has no open session", NULL);
    reply = s_price (self, request, input);
    if (reply)
        return reply;
    sale_totals_t totals;
    if (sale_model_price (input->lines, input->line_count, reg.province, &totals))
        return request_input_internal (request);
    int64_t change = 0;
    const char *problem = sale_model_payments (input->payments, input->payment_count, totals.total_cents, &change);
    if (problem) {
        json_t *details = json_array ();
        request_input_problem (details, "payments", problem);
        return request_input_invalid (request, details);
    }
    json_t *payments = s_authorize (input);
    if (!payments)
        return envelope_new_error (request, 402, "payment_declined", "the card was declined", NULL);
    unsigned char random [12];
    char hex [25], sale_ref [40];
    randombytes_buf (random, sizeof random);
    sodium_bin2hex (hex, sizeof hex, random, sizeof random);
    snprintf (sale_ref, sizeof sale_ref, "sale:%s", hex);
    int64_t id = s_write_pending (self, request, input, &reg, &totals, sale_ref);
    if (id < 0) {
        json_decref (payments);
        return request_input_db_failure (request, self->db, "sales");
    }
    reply = s_take_stock (self, request, input, &reg, id, sale_ref);
    if (reply) {
        json_decref (payments);
        return reply;
    }
    int completed = s_complete (self, id, reg.store_id, change, payments);
    json_decref (payments);
    //  A failed statement may still have committed (a connection lost at
    //  the commit): what the row says decides, never a guess.
    char status [16] = "";
    if (completed != 1 && s_sale_status (self, id, status, sizeof status) == 0 && streq (status, "completed"))
        completed = 1;
    if (completed == 1)
        return sales_render_reply (self, request, "sale", id, 201);
    if (!streq (status, "pending"))
        return envelope_new_error (request, 503, "service_unavailable",
                                   "the sale could not be completed: ring it up again", NULL);
    //  Still pending: the stock goes back (the sweep retries when it cannot).
    if (s_stock_back (self, request, sale_ref) == 0)
        s_forget_pending (self, id);
    if (completed == 0 && s_session_closed (self, reg.session_id))
        return envelope_new_error (request, 409, "register_closed", "the register closed during the sale", NULL);
    return request_input_db_failure (request, self->db, "sales");
}

//  --------------------------------------------------------------------------

envelope_t *
sale_create (const envelope_t *request, void *state)
{
    sales_state_t *self = (sales_state_t *) state;
    envelope_t *refused = sales_access_staff (request);
    if (!refused)
        refused = idempotency_key_check (request, "a sale");
    if (refused)
        return refused;
    s_sale_t *input = (s_sale_t *) zmalloc (sizeof (s_sale_t));
    if (!input)
        return request_input_internal (request);
    json_t *details = json_array ();
    s_sale_read (request, input, details);
    envelope_t *reply = NULL;
    if (json_array_size (details))
        reply = request_input_invalid (request, details);
    else {
        json_decref (details);
        for (size_t i = 0; i < input->line_count && !reply; i++)
            if (streq (request->role, "cashier") && input->lines [i].discount_percent > self->max_discount_cashier) {
                char message [96];
                snprintf (message, sizeof message, "a discount over %lld %% needs a manager",
                          (long long) self->max_discount_cashier);
                reply = request_input_forbidden (request, message);
            }
    }
    if (!reply) {
        char hash [65];
        idempotency_fingerprint (request_input_data (request), hash);
        idempotency_claim_t claim = idempotency_claim (self->db, request, hash, &reply);
        if (claim == IDEMPOTENCY_FAILED)
            reply = request_input_db_failure (request, self->db, "sales");
        else
        if (claim == IDEMPOTENCY_OWNED) {
            reply = s_sale_run (self, request, input);
            idempotency_finish (self->db, request, reply);
        }
    }
    free (input);
    return reply;
}

//  ==========================================================================
//  Reads

//  --------------------------------------------------------------------------
//  The sale param id as the caller may see it: 0 (and *id), or the reply.
static envelope_t *
s_find (sales_state_t *self, const envelope_t *request, int64_t *id)
{
    envelope_t *refused = sales_access_staff (request);
    if (refused)
        return refused;
    json_t *details = json_array ();
    if (sales_access_id (request, "id", id, details))
        return request_input_invalid (request, details);
    json_decref (details);
    int64_t store_id;
    return sales_access_sale (self, request, *id, &store_id);
}

//  --------------------------------------------------------------------------

envelope_t *
sale_get (const envelope_t *request, void *state)
{
    sales_state_t *self = (sales_state_t *) state;
    int64_t id;
    envelope_t *reply = s_find (self, request, &id);
    return reply ? reply : sales_render_reply (self, request, "sale", id, 200);
}

//  --------------------------------------------------------------------------

envelope_t *
sale_receipt (const envelope_t *request, void *state)
{
    sales_state_t *self = (sales_state_t *) state;
    int64_t id;
    envelope_t *reply = s_find (self, request, &id);
    if (reply)
        return reply;
    char text [24];
    snprintf (text, sizeof text, "%lld", (long long) id);
    const char *params [] = { text };
    PGresult *res = pgdb_exec (self->db, "sales_receipt",
        "SELECT " SALES_SALE_JSON "::text, st.name, st.address, g.name, "
        "       to_char (s.completed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') || ' UTC' "
        "FROM sales s JOIN stores st ON st.id = s.store_id JOIN registers g ON g.id = s.register_id "
        "WHERE s.id = $1", 1, params);
    if (!res)
        return request_input_db_failure (request, self->db, "sales");
    json_t *sale = PQntuples (res) == 1 ? json_loads (PQgetvalue (res, 0, 0), 0, NULL) : NULL;
    char *receipt = sale ? receipt_render (sale, PQgetvalue (res, 0, 1), PQgetvalue (res, 0, 2),
                                           PQgetvalue (res, 0, 3), PQgetvalue (res, 0, 4)) : NULL;
    PQclear (res);
    json_decref (sale);
    if (!receipt)
        return request_input_internal (request);
    reply = envelope_new_reply (request, 200, json_string (receipt));
    free (receipt);
    return reply;
}

//  --------------------------------------------------------------------------
//  A from/to param: absent, a date (YYYY-MM-DD, its midnight UTC) or an
//  RFC 3339 UTC time (2026-11-25T17:22:39Z): 0, else -1.
static int
s_time_param (const char *text)
{
    if (!text)
        return 0;
    size_t length = strlen (text);
    if (length != 10 && length != 20)
        return -1;
    static const char shape [] = "dddd-dd-ddTdd:dd:ddZ";
    for (size_t i = 0; i < length; i++)
        if (shape [i] == 'd' ? text [i] < '0' || text [i] > '9' : text [i] != shape [i])
            return -1;
    return 0;
}

//  --------------------------------------------------------------------------

envelope_t *
sale_list (const envelope_t *request, void *state)
{
    sales_state_t *self = (sales_state_t *) state;
    int64_t store_id = 0;
    envelope_t *refused = sales_access_store (request, &store_id);
    if (refused)
        return refused;
    json_t *details = json_array ();
    int64_t page, per_page, register_id = 0;
    request_input_page (request, &page, &per_page, details);
    const char *text = request_input_param (request, "register_id");
    if (text && request_input_int (text, 1, INT64_MAX, &register_id))
        request_input_problem (details, "register_id", "must be a positive integer");
    const char *from = request_input_param (request, "from");
    const char *to = request_input_param (request, "to");
    if (s_time_param (from))
        request_input_problem (details, "from", "must be a date (2026-11-25) or an RFC 3339 UTC time");
    if (s_time_param (to))
        request_input_problem (details, "to", "must be a date (2026-11-25) or an RFC 3339 UTC time");
    if (json_array_size (details))
        return request_input_invalid (request, details);
    json_decref (details);
    char store [24], reg [24], limit [24], offset [24];
    snprintf (store, sizeof store, "%lld", (long long) store_id);
    snprintf (reg, sizeof reg, "%lld", (long long) register_id);
    snprintf (limit, sizeof limit, "%lld", (long long) per_page);
    snprintf (offset, sizeof offset, "%lld", (long long) ((page - 1) * per_page));
    const char *params [] = { store_id ? store : NULL, register_id ? reg : NULL, from, to, limit, offset };
    PGresult *res = pgdb_exec (self->db, "sales_list",
        "WITH f AS (SELECT * FROM sales s WHERE s.status = 'completed' "
        "           AND ($1::bigint IS NULL OR s.store_id = $1) AND ($2::bigint IS NULL OR s.register_id = $2) "
        "           AND ($3::text IS NULL OR s.completed_at >= ($3::text || CASE WHEN length ($3) = 10 "
        "                THEN 'T00:00:00Z' ELSE '' END)::timestamptz) "
        "           AND ($4::text IS NULL OR s.completed_at < ($4::text || CASE WHEN length ($4) = 10 "
        "                THEN 'T00:00:00Z' ELSE '' END)::timestamptz)) "
        "SELECT jsonb_build_object ('data', COALESCE ((SELECT jsonb_agg (x.j ORDER BY x.id DESC) FROM "
        "  (SELECT s.id, " SALES_SALE_JSON " AS j FROM f s ORDER BY s.id DESC LIMIT $5 OFFSET $6) x), '[]'), "
        "  'meta', jsonb_build_object ('page', $6::bigint / $5::bigint + 1, 'per_page', $5::bigint, "
        "                              'total', (SELECT count (*) FROM f)))::text",
        6, params);
    if (!res) {
        //  A well-shaped but impossible date (2026-13-45) is the client's.
        if (streq (pgdb_sqlstate (self->db), "22008") || streq (pgdb_sqlstate (self->db), "22007")) {
            details = json_array ();
            request_input_problem (details, "from", "from and to must be real dates and times");
            return request_input_invalid (request, details);
        }
        return request_input_db_failure (request, self->db, "sales");
    }
    json_t *body = json_loads (PQgetvalue (res, 0, 0), 0, NULL);
    PQclear (res);
    return body ? envelope_new_reply (request, 200, body) : request_input_internal (request);
}
