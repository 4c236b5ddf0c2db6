/*  =========================================================================
    edge_cors - the edge's CORS policy

    Origins are compared as whole strings, case-insensitively (scheme and
    host are case-insensitive, and browsers send them lower case): no
    suffix or pattern matching, the classic way an "example.com" rule ends
    up allowing "evil-example.com". The origin "null" (sandboxed frames,
    file: pages) is refused in the configuration: anyone can send it.
    See edge_cors.h for the policy.
    =========================================================================
*/
#include "edge_cors.h"
#include "logline.h"

#include <czmq.h>
#include <string.h>
#include <strings.h>

//  Defaults, each overridden by the setting named beside it.
#define CORS_METHODS    "GET, POST, PUT, PATCH, DELETE"                     //  edge/cors/methods
#define CORS_HEADERS    "Content-Type, Authorization, X-API-Key, X-Request-ID, Idempotency-Key"
                                                                            //  edge/cors/headers
#define CORS_EXPOSE     "X-Request-ID, Location, Retry-After, RateLimit-Limit, RateLimit-Remaining, " \
                        "RateLimit-Reset, X-RateLimit-Limit-Second, X-RateLimit-Remaining-Second, " \
                        "X-RateLimit-Limit-Minute, X-RateLimit-Remaining-Minute, " \
                        "X-RateLimit-Limit-Hour, X-RateLimit-Remaining-Hour, " \
                        "X-RateLimit-Limit-Day, X-RateLimit-Remaining-Day, " \
                        "Idempotent-Replayed, X-Cache, Age"                 //  edge/cors/expose_headers
#define CORS_MAX_AGE    600                                                 //  edge/cors/max_age (s)

struct _edge_cors_t {
    bool any_origin;
    zlistx_t *origins;          //  lower case
    zlistx_t *method_list;
    zlistx_t *header_list;      //  lower case
    char *methods;              //  "GET, POST" as configured, normalised
    char *headers;
    char *expose;
    char max_age [24];
    bool credentials;
};

static const char *s_known_methods [] = { "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", NULL };

//  --------------------------------------------------------------------------

void
edge_cors_destroy (edge_cors_t **self_p)
{
    assert (self_p);
    edge_cors_t *self = *self_p;
    if (!self)
        return;
    zlistx_destroy (&self->origins);
    zlistx_destroy (&self->method_list);
    zlistx_destroy (&self->header_list);
    free (self->methods);
    free (self->headers);
    free (self->expose);
    free (self);
    *self_p = NULL;
}

//  --------------------------------------------------------------------------
//  Split a list on commas and blanks into list (lower case when asked).
//  Returns the number of items, or -1 on allocation failure.

static int
s_split (const char *text, zlistx_t *list, bool lower)
{
    int count = 0;
    const char *cursor = text;
    while (*cursor) {
        while (*cursor == ',' || *cursor == ' ' || *cursor == '\t')
            cursor++;
        size_t length = strcspn (cursor, ", \t");
        if (length == 0)
            break;
        char *item = strndup (cursor, length);
        if (!item)
            return -1;
        if (lower)
            for (char *c = item; *c; c++)
                *c = (char) tolower ((unsigned char) *c);
        zlistx_add_end (list, item);
        free (item);            //  the list keeps its own copy
        count++;
        cursor += length;
    }
    return count;
}

//  The items joined with ", " (a new string).
static char *
s_join (zlistx_t *list)
{
    size_t size = 1;
    for (const char *item = (const char *) zlistx_first (list); item;
         item = (const char *) zlistx_next (list))
        size += strlen (item) + 2;
    char *text = (char *) malloc (size);
    if (!text)
        return NULL;
    text [0] = 0;
    for (const char *item = (const char *) zlistx_first (list); item;
         item = (const char *) zlistx_next (list)) {
        if (*text)
            strcat (text, ", ");
        strcat (text, item);
    }
    return text;
}

static bool
s_list_has (zlistx_t *list, const char *item, bool nocase)
{
    for (const char *entry = (const char *) zlistx_first (list); entry;
         entry = (const char *) zlistx_next (list))
        if (nocase ? strcasecmp (entry, item) == 0 : streq (entry, item))
            return true;
    return false;
}

