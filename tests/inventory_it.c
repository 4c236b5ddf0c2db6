/*  =========================================================================
    inventory_it - the inventory context against a real PostgreSQL

    Needs COMPTOIR_TEST_PG_ADMIN (the conninfo of an admin database of the
    test cluster); without it the suite exits 77 (skipped). The run makes
    its own scratch database (comptoir_it_<pid>_stock), migrated through the
    context's own start-up and seeded with sql/inventory/seed.sql, and drops
    it at the end. Every case runs in its own child process and uses its own
    product ids (1000 and up, ten apart per case), so cases do not see each
    other's stock.

    The handlers are called through contextnode_dispatch with the real verb
    table and a real actor state: everything but the Majordomo transport.
    The oversell race forks fifty processes, each with its own connection,
    as fifty workers would be.
    =========================================================================
*/
#include "testrunner.h"
#include "testcall.h"
#include "testdb.h"

#include "contextnode.h"
#include "curvekeys.h"
#include "mdp_client.h"
#include "envelope.h"
#include "inventory_context.h"
#include "inventory_input.h"
#include "logline.h"
#include "pgdb.h"
#include "pos_stock_verbs.h"
#include "reservation_verbs.h"
#include "settings.h"

#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char *s_admin;
static char *s_db;                  //  conninfo of the scratch inventory database
static int s_run_id;

//  Actor 2 of a process has no sweeper: the cases that are not about
//  expiry do not race one.
#define S_ACTOR_PLAIN   2
#define S_ACTOR_SWEEPS  1

//  --------------------------------------------------------------------------

static void *
s_state (int actor)
{
    settings_t *settings = settings_load (NULL);
    assert (settings);
    void *state = inventory_context_def.make_state (settings, 1, actor);
    assert (state);
    //  the state keeps no pointer into the settings but the sweeper's copy
    settings_destroy (&settings);
    return state;
}

static void
s_state_free (void **state_p)
{
    inventory_context_def.free_state (state_p);
    assert (*state_p == NULL);
}

//  Call a verb. role NULL: anonymous. params: a JSON object literal or NULL;
//  data: any JSON literal or NULL for no body.
static envelope_t *
s_call_as (void *state, const char *verb, const char *role, int64_t store_id, const char *consumer,
           const char *params, const char *data)
{
    envelope_t *request = testcall_request (verb, params, data);
    if (role)
        envelope_set_str (&request->role, role);
    if (consumer)
        envelope_set_str (&request->consumer, consumer);
    envelope_set_str (&request->sub, "it-user");
    request->store_id = store_id;
    return testcall_dispatch (&inventory_context_def, state, &request);
}

//  As an admin (any location).
static envelope_t *
s_admin_call (void *state, const char *verb, const char *params, const char *data)
{
    return s_call_as (state, verb, "admin", 0, NULL, params, data);
}

//  As the order context.
static envelope_t *
s_service (void *state, const char *verb, const char *data)
{
    return s_call_as (state, verb, "service", 0, "order", NULL, data);
}

//  As the sales context.
static envelope_t *
s_sales (void *state, const char *verb, const char *data)
{
    return s_call_as (state, verb, "service", 0, "sales", NULL, data);
}

static json_int_t
s_int (json_t *object, const char *key)
{
    json_t *value = json_object_get (object, key);
    assert (json_is_integer (value));
    return json_integer_value (value);
}

static const char *
s_str (json_t *object, const char *key)
{
    json_t *value = json_object_get (object, key);
    assert (json_is_string (value));
    return json_string_value (value);
}

//  Adjust stock by delta as admin; returns the status.
static int
s_adjust (void *state, int64_t product, int64_t location, int64_t delta, const char *reason)
{
    char data [200];
    snprintf (data, sizeof data, "{\"product_id\": %lld, \"location_id\": %lld, \"delta\": %lld, \"reason\": \"%s\"}",
              (long long) product, (long long) location, (long long) delta, reason);
    envelope_t *reply = s_admin_call (state, "stock.adjust", NULL, data);
    int status = reply->status;
    envelope_destroy (&reply);
    return status;
}

//  One value from the database, as a number.
static long long
s_number (const char *sql, const char *param)
{
    pgdb_t *db = pgdb_new (s_db);
    assert (db);
    const char *params [] = { param };
    char *value = testdb_value (db, sql, param ? 1 : 0, params);
    long long number = value ? atoll (value) : -1;
    free (value);
    pgdb_destroy (&db);
    return number;
}

//  The level of one stock row: "on_hand", "reserved" or "available".
static long long
s_level (int64_t product, int64_t location, const char *column)
{
    char sql [200], key [48];
    snprintf (sql, sizeof sql, "SELECT %s FROM stock WHERE product_id = split_part ($1, ':', 1)::bigint"
              " AND location_id = split_part ($1, ':', 2)::bigint", column);
    snprintf (key, sizeof key, "%lld:%lld", (long long) product, (long long) location);
    return s_number (sql, key);
}

//  Whether the journal sums to on_hand for every row of these products.
static bool
s_journal_consistent (int64_t first_product, int64_t last_product)
{
    char range [48];
    snprintf (range, sizeof range, "%lld:%lld", (long long) first_product, (long long) last_product);
    return s_number (
        "SELECT count (*) FROM stock s"
        " WHERE s.product_id BETWEEN split_part ($1, ':', 1)::bigint AND split_part ($1, ':', 2)::bigint"
        "   AND s.on_hand <> coalesce ((SELECT sum (delta) FROM movements m"
        "                    WHERE m.product_id = s.product_id AND m.location_id = s.location_id), 0)",
        range) == 0;
}

//  ==========================================================================

static void
test_adjustments_move_stock_and_never_below_zero (bool verbose)
{
    (void) verbose;
    void *state = s_state (S_ACTOR_PLAIN);
    //  a first receipt creates the row
    envelope_t *reply = s_admin_call (state, "stock.adjust", NULL,
        "{\"product_id\": 1000, \"location_id\": 1, \"delta\": 12, \"reason\": \"receipt\"}");
    testcall_expect (reply, 201);
    assert (s_int (reply->body, "id") > 0);
    assert (streq (s_str (reply->body, "cause"), "adjustment"));
    assert (streq (s_str (reply->body, "reference"), "adjustment:receipt"));
    assert (s_int (reply->body, "delta") == 12);
    assert (s_int (reply->body, "on_hand_after") == 12);
    assert (s_int (reply->body, "available") == 12);
    assert (streq (s_str (json_object_get (reply->body, "actor"), "role"), "admin"));
    envelope_destroy (&reply);

    assert (s_adjust (state, 1000, 1, -5, "damage") == 201);
    assert (s_level (1000, 1, "on_hand") == 7);
    //  never below zero: 409 out_of_stock, nothing changed, the short line named
    reply = s_admin_call (state, "stock.adjust", NULL,
        "{\"product_id\": 1000, \"location_id\": 1, \"delta\": -8, \"reason\": \"count\"}");
    testcall_expect (reply, 409);
    assert (streq (testcall_code (reply), "out_of_stock"));
    json_t *detail = json_array_get (json_object_get (reply->error, "details"), 0);
    assert (s_int (detail, "available") == 7 && s_int (detail, "requested") == 8);
    envelope_destroy (&reply);
    assert (s_level (1000, 1, "on_hand") == 7);
    //  nor from a row that does not exist
    assert (s_adjust (state, 1001, 1, -1, "count") == 409);
    assert (s_number ("SELECT count (*) FROM stock WHERE product_id = 1001", NULL) == 0);
    //  down to exactly zero is fine
    assert (s_adjust (state, 1000, 1, -7, "count") == 201);
    assert (s_level (1000, 1, "on_hand") == 0);
    assert (s_adjust (state, 1000, 2, 30, "receipt") == 201);

    //  the journal: every change, newest first, and it sums to the stock
    reply = s_admin_call (state, "movement.list", "{\"product_id\": \"1000\", \"location_id\": \"1\"}", NULL);
    testcall_expect (reply, 200);
    json_t *data = json_object_get (reply->body, "data");
    assert (json_array_size (data) == 3);
    assert (s_int (json_array_get (data, 0), "delta") == -7);
    assert (s_int (json_object_get (reply->body, "meta"), "total") == 3);
    envelope_destroy (&reply);
    assert (s_journal_consistent (1000, 1009));

    //  the product's rows and its total
    reply = s_call_as (state, "stock.get", "cashier", 1, NULL, "{\"product_id\": \"1000\"}", NULL);
    testcall_expect (reply, 200);
    assert (json_array_size (json_object_get (reply->body, "data")) == 2);
    assert (s_int (reply->body, "total_available") == 30);
    envelope_destroy (&reply);
    reply = s_call_as (state, "stock.list", "manager", 2, NULL, "{\"location_id\": \"2\", \"product_id\": \"1000\"}", NULL);
    testcall_expect (reply, 200);
    assert (json_array_size (json_object_get (reply->body, "data")) == 1);
    assert (s_int (json_array_get (json_object_get (reply->body, "data"), 0), "on_hand") == 30);
    envelope_destroy (&reply);
    s_state_free (&state);
}

//  --------------------------------------------------------------------------

