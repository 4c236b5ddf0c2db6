/*  =========================================================================
    product_verbs - the handlers of the product.* verbs

    Why it is built this way:

    - Every statement is a fixed SQL text with numbered parameters, prepared
      once per connection. Even the list's sort order is not pasted in: each
      allowed order is its own prepared statement, chosen from a table.
    - Writes are single statements (INSERT ... RETURNING joined back to the
      category, UPDATE ... RETURNING), so there is no window between the
      write and the answer, and no explicit transaction is needed.
    - A product whose active flag is false (soft-deleted) does not exist for
      these verbs: get, get_by_sku, update and delete answer 404 and lists
      leave it out. Past orders and sales keep their own copies of the lines.
      Its SKU stays taken, so that an old receipt never names a new product.
    - A missing SKU is generated as <category prefix>-<6 digits> from a
      sequence (CAF-000042); should a client have taken that SKU by hand,
      the next number is tried.
    - SKUs are stored and looked up in upper case: a scanner or a clerk
      typing "caf-1001" finds CAF-1001.
    - A barcode is an EAN-13 whose check digit is verified here (400) and
      again by the table's CHECK. SKU and barcode are both unique: when an
      insert or update hits a unique violation, one look-up says which of
      the two was taken, instead of reading constraint names out of
      PostgreSQL's message.
    - get_many serves the other contexts (the point of sale prices a sale
      with one call): it answers deleted products too, marked inactive,
      because a sale or a return may name one that was deleted meanwhile.
    =========================================================================
*/
#include "product_verbs.h"
#include "product_context.h"
#include "product_input.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define PRODUCT_MAX_PRICE_CENTS   100000000000LL     //  one billion dollars
#define PRODUCT_MAX_THRESHOLD     1000000
#define PRODUCT_MAX_PAGE          1000000
#define PRODUCT_MAX_PER_PAGE      100
#define PRODUCT_DEFAULT_PER_PAGE  20
#define PRODUCT_MAX_QUERY         200
#define PRODUCT_SKU_MAX           64
#define PRODUCT_SKU_TRIES         5
#define PRODUCT_EAN13_LENGTH      13
#define PRODUCT_MAX_MANY          100

//  The columns of the product shape, from products p LEFT JOIN categories c.
#define PRODUCT_COLUMNS \
    "p.id, p.sku, p.name, p.description, p.price_cents, c.id, c.name, " \
    "p.alert_threshold, p.active, " \
    "to_char (p.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), " \
    "to_char (p.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), " \
    "p.barcode, p.cost_cents"

//  Search: whole words and word prefixes through the tsvector, substrings
//  and near spellings through pg_trgm, and SKU fragments.
#define PRODUCT_LIST_WHERE \
    " WHERE p.active" \
    "   AND ($1::text IS NULL" \
    "        OR p.search_tsv @@ product_search_query ($1)" \
    "        OR p.search_text LIKE '%' || product_like_escape (product_search_norm ($1)) || '%'" \
    "        OR product_search_norm ($1) <% p.search_text" \
    "        OR p.sku LIKE '%' || product_like_escape (upper ($1)) || '%')" \
    "   AND ($2::bigint IS NULL OR p.category_id = $2)" \
    "   AND ($3::bigint IS NULL OR p.price_cents >= $3)" \
    "   AND ($4::bigint IS NULL OR p.price_cents <= $4)"

#define PRODUCT_LIST_SQL(order) \
    "SELECT " PRODUCT_COLUMNS \
    " FROM products p JOIN categories c ON c.id = p.category_id" \
    PRODUCT_LIST_WHERE " ORDER BY " order " LIMIT $5 OFFSET $6"

typedef struct {
    const char *sort;           //  the client's word, NULL for relevance
    const char *statement;
    const char *sql;
} s_sort_t;

