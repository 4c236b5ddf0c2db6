/*  =========================================================================
    request_input - reading and checking what a request envelope carries

    Conversions are strict on purpose: lenient parsing is how floats and
    surprises get into money paths. Nothing here allocates what it returns
    except the replies: params and fields are borrowed from the envelope.
    =========================================================================
*/
#include "request_input.h"
#include "logline.h"

#include <string.h>

//  --------------------------------------------------------------------------

static json_t *
s_body_member (const envelope_t *request, const char *name)
{
    if (!request || !json_is_object (request->body))
        return NULL;
    return json_object_get (request->body, name);
}

const char *
request_input_param (const envelope_t *request, const char *name)
{
    json_t *params = s_body_member (request, "params");
    json_t *value = json_is_object (params) ? json_object_get (params, name) : NULL;
    return json_is_string (value) ? json_string_value (value) : NULL;
}

json_t *
request_input_data (const envelope_t *request)
{
    json_t *data = s_body_member (request, "data");
    return json_is_null (data) ? NULL : data;
}

json_t *
request_input_object (const envelope_t *request, json_t *details)
{
    json_t *data = s_body_member (request, "data");
    if (!json_is_object (data)) {
        request_input_problem (details, "body", "must be a JSON object");
        return NULL;
    }
    return data;
}

//  --------------------------------------------------------------------------

int
request_input_int (const char *text, int64_t min, int64_t max, int64_t *value)
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

void
request_input_problem (json_t *details, const char *field, const char *problem)
{
    if (!details || json_array_size (details) >= REQUEST_INPUT_MAX_DETAILS)
        return;
    json_array_append_new (details, json_pack ("{s:s, s:s}", "field", field, "problem", problem));
}

void
request_input_unknown_fields (json_t *object, const char *const *allowed, json_t *details)
{
    const char *key;
    json_t *value;
    json_object_foreach (object, key, value) {
        bool known = false;
        for (const char *const *name = allowed; *name && !known; name++)
            known = streq (key, *name);
        if (!known) {
            char field [65];
            size_t len = strlen (key);
            if (len > 64) {
                len = 64;
                while (len > 0 && ((unsigned char) key [len] & 0xC0) == 0x80)
                    len--;
            }
            memcpy (field, key, len);
            field [len] = 0;
            request_input_problem (details, field, "unknown field");
        }
    }
}

//  --------------------------------------------------------------------------

void
request_input_page (const envelope_t *request, int64_t *page, int64_t *per_page, json_t *details)
{
    *page = 1;
    *per_page = 20;
    const char *text = request_input_param (request, "page");
    if (text && request_input_int (text, 1, 1000000, page))
        request_input_problem (details, "page", "must be an integer between 1 and 1000000");
    text = request_input_param (request, "per_page");
    if (text && request_input_int (text, 1, 100, per_page))
        request_input_problem (details, "per_page", "must be an integer between 1 and 100");
}

//  --------------------------------------------------------------------------

int
request_input_integer (json_t *object, const char *field, int64_t min, int64_t max,
                       int64_t *value, json_t *details)
{
    json_t *member = object ? json_object_get (object, field) : NULL;
    if (!member)
        return 0;
    if (!json_is_integer (member)) {
        request_input_problem (details, field, "must be an integer");
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
        request_input_problem (details, field, problem);
        return -1;
    }
    *value = (int64_t) number;
    return 1;
}

int
request_input_bool (json_t *object, const char *field, bool *value, json_t *details)
{
    json_t *member = object ? json_object_get (object, field) : NULL;
    if (!member)
        return 0;
    if (!json_is_boolean (member)) {
        request_input_problem (details, field, "must be true or false");
        return -1;
    }
    *value = json_is_true (member);
    return 1;
}

size_t
request_input_utf8_length (const char *text, size_t bytes)
{
    size_t count = 0;
    for (size_t i = 0; i < bytes; i++)
        if (((unsigned char) text [i] & 0xC0) != 0x80)
            count++;
    return count;
}

//  --------------------------------------------------------------------------

envelope_t *
request_input_roles (const envelope_t *request, const char *const *roles)
{
    if (!request->role || !*request->role)
        return request_input_unauthorized (request, "a token is required");
    for (const char *const *role = roles; *role; role++)
        if (streq (*role, request->role))
            return NULL;
    return request_input_forbidden (request, "your role may not do this");
}

envelope_t *
request_input_invalid (const envelope_t *request, json_t *details)
{
    return envelope_new_error (request, 400, "validation_failed",
                               "the request has invalid fields", details);
}

envelope_t *
request_input_unauthorized (const envelope_t *request, const char *message)
{
    return envelope_new_error (request, 401, "unauthorized", message, NULL);
}

envelope_t *
request_input_forbidden (const envelope_t *request, const char *message)
{
    return envelope_new_error (request, 403, "forbidden", message, NULL);
}

