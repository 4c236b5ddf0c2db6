/*  cart_it - the cart context against the real Redis and through the real
    Majordomo broker, with the live product workers pricing the lines.

    Needs the test environment (scripts/testenv.sh): COMPTOIR_TEST_BROKER,
    COMPTOIR_TEST_VAR (keys), COMPTOIR_TEST_REDIS and COMPTOIR_TEST_CONFIG;
    exits 77 without them. When the environment runs no cart worker (cart
    not yet in supervisor/contexts) the test starts three itself, with a
    copy of an admitted certificate, and stops them at the end. The Redis
    away case runs a cart actor in this process against a private Redis
    that the test stops and starts, never the shared one. */
#include "testrunner.h"

#include "cart_context.h"
#include "cart_model.h"
#include "curvekeys.h"
#include "envelope.h"
#include "mdp_client.h"
#include "redisdb.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define WORKERS 3
static int s_copy (const char *from, const char *to);
static int s_prepare_keys (const char *keys, int first, int last);
static pid_t s_spawn_worker (const char *keys, int n);
static void s_reap (pid_t pid, int signal_number);
#define PRIVATE_REDIS_PORT 16397

static pid_t s_workers [WORKERS];

static mdp_client_t *s_client;
static int s_sequence;

//  --------------------------------------------------------------------------
//  Talking to the broker

static void
s_connect (void)
{
    const char *var = getenv ("COMPTOIR_TEST_VAR");
    char keys [512], broker [600];
    snprintf (keys, sizeof keys, "%s/keys", var);
    snprintf (broker, sizeof broker, "%s/broker", keys);
    zcert_t *cert = curvekeys_ensure (keys, "edge", true);
    char *server_key = curvekeys_public_of (broker);
    assert (cert && server_key);
    s_client = mdp_client_new (getenv ("COMPTOIR_TEST_BROKER"), cert, server_key);
    assert (s_client);
    mdp_client_set_timeout (s_client, 5000);
    zcert_destroy (&cert);
    free (server_key);
}

//  A request with an identity (role and sub may be NULL), params and data
//  (taken; may be NULL) and a request id (NULL: a fresh one).
static envelope_t *
s_request (const char *verb, const char *role, const char *sub, json_t *params, json_t *data,
           const char *rid)
{
    envelope_t *request = envelope_new_request (verb);
    char fresh [64];
    snprintf (fresh, sizeof fresh, "cart-it-%d-%d", getpid (), ++s_sequence);
    envelope_set_str (&request->rid, rid ? rid : fresh);
    envelope_set_str (&request->role, role);
    envelope_set_str (&request->sub, sub);
    envelope_set_str (&request->consumer, "cart-it");
    request->body = json_object ();
    json_object_set_new (request->body, "params", params ? params : json_object ());
    if (data)
        json_object_set_new (request->body, "data", data);
    return request;
}

static envelope_t *
s_call_as (const char *service, const char *verb, const char *role, const char *sub,
           json_t *params, json_t *data, const char *rid)
{
    if (!s_client)
        s_connect ();
    envelope_t *request = s_request (verb, role, sub, params, data, rid);
    envelope_t *reply = mdp_client_call (s_client, service, &request);
    assert (reply);
    return reply;
}

static envelope_t *
s_cart (const char *verb, const char *role, const char *sub, json_t *params, json_t *data)
{
    return s_call_as ("cart", verb, role, sub, params, data, NULL);
}

static const char *
s_code (const envelope_t *reply)
{
    return json_string_value (json_object_get (reply->error, "code"));
}

static int64_t
s_int (const json_t *object, const char *field)
{
    return json_integer_value (json_object_get (object, field));
}

static json_t *
s_id (const char *id)
{
    return json_pack ("{s:s}", "id", id);
}

static json_t *
s_item (const char *id, int64_t product_id)
{
    char text [32];
    snprintf (text, sizeof text, "%lld", (long long) product_id);
    return json_pack ("{s:s, s:s}", "id", id, "product_id", text);
}

static json_t *
s_add (int64_t product_id, int64_t quantity)
{
    return json_pack ("{s:I, s:I}", "product_id", (json_int_t) product_id,
                      "quantity", (json_int_t) quantity);
}

//  A new cart (guest, or the customer's with role "customer"). Returns its id.
static char *
s_new_cart (const char *role, const char *sub, const char *province)
{
    envelope_t *reply = s_cart ("cart.create", role, sub, NULL,
                                province ? json_pack ("{s:s}", "province", province) : NULL);
    if (reply->status != 201)
        printf ("cart.create: %d %s\n", reply->status, s_code (reply));
    assert (reply->status == 201);
    char *id = strdup (json_string_value (json_object_get (reply->body, "id")));
    envelope_destroy (&reply);
    return id;
}

//  The line of a product in a cart body, or NULL.
static json_t *
s_line (const json_t *cart, int64_t product_id)
{
    size_t index;
    json_t *line;
    json_array_foreach (json_object_get (cart, "items"), index, line)
        if (s_int (line, "product_id") == product_id)
            return line;
    return NULL;
}

//  A product of our own at a known price (category and product created by
//  a manager through the catalog).
static int64_t
s_new_product (int64_t price_cents)
{
    char name [96];
    snprintf (name, sizeof name, "Cart test %d-%d", getpid (), ++s_sequence);
    envelope_t *reply = s_call_as ("product", "category.create", "manager", "1", NULL,
                                   json_pack ("{s:s}", "name", name), NULL);
    assert (reply->status == 201);
    int64_t category = s_int (reply->body, "id");
    envelope_destroy (&reply);
    reply = s_call_as ("product", "product.create", "manager", "1", NULL,
                       json_pack ("{s:s, s:I, s:I}", "name", name, "price_cents", (json_int_t) price_cents,
                                  "category_id", (json_int_t) category), NULL);
    assert (reply->status == 201);
    int64_t id = s_int (reply->body, "id");
    envelope_destroy (&reply);
    return id;
}

