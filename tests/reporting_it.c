/*  =========================================================================
    reporting_it - the reporting context against a real PostgreSQL and a
    real event bus

    Needs COMPTOIR_TEST_PG_ADMIN (the conninfo of an admin database of the
    test cluster); without it the suite exits 77 (skipped). The run makes
    its own scratch database (comptoir_it_<pid>_reporting), migrated
    through the context's own start-up, and drops it at the end.

    Every case builds its world in its own child process: a keys folder
    with the reporting-1 certificate admitted by a ZAP handler, and a
    "producers" actor that owns one CURVE eventbus publisher per producer
    (order, inventory, product; sales only when the case starts it, to show
    the feed waits for a relay that does not exist yet) and answers their
    replays from an in-memory log, with holes in the seqs as a rolled-back
    bigserial leaves them. The reporting state is the real one
    (reporting_context_def.make_state, instance 1, actor 1): its event feed
    follows those publishers, and the report verbs are dispatched through
    the context's own table. Payloads are exactly the contract's
    (contract-pos.md); the expected figures are written out by hand.
    =========================================================================
*/
#include "testrunner.h"
#include "testcall.h"
#include "testdb.h"

#include "actor.h"
#include "curvekeys.h"
#include "eventbus.h"
#include "logline.h"
#include "pgdb.h"
#include "report_verbs.h"
#include "reporting_context.h"
#include "reporting_feed.h"
#include "settings.h"
#include "sidemetrics.h"

#include <czmq.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define S_LOG_MAX    1024
#define S_PRODUCERS  4

static char *s_admin;
static char *s_db;

//  ==========================================================================
//  The producers: one actor, four publishers, their logs

typedef struct {
    int64_t seq;
    int64_t prev;
    char *topic;
    json_t *payload;
    int64_t at;
} s_event_t;

typedef struct {
    const char *name;
    char publish [64];
    char replay [64];
    eventbus_publisher_t *publisher;
    s_event_t log [S_LOG_MAX];
    size_t count;
} s_producer_t;

typedef struct {
    char keys [64];
    s_producer_t producers [S_PRODUCERS];
    zcert_t *sales_cert;        //  its public file is written by START
    char sales_key [48];
} s_bus_t;

static const char *s_names [S_PRODUCERS] = { "order", "inventory", "product", "sales" };

static s_producer_t *
s_producer (s_bus_t *bus, const char *name)
{
    for (int i = 0; i < S_PRODUCERS; i++)
        if (streq (bus->producers [i].name, name))
            return &bus->producers [i];
    assert (false);
    return NULL;
}

static int
s_replay (int64_t from, size_t max, json_t *events, bool *more, void *arg)
{
    s_producer_t *producer = (s_producer_t *) arg;
    for (size_t i = 0; i < producer->count; i++) {
        s_event_t *event = &producer->log [i];
        if (event->seq < from)
            continue;
        if (json_array_size (events) == max) {
            *more = true;
            break;
        }
        json_array_append_new (events, json_pack ("{s:I, s:I, s:s, s:O, s:I}", "seq", (json_int_t) event->seq,
                                                  "prev", (json_int_t) event->prev, "topic", event->topic,
                                                  "payload", event->payload, "at", (json_int_t) event->at));
    }
    return 0;
}

static int
s_on_replay (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop; (void) reader;
    s_producer_t *producer = (s_producer_t *) arg;
    return eventbus_publisher_serve_replay (producer->publisher, s_replay, producer);
}

//  Bind the publisher of a producer on a port of its own. The sales
//  producer's public key is written only when the case starts it: until
//  then the feed finds no <producer>-events key, as before a relay's first
//  start.
static void
s_bus_start (s_bus_t *bus, zloop_t *loop, s_producer_t *producer)
{
    char name [64];
    snprintf (name, sizeof name, "%s-events", producer->name);
    zcert_t *cert = streq (producer->name, "sales") ? zcert_new () : curvekeys_ensure (bus->keys, name, false);
    assert (cert);
    producer->publisher = eventbus_publisher_new_secure (producer->name, "tcp://127.0.0.1:*",
                                                         "tcp://127.0.0.1:*", cert);
    assert (producer->publisher);
    snprintf (producer->publish, sizeof producer->publish, "%s",
              eventbus_publisher_endpoint (producer->publisher, false));
    snprintf (producer->replay, sizeof producer->replay, "%s",
              eventbus_publisher_endpoint (producer->publisher, true));
    if (streq (producer->name, "sales")) {
        snprintf (bus->sales_key, sizeof bus->sales_key, "%s", zcert_public_txt (cert));
        bus->sales_cert = cert;
    }
    else
        zcert_destroy (&cert);
    assert (zloop_reader (loop, eventbus_publisher_replay_sock (producer->publisher),
                          s_on_replay, producer) == 0);
}

static int
s_bus_init (zloop_t *loop, zsock_t *pipe, void *args, void **state_p)
{
    (void) pipe;
    s_bus_t *bus = (s_bus_t *) args;
    for (int i = 0; i < S_PRODUCERS; i++)
        s_bus_start (bus, loop, &bus->producers [i]);
    *state_p = bus;
    return 0;
}

static void
s_bus_destroy (void **state_p)
{
    s_bus_t *bus = (s_bus_t *) *state_p;
    zcert_destroy (&bus->sales_cert);
    for (int i = 0; i < S_PRODUCERS; i++) {
        eventbus_publisher_destroy (&bus->producers [i].publisher);
        for (size_t e = 0; e < bus->producers [i].count; e++) {
            free (bus->producers [i].log [e].topic);
            json_decref (bus->producers [i].log [e].payload);
        }
    }
    *state_p = NULL;
}

//  Commands: "START name"; "EVENT name topic payload how" (how: "send",
//  or "keep": logged for replays but not sent, as an event the bus lost);
//  "AGAIN name seq": publish a logged event again (a duplicate). Answers
//  the seq (or 0).
static zloop_t *s_bus_loop;