static void
test_adjustments_check_input_roles_and_store (bool verbose)
{
    (void) verbose;
    void *state = s_state (S_ACTOR_PLAIN);
    const char *body = "{\"product_id\": 1010, \"location_id\": 2, \"delta\": 3, \"reason\": \"receipt\"}";
    envelope_t *reply = s_call_as (state, "stock.adjust", NULL, 0, NULL, NULL, body);
    testcall_expect (reply, 401);
    envelope_destroy (&reply);
    reply = s_call_as (state, "stock.adjust", "customer", 0, NULL, NULL, body);
    testcall_expect (reply, 403);
    envelope_destroy (&reply);
    //  a cashier of store 1 may not adjust store 2, nor the warehouse
    reply = s_call_as (state, "stock.adjust", "cashier", 1, NULL, NULL, body);
    testcall_expect (reply, 403);
    envelope_destroy (&reply);
    reply = s_call_as (state, "stock.adjust", "manager", 1, NULL, NULL,
        "{\"product_id\": 1010, \"location_id\": 4, \"delta\": 3, \"reason\": \"receipt\"}");
    testcall_expect (reply, 403);
    envelope_destroy (&reply);
    //  the cashier of store 2 may
    reply = s_call_as (state, "stock.adjust", "cashier", 2, NULL, NULL, body);
    testcall_expect (reply, 201);
    envelope_destroy (&reply);
    //  reads are open to staff, closed to customers
    reply = s_call_as (state, "stock.list", "customer", 0, NULL, NULL, NULL);
    testcall_expect (reply, 403);
    envelope_destroy (&reply);
    reply = s_call_as (state, "movement.list", NULL, 0, NULL, NULL, NULL);
    testcall_expect (reply, 401);
    envelope_destroy (&reply);
    //  every field checked, all problems at once
    reply = s_admin_call (state, "stock.adjust", NULL,
        "{\"product_id\": \"1010\", \"location_id\": 0, \"delta\": 0, \"reason\": \"theft\", \"on_hand\": 5}");
    testcall_expect (reply, 400);
    assert (json_array_size (json_object_get (reply->error, "details")) == 5);
    envelope_destroy (&reply);
    reply = s_admin_call (state, "stock.adjust", NULL,
        "{\"product_id\": 1010, \"location_id\": 99, \"delta\": 1, \"reason\": \"other\"}");
    testcall_expect (reply, 400);
    envelope_destroy (&reply);
    reply = s_admin_call (state, "stock.adjust", NULL,
        "{\"product_id\": 1010, \"location_id\": 1, \"delta\": 1000001, \"reason\": \"other\"}");
    testcall_expect (reply, 400);
    envelope_destroy (&reply);
    reply = s_admin_call (state, "stock.adjust", NULL, "[1]");
    testcall_expect (reply, 400);
    envelope_destroy (&reply);
    reply = s_admin_call (state, "stock.list", "{\"product_id\": \"1e3\", \"per_page\": \"500\"}", NULL);
    testcall_expect (reply, 400);
    envelope_destroy (&reply);
    //  locations: anyone with an API key
    reply = s_call_as (state, "location.list", NULL, 0, NULL, NULL, NULL);
    testcall_expect (reply, 200);
    json_t *locations = json_object_get (reply->body, "data");
    assert (json_array_size (locations) == 5);
    assert (s_int (json_array_get (locations, 1), "store_id") == 2);
    assert (json_is_null (json_object_get (json_array_get (locations, 3), "store_id")));
    assert (streq (s_str (json_array_get (locations, 4), "type"), "web"));
    envelope_destroy (&reply);
    s_state_free (&state);
}

//  --------------------------------------------------------------------------

static void
test_alerts_say_low_and_out (bool verbose)
{
    (void) verbose;
    void *state = s_state (S_ACTOR_PLAIN);
    assert (s_adjust (state, 1020, 3, 20, "receipt") == 201);
    assert (s_adjust (state, 1021, 3, 4, "receipt") == 201);        //  <= 5: low
    assert (s_adjust (state, 1022, 3, 2, "receipt") == 201);
    assert (s_adjust (state, 1022, 3, -2, "damage") == 201);        //  0: out
    envelope_t *reply = s_call_as (state, "alert.list", "cashier", 3, NULL,
                                   "{\"location_id\": \"3\", \"per_page\": \"100\"}", NULL);
    testcall_expect (reply, 200);
    json_t *data = json_object_get (reply->body, "data");
    bool low = false, out = false, ok = false;
    size_t index;
    json_t *alert;
    json_array_foreach (data, index, alert) {
        json_int_t product = s_int (alert, "product_id");
        assert (s_int (alert, "location_id") == 3);
        assert (s_int (alert, "available") <= s_int (alert, "alert_threshold"));
        if (product == 1021)
            low = streq (s_str (alert, "level"), "low") && s_int (alert, "available") == 4;
        if (product == 1022)
            out = streq (s_str (alert, "level"), "out");
        if (product == 1020)
            ok = true;
    }
    assert (low && out && !ok);
    envelope_destroy (&reply);
    reply = s_call_as (state, "alert.list", "cashier", 3, NULL, "{\"level\": \"out\", \"location_id\": \"3\"}", NULL);
    testcall_expect (reply, 200);
    json_array_foreach (json_object_get (reply->body, "data"), index, alert)
        assert (streq (s_str (alert, "level"), "out"));
    envelope_destroy (&reply);
    //  the crossing wrote one stock.low event each
    assert (s_number ("SELECT count (*) FROM outbox WHERE topic = 'stock.low'"
                      " AND (payload->>'product_id')::bigint = 1022", NULL) == 1);
    assert (s_number ("SELECT count (*) FROM outbox WHERE topic = 'stock.low'"
                      " AND (payload->>'product_id')::bigint = 1020", NULL) == 0);
    s_state_free (&state);
}

//  --------------------------------------------------------------------------

static json_int_t
s_transfer (void *state, int64_t product, int64_t from, int64_t to, int64_t quantity)
{
    char data [200];
    snprintf (data, sizeof data, "{\"product_id\": %lld, \"from_location_id\": %lld,"
              " \"to_location_id\": %lld, \"quantity\": %lld}",
              (long long) product, (long long) from, (long long) to, (long long) quantity);
    envelope_t *reply = s_admin_call (state, "transfer.create", NULL, data);
    testcall_expect (reply, 201);
    assert (streq (s_str (reply->body, "status"), "requested"));
    json_int_t id = s_int (reply->body, "id");
    envelope_destroy (&reply);
    return id;
}

static int
s_transfer_step (void *state, const char *verb, json_int_t id, const char *role, int64_t store_id)
{
    char params [64];
    snprintf (params, sizeof params, "{\"id\": \"%lld\"}", (long long) id);
    envelope_t *reply = s_call_as (state, verb, role, store_id, NULL, params, NULL);
    int status = reply->status;
    if (status == 409)
        assert (streq (testcall_code (reply), "invalid_state") || streq (testcall_code (reply), "out_of_stock"));
    envelope_destroy (&reply);
    return status;
}

static void
test_transfer_workflow (bool verbose)
{
    (void) verbose;
    void *state = s_state (S_ACTOR_PLAIN);
    assert (s_adjust (state, 1030, 4, 50, "receipt") == 201);
    json_int_t id = s_transfer (state, 1030, 4, 1, 20);
    //  requested: nothing held yet; deliver is too early
    assert (s_level (1030, 4, "reserved") == 0);
    assert (s_transfer_step (state, "transfer.deliver", id, "admin", 0) == 409);
    //  a manager of an unrelated store may not approve; a cashier never
    assert (s_transfer_step (state, "transfer.approve", id, "manager", 2) == 403);
    assert (s_transfer_step (state, "transfer.approve", id, "cashier", 1) == 403);
    //  approve: the source holds the quantity
    assert (s_transfer_step (state, "transfer.approve", id, "manager", 1) == 200);
    assert (s_level (1030, 4, "reserved") == 20);
    assert (s_level (1030, 4, "available") == 30);
    assert (s_transfer_step (state, "transfer.approve", id, "admin", 0) == 409);
    //  the held units cannot be adjusted away
    assert (s_adjust (state, 1030, 4, -31, "count") == 409);
    //  deliver: source down, destination up, two movements
    assert (s_transfer_step (state, "transfer.deliver", id, "admin", 0) == 200);
    assert (s_level (1030, 4, "on_hand") == 30 && s_level (1030, 4, "reserved") == 0);
    assert (s_level (1030, 1, "on_hand") == 20);
    char reference [48];
    snprintf (reference, sizeof reference, "transfer:%lld", (long long) id);
    assert (s_number ("SELECT count (*) FROM movements WHERE reference = $1", reference) == 2);
    assert (s_number ("SELECT sum (delta) FROM movements WHERE reference = $1", reference) == 0);
    //  delivered is final
    assert (s_transfer_step (state, "transfer.cancel", id, "admin", 0) == 409);
    assert (s_transfer_step (state, "transfer.deliver", id, "admin", 0) == 409);

    //  cancel from approved releases the reservation
    id = s_transfer (state, 1030, 4, 2, 10);
    assert (s_transfer_step (state, "transfer.approve", id, "admin", 0) == 200);
    assert (s_level (1030, 4, "reserved") == 10);
    assert (s_transfer_step (state, "transfer.cancel", id, "admin", 0) == 200);
    assert (s_level (1030, 4, "reserved") == 0 && s_level (1030, 4, "on_hand") == 30);
    assert (s_transfer_step (state, "transfer.approve", id, "admin", 0) == 409);
    //  cancel from requested
    id = s_transfer (state, 1030, 4, 2, 10);
    assert (s_transfer_step (state, "transfer.cancel", id, "admin", 0) == 200);
    //  approving more than the source holds: 409, nothing held
    id = s_transfer (state, 1030, 4, 2, 31);
    assert (s_transfer_step (state, "transfer.approve", id, "admin", 0) == 409);
    assert (s_level (1030, 4, "reserved") == 0);
    assert (s_transfer_step (state, "transfer.approve", 999999, "admin", 0) == 404);

    //  list by status and location
    envelope_t *reply = s_call_as (state, "transfer.list", "cashier", 1, NULL, NULL, NULL);
    testcall_expect (reply, 403);
    envelope_destroy (&reply);
    reply = s_call_as (state, "transfer.list", "manager", 1, NULL,
                       "{\"status\": \"cancelled\", \"location_id\": \"2\"}", NULL);
    testcall_expect (reply, 200);
    assert (s_int (json_object_get (reply->body, "meta"), "total") >= 2);
    size_t index;
    json_t *transfer;
    json_array_foreach (json_object_get (reply->body, "data"), index, transfer)
        assert (streq (s_str (transfer, "status"), "cancelled"));
    envelope_destroy (&reply);
    reply = s_call_as (state, "transfer.list", "manager", 1, NULL, "{\"status\": \"lost\"}", NULL);
    testcall_expect (reply, 400);
    envelope_destroy (&reply);
    //  same from and to, and customers: refused
    reply = s_admin_call (state, "transfer.create", NULL,
        "{\"product_id\": 1030, \"from_location_id\": 4, \"to_location_id\": 4, \"quantity\": 1}");
    testcall_expect (reply, 400);
    envelope_destroy (&reply);
    reply = s_call_as (state, "transfer.create", "customer", 0, NULL, NULL,
        "{\"product_id\": 1030, \"from_location_id\": 4, \"to_location_id\": 1, \"quantity\": 1}");
    testcall_expect (reply, 403);
    envelope_destroy (&reply);
    assert (s_journal_consistent (1030, 1039));
    s_state_free (&state);
}

