/*  =========================================================================
    cart_model - what a cart is, without Redis or the broker

    Why it is built this way:

    - Money is integer cents everywhere; the province's taxes come from
      runtime/salestax (shared with the point of sale): exact integers,
      rounded half up, no float anywhere.
    - Each tax is computed on the subtotal separately (API.md), and the
      rates are shown as decimal strings ("9.975"): a JSON number would be
      read back as a binary float by most clients.
    - What is stored is only what cannot be recomputed: the lines with the
      price, sku and name the catalog gave when the line was added, the
      province, the owner and the times. Totals, taxes and expiry are
      derived at every answer, so they can never disagree with the lines.
    =========================================================================
*/
#include "cart_model.h"

#include <czmq.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

//  --------------------------------------------------------------------------

void
cart_model_timestamp (int64_t unix_seconds, char *buffer, size_t size)
{
    time_t when = (time_t) unix_seconds;
    struct tm utc;
    if (!gmtime_r (&when, &utc) || strftime (buffer, size, "%Y-%m-%dT%H:%M:%SZ", &utc) == 0)
        snprintf (buffer, size, "1970-01-01T00:00:00Z");
}

//  --------------------------------------------------------------------------

json_t *
cart_model_new (const char *id, const char *customer_id, const char *province, int64_t now)
{
    return json_pack ("{s:s, s:o, s:s, s:[], s:I, s:I}",
                      "id", id,
                      "customer_id", customer_id ? json_string (customer_id) : json_null (),
                      "province", province,
                      "items",
                      "created_at", (json_int_t) now,
                      "updated_at", (json_int_t) now);
}

//  --------------------------------------------------------------------------

static bool
s_is_count (const json_t *value, int64_t min, int64_t max)
{
    return json_is_integer (value) && json_integer_value (value) >= min
        && json_integer_value (value) <= max;
}

//  --------------------------------------------------------------------------

int
cart_model_check (const json_t *cart)
{
    if (!json_is_object (cart)
    ||  !json_is_string (json_object_get (cart, "id"))
    ||  !salestax_of (json_string_value (json_object_get (cart, "province")))
    ||  !s_is_count (json_object_get (cart, "created_at"), 0, INT64_MAX)
    ||  !s_is_count (json_object_get (cart, "updated_at"), 0, INT64_MAX))
        return -1;
    json_t *owner = json_object_get (cart, "customer_id");
    if (!json_is_null (owner) && !json_is_string (owner))
        return -1;
    json_t *items = json_object_get (cart, "items");
    if (!json_is_array (items) || json_array_size (items) > CART_MAX_LINES)
        return -1;
    size_t index;
    json_t *line;
    json_array_foreach (items, index, line) {
        if (!s_is_count (json_object_get (line, "product_id"), 1, INT64_MAX)
        ||  !json_is_string (json_object_get (line, "sku"))
        ||  !json_is_string (json_object_get (line, "name"))
        ||  !s_is_count (json_object_get (line, "unit_price_cents"), 0, INT64_MAX / CART_MAX_QUANTITY / CART_MAX_LINES)
        ||  !s_is_count (json_object_get (line, "quantity"), 1, CART_MAX_QUANTITY))
            return -1;
    }
    return 0;
}

//  --------------------------------------------------------------------------

static json_t *
s_find (json_t *cart, int64_t product_id, size_t *position)
{
    json_t *items = json_object_get (cart, "items");
    size_t index;
    json_t *line;
    json_array_foreach (items, index, line) {
        if (json_integer_value (json_object_get (line, "product_id")) == product_id) {
            if (position)
                *position = index;
            return line;
        }
    }
    return NULL;
}

//  --------------------------------------------------------------------------

int
cart_model_add (json_t *cart, int64_t product_id, const char *sku, const char *name,
                int64_t unit_price_cents, int64_t quantity)
{
    json_t *line = s_find (cart, product_id, NULL);
    if (line) {
        int64_t total = json_integer_value (json_object_get (line, "quantity")) + quantity;
        if (total > CART_MAX_QUANTITY)
            return -1;
        json_object_set_new (line, "quantity", json_integer (total));
        //  The catalog's current figures: the line shows what will be charged
        json_object_set_new (line, "unit_price_cents", json_integer (unit_price_cents));
        json_object_set_new (line, "sku", json_string (sku));
        json_object_set_new (line, "name", json_string (name));
        return 0;
    }
    if (quantity > CART_MAX_QUANTITY)
        return -1;
    json_t *items = json_object_get (cart, "items");
    if (json_array_size (items) >= CART_MAX_LINES)
        return -2;
    json_array_append_new (items, json_pack ("{s:I, s:s, s:s, s:I, s:I}",
                                             "product_id", (json_int_t) product_id,
                                             "sku", sku, "name", name,
                                             "unit_price_cents", (json_int_t) unit_price_cents,
                                             "quantity", (json_int_t) quantity));
    return 0;
}

