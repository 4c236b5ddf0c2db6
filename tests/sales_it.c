/*  =========================================================================
    sales_it - the sales context (point of sale) against a real PostgreSQL

    Needs COMPTOIR_TEST_PG_ADMIN (the conninfo of an admin database of the
    test cluster); without it the suite exits 77 (skipped). The run makes
    its own scratch database (comptoir_it_<pid>_sales), migrated through the
    context's own start-up, and drops it at the end. Each case works in a
    store of its own (made here), so the cases' figures do not mix.

    The handlers are called through contextnode_dispatch with the real verb
    table and a real actor state whose keys folder has no broker key: the
    calls to product and inventory fail fast (503). Sales that complete are
    written as the saga writes them; the saga against the live catalog and
    inventory is tests/e2e/test_pos.py's.
    =========================================================================
*/
#include "testrunner.h"
#include "testcall.h"
#include "testdb.h"

#include "contextnode.h"
#include "logline.h"
#include "pgdb.h"
#include "receipt.h"
#include "sale_model.h"
#include "sales_context.h"
#include "sales_verbs.h"
#include "settings.h"

#include <czmq.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *s_admin;
static char *s_db;

//  --------------------------------------------------------------------------

static void *
s_state (void)
{
    settings_t *settings = settings_load (NULL);
    assert (settings);
    void *state = sales_context_def.make_state (settings, 1, 2);
    assert (state);
    settings_destroy (&settings);
    return state;
}

//  Call a verb as role of store with params and data (JSON literals or
//  NULL) and an Idempotency-Key (or NULL).
static envelope_t *
s_call (void *state, const char *verb, const char *role, int64_t store, const char *key,
        const char *params, const char *data)
{
    envelope_t *request = testcall_request (verb, params, data);
    if (role) {
        envelope_set_str (&request->role, role);
        envelope_set_str (&request->sub, streq (role, "admin") ? "1" : streq (role, "manager") ? "2" : "3");
    }
    request->store_id = store;
    if (key)
        envelope_set_str (&request->idem_key, key);
    return testcall_dispatch (&sales_context_def, state, &request);
}

//  One value from the scratch database (NULL when no row).
static char *
s_value (const char *sql, const char *param)
{
    pgdb_t *db = pgdb_new (s_db);
    assert (db);
    const char *params [] = { param };
    char *value = testdb_value (db, sql, param ? 1 : 0, params);
    pgdb_destroy (&db);
    return value;
}

static int64_t
s_int_value (const char *sql, const char *param)
{
    char *value = s_value (sql, param);
    assert (value);
    int64_t number = atoll (value);
    free (value);
    return number;
}

static int64_t
s_body_int (const envelope_t *reply, const char *field)
{
    return json_integer_value (json_object_get (reply->body, field));
}

//  A store of the case's own (id store, province) with one register; its id.
static int64_t
s_store (int64_t store, const char *province)
{
    char sql [300], text [24];
    snprintf (text, sizeof text, "%lld", (long long) store);
    snprintf (sql, sizeof sql, "WITH s AS (INSERT INTO stores (id, code, name, province) "
              "VALUES ($1::bigint, 'T' || $1, 'Test store ' || $1, '%s') RETURNING id) "
              "INSERT INTO registers (store_id, name) SELECT id, 'Till 1' FROM s RETURNING id", province);
    return s_int_value (sql, text);
}

//  A store of the case's own, its register opened with float_cents: the
//  register's id.
static int64_t
s_open_store (void *state, int64_t store, const char *province, int64_t float_cents)
{
    int64_t reg = s_store (store, province);
    char params [64], data [64];
    snprintf (params, sizeof params, "{\"id\": \"%lld\"}", (long long) reg);
    snprintf (data, sizeof data, "{\"opening_float_cents\": %lld}", (long long) float_cents);
    envelope_t *reply = s_call (state, "register.open", "cashier", store, NULL, params, data);
    testcall_expect (reply, 201);
    envelope_destroy (&reply);
    return reg;
}

//  The sale of test_model_rounding, completed on register reg's open
//  session as the saga writes it: 3 x 10.00 at 10 % and 1 x 25.99 in QC,
//  paid 45.00 cash and 20.00 by card (change 4.07). Its id.
static int64_t
s_completed_sale (int64_t reg)
{
    char text [24];
    snprintf (text, sizeof text, "%lld", (long long) reg);
    return s_int_value (
        "WITH g AS (SELECT g.id, g.store_id, x.id AS session FROM registers g JOIN register_sessions x "
        "           ON x.register_id = g.id AND x.closed_at IS NULL WHERE g.id = $1::bigint), "
        "n AS (UPDATE stores SET next_receipt = next_receipt + 1 WHERE id = (SELECT store_id FROM g) "
        "      RETURNING next_receipt - 1 AS seq, code), "
        "s AS (INSERT INTO sales (sale_ref, status, store_id, register_id, session_id, cashier_id, "
        "      receipt_seq, receipt_number, subtotal_cents, discount_cents, tax_cents, total_cents, "
        "      change_cents, taxes, completed_at) "
        "      SELECT 'sale:it-' || g.id || '-' || n.seq, 'completed', g.store_id, g.id, g.session, '3', "
        "             n.seq, n.code || '-' || lpad (n.seq::text, 6, '0'), 5599, 300, 794, 6093, 407, "
        "             '[{\"name\": \"GST\", \"rate\": \"5\", \"amount_cents\": 265}, "
        "               {\"name\": \"QST\", \"rate\": \"9.975\", \"amount_cents\": 529}]', now () "
        "      FROM g, n RETURNING id), "
        "i AS (INSERT INTO sale_items SELECT s.id, v.* FROM s, (VALUES "
        "      (1, 11, 'SKU-11', 'Tasse Café', 3, 1000, 10, 300, 2700, 405, 450), "
        "      (2, 12, 'SKU-12', 'Théière', 1, 2599, 0, 0, 2599, 389, 1200)) AS v), "
        "p AS (INSERT INTO sale_payments (sale_id, line_no, method, amount_cents) "
        "      SELECT s.id, v.* FROM s, (VALUES (1, 'cash', 4500), (2, 'credit_card', 2000)) AS v) "
        "SELECT id FROM s", text);
}