//  Send requests at once, collect every reply (bounded time). Takes the
//  requests; replies in any order.
static void
s_send_all (envelope_t **requests, envelope_t **replies, int count)
{
    if (!s_client)
        s_connect ();
    for (int i = 0; i < count; i++)
        assert (mdp_client_send (s_client, "cart", &requests [i]) == 0);
    int got = 0;
    int64_t until = zclock_mono () + 10000;
    while (got < count && zclock_mono () < until) {
        zmq_pollitem_t item = { zsock_resolve (mdp_client_sock (s_client)), 0, ZMQ_POLLIN, 0 };
        int timeout = mdp_client_tick (s_client);
        zmq_poll (&item, 1, timeout < 0 || timeout > 100 ? 100 : timeout);
        envelope_t *reply;
        while (got < count && (reply = mdp_client_recv (s_client)))
            replies [got++] = reply;
    }
    assert (got == count);
}

//  --------------------------------------------------------------------------

static void
test_create_and_get (bool verbose)
{
    envelope_t *reply = s_cart ("cart.create", NULL, NULL, NULL, NULL);
    assert (reply->status == 201);
    const char *id = json_string_value (json_object_get (reply->body, "id"));
    assert (id && strlen (id) == 32);
    assert (json_is_null (json_object_get (reply->body, "customer_id")));
    assert (streq (json_string_value (json_object_get (reply->body, "province")), "QC"));
    assert (json_array_size (json_object_get (reply->body, "items")) == 0);
    assert (s_int (reply->body, "total_cents") == 0);
    assert (strncmp (json_string_value (json_object_get (reply->body, "served_by")), "cart-", 5) == 0);
    assert (json_is_string (json_object_get (reply->body, "expires_at")));
    char *cart = strdup (id);
    envelope_destroy (&reply);

    reply = s_cart ("cart.get", NULL, NULL, s_id (cart), NULL);
    assert (reply->status == 200);
    assert (streq (json_string_value (json_object_get (reply->body, "id")), cart));
    if (verbose)
        printf ("%s\n", json_dumps (reply->body, JSON_INDENT (2)));
    envelope_destroy (&reply);

    //  A province in lower case is accepted; an unknown one and an unknown field are not
    reply = s_cart ("cart.create", NULL, NULL, NULL, json_pack ("{s:s}", "province", "on"));
    assert (reply->status == 201);
    assert (streq (json_string_value (json_object_get (reply->body, "province")), "ON"));
    envelope_destroy (&reply);
    reply = s_cart ("cart.create", NULL, NULL, NULL, json_pack ("{s:s, s:i}", "province", "XX", "total_cents", 1));
    assert (reply->status == 400 && streq (s_code (reply), "validation_failed"));
    assert (json_array_size (json_object_get (reply->error, "details")) == 2);
    envelope_destroy (&reply);

    //  Unknown (well-formed) id: 404; malformed: 400
    reply = s_cart ("cart.get", NULL, NULL, s_id ("0123456789abcdef0123456789abcdef"), NULL);
    assert (reply->status == 404 && streq (s_code (reply), "not_found"));
    envelope_destroy (&reply);
    reply = s_cart ("cart.get", NULL, NULL, s_id ("../etc"), NULL);
    assert (reply->status == 400);
    envelope_destroy (&reply);

    //  Deleted: 204, then gone
    reply = s_cart ("cart.delete", NULL, NULL, s_id (cart), NULL);
    assert (reply->status == 204);
    envelope_destroy (&reply);
    reply = s_cart ("cart.get", NULL, NULL, s_id (cart), NULL);
    assert (reply->status == 404);
    envelope_destroy (&reply);
    free (cart);
}

static void
test_add_item_prices_from_the_catalog (bool verbose)
{
    int64_t product = s_new_product (1899);
    char text [32];
    snprintf (text, sizeof text, "%lld", (long long) product);
    envelope_t *catalog = s_call_as ("product", "product.get", NULL, NULL, json_pack ("{s:s}", "id", text), NULL, NULL);
    assert (catalog->status == 200);

    char *cart = s_new_cart (NULL, NULL, NULL);
    envelope_t *reply = s_cart ("cart.add_item", NULL, NULL, s_id (cart), s_add (product, 2));
    assert (reply->status == 201);
    json_t *line = s_line (reply->body, product);
    assert (line);
    assert (s_int (line, "unit_price_cents") == s_int (catalog->body, "price_cents"));
    assert (streq (json_string_value (json_object_get (line, "sku")),
                   json_string_value (json_object_get (catalog->body, "sku"))));
    assert (streq (json_string_value (json_object_get (line, "name")),
                   json_string_value (json_object_get (catalog->body, "name"))));
    assert (s_int (line, "quantity") == 2 && s_int (line, "line_total_cents") == 3798);
    envelope_destroy (&reply);

    //  The line grows
    reply = s_cart ("cart.add_item", NULL, NULL, s_id (cart), s_add (product, 3));
    assert (reply->status == 201);
    assert (json_array_size (json_object_get (reply->body, "items")) == 1);
    assert (s_int (s_line (reply->body, product), "quantity") == 5);
    assert (s_int (reply->body, "item_count") == 5 && s_int (reply->body, "subtotal_cents") == 5 * 1899);
    envelope_destroy (&reply);

    //  A price from the client is refused, not used
    reply = s_cart ("cart.add_item", NULL, NULL, s_id (cart),
                    json_pack ("{s:I, s:i, s:i}", "product_id", (json_int_t) product, "quantity", 1,
                               "unit_price_cents", 1));
    assert (reply->status == 400);
    envelope_destroy (&reply);
    //  Quantities: 0, over 999, not an integer, missing
    json_t *bad [] = {
        s_add (product, 0), s_add (product, 1000),
        json_pack ("{s:I, s:s}", "product_id", (json_int_t) product, "quantity", "2"),
        json_pack ("{s:I, s:f}", "product_id", (json_int_t) product, "quantity", 2.0),
        json_pack ("{s:I}", "product_id", (json_int_t) product),
        json_pack ("[]"),
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        reply = s_cart ("cart.add_item", NULL, NULL, s_id (cart), bad [i]);
        assert (reply->status == 400 && streq (s_code (reply), "validation_failed"));
        envelope_destroy (&reply);
    }
    //  The line may not pass 999
    reply = s_cart ("cart.add_item", NULL, NULL, s_id (cart), s_add (product, 995));
    assert (reply->status == 400);
    envelope_destroy (&reply);

    //  An unknown product, and a withdrawn one: 404, the cart unchanged
    reply = s_cart ("cart.add_item", NULL, NULL, s_id (cart), s_add (987654321, 1));
    assert (reply->status == 404 && streq (s_code (reply), "not_found"));
    envelope_destroy (&reply);
    int64_t gone = s_new_product (500);
    snprintf (text, sizeof text, "%lld", (long long) gone);
    reply = s_call_as ("product", "product.delete", "manager", "1", json_pack ("{s:s}", "id", text), NULL, NULL);
    assert (reply->status == 204);
    envelope_destroy (&reply);
    reply = s_cart ("cart.add_item", NULL, NULL, s_id (cart), s_add (gone, 1));
    assert (reply->status == 404);
    envelope_destroy (&reply);
    reply = s_cart ("cart.get", NULL, NULL, s_id (cart), NULL);
    assert (s_int (reply->body, "item_count") == 5);
    envelope_destroy (&reply);
    envelope_destroy (&catalog);
    free (cart);
}

