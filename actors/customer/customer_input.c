/*  =========================================================================
    customer_input - reading and checking what an identity request carries

    Conversions are strict on purpose: "12abc", " 12" and "+12" are not ids.
    Text is trimmed before its length is checked, so "  " is empty and an
    email typed with a trailing space is the same email. Normal forms (upper
    case provinces, "H2X 1Y4") are made here, once, so the database holds
    one spelling and a CHECK constraint can insist on it.
    =========================================================================
*/
#include "customer_input.h"
#include "logline.h"

#include <ctype.h>
#include <string.h>


static const char *const s_provinces [] = {
    "QC", "ON", "NS", "NB", "NL", "PE", "BC", "MB", "SK", "AB", "YT", "NT", "NU", NULL
};

//  --------------------------------------------------------------------------

char *
customer_input_text (json_t *object, const char *field, size_t min_len, size_t max_len,
                     bool required, bool nullable, bool *present, json_t *details)
{
    if (present)
        *present = false;
    json_t *value = object ? json_object_get (object, field) : NULL;
    if (!value) {
        if (required)
            request_input_problem (details, field, "is required");
        return NULL;
    }
    if (present)
        *present = true;
    if (json_is_null (value)) {
        if (!nullable)
            request_input_problem (details, field, "must not be null");
        return NULL;
    }
    if (!json_is_string (value)) {
        request_input_problem (details, field, "must be a string");
        return NULL;
    }
    const char *text = json_string_value (value);
    size_t bytes = json_string_length (value);
    if (strlen (text) != bytes) {
        request_input_problem (details, field, "must not contain NUL characters");
        return NULL;
    }
    for (size_t i = 0; i < bytes; i++) {
        unsigned char c = (unsigned char) text [i];
        if ((c < 0x20 && c != ' ') || c == 0x7F) {
            request_input_problem (details, field, "must not contain control characters");
            return NULL;
        }
    }
    while (bytes > 0 && *text == ' ') {
        text++;
        bytes--;
    }
    while (bytes > 0 && text [bytes - 1] == ' ')
        bytes--;
    size_t length = request_input_utf8_length (text, bytes);
    if (length == 0 && min_len > 0) {
        request_input_problem (details, field, "must not be empty");
        return NULL;
    }
    if (length < min_len || length > max_len) {
        char problem [80];
        if (length < min_len)
            snprintf (problem, sizeof problem, "must be at least %zu characters", min_len);
        else
            snprintf (problem, sizeof problem, "must be at most %zu characters", max_len);
        request_input_problem (details, field, problem);
        return NULL;
    }
    char *copy = (char *) malloc (bytes + 1);
    if (copy) {
        memcpy (copy, text, bytes);
        copy [bytes] = 0;
    }
    else
        request_input_problem (details, field, "cannot be read");
    return copy;
}

//  --------------------------------------------------------------------------
//  A plausible address: local@domain, no spaces or controls, a dotted
//  domain of letters, digits and hyphens (or non-ASCII, for IDNs). Real
//  proof of an address is a message it receives; this refuses typos.

static bool
s_email_ok (const char *text)
{
    size_t length = strlen (text);
    if (length < 3 || length > CUSTOMER_EMAIL_MAX)
        return false;
    const char *at = strchr (text, '@');
    if (!at || strchr (at + 1, '@'))
        return false;
    size_t local = (size_t) (at - text);
    if (local < 1 || local > 64 || text [0] == '.' || text [local - 1] == '.')
        return false;
    for (const char *c = text; c < at; c++) {
        unsigned char u = (unsigned char) *c;
        if (u <= ' ' || u == 0x7F || strchr ("()<>[]\\,;:\"", u))
            return false;
        if (u == '.' && c [1] == '.')
            return false;
    }
    const char *domain = at + 1;
    if (!strchr (domain, '.'))
        return false;
    size_t label = 0;
    for (const char *c = domain; ; c++) {
        unsigned char u = (unsigned char) *c;
        if (u == '.' || u == 0) {
            if (label == 0 || label > 63 || c [-1] == '-')
                return false;
            if (u == 0)
                break;
            label = 0;
            continue;
        }
        if (label == 0 && u == '-')
            return false;
        if (!(isalnum (u) || u == '-' || u >= 0x80))
            return false;
        label++;
    }
    return true;
}

int
customer_input_email (const char *text, const char *field, json_t *details)
{
    if (text && s_email_ok (text))
        return 0;
    request_input_problem (details, field, "must be an email address");
    return -1;
}

//  --------------------------------------------------------------------------