//  ==========================================================================

static void
test_model_rounding (bool verbose)
{
    (void) verbose;
    sale_line_t lines [2] = {
        { .product_id = 11, .quantity = 3, .discount_percent = 10, .unit_price_cents = 1000 },
        { .product_id = 12, .quantity = 1, .discount_percent = 0, .unit_price_cents = 2599 } };
    sale_totals_t totals;
    assert (sale_model_price (lines, 2, "QC", &totals) == 0);
    assert (totals.subtotal_cents == 5599 && totals.discount_cents == 300 && totals.net_cents == 5299);
    //  GST 5 % of 52.99 = 2.6495 -> 2.65; QST 9.975 % = 5.2857... -> 5.29
    assert (totals.tax_amounts [0] == 265 && totals.tax_amounts [1] == 529);
    assert (totals.tax_cents == 794 && totals.total_cents == 6093);
    //  The lines' taxes add up to the sale's, largest remainder first
    assert (lines [0].net_cents == 2700 && lines [0].discount_cents == 300 && lines [0].tax_cents == 405);
    assert (lines [1].net_cents == 2599 && lines [1].tax_cents == 389);
    //  Discounts round half up: 12.5 % is not allowed, but 1 x 0.05 at 50 % is 0.025 -> 0.03
    sale_line_t half = { .product_id = 1, .quantity = 1, .discount_percent = 50, .unit_price_cents = 5 };
    assert (sale_model_price (&half, 1, "ON", &totals) == 0);
    assert (half.discount_cents == 3 && half.net_cents == 2 && totals.tax_cents == 0);
    //  100 % off: nothing to pay, no tax
    sale_line_t free_line = { .product_id = 1, .quantity = 2, .discount_percent = 100, .unit_price_cents = 999 };
    assert (sale_model_price (&free_line, 1, "BC", &totals) == 0);
    assert (totals.total_cents == 0 && totals.discount_cents == 1998 && free_line.tax_cents == 0);
    //  Many small lines: the split still adds up
    sale_line_t many [7];
    for (int i = 0; i < 7; i++)
        many [i] = (sale_line_t) { .product_id = i + 1, .quantity = i + 1, .discount_percent = i * 3,
                                   .unit_price_cents = 333 + i * 71 };
    assert (sale_model_price (many, 7, "QC", &totals) == 0);
    int64_t split = 0;
    for (int i = 0; i < 7; i++)
        split += many [i].tax_cents;
    assert (split == totals.tax_cents);
    //  Unknown province, out of range: refused
    assert (sale_model_price (lines, 2, "XX", &totals) == -1);
    sale_line_t bad = { .product_id = 1, .quantity = 0, .unit_price_cents = 1 };
    assert (sale_model_price (&bad, 1, "QC", &totals) == -1);
    //  Return shares: in any steps, they add up to the whole
    assert (sale_model_share (2700, 3, 0, 2) == 1800 && sale_model_share (2700, 3, 2, 3) == 900);
    assert (sale_model_share (405, 3, 0, 1) + sale_model_share (405, 3, 1, 2) + sale_model_share (405, 3, 2, 3) == 405);
    assert (sale_model_share (100, 7, 0, 7) == 100 && sale_model_share (100, 7, 3, 9) == 0);
}

static void
test_payment_rules (bool verbose)
{
    (void) verbose;
    int64_t change = -1;
    sale_payment_t exact [] = { { "credit_card", 6093 } };
    assert (sale_model_payments (exact, 1, 6093, &change) == NULL && change == 0);
    sale_payment_t split [] = { { "cash", 4500 }, { "credit_card", 2000 } };
    assert (sale_model_payments (split, 2, 6093, &change) == NULL && change == 407);
    sale_payment_t short_of [] = { { "cash", 3000 }, { "debit_card", 3000 } };
    assert (streq (sale_model_payments (short_of, 2, 6093, &change), "the payments do not cover the total"));
    sale_payment_t card_over [] = { { "mobile", 7000 } };
    assert (streq (sale_model_payments (card_over, 1, 6093, &change), "only cash may exceed the total"));
    //  Cash not needed at all: the change would be all of it
    sale_payment_t useless [] = { { "credit_card", 6093 }, { "cash", 500 } };
    assert (streq (sale_model_payments (useless, 2, 6093, &change), "the change must be less than the cash given"));
    sale_payment_t zero [] = { { "cash", 0 } };
    assert (sale_model_payments (zero, 1, 0, &change) != NULL);
    sale_payment_t cheque [] = { { "cheque", 6093 } };
    assert (sale_model_payments (cheque, 1, 6093, &change) != NULL);
    assert (sale_model_payments (NULL, 0, 0, &change) == NULL && change == 0);
    assert (sale_model_payments (NULL, 0, 1, &change) != NULL);
}

