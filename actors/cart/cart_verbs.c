/*  =========================================================================
    cart_verbs - the handlers of the cart.* verbs

    Why it is built this way:

    - One cart is one JSON string in Redis under cart:<id>, written whole
      with SET ... EX ttl: every change refreshes the 24 h life, and a cart
      nobody touches expires by itself. A customer's current cart is named
      by cart:customer:<sub> (same life).
    - Optimistic concurrency: WATCH the cart, read it, change it in C, and
      write it in MULTI/EXEC; when another worker changed it meanwhile, EXEC
      answers nil and we start again from the read. Three workers on one
      cart never lose an update, and no lock is ever left behind by a
      killed worker.
    - A retried write applies once. The reply of every successful write is
      stored in the same MULTI/EXEC as the change, under
      cart:<id>:done:<verb>:<caller>:<request id> with the cart's life; a
      request carrying the same request id is answered that stored reply
      without changing anything. Two copies racing on two workers are safe
      too: the loser's EXEC fails (the cart changed), and its next turn
      finds the stored reply. This is what lets the edge and the broker
      resend cart writes when a worker dies.
    - Prices, SKUs and names come from the catalog (product.get through the
      broker), never from the client; the catalog away is a 503, an unknown
      or withdrawn product a 404.
    - Redis away is a 503 within the connect or command timeout (a fraction
      of a second), and the next request reconnects (redisdb).
    - Ownership: a cart with a customer_id answers only that customer's
      token; anyone else gets 404, as if it did not exist (API.md).
    =========================================================================
*/
#include "cart_verbs.h"
#include "cart_context.h"
#include "cart_model.h"
#include "logline.h"
#include "request_input.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CART_TRIES        32          //  optimistic rounds before giving up
#define CART_ID_BYTES     16          //  128 bits
#define CART_KEY_MAX      1024

//  A change applied to a loaded cart inside the optimistic loop: NULL when
//  it applies, else the error reply (nothing is written).
typedef envelope_t *(s_change_fn) (const envelope_t *request, json_t *cart, void *arg);

//  --------------------------------------------------------------------------

bool
cart_verbs_valid_id (const char *text)
{
    if (!text || strlen (text) != CART_ID_BYTES * 2)
        return false;
    for (const char *c = text; *c; c++)
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
            return false;
    return true;
}

//  --------------------------------------------------------------------------

static int64_t
s_now (void)
{
    return (int64_t) time (NULL);
}

//  --------------------------------------------------------------------------
//  Replies
static envelope_t *
s_unavailable (const envelope_t *request, cart_state_t *self)
{
    log_warn (request->rid, "%s: redis unavailable: %s", request->verb, redisdb_error (self->redis));
    return envelope_new_error (request, 503, "service_unavailable",
                               "the cart store is unavailable, try again", NULL);
}

//  --------------------------------------------------------------------------

static envelope_t *
s_not_found (const envelope_t *request)
{
    return request_input_not_found (request, "cart");
}

//  --------------------------------------------------------------------------

static envelope_t *
s_invalid_one (const envelope_t *request, const char *field, const char *problem)
{
    json_t *details = json_array ();
    request_input_problem (details, field, problem);
    return request_input_invalid (request, details);
}

//  --------------------------------------------------------------------------
//  The stored form of a reply: {"status": N, "body": ...}.
static char *
s_stored_text (int status, json_t *body)
{
    json_t *stored = json_pack ("{s:i, s:O?}", "status", status, "body", body);
    char *text = stored ? json_dumps (stored, JSON_COMPACT) : NULL;
    json_decref (stored);
    return text;
}

//  --------------------------------------------------------------------------

static envelope_t *
s_replay (const envelope_t *request, const redisReply *stored)
{
    json_t *value = json_loadb (stored->str, stored->len, 0, NULL);
    json_t *status = json_object_get (value, "status");
    envelope_t *reply;
    if (!json_is_integer (status) || json_integer_value (status) < 200 || json_integer_value (status) > 299)
        reply = request_input_internal (request);
    else {
        json_t *body = json_object_get (value, "body");
        reply = envelope_new_reply (request, (int) json_integer_value (status),
                                    body && !json_is_null (body) ? json_incref (body) : NULL);
        log_info (request->rid, "%s: repeated request answered from the stored reply", request->verb);
    }
    json_decref (value);
    return reply;
}

