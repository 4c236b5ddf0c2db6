/*  =========================================================================
    category_verbs - the handlers of the category.* verbs

    Categories are few and read often, so the list is not paged. A new
    category gets a SKU prefix derived from its name in SQL (first three
    letters, accents removed), used by generated product SKUs; the prefix is
    not part of the API and does not change when the category is renamed,
    so SKUs already printed on labels stay consistent.
    Deleting a category that still holds active products answers 409: the
    catalog never shows a product without a category.
    =========================================================================
*/
#include "category_verbs.h"
#include "product_context.h"
#include "product_input.h"

#include <stdlib.h>
#include <string.h>

#define CATEGORY_COLUMNS "id, name, description"

static const char *const s_writable [] = { "name", "description", NULL };

//  --------------------------------------------------------------------------

static json_t *
s_category_json (PGresult *res, int row)
{
    return json_pack ("{s:I, s:s, s:o}",
                      "id", (json_int_t) strtoll (PQgetvalue (res, row, 0), NULL, 10),
                      "name", PQgetvalue (res, row, 1),
                      "description", PQgetisnull (res, row, 2)
                                   ? json_null () : json_string (PQgetvalue (res, row, 2)));
}

//  --------------------------------------------------------------------------

static envelope_t *
s_category_reply (const envelope_t *request, PGresult *res, int status)
{
    envelope_t *reply;
    if (PQntuples (res) == 0)
        reply = request_input_not_found (request, "category");
    else {
        json_t *category = s_category_json (res, 0);
        reply = category
              ? envelope_new_reply (request, status, category)
              : envelope_new_error (request, 500, "internal_error", "cannot build the answer", NULL);
    }
    PQclear (res);
    return reply;
}

//  --------------------------------------------------------------------------
//  Check a create or update body. name is required when creating.

typedef struct {
    const char *name;
    const char *description;
    bool has_description;
} s_fields_t;

static void
s_read_fields (const envelope_t *request, bool creating, s_fields_t *fields, json_t *details)
{
    memset (fields, 0, sizeof *fields);
    json_t *data = request_input_data (request);
    if (!json_is_object (data)) {
        request_input_problem (details, "body", "must be a JSON object");
        return;
    }
    request_input_unknown_fields (data, s_writable, details);
    fields->name = product_input_string (data, "name", 1, 100, false, NULL, details);
    if (creating && !json_object_get (data, "name"))
        request_input_problem (details, "name", "is required");
    bool is_null = false;
    fields->description = product_input_string (data, "description", 0, 2000, true, &is_null, details);
    fields->has_description = fields->description || is_null;
}

//  --------------------------------------------------------------------------

envelope_t *
category_list (const envelope_t *request, void *state)
{
    product_state_t *self = (product_state_t *) state;
    PGresult *res = pgdb_exec (self->db, "category_list",
        "SELECT " CATEGORY_COLUMNS " FROM categories ORDER BY product_search_norm (name), id",
        0, NULL);
    if (!res)
        return request_input_db_failure (request, self->db, "catalog");
    json_t *data = json_array ();
    for (int row = 0; row < PQntuples (res); row++)
        json_array_append_new (data, s_category_json (res, row));
    PQclear (res);
    return envelope_new_reply (request, 200, json_pack ("{s:o}", "data", data));
}

//  --------------------------------------------------------------------------

envelope_t *
category_create (const envelope_t *request, void *state)
{
    product_state_t *self = (product_state_t *) state;
    if (!product_input_may_write (request))
        return product_input_forbidden (request);
    json_t *details = json_array ();
    s_fields_t fields;
    s_read_fields (request, true, &fields, details);
    if (json_array_size (details))
        return request_input_invalid (request, details);
    json_decref (details);

    const char *params [] = { fields.name, fields.description };
    PGresult *res = pgdb_exec (self->db, "category_create",
        "INSERT INTO categories (name, description, sku_prefix)"
        " VALUES ($1::text, $2::text, product_sku_prefix ($1::text))"
        " RETURNING " CATEGORY_COLUMNS, 2, params);
    if (!res) {
        if (pgdb_is_unique_violation (self->db))
            return request_input_conflict (request, "a category with this name already exists");
        return request_input_db_failure (request, self->db, "catalog");
    }
    return s_category_reply (request, res, 201);
}

//  --------------------------------------------------------------------------

envelope_t *
category_update (const envelope_t *request, void *state)
{
    product_state_t *self = (product_state_t *) state;
    if (!product_input_may_write (request))
        return product_input_forbidden (request);
    json_t *details = json_array ();
    int64_t id;
    const char *id_text = request_input_param (request, "id");
    if (request_input_int (id_text, 1, INT64_MAX, &id))
        request_input_problem (details, "id", "must be a positive integer");
    s_fields_t fields;
    s_read_fields (request, false, &fields, details);
    if (json_array_size (details))
        return request_input_invalid (request, details);
    json_decref (details);

    const char *params [] = {
        id_text, fields.name, fields.has_description ? "true" : "false", fields.description
    };
    PGresult *res = pgdb_exec (self->db, "category_update",
        "UPDATE categories SET"
        "  name = coalesce ($2, name),"
        "  description = CASE WHEN $3::boolean THEN $4 ELSE description END,"
        "  updated_at = now ()"
        " WHERE id = $1"
        " RETURNING " CATEGORY_COLUMNS, 4, params);
    if (!res) {
        if (pgdb_is_unique_violation (self->db))
            return request_input_conflict (request, "a category with this name already exists");
        return request_input_db_failure (request, self->db, "catalog");
    }
    return s_category_reply (request, res, 200);
}

//  --------------------------------------------------------------------------

envelope_t *
category_delete (const envelope_t *request, void *state)
{
    product_state_t *self = (product_state_t *) state;
    if (!product_input_may_write (request))
        return product_input_forbidden (request);
    int64_t id;
    const char *id_text = request_input_param (request, "id");
    if (request_input_int (id_text, 1, INT64_MAX, &id)) {
        json_t *details = json_array ();
        request_input_problem (details, "id", "must be a positive integer");
        return request_input_invalid (request, details);
    }
    //  One statement: delete when empty of active products, and say whether
    //  the category existed at all. Inactive products keep their rows and
    //  lose the link (ON DELETE SET NULL).
    const char *params [] = { id_text };
    PGresult *res = pgdb_exec (self->db, "category_delete",
        "WITH gone AS ("
        "  DELETE FROM categories c WHERE c.id = $1"
        "     AND NOT EXISTS (SELECT 1 FROM products p WHERE p.category_id = c.id AND p.active)"
        "  RETURNING c.id)"
        " SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM categories WHERE id = $1)",
        1, params);
    if (!res) {
        //  an active product joined the category while we deleted it
        if (streq (pgdb_sqlstate (self->db), "23514"))
            return request_input_conflict (request, "the category still has active products");
        return request_input_db_failure (request, self->db, "catalog");
    }
    bool deleted = streq (PQgetvalue (res, 0, 0), "1");
    bool exists = !streq (PQgetvalue (res, 0, 1), "0");
    PQclear (res);
    if (deleted)
        return envelope_new_reply (request, 204, NULL);
    if (exists)
        return request_input_conflict (request, "the category still has active products");
    return request_input_not_found (request, "category");
}