//  --------------------------------------------------------------------------

int
cart_model_set (json_t *cart, int64_t product_id, int64_t quantity)
{
    size_t position = 0;
    json_t *line = s_find (cart, product_id, &position);
    if (!line)
        return -1;
    if (quantity == 0)
        json_array_remove (json_object_get (cart, "items"), position);
    else
        json_object_set_new (line, "quantity", json_integer (quantity));
    return 0;
}

//  --------------------------------------------------------------------------

int
cart_model_merge (json_t *into, const json_t *from)
{
    int dropped = 0;
    size_t index;
    json_t *line;
    json_array_foreach (json_object_get (from, "items"), index, line) {
        int64_t product_id = json_integer_value (json_object_get (line, "product_id"));
        int64_t quantity = json_integer_value (json_object_get (line, "quantity"));
        json_t *mine = s_find (into, product_id, NULL);
        if (mine) {
            int64_t total = json_integer_value (json_object_get (mine, "quantity")) + quantity;
            if (total > CART_MAX_QUANTITY)
                total = CART_MAX_QUANTITY;
            json_object_set_new (mine, "quantity", json_integer (total));
        }
        else
        if (json_array_size (json_object_get (into, "items")) < CART_MAX_LINES)
            json_array_append_new (json_object_get (into, "items"), json_deep_copy (line));
        else
            dropped++;
    }
    return dropped;
}

//  --------------------------------------------------------------------------

void
cart_model_touch (json_t *cart, int64_t now)
{
    json_object_set_new (cart, "updated_at", json_integer (now));
}

//  --------------------------------------------------------------------------

json_t *
cart_model_render (const json_t *cart, int64_t ttl_s, const char *served_by)
{
    if (cart_model_check (cart))
        return NULL;
    const char *province = json_string_value (json_object_get (cart, "province"));
    json_t *items = json_array ();
    int64_t subtotal = 0, count = 0;
    size_t index;
    json_t *line;
    json_array_foreach (json_object_get (cart, "items"), index, line) {
        int64_t price = json_integer_value (json_object_get (line, "unit_price_cents"));
        int64_t quantity = json_integer_value (json_object_get (line, "quantity"));
        json_t *shown = json_deep_copy (line);
        json_object_set_new (shown, "line_total_cents", json_integer (price * quantity));
        json_array_append_new (items, shown);
        subtotal += price * quantity;
        count += quantity;
    }
    json_t *taxes = json_array ();
    int64_t tax_total = 0;
    for (const salestax_t *tax = salestax_of (province); tax->name; tax++) {
        char rate [24];
        salestax_rate_text (tax->rate, rate, sizeof rate);
        int64_t amount = salestax_amount (subtotal, tax->rate);
        tax_total += amount;
        json_array_append_new (taxes, json_pack ("{s:s, s:s, s:I}", "name", tax->name,
                                                 "rate", rate, "amount_cents", (json_int_t) amount));
    }
    int64_t updated = json_integer_value (json_object_get (cart, "updated_at"));
    char created_at [32], updated_at [32], expires_at [32];
    cart_model_timestamp (json_integer_value (json_object_get (cart, "created_at")),
                          created_at, sizeof created_at);
    cart_model_timestamp (updated, updated_at, sizeof updated_at);
    cart_model_timestamp (updated + ttl_s, expires_at, sizeof expires_at);
    return json_pack ("{s:O, s:O, s:s, s:o, s:I, s:I, s:o, s:I, s:I, s:s, s:s, s:s, s:s}",
                      "id", json_object_get (cart, "id"),
                      "customer_id", json_object_get (cart, "customer_id"),
                      "province", province,
                      "items", items,
                      "item_count", (json_int_t) count,
                      "subtotal_cents", (json_int_t) subtotal,
                      "taxes", taxes,
                      "tax_cents", (json_int_t) tax_total,
                      "total_cents", (json_int_t) (subtotal + tax_total),
                      "created_at", created_at,
                      "updated_at", updated_at,
                      "expires_at", expires_at,
                      "served_by", served_by ? served_by : "");
}

//  --------------------------------------------------------------------------

static json_t *
s_render_one_line (const char *province, int64_t price, int64_t quantity)
{
    json_t *cart = cart_model_new ("abc", NULL, province, 1795627359);
    assert (cart_model_add (cart, 7, "CAF-1", "Café", price, quantity) == 0);
    json_t *shown = cart_model_render (cart, 86400, "cart-1.1");
    json_decref (cart);
    assert (shown);
    return shown;
}

//  --------------------------------------------------------------------------

static int64_t
s_int (const json_t *object, const char *field)
{
    return json_integer_value (json_object_get (object, field));
}

//  --------------------------------------------------------------------------