static const s_sort_t s_sorts [] = {
    { "name", "product_list_name",
      PRODUCT_LIST_SQL ("product_search_norm (p.name), p.id") },
    { "-name", "product_list_name_desc",
      PRODUCT_LIST_SQL ("product_search_norm (p.name) DESC, p.id") },
    { "price", "product_list_price",
      PRODUCT_LIST_SQL ("p.price_cents, p.id") },
    { "-price", "product_list_price_desc",
      PRODUCT_LIST_SQL ("p.price_cents DESC, p.id") },
    { "created_at", "product_list_created",
      PRODUCT_LIST_SQL ("p.created_at, p.id") },
    { "-created_at", "product_list_created_desc",
      PRODUCT_LIST_SQL ("p.created_at DESC, p.id DESC") },
    { NULL, "product_list_relevance",
      PRODUCT_LIST_SQL ("word_similarity (product_search_norm ($1), p.search_text) DESC,"
                        " coalesce (ts_rank (p.search_tsv, product_search_query ($1)), 0) DESC,"
                        " product_search_norm (p.name), p.id") },
};

//  The writable fields of a product.
static const char *const s_writable [] = {
    "sku", "name", "description", "price_cents", "category_id", "alert_threshold",
    "barcode", "cost_cents", NULL
};

//  What a create or update body says, checked.
typedef struct {
    char sku [PRODUCT_SKU_MAX + 1];
    bool has_sku;
    const char *name;
    const char *description;
    bool has_description;       //  present, possibly null
    char price_cents [24];
    char category_id [24];
    char alert_threshold [24];
    char barcode [PRODUCT_EAN13_LENGTH + 1];
    bool has_barcode;           //  present, possibly null (barcode then "")
    char cost_cents [24];
} s_fields_t;

//  --------------------------------------------------------------------------

static json_t *
s_string_or_null (PGresult *res, int row, int column)
{
    if (PQgetisnull (res, row, column))
        return json_null ();
    return json_string (PQgetvalue (res, row, column));
}

static json_int_t
s_int (PGresult *res, int row, int column)
{
    return (json_int_t) strtoll (PQgetvalue (res, row, column), NULL, 10);
}

//  --------------------------------------------------------------------------
//  One row of PRODUCT_COLUMNS as the API's product. The unit cost is the
//  retailer's own business: it goes to the contexts that need it (the sales
//  context prices a sale's margin, reporting values stock) and back to the
//  manager who wrote it, never into the public reads, which the edge caches
//  and serves to every consumer alike.

static json_t *
s_product_json (PGresult *res, int row, bool with_cost)
{
    json_t *category = json_null ();
    if (!PQgetisnull (res, row, 5))
        category = json_pack ("{s:I, s:s}", "id", s_int (res, row, 5),
                              "name", PQgetvalue (res, row, 6));
    json_t *product = json_pack ("{s:I, s:s, s:s, s:o, s:I, s:o, s:I, s:b, s:s, s:s, s:o}",
                      "id", s_int (res, row, 0),
                      "sku", PQgetvalue (res, row, 1),
                      "name", PQgetvalue (res, row, 2),
                      "description", s_string_or_null (res, row, 3),
                      "price_cents", s_int (res, row, 4),
                      "category", category,
                      "alert_threshold", s_int (res, row, 7),
                      "active", streq (PQgetvalue (res, row, 8), "t"),
                      "created_at", PQgetvalue (res, row, 9),
                      "updated_at", PQgetvalue (res, row, 10),
                      "barcode", s_string_or_null (res, row, 11));
    if (product && with_cost)
        json_object_set_new (product, "cost_cents", json_integer (s_int (res, row, 12)));
    return product;
}

//  --------------------------------------------------------------------------
//  The reply for a result of at most one product row: status with the
//  product (its cost too when with_cost), or 404.

static envelope_t *
s_product_reply (const envelope_t *request, PGresult *res, int status, bool with_cost)
{
    envelope_t *reply;
    if (PQntuples (res) == 0)
        reply = request_input_not_found (request, "product");
    else {
        json_t *product = s_product_json (res, 0, with_cost);
        reply = product
              ? envelope_new_reply (request, status, product)
              : envelope_new_error (request, 500, "internal_error", "cannot build the answer", NULL);
    }
    PQclear (res);
    return reply;
}

//  --------------------------------------------------------------------------
//  The active product whose column equals $1 (one statement per column).

