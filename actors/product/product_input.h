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

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

//  A string param from body.params, or NULL when absent or not a string.
const char *product_input_param (const envelope_t *request, const char *name);

//  body.data, or NULL when absent or null.
json_t *product_input_data (const envelope_t *request);

//  Parse a decimal integer string in [min, max] (digits only, no sign, no
//  spaces). Returns 0 and sets *value, or -1.
int product_input_int (const char *text, int64_t min, int64_t max, int64_t *value);

//  True when the caller may change the catalog (manager, admin).
bool product_input_may_write (const envelope_t *request);

//  Add {"field", "problem"} to a details array.
void product_input_problem (json_t *details, const char *field, const char *problem);

//  Report every key of object that is not in the NULL-terminated list.
void product_input_unknown_fields (json_t *object, const char *const *allowed, json_t *details);

//  Check an optional JSON string field: absent is fine (returns NULL), null
//  is fine when nullable (sets *is_null). Otherwise it must be a string of
//  min_len..max_len characters (code points) with something other than
//  spaces. Returns the string or NULL.
const char *product_input_string (json_t *object, const char *field, size_t min_len,
                                  size_t max_len, bool nullable, bool *is_null, json_t *details);

//  Check an optional JSON integer field in [min, max]. Returns 1 when
//  present and valid (sets *value), 0 when absent, -1 when invalid (a
//  detail was added).
int product_input_integer (json_t *object, const char *field, int64_t min, int64_t max,
                           int64_t *value, json_t *details);

//  Replies.
envelope_t *product_input_invalid (const envelope_t *request, json_t *details);
envelope_t *product_input_forbidden (const envelope_t *request);
envelope_t *product_input_not_found (const envelope_t *request, const char *what);
envelope_t *product_input_conflict (const envelope_t *request, const char *message);
envelope_t *product_input_db_failure (const envelope_t *request, pgdb_t *db);

void product_input_test (bool verbose);

#endif
