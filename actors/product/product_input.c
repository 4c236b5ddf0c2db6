/*  =========================================================================
    product_input - reading and checking what a catalog request carries

    Conversions are strict on purpose: "12abc", " 12", "+12" and "1e3" are
    not ids, and a JSON 12.0 is not an integer number of cents. Lenient
    parsing is how floats and surprises get into money paths.
    =========================================================================
*/
#include "product_input.h"
#include "logline.h"

#include <string.h>

//  At most this many details in one reply: enough to fix a request, and a
//  hostile body cannot make the reply large.
#define PRODUCT_INPUT_MAX_DETAILS 20

//  --------------------------------------------------------------------------

static json_t *
s_body_member (const envelope_t *request, const char *name)
{
    if (!request || !json_is_object (request->body))
        return NULL;
    return json_object_get (request->body, name);
}

//  --------------------------------------------------------------------------

const char *
product_input_param (const envelope_t *request, const char *name)
{
    json_t *params = s_body_member (request, "params");
    if (!json_is_object (params))
        return NULL;
    json_t *value = json_object_get (params, name);
    return json_is_string (value) ? json_string_value (value) : NULL;
}

//  --------------------------------------------------------------------------

json_t *
product_input_data (const envelope_t *request)
{
    json_t *data = s_body_member (request, "data");
    return json_is_null (data) ? NULL : data;
}

//  --------------------------------------------------------------------------

int
product_input_int (const char *text, int64_t min, int64_t max, int64_t *value)
{
    if (!text || !*text)
        return -1;
    int64_t result = 0;
    size_t digits = 0;
    for (const char *c = text; *c; c++) {
        if (*c < '0' || *c > '9' || ++digits > 18)
            return -1;
        result = result * 10 + (*c - '0');
    }
    if (result < min || result > max)
        return -1;
    *value = result;
    return 0;
}

//  --------------------------------------------------------------------------

bool
product_input_may_write (const envelope_t *request)
{
    const char *role = request ? request->role : NULL;
    return role && (streq (role, "manager") || streq (role, "admin"));
}

//  --------------------------------------------------------------------------

void
product_input_problem (json_t *details, const char *field, const char *problem)
{
    if (!details || json_array_size (details) >= PRODUCT_INPUT_MAX_DETAILS)
        return;
    json_array_append_new (details, json_pack ("{s:s, s:s}", "field", field, "problem", problem));
}

//  --------------------------------------------------------------------------

void
product_input_unknown_fields (json_t *object, const char *const *allowed, json_t *details)
{
    const char *key;
    json_t *value;
    json_object_foreach (object, key, value) {
        bool known = false;
        for (const char *const *name = allowed; *name && !known; name++)
            known = streq (key, *name);
        if (!known) {
            //  echo at most 64 bytes of a client's key, cut on a character boundary
            char field [65];
            size_t len = strlen (key);
            if (len > 64) {
                len = 64;
                while (len > 0 && ((unsigned char) key [len] & 0xC0) == 0x80)
                    len--;
            }
            memcpy (field, key, len);
            field [len] = 0;
            product_input_problem (details, field, "unknown field");
        }
    }
}

//  --------------------------------------------------------------------------
//  Number of code points of a UTF-8 string (jansson guarantees valid UTF-8).

static size_t
s_utf8_length (const char *text)
{
    size_t count = 0;
    for (const unsigned char *c = (const unsigned char *) text; *c; c++)
        if ((*c & 0xC0) != 0x80)
            count++;
    return count;
}

//  --------------------------------------------------------------------------

const char *
product_input_string (json_t *object, const char *field, size_t min_len,
                      size_t max_len, bool nullable, bool *is_null, json_t *details)
{
    if (is_null)
        *is_null = false;
    json_t *value = json_object_get (object, field);
    if (!value)
        return NULL;
    if (json_is_null (value)) {
        if (nullable && is_null)
            *is_null = true;
        else
            product_input_problem (details, field, "must not be null");
        return NULL;
    }
    if (!json_is_string (value)) {
        product_input_problem (details, field, "must be a string");
        return NULL;
    }
    const char *text = json_string_value (value);
    if (strlen (text) != json_string_length (value)) {
        product_input_problem (details, field, "must not contain NUL characters");
        return NULL;
    }
    size_t length = s_utf8_length (text);
    bool blank = text [strspn (text, " \t\r\n")] == 0;
    if (length < min_len || (min_len > 0 && blank)) {
        product_input_problem (details, field, "must not be empty");
        return NULL;
    }
    if (length > max_len) {
        char problem [64];
        snprintf (problem, sizeof problem, "must be at most %zu characters", max_len);
        product_input_problem (details, field, problem);
        return NULL;
    }
    return text;
}

//  --------------------------------------------------------------------------