#define PRODUCT_ACTIVE_SQL(column) \
    "SELECT " PRODUCT_COLUMNS " FROM products p JOIN categories c ON c.id = p.category_id" \
    " WHERE " column " = $1 AND p.active"

static envelope_t *
s_active_product (const envelope_t *request, pgdb_t *db, const char *statement, const char *sql,
                  const char *value)
{
    const char *params [] = { value };
    PGresult *res = pgdb_exec (db, statement, sql, 1, params);
    if (!res)
        return request_input_db_failure (request, db, "catalog");
    return s_product_reply (request, res, 200, false);
}

//  --------------------------------------------------------------------------
//  Normalise a SKU into out (upper case). 0 when it is a valid SKU: 1 to 64
//  of A-Z 0-9 . _ -, starting with a letter or digit.

static int
s_sku_normalise (const char *sku, char *out)
{
    size_t length = strlen (sku);
    if (length == 0 || length > PRODUCT_SKU_MAX)
        return -1;
    for (size_t i = 0; i < length; i++) {
        unsigned char c = (unsigned char) sku [i];
        bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
               || (i > 0 && (c == '.' || c == '_' || c == '-'));
        if (!ok)
            return -1;
        out [i] = (char) toupper (c);
    }
    out [length] = 0;
    return 0;
}

//  --------------------------------------------------------------------------
//  The id path param: a positive integer, else a validation detail.

