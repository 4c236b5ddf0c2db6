/*  catalog_writes - the catalog's write verbs through the real Majordomo
    broker, as the edge will send them once tokens exist: a CURVE client,
    an envelope with a manager (or a customer) identity, the live product
    workers and their PostgreSQL. Needs the test environment
    (scripts/testenv.sh): COMPTOIR_TEST_BROKER and COMPTOIR_TEST_VAR. */
#include "testrunner.h"

#include "curvekeys.h"
#include "envelope.h"
#include "mdp_client.h"

static mdp_client_t *s_client;

//  A client that the test broker admits: the edge's certificate.
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

//  Call a product verb with a role, params and data (both may be NULL; data
//  is taken). Returns the reply.
static envelope_t *
s_call (const char *verb, const char *role, json_t *params, json_t *data)
{
    if (!s_client)
        s_connect ();
    envelope_t *request = envelope_new_request (verb);
    envelope_set_str (&request->role, role);
    envelope_set_str (&request->sub, role ? "1" : NULL);
    envelope_set_str (&request->consumer, "catalog-writes-test");
    envelope_set_str (&request->rid, "catalog-writes-test");
    request->body = json_object ();
    json_object_set_new (request->body, "params", params ? params : json_object ());
    if (data)
        json_object_set_new (request->body, "data", data);
    envelope_t *reply = mdp_client_call (s_client, "product", &request);
    assert (reply);
    return reply;
}

static const char *
s_error_code (const envelope_t *reply)
{
    return json_string_value (json_object_get (reply->error, "code"));
}

static json_t *
s_id_param (json_int_t id)
{
    char text [32];
    snprintf (text, sizeof text, "%lld", (long long) id);
    return json_pack ("{s:s}", "id", text);
}

//  A category of our own, so that runs never collide.
static json_int_t
s_new_category (void)
{
    char name [64];
    snprintf (name, sizeof name, "Test category %d-%d", getpid (), (int) (zclock_usecs () % 100000));
    envelope_t *reply = s_call ("category.create", "manager", NULL,
                                json_pack ("{s:s, s:s}", "name", name, "description", "writes"));
    assert (reply->status == 201);
    json_int_t id = json_integer_value (json_object_get (reply->body, "id"));
    assert (id > 0);
    envelope_destroy (&reply);
    return id;
}

//  --------------------------------------------------------------------------

static void
test_manager_creates_updates_and_deletes_a_product (bool verbose)
{
    json_int_t category = s_new_category ();
    envelope_t *reply = s_call ("product.create", "manager", NULL,
        json_pack ("{s:s, s:i, s:I}", "name", "Tasse en grès", "price_cents", 1899,
                   "category_id", category));
    if (verbose && reply->error)
        printf ("%s\n", json_dumps (reply->error, 0));
    assert (reply->status == 201);
    json_int_t id = json_integer_value (json_object_get (reply->body, "id"));
    const char *sku = json_string_value (json_object_get (reply->body, "sku"));
    assert (id > 0 && sku && strlen (sku) > 3);
    assert (json_integer_value (json_object_get (reply->body, "price_cents")) == 1899);
    assert (json_integer_value (json_object_get (reply->body, "alert_threshold")) == 5);
    envelope_destroy (&reply);

    //  The change is what every worker reads next
    reply = s_call ("product.update", "admin", s_id_param (id), json_pack ("{s:i}", "price_cents", 2099));
    assert (reply->status == 200);
    envelope_destroy (&reply);
    for (int i = 0; i < 4; i++) {
        reply = s_call ("product.get", NULL, s_id_param (id), NULL);
        assert (reply->status == 200);
        assert (json_integer_value (json_object_get (reply->body, "price_cents")) == 2099);
        envelope_destroy (&reply);
    }
    //  Soft delete: 204, then the product is gone for readers
    reply = s_call ("product.delete", "manager", s_id_param (id), NULL);
    assert (reply->status == 204);
    envelope_destroy (&reply);
    reply = s_call ("product.get", NULL, s_id_param (id), NULL);
    assert (reply->status == 404);
    assert (streq (s_error_code (reply), "not_found"));
    envelope_destroy (&reply);
}

static void
test_customer_and_anonymous_may_not_write (bool verbose)
{
    json_int_t category = s_new_category ();
    const char *roles [] = { "customer", "cashier", NULL };
    for (int i = 0; i < 3; i++) {
        envelope_t *reply = s_call ("product.create", roles [i], NULL,
            json_pack ("{s:s, s:i, s:I}", "name", "Interdit", "price_cents", 100, "category_id", category));
        assert (reply->status == 403);
        assert (streq (s_error_code (reply), "forbidden"));
        envelope_destroy (&reply);
    }
    envelope_t *reply = s_call ("category.delete", "customer", s_id_param (category), NULL);
    assert (reply->status == 403);
    envelope_destroy (&reply);
    //  Nothing was written: the category is still empty and deletable by a manager
    reply = s_call ("category.delete", "manager", s_id_param (category), NULL);
    assert (reply->status == 204);
    envelope_destroy (&reply);
}

