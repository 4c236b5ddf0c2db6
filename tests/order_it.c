/*  =========================================================================
    order_it - the order context against a real PostgreSQL

    Needs COMPTOIR_TEST_PG_ADMIN (the conninfo of an admin database of the
    test cluster); without it the suite exits 77 (skipped). The run makes
    its own scratch database (comptoir_it_<pid>_order), migrated through the
    context's own start-up, and drops it at the end. Every case runs in its
    own child process and uses its own customer ids.

    The handlers are called through contextnode_dispatch with the real verb
    table and a real actor state whose keys folder has no broker key: the
    calls to cart and inventory fail fast (503), which is how these cases
    prove that a saga that cannot go on leaves nothing half-done and lets
    the key be used again. The saga against the live cart and inventory
    workers needs the test environment's broker (not covered here yet).
    =========================================================================
*/
#include "testrunner.h"
#include "testcall.h"
#include "testdb.h"

#include "contextnode.h"
#include "curvekeys.h"
#include "mdp_client.h"
#include "envelope.h"
#include "eventbus.h"
#include "logline.h"
#include "order_context.h"
#include "order_verbs.h"
#include "pgdb.h"
#include "settings.h"

#include <czmq.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char *s_admin;
static char *s_db;

//  --------------------------------------------------------------------------

static void *
s_state (void)
{
    settings_t *settings = settings_load (NULL);
    assert (settings);
    void *state = order_context_def.make_state (settings, 1, 2);
    assert (state);
    settings_destroy (&settings);
    return state;
}

//  Call a verb as role/sub with params (JSON literal or NULL), data (JSON
//  literal or NULL) and an Idempotency-Key (or NULL).
static envelope_t *
s_call (void *state, const char *verb, const char *role, const char *sub, const char *key,
        const char *params, const char *data)
{
    envelope_t *request = testcall_request (verb, params, data);
    if (role)
        envelope_set_str (&request->role, role);
    if (sub)
        envelope_set_str (&request->sub, sub);
    if (key)
        envelope_set_str (&request->idem_key, key);
    return testcall_dispatch (&order_context_def, state, &request);
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

//  An order written as the saga would have left it: returns its id.
static int64_t
s_order (const char *customer, const char *status, const char *payment)
{
    char sql [1200];
    snprintf (sql, sizeof sql,
        "WITH o AS (INSERT INTO orders (customer_id, status, step, subtotal_cents, tax_cents, "
        "  shipping_cents, total_cents, shipping_address, cart_id) "
        "  VALUES ($1, '%s', 'done', 5000, 750, 999, 6749, '{\"city\": \"Montreal\"}', 'c1') RETURNING id), "
        "i AS (INSERT INTO order_items SELECT id, 7, 'SKU-7', 'Seven', 2500, 2, 5000 FROM o), "
        "h AS (INSERT INTO order_history (order_id, status) SELECT id, '%s' FROM o), "
        "p AS (INSERT INTO payments (order_id, method, token_last, amount_cents, status) "
        "      SELECT id, 'card', 'visa', 6749, '%s' FROM o) "
        "SELECT id FROM o", status, status, payment);
    char *value = s_value (sql, customer);
    assert (value);
    int64_t id = atoll (value);
    free (value);
    return id;
}

//  ==========================================================================

static void
test_shipping_rule (bool verbose)
{
    (void) verbose;
    assert (order_shipping_cents (0) == 999);
    assert (order_shipping_cents (7499) == 999);
    assert (order_shipping_cents (7500) == 0);
    assert (order_shipping_cents (100000) == 0);
}

static void
test_number_format (bool verbose)
{
    (void) verbose;
    char *first = s_value ("SELECT order_next_number () ~ '^W-[0-9]{4}-[0-9]{6,}$'", NULL);
    assert (first && streq (first, "t"));
    free (first);
    int64_t a = s_order ("num-1", "confirmed", "captured");
    int64_t b = s_order ("num-1", "confirmed", "captured");
    char text [24];
    snprintf (text, sizeof text, "%lld", (long long) a);
    char *same = s_value ("SELECT count (DISTINCT number) FROM orders WHERE id IN ($1::bigint, $1::bigint + 0)", text);
    free (same);
    char *distinct = s_value ("SELECT count (DISTINCT number) = count (*) FROM orders", NULL);
    assert (distinct && streq (distinct, "t"));
    free (distinct);
    assert (b > a);
}

static void
test_checkout_needs_key_and_customer (bool verbose)
{
    (void) verbose;
    void *state = s_state ();
    const char *data = "{\"cart_id\": \"abc\", \"shipping_address\": {\"city\": \"Quebec\"},"
                       " \"payment\": {\"method\": \"card\", \"token\": \"tok_visa\"}}";
    envelope_t *reply = s_call (state, "order.checkout", "customer", "key-1", NULL, NULL, data);
    testcall_expect (reply, 400);
    assert (streq (testcall_code (reply), "missing_idempotency_key"));
    envelope_destroy (&reply);
    reply = s_call (state, "order.checkout", "manager", "key-1", "k", NULL, data);
    testcall_expect (reply, 403);
    envelope_destroy (&reply);
    reply = s_call (state, "order.checkout", NULL, NULL, "k", NULL, data);
    testcall_expect (reply, 401);
    envelope_destroy (&reply);
    reply = s_call (state, "order.checkout", "customer", "key-1", "k", NULL,
                    "{\"cart_id\": \"abc\", \"payment\": {\"method\": \"cash\"}, \"tip\": 1}");
    testcall_expect (reply, 400);
    assert (streq (testcall_code (reply), "validation_failed"));
    envelope_destroy (&reply);
    order_context_def.free_state (&state);
}

//  Click & collect: pickup_store_id is a third way to say where the goods
//  go; exactly one of the three. A valid body gets past the checks (503
//  here: no cart context), a bad one is 400 with the field named.
static void
test_checkout_destination_is_exactly_one (bool verbose)
{
    (void) verbose;
    void *state = s_state ();
    static const struct { const char *destination; const char *field; } bad [] = {
        { "", "shipping_address" },
        { "\"pickup_store_id\": 1, \"shipping_address\": {\"city\": \"Quebec\"},", "shipping_address" },
        { "\"pickup_store_id\": 1, \"shipping_address_id\": 3,", "shipping_address" },
        { "\"pickup_store_id\": 1, \"shipping_address_id\": 3, \"shipping_address\": {\"a\": 1},",
          "shipping_address" },
        { "\"pickup_store_id\": 0,", "pickup_store_id" },
        { "\"pickup_store_id\": -2,", "pickup_store_id" },
        { "\"pickup_store_id\": \"1\",", "pickup_store_id" },
        { "\"pickup_store_id\": 1.5,", "pickup_store_id" },
        { "\"pickup_store_id\": null,", "pickup_store_id" }
    };
    char data [400];
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        snprintf (data, sizeof data, "{\"cart_id\": \"c-pick\", %s"
                  " \"payment\": {\"method\": \"card\", \"token\": \"tok_visa\"}}", bad [i].destination);
        envelope_t *reply = s_call (state, "order.checkout", "customer", "pick-1", "k-bad", NULL, data);
        testcall_expect (reply, 400);
        assert (streq (testcall_code (reply), "validation_failed"));
        json_t *details = json_object_get (reply->error, "details");
        assert (json_array_size (details) == 1);
        assert (streq (json_string_value (json_object_get (json_array_get (details, 0), "field")),
                       bad [i].field));
        envelope_destroy (&reply);
    }
    //  nothing was written for them
    char *orders = s_value ("SELECT count (*) FROM orders WHERE customer_id = $1", "pick-1");
    assert (orders && streq (orders, "0"));
    free (orders);
    //  a pickup alone is a valid destination
    envelope_t *reply = s_call (state, "order.checkout", "customer", "pick-1", "k-good", NULL,
                                "{\"cart_id\": \"c-pick\", \"pickup_store_id\": 2,"
                                " \"payment\": {\"method\": \"card\", \"token\": \"tok_visa\"}}");
    testcall_expect (reply, 503);
    envelope_destroy (&reply);
    order_context_def.free_state (&state);
}

