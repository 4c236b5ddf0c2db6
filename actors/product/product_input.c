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

//  --------------------------------------------------------------------------

bool
product_input_may_write (const envelope_t *request)
{
    const char *role = request ? request->role : NULL;
    return role && (streq (role, "manager") || streq (role, "admin"));
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
            request_input_problem (details, field, "must not be null");
        return NULL;
    }
    if (!json_is_string (value)) {
        request_input_problem (details, field, "must be a string");
        return NULL;
    }
    const char *text = json_string_value (value);
    if (strlen (text) != json_string_length (value)) {
        request_input_problem (details, field, "must not contain NUL characters");
        return NULL;
    }
    size_t length = request_input_utf8_length (text, strlen (text));
    bool blank = text [strspn (text, " \t\r\n")] == 0;
    if (length < min_len || (min_len > 0 && blank)) {
        request_input_problem (details, field, "must not be empty");
        return NULL;
    }
    if (length > max_len) {
        char problem [64];
        snprintf (problem, sizeof problem, "must be at most %zu characters", max_len);
        request_input_problem (details, field, problem);
        return NULL;
    }
    return text;
}

//  --------------------------------------------------------------------------

bool
product_input_ean13 (const char *code)
{
    if (!code || strlen (code) != 13)
        return false;
    int sum = 0;
    for (int i = 0; i < 13; i++) {
        if (code [i] < '0' || code [i] > '9')
            return false;
        sum += (code [i] - '0') * (i % 2 ? 3 : 1);
    }
    return sum % 10 == 0;
}

//  --------------------------------------------------------------------------

envelope_t *
product_input_forbidden (const envelope_t *request)
{
    return envelope_new_error (request, 403, "forbidden",
                               "only a manager or an admin may change the catalog", NULL);
}

//  --------------------------------------------------------------------------

void
product_input_test (bool verbose)
{
    printf (" * product_input: ");
    json_t *data = json_pack ("{s:s, s:n, s:i, s:s, s:s#}", "name", "Mug", "description",
                              "price_cents", 12, "blank", "   ", "nul", "a\0b", (size_t) 3);
    json_t *details = json_array ();
    bool is_null = false;
    assert (product_input_string (data, "description", 0, 10, true, &is_null, details) == NULL);
    assert (is_null && json_array_size (details) == 0);
    assert (streq (product_input_string (data, "name", 1, 10, false, NULL, details), "Mug"));
    assert (product_input_string (data, "absent", 1, 10, false, NULL, details) == NULL);
    assert (json_array_size (details) == 0);
    //  too long, not a string, blank, embedded NUL, null where not allowed
    assert (product_input_string (data, "name", 1, 2, false, NULL, details) == NULL);
    assert (product_input_string (data, "price_cents", 1, 10, false, NULL, details) == NULL);
    assert (product_input_string (data, "blank", 1, 10, false, NULL, details) == NULL);
    assert (product_input_string (data, "nul", 1, 10, false, NULL, details) == NULL);
    assert (product_input_string (data, "description", 0, 10, false, NULL, details) == NULL);
    assert (json_array_size (details) == 5);

    //  EAN-13: the check digit verified; length and digits strict
    assert (product_input_ean13 ("4006381333931"));
    assert (product_input_ean13 ("0628000110019"));
    assert (!product_input_ean13 ("4006381333932"));        //  wrong check digit
    assert (!product_input_ean13 ("400638133393"));         //  12 digits
    assert (!product_input_ean13 ("40063813339310"));       //  14 digits
    assert (!product_input_ean13 ("40063813339 1"));
    assert (!product_input_ean13 ("4OO6381333931"));        //  letters O
    assert (!product_input_ean13 ("-006381333931"));
    assert (!product_input_ean13 (""));
    assert (!product_input_ean13 (NULL));

    envelope_t *request = envelope_new_request ("product.create");
    assert (!product_input_may_write (request));
    envelope_set_str (&request->role, "customer");
    assert (!product_input_may_write (request));
    envelope_set_str (&request->role, "manager");
    assert (product_input_may_write (request));
    envelope_set_str (&request->role, "admin");
    assert (product_input_may_write (request));
    envelope_t *reply = product_input_forbidden (request);
    assert (reply && reply->status == 403);
    envelope_destroy (&reply);
    envelope_destroy (&request);
    json_decref (details);
    json_decref (data);
    if (verbose)
        printf ("(strings, EAN-13, writers) ");
    printf ("OK\n");
}