static void
test_set_and_remove_items (bool verbose)
{
    int64_t one = s_new_product (100), two = s_new_product (250);
    char *cart = s_new_cart (NULL, NULL, NULL);
    envelope_t *reply = s_cart ("cart.add_item", NULL, NULL, s_id (cart), s_add (one, 1));
    envelope_destroy (&reply);
    reply = s_cart ("cart.add_item", NULL, NULL, s_id (cart), s_add (two, 1));
    envelope_destroy (&reply);
    reply = s_cart ("cart.set_item", NULL, NULL, s_item (cart, one), json_pack ("{s:i}", "quantity", 4));
    assert (reply->status == 200);
    assert (s_int (s_line (reply->body, one), "quantity") == 4);
    assert (s_int (reply->body, "subtotal_cents") == 650);
    envelope_destroy (&reply);
    //  0 removes the line
    reply = s_cart ("cart.set_item", NULL, NULL, s_item (cart, one), json_pack ("{s:i}", "quantity", 0));
    assert (reply->status == 200);
    assert (!s_line (reply->body, one) && json_array_size (json_object_get (reply->body, "items")) == 1);
    envelope_destroy (&reply);
    //  A product not in the cart: 404; bad quantity: 400
    reply = s_cart ("cart.set_item", NULL, NULL, s_item (cart, one), json_pack ("{s:i}", "quantity", 1));
    assert (reply->status == 404);
    envelope_destroy (&reply);
    reply = s_cart ("cart.set_item", NULL, NULL, s_item (cart, two), json_pack ("{s:i}", "quantity", -1));
    assert (reply->status == 400);
    envelope_destroy (&reply);
    reply = s_cart ("cart.remove_item", NULL, NULL, s_item (cart, two), NULL);
    assert (reply->status == 200);
    assert (json_array_size (json_object_get (reply->body, "items")) == 0);
    assert (s_int (reply->body, "total_cents") == 0);
    envelope_destroy (&reply);
    reply = s_cart ("cart.remove_item", NULL, NULL, s_item (cart, two), NULL);
    assert (reply->status == 404);
    envelope_destroy (&reply);
    free (cart);
}

//  4 x 25.00 $ = 100.00 $ in a province; check the tax lines.
static void
s_check_taxes (int64_t product, const char *province, const char *names [], int64_t amounts [],
               int64_t total)
{
    char *cart = s_new_cart (NULL, NULL, province);
    envelope_t *reply = s_cart ("cart.add_item", NULL, NULL, s_id (cart), s_add (product, 4));
    assert (reply->status == 201);
    assert (s_int (reply->body, "subtotal_cents") == 10000);
    json_t *taxes = json_object_get (reply->body, "taxes");
    size_t count = 0;
    while (names [count])
        count++;
    assert (json_array_size (taxes) == count);
    int64_t sum = 0;
    for (size_t i = 0; i < count; i++) {
        json_t *tax = json_array_get (taxes, i);
        assert (streq (json_string_value (json_object_get (tax, "name")), names [i]));
        assert (s_int (tax, "amount_cents") == amounts [i]);
        assert (json_is_string (json_object_get (tax, "rate")));
        sum += amounts [i];
    }
    assert (s_int (reply->body, "tax_cents") == sum);
    assert (s_int (reply->body, "total_cents") == total);
    envelope_destroy (&reply);
    free (cart);
}