//  --------------------------------------------------------------------------

static void
test_transfer_create_is_idempotent_by_key (bool verbose)
{
    (void) verbose;
    void *state = s_state (S_ACTOR_PLAIN);
    const char *body = "{\"product_id\": 1040, \"from_location_id\": 4, \"to_location_id\": 1, \"quantity\": 3}";
    envelope_t *request = envelope_new_request ("transfer.create");
    envelope_set_str (&request->role, "manager");
    envelope_set_str (&request->sub, "staff-7");
    envelope_set_str (&request->idem_key, "key-1040");
    request->store_id = 1;
    request->body = json_pack ("{s:{}, s:o}", "params", "data", json_loads (body, 0, NULL));
    envelope_t *first = contextnode_dispatch (&inventory_context_def, request, state);
    envelope_t *second = contextnode_dispatch (&inventory_context_def, request, state);
    testcall_expect (first, 201);
    testcall_expect (second, 201);
    assert (s_int (first->body, "id") == s_int (second->body, "id"));
    envelope_destroy (&first);
    envelope_destroy (&second);
    json_object_set_new (json_object_get (request->body, "data"), "quantity", json_integer (4));
    envelope_t *other = contextnode_dispatch (&inventory_context_def, request, state);
    testcall_expect (other, 422);
    envelope_destroy (&other);
    envelope_destroy (&request);
    assert (s_number ("SELECT count (*) FROM transfers WHERE product_id = 1040", NULL) == 1);
    s_state_free (&state);
}

//  --------------------------------------------------------------------------

static void
test_reserve_takes_all_lines_or_none (bool verbose)
{
    (void) verbose;
    void *state = s_state (S_ACTOR_PLAIN);
    assert (s_adjust (state, 1050, 5, 10, "receipt") == 201);
    assert (s_adjust (state, 1051, 5, 2, "receipt") == 201);
    //  1052 was never received
    envelope_t *reply = s_service (state, "reservation.reserve",
        "{\"reservation_id\": \"it-1050-a\", \"lines\": [{\"product_id\": 1050, \"quantity\": 3},"
        " {\"product_id\": 1051, \"quantity\": 5}, {\"product_id\": 1052, \"quantity\": 1}]}");
    testcall_expect (reply, 409);
    assert (streq (testcall_code (reply), "out_of_stock"));
    json_t *details = json_object_get (reply->error, "details");
    assert (json_array_size (details) == 2);
    assert (s_int (json_array_get (details, 0), "product_id") == 1051);
    assert (s_int (json_array_get (details, 0), "requested") == 5);
    assert (s_int (json_array_get (details, 0), "available") == 2);
    assert (s_int (json_array_get (details, 1), "product_id") == 1052);
    assert (s_int (json_array_get (details, 1), "available") == 0);
    envelope_destroy (&reply);
    //  none held, no reservation kept, no event written
    assert (s_level (1050, 5, "reserved") == 0);
    assert (s_number ("SELECT count (*) FROM reservations WHERE id = 'it-1050-a'", NULL) == 0);
    assert (s_number ("SELECT count (*) FROM outbox WHERE payload->>'cause' = 'reservation'"
                      " AND (payload->>'product_id')::bigint = 1050", NULL) == 0);

    //  all there: 201 at the web location (the default), every line held
    reply = s_service (state, "reservation.reserve",
        "{\"reservation_id\": \"it-1050-b\", \"reference\": \"order:W-2026-001050\","
        " \"lines\": [{\"product_id\": 1051, \"quantity\": 2}, {\"product_id\": 1050, \"quantity\": 3}]}");
    testcall_expect (reply, 201);
    assert (streq (s_str (reply->body, "status"), "held"));
    assert (s_int (reply->body, "location_id") == 5);
    assert (json_array_size (json_object_get (reply->body, "lines")) == 2);
    envelope_destroy (&reply);
    assert (s_level (1050, 5, "reserved") == 3 && s_level (1050, 5, "available") == 7);
    assert (s_level (1051, 5, "available") == 0);

    //  bad input
    reply = s_service (state, "reservation.reserve",
        "{\"reservation_id\": \"bad id!\", \"lines\": [{\"product_id\": 1050, \"quantity\": 0},"
        " {\"product_id\": 1050, \"quantity\": 1, \"price\": 3}]}");
    testcall_expect (reply, 400);
    envelope_destroy (&reply);
    reply = s_service (state, "reservation.reserve", "{\"reservation_id\": \"x\", \"lines\": []}");
    testcall_expect (reply, 400);
    envelope_destroy (&reply);
    reply = s_service (state, "reservation.reserve",
        "{\"reservation_id\": \"x\", \"lines\": [{\"product_id\": 1050, \"quantity\": 1},"
        " {\"product_id\": 1050, \"quantity\": 1}]}");
    testcall_expect (reply, 400);
    envelope_destroy (&reply);
    s_state_free (&state);
}

//  --------------------------------------------------------------------------