static void
test_receipt_layout (bool verbose)
{
    json_t *sale = json_loads (
        "{\"receipt_number\": \"S01-000154\", \"cashier_id\": \"3\", \"items\": ["
        " {\"name\": \"Tasse Café en céramique émaillée, grand format 450 ml\", \"quantity\": 3,"
        "  \"unit_price_cents\": 1000, \"discount_percent\": 10, \"discount_cents\": 300},"
        " {\"name\": \"Théière\", \"quantity\": 1, \"unit_price_cents\": 2599, \"discount_percent\": 0,"
        "  \"discount_cents\": 0}],"
        " \"subtotal_cents\": 5599, \"discount_cents\": 300, \"taxes\": ["
        " {\"name\": \"GST\", \"rate\": \"5\", \"amount_cents\": 265},"
        " {\"name\": \"QST\", \"rate\": \"9.975\", \"amount_cents\": 529}],"
        " \"total_cents\": 6093, \"payments\": [{\"method\": \"cash\", \"amount_cents\": 4500},"
        " {\"method\": \"credit_card\", \"amount_cents\": 2000}], \"change_cents\": 407}", 0, NULL);
    assert (sale);
    char *text = receipt_render (sale, "Montréal – Sainte-Catherine",
                                 "1200 rue Sainte-Catherine O, Montréal QC H3B 1K9 Canada", "Register 1",
                                 "2026-12-06 04:30 UTC");
    assert (text);
    if (verbose)
        printf ("\n%s", text);
    //  Every line fits 40 characters (not bytes), and the amounts end at column 40
    char *copy = strdup (text), *save = NULL;
    int lines = 0;
    for (char *line = strtok_r (copy, "\n", &save); line; line = strtok_r (NULL, "\n", &save), lines++) {
        size_t chars = 0;
        for (const char *c = line; *c; c++)
            chars += ((unsigned char) *c & 0xC0) != 0x80;
        assert (chars <= RECEIPT_WIDTH);
    }
    free (copy);
    assert (lines > 15);
    assert (strstr (text, "Receipt                       S01-000154\n"));
    assert (strstr (text, "  3 x 10.00                        30.00\n"));
    assert (strstr (text, "  Discount 10%                     -3.00\n"));
    assert (strstr (text, "Subtotal                           55.99\n"));
    assert (strstr (text, "QST 9.975%                          5.29\n"));
    assert (strstr (text, "TOTAL                              60.93\n"));
    assert (strstr (text, "Credit card                        20.00\n"));
    assert (strstr (text, "Change                              4.07\n"));
    assert (strstr (text, "Tasse Café en céramique émaillée, grand\n"));     //  cut at 40 characters
    assert (strstr (text, "Cashier                                3\n"));
    free (text);
    json_decref (sale);
}