//  A pickup order is stored with its store, rendered with it (no shipping
//  address), and its events carry it; a shipped order says null. The
//  database refuses a pickup order that charges shipping.
static void
test_pickup_order_stored_rendered_and_announced (bool verbose)
{
    (void) verbose;
    void *state = s_state ();
    char *text = s_value (
        "WITH o AS (INSERT INTO orders (customer_id, status, step, subtotal_cents, tax_cents, "
        "  shipping_cents, total_cents, cart_id, pickup_store_id) "
        "  VALUES ($1, 'confirmed', 'done', 5000, 750, 0, 5750, 'c1', 2) RETURNING id), "
        "i AS (INSERT INTO order_items SELECT id, 7, 'SKU-7', 'Seven', 2500, 2, 5000 FROM o), "
        "h AS (INSERT INTO order_history (order_id, status) SELECT id, 'confirmed' FROM o), "
        "p AS (INSERT INTO payments (order_id, method, token_last, amount_cents, status) "
        "      SELECT id, 'card', 'visa', 5750, 'captured' FROM o) "
        "SELECT id FROM o", "pick-2");
    assert (text);
    char params [64];
    snprintf (params, sizeof params, "{\"id\": \"%s\"}", text);
    envelope_t *reply = s_call (state, "order.get", "customer", "pick-2", NULL, params, NULL);
    testcall_expect (reply, 200);
    assert (json_integer_value (json_object_get (reply->body, "pickup_store_id")) == 2);
    assert (json_is_null (json_object_get (reply->body, "shipping_address")));
    assert (json_integer_value (json_object_get (reply->body, "shipping_cents")) == 0);
    envelope_destroy (&reply);
    //  cancelled: order.cancelled names the store
    reply = s_call (state, "order.cancel", "customer", "pick-2", NULL, params, NULL);
    testcall_expect (reply, 200);
    envelope_destroy (&reply);
    char *store = s_value ("SELECT payload->>'pickup_store_id' FROM outbox WHERE topic = 'order.cancelled' "
                           "AND payload->>'order_id' = $1", text);
    assert (store && streq (store, "2"));
    free (store);
    free (text);

    //  a shipped order: pickup_store_id null, in the order and its event
    int64_t id = s_order ("pick-3", "confirmed", "captured");
    snprintf (params, sizeof params, "{\"id\": \"%lld\"}", (long long) id);
    reply = s_call (state, "order.get", "customer", "pick-3", NULL, params, NULL);
    testcall_expect (reply, 200);
    json_t *pickup = json_object_get (reply->body, "pickup_store_id");
    assert (pickup && json_is_null (pickup));
    assert (streq (json_string_value (json_object_get (json_object_get (reply->body, "shipping_address"),
                                                       "city")), "Montreal"));
    envelope_destroy (&reply);
    reply = s_call (state, "order.cancel", "customer", "pick-3", NULL, params, NULL);
    testcall_expect (reply, 200);
    envelope_destroy (&reply);
    char number [24];
    snprintf (number, sizeof number, "%lld", (long long) id);
    char *kind = s_value ("SELECT jsonb_typeof (payload->'pickup_store_id') FROM outbox "
                          "WHERE topic = 'order.cancelled' AND payload->>'order_id' = $1", number);
    assert (kind && streq (kind, "null"));
    free (kind);

    //  no shipping charged on a pickup, by the schema too
    pgdb_t *db = pgdb_new (s_db);
    assert (db);
    assert (pgdb_run (db, "INSERT INTO orders (customer_id, subtotal_cents, tax_cents, shipping_cents, "
                          "total_cents, pickup_store_id) VALUES ('pick-4', 100, 0, 999, 1099, 1)") != 0);
    pgdb_destroy (&db);
    order_context_def.free_state (&state);
}

//  The fingerprint the handler computes.
static void
s_hash (const char *data, char *hash)
{
    json_t *value = json_loads (data, 0, NULL);
    char *text = json_dumps (value, JSON_COMPACT | JSON_SORT_KEYS);
    unsigned char digest [32];
    crypto_generichash (digest, sizeof digest, (const unsigned char *) text, strlen (text), NULL, 0);
    sodium_bin2hex (hash, 65, digest, sizeof digest);
    free (text);
    json_decref (value);
}

static void
test_idempotency (bool verbose)
{
    (void) verbose;
    void *state = s_state ();
    const char *data = "{\"cart_id\": \"c2\", \"shipping_address\": {\"city\": \"Quebec\"},"
                       " \"payment\": {\"method\": \"card\", \"token\": \"tok_visa\"}}";
    char hash [65], sql [600];
    s_hash (data, hash);
    //  Done with this request: the stored answer, marked as a replay
    snprintf (sql, sizeof sql, "INSERT INTO idempotency_keys (scope, key, request_hash, status, response) "
              "VALUES ($1, 'done-key', '%s', 'done', '{\"status\": 201, \"body\": {\"id\": 42, \"number\": \"W-2026-000042\"}}') "
              "RETURNING 1", hash);
    free (s_value (sql, "idem-1"));
    envelope_t *reply = s_call (state, "order.checkout", "customer", "idem-1", "done-key", NULL, data);
    testcall_expect (reply, 201);
    assert (json_integer_value (json_object_get (reply->body, "id")) == 42);
    assert (reply->idem_key && streq (reply->idem_key, "done-key"));
    envelope_destroy (&reply);
    //  A stored error is replayed too
    snprintf (sql, sizeof sql, "INSERT INTO idempotency_keys (scope, key, request_hash, status, response) "
              "VALUES ($1, 'declined-key', '%s', 'done', '{\"status\": 402, \"error\": {\"code\": \"payment_declined\", \"message\": \"no\"}}') "
              "RETURNING 1", hash);
    free (s_value (sql, "idem-1"));
    reply = s_call (state, "order.checkout", "customer", "idem-1", "declined-key", NULL, data);
    testcall_expect (reply, 402);
    assert (streq (testcall_code (reply), "payment_declined"));
    assert (reply->idem_key);
    envelope_destroy (&reply);
    //  The same key with another request: 422
    const char *other = "{\"cart_id\": \"c3\", \"shipping_address\": {\"city\": \"Quebec\"},"
                        " \"payment\": {\"method\": \"card\", \"token\": \"tok_visa\"}}";
    reply = s_call (state, "order.checkout", "customer", "idem-1", "done-key", NULL, other);
    testcall_expect (reply, 422);
    assert (streq (testcall_code (reply), "idempotency_key_reused"));
    assert (!reply->idem_key);
    envelope_destroy (&reply);
    //  While the first runs: 409
    free (s_value ("INSERT INTO idempotency_keys (scope, key, request_hash) VALUES ($1, 'run-key', 'x') RETURNING 1",
                   "idem-1"));
    reply = s_call (state, "order.checkout", "customer", "idem-1", "run-key", NULL, data);
    testcall_expect (reply, 409);
    assert (streq (testcall_code (reply), "idempotency_key_in_use"));
    envelope_destroy (&reply);
    //  Keys are scoped to the caller: another customer's same key is new
    //  (here the cart cannot be reached: 503, and the key is let go)
    reply = s_call (state, "order.checkout", "customer", "idem-2", "done-key", NULL, data);
    testcall_expect (reply, 503);
    envelope_destroy (&reply);
    char *left = s_value ("SELECT count (*) FROM idempotency_keys WHERE scope = $1", "idem-2");
    assert (left && streq (left, "0"));
    free (left);
    //  A key older than 24 h is free again
    free (s_value ("UPDATE idempotency_keys SET created_at = now () - interval '25 hours' "
                   "WHERE scope = $1 AND key = 'done-key' RETURNING 1", "idem-1"));
    reply = s_call (state, "order.checkout", "customer", "idem-1", "done-key", NULL, other);
    testcall_expect (reply, 503);
    envelope_destroy (&reply);
    order_context_def.free_state (&state);
}

