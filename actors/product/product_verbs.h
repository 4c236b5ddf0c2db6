/*  =========================================================================
    product_verbs - the handlers of the product.* verbs

    Each takes the request envelope and the actor's product_state_t and
    returns the reply envelope (never NULL). Shapes and errors follow
    docs/API.md, Catalog.
    =========================================================================
*/
#ifndef COMPTOIR_PRODUCT_VERBS_H
#define COMPTOIR_PRODUCT_VERBS_H

#include "envelope.h"

envelope_t *product_list (const envelope_t *request, void *state);
envelope_t *product_get (const envelope_t *request, void *state);
envelope_t *product_get_by_sku (const envelope_t *request, void *state);
//  params {code}: the active product with that EAN-13; 400 (field barcode)
//  when code is not one, 404 when no product has it.
envelope_t *product_get_by_barcode (const envelope_t *request, void *state);
//  data (or params) {ids: [1..100 positive ids]}: {data: [product...]} in id
//  order, deleted ones too ("active": false); unknown ids are left out.
//  For other contexts through the broker; no route.
envelope_t *product_get_many (const envelope_t *request, void *state);
envelope_t *product_create (const envelope_t *request, void *state);
envelope_t *product_update (const envelope_t *request, void *state);
envelope_t *product_delete (const envelope_t *request, void *state);

#endif