static void
test_register_session_and_z_report (bool verbose)
{
    (void) verbose;
    void *state = s_state ();
    int64_t reg = s_store (11, "QC");
    char params [64];
    snprintf (params, sizeof params, "{\"id\": \"%lld\"}", (long long) reg);
    //  Closed: nothing to close
    envelope_t *reply = s_call (state, "register.close", "cashier", 11, NULL, params, "{\"counted_cash_cents\": 0}");
    testcall_expect (reply, 409);
    assert (streq (testcall_code (reply), "register_closed"));
    envelope_destroy (&reply);
    //  Another store's register is not there
    reply = s_call (state, "register.open", "cashier", 1, NULL, params, "{\"opening_float_cents\": 10000}");
    testcall_expect (reply, 404);
    envelope_destroy (&reply);
    reply = s_call (state, "register.open", "cashier", 11, NULL, params, "{\"opening_float_cents\": -1}");
    testcall_expect (reply, 400);
    envelope_destroy (&reply);
    reply = s_call (state, "register.open", "cashier", 11, NULL, params, "{\"opening_float_cents\": 10000, \"x\": 1}");
    testcall_expect (reply, 400);
    envelope_destroy (&reply);
    reply = s_call (state, "register.open", "cashier", 11, NULL, params, "{\"opening_float_cents\": 10000}");
    testcall_expect (reply, 201);
    assert (s_body_int (reply, "opening_float_cents") == 10000 && s_body_int (reply, "register_id") == reg);
    envelope_destroy (&reply);
    reply = s_call (state, "register.open", "manager", 11, NULL, params, "{\"opening_float_cents\": 5}");
    testcall_expect (reply, 409);
    assert (streq (testcall_code (reply), "register_open"));
    envelope_destroy (&reply);
    reply = s_call (state, "register.list", "cashier", 11, NULL, NULL, NULL);
    testcall_expect (reply, 200);
    json_t *first = json_array_get (json_object_get (reply->body, "data"), 0);
    assert (json_array_size (json_object_get (reply->body, "data")) == 1);
    assert (json_integer_value (json_object_get (json_object_get (first, "session"), "opening_float_cents")) == 10000);
    envelope_destroy (&reply);
    //  A sale and two returns on this session, then the close
    int64_t sale = s_completed_sale (reg);
    char sale_params [64];
    snprintf (sale_params, sizeof sale_params, "{\"id\": \"%lld\"}", (long long) sale);
    reply = s_call (state, "sale.return", "cashier", 11, "z-1", sale_params,
                    "{\"items\": [{\"product_id\": 11, \"quantity\": 2}], \"reason\": \"cracked\"}");
    testcall_expect (reply, 201);
    envelope_destroy (&reply);
    reply = s_call (state, "sale.return", "cashier", 11, "z-2", sale_params,
                    "{\"items\": [{\"product_id\": 11, \"quantity\": 1}, {\"product_id\": 12, \"quantity\": 1}],"
                    " \"reason\": \"changed mind\"}");
    testcall_expect (reply, 201);
    envelope_destroy (&reply);
    reply = s_call (state, "register.close", "cashier", 11, NULL, params, "{\"counted_cash_cents\": 9990}");
    testcall_expect (reply, 200);
    if (verbose)
        printf ("\n%s\n", json_dumps (reply->body, JSON_INDENT (2)));
    assert (s_body_int (reply, "sales_count") == 1 && s_body_int (reply, "gross_cents") == 5599);
    assert (s_body_int (reply, "discount_cents") == 300 && s_body_int (reply, "returns_count") == 2);
    assert (s_body_int (reply, "returns_cents") == 5299 && s_body_int (reply, "net_cents") == 0);
    assert (s_body_int (reply, "tax_cents") == 0 && s_body_int (reply, "refund_cents") == 6093);
    assert (json_integer_value (json_object_get (json_object_get (reply->body, "payments"), "cash")) == 4500);
    assert (json_integer_value (json_object_get (json_object_get (reply->body, "payments"), "credit_card")) == 2000);
    assert (s_body_int (reply, "change_cents") == 407 && s_body_int (reply, "cash_refunds_cents") == 4093);
    //  float 100.00 + cash 45.00 - change 4.07 - refunds 40.93 = 100.00; counted 99.90
    assert (s_body_int (reply, "expected_cash_cents") == 10000 && s_body_int (reply, "counted_cash_cents") == 9990);
    assert (s_body_int (reply, "over_short_cents") == -10);
    envelope_destroy (&reply);
    //  Closed for good; the report stays stored
    reply = s_call (state, "register.close", "cashier", 11, NULL, params, "{\"counted_cash_cents\": 9990}");
    testcall_expect (reply, 409);
    envelope_destroy (&reply);
    char text [24];
    snprintf (text, sizeof text, "%lld", (long long) reg);
    assert (s_int_value ("SELECT (report ->> 'over_short_cents')::bigint FROM register_sessions "
                         "WHERE register_id = $1::bigint", text) == -10);
    //  A cash refund now needs an open session
    reply = s_call (state, "sale.return", "cashier", 11, "z-3", sale_params,
                    "{\"items\": [{\"product_id\": 11, \"quantity\": 1}], \"reason\": \"again\"}");
    testcall_expect (reply, 409);
    envelope_destroy (&reply);
    sales_context_def.free_state (&state);
}

