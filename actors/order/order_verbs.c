/*  =========================================================================
    order_verbs - the handlers of the order.* verbs and the checkout saga

    Why it is built this way:

    - Checkout is a saga across three contexts, with its progress in the
      order row (orders.step): the order is written first (its number names
      the reservation "order:<number>"), then stock is reserved, the payment
      authorized, the reservation committed, the order confirmed, the payment
      captured, the cart emptied. Every step that fails undoes the earlier
      ones (release or restock, void, cancelled), and order_saga_recover
      does the same for sagas a crashed worker left behind.
    - Every state change of an order, its history line, its payment and its
      outbox event are one SQL statement (CTEs): atomic without holding a
      transaction open while another context is called.
    - Steps after the first are conditional on the order still being
      pending: a cancel that lands mid-saga wins, and the saga undoes.
    - Click & collect: a checkout names a pickup_store_id instead of a
      shipping address. Its stock is reserved at that store (inventory
      resolves the store's location as the point of sale does), so web
      pickups and the store's tills take the same units under one rule
      and never sell more than is on the shelf. No shipping is charged.
    - Calls to other contexts use the actor's own deadline, not the
      client's: once stock is held the saga must reach a final state even
      if the client has gone.
    - Idempotency (runtime/idempotency): one row per (caller, key), so of
      many concurrent attempts exactly one runs; the others see it running
      (409), or done with another request (422), or done with the same
      request (the stored answer, replayed). 5xx answers are not stored:
      the client may try again with the same key.
    =========================================================================
*/
#include "order_verbs.h"
#include "contextnode.h"
#include "logline.h"
#include "request_input.h"
#include "contextcall.h"
#include "idempotency.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ORDER_FREE_SHIPPING_CENTS  7500
#define ORDER_SHIPPING_CENTS       999
#define ORDER_MAX_LINES            100

//  --------------------------------------------------------------------------

int64_t
order_shipping_cents (int64_t subtotal_cents)
{
    return subtotal_cents < ORDER_FREE_SHIPPING_CENTS ? ORDER_SHIPPING_CENTS : 0;
}

//  --------------------------------------------------------------------------
//  Number of rows a command touched.

static int
s_touched (PGresult *res)
{
    return res ? atoi (PQcmdTuples (res)) : -1;
}

//  ==========================================================================
//  Rendering

#define S_TS(col) "to_char (" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

#define S_ORDER_JSON \
    "jsonb_build_object ('id', o.id, 'number', o.number, 'customer_id', o.customer_id, " \
    "'status', o.status, 'items', COALESCE ((SELECT jsonb_agg (jsonb_build_object (" \
    "'product_id', i.product_id, 'sku', i.sku, 'name', i.name, 'unit_price_cents', i.unit_price_cents, " \
    "'quantity', i.quantity, 'line_total_cents', i.line_total_cents) ORDER BY i.product_id) " \
    "FROM order_items i WHERE i.order_id = o.id), '[]'), " \
    "'subtotal_cents', o.subtotal_cents, 'taxes', o.taxes, 'tax_cents', o.tax_cents, " \
    "'shipping_cents', o.shipping_cents, 'total_cents', o.total_cents, " \
    "'shipping_address', CASE WHEN o.pickup_store_id IS NULL THEN o.shipping_address END, " \
    "'pickup_store_id', o.pickup_store_id, " \
    "'payment', (SELECT jsonb_build_object ('id', p.id, 'method', p.method, 'status', p.status) " \
    "FROM payments p WHERE p.order_id = o.id ORDER BY p.id DESC LIMIT 1), " \
    "'created_at', " S_TS ("o.created_at") ", 'updated_at', " S_TS ("o.updated_at") ", " \
    "'history', COALESCE ((SELECT jsonb_agg (jsonb_build_object ('status', h.status, 'at', " \
    S_TS ("h.at") ") ORDER BY h.id) FROM order_history h WHERE h.order_id = o.id), '[]'))::text"

//  The order as API.md shows it; NULL when absent (*failed set on a db failure).
static json_t *
s_render (pgdb_t *db, int64_t id, bool *failed)
{
    char text [24];
    snprintf (text, sizeof text, "%lld", (long long) id);
    const char *params [] = { text };
    PGresult *res = pgdb_exec (db, "order_render",
                               "SELECT " S_ORDER_JSON " FROM orders o WHERE o.id = $1", 1, params);
    *failed = res == NULL;
    json_t *order = NULL;
    if (res && PQntuples (res) == 1)
        order = json_loads (PQgetvalue (res, 0, 0), 0, NULL);
    if (res && PQntuples (res) == 1 && !order)
        *failed = true;
    if (res)
        PQclear (res);
    return order;
}

//  ==========================================================================
//  State changes, each one statement