static void
test_reservations_commit_release_and_restock_once (bool verbose)
{
    (void) verbose;
    void *state = s_state (S_ACTOR_PLAIN);
    assert (s_adjust (state, 1060, 5, 10, "receipt") == 201);
    const char *reserve = "{\"reservation_id\": \"it-1060-a\", \"lines\": [{\"product_id\": 1060, \"quantity\": 4}]}";
    envelope_t *reply = s_service (state, "reservation.reserve", reserve);
    testcall_expect (reply, 201);
    envelope_destroy (&reply);
    //  a retried reserve finds the first: 200, held once
    reply = s_service (state, "reservation.reserve", reserve);
    testcall_expect (reply, 200);
    assert (streq (s_str (reply->body, "status"), "held"));
    envelope_destroy (&reply);
    assert (s_level (1060, 5, "reserved") == 4);
    //  the same id for other lines is the caller's bug: 409, nothing more held
    reply = s_service (state, "reservation.reserve",
        "{\"reservation_id\": \"it-1060-a\", \"lines\": [{\"product_id\": 1060, \"quantity\": 5}]}");
    testcall_expect (reply, 409);
    assert (streq (testcall_code (reply), "conflict"));
    envelope_destroy (&reply);
    assert (s_level (1060, 5, "reserved") == 4);

    //  commit: the goods leave, with an "order" movement under the reference
    const char *commit = "{\"reservation_id\": \"it-1060-a\", \"reference\": \"order:W-2026-001060\"}";
    reply = s_service (state, "reservation.commit", commit);
    testcall_expect (reply, 200);
    assert (streq (s_str (reply->body, "status"), "committed"));
    envelope_destroy (&reply);
    reply = s_service (state, "reservation.commit", commit);
    testcall_expect (reply, 200);
    envelope_destroy (&reply);
    assert (s_level (1060, 5, "on_hand") == 6 && s_level (1060, 5, "reserved") == 0);
    assert (s_number ("SELECT count (*) FROM movements WHERE cause = 'order'"
                      " AND reference = $1", "order:W-2026-001060") == 1);
    //  a committed reservation is not released; it is restocked (order cancelled), once
    reply = s_service (state, "reservation.release", "{\"reservation_id\": \"it-1060-a\"}");
    testcall_expect (reply, 409);
    envelope_destroy (&reply);
    for (int i = 0; i < 2; i++) {
        reply = s_service (state, "reservation.restock", "{\"reservation_id\": \"it-1060-a\"}");
        testcall_expect (reply, 200);
        assert (streq (s_str (reply->body, "status"), "restocked"));
        envelope_destroy (&reply);
    }
    assert (s_level (1060, 5, "on_hand") == 10);
    assert (s_number ("SELECT count (*) FROM movements WHERE cause = 'order_cancel'"
                      " AND product_id = 1060", NULL) == 1);

    //  release: reserved goes down, once; a release of a released one is fine
    reply = s_service (state, "reservation.reserve",
        "{\"reservation_id\": \"it-1060-b\", \"lines\": [{\"product_id\": 1060, \"quantity\": 7}]}");
    testcall_expect (reply, 201);
    envelope_destroy (&reply);
    assert (s_level (1060, 5, "available") == 3);
    for (int i = 0; i < 2; i++) {
        reply = s_service (state, "reservation.release", "{\"reservation_id\": \"it-1060-b\"}");
        testcall_expect (reply, 200);
        assert (streq (s_str (reply->body, "status"), "released"));
        envelope_destroy (&reply);
    }
    assert (s_level (1060, 5, "reserved") == 0 && s_level (1060, 5, "on_hand") == 10);
    //  a released reservation cannot be committed; retrying its reserve does not hold again
    reply = s_service (state, "reservation.commit", "{\"reservation_id\": \"it-1060-b\"}");
    testcall_expect (reply, 409);
    envelope_destroy (&reply);
    reply = s_service (state, "reservation.reserve",
        "{\"reservation_id\": \"it-1060-b\", \"lines\": [{\"product_id\": 1060, \"quantity\": 7}]}");
    testcall_expect (reply, 200);
    assert (streq (s_str (reply->body, "status"), "released"));
    envelope_destroy (&reply);
    assert (s_level (1060, 5, "reserved") == 0);
    reply = s_service (state, "reservation.release", "{\"reservation_id\": \"it-none\"}");
    testcall_expect (reply, 404);
    envelope_destroy (&reply);
    assert (s_journal_consistent (1060, 1069));

    //  only services: a customer, staff, or an unknown consumer are refused
    reply = s_call_as (state, "reservation.reserve", NULL, 0, NULL, NULL, reserve);
    testcall_expect (reply, 401);
    envelope_destroy (&reply);
    reply = s_call_as (state, "reservation.commit", "customer", 0, "web", NULL, commit);
    testcall_expect (reply, 403);
    envelope_destroy (&reply);
    reply = s_call_as (state, "reservation.release", "admin", 0, NULL, NULL, commit);
    testcall_expect (reply, 403);
    envelope_destroy (&reply);
    reply = s_call_as (state, "reservation.release", "service", 0, "cart", NULL,
                       "{\"reservation_id\": \"it-1060-a\"}");
    testcall_expect (reply, 403);
    envelope_destroy (&reply);
    s_state_free (&state);
}

//  --------------------------------------------------------------------------

static void
test_forgotten_reservation_expires_by_itself (bool verbose)
{
    (void) verbose;
    setenv ("COMPTOIR_INVENTORY_RESERVATION_SWEEP_MS", "100", 1);
    void *state = s_state (S_ACTOR_SWEEPS);     //  with its sweeper
    assert (s_adjust (state, 1070, 5, 5, "receipt") == 201);
    envelope_t *reply = s_service (state, "reservation.reserve",
        "{\"reservation_id\": \"it-1070-a\", \"ttl_s\": 1, \"lines\": [{\"product_id\": 1070, \"quantity\": 5}]}");
    testcall_expect (reply, 201);
    envelope_destroy (&reply);
    assert (s_level (1070, 5, "available") == 0);
    //  nobody commits nor releases: within a few seconds the stock is back
    int64_t until = zclock_mono () + 10000;
    while (s_level (1070, 5, "reserved") != 0 && zclock_mono () < until)
        zclock_sleep (100);
    assert (s_level (1070, 5, "reserved") == 0);
    assert (s_level (1070, 5, "available") == 5);
    assert (s_number ("SELECT count (*) FROM reservations WHERE id = 'it-1070-a' AND status = 'expired'", NULL) == 1);
    //  and a late release is harmless
    reply = s_service (state, "reservation.release", "{\"reservation_id\": \"it-1070-a\"}");
    testcall_expect (reply, 200);
    assert (streq (s_str (reply->body, "status"), "expired"));
    envelope_destroy (&reply);
    assert (s_level (1070, 5, "reserved") == 0);
    s_state_free (&state);

    //  the sweep alone, twice: the second finds nothing
    state = s_state (S_ACTOR_PLAIN);
    reply = s_service (state, "reservation.reserve",
        "{\"reservation_id\": \"it-1070-b\", \"ttl_s\": 1, \"lines\": [{\"product_id\": 1070, \"quantity\": 2}]}");
    testcall_expect (reply, 201);
    envelope_destroy (&reply);
    zclock_sleep (1200);
    pgdb_t *db = pgdb_new (s_db);
    int released = inventory_reservation_sweep (db, 100);
    assert (released >= 0);
    assert (inventory_reservation_sweep (db, 100) == 0);
    pgdb_destroy (&db);
    assert (s_level (1070, 5, "reserved") == 0);
    s_state_free (&state);
}

//  --------------------------------------------------------------------------
//  The oversell race: 50 processes, each its own connection, each reserving
//  1 unit of a product with 10 available. Exactly 10 may win.

#define S_RACERS 50

static void
test_oversell_race_exactly_the_stock_is_reserved (bool verbose)
{
    (void) verbose;
    void *state = s_state (S_ACTOR_PLAIN);
    assert (s_adjust (state, 1080, 5, 10, "receipt") == 201);
    s_state_free (&state);

    pid_t children [S_RACERS];
    for (int i = 0; i < S_RACERS; i++) {
        children [i] = fork ();
        assert (children [i] >= 0);
        if (children [i] == 0) {
            void *mine = s_state (S_ACTOR_PLAIN);
            char data [160];
            snprintf (data, sizeof data, "{\"reservation_id\": \"race-%d\","
                      " \"lines\": [{\"product_id\": 1080, \"quantity\": 1}]}", i);
            envelope_t *reply = s_service (mine, "reservation.reserve", data);
            int code = reply->status == 201 ? 0
                     : reply->status == 409 && streq (testcall_code (reply), "out_of_stock") ? 1 : 2;
            envelope_destroy (&reply);
            //  the winners commit half the time: sales and holds race too
            if (code == 0 && i % 2 == 0) {
                snprintf (data, sizeof data, "{\"reservation_id\": \"race-%d\"}", i);
                reply = s_service (mine, "reservation.commit", data);
                if (reply->status != 200)
                    code = 3;
                envelope_destroy (&reply);
            }
            s_state_free (&mine);
            _exit (code);
        }
    }
    int won = 0, lost = 0, broken = 0;
    for (int i = 0; i < S_RACERS; i++) {
        int status = 0;
        assert (waitpid (children [i], &status, 0) == children [i]);
        int code = WIFEXITED (status) ? WEXITSTATUS (status) : 9;
        if (code == 0 || code == 3)
            won++;
        else
        if (code == 1)
            lost++;
        else
            broken++;
        if (code == 3)
            broken++;
    }
    if (verbose || won != 10)
        printf ("race: %d won, %d out of stock, %d broken\n", won, lost, broken);
    assert (won == 10 && lost == S_RACERS - 10 && broken == 0);
    assert (s_level (1080, 5, "available") == 0);
    assert (s_level (1080, 5, "on_hand") >= 0 && s_level (1080, 5, "reserved") >= 0);
    assert (s_level (1080, 5, "on_hand") + s_number (
        "SELECT count (*) FROM reservations WHERE id LIKE 'race-%' AND status = 'committed'", NULL) == 10);
    assert (s_level (1080, 5, "reserved") == s_number (
        "SELECT count (*) FROM reservations WHERE id LIKE 'race-%' AND status = 'held'", NULL));
    assert (s_journal_consistent (1080, 1089));
}

//  --------------------------------------------------------------------------
//  Ten retries of one reserve at the same moment (a client that resends,
//  a broker that hands the request to another worker): held once.

static void
test_concurrent_retries_of_one_reserve_hold_once (bool verbose)
{
    (void) verbose;
    void *state = s_state (S_ACTOR_PLAIN);
    assert (s_adjust (state, 1100, 5, 10, "receipt") == 201);
    s_state_free (&state);
    pid_t children [10];
    for (int i = 0; i < 10; i++) {
        children [i] = fork ();
        assert (children [i] >= 0);
        if (children [i] == 0) {
            void *mine = s_state (S_ACTOR_PLAIN);
            envelope_t *reply = s_service (mine, "reservation.reserve",
                "{\"reservation_id\": \"it-1100\", \"lines\": [{\"product_id\": 1100, \"quantity\": 3}]}");
            int code = reply->status == 201 ? 0 : reply->status == 200 ? 1 : 2;
            envelope_destroy (&reply);
            s_state_free (&mine);
            _exit (code);
        }
    }
    int created = 0, found = 0;
    for (int i = 0; i < 10; i++) {
        int status = 0;
        assert (waitpid (children [i], &status, 0) == children [i]);
        int code = WIFEXITED (status) ? WEXITSTATUS (status) : 9;
        created += code == 0;
        found += code == 1;
    }
    assert (created == 1 && found == 9);
    assert (s_level (1100, 5, "reserved") == 3);
}

