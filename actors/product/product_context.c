/*  =========================================================================
    product_context - the catalog context: its verb table and actor state

    Each worker actor opens its own connection to the product database (the
    `postgres/product` setting, or COMPTOIR_POSTGRES_PRODUCT). The first
    actor of a process to start applies the migrations (`product/migrations`)
    and, when `product/seed` names a file, the idempotent demo seed; the
    others wait for it, so no actor serves before the schema is there. Across
    processes, pgdb_migrate's advisory lock does the same.
    =========================================================================
*/
#include "product_context.h"
#include "category_verbs.h"
#include "logline.h"
#include "product_verbs.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef COMPTOIR_DATADIR
#   define COMPTOIR_DATADIR "/usr/local/share/comptoir"
#endif

static const contextnode_verb_t s_verbs [] = {
    { "category.list", category_list },
    { "category.create", category_create },
    { "category.update", category_update },
    { "category.delete", category_delete },
    { "product.list", product_list },
    { "product.get", product_get },
    { "product.get_by_sku", product_get_by_sku },
    { "product.create", product_create },
    { "product.update", product_update },
    { "product.delete", product_delete },
    { NULL, NULL }
};

//  Once per process: the schema is ready. Guarded by s_schema_lock.
static pthread_mutex_t s_schema_lock = PTHREAD_MUTEX_INITIALIZER;
static bool s_schema_ready = false;

//  --------------------------------------------------------------------------

static bool
s_is_dir (const char *path)
{
    struct stat info;
    return stat (path, &info) == 0 && S_ISDIR (info.st_mode);
}

static bool
s_is_file (const char *path)
{
    struct stat info;
    return stat (path, &info) == 0 && S_ISREG (info.st_mode);
}

//  --------------------------------------------------------------------------

char *
product_context_sql_dir (const char *dir)
{
    if (!dir || !*dir)
        dir = "sql/product";
    if (dir [0] == '/' || s_is_dir (dir))
        return strdup (dir);
    char *installed = zsys_sprintf ("%s/%s", COMPTOIR_DATADIR, dir);
    if (installed && s_is_dir (installed))
        return installed;
    zstr_free (&installed);
    return strdup (dir);
}

//  --------------------------------------------------------------------------
//  Apply the seed file: a set of idempotent statements, in one transaction.

static int
s_apply_seed (pgdb_t *db, const char *path)
{
    char *resolved = NULL;
    if (path [0] != '/' && !s_is_file (path))
        resolved = zsys_sprintf ("%s/%s", COMPTOIR_DATADIR, path);
    const char *file_name = resolved && s_is_file (resolved) ? resolved : path;
    zfile_t *file = zfile_new (NULL, file_name);
    zchunk_t *chunk = NULL;
    if (file && zfile_input (file) == 0) {
        chunk = zfile_read (file, (size_t) zfile_cursize (file), 0);
        zfile_close (file);
    }
    zfile_destroy (&file);
    int rc = -1;
    if (chunk) {
        char *sql = zchunk_strdup (chunk);
        if (sql && pgdb_run (db, "BEGIN") == 0) {
            if (pgdb_run (db, sql) == 0 && pgdb_run (db, "COMMIT") == 0)
                rc = 0;
            else
                pgdb_run (db, "ROLLBACK");
        }
        zstr_free (&sql);
        zchunk_destroy (&chunk);
    }
    if (rc)
        log_error (NULL, "product: seed %s failed: %s %s", file_name, pgdb_sqlstate (db), pgdb_error (db));
    else
        log_info (NULL, "product: seed %s applied", file_name);
    zstr_free (&resolved);
    return rc;
}

//  --------------------------------------------------------------------------

static int
s_prepare_schema (settings_t *settings, pgdb_t *db)
{
    int rc = 0;
    pthread_mutex_lock (&s_schema_lock);
    if (!s_schema_ready) {
        char *dir = product_context_sql_dir (settings_get (settings, "product/migrations", "sql/product"));
        int applied = dir ? pgdb_migrate (db, dir) : -1;
        if (applied < 0)
            rc = -1;
        else {
            log_info (NULL, "product: schema ready (%d migrations applied from %s)", applied, dir);
            const char *seed = settings_get (settings, "product/seed", "");
            if (seed && *seed && s_apply_seed (db, seed))
                rc = -1;
        }
        zstr_free (&dir);
        s_schema_ready = rc == 0;
    }
    pthread_mutex_unlock (&s_schema_lock);
    return rc;
}

//  --------------------------------------------------------------------------

static void *
s_make_state (settings_t *settings, int instance, int actor)
{
    const char *conninfo = settings_get (settings, "postgres/product", "");
    if (!conninfo || !*conninfo) {
        log_error (NULL, "product: no database: set postgres/product (or COMPTOIR_POSTGRES_PRODUCT)");
        return NULL;
    }
    product_state_t *self = (product_state_t *) zmalloc (sizeof (product_state_t));
    if (!self)
        return NULL;
    self->db = pgdb_new (conninfo);
    if (!self->db || pgdb_connect (self->db) || s_prepare_schema (settings, self->db)) {
        log_error (NULL, "product: actor %d.%d cannot start: %s %s", instance, actor,
                   self->db ? pgdb_sqlstate (self->db) : "", self->db ? pgdb_error (self->db) : "");
        pgdb_destroy (&self->db);
        free (self);
        return NULL;
    }
    return self;
}

//  --------------------------------------------------------------------------

static void
s_free_state (void **state_p)
{
    if (state_p && *state_p) {
        product_state_t *self = (product_state_t *) *state_p;
        pgdb_destroy (&self->db);
        free (self);
        *state_p = NULL;
    }
}

const contextnode_def_t product_context_def = {
    .name = "product",
    .verbs = s_verbs,
    .make_state = s_make_state,
    .free_state = s_free_state
};