//  --------------------------------------------------------------------------
//  Keys
static void
s_cart_key (char *key, size_t size, const char *id)
{
    snprintf (key, size, "cart:%s", id);
}

//  --------------------------------------------------------------------------
//  The key of a write's stored reply, "" when the request has no id.
static void
s_done_key (char *key, size_t size, const envelope_t *request, const char *id)
{
    if (!request->rid || !*request->rid)
        key [0] = 0;
    else
        snprintf (key, size, "cart:%s:done:%s:%s:%s", id, request->verb,
                  request->sub ? request->sub : "-", request->rid);
}

//  --------------------------------------------------------------------------

static void
s_owner_key (char *key, size_t size, const char *sub)
{
    snprintf (key, size, "cart:customer:%s", sub);
}

//  --------------------------------------------------------------------------
//  Redis steps. Each returns -1 when Redis failed (the caller answers 503).
static int
s_simple (cart_state_t *self, const char *a, const char *b)
{
    redisReply *reply = redisdb_commandv (self->redis, a, b, NULL);
    int rc = reply && reply->type != REDIS_REPLY_ERROR ? 0 : -1;
    if (reply && reply->type == REDIS_REPLY_ERROR)
        log_warn (NULL, "redis %s: %s", a, reply->str);
    if (reply)
        freeReplyObject (reply);
    return rc;
}

//  --------------------------------------------------------------------------

static void
s_unwatch (cart_state_t *self)
{
    s_simple (self, "UNWATCH", NULL);
}

//  --------------------------------------------------------------------------
//  GET key: 1 with *value (free it), 0 when absent, -1 on failure.
static int
s_get (cart_state_t *self, const char *key, redisReply **value)
{
    redisReply *reply = redisdb_commandv (self->redis, "GET", key, NULL);
    if (!reply || (reply->type != REDIS_REPLY_STRING && reply->type != REDIS_REPLY_NIL)) {
        if (reply)
            freeReplyObject (reply);
        return -1;
    }
    if (reply->type == REDIS_REPLY_NIL) {
        freeReplyObject (reply);
        return 0;
    }
    *value = reply;
    return 1;
}

//  --------------------------------------------------------------------------
//  Load a stored cart: 1 with *cart, 0 absent (or unreadable: treated as
//  gone and logged), -1 on failure.
static int
s_load (cart_state_t *self, const char *id, json_t **cart)
{
    char key [CART_KEY_MAX];
    s_cart_key (key, sizeof key, id);
    redisReply *value = NULL;
    int rc = s_get (self, key, &value);
    if (rc != 1)
        return rc;
    *cart = json_loadb (value->str, value->len, 0, NULL);
    freeReplyObject (value);
    if (cart_model_check (*cart)) {
        log_error (NULL, "cart %s: stored value has a wrong shape", id);
        json_decref (*cart);
        *cart = NULL;
        return 0;
    }
    return 1;
}

//  --------------------------------------------------------------------------
//  Whether the caller may see the cart: a claimed cart only by its owner.
static bool
s_visible (const envelope_t *request, const json_t *cart)
{
    const char *owner = json_string_value (json_object_get (cart, "customer_id"));
    if (!owner)
        return true;
    return request->role && streq (request->role, "customer")
        && request->sub && streq (request->sub, owner);
}

//  --------------------------------------------------------------------------
//  The queued part of a transaction, MULTI ... EXEC.
static int
s_queue (cart_state_t *self, int argc, const char **argv)
{
    redisReply *reply = redisdb_command (self->redis, argc, argv, NULL);
    int rc = reply && reply->type == REDIS_REPLY_STATUS && streq (reply->str, "QUEUED") ? 0 : -1;
    if (reply)
        freeReplyObject (reply);
    return rc;
}

//  --------------------------------------------------------------------------

static int
s_queue_set (cart_state_t *self, const char *key, const char *value)
{
    char ttl [24];
    snprintf (ttl, sizeof ttl, "%lld", (long long) self->ttl_s);
    const char *argv [] = { "SET", key, value, "EX", ttl };
    return s_queue (self, 5, argv);
}

//  --------------------------------------------------------------------------