//  An origin as the configuration must give it: scheme://host[:port],
//  nothing after, printable ASCII.
static bool
s_origin_valid (const char *origin)
{
    const char *host = NULL;
    if (strncmp (origin, "https://", 8) == 0)
        host = origin + 8;
    else
    if (strncmp (origin, "http://", 7) == 0)
        host = origin + 7;
    if (!host || !*host || strlen (origin) > EDGE_CORS_ORIGIN_MAX)
        return false;
    for (const char *c = host; *c; c++)
        if (*c <= 0x20 || *c >= 0x7f || *c == '/' || *c == '?' || *c == '#' || *c == '*'
        ||  *c == '@')
            return false;
    return true;
}

//  An HTTP token (header names): tchar only.
static bool
s_token_valid (const char *token)
{
    if (!*token)
        return false;
    for (const char *c = token; *c; c++)
        if (!(isalnum ((unsigned char) *c) || strchr ("!#$%&'*+-.^_`|~", *c)))
            return false;
    return true;
}

//  --------------------------------------------------------------------------
//  The policy from the settings.

edge_cors_t *
edge_cors_new (settings_t *settings)
{
    edge_cors_t *self = (edge_cors_t *) zmalloc (sizeof (edge_cors_t));
    self->origins = zlistx_new ();
    self->method_list = zlistx_new ();
    self->header_list = zlistx_new ();
    if (!self->origins || !self->method_list || !self->header_list) {
        edge_cors_destroy (&self);
        return NULL;
    }
    zlistx_set_duplicator (self->origins, (czmq_duplicator *) strdup);
    zlistx_set_destructor (self->origins, (czmq_destructor *) zstr_free);
    zlistx_set_duplicator (self->method_list, (czmq_duplicator *) strdup);
    zlistx_set_destructor (self->method_list, (czmq_destructor *) zstr_free);
    zlistx_set_duplicator (self->header_list, (czmq_duplicator *) strdup);
    zlistx_set_destructor (self->header_list, (czmq_destructor *) zstr_free);

    const char *origins = settings_get (settings, "edge/cors/origins", "");
    const char *methods = settings_get (settings, "edge/cors/methods", CORS_METHODS);
    const char *headers = settings_get (settings, "edge/cors/headers", CORS_HEADERS);
    const char *expose = settings_get (settings, "edge/cors/expose_headers", CORS_EXPOSE);
    int64_t max_age = settings_get_int (settings, "edge/cors/max_age", CORS_MAX_AGE);
    self->credentials = settings_get_bool (settings, "edge/cors/credentials", false);
    bool ok = true;
    if (streq (origins, "*"))
        self->any_origin = true;
    else {
        int count = s_split (origins, self->origins, true);
        ok = count >= 0 && count <= EDGE_CORS_ORIGINS_MAX;
        for (const char *origin = (const char *) zlistx_first (self->origins); ok && origin;
             origin = (const char *) zlistx_next (self->origins))
            if (!s_origin_valid (origin)) {
                log_error (NULL, "edge/cors/origins: \"%s\" is not an origin (scheme://host[:port]; "
                           "\"null\" and patterns are refused)", origin);
                ok = false;
            }
    }
    if (ok && s_split (methods, self->method_list, false) < 0)
        ok = false;
    for (const char *method = (const char *) zlistx_first (self->method_list); ok && method;
         method = (const char *) zlistx_next (self->method_list)) {
        bool known = false;
        for (const char **m = s_known_methods; *m; m++)
            known = known || streq (*m, method);
        if (!known) {
            log_error (NULL, "edge/cors/methods: unknown method \"%s\"", method);
            ok = false;
        }
    }
    zlistx_t *expose_list = zlistx_new ();
    if (expose_list) {
        zlistx_set_duplicator (expose_list, (czmq_duplicator *) strdup);
        zlistx_set_destructor (expose_list, (czmq_destructor *) zstr_free);
    }
    if (ok && (s_split (headers, self->header_list, false) < 0 || !expose_list
               || s_split (expose, expose_list, false) < 0))
        ok = false;
    for (const char *header = (const char *) zlistx_first (self->header_list); ok && header;
         header = (const char *) zlistx_next (self->header_list))
        ok = s_token_valid (header);
    for (const char *header = expose_list ? (const char *) zlistx_first (expose_list) : NULL;
         ok && header; header = (const char *) zlistx_next (expose_list))
        ok = s_token_valid (header) && !streq (header, "*");
    if (ok && (max_age < 0 || max_age > 86400)) {
        log_error (NULL, "edge/cors/max_age must be 0..86400 seconds");
        ok = false;
    }
    if (ok) {
        self->methods = s_join (self->method_list);
        self->headers = s_join (self->header_list);
        self->expose = s_join (expose_list);
        snprintf (self->max_age, sizeof self->max_age, "%lld", (long long) max_age);
        ok = self->methods && self->headers && self->expose;
    }
    zlistx_destroy (&expose_list);
    if (!ok) {
        log_error (NULL, "edge/cors is invalid");
        edge_cors_destroy (&self);
    }
    return self;
}