int
product_input_integer (json_t *object, const char *field, int64_t min, int64_t max,
                       int64_t *value, json_t *details)
{
    json_t *member = json_object_get (object, field);
    if (!member)
        return 0;
    if (!json_is_integer (member)) {
        product_input_problem (details, field, "must be an integer");
        return -1;
    }
    json_int_t number = json_integer_value (member);
    if (number < min || number > max) {
        char problem [96];
        if (max == INT64_MAX || max >= 1000000000000LL)
            snprintf (problem, sizeof problem, "must be >= %lld", (long long) min);
        else
            snprintf (problem, sizeof problem, "must be between %lld and %lld",
                      (long long) min, (long long) max);
        product_input_problem (details, field, problem);
        return -1;
    }
    *value = (int64_t) number;
    return 1;
}

//  --------------------------------------------------------------------------

envelope_t *
product_input_invalid (const envelope_t *request, json_t *details)
{
    return envelope_new_error (request, 400, "validation_failed",
                               "the request has invalid fields", details);
}

envelope_t *
product_input_forbidden (const envelope_t *request)
{
    return envelope_new_error (request, 403, "forbidden",
                               "only a manager or an admin may change the catalog", NULL);
}

envelope_t *
product_input_not_found (const envelope_t *request, const char *what)
{
    char message [64];
    snprintf (message, sizeof message, "no such %s", what);
    return envelope_new_error (request, 404, "not_found", message, NULL);
}

envelope_t *
product_input_conflict (const envelope_t *request, const char *message)
{
    return envelope_new_error (request, 409, "conflict", message, NULL);
}

//  --------------------------------------------------------------------------
//  The database failed in a way the client cannot fix: say so without
//  leaking SQL, and keep the details in our log.

envelope_t *
product_input_db_failure (const envelope_t *request, pgdb_t *db)
{
    log_error (request ? request->rid : NULL, "%s: database failure %s %s",
               request && request->verb ? request->verb : "?",
               pgdb_sqlstate (db), pgdb_error (db));
    return envelope_new_error (request, 503, "service_unavailable",
                               "the catalog database is unavailable, try again", NULL);
}

//  --------------------------------------------------------------------------

void
product_input_test (bool verbose)
{
    printf (" * product_input: ");
    int64_t value = 0;
    assert (product_input_int ("42", 1, 100, &value) == 0 && value == 42);
    assert (product_input_int ("0", 1, 100, &value) == -1);
    assert (product_input_int ("101", 1, 100, &value) == -1);
    assert (product_input_int ("-1", 0, 100, &value) == -1);
    assert (product_input_int ("+1", 0, 100, &value) == -1);
    assert (product_input_int (" 1", 0, 100, &value) == -1);
    assert (product_input_int ("1e3", 0, 10000, &value) == -1);
    assert (product_input_int ("", 0, 100, &value) == -1);
    assert (product_input_int (NULL, 0, 100, &value) == -1);
    assert (product_input_int ("9999999999999999999999", 0, INT64_MAX, &value) == -1);

    envelope_t *request = envelope_new_request ("product.create");
    assert (request);
    request->body = json_pack ("{s:{s:s, s:i}, s:{s:s, s:f, s:n, s:i, s:s}}",
                               "params", "id", "7", "page", 2,
                               "data", "name", "Mug", "price_cents", 12.0, "description",
                               "alert_threshold", 3, "id", "x");
    assert (streq (product_input_param (request, "id"), "7"));
    assert (product_input_param (request, "page") == NULL);     //  not a string
    assert (product_input_param (request, "nothing") == NULL);
    json_t *data = product_input_data (request);
    assert (json_is_object (data));

    json_t *details = json_array ();
    const char *allowed [] = { "name", "price_cents", "description", "alert_threshold", NULL };
    product_input_unknown_fields (data, allowed, details);
    assert (json_array_size (details) == 1);
    assert (streq (json_string_value (json_object_get (json_array_get (details, 0), "field")), "id"));

    int64_t cents = 0;
    assert (product_input_integer (data, "price_cents", 1, INT64_MAX, &cents, details) == -1);
    assert (json_array_size (details) == 2);
    assert (product_input_integer (data, "alert_threshold", 0, 100, &value, details) == 1 && value == 3);
    assert (product_input_integer (data, "absent", 0, 100, &value, details) == 0);
    bool is_null = false;
    assert (product_input_string (data, "description", 0, 10, true, &is_null, details) == NULL && is_null);
    assert (streq (product_input_string (data, "name", 1, 10, false, NULL, details), "Mug"));
    assert (product_input_string (data, "name", 1, 2, false, NULL, details) == NULL);
    assert (json_array_size (details) == 3);

    assert (!product_input_may_write (request));
    envelope_set_str (&request->role, "customer");
    assert (!product_input_may_write (request));
    envelope_set_str (&request->role, "manager");
    assert (product_input_may_write (request));

    envelope_t *reply = product_input_invalid (request, details);
    assert (reply && reply->status == 400);
    assert (streq (json_string_value (json_object_get (reply->error, "code")), "validation_failed"));
    envelope_destroy (&reply);
    envelope_destroy (&request);
    if (verbose)
        printf ("(strict integers, details) ");
    printf ("OK\n");
}
