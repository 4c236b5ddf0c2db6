/*  =========================================================================
    customer_context - the identity context: its verb table and actor state

    The definition lives here rather than in main.c so that the integration
    tests build the same state and dispatch through the same table as the
    real process.
    =========================================================================
*/
#ifndef COMPTOIR_CUSTOMER_CONTEXT_H
#define COMPTOIR_CUSTOMER_CONTEXT_H

#include "contextnode.h"
#include "customer_keys.h"
#include "customer_password.h"
#include "pgdb.h"

//  What the auth/* settings say, read once at start.
typedef struct {
    char *issuer;                   //  auth/issuer
    char *audience;                 //  auth/audience
    int64_t customer_ttl_s;         //  auth/customer_ttl_s
    int64_t staff_ttl_s;            //  auth/staff_ttl_s
    int lockout_failures;           //  auth/lockout_failures
    int lockout_window_s;           //  auth/lockout_window_s
    int lockout_s;                  //  auth/lockout_s
    int slowdown_after;             //  auth/slowdown_after
    int slowdown_base_s;            //  auth/slowdown_base_s
    customer_password_cost_t cost;  //  auth/argon2_*
} customer_auth_t;

//  What each worker actor of the customer context owns.
typedef struct {
    pgdb_t *db;                     //  its own connection to the customer database
    customer_keys_t *keys;          //  its own view of the signing keys
    customer_auth_t auth;
    //  Checked against when the account does not exist, so an unknown
    //  name takes as long to refuse as a wrong password.
    char dummy_hash [crypto_pwhash_STRBYTES];
} customer_state_t;

//  name "customer", the verbs, make_state / free_state.
extern const contextnode_def_t customer_context_def;

//  Read the auth/* settings (defaults as documented in etc/comptoir.cfg).
//  0 / -1 (logged) when a value is unusable.
int customer_context_auth (settings_t *settings, customer_auth_t *auth);
void customer_context_auth_free (customer_auth_t *auth);

//  The folder of the signing keys (auth/jwt_keys_dir).
const char *customer_context_keys_dir (settings_t *settings);

//  Open the database of the customer context and apply its migrations.
//  NULL (logged) on failure.
pgdb_t *customer_context_database (settings_t *settings);

#endif
