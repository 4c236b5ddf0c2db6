/*  =========================================================================
    pgdb - the PostgreSQL helper every context uses

    One connection per actor. Statements are prepared once per connection
    under the name given by the caller and executed with text parameters
    (always parameterised, never pasted into SQL). A lost connection is
    reopened on the next call; a transaction that fails with a serialization
    failure or deadlock (SQLSTATE class 40) is retried from the start.
    Migrations are numbered files applied once, each in its own transaction,
    recorded in schema_migrations.
    =========================================================================
*/
#ifndef COMPTOIR_PGDB_H
#define COMPTOIR_PGDB_H

#include <libpq-fe.h>
#include <stdbool.h>

typedef struct _pgdb_t pgdb_t;

//  Does not connect yet; the first call does. Returns NULL only on allocation failure.
pgdb_t *pgdb_new (const char *conninfo);
void pgdb_destroy (pgdb_t **self_p);

//  Connect now if not connected. Returns 0 or -1.
int pgdb_connect (pgdb_t *self);

//  Execute a prepared statement (prepared on first use on this connection).
//  Returns the result (caller PQclear()s it) when its status is
//  PGRES_TUPLES_OK or PGRES_COMMAND_OK; otherwise NULL, with the SQLSTATE
//  and message available below. Reconnects once when the connection dropped
//  outside a transaction.
PGresult *pgdb_exec (pgdb_t *self, const char *name, const char *sql,
                     int nparams, const char *const *params);

//  Run plain SQL without parameters (BEGIN, COMMIT, DDL). Returns 0 / -1.
int pgdb_run (pgdb_t *self, const char *sql);

//  SQLSTATE of the last failure ("" when none), and its message.
const char *pgdb_sqlstate (pgdb_t *self);
const char *pgdb_error (pgdb_t *self);

//  Run fn inside BEGIN ... COMMIT at the given isolation ("READ COMMITTED",
//  "REPEATABLE READ", "SERIALIZABLE" or NULL for the default). fn returns 0
//  to commit, anything else to roll back. Retried up to max_tries times on
//  SQLSTATE 40001/40P01. Returns fn's result, or -1 when the database failed.
typedef int (pgdb_txn_fn) (pgdb_t *db, void *arg);
int pgdb_transaction (pgdb_t *self, const char *isolation, pgdb_txn_fn *fn, void *arg, int max_tries);

//  Apply dir/NNNN_*.sql in order, each once. Returns number applied or -1.
int pgdb_migrate (pgdb_t *self, const char *dir);

//  Whether the last failure was a unique violation (23505) etc.
bool pgdb_is_unique_violation (pgdb_t *self);
bool pgdb_is_foreign_key_violation (pgdb_t *self);

void pgdb_test (bool verbose);

#endif