static int
s_id_param (const envelope_t *request, int64_t *id, json_t *details)
{
    if (request_input_int (request_input_param (request, "id"), 1, INT64_MAX, id)) {
        request_input_problem (details, "id", "must be a positive integer");
        return -1;
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Check a create (creating = true: name, price_cents, category_id required)
//  or update body into fields. Problems go to details.

static void
s_read_fields (json_t *data, bool creating, s_fields_t *fields, json_t *details)
{
    memset (fields, 0, sizeof *fields);
    request_input_unknown_fields (data, s_writable, details);

    bool sku_null = false;
    const char *sku = product_input_string (data, "sku", 1, PRODUCT_SKU_MAX, creating, &sku_null, details);
    if (sku) {
        if (s_sku_normalise (sku, fields->sku))
            request_input_problem (details, "sku",
                                   "must be letters, digits, '.', '_' or '-', starting with a letter or digit");
        else
            fields->has_sku = true;
    }
    fields->name = product_input_string (data, "name", 1, 200, false, NULL, details);
    if (creating && !json_object_get (data, "name"))
        request_input_problem (details, "name", "is required");

    bool description_null = false;
    fields->description = product_input_string (data, "description", 0, 5000, true,
                                                &description_null, details);
    fields->has_description = fields->description || description_null;

    int64_t value;
    int found = request_input_integer (data, "price_cents", 1, PRODUCT_MAX_PRICE_CENTS, &value, details);
    if (found == 1)
        snprintf (fields->price_cents, sizeof fields->price_cents, "%lld", (long long) value);
    else
    if (found == 0 && creating)
        request_input_problem (details, "price_cents", "is required");

    found = request_input_integer (data, "category_id", 1, INT64_MAX, &value, details);
    if (found == 1)
        snprintf (fields->category_id, sizeof fields->category_id, "%lld", (long long) value);
    else
    if (found == 0 && creating)
        request_input_problem (details, "category_id", "is required");

    found = request_input_integer (data, "alert_threshold", 0, PRODUCT_MAX_THRESHOLD, &value, details);
    if (found == 1)
        snprintf (fields->alert_threshold, sizeof fields->alert_threshold, "%lld", (long long) value);

    found = request_input_integer (data, "cost_cents", 0, PRODUCT_MAX_PRICE_CENTS, &value, details);
    if (found == 1)
        snprintf (fields->cost_cents, sizeof fields->cost_cents, "%lld", (long long) value);

    //  null takes the barcode away; any string must be an EAN-13
    bool barcode_null = false;
    const char *barcode = product_input_string (data, "barcode", 0, 64, true, &barcode_null, details);
    if (barcode && !product_input_ean13 (barcode))
        request_input_problem (details, "barcode", PRODUCT_INPUT_EAN13_PROBLEM);
    else
    if (barcode || barcode_null) {
        snprintf (fields->barcode, sizeof fields->barcode, "%s", barcode ? barcode : "");
        fields->has_barcode = true;
    }
}

//  --------------------------------------------------------------------------
//  The body of a write: an object, else a detail.

static json_t *
s_write_body (const envelope_t *request, json_t *details)
{
    json_t *data = request_input_data (request);
    if (!json_is_object (data)) {
        request_input_problem (details, "body", "must be a JSON object");
        return NULL;
    }
    return data;
}

//  --------------------------------------------------------------------------

static envelope_t *
s_unknown_category (const envelope_t *request)
{
    json_t *details = json_array ();
    request_input_problem (details, "category_id", "no such category");
    return request_input_invalid (request, details);
}

//  --------------------------------------------------------------------------
//  After a unique violation on a write of fields (by product id, NULL on
//  create): the 409 naming the barcode when another product holds it, else
//  NULL (the SKU was taken). *failed when the look-up itself failed.

static envelope_t *
s_barcode_taken (const envelope_t *request, pgdb_t *db, const s_fields_t *fields,
                 const char *id, bool *failed)
{
    *failed = false;
    if (!fields->has_barcode || !fields->barcode [0])
        return NULL;
    const char *params [] = { fields->barcode, id };
    PGresult *res = pgdb_exec (db, "product_barcode_taken",
        "SELECT 1 FROM products WHERE barcode = $1 AND ($2::bigint IS NULL OR id <> $2)",
        2, params);
    *failed = res == NULL;
    bool taken = res && PQntuples (res) > 0;
    PQclear (res);
    return taken ? request_input_conflict (request, "a product with this barcode already exists") : NULL;
}

//  --------------------------------------------------------------------------

envelope_t *
product_get (const envelope_t *request, void *state)
{
    product_state_t *self = (product_state_t *) state;
    json_t *details = json_array ();
    int64_t id;
    if (s_id_param (request, &id, details))
        return request_input_invalid (request, details);
    json_decref (details);

    return s_active_product (request, self->db, "product_get", PRODUCT_ACTIVE_SQL ("p.id"), request_input_param (request, "id"));
}

//  --------------------------------------------------------------------------

envelope_t *
product_get_by_sku (const envelope_t *request, void *state)
{
    product_state_t *self = (product_state_t *) state;
    const char *sku = request_input_param (request, "sku");
    char normal [PRODUCT_SKU_MAX + 1];
    if (!sku || s_sku_normalise (sku, normal))
        return request_input_not_found (request, "product");     //  cannot exist

    return s_active_product (request, self->db, "product_get_by_sku", PRODUCT_ACTIVE_SQL ("p.sku"), normal);
}

//  --------------------------------------------------------------------------

envelope_t *
product_get_by_barcode (const envelope_t *request, void *state)
{
    product_state_t *self = (product_state_t *) state;
    const char *code = request_input_param (request, "code");
    if (!product_input_ean13 (code)) {
        json_t *details = json_array ();
        request_input_problem (details, "barcode", PRODUCT_INPUT_EAN13_PROBLEM);
        return request_input_invalid (request, details);
    }
    return s_active_product (request, self->db, "product_get_by_barcode", PRODUCT_ACTIVE_SQL ("p.barcode"), code);
}

//  --------------------------------------------------------------------------
//  The ids of a get_many, from data.ids or else params.ids: 1..100 positive
//  integers, written as a PostgreSQL array literal into array ("{1,2,3}").
//  Problems go to details.

static void
s_read_ids (const envelope_t *request, char *array, size_t size, json_t *details)
{
    json_t *data = request_input_data (request);
    json_t *ids = json_is_object (data) ? json_object_get (data, "ids") : NULL;
    if (!ids && json_is_object (request->body))
        ids = json_object_get (json_object_get (request->body, "params"), "ids");
    if (!json_is_array (ids) || json_array_size (ids) == 0 || json_array_size (ids) > PRODUCT_MAX_MANY) {
        request_input_problem (details, "ids", "must be an array of 1 to 100 product ids");
        return;
    }
    size_t used = snprintf (array, size, "{");
    size_t index;
    json_t *id;
    json_array_foreach (ids, index, id) {
        json_int_t value = json_is_integer (id) ? json_integer_value (id) : 0;
        if (value < 1) {
            char field [32];
            snprintf (field, sizeof field, "ids[%zu]", index);
            request_input_problem (details, field, "must be a positive integer");
            continue;
        }
        used += snprintf (array + used, size - used, "%s%lld", used > 1 ? "," : "", (long long) value);
    }
    snprintf (array + used, size - used, "}");
}

envelope_t *
product_get_many (const envelope_t *request, void *state)
{
    product_state_t *self = (product_state_t *) state;
    //  100 ids of at most 19 digits and a comma each, and the braces
    char array [PRODUCT_MAX_MANY * 20 + 8];
    json_t *details = json_array ();
    s_read_ids (request, array, sizeof array, details);
    if (json_array_size (details))
        return request_input_invalid (request, details);
    json_decref (details);

    const char *params [] = { array };
    PGresult *res = pgdb_exec (self->db, "product_get_many",
        "SELECT " PRODUCT_COLUMNS
        " FROM products p LEFT JOIN categories c ON c.id = p.category_id"
        " WHERE p.id = ANY ($1::bigint[]) ORDER BY p.id", 1, params);
    if (!res)
        return request_input_db_failure (request, self->db, "catalog");
    json_t *data = json_array ();
    for (int row = 0; row < PQntuples (res); row++)
        json_array_append_new (data, s_product_json (res, row, true));
    PQclear (res);
    json_t *body = json_pack ("{s:o}", "data", data);
    if (!body)
        return request_input_internal (request);
    return envelope_new_reply (request, 200, body);
}

//  --------------------------------------------------------------------------
//  The list params, checked. 0 or -1 with details.

typedef struct {
    const char *q;
    const char *category_id;
    const char *min_price;
    const char *max_price;
    int64_t page;
    int64_t per_page;
    const s_sort_t *sort;
} s_list_query_t;

static int
s_read_list_query (const envelope_t *request, s_list_query_t *query, json_t *details)
{
    memset (query, 0, sizeof *query);
    query->page = 1;
    query->per_page = PRODUCT_DEFAULT_PER_PAGE;
    const char *text = request_input_param (request, "page");
    if (text && request_input_int (text, 1, PRODUCT_MAX_PAGE, &query->page))
        request_input_problem (details, "page", "must be an integer between 1 and 1000000");
    text = request_input_param (request, "per_page");
    if (text && request_input_int (text, 1, PRODUCT_MAX_PER_PAGE, &query->per_page))
        request_input_problem (details, "per_page", "must be an integer between 1 and 100");

    query->q = request_input_param (request, "q");
    if (query->q && query->q [strspn (query->q, " \t")] == 0)
        query->q = NULL;        //  an empty search is no search
    size_t characters = 0;
    for (const char *c = query->q; c && *c; c++)
        characters += ((unsigned char) *c & 0xC0) != 0x80;
    if (characters > PRODUCT_MAX_QUERY) {
        request_input_problem (details, "q", "must be at most 200 characters");
        query->q = NULL;
    }
    int64_t value, min_price = -1, max_price = -1;
    query->category_id = request_input_param (request, "category_id");
    if (query->category_id && request_input_int (query->category_id, 1, INT64_MAX, &value))
        request_input_problem (details, "category_id", "must be a positive integer");
    query->min_price = request_input_param (request, "min_price_cents");
    if (query->min_price && request_input_int (query->min_price, 0, PRODUCT_MAX_PRICE_CENTS, &min_price))
        request_input_problem (details, "min_price_cents", "must be an integer >= 0");
    query->max_price = request_input_param (request, "max_price_cents");
    if (query->max_price && request_input_int (query->max_price, 0, PRODUCT_MAX_PRICE_CENTS, &max_price))
        request_input_problem (details, "max_price_cents", "must be an integer >= 0");
    if (min_price >= 0 && max_price >= 0 && min_price > max_price)
        request_input_problem (details, "min_price_cents", "must be <= max_price_cents");

    text = request_input_param (request, "sort");
    size_t sorts = sizeof s_sorts / sizeof s_sorts [0];
    if (text) {
        for (size_t i = 0; i < sorts && !query->sort; i++)
            if (s_sorts [i].sort && streq (s_sorts [i].sort, text))
                query->sort = &s_sorts [i];
        if (!query->sort)
            request_input_problem (details, "sort",
                                   "must be one of name, -name, price, -price, created_at, -created_at");
    }
    else
        query->sort = query->q ? &s_sorts [sorts - 1] : &s_sorts [0];
    return json_array_size (details) ? -1 : 0;
}

//  --------------------------------------------------------------------------

envelope_t *
product_list (const envelope_t *request, void *state)
{
    product_state_t *self = (product_state_t *) state;
    s_list_query_t query;
    json_t *details = json_array ();
    if (s_read_list_query (request, &query, details))
        return request_input_invalid (request, details);
    json_decref (details);

    char limit [24], offset [24];
    snprintf (limit, sizeof limit, "%lld", (long long) query.per_page);
    snprintf (offset, sizeof offset, "%lld", (long long) ((query.page - 1) * query.per_page));
    const char *params [] = {
        query.q, query.category_id, query.min_price, query.max_price, limit, offset
    };
    PGresult *res = pgdb_exec (self->db, "product_count",
        "SELECT count(*) FROM products p" PRODUCT_LIST_WHERE, 4, params);
    if (!res)
        return request_input_db_failure (request, self->db, "catalog");
    json_int_t total = s_int (res, 0, 0);
    PQclear (res);

    res = pgdb_exec (self->db, query.sort->statement, query.sort->sql, 6, params);
    if (!res)
        return request_input_db_failure (request, self->db, "catalog");
    json_t *data = json_array ();
    for (int row = 0; row < PQntuples (res); row++)
        json_array_append_new (data, s_product_json (res, row, false));
    PQclear (res);
    json_t *body = json_pack ("{s:o, s:{s:I, s:I, s:I}}", "data", data,
                              "meta", "page", (json_int_t) query.page,
                              "per_page", (json_int_t) query.per_page, "total", total);
    if (!body)
        return envelope_new_error (request, 500, "internal_error", "cannot build the answer", NULL);
    return envelope_new_reply (request, 200, body);
}

//  --------------------------------------------------------------------------

envelope_t *
product_create (const envelope_t *request, void *state)
{
    product_state_t *self = (product_state_t *) state;
    if (!product_input_may_write (request))
        return product_input_forbidden (request);
    json_t *details = json_array ();
    s_fields_t fields;
    json_t *data = s_write_body (request, details);
    if (data)
        s_read_fields (data, true, &fields, details);
    if (json_array_size (details))
        return request_input_invalid (request, details);
    json_decref (details);

    const char *params [] = {
        fields.has_sku ? fields.sku : NULL,
        fields.name,
        fields.description,
        fields.price_cents,
        fields.alert_threshold [0] ? fields.alert_threshold : "5",
        fields.category_id,
        fields.barcode [0] ? fields.barcode : NULL,
        fields.cost_cents [0] ? fields.cost_cents : "0"
    };
    for (int attempt = 1; ; attempt++) {
        PGresult *res = pgdb_exec (self->db, "product_create",
            "WITH p AS ("
            "  INSERT INTO products (sku, name, description, price_cents, alert_threshold, category_id,"
            "                       barcode, cost_cents)"
            "  SELECT coalesce ($1::text, product_next_sku (c.sku_prefix)), $2::text, $3::text,"
            "         $4::bigint, $5::integer, c.id, $7::text, $8::bigint"
            "    FROM categories c WHERE c.id = $6::bigint"
            "  RETURNING *)"
            " SELECT " PRODUCT_COLUMNS " FROM p JOIN categories c ON c.id = p.category_id",
            8, params);
        if (res) {
            if (PQntuples (res) == 0) {
                PQclear (res);
                return s_unknown_category (request);
            }
            return s_product_reply (request, res, 201, true);
        }
        if (pgdb_is_unique_violation (self->db)) {
            bool failed;
            envelope_t *taken = s_barcode_taken (request, self->db, &fields, NULL, &failed);
            if (taken || failed)
                return taken ? taken : request_input_db_failure (request, self->db, "catalog");
            if (fields.has_sku)
                return request_input_conflict (request, "a product with this sku already exists");
            if (attempt < PRODUCT_SKU_TRIES)
                continue;       //  a hand-made SKU took our number: take the next one
        }
        if (pgdb_is_foreign_key_violation (self->db))
            return s_unknown_category (request);     //  deleted while we inserted
        return request_input_db_failure (request, self->db, "catalog");
    }
}

//  --------------------------------------------------------------------------

envelope_t *
product_update (const envelope_t *request, void *state)
{
    product_state_t *self = (product_state_t *) state;
    if (!product_input_may_write (request))
        return product_input_forbidden (request);
    json_t *details = json_array ();
    int64_t id;
    s_fields_t fields;
    s_id_param (request, &id, details);
    json_t *data = s_write_body (request, details);
    if (data)
        s_read_fields (data, false, &fields, details);
    if (json_array_size (details))
        return request_input_invalid (request, details);
    json_decref (details);

    const char *params [] = {
        request_input_param (request, "id"),
        fields.has_sku ? fields.sku : NULL,
        fields.name,
        fields.has_description ? "true" : "false",
        fields.description,
        fields.price_cents [0] ? fields.price_cents : NULL,
        fields.alert_threshold [0] ? fields.alert_threshold : NULL,
        fields.category_id [0] ? fields.category_id : NULL,
        fields.has_barcode ? "true" : "false",
        fields.barcode [0] ? fields.barcode : NULL,
        fields.cost_cents [0] ? fields.cost_cents : NULL
    };
    PGresult *res = pgdb_exec (self->db, "product_update",
        "WITH p AS ("
        "  UPDATE products SET"
        "    sku = coalesce ($2, sku),"
        "    name = coalesce ($3, name),"
        "    description = CASE WHEN $4::boolean THEN $5 ELSE description END,"
        "    price_cents = coalesce ($6::bigint, price_cents),"
        "    alert_threshold = coalesce ($7::integer, alert_threshold),"
        "    category_id = coalesce ($8::bigint, category_id),"
        "    barcode = CASE WHEN $9::boolean THEN $10 ELSE barcode END,"
        "    cost_cents = coalesce ($11::bigint, cost_cents),"
        "    updated_at = now ()"
        "  WHERE id = $1 AND active"
        "  RETURNING *)"
        " SELECT " PRODUCT_COLUMNS " FROM p LEFT JOIN categories c ON c.id = p.category_id",
        11, params);
    if (!res) {
        if (pgdb_is_unique_violation (self->db)) {
            bool failed;
            envelope_t *taken = s_barcode_taken (request, self->db, &fields, params [0], &failed);
            if (taken || failed)
                return taken ? taken : request_input_db_failure (request, self->db, "catalog");
            return request_input_conflict (request, "a product with this sku already exists");
        }
        if (pgdb_is_foreign_key_violation (self->db))
            return s_unknown_category (request);
        return request_input_db_failure (request, self->db, "catalog");
    }
    return s_product_reply (request, res, 200, true);
}

//  --------------------------------------------------------------------------

envelope_t *
product_delete (const envelope_t *request, void *state)
{
    product_state_t *self = (product_state_t *) state;
    if (!product_input_may_write (request))
        return product_input_forbidden (request);
    json_t *details = json_array ();
    int64_t id;
    if (s_id_param (request, &id, details))
        return request_input_invalid (request, details);
    json_decref (details);

    const char *params [] = { request_input_param (request, "id") };
    PGresult *res = pgdb_exec (self->db, "product_delete",
        "UPDATE products SET active = false, updated_at = now () WHERE id = $1 AND active",
        1, params);
    if (!res)
        return request_input_db_failure (request, self->db, "catalog");
    bool deleted = streq (PQcmdTuples (res), "1");
    PQclear (res);
    if (!deleted)
        return request_input_not_found (request, "product");
    return envelope_new_reply (request, 204, NULL);
}