static int
s_queue_expire (cart_state_t *self, const char *key)
{
    char ttl [24];
    snprintf (ttl, sizeof ttl, "%lld", (long long) self->ttl_s);
    const char *argv [] = { "EXPIRE", key, ttl };
    return s_queue (self, 3, argv);
}

//  --------------------------------------------------------------------------

static int
s_queue_del (cart_state_t *self, const char *key)
{
    const char *argv [] = { "DEL", key };
    return s_queue (self, 2, argv);
}

//  --------------------------------------------------------------------------
//  EXEC: 1 committed, 0 aborted (a watched key changed), -1 failure.
static int
s_exec (cart_state_t *self)
{
    redisReply *reply = redisdb_commandv (self->redis, "EXEC", NULL);
    int rc = -1;
    if (reply && reply->type == REDIS_REPLY_NIL)
        rc = 0;
    else
    if (reply && reply->type == REDIS_REPLY_ARRAY) {
        rc = 1;
        for (size_t i = 0; i < reply->elements; i++)
            if (reply->element [i]->type == REDIS_REPLY_ERROR)
                rc = -1;
    }
    if (reply)
        freeReplyObject (reply);
    return rc;
}

//  --------------------------------------------------------------------------
//  Abort a transaction in progress after a failed step.
static void
s_discard (cart_state_t *self)
{
    s_simple (self, "DISCARD", NULL);
}

//  --------------------------------------------------------------------------
//  Look for a stored reply of this write: 1 with *reply, 0 none, -1 failure.
static int
s_find_done (cart_state_t *self, const envelope_t *request, const char *done_key, envelope_t **reply)
{
    if (!*done_key)
        return 0;
    redisReply *stored = NULL;
    int rc = s_get (self, done_key, &stored);
    if (rc == 1) {
        *reply = s_replay (request, stored);
        freeReplyObject (stored);
    }
    return rc;
}

//  --------------------------------------------------------------------------
//  The optimistic loop shared by the writes to one existing cart: read,
//  change, write the cart (or delete it) and the stored reply atomically.
static envelope_t *
s_modify (cart_state_t *self, const envelope_t *request, const char *id,
          s_change_fn *change, void *arg, int status, bool remove)
{
    char cart_key [CART_KEY_MAX], done_key [CART_KEY_MAX];
    s_cart_key (cart_key, sizeof cart_key, id);
    s_done_key (done_key, sizeof done_key, request, id);
    for (int round = 0; round < CART_TRIES; round++) {
        if (s_simple (self, "WATCH", cart_key))
            return s_unavailable (request, self);
        envelope_t *reply = NULL;
        int found = s_find_done (self, request, done_key, &reply);
        if (found) {
            s_unwatch (self);
            return found == 1 ? reply : s_unavailable (request, self);
        }
        json_t *cart = NULL;
        found = s_load (self, id, &cart);
        if (found != 1 || !s_visible (request, cart)) {
            s_unwatch (self);
            json_decref (cart);
            return found < 0 ? s_unavailable (request, self) : s_not_found (request);
        }
        reply = change ? change (request, cart, arg) : NULL;
        if (reply) {
            s_unwatch (self);
            json_decref (cart);
            return reply;
        }
        cart_model_touch (cart, s_now ());
        json_t *body = remove ? NULL : cart_model_render (cart, self->ttl_s, self->served_by);
        //  A customer's cart keeps the pointer to it alive as long as itself
        char owner_key [CART_KEY_MAX] = "";
        const char *owner = json_string_value (json_object_get (cart, "customer_id"));
        if (owner)
            s_owner_key (owner_key, sizeof owner_key, owner);
        char *text = json_dumps (cart, JSON_COMPACT);
        char *stored = s_stored_text (status, body);
        json_decref (cart);
        if (!text || !stored || (!remove && !body)) {
            s_unwatch (self);
            free (text);
            free (stored);
            json_decref (body);
            return request_input_internal (request);
        }
        int rc = s_simple (self, "MULTI", NULL);
        if (rc == 0)
            rc = remove ? s_queue_del (self, cart_key) : s_queue_set (self, cart_key, text);
        if (rc == 0 && *done_key)
            rc = s_queue_set (self, done_key, stored);
        if (rc == 0 && *owner_key && !remove)
            rc = s_queue_expire (self, owner_key);
        if (rc == 0)
            rc = s_exec (self);
        else
            s_discard (self);
        free (text);
        free (stored);
        if (rc == 1)
            return envelope_new_reply (request, status, body);
        json_decref (body);
        if (rc < 0)
            return s_unavailable (request, self);
        //  rc == 0: another worker changed the cart; read it again
    }
    log_warn (request->rid, "%s: cart %s kept changing, gave up after %d rounds",
              request->verb, id, CART_TRIES);
    return envelope_new_error (request, 503, "service_unavailable",
                               "the cart is changing too fast, try again", NULL);
}