void
cart_model_test (bool verbose)
{
    printf (" * cart_model: ");
    //  QC: 100.00 $ -> GST 5.00, QST 9.975 -> 9.98, total 114.98
    json_t *shown = s_render_one_line ("QC", 2500, 4);
    if (verbose)
        printf ("\n%s\n", json_dumps (shown, JSON_INDENT (2)));
    assert (s_int (shown, "subtotal_cents") == 10000);
    json_t *taxes = json_object_get (shown, "taxes");
    assert (json_array_size (taxes) == 2);
    assert (streq (json_string_value (json_object_get (json_array_get (taxes, 0), "name")), "GST"));
    assert (s_int (json_array_get (taxes, 0), "amount_cents") == 500);
    assert (streq (json_string_value (json_object_get (json_array_get (taxes, 1), "rate")), "9.975"));
    assert (s_int (json_array_get (taxes, 1), "amount_cents") == 998);
    assert (s_int (shown, "tax_cents") == 1498 && s_int (shown, "total_cents") == 11498);
    assert (s_int (shown, "item_count") == 4);
    assert (s_int (json_array_get (json_object_get (shown, "items"), 0), "line_total_cents") == 10000);
    assert (streq (json_string_value (json_object_get (shown, "expires_at")), "2026-11-26T17:22:39Z"));
    assert (streq (json_string_value (json_object_get (shown, "created_at")), "2026-11-25T17:22:39Z"));
    assert (json_is_null (json_object_get (shown, "customer_id")));
    json_decref (shown);
    //  ON: one HST line; NS 15%; BC two; AB one
    shown = s_render_one_line ("ON", 1999, 3);                  //  5997 * 13% = 779.61
    assert (json_array_size (json_object_get (shown, "taxes")) == 1);
    assert (s_int (shown, "tax_cents") == 780 && s_int (shown, "total_cents") == 5997 + 780);
    json_decref (shown);
    shown = s_render_one_line ("NS", 1000, 1);
    assert (s_int (shown, "tax_cents") == 150);
    json_decref (shown);
    shown = s_render_one_line ("BC", 333, 1);                   //  16.65 -> 17, 23.31 -> 23
    assert (s_int (json_array_get (json_object_get (shown, "taxes"), 0), "amount_cents") == 17);
    assert (s_int (json_array_get (json_object_get (shown, "taxes"), 1), "amount_cents") == 23);
    assert (s_int (shown, "total_cents") == 373);
    json_decref (shown);
    shown = s_render_one_line ("SK", 1000, 1);
    assert (s_int (shown, "tax_cents") == 110);
    json_decref (shown);
    shown = s_render_one_line ("AB", 1000, 1);
    assert (json_array_size (json_object_get (shown, "taxes")) == 1 && s_int (shown, "tax_cents") == 50);
    json_decref (shown);

    //  Lines: grow, cap, set, remove, merge
    json_t *cart = cart_model_new ("c1", "42", "QC", 1000);
    assert (cart_model_add (cart, 1, "A", "a", 100, 2) == 0);
    assert (cart_model_add (cart, 1, "A", "a", 100, 3) == 0);
    assert (cart_model_add (cart, 2, "B", "b", 50, 1) == 0);
    assert (json_array_size (json_object_get (cart, "items")) == 2);
    assert (s_int (json_array_get (json_object_get (cart, "items"), 0), "quantity") == 5);
    assert (cart_model_add (cart, 1, "A", "a", 100, CART_MAX_QUANTITY) == -1);
    assert (cart_model_set (cart, 3, 1) == -1);
    assert (cart_model_set (cart, 1, 7) == 0);
    assert (cart_model_set (cart, 2, 0) == 0);
    assert (json_array_size (json_object_get (cart, "items")) == 1);
    json_t *guest = cart_model_new ("c2", NULL, "ON", 1000);
    assert (cart_model_add (guest, 1, "A", "a", 100, 4) == 0);
    assert (cart_model_add (guest, 9, "Z", "z", 10, 1) == 0);
    assert (cart_model_merge (cart, guest) == 0);
    assert (json_array_size (json_object_get (cart, "items")) == 2);
    assert (s_int (json_array_get (json_object_get (cart, "items"), 0), "quantity") == 11);
    assert (cart_model_check (cart) == 0);
    for (int64_t id = 100; id < 100 + CART_MAX_LINES; id++)
        cart_model_add (guest, id, "X", "x", 1, 1);
    assert (cart_model_add (guest, 999999, "X", "x", 1, 1) == -2);
    assert (cart_model_add (cart, 500, "Y", "y", 1, 1) == 0);
    assert (cart_model_merge (cart, guest) == 1);
    assert (json_array_size (json_object_get (cart, "items")) == CART_MAX_LINES);
    json_decref (guest);
    //  A stored cart of the wrong shape is refused
    json_object_set_new (cart, "province", json_string ("XX"));
    assert (cart_model_check (cart) == -1);
    assert (cart_model_render (cart, 10, "x") == NULL);
    json_decref (cart);
    assert (cart_model_check (json_string ("x")) == -1);
    if (verbose)
        printf ("(verbose) ");
    printf ("OK\n");
}