static void
test_returns_bounds_and_refunds (bool verbose)
{
    (void) verbose;
    void *state = s_state ();
    int64_t reg = s_open_store (state, 12, "QC", 0);
    envelope_t *reply;
    int64_t sale = s_completed_sale (reg);
    char sale_params [64], text [24];
    snprintf (sale_params, sizeof sale_params, "{\"id\": \"%lld\"}", (long long) sale);
    snprintf (text, sizeof text, "%lld", (long long) sale);
    //  Beyond what was sold, a product not sold: 409 with what is left
    reply = s_call (state, "sale.return", "cashier", 12, "r-1", sale_params,
                    "{\"items\": [{\"product_id\": 11, \"quantity\": 4}], \"reason\": \"x\"}");
    testcall_expect (reply, 409);
    json_t *detail = json_array_get (json_object_get (reply->error, "details"), 0);
    assert (json_integer_value (json_object_get (detail, "returnable")) == 3);
    envelope_destroy (&reply);
    reply = s_call (state, "sale.return", "cashier", 12, "r-2", sale_params,
                    "{\"items\": [{\"product_id\": 99, \"quantity\": 1}], \"reason\": \"x\"}");
    testcall_expect (reply, 409);
    envelope_destroy (&reply);
    //  2 of 3 cups: 18.00 + tax 2.70, back in cash (the sale kept 40.93 in cash)
    reply = s_call (state, "sale.return", "cashier", 12, "r-3", sale_params,
                    "{\"items\": [{\"product_id\": 11, \"quantity\": 2}], \"reason\": \"cracked\"}");
    testcall_expect (reply, 201);
    assert (s_body_int (reply, "refund_cents") == 2070 && s_body_int (reply, "net_cents") == 1800);
    int64_t first_id = s_body_int (reply, "id");
    json_t *refunds = json_object_get (reply->body, "refunds");
    assert (json_array_size (refunds) == 1);
    assert (json_integer_value (json_object_get (json_array_get (refunds, 0), "amount_cents")) == 2070);
    envelope_destroy (&reply);
    //  The same key and request: the first answer again, marked replayed
    reply = s_call (state, "sale.return", "cashier", 12, "r-3", sale_params,
                    "{\"items\": [{\"product_id\": 11, \"quantity\": 2}], \"reason\": \"cracked\"}");
    testcall_expect (reply, 201);
    assert (s_body_int (reply, "id") == first_id && reply->idem_key);
    envelope_destroy (&reply);
    //  The same key, another request: 422
    reply = s_call (state, "sale.return", "cashier", 12, "r-3", sale_params,
                    "{\"items\": [{\"product_id\": 11, \"quantity\": 1}], \"reason\": \"cracked\"}");
    testcall_expect (reply, 422);
    envelope_destroy (&reply);
    //  The rest: the last cup and the teapot, 40.23: 20.23 cash, 20.00 card
    reply = s_call (state, "sale.return", "manager", 12, "r-4", sale_params,
                    "{\"items\": [{\"product_id\": 11, \"quantity\": 1}, {\"product_id\": 12, \"quantity\": 1}],"
                    " \"reason\": \"changed mind\"}");
    testcall_expect (reply, 201);
    assert (s_body_int (reply, "refund_cents") == 4023);
    refunds = json_object_get (reply->body, "refunds");
    assert (json_array_size (refunds) == 2);
    assert (json_integer_value (json_object_get (json_array_get (refunds, 0), "amount_cents")) == 2023);
    assert (streq (json_string_value (json_object_get (json_array_get (refunds, 1), "method")), "credit_card"));
    envelope_destroy (&reply);
    //  Everything came back: the refunds add up to the total paid
    assert (s_int_value ("SELECT sum (refund_cents) FROM returns WHERE sale_id = $1::bigint", text) == 6093);
    reply = s_call (state, "sale.return", "cashier", 12, "r-5", sale_params,
                    "{\"items\": [{\"product_id\": 12, \"quantity\": 1}], \"reason\": \"x\"}");
    testcall_expect (reply, 409);
    envelope_destroy (&reply);
    //  Events, one per return, with the receipt number; stock not back here (no inventory)
    assert (s_int_value ("SELECT count (*) FROM outbox WHERE topic = 'sale.returned' "
                         "AND payload ->> 'sale_id' = $1 AND payload ->> 'receipt_number' LIKE 'T12-%'", text) == 2);
    assert (s_int_value ("SELECT count (*) FROM returns WHERE sale_id = $1::bigint AND NOT stock_back", text) == 2);
    //  The sale shows its returns and what came back per line
    reply = s_call (state, "sale.get", "cashier", 12, NULL, sale_params, NULL);
    testcall_expect (reply, 200);
    assert (json_array_size (json_object_get (reply->body, "returns")) == 2);
    assert (json_integer_value (json_object_get (json_array_get (json_object_get (reply->body, "items"), 0),
                                                 "returned_quantity")) == 3);
    envelope_destroy (&reply);
    //  Another store's cashier does not see it
    reply = s_call (state, "sale.get", "cashier", 11, NULL, sale_params, NULL);
    testcall_expect (reply, 404);
    envelope_destroy (&reply);
    reply = s_call (state, "sale.return", "cashier", 11, "r-6", sale_params,
                    "{\"items\": [{\"product_id\": 12, \"quantity\": 1}], \"reason\": \"x\"}");
    testcall_expect (reply, 404);
    envelope_destroy (&reply);
    //  The receipt as text
    reply = s_call (state, "sale.receipt", "admin", 0, NULL, sale_params, NULL);
    testcall_expect (reply, 200);
    assert (json_is_string (reply->body) && strstr (json_string_value (reply->body), "TOTAL"));
    envelope_destroy (&reply);
    sales_context_def.free_state (&state);
}