//  Move an order to status (when its status is one of from, a Postgres
//  array literal like "{pending}"), set its step, add the history line and
//  the outbox event, and settle its payment when settle: authorized ->
//  voided, captured -> refunded (cancel), or authorized -> captured
//  (capture). Returns rows changed (0 or 1), -1 on failure.
static int
s_transition (pgdb_t *db, int64_t id, const char *status, const char *step, const char *from,
              const char *settle)
{
    char text [24];
    snprintf (text, sizeof text, "%lld", (long long) id);
    const char *params [] = { text, status, step, from, settle ? settle : "none" };
    PGresult *res = pgdb_exec (db, "order_transition",
        "WITH o AS (UPDATE orders SET status = $2, step = $3, updated_at = now () "
        "           WHERE id = $1 AND status = ANY ($4::text []) "
        "           RETURNING id, number, customer_id, subtotal_cents, tax_cents, shipping_cents, "
        "                     total_cents, pickup_store_id, updated_at), "
        "h AS (INSERT INTO order_history (order_id, status) SELECT id, $2 FROM o), "
        "e AS (INSERT INTO outbox (topic, payload) SELECT 'order.' || $2, "
        "      jsonb_build_object ('order_id', o.id, 'number', number, 'customer_id', customer_id, "
        "          'subtotal_cents', subtotal_cents, 'tax_cents', tax_cents, "
        "          'shipping_cents', shipping_cents, 'total_cents', total_cents, "
        "          'pickup_store_id', pickup_store_id, "
        "          'at', to_char (updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
        "          'items', (SELECT jsonb_agg (jsonb_build_object ('product_id', i.product_id, "
        "                        'sku', i.sku, 'quantity', i.quantity, "
        "                        'unit_price_cents', i.unit_price_cents, "
        "                        'line_total_cents', i.line_total_cents) ORDER BY i.product_id) "
        "                    FROM order_items i WHERE i.order_id = o.id)) "
        "      FROM o WHERE $2 IN ('confirmed', 'cancelled')), "
        "p AS (UPDATE payments SET updated_at = now (), status = CASE "
        "        WHEN $5 = 'cancel' AND status = 'captured' THEN 'refunded' "
        "        WHEN $5 = 'cancel' THEN 'voided' ELSE 'captured' END "
        "      WHERE order_id IN (SELECT id FROM o) AND $5 <> 'none' "
        "        AND (status = 'authorized' OR ($5 = 'cancel' AND status = 'captured'))) "
        "SELECT id FROM o", 5, params);
    int rows = res ? PQntuples (res) : -1;
    if (res)
        PQclear (res);
    return rows;
}

//  Set the saga's step, only while the order is in status. Rows changed or -1.
static int
s_step (pgdb_t *db, int64_t id, const char *step, const char *status)
{
    char text [24];
    snprintf (text, sizeof text, "%lld", (long long) id);
    const char *params [] = { text, step, status };
    PGresult *res = pgdb_exec (db, "order_step",
        "UPDATE orders SET step = $2, updated_at = now () WHERE id = $1 AND status = $3",
        3, params);
    int rows = s_touched (res);
    if (res)
        PQclear (res);
    return rows;
}

//  Capture the authorized payment of an order. 0 / -1.
static int
s_capture (pgdb_t *db, int64_t id)
{
    char text [24];
    snprintf (text, sizeof text, "%lld", (long long) id);
    const char *params [] = { text };
    PGresult *res = pgdb_exec (db, "order_capture",
        "UPDATE payments SET status = 'captured', updated_at = now () "
        "WHERE order_id = $1 AND status = 'authorized'", 1, params);
    int rc = res ? 0 : -1;
    if (res)
        PQclear (res);
    return rc;
}

//  ==========================================================================
//  Calls to other contexts

//  Call verb of service with {params, data}; as the customer (role, sub) or,
//  when role is NULL, as the "service" role of consumer "order". Takes
//  ownership of params and data. Never NULL (503 made here when the call
//  cannot be made).
static envelope_t *
s_call (order_state_t *self, const envelope_t *request, const char *service, const char *verb,
        const char *role, const char *sub, json_t *params, json_t *data)
{
    return contextcall (self->client, request, "order", service, verb, role, sub, params, data,
                        self->call_timeout_ms);
}

//  The reservation call for an order: verb "reservation.<action>". A
//  reserve holds lines at the pickup store when store_id > 0, else at the
//  web location (inventory's default).
static envelope_t *
s_reservation (order_state_t *self, const envelope_t *request, const char *action,
               const char *number, json_t *lines, int64_t store_id)
{
    char verb [48], id [64];
    snprintf (verb, sizeof verb, "reservation.%s", action);
    snprintf (id, sizeof id, "order:%s", number);
    json_t *data = json_pack ("{s:s}", "reservation_id", id);
    if (streq (action, "reserve") || streq (action, "commit"))
        json_object_set_new (data, "reference", json_string (number));
    if (lines)
        json_object_set (data, "lines", lines);
    if (store_id > 0)
        json_object_set_new (data, "store_id", json_integer ((json_int_t) store_id));
    return s_call (self, request, "inventory", verb, NULL, NULL, NULL, data);
}