static int
s_bus_command (zmsg_t *msg, zsock_t *pipe, void *state)
{
    s_bus_t *bus = (s_bus_t *) state;
    char *command = zmsg_popstr (msg);
    char *name = zmsg_popstr (msg);
    s_producer_t *producer = s_producer (bus, name);
    int64_t answer = 0;
    if (streq (command, "START")) {
        char path [128];
        snprintf (path, sizeof path, "%s/%s-events", bus->keys, producer->name);
        assert (zcert_save_public (bus->sales_cert, path) == 0);
    }
    else
    if (streq (command, "EVENT")) {
        char *topic = zmsg_popstr (msg);
        char *payload = zmsg_popstr (msg);
        char *how = zmsg_popstr (msg);
        assert (producer->count < S_LOG_MAX);
        s_event_t *event = &producer->log [producer->count];
        event->prev = producer->count ? producer->log [producer->count - 1].seq : 0;
        //  every fourth seq skipped: a rolled-back transaction's hole
        event->seq = event->prev + (producer->count % 4 == 3 ? 2 : 1);
        event->topic = strdup (topic);
        event->payload = json_loads (payload, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        assert (event->payload);
        event->at = zclock_time ();
        producer->count++;
        if (streq (how, "send"))
            assert (eventbus_publisher_send (producer->publisher, event->seq, event->prev, event->topic,
                                             event->payload, event->at) == 0);
        answer = event->seq;
        free (topic);
        free (payload);
        free (how);
    }
    else
    if (streq (command, "AGAIN")) {
        char *seq = zmsg_popstr (msg);
        for (size_t i = 0; i < producer->count; i++)
            if (producer->log [i].seq == atoll (seq)) {
                s_event_t *event = &producer->log [i];
                assert (eventbus_publisher_send (producer->publisher, event->seq, event->prev, event->topic,
                                                 event->payload, event->at) == 0);
                answer = event->seq;
            }
        free (seq);
    }
    zstr_sendf (pipe, "%" PRId64, answer);
    free (command);
    free (name);
    return 0;
}

static int
s_bus_init_loop (zloop_t *loop, zsock_t *pipe, void *args, void **state_p)
{
    s_bus_loop = loop;
    return s_bus_init (loop, pipe, args, state_p);
}

//  ==========================================================================
//  The world of one case

typedef struct {
    s_bus_t bus;
    actor_t *producers;
    zactor_t *auth;
    void *state;                //  the reporting actor's state (its feed runs)
    pgdb_t *db;                 //  the test's own connection
    zsock_t *metrics;           //  what the feed pushes (SIDEMETRICS_ENDPOINT)
} s_world_t;

static s_world_t *
s_world_new (void)
{
    s_world_t *world = (s_world_t *) zmalloc (sizeof (s_world_t));
    assert (world);
    snprintf (world->bus.keys, sizeof world->bus.keys, "/tmp/reporting_it_keys_%d", (int) getpid ());
    setenv ("COMPTOIR_KEYS_DIR", world->bus.keys, 1);
    //  The feed's certificate first: the ZAP handler reads allowed/ at start.
    zcert_t *cert = curvekeys_ensure (world->bus.keys, "reporting-1", true);
    assert (cert);
    zcert_destroy (&cert);
    char allowed [96];
    snprintf (allowed, sizeof allowed, "%s/allowed", world->bus.keys);
    world->auth = curvekeys_auth_new (allowed);
    assert (world->auth);
    for (int i = 0; i < S_PRODUCERS; i++)
        world->bus.producers [i].name = s_names [i];
    world->producers = actor_new ("producers", s_bus_init_loop, s_bus_command, s_bus_destroy, &world->bus);
    assert (world->producers);
    for (int i = 0; i < S_PRODUCERS; i++) {
        s_producer_t *producer = &world->bus.producers [i];
        char variable [64];
        snprintf (variable, sizeof variable, "COMPTOIR_%s_EVENTS_PUBLISH", producer->name);
        for (char *c = variable; *c; c++)
            *c = (char) toupper ((unsigned char) *c);
        setenv (variable, producer->publish, 1);
        snprintf (variable, sizeof variable, "COMPTOIR_%s_EVENTS_REPLAY", producer->name);
        for (char *c = variable; *c; c++)
            *c = (char) toupper ((unsigned char) *c);
        setenv (variable, producer->replay, 1);
    }
    world->db = pgdb_new (s_db);
    assert (world->db && reporting_feed_rebuild (world->db) == 0);
    assert (pgdb_run (world->db, "DELETE FROM locations") == 0);
    json_t *locations = json_loads (
        "[{\"id\": 1, \"name\": \"Montréal – Plateau\", \"type\": \"store\", \"store_id\": 1},"
        " {\"id\": 2, \"name\": \"Toronto – Queen West\", \"type\": \"store\", \"store_id\": 2},"
        " {\"id\": 3, \"name\": \"Vancouver – Robson\", \"type\": \"store\", \"store_id\": 3},"
        " {\"id\": 4, \"name\": \"Entrepôt Laval\", \"type\": \"warehouse\", \"store_id\": null},"
        " {\"id\": 5, \"name\": \"Web\", \"type\": \"web\"}]", 0, NULL);
    assert (reporting_feed_store_locations (world->db, locations) == 5);
    json_decref (locations);
    world->metrics = zsock_new_pull ("@" SIDEMETRICS_ENDPOINT);
    assert (world->metrics);
    settings_t *settings = settings_load (NULL);
    assert (settings);
    world->state = reporting_context_def.make_state (settings, 1, 1);
    assert (world->state);
    settings_destroy (&settings);
    return world;
}

static void
s_world_destroy (s_world_t **world_p)
{
    s_world_t *world = *world_p;
    reporting_context_def.free_state (&world->state);
    zsock_destroy (&world->metrics);
    actor_destroy (&world->producers);
    zactor_destroy (&world->auth);
    pgdb_destroy (&world->db);
    char command [128];
    snprintf (command, sizeof command, "rm -rf %s", world->bus.keys);
    if (system (command) != 0)
        fprintf (stderr, "reporting_it: %s failed\n", command);
    free (world);
    *world_p = NULL;
}

//  One event from producer; how "send" or "keep". Returns its seq.
static int64_t
s_event (s_world_t *world, const char *producer, const char *topic, const char *payload, const char *how)
{
    zstr_sendx (actor_sock (world->producers), "EVENT", producer, topic, payload, how, NULL);
    char *answer = zstr_recv (actor_sock (world->producers));
    int64_t seq = atoll (answer);
    free (answer);
    assert (seq > 0);
    return seq;
}

static void
s_command (s_world_t *world, const char *command, const char *producer, const char *arg)
{
    if (arg)
        zstr_sendx (actor_sock (world->producers), command, producer, arg, NULL);
    else
        zstr_sendx (actor_sock (world->producers), command, producer, NULL);
    char *answer = zstr_recv (actor_sock (world->producers));
    free (answer);
}

static int64_t
s_cursor (s_world_t *world, const char *producer)
{
    const char *params [] = { producer };
    char *value = testdb_value (world->db, "SELECT last_seq FROM feed_cursors WHERE producer = $1", 1, params);
    int64_t last = value ? atoll (value) : 0;
    free (value);
    return last;
}

//  Wait until producer's cursor reaches seq. Returns the milliseconds it took.
static int64_t
s_wait (s_world_t *world, const char *producer, int64_t seq, int64_t timeout_ms)
{
    int64_t start = zclock_mono ();
    while (s_cursor (world, producer) < seq) {
        if (zclock_mono () - start > timeout_ms) {
            fprintf (stderr, "%s: cursor %" PRId64 ", waited for %" PRId64 "\n", producer,
                     s_cursor (world, producer), seq);
            assert (false);
        }
        zclock_sleep (10);
    }
    return zclock_mono () - start;
}

//  "YYYY-MM-DDTHH:MM:SSZ" days_ago days before now.
static char *
s_at (int days_ago)
{
    time_t when = time (NULL) - (time_t) days_ago * 86400;
    struct tm tm;
    char text [32];
    strftime (text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", gmtime_r (&when, &tm));
    return strdup (text);
}

static char *
s_day (int days_ago)
{
    char *at = s_at (days_ago);
    at [10] = 0;
    return at;
}

//  A report's body (asserted 200), as role.
static json_t *
s_report (s_world_t *world, const char *verb, const char *params, const char *role, int status)
{
    envelope_t *request = testcall_request (verb, params, NULL);
    if (role)
        envelope_set_str (&request->role, role);
    envelope_t *reply = testcall_dispatch (&reporting_context_def, world->state, &request);
    testcall_expect (reply, status);
    json_t *body = status == 200 ? json_incref (reply->body) : json_incref (reply->error);
    envelope_destroy (&reply);
    return body;
}

static json_int_t
s_int (json_t *object, const char *key)
{
    json_t *value = json_object_get (object, key);
    if (!json_is_integer (value)) {
        char *text = json_dumps (object, 0);
        fprintf (stderr, "%s is not an integer in %s\n", key, text);
        free (text);
        assert (false);
    }
    return json_integer_value (value);
}

//  The row of data whose key is key.
static json_t *
s_row (json_t *body, const char *key)
{
    size_t index;
    json_t *row;
    json_array_foreach (json_object_get (body, "data"), index, row)
        if (streq (json_string_value (json_object_get (row, "key")), key))
            return row;
    char *text = json_dumps (body, 0);
    fprintf (stderr, "no row %s in %s\n", key, text);
    free (text);
    assert (false);
    return NULL;
}

//  ==========================================================================
//  The scripted day

static const char *s_products [] = {
    "{\"product_id\": 101, \"sku\": \"CAF-101\", \"name\": \"Café moulu\", \"price_cents\": 1500,"
    " \"cost_cents\": 700, \"barcode\": \"0012345678905\", \"category_id\": 1, \"alert_threshold\": 5,"
    " \"active\": true, \"at\": \"%s\"}",
    "{\"product_id\": 102, \"sku\": \"THE-102\", \"name\": \"Théière\", \"price_cents\": 4000,"
    " \"cost_cents\": 1800, \"barcode\": null, \"category_id\": 1, \"alert_threshold\": 5,"
    " \"active\": true, \"at\": \"%s\"}",
    "{\"product_id\": 103, \"sku\": \"TAS-103\", \"name\": \"Tasse\", \"price_cents\": 1200,"
    " \"cost_cents\": 500, \"barcode\": null, \"category_id\": 2, \"alert_threshold\": 10,"
    " \"active\": true, \"at\": \"%s\"}"
};

static char *
s_order (int64_t id, int days_ago, const char *items, int64_t subtotal, int64_t tax)
{
    char *at = s_at (days_ago);
    char *text = zsys_sprintf (
        "{\"order_id\": %" PRId64 ", \"number\": \"W-2026-%06" PRId64 "\", \"customer_id\": \"c-%" PRId64 "\","
        " \"subtotal_cents\": %" PRId64 ", \"tax_cents\": %" PRId64 ", \"shipping_cents\": 999,"
        " \"total_cents\": %" PRId64 ", \"at\": \"%s\", \"items\": [%s]}",
        id, id, id, subtotal, tax, subtotal + tax + 999, at, items);
    free (at);
    return text;
}

static char *
s_item (int64_t product, int64_t quantity, int64_t price)
{
    return zsys_sprintf ("{\"product_id\": %" PRId64 ", \"sku\": \"SKU-%" PRId64 "\", \"quantity\": %" PRId64 ","
                         " \"unit_price_cents\": %" PRId64 ", \"line_total_cents\": %" PRId64 "}",
                         product, product, quantity, price, quantity * price);
}

//  A sale line: name, quantity, unit price, discount percent, net, tax, unit cost.
static char *
s_sale_item (int64_t product, const char *name, int64_t quantity, int64_t price, int64_t percent,
             int64_t net, int64_t tax, int64_t cost)
{
    return zsys_sprintf ("{\"product_id\": %" PRId64 ", \"sku\": \"SKU-%" PRId64 "\", \"name\": \"%s\","
                         " \"quantity\": %" PRId64 ", \"unit_price_cents\": %" PRId64 ","
                         " \"discount_percent\": %" PRId64 ", \"discount_cents\": %" PRId64 ","
                         " \"net_cents\": %" PRId64 ", \"tax_cents\": %" PRId64 ", \"cost_cents\": %" PRId64 "}",
                         product, product, name, quantity, price, percent, quantity * price - net, net, tax, cost);
}

static char *
s_sale (int64_t id, int64_t store, int days_ago, const char *items, int64_t subtotal, int64_t discount,
        int64_t tax)
{
    char *at = s_at (days_ago);
    int64_t total = subtotal - discount + tax;
    char *text = zsys_sprintf (
        "{\"sale_id\": %" PRId64 ", \"receipt_number\": \"S%02" PRId64 "-%06" PRId64 "\", \"store_id\": %" PRId64 ","
        " \"register_id\": %" PRId64 ", \"cashier_id\": \"s-%" PRId64 "\", \"customer_id\": null,"
        " \"at\": \"%s\", \"subtotal_cents\": %" PRId64 ", \"discount_cents\": %" PRId64 ","
        " \"tax_cents\": %" PRId64 ", \"total_cents\": %" PRId64 ", \"items\": [%s],"
        " \"payments\": [{\"method\": \"cash\", \"amount_cents\": %" PRId64 "}], \"change_cents\": 0}",
        id, store, id, store, store * 2, store, at, subtotal, discount, tax, total, items, total);
    free (at);
    return text;
}

static char *
s_stock (int64_t product, int64_t location, int64_t on_hand, int64_t reserved, const char *cause)
{
    return zsys_sprintf ("{\"product_id\": %" PRId64 ", \"location_id\": %" PRId64 ", \"on_hand\": %" PRId64 ","
                         " \"reserved\": %" PRId64 ", \"available\": %" PRId64 ", \"cause\": \"%s\","
                         " \"reference\": \"it\"}",
                         product, location, on_hand, reserved, on_hand - reserved, cause);
}

//  Send one event built by zsys_sprintf (freed here).
static int64_t
s_send (s_world_t *world, const char *producer, const char *topic, char *payload)
{
    int64_t seq = s_event (world, producer, topic, payload, "send");
    free (payload);
    return seq;
}

//  The day of contract-pos.md's example, across every producer; returns
//  when the feed has applied everything. The sales producer starts late.
static void
s_scripted_day (s_world_t *world, bool verbose)
{
    char *now = s_at (0);
    int64_t seq = 0;
    for (int i = 0; i < 3; i++)
        seq = s_send (world, "product", "product.updated", zsys_sprintf (s_products [i], now));
    s_wait (world, "product", seq, 5000);
    free (now);

    //  Stock: 101 at Montréal 20 then 18; 102 at Montréal 2 (stock.low with
    //  the row's own threshold 3); 103 at the web location 8 (2 reserved,
    //  6 available: under the catalog's 10); 101 at Toronto 0 (out).
    s_send (world, "inventory", "stock.changed", s_stock (101, 1, 20, 0, "receipt"));
    s_send (world, "inventory", "stock.changed", s_stock (102, 1, 2, 0, "receipt"));
    s_send (world, "inventory", "stock.low", strdup ("{\"product_id\": 102, \"location_id\": 1,"
            " \"available\": 2, \"alert_threshold\": 3, \"level\": \"low\"}"));
    s_send (world, "inventory", "stock.changed", s_stock (103, 5, 8, 2, "reservation"));
    s_send (world, "inventory", "stock.changed", s_stock (101, 2, 0, 0, "adjustment"));
    int64_t inventory = s_send (world, "inventory", "stock.changed", s_stock (101, 1, 18, 0, "sale"));

    //  Web orders: O1 today; O2 yesterday, cancelled today (off yesterday);
    //  O3 confirmed and cancelled today; O4 cancelled unconfirmed (a
    //  declined payment); O5 ten days ago.
    char *a = s_item (101, 2, 1500), *b = s_item (103, 1, 1200), *items = zsys_sprintf ("%s, %s", a, b);
    s_send (world, "order", "order.confirmed", s_order (1, 0, items, 4200, 546));
    zstr_free (&a); zstr_free (&b); zstr_free (&items);
    a = s_item (102, 1, 4000);
    s_send (world, "order", "order.confirmed", s_order (2, 1, a, 4000, 600));
    s_send (world, "order", "order.cancelled", s_order (2, 0, a, 4000, 600));
    zstr_free (&a);
    a = s_item (103, 2, 1200);
    s_send (world, "order", "order.confirmed", s_order (3, 0, a, 2400, 312));
    s_send (world, "order", "order.cancelled", s_order (3, 0, a, 2400, 312));
    s_send (world, "order", "order.cancelled", s_order (4, 0, a, 2400, 312));
    zstr_free (&a);
    a = s_item (101, 1, 1500);
    int64_t order = s_send (world, "order", "order.confirmed", s_order (5, 10, a, 1500, 195));
    zstr_free (&a);

    //  The sales relay did not exist: the feed kept going without it.
    s_wait (world, "order", order, 5000);
    s_wait (world, "inventory", inventory, 5000);
    assert (s_cursor (world, "sales") == 0);
    s_command (world, "START", "sales", NULL);

    //  Sales: S1 today at store 1 (101 x3 at 10 % off, 102 x1); S2 today
    //  at store 2; S3 nine days ago and S4 three days ago at store 1; R1
    //  today returns one 101 of S1.
    a = s_sale_item (101, "Café moulu", 3, 1500, 10, 4050, 606, 700);
    b = s_sale_item (102, "Théière", 1, 4000, 0, 4000, 598, 1800);
    items = zsys_sprintf ("%s, %s", a, b);
    s_send (world, "sales", "sale.completed", s_sale (1, 1, 0, items, 8500, 450, 1204));
    zstr_free (&a); zstr_free (&b); zstr_free (&items);
    a = s_sale_item (103, "Tasse", 2, 1200, 0, 2400, 312, 500);
    s_send (world, "sales", "sale.completed", s_sale (2, 2, 0, a, 2400, 0, 312));
    zstr_free (&a);
    a = s_sale_item (101, "Café moulu", 2, 1500, 0, 3000, 449, 700);
    s_send (world, "sales", "sale.completed", s_sale (3, 1, 9, a, 3000, 0, 449));
    zstr_free (&a);
    a = s_sale_item (103, "Tasse", 1, 1200, 0, 1200, 180, 500);
    s_send (world, "sales", "sale.completed", s_sale (4, 1, 3, a, 1200, 0, 180));
    zstr_free (&a);
    char *at = s_at (0);
    int64_t sales = s_send (world, "sales", "sale.returned", zsys_sprintf (
        "{\"return_id\": 1, \"sale_id\": 1, \"receipt_number\": \"S01-000001\", \"store_id\": 1,"
        " \"register_id\": 2, \"cashier_id\": \"s-1\", \"at\": \"%s\","
        " \"items\": [{\"product_id\": 101, \"quantity\": 1, \"net_cents\": 1350, \"tax_cents\": 202,"
        "              \"refund_cents\": 1552, \"cost_cents\": 700}],"
        " \"net_cents\": 1350, \"tax_cents\": 202, \"refund_cents\": 1552}", at));
    free (at);
    //  The first sales events may go out before the feed subscribes (it
    //  retries every 1 to 5 s): its catch-up replays them.
    int64_t waited = s_wait (world, "sales", sales, 10000);
    if (verbose)
        printf ("sales applied %lld ms after the relay started\n", (long long) waited);

    //  The cost of 103 changes last: the stock's value moves, not the
    //  cost of the goods already sold.
    now = s_at (0);
    char *text = zsys_sprintf (s_products [2], now);
    char *changed = strstr (text, "\"cost_cents\": 500");
    assert (changed);
    memcpy (changed, "\"cost_cents\": 600", 17);
    seq = s_send (world, "product", "product.updated", text);
    s_wait (world, "product", seq, 5000);
    free (now);
}

//  Every figure of the scripted day, by hand.
static void
s_check_figures (s_world_t *world)
{
    json_t *dashboard = s_report (world, "report.dashboard", NULL, "manager", 200);
    json_t *today = json_object_get (dashboard, "today");
    //  web: O1 4200 (O3 in and out); store: S1 8050 + S2 2400 - R1 1350
    assert (s_int (today, "revenue_cents") == 4200 + 9100);
    assert (s_int (today, "web_orders") == 1);
    assert (s_int (today, "store_sales") == 2);
    assert (s_int (json_object_get (today, "by_channel"), "web") == 4200);
    assert (s_int (json_object_get (today, "by_channel"), "store") == 9100);
    assert (json_is_string (json_object_get (dashboard, "generated_at")));
    json_t *stores = json_object_get (dashboard, "stores");
    assert (json_array_size (stores) == 3);
    json_t *store = json_array_get (stores, 0);
    assert (s_int (store, "store_id") == 1);
    assert (streq (json_string_value (json_object_get (store, "name")), "Montréal – Plateau"));
    assert (s_int (store, "revenue_7d_cents") == 8050 + 1200 - 1350);
    assert (s_int (store, "sales_7d") == 2);
    //  (7900 - 3000) * 100 / 3000 = 163.33
    assert (json_is_real (json_object_get (store, "trend_pct"))
         && (int) (json_real_value (json_object_get (store, "trend_pct")) * 10 + 0.5) == 1633);
    store = json_array_get (stores, 1);
    assert (s_int (store, "store_id") == 2 && s_int (store, "revenue_7d_cents") == 2400);
    assert (s_int (store, "sales_7d") == 1 && json_is_null (json_object_get (store, "trend_pct")));
    store = json_array_get (stores, 2);
    assert (s_int (store, "store_id") == 3 && s_int (store, "revenue_7d_cents") == 0);
    json_t *top = json_object_get (dashboard, "top_products");
    assert (json_array_size (top) == 3);
    //  101: O1 3000 + S1 4050 - R1 1350; 103: O1 1200 + S2 2400 + S4 1200; 102: S1 4000
    assert (s_int (json_array_get (top, 0), "product_id") == 101);
    assert (s_int (json_array_get (top, 0), "revenue_cents") == 5700);
    assert (s_int (json_array_get (top, 0), "quantity") == 4);
    assert (streq (json_string_value (json_object_get (json_array_get (top, 0), "name")), "Café moulu"));
    assert (s_int (json_array_get (top, 1), "product_id") == 103);
    assert (s_int (json_array_get (top, 1), "revenue_cents") == 4800);
    assert (s_int (json_array_get (top, 1), "quantity") == 4);
    assert (s_int (json_array_get (top, 2), "product_id") == 102);
    assert (s_int (json_array_get (top, 2), "revenue_cents") == 4000);
    json_t *low = json_object_get (dashboard, "low_stock");
    assert (json_array_size (low) == 3);
    assert (s_int (json_array_get (low, 0), "product_id") == 101 && s_int (json_array_get (low, 0), "location_id") == 2);
    assert (streq (json_string_value (json_object_get (json_array_get (low, 0), "level")), "out"));
    assert (s_int (json_array_get (low, 1), "product_id") == 102 && s_int (json_array_get (low, 1), "alert_threshold") == 3);
    assert (s_int (json_array_get (low, 1), "available") == 2);
    assert (s_int (json_array_get (low, 2), "product_id") == 103 && s_int (json_array_get (low, 2), "alert_threshold") == 10);
    assert (streq (json_string_value (json_object_get (json_array_get (low, 2), "level")), "low"));
    json_decref (dashboard);

    char *from = s_day (13), *to = s_day (0), *yesterday = s_day (1);
    char params [160];
    snprintf (params, sizeof params, "{\"from\": \"%s\", \"to\": \"%s\", \"group_by\": \"day\"}", from, to);
    json_t *report = s_report (world, "report.sales", params, "admin", 200);
    json_t *row = s_row (report, to);
    assert (s_int (row, "revenue_cents") == 13300 && s_int (row, "orders_or_sales") == 3);
    assert (s_int (row, "tax_cents") == 546 + 1204 + 312 - 202);
    assert (s_int (row, "quantity") == 3 + 4 + 2 - 1);
    row = s_row (report, yesterday);          //  O2, cancelled the next day: nothing left
    assert (s_int (row, "revenue_cents") == 0 && s_int (row, "orders_or_sales") == 0 && s_int (row, "tax_cents") == 0);
    assert (json_array_size (json_object_get (report, "data")) == 5);
    json_decref (report);
    snprintf (params, sizeof params, "{\"from\": \"%s\", \"to\": \"%s\", \"group_by\": \"channel\"}", from, to);
    report = s_report (world, "report.sales", params, "manager", 200);
    assert (s_int (s_row (report, "web"), "revenue_cents") == 4200 + 1500);
    assert (s_int (s_row (report, "web"), "orders_or_sales") == 2);
    assert (s_int (s_row (report, "store"), "revenue_cents") == 9100 + 3000 + 1200);
    assert (s_int (s_row (report, "store"), "orders_or_sales") == 4);
    assert (s_int (s_row (report, "store"), "tax_cents") == 1204 + 312 - 202 + 449 + 180);
    json_decref (report);
    snprintf (params, sizeof params, "{\"from\": \"%s\", \"to\": \"%s\", \"group_by\": \"store\"}", from, to);
    report = s_report (world, "report.sales", params, "manager", 200);
    assert (s_int (s_row (report, "web"), "revenue_cents") == 5700);
    assert (s_int (s_row (report, "1"), "revenue_cents") == 8050 - 1350 + 3000 + 1200);
    assert (s_int (s_row (report, "2"), "revenue_cents") == 2400);
    assert (streq (json_string_value (json_object_get (s_row (report, "2"), "name")), "Toronto – Queen West"));
    json_decref (report);
    snprintf (params, sizeof params, "{\"from\": \"%s\", \"to\": \"%s\", \"group_by\": \"product\"}", from, to);
    report = s_report (world, "report.sales", params, "manager", 200);
    row = s_row (report, "101");
    assert (s_int (row, "revenue_cents") == 3000 + 1500 + 4050 - 1350 + 3000);
    assert (s_int (row, "quantity") == 2 + 1 + 3 - 1 + 2 && s_int (row, "orders_or_sales") == 4);
    //  Web tax spread over O1's lines: 546 * 3000 / 4200 = 390 on 101, 156 on 103.
    assert (s_int (row, "tax_cents") == 390 + 195 + 606 - 202 + 449);
    assert (s_int (s_row (report, "103"), "tax_cents") == 156 + 312 + 180);
    json_decref (report);
    free (from);
    free (to);
    free (yesterday);

    json_t *inventory = s_report (world, "report.inventory", NULL, "manager", 200);
    //  Montréal 18 x 700 + 2 x 1800; web 8 x 600 (the new cost); Toronto 0
    assert (s_int (inventory, "total_value_cents") == 16200 + 4800);
    json_t *locations = json_object_get (inventory, "locations");
    assert (json_array_size (locations) == 3);
    assert (s_int (json_array_get (locations, 0), "value_cents") == 16200);
    assert (s_int (json_array_get (locations, 0), "units") == 20);
    assert (s_int (json_array_get (locations, 2), "location_id") == 5);
    assert (s_int (json_array_get (locations, 2), "value_cents") == 4800);
    assert (json_array_size (json_object_get (inventory, "alerts")) == 3);
    json_t *turnover = json_object_get (inventory, "turnover");
    //  Cost of goods sold: O1 2 x 700 + 1 x 600 (103's cost at the end of
    //  today), O5 700 (before the first known cost: that cost), S1 3900,
    //  S2 1000, S3 1400, S4 500, R1 -700 (the sales' own unit costs)
    assert (s_int (turnover, "cogs_cents") == 2000 + 700 + 3900 + 1000 + 1400 + 500 - 700);
    //  (nothing 30 days ago + 21000 now) / 2
    assert (s_int (turnover, "average_stock_value_cents") == 10500);
    assert ((int) (json_real_value (json_object_get (turnover, "ratio")) * 100 + 0.5) == 84);
    json_decref (inventory);
    //  The per-product rollup is the sum of the per-store rows, both ways.
    char *differ = testdb_value (world->db,
        "SELECT count (*) FROM ((SELECT day, product_id, sum (count), sum (quantity), sum (revenue_cents),"
        "                               sum (tax_cents) FROM daily_product GROUP BY 1, 2"
        "                        EXCEPT SELECT day, product_id, count, quantity, revenue_cents, tax_cents"
        "                                 FROM daily_product_total)"
        "                       UNION ALL (SELECT day, product_id, count, quantity, revenue_cents, tax_cents"
        "                                    FROM daily_product_total"
        "                                  EXCEPT SELECT day, product_id, sum (count), sum (quantity),"
        "                                      sum (revenue_cents), sum (tax_cents) FROM daily_product"
        "                                   GROUP BY 1, 2)) x", 0, NULL);
    assert (streq (differ, "0"));
    free (differ);
    //  Stock history: 101 at Montréal ended today at 18.
    char *value = testdb_value (world->db, "SELECT on_hand FROM stock_history"
                                " WHERE product_id = 101 AND location_id = 1", 0, NULL);
    assert (streq (value, "18"));
    free (value);
}

//  The three reports without their generated_at.
static json_t *
s_snapshot (s_world_t *world)
{
    json_t *all = json_object ();
    const char *verbs [] = { "report.dashboard", "report.inventory", "report.sales" };
    char *from = s_day (300), *to = s_day (0);
    char params [128];
    snprintf (params, sizeof params, "{\"from\": \"%s\", \"to\": \"%s\", \"group_by\": \"product\"}", from, to);
    free (from);
    free (to);
    for (int i = 0; i < 3; i++) {
        json_t *body = s_report (world, verbs [i], i == 2 ? params : NULL, "admin", 200);
        json_object_del (body, "generated_at");
        json_object_set_new (all, verbs [i], body);
    }
    return all;
}

//  --------------------------------------------------------------------------
//  Bursts: what the feed's transactions and metrics show

//  Record the id of every transaction that moves a cursor, and refuse
//  (a database error, neither malformed nor refused jsonb) the stock of
//  the products listed in it_fault.
static void
s_burst_probes (s_world_t *world)
{
    assert (pgdb_run (world->db,
        "CREATE TABLE IF NOT EXISTS it_transactions (id bigint PRIMARY KEY);"
        "CREATE TABLE IF NOT EXISTS it_fault (product_id bigint PRIMARY KEY);"
        "CREATE OR REPLACE FUNCTION it_transaction () RETURNS trigger LANGUAGE plpgsql AS $$"
        " BEGIN INSERT INTO it_transactions VALUES (txid_current ()) ON CONFLICT DO NOTHING;"
        " RETURN NULL; END $$;"
        "CREATE OR REPLACE FUNCTION it_fault () RETURNS trigger LANGUAGE plpgsql AS $$"
        " BEGIN IF NEW.product_id IN (SELECT product_id FROM it_fault) THEN"
        "   RAISE EXCEPTION 'it: refused on purpose'; END IF; RETURN NEW; END $$;"
        "DROP TRIGGER IF EXISTS it_transaction ON feed_cursors;"
        "CREATE TRIGGER it_transaction AFTER UPDATE ON feed_cursors"
        " FOR EACH STATEMENT EXECUTE FUNCTION it_transaction ();"
        "DROP TRIGGER IF EXISTS it_fault ON stock;"
        "CREATE TRIGGER it_fault BEFORE INSERT OR UPDATE ON stock"
        " FOR EACH ROW EXECUTE FUNCTION it_fault ();"
        "TRUNCATE it_transactions, it_fault") == 0);
}

static void
s_burst_probes_drop (s_world_t *world)
{
    assert (pgdb_run (world->db, "DROP TRIGGER it_transaction ON feed_cursors;"
                                 "DROP TRIGGER it_fault ON stock;"
                                 "DROP TABLE it_transactions, it_fault;"
                                 "DROP FUNCTION it_transaction (), it_fault ()") == 0);
}

static int64_t
s_number (s_world_t *world, const char *sql)
{
    char *value = testdb_value (world->db, sql, 0, NULL);
    assert (value);
    int64_t number = atoll (value);
    free (value);
    return number;
}

//  The feed's figure name{..., producer="producer"} from a snapshot it
//  pushed after the last moment (it pushes after every tick).
static int64_t
s_metric (s_world_t *world, const char *name, const char *producer)
{
    zhashx_t *snapshots = zhashx_new ();
    assert (snapshots);
    zhashx_set_destructor (snapshots, (zhashx_destructor_fn *) zstr_free);
    while (zsock_events (world->metrics) & ZMQ_POLLIN)
        sidemetrics_recv (world->metrics, snapshots);           //  older ones
    zhashx_purge (snapshots);
    zpoller_t *poller = zpoller_new (world->metrics, NULL);
    assert (poller && zpoller_wait (poller, 3000) == world->metrics);
    zpoller_destroy (&poller);
    assert (sidemetrics_recv (world->metrics, snapshots) == 0);
    const char *text = (const char *) zhashx_lookup (snapshots, "reporting-feed");
    assert (text);
    char label [64];
    snprintf (label, sizeof label, "producer=\"%s\"", producer);
    int64_t value = -1;
    for (const char *line = text; line && *line; line = strchr (line, '\n') ? strchr (line, '\n') + 1 : NULL) {
        const char *end = strchr (line, '\n');
        size_t length = end ? (size_t) (end - line) : strlen (line);
        const char *space = NULL;
        for (const char *c = line; c < line + length; c++)
            if (*c == ' ')
                space = c;
        char head [256];
        snprintf (head, sizeof head, "%.*s", (int) (space ? space - line : 0), line);
        if (strncmp (head, name, strlen (name)) == 0 && head [strlen (name)] == '{' && strstr (head, label))
            value = atoll (space + 1);
    }
    zhashx_destroy (&snapshots);
    if (value < 0)
        fprintf (stderr, "no %s for %s in:\n%s\n", name, producer, text);
    assert (value >= 0);
    return value;
}

//  Events of a burst: stock of products first..first + count - 1 at
//  location 1, on hand 1..count, sent or kept (how); each seq in seqs.
static int64_t
s_burst (s_world_t *world, int64_t first, int count, const char *how, int64_t *seqs)
{
    int64_t seq = 0;
    for (int i = 0; i < count; i++) {
        char *payload = s_stock (first + i, 1, i + 1, 0, "receipt");
        seq = s_event (world, "inventory", "stock.changed", payload, how);
        free (payload);
        if (seqs)
            seqs [i] = seq;
    }
    return seq;
}

//  The feed's metrics agree with what the database committed.
static void
s_check_metrics (s_world_t *world)
{
    assert (s_metric (world, "comptoir_reporting_events_applied_total", "inventory")
         == s_number (world, "SELECT applied FROM feed_cursors WHERE producer = 'inventory'"));
    assert (s_metric (world, "comptoir_reporting_events_dropped_total", "inventory")
         == s_number (world, "SELECT dropped FROM feed_cursors WHERE producer = 'inventory'"));
    assert (s_metric (world, "comptoir_reporting_transactions_total", "inventory")
         == s_number (world, "SELECT count (*) FROM it_transactions"));
}

//  A world with the probes, whose feed already follows inventory live
//  (one event of product applied).
static s_world_t *
s_burst_world_new (int64_t product)
{
    s_world_t *world = s_world_new ();
    s_burst_probes (world);
    int64_t last = s_burst (world, product, 1, "send", NULL);
    s_wait (world, "inventory", last, 5000);
    return world;
}

//  The metrics still agree with the database; the probes go.
static void
s_burst_world_destroy (s_world_t **world_p)
{
    s_check_metrics (*world_p);
    s_burst_probes_drop (*world_p);
    s_world_destroy (world_p);
}

//  ==========================================================================
//  Cases

static void
test_scripted_day_figures_exact (bool verbose)
{
    s_world_t *world = s_world_new ();
    s_scripted_day (world, verbose);
    s_check_figures (world);
    //  Nothing was dropped; every producer's cursor is its last seq.
    char *dropped = testdb_value (world->db, "SELECT sum (dropped) FROM feed_cursors", 0, NULL);
    assert (streq (dropped, "0"));
    free (dropped);
    s_world_destroy (&world);
}

static void
test_duplicates_skipped_and_gaps_replayed (bool verbose)
{
    s_world_t *world = s_world_new ();
    s_scripted_day (world, verbose);
    json_t *before = s_snapshot (world);
    //  Every order event again, live: skipped.
    for (int64_t seq = 1; seq <= s_cursor (world, "order"); seq++) {
        char text [24];
        snprintf (text, sizeof text, "%" PRId64, seq);
        s_command (world, "AGAIN", "order", text);
    }
    zclock_sleep (300);
    json_t *after = s_snapshot (world);
    assert (json_equal (before, after));
    json_decref (after);
    //  Straight through the apply function too: a duplicate changes nothing.
    json_t *payload = json_loads ("{\"order_id\": 1}", 0, NULL);
    eventbus_event_t event = { "order", 1, 0, "order.confirmed", payload, zclock_time () };
    assert (reporting_feed_apply (world->db, &event) == REPORTING_DUPLICATE);
    //  An event whose prev is past the stored cursor is refused (replay first).
    event.seq = 1000;
    event.prev = 999;
    assert (reporting_feed_apply (world->db, &event) == REPORTING_BEHIND);
    json_decref (payload);

    //  A gap: two orders the bus lost (kept in the log only), then a live
    //  one: the feed replays the two before it applies the third.
    char *a = s_item (102, 2, 4000);
    char *payload_text = s_order (10, 0, a, 8000, 1040);
    s_event (world, "order", "order.confirmed", payload_text, "keep");
    free (payload_text);
    payload_text = s_order (11, 0, a, 8000, 1040);
    s_event (world, "order", "order.confirmed", payload_text, "keep");
    free (payload_text);
    int64_t start = zclock_mono ();
    int64_t last = s_send (world, "order", "order.confirmed", s_order (12, 0, a, 8000, 1040));
    s_wait (world, "order", last, 5000);
    int64_t spent = zclock_mono () - start;
    if (verbose)
        printf ("gap replayed and applied in %lld ms\n", (long long) spent);
    assert (spent < 1000);
    //  The last events of a quiet spell, lost: only the catch-up finds them.
    payload_text = s_order (13, 0, a, 8000, 1040);
    last = s_event (world, "order", "order.confirmed", payload_text, "keep");
    free (payload_text);
    zstr_free (&a);
    spent = s_wait (world, "order", last, 3000);
    if (verbose)
        printf ("lost last event caught up in %lld ms\n", (long long) spent);
    assert (spent <= 1500);
    json_t *dashboard = s_report (world, "report.dashboard", NULL, "manager", 200);
    assert (s_int (json_object_get (dashboard, "today"), "web_orders") == 5);
    assert (s_int (json_object_get (json_object_get (dashboard, "today"), "by_channel"), "web") == 4200 + 32000);
    json_decref (dashboard);
    json_decref (before);
    s_world_destroy (&world);
}

static void
test_malformed_events_dropped_whole (bool verbose)
{
    (void) verbose;
    s_world_t *world = s_world_new ();
    s_scripted_day (world, false);
    json_t *before = s_snapshot (world);
    //  Each is wrong in one field, some after lines that would have applied.
    const char *bad [] = {
        "{\"order_id\": 20, \"number\": \"W-20\", \"subtotal_cents\": 100, \"tax_cents\": 0,"
        " \"at\": \"2026-12-06T10:00:00Z\", \"items\": [{\"product_id\": 101, \"quantity\": 1,"
        " \"line_total_cents\": 100}, {\"product_id\": 103, \"quantity\": \"2\", \"line_total_cents\": 0}]}",
        "{\"order_id\": 21, \"number\": \"W-21\", \"subtotal_cents\": 100, \"tax_cents\": 0,"
        " \"at\": \"yesterday\", \"items\": []}",
        "{\"order_id\": 22.5, \"number\": \"W-22\", \"subtotal_cents\": 100, \"tax_cents\": 0,"
        " \"at\": \"2026-12-06T10:00:00Z\", \"items\": []}",
        "{\"order_id\": 23, \"number\": \"W-23\", \"subtotal_cents\": -5, \"tax_cents\": 0,"
        " \"at\": \"2026-12-06T10:00:00Z\", \"items\": []}",
        "[1, 2, 3]",
        "{\"order_id\": 24, \"number\": \"W-24\", \"subtotal_cents\": 100, \"tax_cents\": 0,"
        " \"at\": \"2026-12-06T10:00:00Z\", \"items\": {\"product_id\": 1}}",
        "{\"order_id\": 1, \"at\": \"2026-02-30T10:00:00Z\"}",
        NULL
    };
    const char *topics [] = { "order.confirmed", "order.confirmed", "order.confirmed", "order.confirmed",
                              "order.confirmed", "order.confirmed", "order.cancelled" };
    int64_t last = 0;
    for (int i = 0; bad [i]; i++)
        last = s_event (world, "order", topics [i], bad [i], "send");
    s_wait (world, "order", last, 5000);
    char *dropped = testdb_value (world->db, "SELECT dropped FROM feed_cursors WHERE producer = 'order'", 0, NULL);
    assert (streq (dropped, "7"));
    free (dropped);
    json_t *after = s_snapshot (world);
    assert (json_equal (before, after));
    json_decref (after);
    //  A topic reporting does not use moves the cursor and nothing else.
    last = s_event (world, "inventory", "stock.counted", "{\"anything\": true}", "send");
    s_wait (world, "inventory", last, 5000);
    after = s_snapshot (world);
    assert (json_equal (before, after));
    json_decref (after);
    //  And the stream goes on.
    char *a = s_item (101, 1, 1500);
    last = s_send (world, "order", "order.confirmed", s_order (25, 0, a, 1500, 195));
    zstr_free (&a);
    s_wait (world, "order", last, 5000);
    json_t *dashboard = s_report (world, "report.dashboard", NULL, "manager", 200);
    assert (s_int (json_object_get (dashboard, "today"), "web_orders") == 2);
    json_decref (dashboard);
    json_decref (before);
    s_world_destroy (&world);
}

static void
test_rebuild_from_zero_same_figures (bool verbose)
{
    s_world_t *world = s_world_new ();
    s_scripted_day (world, verbose);
    json_t *before = s_snapshot (world);
    int64_t cursors [S_PRODUCERS];
    for (int i = 0; i < S_PRODUCERS; i++)
        cursors [i] = s_cursor (world, s_names [i]);
    int64_t start = zclock_mono ();
    assert (reporting_feed_rebuild (world->db) == 0);
    char *count = testdb_value (world->db, "SELECT count (*) FROM daily_product", 0, NULL);
    assert (streq (count, "0"));
    free (count);
    for (int i = 0; i < S_PRODUCERS; i++)
        s_wait (world, s_names [i], cursors [i], 10000);
    if (verbose)
        printf ("rebuilt in %lld ms\n", (long long) (zclock_mono () - start));
    json_t *after = s_snapshot (world);
    if (!json_equal (before, after)) {
        char *a = json_dumps (before, JSON_SORT_KEYS), *b = json_dumps (after, JSON_SORT_KEYS);
        fprintf (stderr, "before %s\nafter  %s\n", a, b);
        free (a);
        free (b);
    }
    assert (json_equal (before, after));
    s_check_figures (world);
    json_decref (before);
    json_decref (after);
    s_world_destroy (&world);
}

static void
test_reports_refuse_bad_input_and_roles (bool verbose)
{
    (void) verbose;
    s_world_t *world = s_world_new ();
    const char *bad [] = {
        "{\"from\": \"2026-02-30\", \"to\": \"2026-03-01\"}",
        "{\"from\": \"2026-1-01\", \"to\": \"2026-03-01\"}",
        "{\"from\": \"2026-03-02\", \"to\": \"2026-03-01\"}",
        "{\"from\": \"2025-01-01\", \"to\": \"2026-01-02\"}",
        "{\"from\": \"2026-01-01\", \"to\": \"2026-01-31\", \"group_by\": \"week\"}",
        "{\"from\": \" 2026-01-01\"}",
        "{\"to\": \"1969-12-31\"}",
        "{\"from\": \"2026-01-01T00:00:00Z\"}",
        NULL
    };
    for (int i = 0; bad [i]; i++) {
        json_t *error = s_report (world, "report.sales", bad [i], "manager", 400);
        assert (streq (json_string_value (json_object_get (error, "code")), "validation_failed"));
        assert (json_array_size (json_object_get (error, "details")) >= 1);
        json_decref (error);
    }
    //  366 days is the most, leap year included; a day alone is fine.
    json_decref (s_report (world, "report.sales", "{\"from\": \"2024-01-01\", \"to\": \"2024-12-31\"}", "manager", 200));
    json_decref (s_report (world, "report.sales", "{\"from\": \"2026-12-06\", \"to\": \"2026-12-06\"}", "manager", 200));
    json_t *empty = s_report (world, "report.sales", "{\"group_by\": \"store\"}", "admin", 200);
    assert (json_array_size (json_object_get (empty, "data")) == 0);
    json_decref (empty);
    const char *verbs [] = { "report.dashboard", "report.sales", "report.inventory" };
    for (int i = 0; i < 3; i++) {
        json_decref (s_report (world, verbs [i], NULL, NULL, 401));
        json_decref (s_report (world, verbs [i], NULL, "customer", 403));
        json_decref (s_report (world, verbs [i], NULL, "cashier", 403));
        json_decref (s_report (world, verbs [i], NULL, "manager", 200));
        json_decref (s_report (world, verbs [i], NULL, "admin", 200));
    }
    int64_t days;
    assert (report_parse_day ("1970-01-01", &days) == 0 && days == 0);
    assert (report_parse_day ("2000-03-01", &days) == 0 && days == 11017);
    assert (report_parse_day ("2024-02-29", &days) == 0);
    assert (report_parse_day ("2023-02-29", &days) == -1);
    assert (report_parse_day ("2026-13-01", &days) == -1);
    s_world_destroy (&world);
}

static void
test_bursts_applied_in_few_transactions_exact (bool verbose)
{
    s_world_t *world = s_burst_world_new (1000);
    int64_t before = s_number (world, "SELECT count (*) FROM it_transactions");
    //  Live: 300 events sent faster than they are applied.
    int64_t last = s_burst (world, 1001, 300, "send", NULL);
    s_wait (world, "inventory", last, 10000);
    int64_t live = s_number (world, "SELECT count (*) FROM it_transactions") - before;
    //  Replayed: 200 the bus lost, found through the gap before a live one.
    s_burst (world, 2000, 200, "keep", NULL);
    last = s_burst (world, 2200, 1, "send", NULL);
    s_wait (world, "inventory", last, 10000);
    int64_t replayed = s_number (world, "SELECT count (*) FROM it_transactions") - before - live;
    if (verbose)
        printf ("300 live events in %lld transactions, 201 replayed in %lld\n", (long long) live,
                (long long) replayed);
    assert (live >= (300 + REPORTING_BATCH_MAX - 1) / REPORTING_BATCH_MAX && live <= 60);
    //  4 full batches at most, and one more if a tick's catch-up took the
    //  lost ones before the live event came, two if it came in between.
    assert (replayed >= (201 + REPORTING_BATCH_MAX - 1) / REPORTING_BATCH_MAX && replayed <= 6);
    assert (s_number (world, "SELECT count (*) FROM stock WHERE product_id BETWEEN 1001 AND 1300") == 300);
    assert (s_number (world, "SELECT sum (on_hand) FROM stock WHERE product_id BETWEEN 1001 AND 1300") == 45150);
    assert (s_number (world, "SELECT count (*) FROM stock WHERE product_id BETWEEN 2000 AND 2200") == 201);
    assert (s_number (world, "SELECT sum (on_hand) FROM stock WHERE product_id BETWEEN 2000 AND 2200") == 20101);
    assert (s_number (world, "SELECT applied FROM feed_cursors WHERE producer = 'inventory'") == 502);
    s_burst_world_destroy (&world);
}

static void
test_refused_jsonb_in_a_burst_dropped_alone (bool verbose)
{
    (void) verbose;
    s_world_t *world = s_burst_world_new (3000);
    //  The 50th of 100 live events has a \u0000 in a string: valid JSON,
    //  not valid jsonb. It aborts its batch; the others still go in.
    s_burst (world, 3001, 49, "send", NULL);
    s_event (world, "inventory", "stock.changed", "{\"product_id\": 3050, \"location_id\": 1,"
             " \"on_hand\": 50, \"reserved\": 0, \"available\": 50, \"cause\": \"receipt\","
             " \"reference\": \"a\\u0000b\"}", "send");
    int64_t last = s_burst (world, 3051, 50, "send", NULL);
    s_wait (world, "inventory", last, 5000);
    assert (s_number (world, "SELECT dropped FROM feed_cursors WHERE producer = 'inventory'") == 1);
    assert (s_number (world, "SELECT applied FROM feed_cursors WHERE producer = 'inventory'") == 100);
    assert (s_number (world, "SELECT count (*) FROM stock WHERE product_id BETWEEN 3000 AND 3100") == 100);
    assert (s_number (world, "SELECT count (*) FROM stock WHERE product_id = 3050") == 0);
    //  1 + (1..49) + (1..50)
    assert (s_number (world, "SELECT sum (on_hand) FROM stock WHERE product_id BETWEEN 3000 AND 3100") == 1 + 1225 + 1275);
    s_burst_world_destroy (&world);
}

static void
test_failure_mid_batch_leaves_no_half_batch (bool verbose)
{
    s_world_t *world = s_burst_world_new (4100);
    //  The database fails on the 31st of 41 events, the bus lost the first
    //  40: the replay before the live one puts them in one batch.
    assert (pgdb_run (world->db, "INSERT INTO it_fault VALUES (4030)") == 0);
    int64_t seqs [41];
    s_burst (world, 4000, 40, "keep", seqs);
    seqs [40] = s_burst (world, 4040, 1, "send", NULL);
    for (int round = 0; round < 3; round++) {
        zclock_sleep (500);             //  the live attempt, then a tick's
        int64_t cursor = s_cursor (world, "inventory");
        int64_t in = 0;
        for (int i = 0; i < 41; i++)
            in += seqs [i] <= cursor;
        if (verbose)
            printf ("round %d: cursor %lld, %lld of the burst in\n", round, (long long) cursor, (long long) in);
        assert (cursor < seqs [30]);
        assert (s_number (world, "SELECT count (*) FROM stock WHERE product_id BETWEEN 4000 AND 4040") == in);
        s_check_metrics (world);
    }
    assert (pgdb_run (world->db, "DELETE FROM it_fault") == 0);
    s_wait (world, "inventory", seqs [40], 10000);
    assert (s_number (world, "SELECT count (*) FROM stock WHERE product_id BETWEEN 4000 AND 4040") == 41);
    assert (s_number (world, "SELECT sum (on_hand) FROM stock WHERE product_id BETWEEN 4000 AND 4040") == 820 + 1);
    assert (s_number (world, "SELECT applied FROM feed_cursors WHERE producer = 'inventory'") == 42);
    s_burst_world_destroy (&world);
}

static testrunner_case_t s_cases [] = {
    { "reporting_scripted_day_figures_exact", test_scripted_day_figures_exact },
    { "reporting_duplicates_skipped_and_gaps_replayed", test_duplicates_skipped_and_gaps_replayed },
    { "reporting_malformed_events_dropped_whole", test_malformed_events_dropped_whole },
    { "reporting_rebuild_from_zero_same_figures", test_rebuild_from_zero_same_figures },
    { "reporting_reports_refuse_bad_input_and_roles", test_reports_refuse_bad_input_and_roles },
    { "reporting_bursts_applied_in_few_transactions_exact", test_bursts_applied_in_few_transactions_exact },
    { "reporting_refused_jsonb_in_a_burst_dropped_alone", test_refused_jsonb_in_a_burst_dropped_alone },
    { "reporting_failure_mid_batch_leaves_no_half_batch", test_failure_mid_batch_leaves_no_half_batch },
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
        printf ("SKIP: reporting_it (COMPTOIR_TEST_PG_ADMIN is not set; scripts/testenv.sh sets it)\n");
        return 77;
    }
    logline_init ("reporting_it", -1);
    s_db = testdb_scratch_new (s_admin, "reporting");
    if (!s_db)
        return 1;
    setenv ("COMPTOIR_REPORTING_CATCH_UP_MS", "1000", 1);      //  the shipped default, said out loud
    //  Migrate once, in the parent, through the context's own start-up
    //  (a second actor: no feed).
    int rc = 1;
    settings_t *settings = settings_load (NULL);
    void *state = settings ? reporting_context_def.make_state (settings, 1, 2) : NULL;
    if (state) {
        reporting_context_def.free_state (&state);
        rc = testrunner_main (argc, argv, s_cases, 60);
    }
    else
        fprintf (stderr, "reporting_it: the reporting database could not be prepared\n");
    settings_destroy (&settings);
    testdb_scratch_destroy (s_admin, "reporting");
    free (s_db);
    return rc;
}