int
customer_input_province (const char *text, const char *field, char *out, json_t *details)
{
    if (text && strlen (text) == 2) {
        char upper [3] = { (char) toupper ((unsigned char) text [0]),
                           (char) toupper ((unsigned char) text [1]), 0 };
        for (const char *const *code = s_provinces; *code; code++)
            if (streq (*code, upper)) {
                memcpy (out, upper, 3);
                return 0;
            }
    }
    request_input_problem (details, field,
                            "must be a Canadian province or territory code (QC, ON, BC...)");
    return -1;
}

//  --------------------------------------------------------------------------
//  Canada Post: letter digit letter, digit letter digit; never D F I O Q U,
//  and W Z never first.

static bool
s_postal_letter (char c, bool first)
{
    if (c < 'A' || c > 'Z' || strchr ("DFIOQU", c))
        return false;
    return !(first && (c == 'W' || c == 'Z'));
}

int
customer_input_postal_code (const char *text, const char *field, char *out, json_t *details)
{
    char compact [7];
    size_t n = 0;
    bool ok = text != NULL, separated = false;
    for (const char *c = text; ok && *c; c++) {
        if ((*c == ' ' || *c == '-') && n == 3 && !separated) {
            separated = true;   //  the one separator, in its place
            continue;
        }
        if (n == 6)
            ok = false;
        else
            compact [n++] = (char) toupper ((unsigned char) *c);
    }
    ok = ok && n == 6
      && s_postal_letter (compact [0], true) && isdigit ((unsigned char) compact [1])
      && s_postal_letter (compact [2], false) && isdigit ((unsigned char) compact [3])
      && s_postal_letter (compact [4], false) && isdigit ((unsigned char) compact [5]);
    if (!ok) {
        request_input_problem (details, field, "must be a Canadian postal code (A1A 1A1)");
        return -1;
    }
    snprintf (out, 8, "%.3s %.3s", compact, compact + 3);
    return 0;
}

//  --------------------------------------------------------------------------

int
customer_input_phone (const char *text, const char *field, json_t *details)
{
    size_t digits = 0;
    bool ok = text != NULL;
    for (const char *c = text; ok && *c; c++) {
        if (isdigit ((unsigned char) *c))
            digits++;
        else
        if (!strchr ("+()-. ", *c) || (*c == '+' && c != text))
            ok = false;
    }
    if (ok && digits >= 7 && digits <= 15)
        return 0;
    request_input_problem (details, field, "must be a phone number (7 to 15 digits)");
    return -1;
}

//  --------------------------------------------------------------------------

envelope_t *
customer_input_customer (const envelope_t *request, char *id)
{
    if (!request->role || !*request->role)
        return request_input_unauthorized (request, "a customer token is required");
    if (!streq (request->role, "customer"))
        return request_input_forbidden (request, "only a customer may use this route");
    int64_t value;
    if (request_input_int (request->sub, 1, INT64_MAX, &value))
        return request_input_unauthorized (request, "the token names no customer");
    snprintf (id, 24, "%lld", (long long) value);
    return NULL;
}

//  The edge turns the retry_after_s detail into Retry-After.
envelope_t *
customer_input_rate_limited (const envelope_t *request, int retry_after_s)
{
    char seconds [16];
    snprintf (seconds, sizeof seconds, "%d", retry_after_s > 0 ? retry_after_s : 1);
    return envelope_new_error (request, 429, "rate_limited",
                               "too many failed logins for this account, try again later",
                               json_pack ("[{s:s, s:s}]", "field", "retry_after_s",
                                          "problem", seconds));
}

//  The database failed in a way the client cannot fix: say so without
//  leaking SQL, and keep the details in our log.
//  --------------------------------------------------------------------------