//  --------------------------------------------------------------------------
//  Input helpers
//  The cart id param: 400 when it is not one of ours.
static const char *
s_id_param (const envelope_t *request, json_t *details)
{
    const char *id = request_input_param (request, "id");
    if (!cart_verbs_valid_id (id)) {
        request_input_problem (details, "id", "must be a cart id");
        return NULL;
    }
    return id;
}

//  --------------------------------------------------------------------------
//  Verbs without a body: a body with fields is refused.
static void
s_no_fields (const envelope_t *request, json_t *details)
{
    json_t *data = request_input_data (request);
    if (data && !json_is_object (data))
        request_input_problem (details, "body", "must be empty");
    else
    if (data) {
        static const char *const none [] = { NULL };
        request_input_unknown_fields (data, none, details);
    }
}

//  --------------------------------------------------------------------------
//  Ask the catalog for a product: NULL and *product (sku, name, price) or
//  the error reply (404 unknown or inactive, 503 catalog away).
static envelope_t *
s_catalog_product (cart_state_t *self, const envelope_t *request, int64_t product_id, json_t **product)
{
    envelope_t *ask = envelope_new_request ("product.get");
    if (!ask)
        return request_input_internal (request);
    char id [32];
    snprintf (id, sizeof id, "%lld", (long long) product_id);
    envelope_set_str (&ask->rid, request->rid);
    envelope_set_str (&ask->consumer, "cart");
    ask->retryable = true;
    int64_t deadline = zclock_time () + self->catalog_timeout_ms;
    ask->deadline = request->deadline && request->deadline < deadline ? request->deadline : deadline;
    ask->body = json_pack ("{s:{s:s}}", "params", "id", id);
    envelope_t *answer = mdp_client_call (self->catalog, "product", &ask);
    envelope_destroy (&ask);
    envelope_t *reply = NULL;
    if (!answer || (answer->status != 200 && answer->status != 404)) {
        log_warn (request->rid, "%s: catalog answered %d", request->verb, answer ? answer->status : 0);
        reply = envelope_new_error (request, 503, "service_unavailable",
                                    "the catalog is unavailable, try again", NULL);
    }
    else {
        json_t *body = answer->body;
        json_t *price = json_object_get (body, "price_cents");
        json_t *active = json_object_get (body, "active");
        if (answer->status == 404 || json_is_false (active))
            reply = request_input_not_found (request, "product");
        else
        if (!json_is_integer (price) || json_integer_value (price) < 0
        ||  json_integer_value (price) > INT64_MAX / CART_MAX_QUANTITY / CART_MAX_LINES
        ||  !json_is_string (json_object_get (body, "sku"))
        ||  !json_is_string (json_object_get (body, "name"))
        ||  json_integer_value (json_object_get (body, "id")) != product_id)
            reply = envelope_new_error (request, 503, "service_unavailable",
                                        "the catalog gave an unexpected answer", NULL);
        else
            *product = json_incref (body);
    }
    envelope_destroy (&answer);
    return reply;
}