static void
test_taxes_by_province (bool verbose)
{
    int64_t product = s_new_product (2500);
    const char *qc [] = { "GST", "QST", NULL };
    int64_t qc_amounts [] = { 500, 998 };           //  997.5 rounds half up
    s_check_taxes (product, "QC", qc, qc_amounts, 11498);
    const char *hst [] = { "HST", NULL };
    int64_t on_amounts [] = { 1300 };
    s_check_taxes (product, "ON", hst, on_amounts, 11300);
    int64_t ns_amounts [] = { 1500 };
    s_check_taxes (product, "NS", hst, ns_amounts, 11500);
    const char *bc [] = { "GST", "PST", NULL };
    int64_t bc_amounts [] = { 500, 700 };
    s_check_taxes (product, "BC", bc, bc_amounts, 11200);
    const char *ab [] = { "GST", NULL };
    int64_t ab_amounts [] = { 500 };
    s_check_taxes (product, "AB", ab, ab_amounts, 10500);
    //  The QST rate shows as a decimal string
    char *cart = s_new_cart (NULL, NULL, "QC");
    envelope_t *reply = s_cart ("cart.get", NULL, NULL, s_id (cart), NULL);
    assert (streq (json_string_value (json_object_get (
        json_array_get (json_object_get (reply->body, "taxes"), 1), "rate")), "9.975"));
    envelope_destroy (&reply);
    free (cart);
}

static void
test_a_retried_write_applies_once (bool verbose)
{
    int64_t product = s_new_product (300);
    char *cart = s_new_cart (NULL, NULL, NULL);
    char rid [64];
    snprintf (rid, sizeof rid, "retry-%d-%lld", getpid (), (long long) zclock_usecs ());
    //  The same request twice, one after the other (new correlation id, same request id)
    for (int i = 0; i < 2; i++) {
        envelope_t *reply = s_call_as ("cart", "cart.add_item", NULL, NULL, s_id (cart), s_add (product, 2), rid);
        assert (reply->status == 201);
        assert (s_int (s_line (reply->body, product), "quantity") == 2);
        envelope_destroy (&reply);
    }
    //  And four copies at once on whatever workers the broker picks
    snprintf (rid, sizeof rid, "retry-%d-%lld", getpid (), (long long) zclock_usecs ());
    envelope_t *requests [4], *replies [4];
    for (int i = 0; i < 4; i++)
        requests [i] = s_request ("cart.add_item", NULL, NULL, s_id (cart), s_add (product, 2), rid);
    s_send_all (requests, replies, 4);
    for (int i = 0; i < 4; i++) {
        assert (replies [i]->status == 201);
        assert (s_int (s_line (replies [i]->body, product), "quantity") == 4);
        envelope_destroy (&replies [i]);
    }
    envelope_t *reply = s_cart ("cart.get", NULL, NULL, s_id (cart), NULL);
    assert (s_int (s_line (reply->body, product), "quantity") == 4);
    envelope_destroy (&reply);

    //  A repeated create gives the same cart; a repeated delete is 204 again
    snprintf (rid, sizeof rid, "create-%d-%lld", getpid (), (long long) zclock_usecs ());
    envelope_t *first = s_call_as ("cart", "cart.create", NULL, NULL, NULL, NULL, rid);
    envelope_t *again = s_call_as ("cart", "cart.create", NULL, NULL, NULL, NULL, rid);
    assert (first->status == 201 && again->status == 201);
    assert (json_equal (json_object_get (first->body, "id"), json_object_get (again->body, "id")));
    envelope_destroy (&first);
    envelope_destroy (&again);
    snprintf (rid, sizeof rid, "delete-%d-%lld", getpid (), (long long) zclock_usecs ());
    for (int i = 0; i < 2; i++) {
        reply = s_call_as ("cart", "cart.delete", NULL, NULL, s_id (cart), NULL, rid);
        assert (reply->status == 204 && reply->body == NULL);
        envelope_destroy (&reply);
    }
    reply = s_cart ("cart.delete", NULL, NULL, s_id (cart), NULL);
    assert (reply->status == 404);
    envelope_destroy (&reply);
    free (cart);
}

static void
test_concurrent_writers_lose_nothing (bool verbose)
{
    int64_t product = s_new_product (100);
    char *cart = s_new_cart (NULL, NULL, NULL);
    enum { N = 30 };
    envelope_t *requests [N], *replies [N];
    for (int i = 0; i < N; i++)
        requests [i] = s_request ("cart.add_item", NULL, NULL, s_id (cart), s_add (product, 1), NULL);
    s_send_all (requests, replies, N);
    for (int i = 0; i < N; i++) {
        assert (replies [i]->status == 201);
        envelope_destroy (&replies [i]);
    }
    envelope_t *reply = s_cart ("cart.get", NULL, NULL, s_id (cart), NULL);
    assert (s_int (s_line (reply->body, product), "quantity") == N);
    envelope_destroy (&reply);
    free (cart);
}

static void
test_requests_spread_over_three_workers (bool verbose)
{
    char *cart = s_new_cart (NULL, NULL, NULL);
    zhashx_t *seen = zhashx_new ();
    for (int i = 0; i < 30; i++) {
        envelope_t *reply = s_cart ("cart.get", NULL, NULL, s_id (cart), NULL);
        assert (reply->status == 200);
        const char *worker = json_string_value (json_object_get (reply->body, "served_by"));
        assert (worker && strncmp (worker, "cart-", 5) == 0);
        zhashx_update (seen, worker, (void *) 1);
        envelope_destroy (&reply);
    }
    if (verbose)
        printf ("%zu workers answered\n", zhashx_size (seen));
    assert (zhashx_size (seen) >= WORKERS);
    zhashx_destroy (&seen);
    free (cart);
}