static void
test_ownership_and_status_machine (bool verbose)
{
    (void) verbose;
    void *state = s_state ();
    int64_t id = s_order ("own-1", "confirmed", "captured");
    char params [64];
    snprintf (params, sizeof params, "{\"id\": \"%lld\"}", (long long) id);
    envelope_t *reply = s_call (state, "order.get", "customer", "own-1", NULL, params, NULL);
    testcall_expect (reply, 200);
    assert (json_integer_value (json_object_get (reply->body, "total_cents")) == 6749);
    assert (json_array_size (json_object_get (reply->body, "items")) == 1);
    assert (json_array_size (json_object_get (reply->body, "history")) == 1);
    assert (streq (json_string_value (json_object_get (json_object_get (reply->body, "payment"), "status")),
                   "captured"));
    envelope_destroy (&reply);
    reply = s_call (state, "order.get", "customer", "own-2", NULL, params, NULL);
    testcall_expect (reply, 404);
    envelope_destroy (&reply);
    reply = s_call (state, "order.get", "manager", "m1", NULL, params, NULL);
    testcall_expect (reply, 200);
    envelope_destroy (&reply);
    //  Lists: own only; staff with a customer filter
    s_order ("own-2", "confirmed", "captured");
    reply = s_call (state, "order.list", "customer", "own-1", NULL, NULL, NULL);
    testcall_expect (reply, 200);
    json_t *data = json_object_get (reply->body, "data");
    assert (json_array_size (data) == 1);
    assert (json_integer_value (json_object_get (json_object_get (reply->body, "meta"), "total")) == 1);
    envelope_destroy (&reply);
    reply = s_call (state, "order.list", "customer", "own-1", NULL, "{\"customer_id\": \"own-2\"}", NULL);
    testcall_expect (reply, 200);
    assert (json_array_size (json_object_get (reply->body, "data")) == 1);
    assert (streq (json_string_value (json_object_get (json_array_get (json_object_get (reply->body, "data"), 0),
                                                       "customer_id")), "own-1"));
    envelope_destroy (&reply);
    reply = s_call (state, "order.list", "manager", "m1", NULL, "{\"customer_id\": \"own-2\"}", NULL);
    testcall_expect (reply, 200);
    assert (json_array_size (json_object_get (reply->body, "data")) == 1);
    envelope_destroy (&reply);
    reply = s_call (state, "order.list", "manager", "m1", NULL, "{\"status\": \"lost\"}", NULL);
    testcall_expect (reply, 400);
    envelope_destroy (&reply);
    //  The status machine
    reply = s_call (state, "order.set_status", "customer", "own-1", NULL, params, "{\"status\": \"shipped\"}");
    testcall_expect (reply, 403);
    envelope_destroy (&reply);
    reply = s_call (state, "order.set_status", "manager", "m1", NULL, params, "{\"status\": \"delivered\"}");
    testcall_expect (reply, 409);
    assert (streq (testcall_code (reply), "invalid_state"));
    envelope_destroy (&reply);
    reply = s_call (state, "order.set_status", "manager", "m1", NULL, params, "{\"status\": \"shipped\"}");
    testcall_expect (reply, 200);
    assert (streq (json_string_value (json_object_get (reply->body, "status")), "shipped"));
    envelope_destroy (&reply);
    reply = s_call (state, "order.set_status", "manager", "m1", NULL, params, "{\"status\": \"shipped\"}");
    testcall_expect (reply, 409);
    envelope_destroy (&reply);
    reply = s_call (state, "order.set_status", "admin", "a1", NULL, params, "{\"status\": \"delivered\"}");
    testcall_expect (reply, 200);
    assert (json_array_size (json_object_get (reply->body, "history")) == 3);
    envelope_destroy (&reply);
    reply = s_call (state, "order.set_status", "manager", "m1", NULL, params, "{\"status\": \"confirmed\"}");
    testcall_expect (reply, 409);
    envelope_destroy (&reply);
    //  A delivered order cannot be cancelled
    reply = s_call (state, "order.cancel", "customer", "own-1", NULL, params, NULL);
    testcall_expect (reply, 409);
    envelope_destroy (&reply);
    order_context_def.free_state (&state);
}

static void
test_cancel (bool verbose)
{
    (void) verbose;
    void *state = s_state ();
    int64_t id = s_order ("can-1", "confirmed", "captured");
    char params [64], text [24];
    snprintf (params, sizeof params, "{\"id\": \"%lld\"}", (long long) id);
    snprintf (text, sizeof text, "%lld", (long long) id);
    envelope_t *reply = s_call (state, "order.cancel", "customer", "can-2", NULL, params, NULL);
    testcall_expect (reply, 404);
    envelope_destroy (&reply);
    reply = s_call (state, "order.cancel", "customer", "can-1", NULL, params, NULL);
    testcall_expect (reply, 200);
    assert (streq (json_string_value (json_object_get (reply->body, "status")), "cancelled"));
    assert (streq (json_string_value (json_object_get (json_object_get (reply->body, "payment"), "status")),
                   "refunded"));
    envelope_destroy (&reply);
    //  The event is in the outbox; the stock could not be given back here
    //  (no inventory), so the saga step says so for recovery.
    char *events = s_value ("SELECT count (*) FROM outbox WHERE topic = 'order.cancelled' "
                            "AND payload->>'order_id' = $1", text);
    assert (events && streq (events, "1"));
    free (events);
    char *step = s_value ("SELECT step FROM orders WHERE id = $1::bigint", text);
    assert (step && streq (step, "undoing"));
    free (step);
    reply = s_call (state, "order.cancel", "manager", "m1", NULL, params, NULL);
    testcall_expect (reply, 409);
    envelope_destroy (&reply);
    //  A pending order's authorized payment is voided
    id = s_order ("can-1", "pending", "authorized");
    snprintf (params, sizeof params, "{\"id\": \"%lld\"}", (long long) id);
    reply = s_call (state, "order.cancel", "manager", "m1", NULL, params, NULL);
    testcall_expect (reply, 200);
    assert (streq (json_string_value (json_object_get (json_object_get (reply->body, "payment"), "status")),
                   "voided"));
    envelope_destroy (&reply);
    order_context_def.free_state (&state);
}

//  ==========================================================================
//  The saga through the test environment's broker (COMPTOIR_TEST_BROKER):
//  the live cart, inventory and product workers answer the order handler's
//  calls. The order handler runs here, with a broker client made from the
//  environment's admitted "edge" certificate.

static mdp_client_t *
s_live_client (void)
{
    const char *var = getenv ("COMPTOIR_TEST_VAR");
    assert (var);
    char keys [512], broker [600];
    snprintf (keys, sizeof keys, "%s/keys", var);
    snprintf (broker, sizeof broker, "%s/broker", keys);
    zcert_t *cert = curvekeys_ensure (keys, "edge", true);
    char *server_key = curvekeys_public_of (broker);
    assert (cert && server_key);
    mdp_client_t *client = mdp_client_new (getenv ("COMPTOIR_TEST_BROKER"), cert, server_key);
    assert (client);
    zcert_destroy (&cert);
    free (server_key);
    return client;
}

static void *
s_live_state (void)
{
    order_state_t *state = (order_state_t *) s_state ();
    mdp_client_destroy (&state->client);
    state->client = s_live_client ();
    mdp_client_set_timeout (state->client, state->call_timeout_ms);
    return state;
}