static void
test_bad_input_is_answered_with_details_and_writes_nothing (bool verbose)
{
    json_int_t category = s_new_category ();
    //  Wrong type, unknown field, missing name: 400 with one detail each
    envelope_t *reply = s_call ("product.create", "manager", NULL,
        json_pack ("{s:s, s:I, s:i}", "price_cents", "12", "category_id", category, "id", 7));
    assert (reply->status == 400);
    assert (streq (s_error_code (reply), "validation_failed"));
    json_t *details = json_object_get (reply->error, "details");
    assert (json_array_size (details) >= 2);
    if (verbose)
        printf ("%s\n", json_dumps (details, 0));
    envelope_destroy (&reply);

    //  Duplicate sku: 409, and the first product is untouched
    char sku [32];
    snprintf (sku, sizeof sku, "TST-%d", getpid ());
    reply = s_call ("product.create", "manager", NULL,
        json_pack ("{s:s, s:i, s:I, s:s}", "name", "Premier", "price_cents", 500,
                   "category_id", category, "sku", sku));
    assert (reply->status == 201);
    json_int_t first = json_integer_value (json_object_get (reply->body, "id"));
    envelope_destroy (&reply);
    reply = s_call ("product.create", "manager", NULL,
        json_pack ("{s:s, s:i, s:I, s:s}", "name", "Second", "price_cents", 700,
                   "category_id", category, "sku", sku));
    assert (reply->status == 409);
    assert (streq (s_error_code (reply), "conflict"));
    envelope_destroy (&reply);
    reply = s_call ("product.get_by_sku", NULL, json_pack ("{s:s}", "sku", sku), NULL);
    assert (reply->status == 200);
    assert (json_integer_value (json_object_get (reply->body, "id")) == first);
    assert (streq (json_string_value (json_object_get (reply->body, "name")), "Premier"));
    envelope_destroy (&reply);

    //  A category holding an active product cannot be deleted
    reply = s_call ("category.delete", "manager", s_id_param (category), NULL);
    assert (reply->status == 409);
    envelope_destroy (&reply);
}

//  --------------------------------------------------------------------------
//  What the point of sale asks of the catalog through the broker: a scanned
//  barcode, then the whole sale's products in one get_many.

static void
test_point_of_sale_reads_through_the_broker (bool verbose)
{
    envelope_t *reply = s_call ("product.get_by_barcode", "cashier",
                                json_pack ("{s:s}", "code", "0628000110019"), NULL);
    assert (reply->status == 200);
    assert (streq (json_string_value (json_object_get (reply->body, "sku")), "CAF-1001"));
    json_int_t scanned = json_integer_value (json_object_get (reply->body, "id"));
    envelope_destroy (&reply);
    reply = s_call ("product.get_many", "service", NULL,
                    json_pack ("{s:[I, i, i]}", "ids", scanned, 987654321, 1));
    assert (reply->status == 200);
    json_t *products = json_object_get (reply->body, "data");
    assert (json_array_size (products) == (scanned == 1 ? 1 : 2));
    size_t index;
    json_t *product;
    json_array_foreach (products, index, product) {
        assert (json_is_integer (json_object_get (product, "cost_cents")));
        assert (json_is_integer (json_object_get (product, "price_cents")));
    }
    envelope_destroy (&reply);
    reply = s_call ("product.get_many", "service", NULL, json_pack ("{s:[]}", "ids"));
    assert (reply->status == 400 && streq (s_error_code (reply), "validation_failed"));
    envelope_destroy (&reply);
}

//  --------------------------------------------------------------------------

static const testrunner_case_t s_cases [] = {
    { "manager_creates_updates_and_deletes_a_product", test_manager_creates_updates_and_deletes_a_product },
    { "point_of_sale_reads_through_the_broker", test_point_of_sale_reads_through_the_broker },
    { "customer_and_anonymous_may_not_write", test_customer_and_anonymous_may_not_write },
    { "bad_input_is_answered_with_details_and_writes_nothing",
      test_bad_input_is_answered_with_details_and_writes_nothing },
    { NULL, NULL }
};

int
main (int argc, char **argv)
{
    if (!getenv ("COMPTOIR_TEST_BROKER") || !getenv ("COMPTOIR_TEST_VAR")) {
        printf ("SKIP: catalog_writes needs the test environment (scripts/testenv.sh)\n");
        return 77;
    }
    return testrunner_main (argc, argv, s_cases, 60);
}