static void
test_claim_merges_and_locks_the_cart (bool verbose)
{
    int64_t one = s_new_product (1000), two = s_new_product (200);
    char alice [32], bob [32];
    snprintf (alice, sizeof alice, "%d%d1", getpid (), s_sequence);
    snprintf (bob, sizeof bob, "%d%d2", getpid (), s_sequence);

    //  Alice's own cart (created with her token), one line
    char *mine = s_new_cart ("customer", alice, NULL);
    envelope_t *reply = s_cart ("cart.add_item", "customer", alice, s_id (mine), s_add (one, 1));
    assert (reply->status == 201);
    assert (streq (json_string_value (json_object_get (reply->body, "customer_id")), alice));
    envelope_destroy (&reply);
    //  Already hers: anonymous and Bob see nothing
    reply = s_cart ("cart.get", NULL, NULL, s_id (mine), NULL);
    assert (reply->status == 404);
    envelope_destroy (&reply);

    //  A guest cart with two lines
    char *guest = s_new_cart (NULL, NULL, NULL);
    reply = s_cart ("cart.add_item", NULL, NULL, s_id (guest), s_add (one, 2));
    envelope_destroy (&reply);
    reply = s_cart ("cart.add_item", NULL, NULL, s_id (guest), s_add (two, 1));
    envelope_destroy (&reply);

    //  Claiming needs a customer token
    reply = s_cart ("cart.claim", NULL, NULL, s_id (guest), NULL);
    assert (reply->status == 401);
    envelope_destroy (&reply);
    reply = s_cart ("cart.claim", "manager", "1", s_id (guest), NULL);
    assert (reply->status == 403);
    envelope_destroy (&reply);

    //  Alice claims: her cart, quantities summed
    reply = s_cart ("cart.claim", "customer", alice, s_id (guest), NULL);
    assert (reply->status == 200);
    assert (streq (json_string_value (json_object_get (reply->body, "id")), mine));
    assert (s_int (s_line (reply->body, one), "quantity") == 3);
    assert (s_int (s_line (reply->body, two), "quantity") == 1);
    envelope_destroy (&reply);
    //  The guest cart is gone; Alice's answers her only
    reply = s_cart ("cart.get", NULL, NULL, s_id (guest), NULL);
    assert (reply->status == 404);
    envelope_destroy (&reply);
    reply = s_cart ("cart.get", "customer", alice, s_id (mine), NULL);
    assert (reply->status == 200 && s_int (reply->body, "item_count") == 4);
    envelope_destroy (&reply);
    reply = s_cart ("cart.get", "customer", bob, s_id (mine), NULL);
    assert (reply->status == 404 && streq (s_code (reply), "not_found"));
    envelope_destroy (&reply);
    reply = s_cart ("cart.add_item", "customer", bob, s_id (mine), s_add (one, 1));
    assert (reply->status == 404);
    envelope_destroy (&reply);

    //  Bob has no cart: the guest cart he claims becomes his, and is then
    //  closed to Alice and to anonymous callers
    char *other = s_new_cart (NULL, NULL, "ON");
    reply = s_cart ("cart.add_item", NULL, NULL, s_id (other), s_add (two, 2));
    envelope_destroy (&reply);
    reply = s_cart ("cart.claim", "customer", bob, s_id (other), NULL);
    assert (reply->status == 200);
    assert (streq (json_string_value (json_object_get (reply->body, "id")), other));
    assert (streq (json_string_value (json_object_get (reply->body, "customer_id")), bob));
    envelope_destroy (&reply);
    reply = s_cart ("cart.claim", "customer", alice, s_id (other), NULL);
    assert (reply->status == 404);
    envelope_destroy (&reply);
    reply = s_cart ("cart.set_item", NULL, NULL, s_item (other, two), json_pack ("{s:i}", "quantity", 9));
    assert (reply->status == 404);
    envelope_destroy (&reply);
    reply = s_cart ("cart.get", "customer", bob, s_id (other), NULL);
    assert (reply->status == 200 && s_int (reply->body, "item_count") == 2);
    envelope_destroy (&reply);
    free (mine);
    free (guest);
    free (other);
}

static void
test_a_change_sets_a_24_hour_life (bool verbose)
{
    int64_t product = s_new_product (100);
    char *cart = s_new_cart (NULL, NULL, NULL);
    char host [128], key [64];
    int port;
    assert (redisdb_parse_address (getenv ("COMPTOIR_TEST_REDIS"), host, sizeof host, &port) == 0);
    redisdb_t *redis = redisdb_new (host, port, 500, 1000);
    snprintf (key, sizeof key, "cart:%s", cart);
    //  Shorten the life by hand, then a change sets it back to 24 h
    redisReply *reply = redisdb_commandv (redis, "EXPIRE", key, "60", NULL);
    assert (reply && reply->integer == 1);
    freeReplyObject (reply);
    envelope_t *answer = s_cart ("cart.add_item", NULL, NULL, s_id (cart), s_add (product, 1));
    assert (answer->status == 201);
    envelope_destroy (&answer);
    reply = redisdb_commandv (redis, "TTL", key, NULL);
    assert (reply && reply->type == REDIS_REPLY_INTEGER);
    if (verbose)
        printf ("ttl %lld\n", reply->integer);
    assert (reply->integer > 86400 - 60 && reply->integer <= 86400);
    freeReplyObject (reply);
    redisdb_destroy (&redis);
    free (cart);
}

//  --------------------------------------------------------------------------
//  Redis away: a cart actor in this process against a private Redis (with
//  an append-only file, as scripts/redis.sh configures ours).

static pid_t
s_start_redis (const char *dir)
{
    pid_t pid = fork ();
    if (pid == 0) {
        char port [16];
        snprintf (port, sizeof port, "%d", PRIVATE_REDIS_PORT);
        int null = open ("/dev/null", O_WRONLY);
        dup2 (null, 1);
        dup2 (null, 2);
        execlp ("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "yes", "--appendfsync", "everysec",
                "--dir", dir, (char *) NULL);
        _exit (127);
    }
    return pid;
}