envelope_t *
request_input_not_found (const envelope_t *request, const char *what)
{
    char message [64];
    snprintf (message, sizeof message, "no such %s", what);
    return envelope_new_error (request, 404, "not_found", message, NULL);
}

envelope_t *
request_input_conflict (const envelope_t *request, const char *message)
{
    return envelope_new_error (request, 409, "conflict", message, NULL);
}

envelope_t *
request_input_internal (const envelope_t *request)
{
    return envelope_new_error (request, 500, "internal_error", "cannot build the answer", NULL);
}

envelope_t *
request_input_db_failure (const envelope_t *request, pgdb_t *db, const char *what)
{
    log_error (request ? request->rid : NULL, "%s: database failure %s %s",
               request && request->verb ? request->verb : "?",
               pgdb_sqlstate (db), pgdb_error (db));
    char message [96];
    snprintf (message, sizeof message, "the %s database is unavailable, try again", what);
    return envelope_new_error (request, 503, "service_unavailable", message, NULL);
}

//  --------------------------------------------------------------------------

void
request_input_test (bool verbose)
{
    printf (" * request_input: ");
    int64_t value = 0;
    assert (request_input_int ("42", 1, 100, &value) == 0 && value == 42);
    const char *refused [] = { "0", "101", "-1", "+1", " 1", "1 ", "1e3", "", "0x10",
                               "9999999999999999999999", NULL };
    for (const char **text = refused; *text; text++)
        assert (request_input_int (*text, 1, 100, &value) == -1);
    assert (request_input_int (NULL, 0, 100, &value) == -1);

    envelope_t *request = envelope_new_request ("test.create");
    request->body = json_pack ("{s:{s:s, s:i}, s:{s:s, s:f, s:n, s:i, s:s, s:b, s:i}}",
                               "params", "id", "7", "page", 2,
                               "data", "name", "Mug", "price_cents", 12.0, "description",
                               "alert_threshold", 3, "id", "x", "active", 1, "flag", 1);
    assert (streq (request_input_param (request, "id"), "7"));
    assert (request_input_param (request, "page") == NULL);     //  not a string
    assert (request_input_param (request, "nothing") == NULL);
    json_t *details = json_array ();
    json_t *data = request_input_object (request, details);
    assert (json_is_object (data) && data == request_input_data (request));
    assert (json_array_size (details) == 0);

    //  Unknown fields are named, one detail each
    const char *allowed [] = { "name", "price_cents", "description", "alert_threshold",
                               "active", "flag", NULL };
    request_input_unknown_fields (data, allowed, details);
    assert (json_array_size (details) == 1);
    assert (streq (json_string_value (json_object_get (json_array_get (details, 0), "field")), "id"));

    //  12.0 is not an integer number of cents; 3 is in range; absent is 0
    int64_t cents = 0;
    assert (request_input_integer (data, "price_cents", 1, INT64_MAX, &cents, details) == -1);
    assert (json_array_size (details) == 2);
    assert (request_input_integer (data, "alert_threshold", 0, 100, &value, details) == 1 && value == 3);
    assert (request_input_integer (data, "alert_threshold", 5, 100, &value, details) == -1);
    assert (request_input_integer (data, "absent", 0, 100, &value, details) == 0);
    bool flag = false;
    assert (request_input_bool (data, "active", &flag, details) == 1 && flag);
    assert (request_input_bool (data, "flag", &flag, details) == -1);
    assert (request_input_bool (data, "absent", &flag, details) == 0);
    assert (request_input_utf8_length ("été", strlen ("été")) == 3);

    //  No more than the bound of details, whatever the body
    for (int i = 0; i < 100; i++)
        request_input_problem (details, "x", "y");
    assert (json_array_size (details) == REQUEST_INPUT_MAX_DETAILS);

    //  Roles: 401 without one, 403 with another, NULL when allowed
    const char *writers [] = { "manager", "admin", NULL };
    envelope_t *reply = request_input_roles (request, writers);
    assert (reply && reply->status == 401);
    envelope_destroy (&reply);
    envelope_set_str (&request->role, "customer");
    reply = request_input_roles (request, writers);
    assert (reply && reply->status == 403);
    envelope_destroy (&reply);
    envelope_set_str (&request->role, "admin");
    assert (request_input_roles (request, writers) == NULL);

    //  A body that is not an object is one detail, "body"
    json_object_set_new (request->body, "data", json_string ("text"));
    json_t *other = json_array ();
    assert (request_input_object (request, other) == NULL);
    assert (json_array_size (other) == 1);
    json_decref (other);

    reply = request_input_invalid (request, details);
    assert (reply && reply->status == 400);
    assert (streq (json_string_value (json_object_get (reply->error, "code")), "validation_failed"));
    envelope_destroy (&reply);
    envelope_destroy (&request);
    if (verbose)
        printf ("(strict integers, details, roles) ");
    printf ("OK\n");
}