//  A call through the broker as a customer.
static envelope_t *
s_broker (mdp_client_t *client, const char *service, const char *verb, const char *role,
          const char *sub, const char *consumer, json_t *params, json_t *data)
{
    envelope_t *request = envelope_new_request (verb);
    assert (request);
    envelope_set_str (&request->role, role);
    envelope_set_str (&request->sub, sub);
    envelope_set_str (&request->consumer, consumer);
    envelope_set_str (&request->rid, "order-it-live");
    request->body = json_object ();
    json_object_set_new (request->body, "params", params ? params : json_object ());
    if (data)
        json_object_set_new (request->body, "data", data);
    envelope_t *reply = mdp_client_call (client, service, &request);
    assert (reply);
    return reply;
}

//  order.checkout through the broker, to the order process the supervisor
//  started, as customer sub with an Idempotency-Key; data a JSON literal.
static envelope_t *
s_live_checkout (mdp_client_t *client, const char *sub, const char *key, const char *data)
{
    envelope_t *request = envelope_new_request ("order.checkout");
    assert (request);
    envelope_set_str (&request->role, "customer");
    envelope_set_str (&request->sub, sub);
    envelope_set_str (&request->consumer, "demo");
    envelope_set_str (&request->idem_key, key);
    request->body = json_pack ("{s:{}, s:o}", "params", "data", json_loads (data, 0, NULL));
    envelope_t *reply = mdp_client_call (client, "order", &request);
    assert (reply);
    return reply;
}

static int64_t s_live_available (mdp_client_t *client, int64_t product, int64_t *on_hand);
static void s_live_adjust (mdp_client_t *client, int64_t product, int64_t delta);

//  A new cart of customer sub with quantity of product 50 (with stock
//  enough at web: the seed leaves only a few units of it); its id in id.
static void
s_live_cart (mdp_client_t *client, const char *sub, int quantity, char *id, size_t size)
{
    int64_t on_hand = 0;
    if (s_live_available (client, 50, &on_hand) < 50)
        s_live_adjust (client, 50, 100);
    envelope_t *reply = s_broker (client, "cart", "cart.create", "customer", sub, "demo", NULL, NULL);
    testcall_expect (reply, 201);
    snprintf (id, size, "%s", json_string_value (json_object_get (reply->body, "id")));
    envelope_destroy (&reply);
    reply = s_broker (client, "cart", "cart.add_item", "customer", sub, "demo",
                      json_pack ("{s:s}", "id", id),
                      json_pack ("{s:i, s:i}", "product_id", 50, "quantity", quantity));
    if (reply->status != 200 && reply->status != 201)
        testcall_expect (reply, 201);
    envelope_destroy (&reply);
}

//  The status of the reservation of the newest order of a customer.
static char *
s_live_reservation (mdp_client_t *client, const char *sub)
{
    char *number = s_value ("SELECT number FROM orders WHERE customer_id = $1 ORDER BY id DESC LIMIT 1", sub);
    assert (number);
    char id [64];
    snprintf (id, sizeof id, "order:%s", number);
    free (number);
    envelope_t *reply = s_broker (client, "inventory", "reservation.get", "service", "it", "order", NULL,
                                  json_pack ("{s:s}", "reservation_id", id));
    testcall_expect (reply, 200);
    char *status = strdup (json_string_value (json_object_get (reply->body, "status")));
    envelope_destroy (&reply);
    return status;
}

//  A checkout body to destination (a JSON member: where the goods go).
static void
s_checkout_to (char *data, size_t size, const char *cart, const char *destination, const char *token)
{
    snprintf (data, size, "{\"cart_id\": \"%s\", %s, \"payment\": {\"method\": \"card\", \"token\": \"%s\"}}",
              cart, destination, token);
}

static void
s_checkout_data (char *data, size_t size, const char *cart, const char *token)
{
    s_checkout_to (data, size, cart, "\"shipping_address\": {\"city\": \"Quebec\"}", token);
}

static void
test_live_checkout (bool verbose)
{
    (void) verbose;
    void *state = s_live_state ();
    mdp_client_t *client = s_live_client ();
    mdp_client_set_timeout (client, 5000);
    char sub [48], cart [64], data [300];
    snprintf (sub, sizeof sub, "live-ok-%d", (int) getpid ());
    s_live_cart (client, sub, 1, cart, sizeof cart);
    s_checkout_data (data, sizeof data, cart, "tok_visa");
    envelope_t *reply = s_call (state, "order.checkout", "customer", sub, "key-ok", NULL, data);
    testcall_expect (reply, 201);
    assert (streq (json_string_value (json_object_get (reply->body, "status")), "confirmed"));
    assert (streq (json_string_value (json_object_get (json_object_get (reply->body, "payment"), "status")),
                   "captured"));
    json_int_t subtotal = json_integer_value (json_object_get (reply->body, "subtotal_cents"));
    assert (json_integer_value (json_object_get (reply->body, "shipping_cents")) == order_shipping_cents (subtotal));
    assert (!reply->idem_key);
    char *first = json_dumps (reply->body, JSON_SORT_KEYS);
    int64_t id = json_integer_value (json_object_get (reply->body, "id"));
    envelope_destroy (&reply);
    char *status = s_live_reservation (client, sub);
    assert (streq (status, "committed"));
    free (status);
    //  The cart is gone
    reply = s_broker (client, "cart", "cart.get", "customer", sub, "demo", json_pack ("{s:s}", "id", cart), NULL);
    testcall_expect (reply, 404);
    envelope_destroy (&reply);
    //  The repeat gets the same answer, marked; another request 422
    reply = s_call (state, "order.checkout", "customer", sub, "key-ok", NULL, data);
    testcall_expect (reply, 201);
    char *again = json_dumps (reply->body, JSON_SORT_KEYS);
    assert (streq (first, again));
    assert (reply->idem_key && streq (reply->idem_key, "key-ok"));
    free (first);
    free (again);
    envelope_destroy (&reply);
    s_checkout_data (data, sizeof data, cart, "tok_mastercard");
    reply = s_call (state, "order.checkout", "customer", sub, "key-ok", NULL, data);
    testcall_expect (reply, 422);
    envelope_destroy (&reply);
    //  Cancel: stock back (restocked), payment refunded
    char params [64];
    snprintf (params, sizeof params, "{\"id\": \"%lld\"}", (long long) id);
    reply = s_call (state, "order.cancel", "customer", sub, NULL, params, NULL);
    testcall_expect (reply, 200);
    assert (streq (json_string_value (json_object_get (json_object_get (reply->body, "payment"), "status")),
                   "refunded"));
    envelope_destroy (&reply);
    char text [24];
    snprintf (text, sizeof text, "%lld", (long long) id);
    char *step = s_value ("SELECT step FROM orders WHERE id = $1::bigint", text);
    assert (step && streq (step, "done"));
    free (step);
    mdp_client_destroy (&client);
    order_context_def.free_state (&state);
}

