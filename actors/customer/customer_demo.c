/*  =========================================================================
    customer_demo - the demo accounts of a fresh system

    The credentials file is written before the accounts are committed, and
    removed when the commit fails: there is never an account whose password
    nobody was told. An advisory lock makes two runs at once create one set.
    =========================================================================
*/
#include "customer_demo.h"
#include "customer_context.h"
#include "logline.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    const char *role;           //  customer, cashier, manager, admin
    const char *name;           //  email or username
    const char *first_name;     //  customers only
    const char *last_name;
    const char *province;
    const char *store_id;       //  staff; NULL for admin
} s_account_t;

static const s_account_t s_accounts [] = {
    { "admin", "admin", NULL, NULL, NULL, NULL },
    { "manager", "manager-1", NULL, NULL, NULL, "1" },
    { "cashier", "cashier-1", NULL, NULL, NULL, "1" },
    { "manager", "manager-2", NULL, NULL, NULL, "2" },
    { "cashier", "cashier-2", NULL, NULL, NULL, "2" },
    { "manager", "manager-3", NULL, NULL, NULL, "3" },
    { "cashier", "cashier-3", NULL, NULL, NULL, "3" },
    { "customer", "marie.tremblay@example.com", "Marie", "Tremblay", "QC", NULL },
    { "customer", "liam.wilson@example.com", "Liam", "Wilson", "ON", NULL },
    { "customer", "chloe.nguyen@example.com", "Chloé", "Nguyen", "BC", NULL },
};
#define ACCOUNT_COUNT (sizeof s_accounts / sizeof s_accounts [0])

//  --------------------------------------------------------------------------
//  1 when the demo accounts exist, 0 when not, -1 on failure.

static int
s_exist (pgdb_t *db)
{
    PGresult *res = pgdb_exec (db, "demo_exist",
        "SELECT 1 FROM staff WHERE lower (username) = 'admin'", 0, NULL);
    if (!res)
        return -1;
    int exist = PQntuples (res) > 0;
    PQclear (res);
    return exist;
}

//  --------------------------------------------------------------------------
//  Insert one account. 1 inserted, 0 taken already, -1 failure.

static int
s_insert (pgdb_t *db, const s_account_t *account, const char *hash)
{
    PGresult *res;
    if (streq (account->role, "customer")) {
        const char *params [] = { account->name, hash, account->first_name, account->last_name,
                                  account->province };
        res = pgdb_exec (db, "demo_customer",
            "INSERT INTO customers (email, password_hash, first_name, last_name, province)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING", 5, params);
    }
    else {
        const char *params [] = { account->name, hash, account->role, account->store_id };
        res = pgdb_exec (db, "demo_staff",
            "INSERT INTO staff (username, password_hash, role, store_id)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING", 4, params);
    }
    if (!res)
        return -1;
    int inserted = streq (PQcmdTuples (res), "1");
    PQclear (res);
    return inserted;
}

//  --------------------------------------------------------------------------

static int
s_create (settings_t *settings, pgdb_t *db, const char *file)
{
    customer_password_cost_t cost = customer_password_cost (settings);
    char passwords [ACCOUNT_COUNT][24];
    char hashes [ACCOUNT_COUNT][crypto_pwhash_STRBYTES];
    for (size_t i = 0; i < ACCOUNT_COUNT; i++) {
        unsigned char random [12];
        randombytes_buf (random, sizeof random);
        sodium_bin2base64 (passwords [i], sizeof passwords [i], random, sizeof random,
                           sodium_base64_VARIANT_URLSAFE_NO_PADDING);
        if (customer_password_hash (&cost, passwords [i], hashes [i])) {
            log_error (NULL, "demo accounts: cannot hash a password (out of memory?)");
            return -1;
        }
    }
    if (pgdb_run (db, "BEGIN"))
        return -1;
    int rc = 0;
    PGresult *res = pgdb_exec (db, "demo_lock",
        "SELECT pg_advisory_xact_lock (hashtext ('comptoir-customer-demo-accounts'))", 0, NULL);
    if (!res)
        rc = -1;
    PQclear (res);
    int exist = rc == 0 ? s_exist (db) : -1;
    if (exist != 0) {
        pgdb_run (db, "ROLLBACK");
        return exist > 0 ? 1 : -1;
    }
    bool inserted [ACCOUNT_COUNT];
    for (size_t i = 0; rc == 0 && i < ACCOUNT_COUNT; i++) {
        int outcome = s_insert (db, &s_accounts [i], hashes [i]);
        if (outcome < 0)
            rc = -1;
        inserted [i] = outcome == 1;
    }
    //  The credentials reach the file before the accounts are committed
    int fd = -1;
    if (rc == 0) {
        unlink (file);
        fd = open (file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0 || fchmod (fd, 0600)) {
            log_error (NULL, "demo accounts: cannot write %s: %s", file, strerror (errno));
            rc = -1;
        }
    }
    FILE *out = fd >= 0 ? fdopen (fd, "w") : NULL;
    if (fd >= 0 && !out) {
        close (fd);
        rc = -1;
    }
    for (size_t i = 0; rc == 0 && i < ACCOUNT_COUNT; i++)
        if (inserted [i])
            fprintf (out, "%s %s %s %s\n", s_accounts [i].role, s_accounts [i].name,
                     passwords [i], s_accounts [i].store_id ? s_accounts [i].store_id : "-");
    if (out && (fflush (out) || fsync (fileno (out))))
        rc = -1;
    if (out && fclose (out))
        rc = -1;
    if (rc == 0 && pgdb_run (db, "COMMIT") == 0) {
        printf ("Demo accounts (role, login, password, store), also in %s:\n", file);
        for (size_t i = 0; i < ACCOUNT_COUNT; i++)
            if (inserted [i])
                printf ("  %-8s %-28s %s %s\n", s_accounts [i].role, s_accounts [i].name,
                        passwords [i], s_accounts [i].store_id ? s_accounts [i].store_id : "-");
        fflush (stdout);
    }
    else {
        if (out)
            unlink (file);
        pgdb_run (db, "ROLLBACK");
        rc = -1;
    }
    sodium_memzero (passwords, sizeof passwords);
    return rc;
}

//  --------------------------------------------------------------------------

int
customer_demo_accounts (settings_t *settings, const char *file)
{
    if (sodium_init () < 0)
        return -1;
    pgdb_t *db = customer_context_database (settings);
    if (!db)
        return -1;
    int rc = s_exist (db);
    if (rc == 0)
        rc = s_create (settings, db, file);
    if (rc > 0) {
        printf ("The demo accounts exist already; their passwords were written to %s when they"
                " were created, and are shown only once.\n", file);
        rc = 0;
    }
    else
    if (rc < 0)
        log_error (NULL, "demo accounts: failed: %s %s", pgdb_sqlstate (db), pgdb_error (db));
    pgdb_destroy (&db);
    return rc;
}