//  Give the stock of an order back: release a held reservation, restock a
//  committed one. 0 when done (or there was nothing), -1 when inventory
//  could not say.
static int
s_stock_back (order_state_t *self, const envelope_t *request, const char *number)
{
    envelope_t *answer = s_reservation (self, request, "release", number, NULL, 0);
    int status = answer->status;
    envelope_destroy (&answer);
    if (status == 409) {            //  committed: its goods come back
        answer = s_reservation (self, request, "restock", number, NULL, 0);
        status = answer->status;
        envelope_destroy (&answer);
    }
    return status == 200 || status == 404 ? 0 : -1;
}

//  Undo a checkout or carry out a cancel: cancelled (payment voided or
//  refunded, event in the outbox), then stock back; the step stays
//  "undoing" when the stock could not be given back (recovery retries).
static void
s_cancel (order_state_t *self, const envelope_t *request, int64_t id, const char *number)
{
    s_transition (self->db, id, "cancelled", "undoing", "{pending,confirmed}", "cancel");
    if (s_stock_back (self, request, number) == 0) {
        char text [24];
        snprintf (text, sizeof text, "%lld", (long long) id);
        const char *params [] = { text };
        PGresult *res = pgdb_exec (self->db, "order_undone",
            "UPDATE orders SET step = 'done', updated_at = now () WHERE id = $1 AND status = 'cancelled'",
            1, params);
        if (res)
            PQclear (res);
    }
    else
        log_warn (request ? request->rid : NULL, "order %s: stock not given back yet (recovery retries)",
                  number);
}

//  ==========================================================================
//  The simulated payment gateway

typedef enum { S_AUTHORIZED, S_DECLINED, S_TIMEOUT } s_gateway_t;

static s_gateway_t
s_gateway_authorize (order_state_t *self, const char *token)
{
    if (streq (token, "tok_visa") || streq (token, "tok_mastercard"))
        return S_AUTHORIZED;
    if (streq (token, "tok_timeout")) {
        //  It never answers: we stop waiting, beating meanwhile.
        int64_t until = zclock_mono () + self->gateway_timeout_ms;
        for (int64_t now = zclock_mono (); now < until; now = zclock_mono ()) {
            contextnode_keepalive (NULL);
            zclock_sleep ((int) (until - now < 50 ? until - now : 50));
        }
        return S_TIMEOUT;
    }
    return S_DECLINED;
}

//  ==========================================================================
//  Idempotency

//  ==========================================================================
//  Checkout

typedef struct {
    const char *cart_id;
    const char *token;
    const char *method;
    json_t *address;            //  owned; NULL while address_id is to be looked up
    json_int_t address_id;      //  shipping_address_id, or 0
    int64_t pickup_store_id;    //  click & collect: the store, or 0 (shipped)
} s_checkout_t;

//  --------------------------------------------------------------------------

static bool
s_printable (const char *text, size_t max)
{
    size_t length = text ? strlen (text) : 0;
    if (length == 0 || length > max)
        return false;
    for (size_t i = 0; i < length; i++)
        if (text [i] < 0x21 || text [i] > 0x7e)
            return false;
    return true;
}

//  --------------------------------------------------------------------------

static void
s_checkout_read (const envelope_t *request, s_checkout_t *input, json_t *details)
{
    json_t *data = request_input_object (request, details);
    if (!data)
        return;
    static const char *const allowed [] = {
        "cart_id", "shipping_address_id", "shipping_address", "pickup_store_id", "payment", NULL };
    request_input_unknown_fields (data, allowed, details);
    input->cart_id = json_string_value (json_object_get (data, "cart_id"));
    if (!s_printable (input->cart_id, 64)) {
        input->cart_id = NULL;
        request_input_problem (details, "cart_id", "is required: a cart id");
    }
    //  Where the goods go: exactly one of the three
    json_t *address = json_object_get (data, "shipping_address");
    json_t *address_id = json_object_get (data, "shipping_address_id");
    json_t *pickup = json_object_get (data, "pickup_store_id");
    int destinations = (address != NULL) + (address_id != NULL) + (pickup != NULL);
    if (destinations > 1)
        request_input_problem (details, "shipping_address",
                               "give one of shipping_address, shipping_address_id or pickup_store_id");
    else
    if (pickup)
        request_input_integer (data, "pickup_store_id", 1, INT64_MAX, &input->pickup_store_id, details);
    else
    if (address) {
        char *text = json_is_object (address) && json_object_size (address) > 0
                   ? json_dumps (address, JSON_COMPACT) : NULL;
        if (!text || strlen (text) > 2048)
            request_input_problem (details, "shipping_address", "must be a non-empty object of at most 2 KB");
        else
            input->address = json_incref (address);
        free (text);
    }
    else
    if (address_id) {
        int64_t value = 0;
        if (request_input_integer (data, "shipping_address_id", 1, INT64_MAX, &value, details) == 1)
            input->address_id = value;
    }
    else
        request_input_problem (details, "shipping_address",
                               "is required (or shipping_address_id, or pickup_store_id to collect in store)");
    json_t *payment = json_object_get (data, "payment");
    input->method = json_string_value (json_object_get (payment, "method"));
    input->token = json_string_value (json_object_get (payment, "token"));
    if (!json_is_object (payment) || !input->method || !streq (input->method, "card")
    ||  !s_printable (input->token, 64) || json_object_size (payment) != 2)
        request_input_problem (details, "payment", "must be {method: \"card\", token}");
}