//  --------------------------------------------------------------------------
//  cart.create: data {province?} (default QC). A customer's token makes it
//  that customer's cart at once.
envelope_t *
cart_create (const envelope_t *request, void *state)
{
    cart_state_t *self = (cart_state_t *) state;
    json_t *details = json_array ();
    json_t *data = request_input_data (request);
    char province [3] = "QC";
    if (data && !json_is_object (data))
        request_input_problem (details, "body", "must be a JSON object");
    else
    if (data) {
        static const char *const allowed [] = { "province", NULL };
        request_input_unknown_fields (data, allowed, details);
        json_t *value = json_object_get (data, "province");
        if (value) {
            const char *text = json_string_value (value);
            if (!text || strlen (text) != 2)
                request_input_problem (details, "province", "must be a Canadian province or territory code");
            else {
                province [0] = (char) (text [0] >= 'a' && text [0] <= 'z' ? text [0] - 32 : text [0]);
                province [1] = (char) (text [1] >= 'a' && text [1] <= 'z' ? text [1] - 32 : text [1]);
                if (!salestax_of (province))
                    request_input_problem (details, "province", "must be a Canadian province or territory code");
            }
        }
    }
    if (json_array_size (details))
        return request_input_invalid (request, details);
    json_decref (details);

    const char *customer = request->role && streq (request->role, "customer")
                        && request->sub && *request->sub ? request->sub : NULL;
    char done_key [CART_KEY_MAX], owner_key [CART_KEY_MAX];
    s_done_key (done_key, sizeof done_key, request, "new");
    if (customer)
        s_owner_key (owner_key, sizeof owner_key, customer);
    for (int round = 0; round < CART_TRIES; round++) {
        if (*done_key && s_simple (self, "WATCH", done_key))
            return s_unavailable (request, self);
        envelope_t *reply = NULL;
        int found = s_find_done (self, request, done_key, &reply);
        if (found) {
            s_unwatch (self);
            return found == 1 ? reply : s_unavailable (request, self);
        }
        unsigned char random [CART_ID_BYTES];
        char id [CART_ID_BYTES * 2 + 1], cart_key [CART_KEY_MAX];
        randombytes_buf (random, sizeof random);
        sodium_bin2hex (id, sizeof id, random, sizeof random);
        s_cart_key (cart_key, sizeof cart_key, id);
        json_t *cart = cart_model_new (id, customer, province, s_now ());
        json_t *body = cart_model_render (cart, self->ttl_s, self->served_by);
        char *text = json_dumps (cart, JSON_COMPACT);
        char *stored = s_stored_text (201, body);
        json_decref (cart);
        if (!body || !text || !stored) {
            s_unwatch (self);
            free (text);
            free (stored);
            json_decref (body);
            return request_input_internal (request);
        }
        int rc = s_simple (self, "MULTI", NULL);
        if (rc == 0)
            rc = s_queue_set (self, cart_key, text);
        if (rc == 0 && *done_key)
            rc = s_queue_set (self, done_key, stored);
        if (rc == 0 && customer)
            rc = s_queue_set (self, owner_key, id);
        if (rc == 0)
            rc = s_exec (self);
        else
            s_discard (self);
        free (text);
        free (stored);
        if (rc == 1)
            return envelope_new_reply (request, 201, body);
        json_decref (body);
        if (rc < 0)
            return s_unavailable (request, self);
    }
    return envelope_new_error (request, 503, "service_unavailable", "try again", NULL);
}

//  --------------------------------------------------------------------------

envelope_t *
cart_get (const envelope_t *request, void *state)
{
    cart_state_t *self = (cart_state_t *) state;
    json_t *details = json_array ();
    const char *id = s_id_param (request, details);
    if (json_array_size (details))
        return request_input_invalid (request, details);
    json_decref (details);
    json_t *cart = NULL;
    int found = s_load (self, id, &cart);
    if (found < 0)
        return s_unavailable (request, self);
    if (found == 0 || !s_visible (request, cart)) {
        json_decref (cart);
        return s_not_found (request);
    }
    json_t *body = cart_model_render (cart, self->ttl_s, self->served_by);
    json_decref (cart);
    return body ? envelope_new_reply (request, 200, body) : request_input_internal (request);
}

//  --------------------------------------------------------------------------
//  cart.add_item: params id; data {product_id, quantity > 0}.

typedef struct {
    int64_t product_id;
    int64_t quantity;
    json_t *product;            //  the catalog's answer
} s_add_t;

//  --------------------------------------------------------------------------

static envelope_t *
s_add_change (const envelope_t *request, json_t *cart, void *arg)
{
    s_add_t *add = (s_add_t *) arg;
    int rc = cart_model_add (cart, add->product_id,
                             json_string_value (json_object_get (add->product, "sku")),
                             json_string_value (json_object_get (add->product, "name")),
                             json_integer_value (json_object_get (add->product, "price_cents")),
                             add->quantity);
    if (rc == -1)
        return s_invalid_one (request, "quantity", "the line would hold more than 999");
    if (rc == -2)
        return request_input_conflict (request, "a cart holds at most 100 different products");
    return NULL;
}

