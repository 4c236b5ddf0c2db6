/*  =========================================================================
    edge_routes - the edge's route table: HTTP (method, path) -> (service, verb)

    Routes are few (tens) and a match is a walk over them comparing segments
    in place, with no allocation: a linear scan of a small array beats a
    tree at this size and keeps the "405 or 404" decision trivial, since
    every pattern that fits the path is seen. See edge_routes.h.
    =========================================================================
*/
#include "edge_routes.h"
#include "logline.h"

#include <errno.h>
#include <string.h>

struct _edge_routes_t {
    edge_route_t **route;
    size_t size;
    size_t capacity;
};

static const char *s_methods [] = { "GET", "POST", "PUT", "PATCH", "DELETE", NULL };
static const char *s_role_names [] = { "customer", "cashier", "manager", "admin", NULL };

//  --------------------------------------------------------------------------
//  The bit of a role.

unsigned
edge_role_bit (const char *role)
{
    for (int i = 0; role && s_role_names [i]; i++)
        if (streq (role, s_role_names [i]))
            return 1u << i;
    return 0;
}

//  A roles setting: "any", or a comma list of known roles (blanks
//  around names allowed). Returns 0 and the mask, or -1.
static int
s_roles_parse (const char *roles, unsigned *mask)
{
    *mask = 0;
    if (streq (roles, "any"))
        return 0;
    const char *cursor = roles;
    while (true) {
        while (*cursor == ' ')
            cursor++;
        size_t length = strcspn (cursor, ",");
        size_t trimmed = length;
        while (trimmed > 0 && cursor [trimmed - 1] == ' ')
            trimmed--;
        char name [16];
        if (trimmed == 0 || trimmed >= sizeof name)
            return -1;
        memcpy (name, cursor, trimmed);
        name [trimmed] = 0;
        unsigned bit = edge_role_bit (name);
        if (!bit)
            return -1;
        *mask |= bit;
        if (cursor [length] == 0)
            break;
        cursor += length + 1;
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Create an empty table.

edge_routes_t *
edge_routes_new (void)
{
    edge_routes_t *self = (edge_routes_t *) zmalloc (sizeof (edge_routes_t));
    return self;
}

//  --------------------------------------------------------------------------

static void
s_route_destroy (edge_route_t **route_p)
{
    edge_route_t *route = *route_p;
    if (!route)
        return;
    free (route->method);
    free (route->pattern);
    free (route->service);
    free (route->verb);
    free (route->roles);
    free (route->location);
    for (size_t i = 0; i < route->segments; i++)
        free (route->segment [i]);
    free (route);
    *route_p = NULL;
}

//  --------------------------------------------------------------------------
//  Destroy the table.

void
edge_routes_destroy (edge_routes_t **self_p)
{
    assert (self_p);
    edge_routes_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->size; i++)
        s_route_destroy (&self->route [i]);
    free (self->route);
    free (self);
    *self_p = NULL;
}

//  --------------------------------------------------------------------------
//  A parameter name: [A-Za-z_][A-Za-z0-9_]*, bounded.

static bool
s_param_name_valid (const char *name, size_t len)
{
    if (len == 0 || len > EDGE_ROUTES_MAX_NAME)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name [i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'
               || (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

//  --------------------------------------------------------------------------
//  Split a pattern into route->segment. Returns 0 or -1.

static int
s_route_parse_pattern (edge_route_t *route, const char *pattern)
{
    if (pattern [0] != '/' || strlen (pattern) > 1024)
        return -1;
    const char *cursor = pattern + 1;
    while (true) {
        const char *slash = strchr (cursor, '/');
        size_t len = slash ? (size_t) (slash - cursor) : strlen (cursor);
        if (len == 0)
            return -1;              //  no empty segments, no trailing slash
        if (route->segments == EDGE_ROUTES_MAX_SEGMENTS)
            return -1;
        bool is_param = cursor [0] == '{';
        if (is_param) {
            if (len < 3 || cursor [len - 1] != '}'
            || !s_param_name_valid (cursor + 1, len - 2))
                return -1;
        }
        else
        if (memchr (cursor, '{', len) || memchr (cursor, '}', len))
            return -1;              //  a brace inside a literal is a typo
        route->segment [route->segments] = strndup (cursor, len);
        if (!route->segment [route->segments])
            return -1;
        route->segments++;
        if (!is_param)
            route->literals++;
        if (!slash)
            break;
        cursor = slash + 1;
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Add a route.

int
edge_routes_add (edge_routes_t *self, const char *method, const char *pattern,
                 const char *service, const char *verb, bool retryable, const char *roles)
{
    assert (self);
    if (!method || !pattern || !service || !verb)
        return -1;
    bool known = false;
    for (const char **m = s_methods; *m; m++)
        if (streq (*m, method))
            known = true;
    if (!known || !*service || !*verb || strlen (service) > 255 || strlen (verb) > 255)
        return -1;
    if (!roles || !*roles)
        roles = "any";
    unsigned role_mask;
    if (s_roles_parse (roles, &role_mask))
        return -1;
    for (size_t i = 0; i < self->size; i++)
        if (streq (self->route [i]->method, method)
        &&  streq (self->route [i]->pattern, pattern))
            return -1;

    edge_route_t *route = (edge_route_t *) zmalloc (sizeof (edge_route_t));
    route->method = strdup (method);
    route->pattern = strdup (pattern);
    route->service = strdup (service);
    route->verb = strdup (verb);
    route->roles = strdup (roles);
    route->role_mask = role_mask;
    route->retryable = retryable;
    if (!route->method || !route->pattern || !route->service || !route->verb
    ||  !route->roles || s_route_parse_pattern (route, pattern)) {
        s_route_destroy (&route);
        return -1;
    }
    if (self->size == self->capacity) {
        size_t capacity = self->capacity ? self->capacity * 2 : 16;
        edge_route_t **grown = (edge_route_t **) realloc (self->route,
                                                          capacity * sizeof (edge_route_t *));
        if (!grown) {
            s_route_destroy (&route);
            return -1;
        }
        self->route = grown;
        self->capacity = capacity;
    }
    self->route [self->size++] = route;
    return 0;
}

//  --------------------------------------------------------------------------
//  Load the table from a ZPL file: one child per route.

edge_routes_t *
edge_routes_load (const char *path)
{
    zconfig_t *root = path ? zconfig_load (path) : NULL;
    if (!root) {
        log_error (NULL, "cannot read the route table %s", path ? path : "(none)");
        return NULL;
    }
    edge_routes_t *self = edge_routes_new ();
    zconfig_t *child = zconfig_child (root);
    int index = 0;
    for (; child && self; child = zconfig_next (child), index++) {
        const char *method = zconfig_get (child, "method", NULL);
        const char *pattern = zconfig_get (child, "path", NULL);
        const char *service = zconfig_get (child, "service", NULL);
        const char *verb = zconfig_get (child, "verb", NULL);
        const char *roles = zconfig_get (child, "roles", "any");
        bool is_get = method && streq (method, "GET");
        const char *retry = zconfig_get (child, "retryable", is_get ? "1" : "0");
        bool retryable = streq (retry, "1") || streq (retry, "true") || streq (retry, "yes");
        if (!streq (retry, "0") && !streq (retry, "false") && !streq (retry, "no") && !retryable) {
            log_error (NULL, "%s: route %d (%s): retryable must be 0 or 1",
                       path, index + 1, zconfig_name (child));
            edge_routes_destroy (&self);
        }
        else
        if (edge_routes_add (self, method, pattern, service, verb, retryable, roles)) {
            log_error (NULL, "%s: route %d (%s %s) is invalid or duplicate",
                       path, index + 1, method ? method : "?", pattern ? pattern : "?");
            edge_routes_destroy (&self);
        }
        else {
            //  A cache setting on a route that may not be cached is a
            //  mistake to refuse, not to ignore: it would serve one
            //  consumer's answer to another once roles come.
            const char *ttl = zconfig_get (child, "cache_ttl_ms", "0");
            char *end = NULL;
            errno = 0;
            long long value = strtoll (ttl, &end, 10);
            if (errno || end == ttl || *end || value < 0
            ||  edge_routes_set_cache_ttl (self, method, pattern, (int64_t) value)) {
                log_error (NULL, "%s: route %d (%s %s): cache_ttl_ms must be a number of "
                           "milliseconds, and only on GET routes whose roles are \"any\"",
                           path, index + 1, method, pattern);
                edge_routes_destroy (&self);
                continue;
            }
            const char *limit = zconfig_get (child, "body_limit", "0");
            const char *by_address = zconfig_get (child, "address_limited", "0");
            const char *location = zconfig_get (child, "location", NULL);
            errno = 0;
            value = strtoll (limit, &end, 10);
            bool limited = streq (by_address, "1");
            if (errno || end == limit || *end || value < 0
            ||  !(limited || streq (by_address, "0"))
            ||  edge_routes_set_options (self, method, pattern, (int64_t) value, limited, location)) {
                log_error (NULL, "%s: route %d (%s %s): body_limit must be a number of bytes, "
                           "address_limited 0 or 1, location a path",
                           path, index + 1, method, pattern);
                edge_routes_destroy (&self);
            }
        }
    }
    zconfig_destroy (&root);
    return self;
}

//  --------------------------------------------------------------------------

size_t
edge_routes_size (edge_routes_t *self)
{
    assert (self);
    return self->size;
}

const edge_route_t *
edge_routes_at (edge_routes_t *self, size_t index)
{
    assert (self);
    return index < self->size ? self->route [index] : NULL;
}

//  --------------------------------------------------------------------------
//  Does the pattern fit the path? Compares segment by segment in place.

static bool
s_route_fits (const edge_route_t *route, const char *path)
{
    if (path [0] != '/')
        return false;
    const char *cursor = path + 1;
    for (size_t i = 0; i < route->segments; i++) {
        const char *slash = strchr (cursor, '/');
        size_t len = slash ? (size_t) (slash - cursor) : strlen (cursor);
        if (len == 0)
            return false;
        const char *segment = route->segment [i];
        if (segment [0] != '{'
        && (strlen (segment) != len || memcmp (segment, cursor, len) != 0))
            return false;
        bool last = i + 1 == route->segments;
        if (last != (slash == NULL))
            return false;           //  path shorter or longer than pattern
        if (slash)
            cursor = slash + 1;
    }
    return true;
}

//  --------------------------------------------------------------------------
//  Copy the {name} segments of path into params.

static void
s_route_capture (const edge_route_t *route, const char *path, json_t *params)
{
    const char *cursor = path + 1;
    for (size_t i = 0; i < route->segments; i++) {
        const char *slash = strchr (cursor, '/');
        size_t len = slash ? (size_t) (slash - cursor) : strlen (cursor);
        const char *segment = route->segment [i];
        if (segment [0] == '{') {
            char name [EDGE_ROUTES_MAX_NAME + 1];
            size_t name_len = strlen (segment) - 2;
            memcpy (name, segment + 1, name_len);
            name [name_len] = 0;
            json_t *value = json_stringn (cursor, len);
            if (value)
                json_object_set_new (params, name, value);
        }
        if (slash)
            cursor = slash + 1;
    }
}

//  --------------------------------------------------------------------------
//  Match a request against the table.

edge_match_t
edge_routes_match (edge_routes_t *self, const char *method, const char *path,
                   const edge_route_t **route_p, json_t *params,
                   char *allow, size_t allow_size)
{
    assert (self);
    assert (route_p);
    *route_p = NULL;
    const edge_route_t *best = NULL;
    bool path_fits = false;
    if (allow && allow_size)
        allow [0] = 0;
    for (size_t i = 0; i < self->size; i++) {
        const edge_route_t *route = self->route [i];
        if (!s_route_fits (route, path))
            continue;
        path_fits = true;
        if (streq (route->method, method)) {
            if (!best || route->literals > best->literals)
                best = route;
        }
    }
    if (best) {
        *route_p = best;
        if (params)
            s_route_capture (best, path, params);
        return EDGE_MATCH_FOUND;
    }
    if (!path_fits)
        return EDGE_MATCH_NONE;
    //  Collect the methods of every pattern that fits, once each, in the
    //  fixed order of s_methods so that Allow is stable.
    if (allow && allow_size) {
        size_t used = 0;
        for (const char **m = s_methods; *m; m++) {
            bool accepted = false;
            for (size_t i = 0; i < self->size && !accepted; i++)
                accepted = streq (self->route [i]->method, *m)
                        && s_route_fits (self->route [i], path);
            if (!accepted)
                continue;
            int written = snprintf (allow + used, allow_size - used, "%s%s",
                                    used ? ", " : "", *m);
            if (written < 0 || (size_t) written >= allow_size - used) {
                allow [used] = 0;       //  drop the method that did not fit
                break;
            }
            used += (size_t) written;
        }
    }
    return EDGE_MATCH_NO_METHOD;
}

//  --------------------------------------------------------------------------
//  Turn the cache on (or off) for a route.

int
edge_routes_set_cache_ttl (edge_routes_t *self, const char *method, const char *pattern,
                           int64_t ttl_ms)
{
    assert (self);
    if (!method || !pattern || ttl_ms < 0)
        return -1;
    for (size_t i = 0; i < self->size; i++) {
        edge_route_t *route = self->route [i];
        if (!streq (route->method, method) || !streq (route->pattern, pattern))
            continue;
        if (ttl_ms > 0 && (!streq (route->method, "GET") || !edge_route_open (route)))
            return -1;
        route->cache_ttl_ms = ttl_ms;
        return 0;
    }
    return -1;
}

//  --------------------------------------------------------------------------
//  A route whose answers the edge may keep. The method and roles are
//  checked again here, so that no way of building a route can cache a
//  write or a per-user answer.

bool
edge_route_cached (const edge_route_t *route)
{
    assert (route);
    return route->cache_ttl_ms > 0 && streq (route->method, "GET") && edge_route_open (route);
}

//  --------------------------------------------------------------------------
//  A route reachable with an API key alone.

bool
edge_route_open (const edge_route_t *route)
{
    assert (route);
    return route->role_mask == 0;
}

//  --------------------------------------------------------------------------
//  May a token with this role use the route?

bool
edge_route_allows (const edge_route_t *route, const char *role)
{
    assert (route);
    if (route->role_mask == 0)
        return true;
    unsigned bit = edge_role_bit (role);
    return bit && (route->role_mask & bit);
}

//  --------------------------------------------------------------------------
//  Per-route options.

int
edge_routes_set_options (edge_routes_t *self, const char *method, const char *pattern,
                         int64_t body_limit, bool address_limited, const char *location)
{
    assert (self);
    if (!method || !pattern || body_limit < 0)
        return -1;
    if (location && *location && (location [0] != '/' || strlen (location) > 1024
                                  || strchr (location, '\r') || strchr (location, '\n')))
        return -1;
    for (size_t i = 0; i < self->size; i++) {
        edge_route_t *route = self->route [i];
        if (!streq (route->method, method) || !streq (route->pattern, pattern))
            continue;
        char *copy = location ? strdup (location) : NULL;
        if (location && !copy)
            return -1;
        free (route->location);
        route->location = copy;
        route->body_limit = body_limit;
        route->address_limited = address_limited;
        return 0;
    }
    return -1;
}

//  --------------------------------------------------------------------------
//  The distinct services named in the table.

zlistx_t *
edge_routes_services (edge_routes_t *self)
{
    assert (self);
    zlistx_t *services = zlistx_new ();
    if (!services)
        return NULL;
    zlistx_set_duplicator (services, (czmq_duplicator *) strdup);
    zlistx_set_destructor (services, (czmq_destructor *) zstr_free);
    zlistx_set_comparator (services, (czmq_comparator *) strcmp);
    for (size_t i = 0; i < self->size; i++)
        if (!zlistx_find (services, self->route [i]->service))
            zlistx_add_end (services, self->route [i]->service);
    return services;
}

//  --------------------------------------------------------------------------
//  Self test

void
edge_routes_test (bool verbose)
{
    printf (" * edge_routes: ");
    edge_routes_t *routes = edge_routes_new ();
    assert (routes);
    assert (edge_routes_add (routes, "GET", "/api/v1/products", "product", "product.list", true, NULL) == 0);
    assert (edge_routes_add (routes, "POST", "/api/v1/products", "product", "product.create", false, "manager,admin") == 0);
    assert (edge_routes_add (routes, "GET", "/api/v1/products/{id}", "product", "product.get", true, NULL) == 0);
    assert (edge_routes_add (routes, "PUT", "/api/v1/products/{id}", "product", "product.update", false, "manager,admin") == 0);
    assert (edge_routes_add (routes, "DELETE", "/api/v1/products/{id}", "product", "product.delete", false, "manager,admin") == 0);
    assert (edge_routes_add (routes, "GET", "/api/v1/products/sku/{sku}", "product", "product.get_by_sku", true, NULL) == 0);
    assert (edge_routes_add (routes, "GET", "/api/v1/categories", "product", "category.list", true, NULL) == 0);
    assert (edge_routes_add (routes, "GET", "/api/v1/carts/{id}/items/{product_id}", "cart", "cart.item", true, NULL) == 0);
    assert (edge_routes_size (routes) == 8);

    //  Invalid routes are refused
    assert (edge_routes_add (routes, "GET", "/api/v1/products", "product", "x", true, NULL) == -1);
    assert (edge_routes_add (routes, "FETCH", "/x", "product", "x", true, NULL) == -1);
    assert (edge_routes_add (routes, "GET", "x", "product", "x", true, NULL) == -1);
    assert (edge_routes_add (routes, "GET", "/x/", "product", "x", true, NULL) == -1);
    assert (edge_routes_add (routes, "GET", "/x//y", "product", "x", true, NULL) == -1);
    assert (edge_routes_add (routes, "GET", "/x/{}", "product", "x", true, NULL) == -1);
    assert (edge_routes_add (routes, "GET", "/x/{a-b}", "product", "x", true, NULL) == -1);
    assert (edge_routes_add (routes, "GET", "/x/a{b}", "product", "x", true, NULL) == -1);
    assert (edge_routes_add (routes, "GET", "/x", "", "x", true, NULL) == -1);
    assert (edge_routes_add (routes, "GET", "/x", "product", NULL, true, NULL) == -1);
    assert (edge_routes_size (routes) == 8);

    const edge_route_t *route;
    char allow [64];

    //  Exact match, no params
    json_t *params = json_object ();
    assert (edge_routes_match (routes, "GET", "/api/v1/products", &route, params, allow, sizeof allow) == EDGE_MATCH_FOUND);
    assert (streq (route->verb, "product.list"));
    assert (route->retryable);
    assert (edge_route_open (route));
    assert (json_object_size (params) == 0);

    //  A parameter captures its segment
    assert (edge_routes_match (routes, "GET", "/api/v1/products/42", &route, params, allow, sizeof allow) == EDGE_MATCH_FOUND);
    assert (streq (route->verb, "product.get"));
    assert (streq (json_string_value (json_object_get (params, "id")), "42"));
    json_object_clear (params);

    //  The more literal pattern wins
    assert (edge_routes_match (routes, "GET", "/api/v1/products/sku/AB-1", &route, params, allow, sizeof allow) == EDGE_MATCH_FOUND);
    assert (streq (route->verb, "product.get_by_sku"));
    assert (streq (json_string_value (json_object_get (params, "sku")), "AB-1"));
    assert (json_object_get (params, "id") == NULL);
    json_object_clear (params);
    //  ...but "sku" alone is an id
    assert (edge_routes_match (routes, "GET", "/api/v1/products/sku", &route, params, allow, sizeof allow) == EDGE_MATCH_FOUND);
    assert (streq (route->verb, "product.get"));
    json_object_clear (params);

    //  Two parameters
    assert (edge_routes_match (routes, "GET", "/api/v1/carts/abc/items/7", &route, params, allow, sizeof allow) == EDGE_MATCH_FOUND);
    assert (streq (json_string_value (json_object_get (params, "id")), "abc"));
    assert (streq (json_string_value (json_object_get (params, "product_id")), "7"));
    json_object_clear (params);

    //  Write routes carry their roles
    assert (edge_routes_match (routes, "POST", "/api/v1/products", &route, NULL, allow, sizeof allow) == EDGE_MATCH_FOUND);
    assert (!route->retryable);
    assert (!edge_route_open (route));
    assert (streq (route->roles, "manager,admin"));
    assert (edge_route_allows (route, "manager") && edge_route_allows (route, "admin"));
    assert (!edge_route_allows (route, "customer") && !edge_route_allows (route, "cashier"));
    assert (!edge_route_allows (route, NULL) && !edge_route_allows (route, "Manager"));
    assert (!edge_route_allows (route, ""));
    //  Unknown roles refuse the route: a typo must not lock it or open it
    assert (edge_routes_add (routes, "POST", "/api/v1/x", "product", "x", false, "manger") == -1);
    assert (edge_routes_add (routes, "POST", "/api/v1/x", "product", "x", false, "manager,") == -1);
    assert (edge_routes_add (routes, "POST", "/api/v1/x", "product", "x", false, "any,admin") == -1);
    assert (edge_role_bit ("cashier") == EDGE_ROLE_CASHIER && edge_role_bit ("root") == 0);

    //  Path fits, method does not: 405 with the accepted methods
    assert (edge_routes_match (routes, "PATCH", "/api/v1/products/42", &route, params, allow, sizeof allow) == EDGE_MATCH_NO_METHOD);
    assert (route == NULL);
    assert (streq (allow, "GET, PUT, DELETE"));
    assert (edge_routes_match (routes, "DELETE", "/api/v1/categories", &route, params, allow, sizeof allow) == EDGE_MATCH_NO_METHOD);
    assert (streq (allow, "GET"));
    //  A small allow buffer is never overrun
    char tiny [6];
    assert (edge_routes_match (routes, "PATCH", "/api/v1/products/42", &route, NULL, tiny, sizeof tiny) == EDGE_MATCH_NO_METHOD);
    assert (streq (tiny, "GET"));

    //  No pattern fits: trailing slash, empty segment, extra or missing segments
    assert (edge_routes_match (routes, "GET", "/api/v1/products/", &route, params, allow, sizeof allow) == EDGE_MATCH_NONE);
    assert (edge_routes_match (routes, "GET", "/api/v1/products//", &route, params, allow, sizeof allow) == EDGE_MATCH_NONE);
    assert (edge_routes_match (routes, "GET", "/api/v1/products/1/2", &route, params, allow, sizeof allow) == EDGE_MATCH_NONE);
    assert (edge_routes_match (routes, "GET", "/api/v1", &route, params, allow, sizeof allow) == EDGE_MATCH_NONE);
    assert (edge_routes_match (routes, "GET", "/", &route, params, allow, sizeof allow) == EDGE_MATCH_NONE);
    assert (edge_routes_match (routes, "GET", "", &route, params, allow, sizeof allow) == EDGE_MATCH_NONE);
    assert (edge_routes_match (routes, "GET", "/API/v1/products", &route, params, allow, sizeof allow) == EDGE_MATCH_NONE);
    assert (json_object_size (params) == 0);
    json_decref (params);

    //  The cache: only GET routes open to any consumer, never by default
    assert (edge_routes_match (routes, "GET", "/api/v1/products/42", &route, NULL, allow, sizeof allow) == EDGE_MATCH_FOUND);
    assert (route->cache_ttl_ms == 0 && !edge_route_cached (route));
    assert (edge_routes_set_cache_ttl (routes, "GET", "/api/v1/products/{id}", 1000) == 0);
    assert (route->cache_ttl_ms == 1000 && edge_route_cached (route));
    assert (edge_routes_set_cache_ttl (routes, "PUT", "/api/v1/products/{id}", 1000) == -1);
    assert (edge_routes_set_cache_ttl (routes, "POST", "/api/v1/products", 1000) == -1);
    assert (edge_routes_set_cache_ttl (routes, "GET", "/api/v1/nothing", 1000) == -1);
    assert (edge_routes_set_cache_ttl (routes, "GET", "/api/v1/products/{id}", -1) == -1);
    assert (edge_routes_set_cache_ttl (routes, "GET", "/api/v1/products/{id}", 0) == 0);
    assert (!edge_route_cached (route));
    assert (edge_routes_add (routes, "GET", "/api/v1/me", "customer", "customer.me", true, "customer") == 0);
    assert (edge_routes_set_cache_ttl (routes, "GET", "/api/v1/me", 1000) == -1);
    assert (edge_routes_match (routes, "GET", "/api/v1/me", &route, NULL, allow, sizeof allow) == EDGE_MATCH_FOUND);
    assert (!edge_route_cached (route));
    assert (edge_route_allows (route, "customer") && !edge_route_allows (route, "admin"));
    assert (route->role_mask == EDGE_ROLE_CUSTOMER);
    //  Per-route options
    assert (route->body_limit == 0 && !route->address_limited && route->location == NULL);
    assert (edge_routes_set_options (routes, "GET", "/api/v1/me", 4096, true, "/api/v1/x/{id}") == 0);
    assert (route->body_limit == 4096 && route->address_limited && streq (route->location, "/api/v1/x/{id}"));
    assert (edge_routes_set_options (routes, "GET", "/api/v1/me", -1, false, NULL) == -1);
    assert (edge_routes_set_options (routes, "GET", "/api/v1/me", 0, false, "x") == -1);
    assert (edge_routes_set_options (routes, "GET", "/api/v1/me", 0, false, "/a\r\nSet-Cookie: x") == -1);
    assert (edge_routes_set_options (routes, "GET", "/api/v1/none", 0, false, NULL) == -1);
    assert (edge_routes_set_options (routes, "GET", "/api/v1/me", 0, false, "") == 0);
    assert (streq (route->location, ""));

    //  Services are listed once each
    zlistx_t *services = edge_routes_services (routes);
    assert (zlistx_size (services) == 3);
    assert (streq ((char *) zlistx_first (services), "product"));
    assert (streq ((char *) zlistx_next (services), "cart"));
    assert (streq ((char *) zlistx_next (services), "customer"));
    zlistx_destroy (&services);
    edge_routes_destroy (&routes);
    assert (routes == NULL);

    //  Loading from ZPL: defaults for retryable and roles
    char path [] = "/tmp/edge_routes_test_XXXXXX";
    int fd = mkstemp (path);
    assert (fd >= 0);
    const char *text =
        "route\n"
        "    method = \"GET\"\n"
        "    path = \"/api/v1/categories\"\n"
        "    service = \"product\"\n"
        "    verb = \"category.list\"\n"
        "route\n"
        "    method = \"POST\"\n"
        "    path = \"/api/v1/categories\"\n"
        "    service = \"product\"\n"
        "    verb = \"category.create\"\n"
        "    roles = \"manager,admin\"\n"
        "route\n"
        "    method = \"GET\"\n"
        "    path = \"/api/v1/categories/{id}\"\n"
        "    service = \"product\"\n"
        "    verb = \"category.get\"\n"
        "    cache_ttl_ms = 1500\n"
        "route\n"
        "    method = \"POST\"\n"
        "    path = \"/api/v1/auth/register\"\n"
        "    service = \"customer\"\n"
        "    verb = \"auth.register\"\n"
        "    body_limit = 8192\n"
        "    address_limited = 1\n"
        "    location = \"/api/v1/customers/{id}\"\n"
        "    roles = \"customer, cashier\"\n";
    assert (write (fd, text, strlen (text)) == (ssize_t) strlen (text));
    close (fd);
    routes = edge_routes_load (path);
    assert (routes);
    assert (edge_routes_size (routes) == 4);
    assert (edge_routes_at (routes, 0)->cache_ttl_ms == 0);
    assert (edge_routes_at (routes, 2)->cache_ttl_ms == 1500);
    assert (edge_route_cached (edge_routes_at (routes, 2)));
    assert (edge_routes_at (routes, 0)->retryable);
    assert (streq (edge_routes_at (routes, 0)->roles, "any"));
    assert (!edge_routes_at (routes, 1)->retryable);
    assert (streq (edge_routes_at (routes, 1)->roles, "manager,admin"));
    assert (edge_routes_at (routes, 3)->body_limit == 8192);
    assert (edge_routes_at (routes, 3)->address_limited);
    assert (streq (edge_routes_at (routes, 3)->location, "/api/v1/customers/{id}"));
    assert (edge_routes_at (routes, 3)->role_mask == (EDGE_ROLE_CUSTOMER | EDGE_ROLE_CASHIER));
    assert (edge_routes_at (routes, 0)->body_limit == 0 && !edge_routes_at (routes, 0)->address_limited);
    assert (edge_routes_at (routes, 4) == NULL);
    edge_routes_destroy (&routes);

    //  One bad route refuses the whole file
    fd = open (path, O_WRONLY | O_TRUNC);
    assert (fd >= 0);
    text = "route\n    method = \"GET\"\n    path = \"/a\"\n    service = \"s\"\n    verb = \"v\"\n"
           "route\n    method = \"GET\"\n    path = \"/b/\"\n    service = \"s\"\n    verb = \"v\"\n";
    assert (write (fd, text, strlen (text)) == (ssize_t) strlen (text));
    close (fd);
    assert (edge_routes_load (path) == NULL);

    //  A cache on a write route, on a route for roles, or a TTL that is
    //  not a number refuses the whole file
    const char *refused [] = {
        "route\n    method = \"POST\"\n    path = \"/a\"\n    service = \"s\"\n    verb = \"v\"\n"
        "    cache_ttl_ms = 1000\n",
        "route\n    method = \"GET\"\n    path = \"/a\"\n    service = \"s\"\n    verb = \"v\"\n"
        "    roles = \"customer\"\n    cache_ttl_ms = 1000\n",
        "route\n    method = \"GET\"\n    path = \"/a\"\n    service = \"s\"\n    verb = \"v\"\n"
        "    cache_ttl_ms = \"soon\"\n",
        "route\n    method = \"GET\"\n    path = \"/a\"\n    service = \"s\"\n    verb = \"v\"\n"
        "    cache_ttl_ms = -1\n",
        "route\n    method = \"GET\"\n    path = \"/a\"\n    service = \"s\"\n    verb = \"v\"\n"
        "    roles = \"manager,amdin\"\n",
        "route\n    method = \"POST\"\n    path = \"/a\"\n    service = \"s\"\n    verb = \"v\"\n"
        "    body_limit = \"big\"\n",
        "route\n    method = \"POST\"\n    path = \"/a\"\n    service = \"s\"\n    verb = \"v\"\n"
        "    address_limited = \"yes please\"\n",
        "route\n    method = \"POST\"\n    path = \"/a\"\n    service = \"s\"\n    verb = \"v\"\n"
        "    location = \"elsewhere\"\n",
        NULL
    };
    for (const char **bad = refused; *bad; bad++) {
        fd = open (path, O_WRONLY | O_TRUNC);
        assert (fd >= 0);
        assert (write (fd, *bad, strlen (*bad)) == (ssize_t) strlen (*bad));
        close (fd);
        assert (edge_routes_load (path) == NULL);
    }
    unlink (path);
    assert (edge_routes_load ("/nonexistent/routes.cfg") == NULL);
    printf ("OK\n");
}