//  --------------------------------------------------------------------------

bool
edge_cors_enabled (edge_cors_t *self)
{
    assert (self);
    return self->any_origin || zlistx_size (self->origins) > 0;
}

bool
edge_cors_origin_allowed (edge_cors_t *self, const char *origin)
{
    assert (self);
    if (!origin || !*origin || strlen (origin) > EDGE_CORS_ORIGIN_MAX)
        return false;
    if (self->any_origin)
        return true;
    return s_list_has (self->origins, origin, true);
}

//  --------------------------------------------------------------------------

edge_cors_check_t
edge_cors_preflight (edge_cors_t *self, const char *origin, const char *method,
                     const char *request_headers)
{
    assert (self);
    if (!edge_cors_origin_allowed (self, origin))
        return EDGE_CORS_BAD_ORIGIN;
    if (!method || !s_list_has (self->method_list, method, false))
        return EDGE_CORS_BAD_METHOD;
    if (request_headers && *request_headers) {
        if (strlen (request_headers) > 4096)
            return EDGE_CORS_BAD_HEADERS;
        zlistx_t *asked = zlistx_new ();
        if (!asked)
            return EDGE_CORS_BAD_HEADERS;
        zlistx_set_duplicator (asked, (czmq_duplicator *) strdup);
        zlistx_set_destructor (asked, (czmq_destructor *) zstr_free);
        bool ok = s_split (request_headers, asked, false) >= 0;
        for (const char *header = (const char *) zlistx_first (asked); ok && header;
             header = (const char *) zlistx_next (asked))
            ok = s_list_has (self->header_list, header, true);
        zlistx_destroy (&asked);
        if (!ok)
            return EDGE_CORS_BAD_HEADERS;
    }
    return EDGE_CORS_ALLOWED;
}

//  --------------------------------------------------------------------------

const char *
edge_cors_allow_origin (edge_cors_t *self, const char *origin)
{
    assert (self);
    //  "*" with credentials is refused by browsers: echo the origin then.
    return self->any_origin && !self->credentials ? "*" : origin;
}

const char *
edge_cors_methods (edge_cors_t *self)
{
    assert (self);
    return self->methods;
}

const char *
edge_cors_headers (edge_cors_t *self)
{
    assert (self);
    return self->headers;
}

const char *
edge_cors_expose_headers (edge_cors_t *self)
{
    assert (self);
    return self->expose;
}

const char *
edge_cors_max_age (edge_cors_t *self)
{
    assert (self);
    return self->max_age;
}

bool
edge_cors_credentials (edge_cors_t *self)
{
    assert (self);
    return self->credentials;
}

//  --------------------------------------------------------------------------
//  Self test.

static edge_cors_t *
s_policy (const char *dir, const char *text)
{
    char *path = zsys_sprintf ("%s/cors.cfg", dir);
    FILE *file = fopen (path, "w");
    assert (file);
    fprintf (file, "edge\n    cors\n%s", text);
    fclose (file);
    settings_t *settings = settings_load (path);
    assert (settings);
    edge_cors_t *cors = edge_cors_new (settings);
    settings_destroy (&settings);
    unlink (path);
    zstr_free (&path);
    return cors;
}

