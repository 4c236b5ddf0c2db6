/*  =========================================================================
    customer_input - reading and checking what an identity request carries

    Every value in a request is untrusted: params arrive as strings and are
    converted with strict rules; bodies are checked field by field against
    each verb's list of writable fields (anything else is refused, so no
    mass assignment of role, id or created_at), and every problem is
    reported at once as a validation_failed detail. Text fields are trimmed
    and normalised here (emails, provinces, postal codes) so the verbs store
    one form only. The caller's identity is checked here too: the context,
    not only the edge, decides who may call a verb.
    =========================================================================
*/
#ifndef COMPTOIR_CUSTOMER_INPUT_H
#define COMPTOIR_CUSTOMER_INPUT_H

#include "envelope.h"
#include "pgdb.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define CUSTOMER_EMAIL_MAX      254
#define CUSTOMER_PASSWORD_MIN   8
#define CUSTOMER_PASSWORD_MAX   256     //  characters; Argon2 takes any length, we bound the work

//  A string param from body.params, or NULL when absent or not a string.
const char *customer_input_param (const envelope_t *request, const char *name);

//  body.data when it is an object, else NULL (and a detail "body").
json_t *customer_input_object (const envelope_t *request, json_t *details);

//  Parse a decimal integer string in [min, max] (digits only). 0 / -1.
int customer_input_int (const char *text, int64_t min, int64_t max, int64_t *value);

//  Add {"field", "problem"} to a details array (at most 20 are kept).
void customer_input_problem (json_t *details, const char *field, const char *problem);

//  Report every key of object that is not in the NULL-terminated list.
void customer_input_unknown_fields (json_t *object, const char *const *allowed, json_t *details);

//  An optional text field, trimmed of surrounding white space. Returns a new
//  string, or NULL when absent (*present false), null (*present true and
//  nullable) or invalid (a detail was added). Length is counted in
//  characters after trimming and must be in [min_len, max_len]; control
//  characters are refused. required adds "is required" when absent.
char *customer_input_text (json_t *object, const char *field, size_t min_len, size_t max_len,
                           bool required, bool nullable, bool *present, json_t *details);

//  A JSON boolean field: 1 present (sets *value), 0 absent, -1 invalid.
int customer_input_bool (json_t *object, const char *field, bool *value, json_t *details);

//  Normalisers: 0 and the normal form in out, or -1 (a detail was added).
//  email: trimmed by the caller, checked for a plausible address (case kept).
int customer_input_email (const char *text, const char *field, json_t *details);
//  province: one of the 13 codes, any case -> upper case (out: 3 bytes).
int customer_input_province (const char *text, const char *field, char *out, json_t *details);
//  postal code: A1A 1A1, any case, with or without the space or a hyphen (out: 8 bytes).
int customer_input_postal_code (const char *text, const char *field, char *out, json_t *details);
//  phone: digits with + ( ) - . and spaces, 7 to 15 digits.
int customer_input_phone (const char *text, const char *field, json_t *details);

//  Who calls. customer_input_customer: the caller must hold a customer token
//  whose sub is a customer id (sets *id as a string, 24 bytes). Returns NULL
//  when allowed, else the reply (401 without a role, 403 with another role).
envelope_t *customer_input_customer (const envelope_t *request, char *id);
//  The caller's role must be in the NULL-terminated list.
envelope_t *customer_input_roles (const envelope_t *request, const char *const *roles);

//  Replies.
envelope_t *customer_input_invalid (const envelope_t *request, json_t *details);
envelope_t *customer_input_unauthorized (const envelope_t *request, const char *message);
envelope_t *customer_input_not_found (const envelope_t *request, const char *what);
envelope_t *customer_input_conflict (const envelope_t *request, const char *message);
envelope_t *customer_input_rate_limited (const envelope_t *request, int retry_after_s);
envelope_t *customer_input_internal (const envelope_t *request);
envelope_t *customer_input_db_failure (const envelope_t *request, pgdb_t *db);

void customer_input_test (bool verbose);

#endif