//  --------------------------------------------------------------------------

envelope_t *
cart_add_item (const envelope_t *request, void *state)
{
    cart_state_t *self = (cart_state_t *) state;
    json_t *details = json_array ();
    const char *id = s_id_param (request, details);
    json_t *data = request_input_object (request, details);
    s_add_t add = { 0, 0, NULL };
    if (data) {
        static const char *const allowed [] = { "product_id", "quantity", NULL };
        request_input_unknown_fields (data, allowed, details);
        if (request_input_integer (data, "product_id", 1, INT64_MAX, &add.product_id, details) == 0)
            request_input_problem (details, "product_id", "is required");
        if (request_input_integer (data, "quantity", 1, CART_MAX_QUANTITY, &add.quantity, details) == 0)
            request_input_problem (details, "quantity", "is required");
    }
    if (json_array_size (details))
        return request_input_invalid (request, details);
    json_decref (details);

    //  A repeat of a write already done needs no catalog call
    char done_key [CART_KEY_MAX];
    s_done_key (done_key, sizeof done_key, request, id);
    envelope_t *reply = NULL;
    int found = s_find_done (self, request, done_key, &reply);
    if (found)
        return found == 1 ? reply : s_unavailable (request, self);
    reply = s_catalog_product (self, request, add.product_id, &add.product);
    if (reply)
        return reply;
    reply = s_modify (self, request, id, s_add_change, &add, 201, false);
    json_decref (add.product);
    return reply;
}

//  --------------------------------------------------------------------------
//  cart.set_item: params id, product_id; data {quantity} (0 removes).
//  cart.remove_item: params id, product_id.

typedef struct {
    int64_t product_id;
    int64_t quantity;
} s_set_t;

//  --------------------------------------------------------------------------

static envelope_t *
s_set_change (const envelope_t *request, json_t *cart, void *arg)
{
    s_set_t *set = (s_set_t *) arg;
    if (cart_model_set (cart, set->product_id, set->quantity))
        return request_input_not_found (request, "item");
    return NULL;
}

//  --------------------------------------------------------------------------

static envelope_t *
s_set_or_remove (const envelope_t *request, cart_state_t *self, bool remove)
{
    json_t *details = json_array ();
    const char *id = s_id_param (request, details);
    s_set_t set = { 0, 0 };
    if (request_input_int (request_input_param (request, "product_id"), 1, INT64_MAX, &set.product_id))
        request_input_problem (details, "product_id", "must be a positive integer");
    if (remove)
        s_no_fields (request, details);
    else {
        json_t *data = request_input_object (request, details);
        if (data) {
            static const char *const allowed [] = { "quantity", NULL };
            request_input_unknown_fields (data, allowed, details);
            if (request_input_integer (data, "quantity", 0, CART_MAX_QUANTITY, &set.quantity, details) == 0)
                request_input_problem (details, "quantity", "is required");
        }
    }
    if (json_array_size (details))
        return request_input_invalid (request, details);
    json_decref (details);
    return s_modify (self, request, id, s_set_change, &set, 200, false);
}

//  --------------------------------------------------------------------------

envelope_t *
cart_set_item (const envelope_t *request, void *state)
{
    return s_set_or_remove (request, (cart_state_t *) state, false);
}

//  --------------------------------------------------------------------------

envelope_t *
cart_remove_item (const envelope_t *request, void *state)
{
    return s_set_or_remove (request, (cart_state_t *) state, true);
}

//  --------------------------------------------------------------------------

envelope_t *
cart_delete (const envelope_t *request, void *state)
{
    cart_state_t *self = (cart_state_t *) state;
    json_t *details = json_array ();
    const char *id = s_id_param (request, details);
    s_no_fields (request, details);
    if (json_array_size (details))
        return request_input_invalid (request, details);
    json_decref (details);
    return s_modify (self, request, id, NULL, NULL, 204, true);
}