//  --------------------------------------------------------------------------
//  Write the order pending from the cart. Sets *id and number. 0 / -1, or 1
//  when the cart cannot be an order (the reply is made).

static int
s_checkout_create (order_state_t *self, const envelope_t *request, s_checkout_t *input,
                   json_t *cart, int64_t *id, char *number, size_t number_size,
                   json_t *lines, envelope_t **reply)
{
    json_t *items = json_object_get (cart, "items");
    if (!json_is_array (items) || json_array_size (items) == 0
    ||  json_array_size (items) > ORDER_MAX_LINES) {
        json_t *details = json_array ();
        request_input_problem (details, "cart_id", "the cart is empty");
        *reply = request_input_invalid (request, details);
        return 1;
    }
    int64_t subtotal = 0;
    size_t index;
    json_t *line;
    json_array_foreach (items, index, line) {
        json_int_t price = json_integer_value (json_object_get (line, "unit_price_cents"));
        json_int_t quantity = json_integer_value (json_object_get (line, "quantity"));
        json_int_t product = json_integer_value (json_object_get (line, "product_id"));
        if (price < 0 || price > INT64_MAX / 1000000 || quantity < 1 || quantity > 100000 || product < 1)
            return -1;
        subtotal += price * quantity;
        json_array_append_new (lines, json_pack ("{s:I, s:I}", "product_id", product,
                                                 "quantity", quantity));
    }
    int64_t tax = json_integer_value (json_object_get (cart, "tax_cents"));
    json_t *taxes = json_object_get (cart, "taxes");
    if (tax < 0 || tax > subtotal || !json_is_array (taxes))
        return -1;
    int64_t shipping = input->pickup_store_id > 0 ? 0 : order_shipping_cents (subtotal);
    char subtotal_text [24], tax_text [24], shipping_text [24], total_text [24];
    snprintf (subtotal_text, sizeof subtotal_text, "%lld", (long long) subtotal);
    snprintf (tax_text, sizeof tax_text, "%lld", (long long) tax);
    snprintf (shipping_text, sizeof shipping_text, "%lld", (long long) shipping);
    snprintf (total_text, sizeof total_text, "%lld", (long long) (subtotal + tax + shipping));
    char *items_text = json_dumps (items, JSON_COMPACT);
    char *taxes_text = json_dumps (taxes, JSON_COMPACT);
    //  a pickup order has no address: '{}', as the column's default
    char *address_text = input->address ? json_dumps (input->address, JSON_COMPACT) : strdup ("{}");
    char pickup_text [24];
    snprintf (pickup_text, sizeof pickup_text, "%lld", (long long) input->pickup_store_id);
    const char *params [] = { request->sub, subtotal_text, tax_text, shipping_text, total_text,
                              taxes_text, address_text, input->cart_id, request->idem_key, items_text,
                              input->pickup_store_id > 0 ? pickup_text : NULL };
    PGresult *res = items_text && taxes_text && address_text ? pgdb_exec (self->db, "order_create",
        "WITH o AS (INSERT INTO orders (customer_id, subtotal_cents, tax_cents, shipping_cents, "
        "           total_cents, taxes, shipping_address, cart_id, idem_scope, idem_key, pickup_store_id) "
        "           VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8, $1, $9, $11::bigint) "
        "           RETURNING id, number), "
        "i AS (INSERT INTO order_items (order_id, product_id, sku, name, unit_price_cents, "
        "      quantity, line_total_cents) "
        "      SELECT o.id, x.product_id, x.sku, x.name, x.unit_price_cents, x.quantity, "
        "             x.unit_price_cents * x.quantity "
        "      FROM o, jsonb_to_recordset ($10::jsonb) AS x (product_id bigint, sku text, "
        "           name text, unit_price_cents bigint, quantity integer)), "
        "h AS (INSERT INTO order_history (order_id, status) SELECT id, 'pending' FROM o) "
        "SELECT id, number FROM o", 11, params) : NULL;
    free (items_text);
    free (taxes_text);
    free (address_text);
    if (!res)
        return -1;
    *id = atoll (PQgetvalue (res, 0, 0));
    snprintf (number, number_size, "%s", PQgetvalue (res, 0, 1));
    PQclear (res);
    return 0;
}

