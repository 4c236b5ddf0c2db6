/*  =========================================================================
    product_input - reading and checking what a catalog request carries

    Every value in a request is untrusted: path and query params arrive as
    strings and are converted here with strict rules; request bodies are
    checked field by field, and every problem found is reported at once as
    a validation_failed detail, so a client fixes its request in one round.
    =========================================================================
*/
#ifndef COMPTOIR_PRODUCT_INPUT_H
#define COMPTOIR_PRODUCT_INPUT_H

#include "envelope.h"
#include "pgdb.h"
#include "request_input.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

//  True when the caller may change the catalog (manager, admin).
bool product_input_may_write (const envelope_t *request);

//  Check an optional JSON string field: absent is fine (returns NULL), null
//  is fine when nullable (sets *is_null). Otherwise it must be a string of
//  min_len..max_len characters (code points) with something other than
//  spaces. Returns the string or NULL.
const char *product_input_string (json_t *object, const char *field, size_t min_len,
                                  size_t max_len, bool nullable, bool *is_null, json_t *details);

//  True when code is an EAN-13: exactly 13 ASCII digits whose check digit
//  (the last) makes the weighted sum (1, 3, 1, 3, ... from the left) a
//  multiple of 10.
bool product_input_ean13 (const char *code);

//  The problem every barcode check reports (field "barcode").
#define PRODUCT_INPUT_EAN13_PROBLEM "must be an EAN-13: 13 digits with a valid check digit"

envelope_t *product_input_forbidden (const envelope_t *request);
void product_input_test (bool verbose);

#endif