//  A keys folder of our own under dir with the broker's public key (the
//  in-process actor's catalog client needs one; the broker does not admit
//  it, which only the catalog-away case relies on).
static void
s_private_keys (const char *dir)
{
    char keys [128], from [512], to [256];
    snprintf (keys, sizeof keys, "%s/keys", dir);
    zsys_dir_create ("%s", keys);
    snprintf (from, sizeof from, "%s/keys/broker", getenv ("COMPTOIR_TEST_VAR"));
    snprintf (to, sizeof to, "%s/broker", keys);
    assert (s_copy (from, to) == 0);
    setenv ("COMPTOIR_KEYS_DIR", keys, 1);
}

static void
s_remove_dir (const char *dir)
{
    char command [300];
    snprintf (command, sizeof command, "rm -rf '%s'", dir);
    assert (system (command) == 0);
}

//  Dispatch a verb (on cart id, or none) until the answer is not a 503,
//  for at most 5 s. Returns the last answer.
static envelope_t *
s_dispatch_until_served (void *state, const char *verb, const char *id)
{
    envelope_t *reply = NULL;
    for (int i = 0; i < 100; i++) {
        envelope_destroy (&reply);
        zclock_sleep (50);
        envelope_t *request = s_request (verb, NULL, NULL, id ? s_id (id) : NULL, NULL, NULL);
        reply = contextnode_dispatch (&cart_context_def, request, state);
        envelope_destroy (&request);
        if (reply->status != 503)
            break;
    }
    return reply;
}

static void
test_redis_away_is_a_fast_503_and_recovers (bool verbose)
{
    char dir [] = "/tmp/cart-it-XXXXXX";
    assert (mkdtemp (dir));
    s_private_keys (dir);
    char port [16];
    snprintf (port, sizeof port, "%d", PRIVATE_REDIS_PORT);
    setenv ("COMPTOIR_REDIS_PORT", port, 1);
    setenv ("COMPTOIR_CART_REDIS_RETRY_PAUSE_MS", "50", 1);
    settings_t *settings = settings_load (getenv ("COMPTOIR_TEST_CONFIG"));
    assert (settings);
    void *state = cart_context_def.make_state (settings, 9, 1);
    assert (state);

    //  Nobody on the port: 503 service_unavailable, at once
    for (int i = 0; i < 5; i++) {
        envelope_t *request = s_request (i % 2 ? "cart.get" : "cart.create", NULL, NULL,
                                         i % 2 ? s_id ("0123456789abcdef0123456789abcdef") : NULL, NULL, NULL);
        int64_t started = zclock_mono ();
        envelope_t *reply = contextnode_dispatch (&cart_context_def, request, state);
        int64_t spent = zclock_mono () - started;
        if (verbose)
            printf ("%s -> %d in %lld ms\n", request->verb, reply->status, (long long) spent);
        assert (reply->status == 503 && streq (s_code (reply), "service_unavailable"));
        assert (spent < 400);
        envelope_destroy (&reply);
        envelope_destroy (&request);
    }
    //  Redis comes: the same actor serves again by itself
    pid_t redis = s_start_redis (dir);
    assert (redis > 0);
    envelope_t *reply = s_dispatch_until_served (state, "cart.create", NULL);
    assert (reply->status == 201);
    char *cart = strdup (json_string_value (json_object_get (reply->body, "id")));
    envelope_destroy (&reply);
    //  Redis stops (as for a restart: SIGTERM, the AOF written): 503 again, fast
    kill (redis, SIGTERM);
    waitpid (redis, NULL, 0);
    envelope_t *request = s_request ("cart.get", NULL, NULL, s_id (cart), NULL, NULL);
    int64_t started = zclock_mono ();
    reply = contextnode_dispatch (&cart_context_def, request, state);
    assert (reply->status == 503 && zclock_mono () - started < 1000);
    envelope_destroy (&reply);
    envelope_destroy (&request);
    //  Redis back from its append-only file: the cart is there
    redis = s_start_redis (dir);
    reply = s_dispatch_until_served (state, "cart.get", cart);
    assert (reply->status == 200);
    assert (streq (json_string_value (json_object_get (reply->body, "id")), cart));
    envelope_destroy (&reply);
    kill (redis, SIGKILL);
    waitpid (redis, NULL, 0);
    free (cart);
    cart_context_def.free_state (&state);
    settings_destroy (&settings);
    s_remove_dir (dir);
}

//  The catalog away (a broker that does not answer): add_item is a 503
//  within the catalog deadline; the cart itself is untouched.
static void
test_catalog_away_is_a_503 (bool verbose)
{
    char dir [] = "/tmp/cart-it-XXXXXX";
    assert (mkdtemp (dir));
    s_private_keys (dir);
    char host [128];
    int port;
    assert (redisdb_parse_address (getenv ("COMPTOIR_TEST_REDIS"), host, sizeof host, &port) == 0);
    setenv ("COMPTOIR_BROKER_ENDPOINT", "tcp://127.0.0.1:1", 1);
    settings_t *settings = settings_load (getenv ("COMPTOIR_TEST_CONFIG"));
    assert (settings);
    void *state = cart_context_def.make_state (settings, 9, 2);
    assert (state);
    envelope_t *request = s_request ("cart.create", NULL, NULL, NULL, NULL, NULL);
    envelope_t *reply = contextnode_dispatch (&cart_context_def, request, state);
    assert (reply->status == 201);
    char *cart = strdup (json_string_value (json_object_get (reply->body, "id")));
    envelope_destroy (&reply);
    envelope_destroy (&request);
    request = s_request ("cart.add_item", NULL, NULL, s_id (cart), s_add (1, 1), NULL);
    int64_t started = zclock_mono ();
    reply = contextnode_dispatch (&cart_context_def, request, state);
    int64_t spent = zclock_mono () - started;
    if (verbose)
        printf ("add_item -> %d in %lld ms\n", reply->status, (long long) spent);
    assert (reply->status == 503 && streq (s_code (reply), "service_unavailable"));
    assert (spent < 1500);
    envelope_destroy (&reply);
    envelope_destroy (&request);
    request = s_request ("cart.get", NULL, NULL, s_id (cart), NULL, NULL);
    reply = contextnode_dispatch (&cart_context_def, request, state);
    assert (reply->status == 200 && json_array_size (json_object_get (reply->body, "items")) == 0);
    envelope_destroy (&reply);
    envelope_destroy (&request);
    free (cart);
    cart_context_def.free_state (&state);
    settings_destroy (&settings);
    s_remove_dir (dir);
}