//  Click & collect through the live workers: the reservation is made at
//  the store's location (1 for store 1), the order pays no shipping, and a
//  store that is not one is a 400 naming pickup_store_id.
static void
test_live_pickup_checkout (bool verbose)
{
    (void) verbose;
    void *state = s_live_state ();
    mdp_client_t *client = s_live_client ();
    mdp_client_set_timeout (client, 5000);
    char sub [48], cart [64], data [300];
    snprintf (sub, sizeof sub, "live-pick-%d", (int) getpid ());
    s_live_cart (client, sub, 1, cart, sizeof cart);
    envelope_t *reply = s_broker (client, "inventory", "stock.adjust", "admin", "it", "demo", NULL,
                                  json_pack ("{s:i, s:i, s:i, s:s}", "product_id", 50, "location_id", 1,
                                             "delta", 1, "reason", "receipt"));
    if (reply->status != 200)
        testcall_expect (reply, 201);
    envelope_destroy (&reply);

    s_checkout_to (data, sizeof data, cart, "\"pickup_store_id\": 99", "tok_visa");
    reply = s_call (state, "order.checkout", "customer", sub, "key-pick-99", NULL, data);
    testcall_expect (reply, 400);
    assert (streq (json_string_value (json_object_get (json_array_get (
        json_object_get (reply->error, "details"), 0), "field")), "pickup_store_id"));
    envelope_destroy (&reply);
    char *order = s_value ("SELECT status || '/' || step FROM orders WHERE customer_id = $1 ORDER BY id DESC LIMIT 1", sub);
    assert (order && streq (order, "cancelled/done"));
    free (order);

    s_checkout_to (data, sizeof data, cart, "\"pickup_store_id\": 1", "tok_visa");
    reply = s_call (state, "order.checkout", "customer", sub, "key-pick-1", NULL, data);
    testcall_expect (reply, 201);
    assert (streq (json_string_value (json_object_get (reply->body, "status")), "confirmed"));
    assert (json_integer_value (json_object_get (reply->body, "pickup_store_id")) == 1);
    assert (json_is_null (json_object_get (reply->body, "shipping_address")));
    assert (json_integer_value (json_object_get (reply->body, "shipping_cents")) == 0);
    assert (json_integer_value (json_object_get (reply->body, "total_cents"))
            == json_integer_value (json_object_get (reply->body, "subtotal_cents"))
             + json_integer_value (json_object_get (reply->body, "tax_cents")));
    char id [64];
    snprintf (id, sizeof id, "order:%s", json_string_value (json_object_get (reply->body, "number")));
    envelope_destroy (&reply);
    reply = s_broker (client, "inventory", "reservation.get", "service", "it", "order", NULL,
                      json_pack ("{s:s}", "reservation_id", id));
    testcall_expect (reply, 200);
    assert (json_integer_value (json_object_get (reply->body, "location_id")) == 1);
    assert (streq (json_string_value (json_object_get (reply->body, "status")), "committed"));
    envelope_destroy (&reply);
    mdp_client_destroy (&client);
    order_context_def.free_state (&state);
}

static void
test_live_declined_and_timeout (bool verbose)
{
    (void) verbose;
    void *state = s_live_state ();
    mdp_client_t *client = s_live_client ();
    mdp_client_set_timeout (client, 5000);
    char sub [48], cart [64], data [300];
    snprintf (sub, sizeof sub, "live-no-%d", (int) getpid ());
    s_live_cart (client, sub, 2, cart, sizeof cart);
    s_checkout_data (data, sizeof data, cart, "tok_declined");
    envelope_t *reply = s_call (state, "order.checkout", "customer", sub, "key-declined", NULL, data);
    testcall_expect (reply, 402);
    assert (streq (testcall_code (reply), "payment_declined"));
    envelope_destroy (&reply);
    char *status = s_live_reservation (client, sub);
    assert (streq (status, "released"));
    free (status);
    char *order = s_value ("SELECT status FROM orders WHERE customer_id = $1 ORDER BY id DESC LIMIT 1", sub);
    assert (order && streq (order, "cancelled"));
    free (order);
    //  The cart is intact
    reply = s_broker (client, "cart", "cart.get", "customer", sub, "demo", json_pack ("{s:s}", "id", cart), NULL);
    testcall_expect (reply, 200);
    assert (json_integer_value (json_object_get (reply->body, "item_count")) == 2);
    envelope_destroy (&reply);
    //  tok_timeout: cancelled, released
    s_checkout_data (data, sizeof data, cart, "tok_timeout");
    reply = s_call (state, "order.checkout", "customer", sub, "key-timeout", NULL, data);
    testcall_expect (reply, 504);
    envelope_destroy (&reply);
    status = s_live_reservation (client, sub);
    assert (streq (status, "released"));
    free (status);
    order = s_value ("SELECT status || '/' || step FROM orders WHERE customer_id = $1 ORDER BY id DESC LIMIT 1", sub);
    assert (order && streq (order, "cancelled/done"));
    free (order);
    mdp_client_destroy (&client);
    order_context_def.free_state (&state);
}

//  Available units of product at the web location (5), as the admin sees them.
static int64_t
s_live_available (mdp_client_t *client, int64_t product, int64_t *on_hand)
{
    char id [24];
    snprintf (id, sizeof id, "%lld", (long long) product);
    envelope_t *reply = s_broker (client, "inventory", "stock.get", "admin", "it", "demo",
                                  json_pack ("{s:s}", "product_id", id), NULL);
    testcall_expect (reply, 200);
    int64_t available = -1;
    size_t index;
    json_t *row;
    json_array_foreach (json_object_get (reply->body, "data"), index, row)
        if (json_integer_value (json_object_get (row, "location_id")) == 5) {
            available = json_integer_value (json_object_get (row, "available"));
            *on_hand = json_integer_value (json_object_get (row, "on_hand"));
        }
    envelope_destroy (&reply);
    assert (available >= 0);
    return available;
}

static void
s_live_adjust (mdp_client_t *client, int64_t product, int64_t delta)
{
    if (delta == 0)
        return;
    envelope_t *reply = s_broker (client, "inventory", "stock.adjust", "admin", "it", "demo", NULL,
                                  json_pack ("{s:I, s:i, s:I, s:s}", "product_id", (json_int_t) product,
                                             "location_id", 5, "delta", (json_int_t) delta, "reason", "count"));
    if (reply->status != 200)
        testcall_expect (reply, 201);
    envelope_destroy (&reply);
}

#define S_RACERS   30
#define S_PRODUCT  56

//  30 customers check out one unit each of a product with 10 units at web,
//  all at once: exactly 10 orders confirmed, the others out_of_stock.
static void
test_live_oversell_race (bool verbose)
{
    (void) verbose;
    int64_t start = zclock_time () + 3000;
    pid_t children [S_RACERS];
    for (int racer = 0; racer < S_RACERS; racer++) {
        children [racer] = fork ();
        assert (children [racer] >= 0);
        if (children [racer] == 0) {
            void *state = s_live_state ();
            mdp_client_t *client = s_live_client ();
            mdp_client_set_timeout (client, 5000);
            char sub [48], cart [64], data [300];
            snprintf (sub, sizeof sub, "race-%d-%d", (int) getppid (), racer);
            envelope_t *reply = s_broker (client, "cart", "cart.create", "customer", sub, "demo", NULL, NULL);
            if (reply->status != 201)
                _exit (3);
            snprintf (cart, sizeof cart, "%s", json_string_value (json_object_get (reply->body, "id")));
            envelope_destroy (&reply);
            reply = s_broker (client, "cart", "cart.add_item", "customer", sub, "demo",
                              json_pack ("{s:s}", "id", cart),
                              json_pack ("{s:i, s:i}", "product_id", S_PRODUCT, "quantity", 1));
            if (reply->status != 200 && reply->status != 201)
                _exit (4);
            envelope_destroy (&reply);
            while (zclock_time () < start)
                zclock_sleep (5);
            s_checkout_data (data, sizeof data, cart, "tok_visa");
            reply = s_call (state, "order.checkout", "customer", sub, "race-key", NULL, data);
            int code = reply->status == 201 ? 0 : reply->status == 409 && streq (testcall_code (reply), "out_of_stock") ? 1 : 2;
            if (code == 2)
                fprintf (stderr, "racer %d: %d %s\n", racer, reply->status, testcall_code (reply));
            envelope_destroy (&reply);
            mdp_client_destroy (&client);
            order_context_def.free_state (&state);
            _exit (code);
        }
    }
    //  Exactly 10 units available before the start
    mdp_client_t *client = s_live_client ();
    mdp_client_set_timeout (client, 5000);
    int64_t on_hand = 0;
    int64_t available = s_live_available (client, S_PRODUCT, &on_hand);
    int64_t delta = 10 - available;
    s_live_adjust (client, S_PRODUCT, delta);
    assert (zclock_time () < start);
    int confirmed = 0, refused = 0, other = 0;
    for (int racer = 0; racer < S_RACERS; racer++) {
        int status = 0;
        waitpid (children [racer], &status, 0);
        int code = WIFEXITED (status) ? WEXITSTATUS (status) : 9;
        if (code == 0)
            confirmed++;
        else
        if (code == 1)
            refused++;
        else
            other++;
    }
    int64_t after_on_hand = 0;
    int64_t after = s_live_available (client, S_PRODUCT, &after_on_hand);
    //  Put the level back as it was for the other suites
    s_live_adjust (client, S_PRODUCT, on_hand - after_on_hand);
    mdp_client_destroy (&client);
    if (verbose || confirmed != 10 || other)
        fprintf (stderr, "race: %d confirmed, %d out of stock, %d other, %lld left\n",
                 confirmed, refused, other, (long long) after);
    assert (confirmed == 10);
    assert (refused == S_RACERS - 10);
    assert (after == 0);
}