void
customer_input_test (bool verbose)
{
    printf (" * customer_input: ");
    json_t *details = json_array ();
    assert (customer_input_email ("marie@example.com", "email", details) == 0);
    assert (customer_input_email ("Marie.Tremblay+web@sub.example.ca", "email", details) == 0);
    assert (customer_input_email ("élise@exemple.québec", "email", details) == 0);
    assert (json_array_size (details) == 0);
    const char *bad_emails [] = {
        "", "a", "@example.com", "marie@", "marie@example", "marie@@example.com",
        "ma rie@example.com", "marie@exa mple.com", ".marie@example.com", "marie.@example.com",
        "ma..rie@example.com", "marie@-example.com", "marie@example-.com", "marie@example..com",
        "marie@.example.com", "marie@example.com.", "<marie>@example.com", "marie@exa_mple.com",
        NULL
    };
    for (const char **email = bad_emails; *email; email++) {
        json_t *one = json_array ();
        assert (customer_input_email (*email, "email", one) == -1);
        assert (json_array_size (one) == 1);
        json_decref (one);
    }
    char province [3], postal [8];
    assert (customer_input_province ("qc", "province", province, details) == 0 && streq (province, "QC"));
    assert (customer_input_province ("Nu", "province", province, details) == 0 && streq (province, "NU"));
    assert (customer_input_province ("XX", "province", province, details) == -1);
    assert (customer_input_province ("QCC", "province", province, details) == -1);
    assert (customer_input_postal_code ("h2x1y4", "postal_code", postal, details) == 0);
    assert (streq (postal, "H2X 1Y4"));
    assert (customer_input_postal_code ("H2X 1Y4", "postal_code", postal, details) == 0);
    assert (customer_input_postal_code ("h2x-1y4", "postal_code", postal, details) == 0);
    assert (streq (postal, "H2X 1Y4"));
    assert (customer_input_postal_code ("H2X  1Y4", "postal_code", postal, details) == -1);
    assert (customer_input_postal_code ("D2X 1Y4", "postal_code", postal, details) == -1);
    assert (customer_input_postal_code ("W2X 1Y4", "postal_code", postal, details) == -1);
    assert (customer_input_postal_code ("H2X 1Y", "postal_code", postal, details) == -1);
    assert (customer_input_postal_code ("H2X 1Y44", "postal_code", postal, details) == -1);
    assert (customer_input_postal_code ("12345", "postal_code", postal, details) == -1);
    assert (customer_input_phone ("+1 (514) 555-0199", "phone", details) == 0);
    assert (customer_input_phone ("514.555.0199", "phone", details) == 0);
    assert (customer_input_phone ("555", "phone", details) == -1);
    assert (customer_input_phone ("514-555-0199 ext", "phone", details) == -1);
    assert (customer_input_phone ("1+514 555 0199", "phone", details) == -1);
    json_decref (details);

    //  text: trimmed, bounded in characters, controls refused, null and absent told apart
    json_t *object = json_pack ("{s:s, s:s, s:s, s:n, s:i, s:s}", "name", "  Élise  ",
                                "blank", "   ", "tab", "a\tb", "nothing", "number", 3,
                                "long", "ééééé");
    details = json_array ();
    bool present = false;
    char *text = customer_input_text (object, "name", 1, 5, true, false, &present, details);
    assert (text && streq (text, "Élise") && present);
    free (text);
    assert (!customer_input_text (object, "blank", 1, 5, true, false, &present, details));
    assert (!customer_input_text (object, "tab", 1, 5, true, false, &present, details));
    assert (!customer_input_text (object, "nothing", 1, 5, false, true, &present, details) && present);
    assert (!customer_input_text (object, "absent", 1, 5, false, true, &present, details) && !present);
    assert (json_array_size (details) == 2);
    assert (!customer_input_text (object, "absent", 1, 5, true, true, &present, details));
    assert (!customer_input_text (object, "number", 1, 5, true, true, &present, details));
    assert (!customer_input_text (object, "long", 1, 4, true, true, &present, details));
    text = customer_input_text (object, "long", 1, 5, true, true, &present, details);
    assert (text && strlen (text) == 10);
    free (text);
    assert (json_array_size (details) == 5);
    const char *allowed [] = { "name", "blank", NULL };
    json_t *unknown = json_array ();
    request_input_unknown_fields (object, allowed, unknown);
    assert (json_array_size (unknown) == 4);
    json_decref (unknown);
    json_decref (details);
    json_decref (object);

    //  identity
    envelope_t *request = envelope_new_request ("customer.me_get");
    char id [24];
    envelope_t *reply = customer_input_customer (request, id);
    assert (reply && reply->status == 401);
    envelope_destroy (&reply);
    envelope_set_str (&request->role, "manager");
    reply = customer_input_customer (request, id);
    assert (reply && reply->status == 403);
    envelope_destroy (&reply);
    const char *staff [] = { "manager", "admin", NULL };
    assert (request_input_roles (request, staff) == NULL);
    envelope_set_str (&request->role, "customer");
    reply = request_input_roles (request, staff);
    assert (reply && reply->status == 403);
    envelope_destroy (&reply);
    envelope_set_str (&request->sub, "12x");
    reply = customer_input_customer (request, id);
    assert (reply && reply->status == 401);
    envelope_destroy (&reply);
    envelope_set_str (&request->sub, "12");
    assert (customer_input_customer (request, id) == NULL && streq (id, "12"));
    reply = customer_input_rate_limited (request, 42);
    assert (reply->status == 429);
    json_t *detail = json_array_get (json_object_get (reply->error, "details"), 0);
    assert (streq (json_string_value (json_object_get (detail, "field")), "retry_after_s"));
    assert (streq (json_string_value (json_object_get (detail, "problem")), "42"));
    envelope_destroy (&reply);
    envelope_destroy (&request);
    if (verbose)
        printf ("(emails, postal codes, trimming, roles) ");
    printf ("OK\n");
}