//  --------------------------------------------------------------------------

static void
test_outbox_rows_come_and_go_with_the_change (bool verbose)
{
    (void) verbose;
    void *state = s_state (S_ACTOR_PLAIN);
    long long before = s_number ("SELECT count (*) FROM outbox WHERE (payload->>'product_id')::bigint = 1090", NULL);
    assert (before == 0);
    assert (s_adjust (state, 1090, 1, 8, "receipt") == 201);
    assert (s_number ("SELECT count (*) FROM outbox WHERE topic = 'stock.changed'"
                      " AND (payload->>'product_id')::bigint = 1090 AND (payload->>'on_hand')::int = 8"
                      " AND payload->>'cause' = 'adjustment' AND published_at IS NULL", NULL) == 1);
    //  a refused change writes nothing
    assert (s_adjust (state, 1090, 1, -9, "damage") == 409);
    //  and a transaction that rolls back takes its events with it
    pgdb_t *db = pgdb_new (s_db);
    assert (pgdb_run (db, "BEGIN") == 0);
    assert (pgdb_run (db, "SELECT * FROM inventory_change (1090, 1, -3, 0, 'adjustment', 'adjustment:count', 'it', 'admin')") == 0);
    assert (pgdb_run (db, "ROLLBACK") == 0);
    assert (s_number ("SELECT count (*) FROM outbox WHERE (payload->>'product_id')::bigint = 1090", NULL) == 1);
    assert (s_level (1090, 1, "on_hand") == 8);
    //  a reservation that fails as a whole leaves no event for its good line
    assert (s_adjust (state, 1091, 5, 3, "receipt") == 201);
    envelope_t *reply = s_service (state, "reservation.reserve",
        "{\"reservation_id\": \"it-1090\", \"lines\": [{\"product_id\": 1090, \"quantity\": 1},"
        " {\"product_id\": 1091, \"quantity\": 1}]}");
    testcall_expect (reply, 409);     //  1090 has none at the web location
    envelope_destroy (&reply);
    assert (s_number ("SELECT count (*) FROM outbox WHERE (payload->>'product_id')::bigint = 1091", NULL) == 1);
    //  sequence numbers only grow
    assert (s_number ("SELECT count (*) FROM (SELECT seq, lag (seq) OVER (ORDER BY seq) AS previous"
                      " FROM outbox) x WHERE previous >= seq", NULL) == 0);
    pgdb_destroy (&db);
    s_state_free (&state);
}

//  --------------------------------------------------------------------------
//  Click & collect: a reservation by store_id holds the store's units (the
//  ones its tills sell), not the web's; an unknown store is not found.

static void
test_reserve_by_store_id_holds_the_store_units (bool verbose)
{
    (void) verbose;
    void *state = s_state (S_ACTOR_PLAIN);
    assert (s_adjust (state, 1240, 2, 3, "receipt") == 201);
    assert (s_adjust (state, 1240, 5, 10, "receipt") == 201);
    const char *pickup = "{\"reservation_id\": \"it-1240-a\", \"store_id\": 2,"
        " \"lines\": [{\"product_id\": 1240, \"quantity\": 2}]}";
    envelope_t *reply = s_service (state, "reservation.reserve", pickup);
    testcall_expect (reply, 201);
    assert (s_int (reply->body, "location_id") == 2);
    envelope_destroy (&reply);
    assert (s_level (1240, 2, "reserved") == 2 && s_level (1240, 2, "available") == 1);
    assert (s_level (1240, 5, "reserved") == 0);
    //  retried: the same reservation; the same id at another store: conflict
    reply = s_service (state, "reservation.reserve", pickup);
    testcall_expect (reply, 200);
    envelope_destroy (&reply);
    reply = s_service (state, "reservation.reserve",
        "{\"reservation_id\": \"it-1240-a\", \"store_id\": 1,"
        " \"lines\": [{\"product_id\": 1240, \"quantity\": 2}]}");
    testcall_expect (reply, 409);
    assert (streq (testcall_code (reply), "conflict"));
    envelope_destroy (&reply);
    //  the store has 1 left, whatever the web holds
    reply = s_service (state, "reservation.reserve",
        "{\"reservation_id\": \"it-1240-b\", \"store_id\": 2,"
        " \"lines\": [{\"product_id\": 1240, \"quantity\": 2}]}");
    testcall_expect (reply, 409);
    assert (streq (testcall_code (reply), "out_of_stock"));
    assert (s_int (json_array_get (json_object_get (reply->error, "details"), 0), "available") == 1);
    envelope_destroy (&reply);
    //  committed: the store's shelf goes down, its journal says "order"
    reply = s_service (state, "reservation.commit", "{\"reservation_id\": \"it-1240-a\"}");
    testcall_expect (reply, 200);
    envelope_destroy (&reply);
    assert (s_level (1240, 2, "on_hand") == 1 && s_level (1240, 2, "reserved") == 0);
    assert (s_level (1240, 5, "on_hand") == 10);
    assert (s_number ("SELECT count (*) FROM movements WHERE product_id = 1240 AND location_id = 2"
                      " AND cause = 'order' AND delta = -2", NULL) == 1);
    //  an unknown store: 404, nothing held; a store_id is no location id
    //  (4 is the warehouse's)
    reply = s_service (state, "reservation.reserve",
        "{\"reservation_id\": \"it-1240-c\", \"store_id\": 99,"
        " \"lines\": [{\"product_id\": 1240, \"quantity\": 1}]}");
    testcall_expect (reply, 404);
    assert (streq (testcall_code (reply), "not_found"));
    envelope_destroy (&reply);
    assert (s_number ("SELECT count (*) FROM reservations WHERE id = 'it-1240-c'", NULL) == 0);
    reply = s_service (state, "reservation.reserve",
        "{\"reservation_id\": \"it-1240-c\", \"store_id\": 4,"
        " \"lines\": [{\"product_id\": 1240, \"quantity\": 1}]}");
    testcall_expect (reply, 404);
    envelope_destroy (&reply);
    //  store_id and location_id both, or a store_id that is no id: 400
    const char *bad [] = {
        "{\"reservation_id\": \"it-1240-d\", \"store_id\": 2, \"location_id\": 2,"
        " \"lines\": [{\"product_id\": 1240, \"quantity\": 1}]}",
        "{\"reservation_id\": \"it-1240-d\", \"store_id\": 0,"
        " \"lines\": [{\"product_id\": 1240, \"quantity\": 1}]}",
        "{\"reservation_id\": \"it-1240-d\", \"store_id\": \"2\","
        " \"lines\": [{\"product_id\": 1240, \"quantity\": 1}]}"
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        reply = s_service (state, "reservation.reserve", bad [i]);
        testcall_expect (reply, 400);
        assert (streq (testcall_code (reply), "validation_failed"));
        envelope_destroy (&reply);
    }
    assert (s_level (1240, 2, "reserved") == 0);
    assert (s_journal_consistent (1240, 1249));
    s_state_free (&state);
}

//  --------------------------------------------------------------------------
//  The point of sale's verbs (pos_stock_verbs): store 1 is location 1,
//  store 2 location 2.