//  The events of the live order process, as a subscriber keeps them.
typedef struct {
    int count;
    int64_t seq [4096];
    char topic [4096][24];
    char number [4096][32];
    json_t *confirmed;          //  payload of the awaited order's order.confirmed
    const char *awaited;        //  its number
    int64_t confirmed_seq, cancelled_seq;
} s_events_t;

static int
s_keep_event (const eventbus_event_t *event, void *arg)
{
    s_events_t *log = (s_events_t *) arg;
    const char *number = json_string_value (json_object_get (event->payload, "number"));
    if (log->count < 4096) {
        log->seq [log->count] = event->seq;
        snprintf (log->topic [log->count], sizeof log->topic [0], "%s", event->topic);
        snprintf (log->number [log->count], sizeof log->number [0], "%s", number ? number : "");
        log->count++;
    }
    if (number && log->awaited && streq (number, log->awaited)) {
        if (streq (event->topic, "order.confirmed")) {
            log->confirmed_seq = event->seq;
            json_decref (log->confirmed);
            log->confirmed = json_deep_copy (event->payload);
        }
        else
        if (streq (event->topic, "order.cancelled"))
            log->cancelled_seq = event->seq;
    }
    return 0;
}

//  A checkout and a cancel through the live order process reach a
//  subscriber of its event relay (CURVE, the environment's keys): once
//  each, in order, with the order's lines.
static void
test_live_events_published (bool verbose)
{
    (void) verbose;
    const char *var = getenv ("COMPTOIR_TEST_VAR");
    const char *publish = getenv ("COMPTOIR_TEST_EVENTS_ORDER");
    const char *replay = getenv ("COMPTOIR_TEST_EVENTS_ORDER_REPLAY");
    assert (var && publish && replay);
    char keys [512], server [600];
    snprintf (keys, sizeof keys, "%s/keys", var);
    snprintf (server, sizeof server, "%s/order-events", keys);
    zcert_t *cert = curvekeys_ensure (keys, "edge", true);
    char *server_key = curvekeys_public_of (server);
    assert (cert && server_key);
    eventbus_subscriber_t *subscriber = eventbus_subscriber_new_secure ("order", publish, replay,
                                                                        cert, server_key);
    assert (subscriber);
    s_events_t *log = (s_events_t *) calloc (1, sizeof (s_events_t));
    assert (log);
    assert (eventbus_subscriber_catch_up (subscriber, s_keep_event, log) >= 0);
    int before = log->count;

    mdp_client_t *client = s_live_client ();
    mdp_client_set_timeout (client, 5000);
    char sub [48], cart [64], data [300], key [48];
    snprintf (sub, sizeof sub, "events-%d", (int) getpid ());
    snprintf (key, sizeof key, "events-key-%d", (int) getpid ());
    s_live_cart (client, sub, 2, cart, sizeof cart);
    s_checkout_data (data, sizeof data, cart, "tok_visa");
    envelope_t *reply = s_live_checkout (client, sub, key, data);
    testcall_expect (reply, 201);
    char number [32], id [24];
    snprintf (number, sizeof number, "%s", json_string_value (json_object_get (reply->body, "number")));
    snprintf (id, sizeof id, "%lld", (long long) json_integer_value (json_object_get (reply->body, "id")));
    json_int_t total = json_integer_value (json_object_get (reply->body, "total_cents"));
    envelope_destroy (&reply);
    log->awaited = number;
    reply = s_broker (client, "order", "order.cancel", "customer", sub, "demo",
                      json_pack ("{s:s}", "id", id), NULL);
    testcall_expect (reply, 200);
    envelope_destroy (&reply);

    //  Both events arrive (published within relay_ms; a catch-up now and
    //  then covers a SUB that joined late).
    int64_t until = zclock_mono () + 10000;
    int64_t catch_up_at = zclock_mono () + 500;
    while ((!log->confirmed_seq || !log->cancelled_seq) && zclock_mono () < until) {
        zmq_pollitem_t item = { zsock_resolve (eventbus_subscriber_sock (subscriber)), 0, ZMQ_POLLIN, 0 };
        if (zmq_poll (&item, 1, 100) > 0)
            assert (eventbus_subscriber_handle (subscriber, s_keep_event, log) >= 0);
        if (zclock_mono () >= catch_up_at) {
            assert (eventbus_subscriber_catch_up (subscriber, s_keep_event, log) >= 0);
            catch_up_at = zclock_mono () + 500;
        }
    }
    assert (log->confirmed_seq > 0 && log->cancelled_seq > log->confirmed_seq);
    //  What reporting needs of a sale: its lines and amounts
    assert (json_integer_value (json_object_get (log->confirmed, "total_cents")) == total);
    json_t *items = json_object_get (log->confirmed, "items");
    assert (json_array_size (items) == 1);
    assert (json_integer_value (json_object_get (json_array_get (items, 0), "product_id")) == 50);
    assert (json_integer_value (json_object_get (json_array_get (items, 0), "quantity")) == 2);
    assert (json_string_value (json_object_get (log->confirmed, "at")));
    //  In order, each once
    int mine = 0;
    for (int index = 0; index < log->count; index++) {
        if (index > 0)
            assert (log->seq [index] > log->seq [index - 1]);
        if (streq (log->number [index], number))
            mine++;
    }
    assert (mine == 2);
    assert (log->count > before);
    if (verbose)
        printf ("order events: %d seen, %zu duplicates skipped\n", log->count,
                eventbus_subscriber_duplicates (subscriber));
    json_decref (log->confirmed);
    free (log);
    eventbus_subscriber_destroy (&subscriber);
    mdp_client_destroy (&client);
    zcert_destroy (&cert);
    free (server_key);
}

//  The order process the supervisor started serves the "order" service.
static void
test_live_worker_answers (bool verbose)
{
    (void) verbose;
    mdp_client_t *client = s_live_client ();
    mdp_client_set_timeout (client, 5000);
    envelope_t *reply = s_broker (client, "order", "order.list", "customer", "nobody-yet", "demo", NULL, NULL);
    testcall_expect (reply, 200);
    assert (json_is_array (json_object_get (reply->body, "data")));
    envelope_destroy (&reply);
    reply = s_broker (client, "order", "order.checkout", "customer", "nobody-yet", "demo", NULL,
                      json_pack ("{s:s}", "cart_id", "x"));
    testcall_expect (reply, 400);
    assert (streq (testcall_code (reply), "missing_idempotency_key"));
    envelope_destroy (&reply);
    //  A checkout through the broker, then its repeat: the replay marker
    //  (the reply's idem_key) travels to the edge, the first answer has none
    char sub [48], cart [64], data [300];
    snprintf (sub, sizeof sub, "through-%d", (int) getpid ());
    s_live_cart (client, sub, 1, cart, sizeof cart);
    s_checkout_data (data, sizeof data, cart, "tok_mastercard");
    char *first = NULL;
    for (int attempt = 0; attempt < 2; attempt++) {
        reply = s_live_checkout (client, sub, "through-key", data);
        testcall_expect (reply, 201);
        char *text = json_dumps (reply->body, JSON_SORT_KEYS);
        if (attempt == 0) {
            assert (!reply->idem_key);
            first = text;
        }
        else {
            assert (reply->idem_key && streq (reply->idem_key, "through-key"));
            assert (streq (first, text));
            free (text);
        }
        envelope_destroy (&reply);
    }
    free (first);
    mdp_client_destroy (&client);
}