//  Workers killed with SIGKILL in the middle of a stream of writes: the
//  broker hands the killed worker's requests to another (they are
//  retryable), the client resends what got no answer, and the stored
//  replies make every copy apply once. Every request is acknowledged, and
//  the cart holds exactly what was acknowledged. Two extra workers of our
//  own are the ones killed (and started again), whoever else serves carts.
static void
test_killed_workers_lose_and_double_nothing (bool verbose)
{
    enum { TOTAL = 600, WINDOW = 8, VICTIMS = 2, PACE_MS = 5 };
    char keys [128];
    snprintf (keys, sizeof keys, "/tmp/cart-it-chaos-%d", getpid ());
    assert (s_prepare_keys (keys, 7, 6 + VICTIMS) == 0);
    pid_t victims [VICTIMS];
    for (int i = 0; i < VICTIMS; i++)
        victims [i] = s_spawn_worker (keys, 7 + i);
    int64_t product = s_new_product (100);
    char *cart = s_new_cart (NULL, NULL, NULL);
    if (!s_client)
        s_connect ();
    mdp_client_set_timeout (s_client, 8000);

    int sent = 0, acknowledged = 0, failed = 0, kills = 0, in_flight = 0;
    int64_t next_kill = zclock_mono () + 300;
    int64_t next_send = zclock_mono ();
    int64_t until = zclock_mono () + 40000;
    while ((sent < TOTAL || in_flight > 0) && zclock_mono () < until) {
        //  A steady stream (one request every PACE_MS), so that kills land
        //  in the middle of it
        while (sent < TOTAL && in_flight < WINDOW && zclock_mono () >= next_send) {
            next_send += PACE_MS;
            envelope_t *request = s_request ("cart.add_item", NULL, NULL, s_id (cart), s_add (product, 1), NULL);
            request->retryable = true;
            assert (mdp_client_send (s_client, "cart", &request) == 0);
            sent++;
            in_flight++;
        }
        zmq_pollitem_t item = { zsock_resolve (mdp_client_sock (s_client)), 0, ZMQ_POLLIN, 0 };
        int timeout = mdp_client_tick (s_client);
        zmq_poll (&item, 1, timeout < 0 || timeout > PACE_MS ? PACE_MS : timeout);
        envelope_t *reply;
        while ((reply = mdp_client_recv (s_client))) {
            in_flight--;
            if (reply->status == 201)
                acknowledged++;
            else {
                failed++;
                if (verbose)
                    printf ("failed: %d %s\n", reply->status, s_code (reply));
            }
            envelope_destroy (&reply);
        }
        if (zclock_mono () >= next_kill && sent < TOTAL) {
            int victim = kills % VICTIMS;
            s_reap (victims [victim], SIGKILL);
            victims [victim] = s_spawn_worker (keys, 7 + victim);
            kills++;
            next_kill = zclock_mono () + 300;
        }
    }
    for (int i = 0; i < VICTIMS; i++)
        s_reap (victims [i], SIGTERM);
    char command [200];
    snprintf (command, sizeof command, "rm -rf '%s'", keys);
    assert (system (command) == 0);
    if (verbose)
        printf ("%d sent, %d acknowledged, %d failed, %d kills\n", sent, acknowledged, failed, kills);
    assert (kills >= 3);
    assert (failed == 0 && acknowledged == TOTAL);
    envelope_t *reply = s_cart ("cart.get", NULL, NULL, s_id (cart), NULL);
    assert (reply->status == 200);
    if (verbose)
        printf ("quantity %lld\n", (long long) s_int (s_line (reply->body, product), "quantity"));
    assert (s_int (s_line (reply->body, product), "quantity") == TOTAL);
    envelope_destroy (&reply);
    free (cart);
}

static const testrunner_case_t s_cases [] = {
    { "cart_create_and_get", test_create_and_get },
    { "cart_add_item_prices_from_the_catalog", test_add_item_prices_from_the_catalog },
    { "cart_set_and_remove_items", test_set_and_remove_items },
    { "cart_taxes_by_province", test_taxes_by_province },
    { "cart_a_retried_write_applies_once", test_a_retried_write_applies_once },
    { "cart_concurrent_writers_lose_nothing", test_concurrent_writers_lose_nothing },
    { "cart_requests_spread_over_three_workers", test_requests_spread_over_three_workers },
    { "cart_claim_merges_and_locks_the_cart", test_claim_merges_and_locks_the_cart },
    { "cart_a_change_sets_a_24_hour_life", test_a_change_sets_a_24_hour_life },
    { "cart_redis_away_is_a_fast_503_and_recovers", test_redis_away_is_a_fast_503_and_recovers },
    { "cart_catalog_away_is_a_503", test_catalog_away_is_a_503 },
    { "cart_killed_workers_lose_and_double_nothing", test_killed_workers_lose_and_double_nothing },
    { NULL, NULL }
};

//  --------------------------------------------------------------------------
//  Our own cart workers, when the environment runs none.


static bool
s_environment_runs_carts (void)
{
    const char *status = getenv ("COMPTOIR_TEST_SUPERVISOR_STATUS");
    FILE *file = status ? fopen (status, "r") : NULL;
    bool found = false;
    char line [256];
    while (file && fgets (line, sizeof line, file))
        if (strncmp (line, "cart-", 5) == 0)
            found = true;
    if (file)
        fclose (file);
    return found;
}

