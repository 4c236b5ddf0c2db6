/*  =========================================================================
    cart_model - what a cart is, without Redis or the broker

    The stored form of a cart and the pure rules on it: the province tax
    table, totals in integer cents, the lines (grow, set, remove, merge),
    and the API's JSON shape. Kept apart from the verbs so that it is
    tested without any server.
    =========================================================================
*/
#ifndef COMPTOIR_CART_MODEL_H
#define COMPTOIR_CART_MODEL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "salestax.h"

//  Bounds every input is checked against.
#define CART_MAX_QUANTITY   999         //  per line
#define CART_MAX_LINES      100         //  distinct products in one cart

//  Now as RFC 3339 UTC ("2026-11-25T17:22:39Z") for a Unix time.
void cart_model_timestamp (int64_t unix_seconds, char *buffer, size_t size);

//  A new stored cart: {id, customer_id, province, items: [], created_at,
//  updated_at} (times in Unix seconds). customer_id may be NULL.
json_t *cart_model_new (const char *id, const char *customer_id, const char *province, int64_t now);

//  Check a stored cart read back from Redis (it is data, not trusted
//  blindly). Returns 0 when it has the expected shape.
int cart_model_check (const json_t *cart);

//  Add quantity of a product to the lines (grows an existing line).
//  Returns 0, -1 when the line would exceed CART_MAX_QUANTITY, -2 when the
//  cart already has CART_MAX_LINES lines. The product's sku, name and
//  price are those given (from the catalog).
int cart_model_add (json_t *cart, int64_t product_id, const char *sku, const char *name,
                    int64_t unit_price_cents, int64_t quantity);

//  Set a line's quantity; 0 removes it. Returns 0, or -1 when the product
//  is not in the cart.
int cart_model_set (json_t *cart, int64_t product_id, int64_t quantity);

//  Merge from's lines into into's, quantities summed and capped at
//  CART_MAX_QUANTITY; the lines that do not fit in CART_MAX_LINES are
//  dropped. Returns the number of lines dropped.
int cart_model_merge (json_t *into, const json_t *from);

//  Stamp the change time.
void cart_model_touch (json_t *cart, int64_t now);

//  The API's cart: the stored fields plus line totals, counts, taxes and
//  totals, expires_at (updated_at + ttl_s) and served_by. NULL on failure.
json_t *cart_model_render (const json_t *cart, int64_t ttl_s, const char *served_by);

void cart_model_test (bool verbose);

#endif