//  A crash mid-saga: orders left pending (stock held, payment authorized)
//  or confirmed but not captured are driven to an end by the recovery.
static void
test_live_recovery (bool verbose)
{
    (void) verbose;
    void *state = s_live_state ();
    mdp_client_t *client = s_live_client ();
    mdp_client_set_timeout (client, 5000);
    char sub [48];
    char *keys = NULL;
    snprintf (sub, sizeof sub, "crash-%d", (int) getpid ());
    //  Half-done: pending, stock held, payment authorized, key running
    char *text = s_value (
        "WITH o AS (INSERT INTO orders (customer_id, status, step, subtotal_cents, tax_cents, "
        "  shipping_cents, total_cents, cart_id, idem_scope, idem_key, updated_at) "
        "  VALUES ($1, 'pending', 'confirming', 1000, 0, 999, 1999, 'gone', $1, 'k-pending', "
        "          now () - interval '1 hour') RETURNING id, number), "
        "h AS (INSERT INTO order_history (order_id, status) SELECT id, 'pending' FROM o), "
        "p AS (INSERT INTO payments (order_id, method, token_last, amount_cents, status) "
        "      SELECT id, 'card', 'visa', 1999, 'authorized' FROM o), "
        "k AS (INSERT INTO idempotency_keys (scope, key, request_hash) VALUES ($1, 'k-pending', 'h')) "
        "SELECT number FROM o", sub);
    assert (text);
    char reservation [64];
    snprintf (reservation, sizeof reservation, "order:%s", text);
    free (text);
    int64_t on_hand = 0;
    if (s_live_available (client, 50, &on_hand) < 50)
        s_live_adjust (client, 50, 100);
    envelope_t *reply = s_broker (client, "inventory", "reservation.reserve", "service", "it", "order", NULL,
                                  json_pack ("{s:s, s:[{s:i, s:i}]}", "reservation_id", reservation,
                                             "lines", "product_id", 50, "quantity", 1));
    testcall_expect (reply, 201);
    envelope_destroy (&reply);
    //  Confirmed but not captured, key running
    char sub2 [64];
    snprintf (sub2, sizeof sub2, "%s-b", sub);
    text = s_value (
        "WITH o AS (INSERT INTO orders (customer_id, status, step, subtotal_cents, tax_cents, "
        "  shipping_cents, total_cents, cart_id, idem_scope, idem_key, updated_at) "
        "  VALUES ($1, 'confirmed', 'capturing', 8000, 0, 0, 8000, 'gone', $1, 'k-confirmed', "
        "          now () - interval '1 hour') RETURNING id), "
        "p AS (INSERT INTO payments (order_id, method, token_last, amount_cents, status) "
        "      SELECT id, 'card', 'visa', 8000, 'authorized' FROM o), "
        "k AS (INSERT INTO idempotency_keys (scope, key, request_hash) VALUES ($1, 'k-confirmed', 'h')) "
        "SELECT id FROM o", sub2);
    assert (text);
    free (text);
    //  Keys left running: no order written (died after the claim), a
    //  finished order whose answer was not stored, and a young one (a saga
    //  still running: left alone)
    char sub3 [64], sub4 [64], sub5 [64];
    snprintf (sub3, sizeof sub3, "%s-c", sub);
    snprintf (sub4, sizeof sub4, "%s-d", sub);
    snprintf (sub5, sizeof sub5, "%s-e", sub);
    text = s_value ("INSERT INTO idempotency_keys (scope, key, request_hash, created_at) "
                    "VALUES ($1, 'k-orphan', 'h', now () - interval '1 hour') RETURNING 1", sub3);
    free (text);
    text = s_value (
        "WITH o AS (INSERT INTO orders (customer_id, status, step, subtotal_cents, tax_cents, "
        "  shipping_cents, total_cents, cart_id, idem_scope, idem_key, updated_at) "
        "  VALUES ($1, 'confirmed', 'done', 8000, 0, 0, 8000, 'gone', $1, 'k-unstored', "
        "          now () - interval '1 hour') RETURNING id), "
        "k AS (INSERT INTO idempotency_keys (scope, key, request_hash, created_at) "
        "      VALUES ($1, 'k-unstored', 'h', now () - interval '1 hour')) "
        "SELECT id FROM o", sub4);
    assert (text);
    free (text);
    text = s_value ("INSERT INTO idempotency_keys (scope, key, request_hash) "
                    "VALUES ($1, 'k-young', 'h') RETURNING 1", sub5);
    free (text);
    //  Answered keys live 24 h: an older one goes, a younger one stays
    text = s_value ("INSERT INTO idempotency_keys (scope, key, request_hash, status, response, created_at) "
                    "VALUES ($1, 'k-old', 'h', 'done', '{\"status\": 402}', now () - interval '25 hours'), "
                    "       ($1, 'k-day', 'h', 'done', '{\"status\": 402}', now () - interval '23 hours') "
                    "RETURNING 1", sub5);
    free (text);
    assert (order_saga_recover ((order_state_t *) state, 60, 100) >= 4);
    keys = s_value ("SELECT count (*) FROM idempotency_keys WHERE scope = $1", sub3);
    assert (keys && streq (keys, "0"));
    free (keys);
    keys = s_value ("SELECT status || '/' || (response->>'status') || '/' || (response->'body'->>'status') "
                    "FROM idempotency_keys WHERE scope = $1", sub4);
    assert (keys && streq (keys, "done/201/confirmed"));
    free (keys);
    keys = s_value ("SELECT string_agg (key || ':' || status, ',' ORDER BY key) FROM idempotency_keys "
                    "WHERE scope = $1", sub5);
    assert (keys && streq (keys, "k-day:done,k-young:running"));
    free (keys);
    char *order = s_value ("SELECT o.status || '/' || o.step || '/' || p.status FROM orders o "
                           "JOIN payments p ON p.order_id = o.id WHERE o.customer_id = $1", sub);
    assert (order && streq (order, "cancelled/done/voided"));
    free (order);
    char *status = s_live_reservation (client, sub);
    assert (streq (status, "released"));
    free (status);
    keys = s_value ("SELECT count (*) FROM idempotency_keys WHERE scope = $1", sub);
    assert (keys && streq (keys, "0"));       //  the client may try again
    free (keys);
    order = s_value ("SELECT o.status || '/' || o.step || '/' || p.status FROM orders o "
                     "JOIN payments p ON p.order_id = o.id WHERE o.customer_id = $1", sub2);
    assert (order && streq (order, "confirmed/done/captured"));
    free (order);
    keys = s_value ("SELECT status || '/' || (response->>'status') FROM idempotency_keys WHERE scope = $1", sub2);
    assert (keys && streq (keys, "done/201"));
    free (keys);
    //  Nothing left to do
    assert (order_saga_recover ((order_state_t *) state, 60, 100) == 0);
    mdp_client_destroy (&client);
    order_context_def.free_state (&state);
}