//  --------------------------------------------------------------------------
//  The address a shipping_address_id names, read from the customer context
//  as the customer (another customer's address is not found there). The
//  order keeps a copy: the address book may change later, the order not.
//  NULL when found (input->address set), or the reply.

static envelope_t *
s_checkout_address (order_state_t *self, const envelope_t *request, s_checkout_t *input)
{
    if (input->address || input->address_id < 1)
        return NULL;
    char id [24];
    snprintf (id, sizeof id, "%lld", (long long) input->address_id);
    envelope_t *answer = s_call (self, request, "customer", "address.get", request->role, request->sub,
                                 json_pack ("{s:s}", "id", id), NULL);
    envelope_t *reply = NULL;
    if (answer->status == 200 && json_is_object (answer->body)) {
        input->address = json_deep_copy (answer->body);
        static const char *const kept_out [] = { "is_default", "created_at", "updated_at", NULL };
        for (const char *const *field = kept_out; *field; field++)
            json_object_del (input->address, *field);
        json_object_set_new (input->address, "address_id", json_integer (input->address_id));
        json_object_del (input->address, "id");
    }
    else
    if (answer->status == 404) {
        json_t *details = json_array ();
        request_input_problem (details, "shipping_address_id", "is not one of your addresses");
        reply = request_input_invalid (request, details);
    }
    else {
        log_warn (request->rid, "checkout: customer answered %d for the address", answer->status);
        reply = envelope_new_error (request, 503, "service_unavailable",
                                    "the address book is unavailable, try again", NULL);
    }
    envelope_destroy (&answer);
    return reply;
}

//  --------------------------------------------------------------------------

static envelope_t *
s_checkout_saga (order_state_t *self, const envelope_t *request, s_checkout_t *input)
{
    //  0. the shipping address, when given by id
    envelope_t *refused = s_checkout_address (self, request, input);
    if (refused)
        return refused;
    //  1. the cart, read as the customer
    envelope_t *answer = s_call (self, request, "cart", "cart.get", request->role, request->sub,
                                 json_pack ("{s:s}", "id", input->cart_id), NULL);
    if (answer->status == 404) {
        envelope_destroy (&answer);
        return request_input_not_found (request, "cart");
    }
    if (answer->status != 200) {
        log_warn (request->rid, "checkout: cart answered %d", answer->status);
        envelope_destroy (&answer);
        return envelope_new_error (request, 503, "service_unavailable", "the cart is unavailable, try again", NULL);
    }
    //  2. the order, pending
    int64_t id = 0;
    char number [32] = "";
    json_t *lines = json_array ();
    envelope_t *reply = NULL;
    int created = s_checkout_create (self, request, input, answer->body, &id, number, sizeof number,
                                     lines, &reply);
    envelope_destroy (&answer);
    if (created != 0) {
        json_decref (lines);
        return reply ? reply : request_input_db_failure (request, self->db, "order");
    }
    //  3. the stock, at web or at the pickup store
    answer = s_reservation (self, request, "reserve", number, lines, input->pickup_store_id);
    json_decref (lines);
    if (answer->status != 200 && answer->status != 201) {
        if (answer->status == 409 && answer->error
        &&  streq (json_string_value (json_object_get (answer->error, "code")) ?: "", "out_of_stock")) {
            reply = envelope_new_error (request, 409, "out_of_stock", "not enough stock for these lines",
                                        json_incref (json_object_get (answer->error, "details")));
        }
        else
        if (answer->status == 404 && input->pickup_store_id > 0) {
            json_t *details = json_array ();
            request_input_problem (details, "pickup_store_id", "is not a store that takes pickups");
            reply = request_input_invalid (request, details);
        }
        else
            reply = envelope_new_error (request, 503, "service_unavailable", "the stock is unavailable, try again", NULL);
        envelope_destroy (&answer);
        s_cancel (self, request, id, number);
        return reply;
    }
    envelope_destroy (&answer);
    //  4. the payment
    if (s_step (self->db, id, "authorizing", "pending") != 1) {
        s_cancel (self, request, id, number);
        return request_input_conflict (request, "the order was cancelled during checkout");
    }
    s_gateway_t outcome = s_gateway_authorize (self, input->token);
    char order_text [24], total_text [24];
    snprintf (order_text, sizeof order_text, "%lld", (long long) id);
    size_t token_length = strlen (input->token);
    const char *token_last = input->token + (token_length > 4 ? token_length - 4 : 0);
    const char *pay_params [] = { order_text, input->method, token_last,
                                  outcome == S_AUTHORIZED ? "authorized" : "declined" };
    PGresult *res = pgdb_exec (self->db, "order_payment",
        "WITH p AS (INSERT INTO payments (order_id, method, token_last, amount_cents, status) "
        "           SELECT id, $2, $3, total_cents, $4 FROM orders WHERE id = $1 RETURNING order_id) "
        "UPDATE orders SET step = 'confirming', updated_at = now () "
        "WHERE id IN (SELECT order_id FROM p) AND status = 'pending' AND $4 = 'authorized' "
        "RETURNING total_cents", 4, pay_params);
    bool paid = res && PQntuples (res) == 1;
    if (paid)
        snprintf (total_text, sizeof total_text, "%s", PQgetvalue (res, 0, 0));
    if (res)
        PQclear (res);
    if (outcome != S_AUTHORIZED || !paid) {
        s_cancel (self, request, id, number);
        if (outcome == S_DECLINED)
            return envelope_new_error (request, 402, "payment_declined", "the payment was declined", NULL);
        if (outcome == S_TIMEOUT)
            return envelope_new_error (request, 504, "upstream_timeout",
                                       "the payment gateway did not answer in time", NULL);
        return request_input_db_failure (request, self->db, "order");
    }
    //  5. the stock leaves: commit the reservation
    answer = s_reservation (self, request, "commit", number, NULL, 0);
    int committed = answer->status;
    envelope_destroy (&answer);
    if (committed != 200) {
        s_cancel (self, request, id, number);
        return envelope_new_error (request, 503, "service_unavailable", "the stock is unavailable, try again", NULL);
    }
    //  6. confirmed (event in the outbox), then captured
    if (s_transition (self->db, id, "confirmed", "capturing", "{pending}", NULL) != 1) {
        s_cancel (self, request, id, number);
        return request_input_conflict (request, "the order was cancelled during checkout");
    }
    if (s_capture (self->db, id) != 0)
        log_warn (request->rid, "order %s: capture not recorded (recovery retries)", number);
    else {
        //  7. the cart is emptied (an old cart left behind is harmless)
        answer = s_call (self, request, "cart", "cart.delete", request->role, request->sub,
                         json_pack ("{s:s}", "id", input->cart_id), NULL);
        if (answer->status != 204 && answer->status != 200 && answer->status != 404)
            log_warn (request->rid, "order %s: cart not emptied (%d)", number, answer->status);
        envelope_destroy (&answer);
        s_step (self->db, id, "done", "confirmed");
    }
    bool failed = false;
    json_t *order = s_render (self->db, id, &failed);
    log_info (request->rid, "order %s confirmed, %s cents", number, total_text);
    return order ? envelope_new_reply (request, 201, order) : request_input_db_failure (request, self->db, "order");
}

