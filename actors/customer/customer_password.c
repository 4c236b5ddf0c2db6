/*  =========================================================================
    customer_password - Argon2id password hashes (libsodium crypto_pwhash)

    Only Argon2id is accepted when verifying: a hash of any other form (an
    Argon2i string, a fast hash someone wrote by hand) never matches, so a
    weak hash cannot slip into use. Costs below OWASP's minimum are raised,
    not obeyed: a configuration typo must not weaken every password.

    Argon2id is slow on purpose (tens of milliseconds, far more on a busy
    machine), and the worker actor that runs it sends the broker's
    heartbeats from the same thread: a hash that outlasts the broker's
    silence limit (heartbeat x liveness, a second) got the worker expired
    and the login answered 503. So in a worker's thread the hash runs in a
    short-lived thread of its own while the worker keeps beating
    (contextnode_keepalive); elsewhere (a test, the demo accounts) it runs
    in place.
    =========================================================================
*/
#include "customer_password.h"
#include "contextnode.h"
#include "logline.h"

#include <pthread.h>
#include <string.h>
#include <time.h>

typedef struct {
    const customer_password_cost_t *cost;
    const char *password;
    const char *hash;           //  verify: the hash to check; NULL: make one into out
    char *out;
    int rc;
    int done;                   //  set (atomically) when rc is there
} s_work_t;

//  --------------------------------------------------------------------------

static void *
s_work_run (void *arg)
{
    s_work_t *work = (s_work_t *) arg;
    if (work->hash)
        work->rc = crypto_pwhash_str_verify (work->hash, work->password, strlen (work->password));
    else
        work->rc = crypto_pwhash_str_alg (work->out, work->password, strlen (work->password),
                                          work->cost->opslimit, work->cost->memlimit,
                                          crypto_pwhash_ALG_ARGON2ID13);
    __atomic_store_n (&work->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

//  --------------------------------------------------------------------------
//  Run the work, beating meanwhile when this thread runs a Majordomo worker.

static int
s_work_beating (s_work_t *work)
{
    pthread_t thread;
    if (contextnode_keepalive (NULL) < 0 || pthread_create (&thread, NULL, s_work_run, work) != 0) {
        s_work_run (work);
        return work->rc;
    }
    while (!__atomic_load_n (&work->done, __ATOMIC_ACQUIRE)) {
        int due = contextnode_keepalive (NULL);
        struct timespec pause = { 0, (due > 0 && due < 5 ? due : 5) * 1000 * 1000 };
        nanosleep (&pause, NULL);
    }
    pthread_join (thread, NULL);
    return work->rc;
}

//  --------------------------------------------------------------------------

customer_password_cost_t
customer_password_cost (settings_t *settings)
{
    int64_t ops = settings_get_int (settings, "auth/argon2_opslimit", CUSTOMER_PASSWORD_OPSLIMIT_MIN);
    int64_t mem = settings_get_int (settings, "auth/argon2_memlimit", CUSTOMER_PASSWORD_MEMLIMIT_MIN);
    if (ops < CUSTOMER_PASSWORD_OPSLIMIT_MIN || ops > 64) {
        log_warn (NULL, "auth/argon2_opslimit %lld is outside [%d, 64]: using %d",
                  (long long) ops, CUSTOMER_PASSWORD_OPSLIMIT_MIN, CUSTOMER_PASSWORD_OPSLIMIT_MIN);
        ops = CUSTOMER_PASSWORD_OPSLIMIT_MIN;
    }
    if (mem < (int64_t) CUSTOMER_PASSWORD_MEMLIMIT_MIN || mem > (int64_t) 4096 * 1024 * 1024) {
        log_warn (NULL, "auth/argon2_memlimit %lld is outside [%u, 4 GiB]: using %u",
                  (long long) mem, CUSTOMER_PASSWORD_MEMLIMIT_MIN, CUSTOMER_PASSWORD_MEMLIMIT_MIN);
        mem = CUSTOMER_PASSWORD_MEMLIMIT_MIN;
    }
    customer_password_cost_t cost = { (unsigned long long) ops, (size_t) mem };
    return cost;
}

//  --------------------------------------------------------------------------

int
customer_password_hash (const customer_password_cost_t *cost, const char *password, char *out)
{
    s_work_t work = { cost, password, NULL, out, -1, 0 };
    return s_work_beating (&work) == 0 ? 0 : -1;
}

//  --------------------------------------------------------------------------

bool
customer_password_verify (const char *hash, const char *password)
{
    if (!hash || !password || strncmp (hash, "$argon2id$", 10) != 0)
        return false;
    s_work_t work = { NULL, password, hash, NULL, -1, 0 };
    return s_work_beating (&work) == 0;
}

//  --------------------------------------------------------------------------

bool
customer_password_needs_rehash (const char *hash, const customer_password_cost_t *cost)
{
    return crypto_pwhash_str_needs_rehash (hash, cost->opslimit, cost->memlimit) != 0;
}

//  --------------------------------------------------------------------------

void
customer_password_test (bool verbose)
{
    printf (" * customer_password: ");
    assert (sodium_init () >= 0);
    settings_t *settings = settings_load (NULL);
    customer_password_cost_t cost = customer_password_cost (settings);
    assert (cost.opslimit >= 2 && cost.memlimit >= 19u * 1024u * 1024u);
    char hash [crypto_pwhash_STRBYTES];
    assert (customer_password_hash (&cost, "correct horse battery", hash) == 0);
    assert (strncmp (hash, "$argon2id$v=19$m=19456,t=2,p=1$", 31) == 0);
    assert (customer_password_verify (hash, "correct horse battery"));
    assert (!customer_password_verify (hash, "correct horse batterY"));
    assert (!customer_password_verify (hash, ""));
    assert (!customer_password_needs_rehash (hash, &cost));
    customer_password_cost_t stronger = { 3, cost.memlimit };
    assert (customer_password_needs_rehash (hash, &stronger));
    //  the same password twice: two salts, two hashes
    char again [crypto_pwhash_STRBYTES];
    assert (customer_password_hash (&cost, "correct horse battery", again) == 0);
    assert (!streq (hash, again));
    //  anything but Argon2id never matches
    char argon2i [crypto_pwhash_STRBYTES];
    assert (crypto_pwhash_str_alg (argon2i, "pw", 2, 3, cost.memlimit, crypto_pwhash_ALG_ARGON2I13) == 0);
    assert (!customer_password_verify (argon2i, "pw"));
    assert (!customer_password_verify ("plain", "plain"));
    settings_destroy (&settings);
    if (verbose)
        printf ("(argon2id, m=19 MiB t=2) ");
    printf ("OK\n");
}