static void
test_pos_sell_takes_all_lines_or_none (bool verbose)
{
    (void) verbose;
    void *state = s_state (S_ACTOR_PLAIN);
    assert (s_adjust (state, 1200, 1, 10, "receipt") == 201);
    assert (s_adjust (state, 1201, 1, 2, "receipt") == 201);
    //  1202 was never received at the store
    envelope_t *reply = s_sales (state, "stock.sell",
        "{\"sale_ref\": \"S01-it-1200\", \"store_id\": 1, \"lines\": [{\"product_id\": 1202, \"quantity\": 1},"
        " {\"product_id\": 1200, \"quantity\": 3}, {\"product_id\": 1201, \"quantity\": 5}]}");
    testcall_expect (reply, 409);
    assert (streq (testcall_code (reply), "out_of_stock"));
    json_t *details = json_object_get (reply->error, "details");
    assert (json_array_size (details) == 2);
    assert (s_int (json_array_get (details, 0), "product_id") == 1201);
    assert (s_int (json_array_get (details, 0), "requested") == 5);
    assert (s_int (json_array_get (details, 0), "available") == 2);
    assert (s_int (json_array_get (details, 1), "product_id") == 1202);
    assert (s_int (json_array_get (details, 1), "available") == 0);
    envelope_destroy (&reply);
    //  nothing taken, nothing remembered, no movement, no event
    assert (s_level (1200, 1, "on_hand") == 10 && s_level (1201, 1, "on_hand") == 2);
    assert (s_number ("SELECT count (*) FROM pos_stock_ops WHERE ref = 'S01-it-1200'", NULL) == 0);
    assert (s_number ("SELECT count (*) FROM movements WHERE reference = 'S01-it-1200'", NULL) == 0);
    assert (s_number ("SELECT count (*) FROM outbox WHERE payload->>'reference' = 'S01-it-1200'", NULL) == 0);

    //  all there: every line leaves the store's shelf; a product scanned
    //  twice is one line
    const char *sale = "{\"sale_ref\": \"S01-it-1200\", \"store_id\": 1, \"lines\": ["
        "{\"product_id\": 1201, \"quantity\": 2}, {\"product_id\": 1200, \"quantity\": 2},"
        " {\"product_id\": 1200, \"quantity\": 1}]}";
    reply = s_sales (state, "stock.sell", sale);
    testcall_expect (reply, 200);
    assert (streq (s_str (reply->body, "sale_ref"), "S01-it-1200"));
    assert (streq (s_str (reply->body, "status"), "taken"));
    assert (s_int (reply->body, "store_id") == 1 && s_int (reply->body, "location_id") == 1);
    assert (json_is_false (json_object_get (reply->body, "replayed")));
    json_t *lines = json_object_get (reply->body, "lines");
    assert (json_array_size (lines) == 2);
    assert (s_int (json_array_get (lines, 0), "product_id") == 1200);
    assert (s_int (json_array_get (lines, 0), "quantity") == 3);
    assert (s_int (json_array_get (lines, 1), "quantity") == 2);
    envelope_destroy (&reply);
    assert (s_level (1200, 1, "on_hand") == 7 && s_level (1201, 1, "available") == 0);
    assert (s_number ("SELECT count (*) FROM movements WHERE cause = 'sale'"
                      " AND reference = 'S01-it-1200' AND location_id = 1", NULL) == 2);
    assert (s_number ("SELECT count (*) FROM outbox WHERE topic = 'stock.changed'"
                      " AND payload->>'cause' = 'sale' AND payload->>'reference' = 'S01-it-1200'", NULL) == 2);
    //  1201 is out now: stock.low says so, in the same transaction
    assert (s_number ("SELECT count (*) FROM outbox WHERE topic = 'stock.low'"
                      " AND (payload->>'product_id')::bigint = 1201 AND payload->>'level' = 'out'", NULL) == 1);

    //  the same sale again: what was taken, taken once
    reply = s_sales (state, "stock.sell", sale);
    testcall_expect (reply, 200);
    assert (json_is_true (json_object_get (reply->body, "replayed")));
    assert (json_array_size (json_object_get (reply->body, "lines")) == 2);
    envelope_destroy (&reply);
    assert (s_level (1200, 1, "on_hand") == 7);
    assert (s_number ("SELECT count (*) FROM movements WHERE reference = 'S01-it-1200'", NULL) == 2);
    //  its sale_ref for other lines, or at another store: the caller's bug
    reply = s_sales (state, "stock.sell",
        "{\"sale_ref\": \"S01-it-1200\", \"store_id\": 1, \"lines\": [{\"product_id\": 1200, \"quantity\": 1}]}");
    testcall_expect (reply, 409);
    assert (streq (testcall_code (reply), "conflict"));
    envelope_destroy (&reply);
    reply = s_sales (state, "stock.sell",
        "{\"sale_ref\": \"S01-it-1200\", \"store_id\": 2, \"lines\": [{\"product_id\": 1200, \"quantity\": 3},"
        " {\"product_id\": 1201, \"quantity\": 2}]}");
    testcall_expect (reply, 409);
    envelope_destroy (&reply);
    assert (s_level (1200, 1, "on_hand") == 7);
    assert (s_journal_consistent (1200, 1209));
    s_state_free (&state);
}

//  --------------------------------------------------------------------------

static void
test_pos_undo_and_return_give_back_once (bool verbose)
{
    (void) verbose;
    void *state = s_state (S_ACTOR_PLAIN);
    assert (s_adjust (state, 1210, 2, 5, "receipt") == 201);
    envelope_t *reply = s_sales (state, "stock.sell",
        "{\"sale_ref\": \"S02-it-1210\", \"store_id\": 2, \"lines\": [{\"product_id\": 1210, \"quantity\": 4}]}");
    testcall_expect (reply, 200);
    envelope_destroy (&reply);
    assert (s_level (1210, 2, "on_hand") == 1);

    //  undo: what the sale took comes back, once
    for (int i = 0; i < 2; i++) {
        reply = s_sales (state, "stock.sell_undo", "{\"sale_ref\": \"S02-it-1210\"}");
        testcall_expect (reply, 200);
        assert (streq (s_str (reply->body, "status"), "voided"));
        assert (json_is_boolean (json_object_get (reply->body, "replayed")));
        assert (json_is_true (json_object_get (reply->body, "replayed")) == (i == 1));
        json_t *lines = json_object_get (reply->body, "lines");
        assert (json_array_size (lines) == 1 && s_int (json_array_get (lines, 0), "quantity") == 4);
        envelope_destroy (&reply);
    }
    assert (s_level (1210, 2, "on_hand") == 5);
    assert (s_number ("SELECT count (*) FROM movements WHERE cause = 'return'"
                      " AND reference = 'void:S02-it-1210' AND delta = 4", NULL) == 1);
    //  a voided sale is not taken again
    reply = s_sales (state, "stock.sell",
        "{\"sale_ref\": \"S02-it-1210\", \"store_id\": 2, \"lines\": [{\"product_id\": 1210, \"quantity\": 4}]}");
    testcall_expect (reply, 409);
    assert (streq (testcall_code (reply), "invalid_state"));
    envelope_destroy (&reply);
    assert (s_level (1210, 2, "on_hand") == 5);

    //  an undo before its sale: 200, nothing given back, and the late sale takes nothing
    reply = s_sales (state, "stock.sell_undo", "{\"sale_ref\": \"S02-it-1211\"}");
    testcall_expect (reply, 200);
    assert (json_array_size (json_object_get (reply->body, "lines")) == 0);
    assert (json_is_null (json_object_get (reply->body, "store_id")));
    envelope_destroy (&reply);
    reply = s_sales (state, "stock.sell",
        "{\"sale_ref\": \"S02-it-1211\", \"store_id\": 2, \"lines\": [{\"product_id\": 1210, \"quantity\": 1}]}");
    testcall_expect (reply, 409);
    envelope_destroy (&reply);
    assert (s_level (1210, 2, "on_hand") == 5);

    //  a return: the goods come back to the shelf, once; a product the
    //  store never had gets its row
    const char *giving = "{\"return_ref\": \"R02-it-1210\", \"store_id\": 2, \"lines\": ["
        "{\"product_id\": 1210, \"quantity\": 2}, {\"product_id\": 1211, \"quantity\": 1}]}";
    for (int i = 0; i < 2; i++) {
        reply = s_sales (state, "stock.return", giving);
        testcall_expect (reply, 200);
        assert (streq (s_str (reply->body, "return_ref"), "R02-it-1210"));
        assert (streq (s_str (reply->body, "status"), "returned"));
        assert (json_is_true (json_object_get (reply->body, "replayed")) == (i == 1));
        envelope_destroy (&reply);
    }
    assert (s_level (1210, 2, "on_hand") == 7 && s_level (1211, 2, "on_hand") == 1);
    assert (s_number ("SELECT count (*) FROM movements WHERE cause = 'return'"
                      " AND reference = 'R02-it-1210'", NULL) == 2);
    reply = s_sales (state, "stock.return",
        "{\"return_ref\": \"R02-it-1210\", \"store_id\": 2, \"lines\": [{\"product_id\": 1210, \"quantity\": 3}]}");
    testcall_expect (reply, 409);
    assert (streq (testcall_code (reply), "conflict"));
    envelope_destroy (&reply);
    //  a return may carry a sale's ref: they are named apart
    reply = s_sales (state, "stock.return",
        "{\"return_ref\": \"S02-it-1210\", \"store_id\": 2, \"lines\": [{\"product_id\": 1210, \"quantity\": 1}]}");
    testcall_expect (reply, 200);
    envelope_destroy (&reply);
    assert (s_level (1210, 2, "on_hand") == 8);
    //  the journal sums to the levels; sales, undos and returns add up
    assert (s_journal_consistent (1210, 1219));
    assert (s_number ("SELECT sum (delta) FROM movements WHERE product_id = 1210 AND location_id = 2"
                      " AND cause IN ('sale', 'return')", NULL) == 3);
    s_state_free (&state);
}

//  --------------------------------------------------------------------------