//  --------------------------------------------------------------------------

envelope_t *
order_checkout (const envelope_t *request, void *state)
{
    order_state_t *self = (order_state_t *) state;
    static const char *const roles [] = { "customer", NULL };
    envelope_t *refused = request_input_roles (request, roles);
    if (refused)
        return refused;
    if (!request->sub)
        return request_input_unauthorized (request, "no customer");
    refused = idempotency_key_check (request, "checkout");
    if (refused)
        return refused;
    s_checkout_t input = { NULL, NULL, NULL, NULL, 0, 0 };
    json_t *details = json_array ();
    s_checkout_read (request, &input, details);
    if (json_array_size (details)) {
        json_decref (input.address);
        return request_input_invalid (request, details);
    }
    json_decref (details);
    //  The request's fingerprint: its body, keys sorted
    char hash [65];
    idempotency_fingerprint (request_input_data (request), hash);
    envelope_t *reply = NULL;
    idempotency_claim_t claim = idempotency_claim (self->db, request, hash, &reply);
    if (claim == IDEMPOTENCY_FAILED)
        reply = request_input_db_failure (request, self->db, "order");
    else
    if (claim == IDEMPOTENCY_OWNED) {
        reply = s_checkout_saga (self, request, &input);
        idempotency_finish (self->db, request, reply);
    }
    json_decref (input.address);
    return reply;
}

//  ==========================================================================
//  Reads

//  The order id param, and whether the caller may see it. 0 found (sets
//  *number), or the reply.
static envelope_t *
s_find (order_state_t *self, const envelope_t *request, int64_t *id, char *number, size_t size)
{
    static const char *const roles [] = { "customer", "manager", "admin", NULL };
    envelope_t *refused = request_input_roles (request, roles);
    if (refused)
        return refused;
    if (request_input_int (request_input_param (request, "id"), 1, INT64_MAX, id)) {
        json_t *details = json_array ();
        request_input_problem (details, "id", "must be a positive integer");
        return request_input_invalid (request, details);
    }
    char text [24];
    snprintf (text, sizeof text, "%lld", (long long) *id);
    bool customer = streq (request->role, "customer");
    const char *params [] = { text, customer ? (request->sub ? request->sub : "") : NULL };
    PGresult *res = pgdb_exec (self->db, "order_find",
        "SELECT number FROM orders WHERE id = $1 AND ($2::text IS NULL OR customer_id = $2)",
        2, params);
    if (!res)
        return request_input_db_failure (request, self->db, "order");
    envelope_t *reply = NULL;
    if (PQntuples (res) == 0)
        reply = request_input_not_found (request, "order");
    else
        snprintf (number, size, "%s", PQgetvalue (res, 0, 0));
    PQclear (res);
    return reply;
}