void
edge_cors_test (bool verbose)
{
    printf (" * edge_cors: ");
    logline_init ("edge-test", verbose ? LOGLINE_DEBUG : LOGLINE_ERROR + 1);
    char dir [] = "/tmp/edge_cors_test_XXXXXX";
    assert (mkdtemp (dir));

    //  Off by default: no origin is allowed
    edge_cors_t *cors = s_policy (dir, "        max_age = 60\n");
    assert (cors && !edge_cors_enabled (cors));
    assert (!edge_cors_origin_allowed (cors, "https://shop.example.com"));
    assert (edge_cors_preflight (cors, "https://shop.example.com", "GET", NULL) == EDGE_CORS_BAD_ORIGIN);
    edge_cors_destroy (&cors);

    //  A list: exact origins only, case-insensitive
    cors = s_policy (dir,
        "        origins = \"https://shop.example.com, http://localhost:3000\"\n"
        "        methods = \"GET, POST\"\n        headers = \"Content-Type, X-API-Key\"\n"
        "        credentials = 1\n        max_age = 300\n");
    assert (cors && edge_cors_enabled (cors));
    assert (edge_cors_origin_allowed (cors, "https://shop.example.com"));
    assert (edge_cors_origin_allowed (cors, "HTTPS://Shop.Example.com"));
    assert (edge_cors_origin_allowed (cors, "http://localhost:3000"));
    const char *refused [] = {
        "https://evil-shop.example.com", "https://shop.example.com.evil.com",
        "http://shop.example.com", "https://shop.example.com:8443", "null", "",
        "https://shop.example.com/", "http://localhost:3001", NULL
    };
    for (const char **origin = refused; *origin; origin++)
        assert (!edge_cors_origin_allowed (cors, *origin));
    assert (!edge_cors_origin_allowed (cors, NULL));
    assert (edge_cors_preflight (cors, "https://shop.example.com", "POST",
                                 "content-type, x-api-key") == EDGE_CORS_ALLOWED);
    assert (edge_cors_preflight (cors, "https://shop.example.com", "GET", "") == EDGE_CORS_ALLOWED);
    assert (edge_cors_preflight (cors, "https://shop.example.com", "DELETE", NULL) == EDGE_CORS_BAD_METHOD);
    assert (edge_cors_preflight (cors, "https://shop.example.com", "post", NULL) == EDGE_CORS_BAD_METHOD);
    assert (edge_cors_preflight (cors, "https://shop.example.com", "POST",
                                 "content-type, x-evil") == EDGE_CORS_BAD_HEADERS);
    assert (edge_cors_preflight (cors, "https://evil.example.com", "GET", NULL) == EDGE_CORS_BAD_ORIGIN);
    assert (streq (edge_cors_allow_origin (cors, "https://shop.example.com"), "https://shop.example.com"));
    assert (streq (edge_cors_methods (cors), "GET, POST"));
    assert (streq (edge_cors_headers (cors), "Content-Type, X-API-Key"));
    assert (strstr (edge_cors_expose_headers (cors), "X-Request-ID"));
    assert (strstr (edge_cors_expose_headers (cors), "RateLimit-Remaining"));
    assert (strstr (edge_cors_expose_headers (cors), "Retry-After"));
    assert (streq (edge_cors_max_age (cors), "300"));
    assert (edge_cors_credentials (cors));
    edge_cors_destroy (&cors);

    //  Every origin: "*" without credentials, the origin itself with them
    cors = s_policy (dir, "        origins = \"*\"\n");
    assert (cors && edge_cors_origin_allowed (cors, "https://anyone.example"));
    assert (streq (edge_cors_allow_origin (cors, "https://anyone.example"), "*"));
    assert (edge_cors_preflight (cors, "https://anyone.example", "DELETE", "Authorization")
            == EDGE_CORS_ALLOWED);
    edge_cors_destroy (&cors);
    cors = s_policy (dir, "        origins = \"*\"\n        credentials = 1\n");
    assert (streq (edge_cors_allow_origin (cors, "https://anyone.example"), "https://anyone.example"));
    edge_cors_destroy (&cors);

    //  Invalid settings refuse to start
    const char *invalid [] = {
        "        origins = \"null\"\n",
        "        origins = \"*.example.com\"\n",
        "        origins = \"https://shop.example.com/path\"\n",
        "        origins = \"shop.example.com\"\n",
        "        origins = \"https://a.example\"\n        methods = \"GET, FETCH\"\n",
        "        origins = \"https://a.example\"\n        headers = \"Bad Header(\"\n",
        "        origins = \"https://a.example\"\n        expose_headers = \"*\"\n",
        "        origins = \"https://a.example\"\n        max_age = -1\n",
        NULL
    };
    for (const char **text = invalid; *text; text++)
        assert (s_policy (dir, *text) == NULL);
    rmdir (dir);
    printf ("OK\n");
}