//  Copy file from to to (small files). Returns 0 or -1.
static int
s_copy (const char *from, const char *to)
{
    zfile_t *source = zfile_new (NULL, from);
    int rc = -1;
    if (source && zfile_input (source) == 0) {
        zchunk_t *chunk = zfile_read (source, (size_t) zfile_cursize (source), 0);
        zfile_t *target = zfile_new (NULL, to);
        if (chunk && target && zfile_output (target) == 0 && zfile_write (target, chunk, 0) == 0)
            rc = 0;
        zfile_destroy (&target);
        zchunk_destroy (&chunk);
    }
    zfile_destroy (&source);
    return rc;
}

//  Cart workers started by the test. The broker admits only the keys of
//  the planned processes, so each runs from a keys folder of our own
//  holding a copy of an admitted certificate (the edge's) under its name,
//  and the broker's public key.
static int
s_prepare_keys (const char *keys, int first, int last)
{
    const char *var = getenv ("COMPTOIR_TEST_VAR");
    zsys_dir_create ("%s", keys);
    char from [512], to [512];
    snprintf (from, sizeof from, "%s/keys/broker", var);
    snprintf (to, sizeof to, "%s/broker", keys);
    if (s_copy (from, to))
        return -1;
    for (int i = first; i <= last; i++) {
        snprintf (from, sizeof from, "%s/keys/edge", var);
        snprintf (to, sizeof to, "%s/cart-%d", keys, i);
        if (s_copy (from, to))
            return -1;
        snprintf (from, sizeof from, "%s/keys/edge_secret", var);
        snprintf (to, sizeof to, "%s/cart-%d_secret", keys, i);
        if (s_copy (from, to))
            return -1;
        chmod (to, 0600);
    }
    return 0;
}

//  One cart worker process, instance n, one actor. Returns its pid.
static pid_t
s_spawn_worker (const char *keys, int n)
{
    pid_t pid = fork ();
    if (pid == 0) {
        char instance [16];
        snprintf (instance, sizeof instance, "%d", n);
        setenv ("COMPTOIR_KEYS_DIR", keys, 1);
        setenv ("COMPTOIR_CART_ACTORS", "1", 1);
        setenv ("COMPTOIR_LOG_LEVEL", "error", 1);
        execl ("actors/cart/comptoir-cart", "comptoir-cart", "--config",
               getenv ("COMPTOIR_TEST_CONFIG"), "--instance", instance, (char *) NULL);
        _exit (127);
    }
    return pid;
}

static void
s_reap (pid_t pid, int signal_number)
{
    if (pid <= 0)
        return;
    kill (pid, signal_number);
    int64_t until = zclock_mono () + 3000;
    while (waitpid (pid, NULL, WNOHANG) == 0) {
        if (zclock_mono () > until) {
            kill (pid, SIGKILL);
            waitpid (pid, NULL, 0);
            break;
        }
        zclock_sleep (10);
    }
}

static int
s_start_workers (char *keys, size_t size)
{
    snprintf (keys, size, "/tmp/cart-it-keys-%d", getpid ());
    if (s_prepare_keys (keys, 1, WORKERS))
        return -1;
    for (int i = 0; i < WORKERS; i++)
        s_workers [i] = s_spawn_worker (keys, i + 1);
    return 0;
}

static void
s_stop_workers (const char *keys)
{
    for (int i = 0; i < WORKERS; i++)
        s_reap (s_workers [i], SIGTERM);
    char command [600];
    snprintf (command, sizeof command, "rm -rf '%s'", keys);
    if (strncmp (keys, "/tmp/cart-it-keys-", 18) == 0 && system (command) != 0)
        fprintf (stderr, "cart_it: could not remove %s\n", keys);
}

static bool
s_wait_in_child (void)
{
    for (int i = 0; i < 100; i++) {
        if (!s_client)
            s_connect ();
        envelope_t *request = s_request ("cart.get", NULL, NULL,
                                         s_id ("0123456789abcdef0123456789abcdef"), NULL, NULL);
        request->deadline = zclock_time () + 500;
        envelope_t *reply = mdp_client_call (s_client, "cart", &request);
        int status = reply ? reply->status : 0;
        envelope_destroy (&reply);
        if (status == 404)
            return true;
        zclock_sleep (100);
    }
    return false;
}

//  Wait until the cart service answers (bounded), in a child: ZeroMQ must
//  not be started in the process that forks the tests.
static bool
s_wait_for_carts (void)
{
    pid_t child = fork ();
    if (child == 0)
        _exit (s_wait_in_child () ? 0 : 1);
    int status = 1;
    waitpid (child, &status, 0);
    return WIFEXITED (status) && WEXITSTATUS (status) == 0;
}

int
main (int argc, char **argv)
{
    if (!getenv ("COMPTOIR_TEST_BROKER") || !getenv ("COMPTOIR_TEST_VAR")
    ||  !getenv ("COMPTOIR_TEST_REDIS") || !getenv ("COMPTOIR_TEST_CONFIG")) {
        printf ("SKIP: cart_it needs the test environment (scripts/testenv.sh)\n");
        return 77;
    }
    bool own = !s_environment_runs_carts ();
    char keys [256] = "";
    if (own && s_start_workers (keys, sizeof keys)) {
        printf ("FAIL: cart_it could not start its cart workers\n");
        s_stop_workers (keys);
        return 1;
    }
    bool ready = s_wait_for_carts ();
    int rc;
    if (!ready) {
        printf ("FAIL: cart_it: the cart service does not answer\n");
        rc = 1;
    }
    else
        rc = testrunner_main (argc, argv, s_cases, 60);
    if (own)
        s_stop_workers (keys);
    return rc;
}
