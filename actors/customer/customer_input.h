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
#include "request_input.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define CUSTOMER_EMAIL_MAX      254
#define CUSTOMER_PASSWORD_MIN   8
#define CUSTOMER_PASSWORD_MAX   256     //  characters; Argon2 takes any length, we bound the work

//  An optional text field, trimmed of surrounding white space. Returns a new
//  string, or NULL when absent (*present false), null (*present true and
//  nullable) or invalid (a detail was added). Length is counted in
//  characters after trimming and must be in [min_len, max_len]; control
//  characters are refused. required adds "is required" when absent.
char *customer_input_text (json_t *object, const char *field, size_t min_len, size_t max_len,
                           bool required, bool nullable, bool *present, json_t *details);

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
envelope_t *customer_input_rate_limited (const envelope_t *request, int retry_after_s);
void customer_input_test (bool verbose);

#endif