static void
test_pos_stock_checks_caller_and_input (bool verbose)
{
    (void) verbose;
    void *state = s_state (S_ACTOR_PLAIN);
    assert (s_adjust (state, 1220, 3, 5, "receipt") == 201);
    const char *sale = "{\"sale_ref\": \"S03-it-1220\", \"store_id\": 3, \"lines\": [{\"product_id\": 1220, \"quantity\": 1}]}";
    //  only services: nobody, a customer, staff, another consumer
    envelope_t *reply = s_call_as (state, "stock.sell", NULL, 0, NULL, NULL, sale);
    testcall_expect (reply, 401);
    envelope_destroy (&reply);
    const char *roles [] = { "customer", "cashier", "manager", "admin" };
    for (size_t i = 0; i < sizeof roles / sizeof roles [0]; i++) {
        reply = s_call_as (state, "stock.sell", roles [i], 3, "sales", NULL, sale);
        testcall_expect (reply, 403);
        envelope_destroy (&reply);
    }
    reply = s_call_as (state, "stock.return", "service", 0, "cart", NULL,
        "{\"return_ref\": \"R03-it-1220\", \"store_id\": 3, \"lines\": [{\"product_id\": 1220, \"quantity\": 1}]}");
    testcall_expect (reply, 403);
    envelope_destroy (&reply);
    reply = s_call_as (state, "stock.sell_undo", "cashier", 3, "sales", NULL, "{\"sale_ref\": \"S03-it-1220\"}");
    testcall_expect (reply, 403);
    envelope_destroy (&reply);
    assert (s_level (1220, 3, "on_hand") == 5);

    //  a store without a store location: 404 (4 is the warehouse, 99 nothing)
    reply = s_sales (state, "stock.sell",
        "{\"sale_ref\": \"S04-it-1220\", \"store_id\": 4, \"lines\": [{\"product_id\": 1220, \"quantity\": 1}]}");
    testcall_expect (reply, 404);
    assert (streq (testcall_code (reply), "not_found"));
    envelope_destroy (&reply);
    reply = s_sales (state, "stock.return",
        "{\"return_ref\": \"R99-it-1220\", \"store_id\": 99, \"lines\": [{\"product_id\": 1220, \"quantity\": 1}]}");
    testcall_expect (reply, 404);
    envelope_destroy (&reply);

    //  bad input: 400 validation_failed, with the field named
    struct {
        const char *verb, *data, *field;
    } bad [] = {
        { "stock.sell", "[1]", "body" },
        { "stock.sell", "{\"store_id\": 3, \"lines\": [{\"product_id\": 1220, \"quantity\": 1}]}", "sale_ref" },
        { "stock.sell", "{\"sale_ref\": \"a b\", \"store_id\": 3, \"lines\": [{\"product_id\": 1220, \"quantity\": 1}]}", "sale_ref" },
        { "stock.sell", "{\"sale_ref\": \"x\", \"store_id\": 0, \"lines\": [{\"product_id\": 1220, \"quantity\": 1}]}", "store_id" },
        { "stock.sell", "{\"sale_ref\": \"x\", \"store_id\": \"3\", \"lines\": [{\"product_id\": 1220, \"quantity\": 1}]}", "store_id" },
        { "stock.sell", "{\"sale_ref\": \"x\", \"store_id\": 3, \"lines\": []}", "lines" },
        { "stock.sell", "{\"sale_ref\": \"x\", \"store_id\": 3, \"lines\": {}}", "lines" },
        { "stock.sell", "{\"sale_ref\": \"x\", \"store_id\": 3, \"lines\": [{\"product_id\": 1220, \"quantity\": 0}]}", "lines[0].quantity" },
        { "stock.sell", "{\"sale_ref\": \"x\", \"store_id\": 3, \"lines\": [{\"product_id\": 1220, \"quantity\": 100001}]}", "lines[0].quantity" },
        { "stock.sell", "{\"sale_ref\": \"x\", \"store_id\": 3, \"lines\": [{\"product_id\": 1220, \"quantity\": 1.0}]}", "lines[0].quantity" },
        { "stock.sell", "{\"sale_ref\": \"x\", \"store_id\": 3, \"lines\": [{\"product_id\": -1, \"quantity\": 1}]}", "lines[0].product_id" },
        { "stock.sell", "{\"sale_ref\": \"x\", \"store_id\": 3, \"lines\": [{\"product_id\": 1220, \"quantity\": 1, \"price\": 5}]}", "lines[0].price" },
        { "stock.sell", "{\"sale_ref\": \"x\", \"store_id\": 3, \"lines\": [7]}", "lines[0]" },
        { "stock.sell", "{\"sale_ref\": \"x\", \"store_id\": 3, \"lines\": [{\"product_id\": 1220, \"quantity\": 1}], \"location_id\": 3}", "location_id" },
        { "stock.return", "{\"sale_ref\": \"x\", \"store_id\": 3, \"lines\": [{\"product_id\": 1220, \"quantity\": 1}]}", "return_ref" },
        { "stock.sell_undo", "{\"sale_ref\": \"x\", \"store_id\": 3}", "store_id" },
        { "stock.sell_undo", "{\"sale_ref\": 12}", "sale_ref" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        reply = s_sales (state, bad [i].verb, bad [i].data);
        testcall_expect (reply, 400);
        assert (streq (testcall_code (reply), "validation_failed"));
        json_t *details = json_object_get (reply->error, "details");
        bool named = false;
        for (size_t d = 0; d < json_array_size (details); d++)
            named |= streq (s_str (json_array_get (details, d), "field"), bad [i].field);
        if (!named)
            printf ("case %zu: no detail for %s\n", i, bad [i].field);
        assert (named);
        envelope_destroy (&reply);
    }
    //  101 lines
    json_t *many = json_pack ("{s:s, s:i, s:[]}", "sale_ref", "x", "store_id", 3, "lines");
    for (int i = 0; i < 101; i++)
        json_array_append_new (json_object_get (many, "lines"),
                               json_pack ("{s:i, s:i}", "product_id", 1 + i, "quantity", 1));
    char *text = json_dumps (many, 0);
    reply = s_sales (state, "stock.sell", text);
    testcall_expect (reply, 400);
    envelope_destroy (&reply);
    free (text);
    json_decref (many);
    assert (s_level (1220, 3, "on_hand") == 5);
    assert (s_number ("SELECT count (*) FROM pos_stock_ops WHERE ref = 'x'", NULL) == 0);
    s_state_free (&state);
}

//  --------------------------------------------------------------------------
//  Thirty registers sell the last ten units of two products at once, each
//  listing the two in its own order, and five retries of one sale race
//  them: never below zero, no deadlock, the retried sale taken once.

#define S_SELLERS 30

static void
test_pos_concurrent_sales_never_oversell (bool verbose)
{
    void *state = s_state (S_ACTOR_PLAIN);
    assert (s_adjust (state, 1230, 1, 12, "receipt") == 201);
    assert (s_adjust (state, 1231, 1, 12, "receipt") == 201);
    s_state_free (&state);
    pid_t children [S_SELLERS + 5];
    for (int i = 0; i < S_SELLERS + 5; i++) {
        children [i] = fork ();
        assert (children [i] >= 0);
        if (children [i] == 0) {
            void *mine = s_state (S_ACTOR_PLAIN);
            char data [240];
            if (i < S_SELLERS)
                snprintf (data, sizeof data, "{\"sale_ref\": \"race-sale-%d\", \"store_id\": 1, \"lines\": ["
                          "{\"product_id\": %d, \"quantity\": 1}, {\"product_id\": %d, \"quantity\": 1}]}",
                          i, i % 2 ? 1230 : 1231, i % 2 ? 1231 : 1230);
            else
                snprintf (data, sizeof data, "{\"sale_ref\": \"race-sale-twice\", \"store_id\": 1, \"lines\": ["
                          "{\"product_id\": 1230, \"quantity\": 2}, {\"product_id\": 1231, \"quantity\": 2}]}");
            envelope_t *reply = s_sales (mine, "stock.sell", data);
            int code = reply->status == 200 ? 0
                     : reply->status == 409 && streq (testcall_code (reply), "out_of_stock") ? 1 : 2;
            if (code == 2)
                printf ("seller %d: %d %s\n", i, reply->status, testcall_code (reply));
            envelope_destroy (&reply);
            s_state_free (&mine);
            _exit (code);
        }
    }
    int won = 0, lost = 0, broken = 0, twice_won = 0;
    for (int i = 0; i < S_SELLERS + 5; i++) {
        int status = 0;
        assert (waitpid (children [i], &status, 0) == children [i]);
        int code = WIFEXITED (status) ? WEXITSTATUS (status) : 9;
        if (i >= S_SELLERS)
            twice_won += code == 0;
        else
        if (code == 0)
            won++;
        else
        if (code == 1)
            lost++;
        broken += code > 1;
    }
    //  the retried sale either took its 2 + 2 (every retry then answers 200) or none did
    assert (twice_won == 0 || twice_won == 5);
    int taken = won + (twice_won ? 2 : 0);
    if (verbose || taken != 12 || broken)
        printf ("pos race: %d won, %d out of stock, %d broken, retried sale %s\n",
                won, lost, broken, twice_won ? "taken" : "refused");
    assert (broken == 0 && won + lost == S_SELLERS);
    assert (taken == 12);
    assert (s_level (1230, 1, "on_hand") == 0 && s_level (1231, 1, "on_hand") == 0);
    assert (s_number ("SELECT count (*) FROM movements WHERE reference = 'race-sale-twice'", NULL)
            == (twice_won ? 2 : 0));
    assert (s_journal_consistent (1230, 1239));
}

//  --------------------------------------------------------------------------

static void
test_seed_stock_matches_its_journal (bool verbose)
{
    (void) verbose;
    //  56 products at 5 locations, some low, one out, all from movements
    assert (s_number ("SELECT count (*) FROM stock WHERE product_id <= 56", NULL) == 280);
    assert (s_number ("SELECT count (*) FROM stock WHERE product_id <= 56 AND available = 0", NULL) >= 1);
    assert (s_number ("SELECT count (*) FROM stock WHERE product_id <= 56"
                      " AND available <= alert_threshold", NULL) >= 5);
    assert (s_number ("SELECT max (on_hand) FROM stock WHERE product_id <= 56", NULL) <= 200);
    assert (s_journal_consistent (1, 56));
    assert (s_number ("SELECT count (*) FROM locations WHERE store_id = id AND type = 'store'", NULL) == 3);
}

//  --------------------------------------------------------------------------
//  The live workers through the real broker (the test environment's, when
//  COMPTOIR_TEST_BROKER is set): the process started by the supervisor
//  serves the "inventory" service with the seeded database.

static envelope_t *
s_broker_call (mdp_client_t *client, const char *verb, const char *role, int64_t store_id,
               const char *consumer, json_t *params, json_t *data)
{
    envelope_t *request = envelope_new_request (verb);
    assert (request);
    envelope_set_str (&request->role, role);
    envelope_set_str (&request->sub, "it-broker");
    envelope_set_str (&request->consumer, consumer);
    envelope_set_str (&request->rid, "inventory-it-broker");
    request->store_id = store_id;
    request->body = json_object ();
    json_object_set_new (request->body, "params", params ? params : json_object ());
    if (data)
        json_object_set_new (request->body, "data", data);
    envelope_t *reply = mdp_client_call (client, "inventory", &request);
    assert (reply);
    return reply;
}

static void
test_live_workers_answer_through_the_broker (bool verbose)
{
    (void) verbose;
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
    mdp_client_set_timeout (client, 5000);
    zcert_destroy (&cert);
    free (server_key);

    envelope_t *reply = s_broker_call (client, "location.list", NULL, 0, "demo", NULL, NULL);
    testcall_expect (reply, 200);
    assert (json_array_size (json_object_get (reply->body, "data")) == 5);
    envelope_destroy (&reply);
    reply = s_broker_call (client, "stock.get", "cashier", 1, "demo",
                           json_pack ("{s:s}", "product_id", "1"), NULL);
    testcall_expect (reply, 200);
    assert (json_array_size (json_object_get (reply->body, "data")) == 5);
    envelope_destroy (&reply);

    //  checkout's verbs, as the order context calls them
    char id [64];
    snprintf (id, sizeof id, "it-broker-%d", (int) getpid ());
    reply = s_broker_call (client, "reservation.reserve", "service", 0, "order", NULL,
                           json_pack ("{s:s, s:[{s:i, s:i}]}", "reservation_id", id,
                                      "lines", "product_id", 1, "quantity", 1));
    testcall_expect (reply, 201);
    assert (s_int (reply->body, "location_id") == 5);
    envelope_destroy (&reply);
    reply = s_broker_call (client, "reservation.release", "service", 0, "order", NULL,
                           json_pack ("{s:s}", "reservation_id", id));
    testcall_expect (reply, 200);
    assert (streq (s_str (reply->body, "status"), "released"));
    envelope_destroy (&reply);
    //  an HTTP caller's role never reaches them
    reply = s_broker_call (client, "reservation.release", "customer", 0, "demo", NULL,
                           json_pack ("{s:s}", "reservation_id", id));
    testcall_expect (reply, 403);
    envelope_destroy (&reply);
    //  the point of sale's verbs are served too (an undo of a sale never made)
    reply = s_broker_call (client, "stock.sell_undo", "service", 0, "sales", NULL,
                           json_pack ("{s:s}", "sale_ref", id));
    testcall_expect (reply, 200);
    assert (streq (s_str (reply->body, "status"), "voided"));
    envelope_destroy (&reply);
    mdp_client_destroy (&client);
}

//  --------------------------------------------------------------------------

static void
test_input_selftest (bool verbose)
{
    inventory_input_test (verbose);
}

static testrunner_case_t s_cases [] = {
    { "inventory_input_selftest", test_input_selftest },
    { "inventory_seed_stock_matches_its_journal", test_seed_stock_matches_its_journal },
    { "inventory_adjustments_move_stock_and_never_below_zero", test_adjustments_move_stock_and_never_below_zero },
    { "inventory_adjustments_check_input_roles_and_store", test_adjustments_check_input_roles_and_store },
    { "inventory_alerts_say_low_and_out", test_alerts_say_low_and_out },
    { "inventory_transfer_workflow", test_transfer_workflow },
    { "inventory_transfer_create_is_idempotent_by_key", test_transfer_create_is_idempotent_by_key },
    { "inventory_reserve_takes_all_lines_or_none", test_reserve_takes_all_lines_or_none },
    { "inventory_reservations_commit_release_and_restock_once", test_reservations_commit_release_and_restock_once },
    { "inventory_forgotten_reservation_expires_by_itself", test_forgotten_reservation_expires_by_itself },
    { "inventory_oversell_race_exactly_the_stock_is_reserved", test_oversell_race_exactly_the_stock_is_reserved },
    { "inventory_concurrent_retries_of_one_reserve_hold_once", test_concurrent_retries_of_one_reserve_hold_once },
    { "inventory_outbox_rows_come_and_go_with_the_change", test_outbox_rows_come_and_go_with_the_change },
    { "inventory_reserve_by_store_id_holds_the_store_units", test_reserve_by_store_id_holds_the_store_units },
    { "inventory_pos_sell_takes_all_lines_or_none", test_pos_sell_takes_all_lines_or_none },
    { "inventory_pos_undo_and_return_give_back_once", test_pos_undo_and_return_give_back_once },
    { "inventory_pos_stock_checks_caller_and_input", test_pos_stock_checks_caller_and_input },
    { "inventory_pos_concurrent_sales_never_oversell", test_pos_concurrent_sales_never_oversell },
    { NULL, NULL },         //  room for the live case
    { NULL, NULL }
};

//  --------------------------------------------------------------------------

static int
s_apply_seed (const char *path)
{
    zfile_t *file = zfile_new (NULL, path);
    if (!file || zfile_input (file)) {
        zfile_destroy (&file);
        return -1;
    }
    zchunk_t *chunk = zfile_read (file, (size_t) zfile_cursize (file), 0);
    char *sql = chunk ? zchunk_strdup (chunk) : NULL;
    pgdb_t *db = pgdb_new (s_db);
    int rc = sql && db ? pgdb_run (db, sql) : -1;
    if (rc)
        fprintf (stderr, "inventory_it: seed failed: %s\n", db ? pgdb_error (db) : "");
    pgdb_destroy (&db);
    zstr_free (&sql);
    zchunk_destroy (&chunk);
    zfile_destroy (&file);
    return rc;
}

int
main (int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (streq (argv [i], "--list") || streq (argv [i], "-h") || streq (argv [i], "--help"))
            return testrunner_main (argc, argv, s_cases, 60);
    s_admin = getenv ("COMPTOIR_TEST_PG_ADMIN");
    if (!s_admin || !*s_admin) {
        printf ("SKIP: inventory_it (COMPTOIR_TEST_PG_ADMIN is not set; scripts/testenv.sh sets it)\n");
        return 77;
    }
    s_run_id = (int) getpid ();
    //  With a test environment, the live workers too.
    const char *live = getenv ("COMPTOIR_TEST_BROKER");
    if (live && *live && getenv ("COMPTOIR_TEST_VAR")) {
        size_t count = sizeof s_cases / sizeof s_cases [0];
        s_cases [count - 2].name = "inventory_live_workers_answer_through_the_broker";
        s_cases [count - 2].fn = test_live_workers_answer_through_the_broker;
    }
    logline_init ("inventory_it", -1);
    const char *srcdir = getenv ("srcdir");
    char *sql_dir = zsys_sprintf ("%s/sql/inventory", srcdir && *srcdir ? srcdir : ".");
    char *seed = zsys_sprintf ("%s/seed.sql", sql_dir);

    char name [64], sql [160];
    snprintf (name, sizeof name, "comptoir_it_%d_stock", s_run_id);
    snprintf (sql, sizeof sql, "DROP DATABASE IF EXISTS %s", name);
    testdb_admin_run (s_admin, sql);
    snprintf (sql, sizeof sql, "CREATE DATABASE %s", name);
    if (testdb_admin_run (s_admin, sql))
        return 1;
    s_db = testdb_conninfo (s_admin, name);
    assert (s_db);
    setenv ("COMPTOIR_POSTGRES_INVENTORY", s_db, 1);
    setenv ("COMPTOIR_INVENTORY_MIGRATIONS", sql_dir, 1);
    setenv ("COMPTOIR_INVENTORY_RESERVATION_SWEEP_MS", "60000", 1);

    //  The schema through the context's own start-up, then the demo seed
    int rc = 1;
    settings_t *settings = settings_load (NULL);
    void *state = settings ? inventory_context_def.make_state (settings, 1, S_ACTOR_PLAIN) : NULL;
    if (state && s_apply_seed (seed) == 0) {
        inventory_context_def.free_state (&state);
        rc = testrunner_main (argc, argv, s_cases, 60);
    }
    else
        fprintf (stderr, "inventory_it: the inventory database could not be prepared\n");
    if (state)
        inventory_context_def.free_state (&state);
    settings_destroy (&settings);
    snprintf (sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
    testdb_admin_run (s_admin, sql);
    free (s_db);
    zstr_free (&sql_dir);
    zstr_free (&seed);
    return rc;
}