//  --------------------------------------------------------------------------

static envelope_t *
s_reply_order (order_state_t *self, const envelope_t *request, int64_t id)
{
    bool failed = false;
    json_t *order = s_render (self->db, id, &failed);
    if (!order)
        return failed ? request_input_db_failure (request, self->db, "order")
                      : request_input_not_found (request, "order");
    return envelope_new_reply (request, 200, order);
}

//  --------------------------------------------------------------------------

envelope_t *
order_get (const envelope_t *request, void *state)
{
    order_state_t *self = (order_state_t *) state;
    int64_t id;
    char number [32];
    envelope_t *reply = s_find (self, request, &id, number, sizeof number);
    return reply ? reply : s_reply_order (self, request, id);
}

//  --------------------------------------------------------------------------

envelope_t *
order_list (const envelope_t *request, void *state)
{
    order_state_t *self = (order_state_t *) state;
    static const char *const roles [] = { "customer", "manager", "admin", NULL };
    envelope_t *refused = request_input_roles (request, roles);
    if (refused)
        return refused;
    json_t *details = json_array ();
    int64_t page, per_page;
    request_input_page (request, &page, &per_page, details);
    const char *status = request_input_param (request, "status");
    if (status && !streq (status, "pending") && !streq (status, "confirmed") && !streq (status, "shipped")
    &&  !streq (status, "delivered") && !streq (status, "cancelled"))
        request_input_problem (details, "status", "must be pending, confirmed, shipped, delivered or cancelled");
    const char *customer = request_input_param (request, "customer_id");
    if (streq (request->role, "customer"))
        customer = request->sub ? request->sub : "";
    else
    if (customer && !s_printable (customer, 64))
        request_input_problem (details, "customer_id", "must be a customer id");
    if (json_array_size (details))
        return request_input_invalid (request, details);
    json_decref (details);
    char limit [24], offset [24];
    snprintf (limit, sizeof limit, "%lld", (long long) per_page);
    snprintf (offset, sizeof offset, "%lld", (long long) ((page - 1) * per_page));
    const char *params [] = { customer, status, limit, offset };
    PGresult *res = pgdb_exec (self->db, "order_list",
        "WITH f AS (SELECT * FROM orders o WHERE ($1::text IS NULL OR o.customer_id = $1) "
        "           AND ($2::text IS NULL OR o.status = $2)) "
        "SELECT jsonb_build_object ('data', COALESCE ((SELECT jsonb_agg (x.j ORDER BY x.id DESC) FROM "
        "  (SELECT o.id, " S_ORDER_JSON "::jsonb AS j FROM f o ORDER BY o.id DESC LIMIT $3 OFFSET $4) x), '[]'), "
        "  'meta', jsonb_build_object ('page', $4::bigint / $3::bigint + 1, 'per_page', $3::bigint, "
        "                              'total', (SELECT count (*) FROM f)))::text",
        4, params);
    if (!res)
        return request_input_db_failure (request, self->db, "order");
    json_t *body = json_loads (PQgetvalue (res, 0, 0), 0, NULL);
    PQclear (res);
    return body ? envelope_new_reply (request, 200, body) : request_input_internal (request);
}

//  ==========================================================================
//  Changes

envelope_t *
order_cancel (const envelope_t *request, void *state)
{
    order_state_t *self = (order_state_t *) state;
    int64_t id;
    char number [32];
    envelope_t *reply = s_find (self, request, &id, number, sizeof number);
    if (reply)
        return reply;
    int changed = s_transition (self->db, id, "cancelled", "undoing", "{pending,confirmed}", "cancel");
    if (changed < 0)
        return request_input_db_failure (request, self->db, "order");
    if (changed == 0)
        return envelope_new_error (request, 409, "invalid_state",
                                   "only a pending or confirmed order can be cancelled", NULL);
    s_cancel (self, request, id, number);
    return s_reply_order (self, request, id);
}

//  --------------------------------------------------------------------------

envelope_t *
order_set_status (const envelope_t *request, void *state)
{
    order_state_t *self = (order_state_t *) state;
    static const char *const roles [] = { "manager", "admin", NULL };
    envelope_t *refused = request_input_roles (request, roles);
    if (refused)
        return refused;
    int64_t id;
    char number [32];
    envelope_t *reply = s_find (self, request, &id, number, sizeof number);
    if (reply)
        return reply;
    json_t *details = json_array ();
    json_t *data = request_input_object (request, details);
    static const char *const allowed [] = { "status", NULL };
    if (data)
        request_input_unknown_fields (data, allowed, details);
    const char *status = json_string_value (json_object_get (data, "status"));
    if (data && !status)
        request_input_problem (details, "status", "is required");
    if (json_array_size (details))
        return request_input_invalid (request, details);
    json_decref (details);
    const char *from = streq (status, "shipped") ? "{confirmed}"
                     : streq (status, "delivered") ? "{shipped}" : NULL;
    int changed = from ? s_transition (self->db, id, status, "done", from, NULL) : 0;
    if (changed < 0)
        return request_input_db_failure (request, self->db, "order");
    if (changed == 0)
        return envelope_new_error (request, 409, "invalid_state",
                                   "the status goes confirmed -> shipped -> delivered", NULL);
    return s_reply_order (self, request, id);
}