//  --------------------------------------------------------------------------
//  cart.claim: a customer takes a guest cart. When the customer already has
//  a live cart, the guest cart's lines are merged into it (quantities
//  summed) and the guest cart is gone; else the guest cart becomes the
//  customer's. Either way the answer is the customer's cart, which from
//  then on answers only that customer. Claiming one's own cart again
//  answers it unchanged.
envelope_t *
cart_claim (const envelope_t *request, void *state)
{
    cart_state_t *self = (cart_state_t *) state;
    static const char *const roles [] = { "customer", NULL };
    envelope_t *refused = request_input_roles (request, roles);
    if (refused)
        return refused;
    json_t *details = json_array ();
    const char *id = s_id_param (request, details);
    if (!request->sub || !*request->sub || strlen (request->sub) > 64)
        request_input_problem (details, "token", "names no customer");
    s_no_fields (request, details);
    if (json_array_size (details))
        return request_input_invalid (request, details);
    json_decref (details);

    const char *sub = request->sub;
    char guest_key [CART_KEY_MAX], owner_key [CART_KEY_MAX], done_key [CART_KEY_MAX];
    s_cart_key (guest_key, sizeof guest_key, id);
    s_owner_key (owner_key, sizeof owner_key, sub);
    s_done_key (done_key, sizeof done_key, request, id);
    for (int round = 0; round < CART_TRIES; round++) {
        redisReply *watched = redisdb_commandv (self->redis, "WATCH", guest_key, owner_key, NULL);
        if (!watched)
            return s_unavailable (request, self);
        freeReplyObject (watched);
        envelope_t *reply = NULL;
        int found = s_find_done (self, request, done_key, &reply);
        if (found) {
            s_unwatch (self);
            return found == 1 ? reply : s_unavailable (request, self);
        }
        json_t *guest = NULL;
        found = s_load (self, id, &guest);
        if (found != 1 || !s_visible (request, guest)) {
            s_unwatch (self);
            json_decref (guest);
            return found < 0 ? s_unavailable (request, self) : s_not_found (request);
        }
        //  The customer's current cart, if any other than this one
        redisReply *current = NULL;
        json_t *mine = NULL;
        found = s_get (self, owner_key, &current);
        if (found == 1 && cart_verbs_valid_id (current->str) && !streq (current->str, id)) {
            char mine_key [CART_KEY_MAX];
            s_cart_key (mine_key, sizeof mine_key, current->str);
            if (s_simple (self, "WATCH", mine_key) == 0)
                found = s_load (self, current->str, &mine);
            else
                found = -1;
            if (found == 1 && !s_visible (request, mine)) {
                json_decref (mine);
                mine = NULL;
            }
        }
        if (current)
            freeReplyObject (current);
        if (found < 0) {
            s_unwatch (self);
            json_decref (guest);
            return s_unavailable (request, self);
        }
        int64_t now = s_now ();
        json_t *result = mine ? mine : guest;
        if (mine) {
            int dropped = cart_model_merge (mine, guest);
            if (dropped)
                log_warn (request->rid, "cart.claim: %d lines did not fit in cart %s", dropped,
                          json_string_value (json_object_get (mine, "id")));
        }
        else
            json_object_set_new (guest, "customer_id", json_string (sub));
        cart_model_touch (result, now);
        const char *result_id = json_string_value (json_object_get (result, "id"));
        char result_key [CART_KEY_MAX];
        s_cart_key (result_key, sizeof result_key, result_id);
        json_t *body = cart_model_render (result, self->ttl_s, self->served_by);
        char *text = json_dumps (result, JSON_COMPACT);
        char *stored = s_stored_text (200, body);
        int rc = body && text && stored ? s_simple (self, "MULTI", NULL) : -2;
        if (rc == 0)
            rc = s_queue_set (self, result_key, text);
        if (rc == 0 && mine)
            rc = s_queue_del (self, guest_key);
        if (rc == 0)
            rc = s_queue_set (self, owner_key, result_id);
        if (rc == 0 && *done_key)
            rc = s_queue_set (self, done_key, stored);
        if (rc == 0)
            rc = s_exec (self);
        else
        if (rc == -1)
            s_discard (self);
        else
            s_unwatch (self);
        free (text);
        free (stored);
        json_decref (guest);
        json_decref (mine);
        if (rc == 1)
            return envelope_new_reply (request, 200, body);
        json_decref (body);
        if (rc == -2)
            return request_input_internal (request);
        if (rc < 0)
            return s_unavailable (request, self);
    }
    return envelope_new_error (request, 503, "service_unavailable", "try again", NULL);
}
