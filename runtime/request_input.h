/*  =========================================================================
    request_input - reading and checking what a request envelope carries

    Every context's handlers start the same way: take a param (a string
    from the path or the query), take the JSON body, refuse fields they do
    not know, check types and ranges, and answer validation_failed with one
    detail per problem so a client fixes its request in one round. The
    rules are strict on purpose ("12abc", " 12", "+12" and 1e3 are not ids;
    a JSON 12.0 is not an integer number of cents) and they are the same in
    every context, so they live here once.
    =========================================================================
*/
#ifndef COMPTOIR_REQUEST_INPUT_H
#define COMPTOIR_REQUEST_INPUT_H

#include "envelope.h"
#include "pgdb.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

//  At most this many details in one reply: enough to fix a request, and a
//  hostile body cannot make the reply large.
#define REQUEST_INPUT_MAX_DETAILS 20

//  A string param from body.params, or NULL when absent or not a string.
const char *request_input_param (const envelope_t *request, const char *name);

//  body.data, or NULL when absent or null.
json_t *request_input_data (const envelope_t *request);

//  body.data when it is an object, else NULL and a detail "body".
json_t *request_input_object (const envelope_t *request, json_t *details);

//  Parse a decimal integer string in [min, max] (digits only, no sign, no
//  spaces, at most 18 digits). Returns 0 and sets *value, or -1.
int request_input_int (const char *text, int64_t min, int64_t max, int64_t *value);

//  Add {"field", "problem"} to a details array (at most REQUEST_INPUT_MAX_DETAILS).
void request_input_problem (json_t *details, const char *field, const char *problem);

//  Report every key of object that is not in the NULL-terminated list
//  (the key is echoed cut to 64 bytes on a character boundary).
void request_input_unknown_fields (json_t *object, const char *const *allowed, json_t *details);

//  The page and per_page params of a list (API.md: per_page at most 100):
//  page 1..1000000 (default 1), per_page 1..100 (default 20); a detail
//  for each that is malformed.
void request_input_page (const envelope_t *request, int64_t *page, int64_t *per_page, json_t *details);

//  An optional JSON integer field in [min, max]. Returns 1 when present and
//  valid (sets *value), 0 when absent, -1 when invalid (a detail was added).
int request_input_integer (json_t *object, const char *field, int64_t min, int64_t max,
                           int64_t *value, json_t *details);

//  An optional JSON boolean field: 1 present (sets *value), 0 absent, -1 invalid.
int request_input_bool (json_t *object, const char *field, bool *value, json_t *details);

//  Number of characters (code points) of the first bytes of a UTF-8 string.
size_t request_input_utf8_length (const char *text, size_t bytes);

//  The caller's role must be one of the NULL-terminated list. Returns NULL
//  when it is, else the reply: 401 without a role, 403 with another one.
envelope_t *request_input_roles (const envelope_t *request, const char *const *roles);

//  Replies with the codes of API.md.
envelope_t *request_input_invalid (const envelope_t *request, json_t *details);
envelope_t *request_input_unauthorized (const envelope_t *request, const char *message);
envelope_t *request_input_forbidden (const envelope_t *request, const char *message);
envelope_t *request_input_not_found (const envelope_t *request, const char *what);
envelope_t *request_input_conflict (const envelope_t *request, const char *message);
envelope_t *request_input_internal (const envelope_t *request);

//  The database failed in a way the client cannot fix: 503 without SQL in
//  the answer, the SQLSTATE and message in our log. what names the data
//  ("catalog", "customer").
envelope_t *request_input_db_failure (const envelope_t *request, pgdb_t *db, const char *what);

void request_input_test (bool verbose);

#endif