//  The supervised order process sweeps by itself: an abandoned checkout in
//  its database (stock held, an hour old) ends cancelled and released.
static void
test_live_process_recovers (bool verbose)
{
    (void) verbose;
    mdp_client_t *client = s_live_client ();
    mdp_client_set_timeout (client, 5000);
    char *conninfo = testdb_conninfo (s_admin, "comptoir_order");
    assert (conninfo);
    pgdb_t *db = pgdb_new (conninfo);
    assert (db);
    char sub [48];
    snprintf (sub, sizeof sub, "abandoned-%d", (int) getpid ());
    const char *params [] = { sub };
    char *number = testdb_value (db,
        "WITH o AS (INSERT INTO orders (customer_id, status, step, subtotal_cents, tax_cents, "
        "  shipping_cents, total_cents, cart_id, updated_at) "
        "  VALUES ($1, 'pending', 'authorizing', 1000, 0, 999, 1999, 'gone', now () - interval '1 hour') "
        "  RETURNING id, number) SELECT number FROM o", 1, params);
    assert (number);
    char reservation [64];
    snprintf (reservation, sizeof reservation, "order:%s", number);
    free (number);
    int64_t on_hand = 0;
    if (s_live_available (client, 50, &on_hand) < 50)
        s_live_adjust (client, 50, 100);
    envelope_t *reply = s_broker (client, "inventory", "reservation.reserve", "service", "it", "order", NULL,
                                  json_pack ("{s:s, s:[{s:i, s:i}]}", "reservation_id", reservation,
                                             "lines", "product_id", 50, "quantity", 1));
    testcall_expect (reply, 201);
    envelope_destroy (&reply);
    char *status = NULL;
    for (int attempt = 0; attempt < 100; attempt++) {
        free (status);
        status = testdb_value (db, "SELECT status || '/' || step FROM orders WHERE customer_id = $1", 1, params);
        if (status && streq (status, "cancelled/done"))
            break;
        zclock_sleep (100);
    }
    assert (status && streq (status, "cancelled/done"));
    free (status);
    reply = s_broker (client, "inventory", "reservation.get", "service", "it", "order", NULL,
                      json_pack ("{s:s}", "reservation_id", reservation));
    testcall_expect (reply, 200);
    assert (streq (json_string_value (json_object_get (reply->body, "status")), "released"));
    envelope_destroy (&reply);
    pgdb_destroy (&db);
    free (conninfo);
    mdp_client_destroy (&client);
}

#define S_SAME_KEY  12

//  Many checkouts with one key at once: one order, one payment; the others
//  are told the key is in use, or get the first answer replayed.
static void
test_live_idempotency_race (bool verbose)
{
    (void) verbose;
    char sub [48], cart [64], data [300];
    snprintf (sub, sizeof sub, "same-key-%d", (int) getpid ());
    mdp_client_t *client = s_live_client ();
    mdp_client_set_timeout (client, 5000);
    s_live_cart (client, sub, 1, cart, sizeof cart);
    mdp_client_destroy (&client);
    s_checkout_data (data, sizeof data, cart, "tok_visa");
    int64_t start = zclock_time () + 1500;
    pid_t children [S_SAME_KEY];
    for (int racer = 0; racer < S_SAME_KEY; racer++) {
        children [racer] = fork ();
        assert (children [racer] >= 0);
        if (children [racer] == 0) {
            void *state = s_live_state ();
            while (zclock_time () < start)
                zclock_sleep (2);
            envelope_t *reply = s_call (state, "order.checkout", "customer", sub, "one-key", NULL, data);
            int code = reply->status == 201 && !reply->idem_key ? 0
                     : reply->status == 201 ? 1
                     : reply->status == 409 && streq (testcall_code (reply), "idempotency_key_in_use") ? 2 : 3;
            if (code == 3)
                fprintf (stderr, "same key %d: %d %s\n", racer, reply->status, testcall_code (reply));
            envelope_destroy (&reply);
            order_context_def.free_state (&state);
            _exit (code);
        }
    }
    int first = 0, replayed = 0, in_use = 0, other = 0;
    for (int racer = 0; racer < S_SAME_KEY; racer++) {
        int status = 0;
        waitpid (children [racer], &status, 0);
        int code = WIFEXITED (status) ? WEXITSTATUS (status) : 9;
        first += code == 0;
        replayed += code == 1;
        in_use += code == 2;
        other += code > 2;
    }
    if (verbose || first != 1 || other)
        fprintf (stderr, "same key: %d first, %d replayed, %d in use, %d other\n", first, replayed, in_use, other);
    assert (first == 1 && other == 0);
    char *orders = s_value ("SELECT count (*) FROM orders WHERE customer_id = $1", sub);
    assert (orders && streq (orders, "1"));
    free (orders);
    char *payments = s_value ("SELECT count (*) FROM payments p JOIN orders o ON o.id = p.order_id "
                              "WHERE o.customer_id = $1", sub);
    assert (payments && streq (payments, "1"));
    free (payments);
}

static testrunner_case_t s_cases [] = {
    { "order_shipping_rule", test_shipping_rule },
    { "order_number_format", test_number_format },
    { "order_checkout_needs_key_and_customer", test_checkout_needs_key_and_customer },
    { "order_idempotency", test_idempotency },
    { "order_ownership_and_status_machine", test_ownership_and_status_machine },
    { "order_cancel", test_cancel },
    { "order_checkout_destination_is_exactly_one", test_checkout_destination_is_exactly_one },
    { "order_pickup_order_stored_rendered_and_announced", test_pickup_order_stored_rendered_and_announced },
    { NULL, NULL },             //  the live saga, with a test environment
    { NULL, NULL },
    { NULL, NULL },
    { NULL, NULL },
    { NULL, NULL },
    { NULL, NULL },
    { NULL, NULL },
    { NULL, NULL },
    { NULL, NULL },
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
        printf ("SKIP: order_it (COMPTOIR_TEST_PG_ADMIN is not set; scripts/testenv.sh sets it)\n");
        return 77;
    }
    if (sodium_init () < 0)
        return 1;
    logline_init ("order_it", -1);
    const char *live = getenv ("COMPTOIR_TEST_BROKER");
    if (live && *live && getenv ("COMPTOIR_TEST_VAR")) {
        size_t count = sizeof s_cases / sizeof s_cases [0];
        s_cases [count - 10].name = "order_live_pickup_checkout";
        s_cases [count - 10].fn = test_live_pickup_checkout;
        s_cases [count - 9].name = "order_live_events_published";
        s_cases [count - 9].fn = test_live_events_published;
        s_cases [count - 8].name = "order_live_idempotency_race";
        s_cases [count - 8].fn = test_live_idempotency_race;
        s_cases [count - 7].name = "order_live_process_recovers_by_itself";
        s_cases [count - 7].fn = test_live_process_recovers;
        s_cases [count - 6].name = "order_live_recovery_after_a_crash";
        s_cases [count - 6].fn = test_live_recovery;
        s_cases [count - 5].name = "order_live_worker_answers";
        s_cases [count - 5].fn = test_live_worker_answers;
        s_cases [count - 4].name = "order_live_checkout_replay_and_cancel";
        s_cases [count - 4].fn = test_live_checkout;
        s_cases [count - 3].name = "order_live_declined_and_timeout";
        s_cases [count - 3].fn = test_live_declined_and_timeout;
        s_cases [count - 2].name = "order_live_oversell_race";
        s_cases [count - 2].fn = test_live_oversell_race;
    }
    //  Its keys folder has no broker key: no broker client
    s_db = testdb_scratch_new (s_admin, "order");
    if (!s_db)
        return 1;

    int rc = 1;
    settings_t *settings = settings_load (NULL);
    void *state = settings ? order_context_def.make_state (settings, 1, 2) : NULL;
    //  Reservation ids are "order:<number>" in the live inventory, which
    //  outlives this scratch database: numbers of this run start apart.
    pgdb_t *db = state ? pgdb_new (s_db) : NULL;
    char start [24];
    snprintf (start, sizeof start, "%lld", (long long) getpid () * 1000);
    const char *params [] = { start };
    char *set = db ? testdb_value (db, "SELECT setval ('order_number_seq', $1::bigint)", 1, params) : NULL;
    free (set);
    pgdb_destroy (&db);
    if (state) {
        order_context_def.free_state (&state);
        rc = testrunner_main (argc, argv, s_cases, 60);
    }
    else
        fprintf (stderr, "order_it: the order database could not be prepared\n");
    settings_destroy (&settings);
    testdb_scratch_destroy (s_admin, "order");
    free (s_db);
    return rc;
}