static void
test_sale_input_and_roles (bool verbose)
{
    (void) verbose;
    void *state = s_state ();
    int64_t reg = s_store (13, "ON");
    char good [200];
    snprintf (good, sizeof good, "{\"register_id\": %lld, \"items\": [{\"product_id\": 1, \"quantity\": 1}],"
              " \"payments\": [{\"method\": \"cash\", \"amount_cents\": 5000}]}", (long long) reg);
    envelope_t *reply = s_call (state, "sale.create", "cashier", 13, NULL, NULL, good);
    testcall_expect (reply, 400);
    assert (streq (testcall_code (reply), "missing_idempotency_key"));
    envelope_destroy (&reply);
    reply = s_call (state, "sale.create", "customer", 13, "k", NULL, good);
    testcall_expect (reply, 403);
    envelope_destroy (&reply);
    reply = s_call (state, "sale.create", NULL, 13, "k", NULL, good);
    testcall_expect (reply, 401);
    envelope_destroy (&reply);
    //  Bad bodies: 400 validation_failed, never a 5xx
    const char *bad [] = {
        "[]", "{}", "{\"register_id\": 1}",
        "{\"register_id\": 1, \"items\": [], \"payments\": []}",
        "{\"register_id\": 1, \"items\": {}, \"payments\": []}",
        "{\"register_id\": 1, \"items\": [{\"product_id\": 1, \"quantity\": 0}], \"payments\": []}",
        "{\"register_id\": 1, \"items\": [{\"product_id\": 1, \"quantity\": 1.5}], \"payments\": []}",
        "{\"register_id\": 1, \"items\": [{\"product_id\": 1, \"quantity\": 1, \"discount_percent\": 101}], \"payments\": []}",
        "{\"register_id\": 1, \"items\": [{\"product_id\": 1, \"quantity\": 1, \"price_cents\": 1}], \"payments\": []}",
        "{\"register_id\": 1, \"items\": [{\"product_id\": 1, \"quantity\": 1}, {\"product_id\": 1, \"quantity\": 2}], \"payments\": []}",
        "{\"register_id\": 1, \"items\": [{\"product_id\": 1, \"quantity\": 1}]}",
        "{\"register_id\": 1, \"items\": [{\"product_id\": 1, \"quantity\": 1}], \"payments\": [{\"method\": \"cheque\", \"amount_cents\": 100}]}",
        "{\"register_id\": 1, \"items\": [{\"product_id\": 1, \"quantity\": 1}], \"payments\": [{\"method\": \"cash\", \"amount_cents\": -5}]}",
        "{\"register_id\": 1, \"items\": [{\"product_id\": 1, \"quantity\": 1}], \"payments\": [{\"method\": \"cash\", \"amount_cents\": 0}]}",
        "{\"register_id\": 1, \"items\": [{\"product_id\": 1, \"quantity\": 1}], \"payments\": [{\"method\": \"cash\", \"amount_cents\": 5, \"card_token\": \"tok_visa\"}]}",
        "{\"register_id\": -1, \"items\": [{\"product_id\": 1, \"quantity\": 1}], \"payments\": []}",
        "{\"register_id\": 1, \"items\": [{\"product_id\": 1, \"quantity\": 1}], \"payments\": [], \"store_id\": 2}",
        "{\"register_id\": \"1\", \"items\": [{\"product_id\": 1, \"quantity\": 1}], \"payments\": []}",
        NULL };
    for (int i = 0; bad [i]; i++) {
        reply = s_call (state, "sale.create", "cashier", 13, "bad-key", NULL, bad [i]);
        if (reply->status != 400)
            fprintf (stderr, "bad body %d\n", i);
        testcall_expect (reply, 400);
        assert (streq (testcall_code (reply), "validation_failed"));
        envelope_destroy (&reply);
    }
    //  A cashier's discount over 20 %: 403; a manager's goes on (here to the catalog: 503)
    char discounted [200];
    snprintf (discounted, sizeof discounted, "{\"register_id\": %lld, \"items\": [{\"product_id\": 1, \"quantity\": 1,"
              " \"discount_percent\": 25}], \"payments\": [{\"method\": \"cash\", \"amount_cents\": 5000}]}", (long long) reg);
    reply = s_call (state, "sale.create", "cashier", 13, "d-1", NULL, discounted);
    testcall_expect (reply, 403);
    envelope_destroy (&reply);
    //  Unknown register, another store's register: 404; closed: 409
    reply = s_call (state, "sale.create", "manager", 13, "d-2", NULL,
                    "{\"register_id\": 999999, \"items\": [{\"product_id\": 1, \"quantity\": 1}], \"payments\": []}");
    testcall_expect (reply, 404);
    envelope_destroy (&reply);
    reply = s_call (state, "sale.create", "manager", 12, "d-3", NULL, good);
    testcall_expect (reply, 404);
    envelope_destroy (&reply);
    reply = s_call (state, "sale.create", "manager", 13, "d-4", NULL, discounted);
    testcall_expect (reply, 409);
    assert (streq (testcall_code (reply), "register_closed"));
    envelope_destroy (&reply);
    //  Open: the catalog cannot be reached here: 503, nothing recorded, the key let go
    char params [64];
    snprintf (params, sizeof params, "{\"id\": \"%lld\"}", (long long) reg);
    reply = s_call (state, "register.open", "cashier", 13, NULL, params, "{\"opening_float_cents\": 0}");
    testcall_expect (reply, 201);
    envelope_destroy (&reply);
    reply = s_call (state, "sale.create", "manager", 13, "d-5", NULL, discounted);
    testcall_expect (reply, 503);
    envelope_destroy (&reply);
    assert (s_int_value ("SELECT count (*) FROM idempotency_keys WHERE key = $1", "d-5") == 0);
    assert (s_int_value ("SELECT count (*) FROM sales WHERE store_id = $1::bigint", "13") == 0);
    assert (s_int_value ("SELECT next_receipt FROM stores WHERE id = $1::bigint", "13") == 1);
    //  Reads: bad ids and params are 400, other stores 404
    reply = s_call (state, "sale.get", "cashier", 13, NULL, "{\"id\": \"12abc\"}", NULL);
    testcall_expect (reply, 400);
    envelope_destroy (&reply);
    reply = s_call (state, "sale.list", "cashier", 13, NULL, "{\"store_id\": \"12\"}", NULL);
    testcall_expect (reply, 404);
    envelope_destroy (&reply);
    reply = s_call (state, "sale.list", "cashier", 13, NULL, "{\"from\": \"yesterday\"}", NULL);
    testcall_expect (reply, 400);
    envelope_destroy (&reply);
    reply = s_call (state, "sale.list", "cashier", 13, NULL, "{\"from\": \"2026-13-45\"}", NULL);
    testcall_expect (reply, 400);
    envelope_destroy (&reply);
    reply = s_call (state, "sale.list", "cashier", 13, NULL, "{\"from\": \"2026-01-01\", \"per_page\": \"5\"}", NULL);
    testcall_expect (reply, 200);
    envelope_destroy (&reply);
    reply = s_call (state, "register.list", "cashier", 0, NULL, NULL, NULL);
    testcall_expect (reply, 403);
    envelope_destroy (&reply);
    sales_context_def.free_state (&state);
}