//  ==========================================================================
//  Recovery

//  Store the 201 of order id as the first answer to its Idempotency-Key
//  (scope, key), as the saga would have done.
static void
s_key_store_order (order_state_t *self, const char *scope, const char *key, int64_t id)
{
    bool failed = false;
    json_t *order = s_render (self->db, id, &failed);
    if (order)
        idempotency_store (self->db, "order.checkout", scope, key, 201, order);
}

//  Keys still 'running' long after their request began: the worker died
//  before the order row was written (nothing to undo), or after the saga
//  ended but before the answer was stored. Returns how many were settled.
static int
s_keys_recover (order_state_t *self, const char *age, const char *count)
{
    const char *params [] = { age, count };
    PGresult *res = pgdb_exec (self->db, "order_keys_stuck",
        "SELECT k.scope, k.key, "
        "       (SELECT o.id FROM orders o WHERE o.idem_scope = k.scope AND o.idem_key = k.key "
        "          AND o.status = 'confirmed' ORDER BY o.id DESC LIMIT 1) "
        "FROM idempotency_keys k "
        "WHERE k.status = 'running' AND k.created_at < now () - make_interval (secs => $1::bigint) "
        "  AND NOT EXISTS (SELECT 1 FROM orders p WHERE p.idem_scope = k.scope "
        "                  AND p.idem_key = k.key AND p.step <> 'done') "
        "ORDER BY k.created_at LIMIT $2::integer", 2, params);
    if (!res)
        return -1;
    int done = 0;
    for (int row = 0; row < PQntuples (res); row++) {
        const char *key [] = { PQgetvalue (res, row, 0), PQgetvalue (res, row, 1) };
        bool confirmed = !PQgetisnull (res, row, 2);
        if (confirmed)
            s_key_store_order (self, key [0], key [1], atoll (PQgetvalue (res, row, 2)));
        else {
            //  No order, or one undone: the client may try its key again.
            PGresult *gone = pgdb_exec (self->db, "order_key_forget_running",
                "DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND status = 'running'",
                2, key);
            if (gone)
                PQclear (gone);
        }
        log_info (NULL, "order: idempotency key left running by a crash settled (%s)",
                  confirmed ? "its order's answer stored" : "freed: no order went through");
        done++;
    }
    PQclear (res);
    return done;
}

int
order_saga_recover (order_state_t *self, int64_t older_than_s, int limit)
{
    char age [24], count [24];
    snprintf (age, sizeof age, "%lld", (long long) older_than_s);
    snprintf (count, sizeof count, "%d", limit);
    const char *params [] = { age, count };
    PGresult *res = pgdb_exec (self->db, "order_unfinished",
        "SELECT id, number, status, customer_id, cart_id, idem_scope, idem_key FROM orders "
        "WHERE step <> 'done' AND updated_at < now () - make_interval (secs => $1::bigint) "
        "ORDER BY id LIMIT $2::integer", 2, params);
    if (!res)
        return -1;
    int done = 0;
    for (int row = 0; row < PQntuples (res); row++) {
        int64_t id = atoll (PQgetvalue (res, row, 0));
        const char *number = PQgetvalue (res, row, 1);
        const char *status = PQgetvalue (res, row, 2);
        if (streq (status, "pending") || streq (status, "cancelled")) {
            //  Half-done or half-undone: undo. The client may try its key again.
            s_cancel (self, NULL, id, number);
            idempotency_forget (self->db, PQgetvalue (res, row, 5), PQgetvalue (res, row, 6));
        }
        else {
            //  Confirmed: finish (capture, empty the cart), store the answer.
            if (s_capture (self->db, id) == 0) {
                envelope_t *answer = s_call (self, NULL, "cart", "cart.delete", "customer",
                                             PQgetvalue (res, row, 3),
                                             json_pack ("{s:s}", "id", PQgetvalue (res, row, 4)), NULL);
                envelope_destroy (&answer);
                s_step (self->db, id, "done", status);
                s_key_store_order (self, PQgetvalue (res, row, 5), PQgetvalue (res, row, 6), id);
            }
        }
        log_info (NULL, "order %s: recovered after a crash (was %s)", number, status);
        done++;
    }
    PQclear (res);
    int keys = s_keys_recover (self, age, count);
    if (keys < 0)
        return -1;
    //  Keys live 24 h (API.md); a repeat after that is a new request.
    if (idempotency_expire (self->db, 1000))
        return -1;
    return done + keys;
}