static void
test_daily_summary (bool verbose)
{
    (void) verbose;
    void *state = s_state ();
    int64_t reg = s_open_store (state, 14, "QC", 2000);
    envelope_t *reply;
    s_completed_sale (reg);
    s_completed_sale (reg);
    reply = s_call (state, "sale.summary_daily", "manager", 14, NULL, NULL, NULL);
    testcall_expect (reply, 200);
    assert (s_body_int (reply, "sales_count") == 2 && s_body_int (reply, "gross_cents") == 11198);
    assert (s_body_int (reply, "total_cents") == 12186 && s_body_int (reply, "tax_cents") == 1588);
    envelope_destroy (&reply);
    //  Receipt numbers of the store: 1 and 2, gapless
    assert (s_int_value ("SELECT max (receipt_seq) * 10 + count (*) FROM sales WHERE store_id = $1::bigint", "14") == 22);
    reply = s_call (state, "sale.summary_daily", "manager", 14, NULL, "{\"date\": \"2001-01-01\"}", NULL);
    testcall_expect (reply, 200);
    assert (s_body_int (reply, "sales_count") == 0);
    envelope_destroy (&reply);
    reply = s_call (state, "sale.summary_daily", "admin", 0, NULL, NULL, NULL);
    testcall_expect (reply, 400);
    envelope_destroy (&reply);
    reply = s_call (state, "sale.summary_daily", "admin", 0, NULL, "{\"store_id\": \"14\", \"date\": \"2026-02-30\"}", NULL);
    testcall_expect (reply, 400);
    envelope_destroy (&reply);
    reply = s_call (state, "sale.summary_daily", "admin", 0, NULL, "{\"store_id\": \"77\"}", NULL);
    testcall_expect (reply, 404);
    envelope_destroy (&reply);
    reply = s_call (state, "sale.summary_daily", "cashier", 14, NULL, "{\"store_id\": \"1\"}", NULL);
    testcall_expect (reply, 404);
    envelope_destroy (&reply);
    sales_context_def.free_state (&state);
}

//  A crash between "stock taken" and "sale recorded": the sweep voids the
//  pending sale and lets its key go (here the inventory cannot be reached,
//  so it stays claimed until it can: nothing is voided blind).
static void
test_recovery_waits_for_the_inventory (bool verbose)
{
    (void) verbose;
    void *state = s_state ();
    int64_t reg = s_open_store (state, 15, "BC", 0);
    char text [24];
    snprintf (text, sizeof text, "%lld", (long long) reg);
    free (s_value ("INSERT INTO sales (sale_ref, store_id, register_id, session_id, cashier_id, subtotal_cents, "
                   "  discount_cents, tax_cents, total_cents, idem_scope, idem_key, created_at) "
                   "SELECT 'sale:crashed', g.store_id, g.id, x.id, '3', 100, 0, 12, 112, '3', 'crash-key', "
                   "  now () - interval '1 hour' FROM registers g JOIN register_sessions x ON x.register_id = g.id "
                   "WHERE g.id = $1::bigint RETURNING id", text));
    free (s_value ("INSERT INTO idempotency_keys (scope, key, request_hash, created_at) "
                   "VALUES ('3', 'crash-key', 'h', now () - interval '1 hour') RETURNING 1", NULL));
    free (s_value ("INSERT INTO idempotency_keys (scope, key, request_hash, created_at) "
                   "VALUES ('3', 'lost-key', 'h', now () - interval '1 hour') RETURNING 1", NULL));
    //  A sale still running on a live worker (20 s old): not the sweep's
    free (s_value ("INSERT INTO sales (sale_ref, store_id, register_id, session_id, cashier_id, subtotal_cents, "
                   "  discount_cents, tax_cents, total_cents, created_at) "
                   "SELECT 'sale:young', g.store_id, g.id, x.id, '3', 100, 0, 12, 112, "
                   "  now () - interval '20 seconds' FROM registers g JOIN register_sessions x ON x.register_id = g.id "
                   "WHERE g.id = $1::bigint RETURNING id", text));
    //  The shipped setting (the test environment shortens it for the chaos
    //  test): 30 s, in etc/comptoir.cfg and when nothing is set.
    sales_state_t *self = (sales_state_t *) state;
    assert (self->recover_after_s == 30);
    const char *srcdir = getenv ("srcdir");
    char *path = zsys_sprintf ("%s/etc/comptoir.cfg", srcdir && *srcdir ? srcdir : ".");
    settings_t *shipped = settings_load (path);
    assert (shipped && settings_get_int (shipped, "sales/recover_after_s", 0) == 30);
    settings_destroy (&shipped);
    zstr_free (&path);
    int settled = sales_recover (self, self->recover_after_s, 20);
    assert (settled >= 1);
    char *young = s_value ("SELECT status FROM sales WHERE sale_ref = $1", "sale:young");
    assert (young && streq (young, "pending"));
    free (young);
    //  The key with no sale behind it is free again; the crashed sale waits, claimed
    assert (s_int_value ("SELECT count (*) FROM idempotency_keys WHERE key = $1", "lost-key") == 0);
    assert (s_int_value ("SELECT count (*) FROM idempotency_keys WHERE key = $1", "crash-key") == 1);
    char *status = s_value ("SELECT status FROM sales WHERE sale_ref = $1", "sale:crashed");
    assert (status && streq (status, "voiding"));
    free (status);
    assert (s_int_value ("SELECT next_receipt FROM stores WHERE id = $1::bigint", "15") == 1);
    //  A return recorded, its worker dead before the answer was stored: the
    //  sweep stores the return as the answer (a repeat must not refund twice)
    int64_t sale = s_completed_sale (reg);
    char sale_params [64];
    snprintf (sale_params, sizeof sale_params, "{\"id\": \"%lld\"}", (long long) sale);
    envelope_t *reply = s_call (state, "sale.return", "cashier", 15, "ret-crash", sale_params,
                                "{\"items\": [{\"product_id\": 12, \"quantity\": 1}], \"reason\": \"x\"}");
    testcall_expect (reply, 201);
    int64_t returned = s_body_int (reply, "id");
    envelope_destroy (&reply);
    free (s_value ("UPDATE idempotency_keys SET status = 'running', response = NULL, "
                   "created_at = now () - interval '1 hour' WHERE key = $1 RETURNING 1", "ret-crash"));
    assert (sales_recover (self, self->recover_after_s, 20) >= 1);
    assert (s_int_value ("SELECT (response -> 'body' ->> 'id')::bigint FROM idempotency_keys "
                         "WHERE key = $1 AND status = 'done' AND (response ->> 'status') = '201'", "ret-crash")
            == returned);
    reply = s_call (state, "sale.return", "cashier", 15, "ret-crash", sale_params,
                    "{\"items\": [{\"product_id\": 12, \"quantity\": 1}], \"reason\": \"x\"}");
    testcall_expect (reply, 201);
    assert (s_body_int (reply, "id") == returned && reply->idem_key);
    envelope_destroy (&reply);
    sales_context_def.free_state (&state);
}

static testrunner_case_t s_cases [] = {
    { "sales_model_rounding", test_model_rounding },
    { "sales_payment_rules", test_payment_rules },
    { "sales_receipt_layout", test_receipt_layout },
    { "sales_register_session_and_z_report", test_register_session_and_z_report },
    { "sales_returns_bounds_and_refunds", test_returns_bounds_and_refunds },
    { "sales_sale_input_and_roles", test_sale_input_and_roles },
    { "sales_daily_summary", test_daily_summary },
    { "sales_recovery_waits_for_the_inventory", test_recovery_waits_for_the_inventory },
    { NULL, NULL }
};

int
main (int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (streq (argv [i], "--list") || streq (argv [i], "-h") || streq (argv [i], "--help"))
            return testrunner_main (argc, argv, s_cases, 60);
    s_admin = getenv ("COMPTOIR_TEST_PG_ADMIN");
    if (!s_admin || !*s_admin) {
        printf ("SKIP: sales_it (COMPTOIR_TEST_PG_ADMIN is not set; scripts/testenv.sh sets it)\n");
        return 77;
    }
    if (sodium_init () < 0)
        return 1;
    logline_init ("sales_it", -1);
    s_db = testdb_scratch_new (s_admin, "sales");
    if (!s_db)
        return 1;
    int rc = 1;
    settings_t *settings = settings_load (NULL);
    void *state = settings ? sales_context_def.make_state (settings, 1, 2) : NULL;
    if (state) {
        sales_context_def.free_state (&state);
        rc = testrunner_main (argc, argv, s_cases, 60);
    }
    else
        fprintf (stderr, "sales_it: the sales database could not be prepared\n");
    settings_destroy (&settings);
    testdb_scratch_destroy (s_admin, "sales");
    free (s_db);
    return rc;
}
