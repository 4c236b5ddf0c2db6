/*  =========================================================================
    edge_redislimit - rate-limit counters shared by several edges, in Redis

    One script does the whole decision inside Redis: read every window's
    count, refuse if one is full (counting nothing), else INCR each and
    start its expiry on the first request. Redis runs a script with no
    other command in between, which is what makes the limit exact across
    edges; two round trips (GET then INCR from the edge) would not be.
    The connection is runtime/redisdb's: short timeouts, dropped on any
    failure, retried after a pause. See edge_redislimit.h.
    =========================================================================
*/
#include "edge_redislimit.h"
#include "logline.h"
#include "redisdb.h"

#include <czmq.h>
#include <pthread.h>
#include <sodium.h>
#include <string.h>

//  KEYS: one per limited window. ARGV, four for each key: limit, window
//  ms, floor, floor ms. A floor is what this edge let through while Redis
//  could not answer (0: nothing): the count is raised to it first (kept
//  for floor ms when the window was closed here), so those requests still
//  count. Returns {allowed (1/0), count1, pttl1, count2, pttl2...}.
static const char *s_take_script =
    "local n = #KEYS\n"
    "for i = 1, n do\n"
    "  local floor = tonumber (ARGV [4 * i - 1])\n"
    "  local now = tonumber (redis.call ('GET', KEYS [i]) or '0')\n"
    "  if floor > now then\n"
    "    if now > 0 and redis.call ('PTTL', KEYS [i]) > 0 then\n"
    "      redis.call ('SET', KEYS [i], floor, 'KEEPTTL')\n"
    "    else\n"
    "      redis.call ('SET', KEYS [i], floor, 'PX', ARGV [4 * i])\n"
    "    end\n"
    "  end\n"
    "end\n"
    "for i = 1, n do\n"
    "  if tonumber (redis.call ('GET', KEYS [i]) or '0') >= tonumber (ARGV [4 * i - 3]) then\n"
    "    local out = {0}\n"
    "    for j = 1, n do\n"
    "      out [#out + 1] = tonumber (redis.call ('GET', KEYS [j]) or '0')\n"
    "      out [#out + 1] = redis.call ('PTTL', KEYS [j])\n"
    "    end\n"
    "    return out\n"
    "  end\n"
    "end\n"
    "local out = {1}\n"
    "for i = 1, n do\n"
    "  local count = redis.call ('INCR', KEYS [i])\n"
    "  local ttl = redis.call ('PTTL', KEYS [i])\n"
    "  if count == 1 or ttl < 0 then\n"
    "    redis.call ('PEXPIRE', KEYS [i], ARGV [4 * i - 2])\n"
    "    ttl = tonumber (ARGV [4 * i - 2])\n"
    "  end\n"
    "  out [#out + 1] = count\n"
    "  out [#out + 1] = ttl\n"
    "end\n"
    "return out\n";

//  KEYS: the windows to give one request back to.
static const char *s_give_back_script =
    "for i = 1, #KEYS do\n"
    "  if tonumber (redis.call ('GET', KEYS [i]) or '0') > 0 then redis.call ('DECR', KEYS [i]) end\n"
    "end\n"
    "return 1\n";

struct _edge_redislimit_t {
    redisdb_t *db;
    char *prefix;
    uint64_t fallbacks;
    bool warned;                //  the outage was logged
};

//  --------------------------------------------------------------------------

edge_redislimit_t *
edge_redislimit_new (const char *host, int port, const char *prefix, int connect_timeout_ms,
                     int command_timeout_ms, int retry_pause_ms)
{
    if (!prefix || !*prefix || strlen (prefix) > 64)
        return NULL;
    edge_redislimit_t *self = (edge_redislimit_t *) zmalloc (sizeof (edge_redislimit_t));
    self->db = redisdb_new (host, port, connect_timeout_ms, command_timeout_ms);
    self->prefix = strdup (prefix);
    if (!self->db || !self->prefix
    ||  redisdb_script (self->db, "take", s_take_script)
    ||  redisdb_script (self->db, "give_back", s_give_back_script)) {
        edge_redislimit_destroy (&self);
        return NULL;
    }
    redisdb_set_retry_pause (self->db, retry_pause_ms);
    return self;
}

void
edge_redislimit_destroy (edge_redislimit_t **self_p)
{
    assert (self_p);
    edge_redislimit_t *self = *self_p;
    if (!self)
        return;
    redisdb_destroy (&self->db);
    free (self->prefix);
    free (self);
    *self_p = NULL;
}

//  --------------------------------------------------------------------------
//  The keys of a request's limited windows: <prefix>:<key>:<window>.
//  Returns how many, with windows [i] the window of keys [i].

static int
s_keys (edge_redislimit_t *self, const char *key, const edge_ratelimit_policy_t *policy,
        char keys [EDGE_RATELIMIT_WINDOWS][400], int windows [EDGE_RATELIMIT_WINDOWS])
{
    int count = 0;
    for (int window = 0; window < EDGE_RATELIMIT_WINDOWS; window++) {
        if (policy->limit [window] <= 0)
            continue;
        snprintf (keys [count], 400, "%s:%.300s:%s", self->prefix, key,
                  edge_ratelimit_window_setting (window));
        windows [count++] = window;
    }
    return count;
}

//  --------------------------------------------------------------------------

int
edge_redislimit_take (edge_redislimit_t *self, const char *key, const edge_ratelimit_policy_t *policy,
                      const int64_t *floor, const int64_t *floor_ms, edge_ratelimit_result_t *result)
{
    assert (self);
    assert (key);
    assert (policy);
    assert (result);
    char keys [EDGE_RATELIMIT_WINDOWS][400];
    char values [4 * EDGE_RATELIMIT_WINDOWS][24];
    int windows [EDGE_RATELIMIT_WINDOWS];
    int count = s_keys (self, key, policy, keys, windows);
    if (count == 0) {
        memset (result, 0, sizeof *result);
        result->allowed = true;
        result->tightest = -1;
        return 0;
    }
    const char *args [5 * EDGE_RATELIMIT_WINDOWS];
    for (int i = 0; i < count; i++) {
        int w = windows [i];
        bool raise = floor && floor_ms && floor [w] > 0 && floor_ms [w] > 0;
        args [i] = keys [i];
        snprintf (values [4 * i], sizeof values [0], "%lld", (long long) policy->limit [w]);
        snprintf (values [4 * i + 1], sizeof values [0], "%lld", (long long) edge_ratelimit_window_ms (w));
        snprintf (values [4 * i + 2], sizeof values [0], "%lld", raise ? (long long) floor [w] : 0LL);
        snprintf (values [4 * i + 3], sizeof values [0], "%lld", raise ? (long long) floor_ms [w] : 1LL);
        for (int v = 0; v < 4; v++)
            args [count + 4 * i + v] = values [4 * i + v];
    }
    redisReply *reply = redisdb_eval (self->db, "take", count, 5 * count, args);
    bool ok = reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == (size_t) (1 + 2 * count);
    for (size_t i = 0; ok && i < reply->elements; i++)
        ok = reply->element [i]->type == REDIS_REPLY_INTEGER;
    if (!ok) {
        if (!self->warned)
            log_warn (NULL, "rate limits: Redis did not answer (%s): counting locally",
                      reply && reply->type == REDIS_REPLY_ERROR ? reply->str : redisdb_error (self->db));
        self->warned = true;
        self->fallbacks++;
        if (reply)
            freeReplyObject (reply);
        return -1;
    }
    if (self->warned)
        log_info (NULL, "rate limits: Redis answers again: shared counters");
    self->warned = false;
    memset (result, 0, sizeof *result);
    result->tightest = -1;
    result->allowed = reply->element [0]->integer == 1;
    for (int i = 0; i < count; i++) {
        int w = windows [i];
        int64_t counted = (int64_t) reply->element [1 + 2 * i]->integer;
        int64_t ttl_ms = (int64_t) reply->element [2 + 2 * i]->integer;
        if (ttl_ms <= 0)        //  no key yet (-2) or no expiry (-1): a whole window ahead
            ttl_ms = edge_ratelimit_window_ms (w);
        result->limit [w] = policy->limit [w];
        result->count [w] = counted;
        result->left_ms [w] = ttl_ms;
        result->remaining [w] = policy->limit [w] > counted ? policy->limit [w] - counted : 0;
        result->reset_s [w] = (ttl_ms + 999) / 1000;
        if (!result->allowed && counted >= policy->limit [w] && result->reset_s [w] > result->retry_after_s)
            result->retry_after_s = result->reset_s [w];
        int t = result->tightest;
        if (t < 0 || result->remaining [w] < result->remaining [t]
        ||  (result->remaining [w] == result->remaining [t]
             && (result->allowed ? result->reset_s [w] < result->reset_s [t]
                                 : result->reset_s [w] > result->reset_s [t])))
            result->tightest = w;
    }
    freeReplyObject (reply);
    return 0;
}

//  --------------------------------------------------------------------------

void
edge_redislimit_give_back (edge_redislimit_t *self, const char *key,
                           const edge_ratelimit_policy_t *policy)
{
    assert (self);
    char keys [EDGE_RATELIMIT_WINDOWS][400];
    int windows [EDGE_RATELIMIT_WINDOWS];
    int count = s_keys (self, key, policy, keys, windows);
    const char *args [EDGE_RATELIMIT_WINDOWS];
    for (int i = 0; i < count; i++)
        args [i] = keys [i];
    redisReply *reply = count ? redisdb_eval (self->db, "give_back", count, count, args) : NULL;
    if (reply)
        freeReplyObject (reply);
}

uint64_t
edge_redislimit_fallbacks (edge_redislimit_t *self)
{
    assert (self);
    return self->fallbacks;
}

//  --------------------------------------------------------------------------
//  Self test: two limiters on one Redis behave as one limit (two edges);
//  without Redis, take() fails fast so the caller counts locally. Needs
//  COMPTOIR_TEST_REDIS (host:port) for the shared part.

typedef struct {
    const char *host;
    int port;
    const char *prefix;
    int passed;                 //  added to atomically
} s_race_t;

static void *
s_race (void *args)
{
    s_race_t *race = (s_race_t *) args;
    edge_redislimit_t *edge = edge_redislimit_new (race->host, race->port, race->prefix, 500, 2000, 100);
    edge_ratelimit_policy_t policy = { { 0, 100, 0, 0 } };
    edge_ratelimit_result_t result;
    for (int i = 0; edge && i < 50; i++)
        if (edge_redislimit_take (edge, "race", &policy, NULL, NULL, &result) == 0 && result.allowed)
            __atomic_add_fetch (&race->passed, 1, __ATOMIC_SEQ_CST);
    edge_redislimit_destroy (&edge);
    return NULL;
}

void
edge_redislimit_test (bool verbose)
{
    printf (" * edge_redislimit: ");
    logline_init ("edge-test", verbose ? LOGLINE_DEBUG : LOGLINE_ERROR + 1);
    assert (edge_redislimit_new ("127.0.0.1", 6379, "", 10, 10, 100) == NULL);

    //  Redis away: a quick -1, and nothing is counted
    edge_redislimit_t *away = edge_redislimit_new ("127.0.0.1", 1, "test", 50, 50, 1000);
    assert (away);
    edge_ratelimit_policy_t policy = { { 0, 3, 0, 5 } };
    edge_ratelimit_result_t result;
    int64_t start = zclock_mono ();
    assert (edge_redislimit_take (away, "web", &policy, NULL, NULL, &result) == -1);
    assert (edge_redislimit_take (away, "web", &policy, NULL, NULL, &result) == -1);
    assert (zclock_mono () - start < 500);
    assert (edge_redislimit_fallbacks (away) == 2);
    edge_redislimit_give_back (away, "web", &policy);
    edge_redislimit_destroy (&away);

    const char *address = getenv ("COMPTOIR_TEST_REDIS");
    char host [256];
    int port = 0;
    if (!address || redisdb_parse_address (address, host, sizeof host, &port)) {
        printf ("OK (no COMPTOIR_TEST_REDIS: shared counters not tested)\n");
        return;
    }
    //  A prefix of our own, so that runs never meet
    char prefix [64];
    snprintf (prefix, sizeof prefix, "test:ratelimit:%08x", (unsigned) randombytes_random ());
    edge_redislimit_t *first = edge_redislimit_new (host, port, prefix, 200, 500, 100);
    edge_redislimit_t *second = edge_redislimit_new (host, port, prefix, 200, 500, 100);
    assert (first && second);
    //  Two edges, one limit of 3 a minute: 3 pass in all, not 3 each
    int passed = 0;
    for (int i = 0; i < 10; i++) {
        edge_redislimit_t *edge = i % 2 ? second : first;
        assert (edge_redislimit_take (edge, "web", &policy, NULL, NULL, &result) == 0);
        passed += result.allowed;
        if (i == 0) {
            assert (result.allowed && result.tightest == EDGE_RATELIMIT_MINUTE);
            assert (result.remaining [EDGE_RATELIMIT_MINUTE] == 2 && result.remaining [EDGE_RATELIMIT_DAY] == 4);
            assert (result.reset_s [EDGE_RATELIMIT_MINUTE] == 60);
            assert (result.limit [EDGE_RATELIMIT_HOUR] == 0);
        }
        if (i == 3) {
            assert (!result.allowed && result.remaining [EDGE_RATELIMIT_MINUTE] == 0);
            assert (result.retry_after_s >= 59 && result.retry_after_s <= 60);
            //  refused requests counted nowhere: the day still has 2
            assert (result.remaining [EDGE_RATELIMIT_DAY] == 2);
        }
    }
    assert (passed == 3);
    //  Give back one: one more passes
    edge_redislimit_give_back (first, "web", &policy);
    assert (edge_redislimit_take (second, "web", &policy, NULL, NULL, &result) == 0 && result.allowed);
    assert (edge_redislimit_take (first, "web", &policy, NULL, NULL, &result) == 0 && !result.allowed);
    //  Another key has its own counters; no limit at all passes
    assert (edge_redislimit_take (first, "pos", &policy, NULL, NULL, &result) == 0 && result.allowed);
    edge_ratelimit_policy_t none = { { 0, 0, 0, 0 } };
    assert (edge_redislimit_take (first, "pos", &none, NULL, NULL, &result) == 0 && result.allowed);
    assert (result.tightest == -1);
    //  The keys expire with their windows
    edge_ratelimit_policy_t burst = { { 2, 0, 0, 0 } };
    assert (edge_redislimit_take (first, "burst", &burst, NULL, NULL, &result) == 0 && result.allowed);
    assert (edge_redislimit_take (second, "burst", &burst, NULL, NULL, &result) == 0 && result.allowed);
    assert (edge_redislimit_take (first, "burst", &burst, NULL, NULL, &result) == 0 && !result.allowed);
    zclock_sleep (1100);
    assert (edge_redislimit_take (second, "burst", &burst, NULL, NULL, &result) == 0 && result.allowed);
    assert (edge_redislimit_fallbacks (first) == 0);
    //  Floors: what an edge let through alone while Redis was away counts
    //  when it is back; a floor under the shared count changes nothing
    edge_ratelimit_policy_t five = { { 0, 5, 0, 0 } };
    int64_t floor [EDGE_RATELIMIT_WINDOWS] = { 0, 3, 0, 0 };
    int64_t floor_ms [EDGE_RATELIMIT_WINDOWS] = { 0, 30000, 0, 0 };
    assert (edge_redislimit_take (first, "outage", &five, floor, floor_ms, &result) == 0 && result.allowed);
    assert (result.count [EDGE_RATELIMIT_MINUTE] == 4 && result.remaining [EDGE_RATELIMIT_MINUTE] == 1);
    assert (result.left_ms [EDGE_RATELIMIT_MINUTE] > 29000 && result.left_ms [EDGE_RATELIMIT_MINUTE] <= 30000);
    floor [EDGE_RATELIMIT_MINUTE] = 2;
    assert (edge_redislimit_take (second, "outage", &five, floor, floor_ms, &result) == 0 && result.allowed);
    assert (result.count [EDGE_RATELIMIT_MINUTE] == 5);
    assert (edge_redislimit_take (first, "outage", &five, NULL, NULL, &result) == 0 && !result.allowed);

    //  Exact under concurrency across edges: 8 threads, each an edge with
    //  its own connection, 50 requests each at once, 100 a minute: 100 pass
    s_race_t race = { host, port, prefix, 0 };
    pthread_t threads [8];
    for (int i = 0; i < 8; i++)
        assert (pthread_create (&threads [i], NULL, s_race, &race) == 0);
    for (int i = 0; i < 8; i++)
        pthread_join (threads [i], NULL);
    assert (race.passed == 100);

    //  Clean up our keys.
    redisdb_t *db = redisdb_new (host, port, 200, 500);
    const char *windows [] = { "second", "minute", "day", NULL };
    const char *names [] = { "web", "pos", "burst", "race", NULL };
    for (const char **name = names; *name; name++)
        for (const char **window = windows; *window; window++) {
            char key [200];
            snprintf (key, sizeof key, "%s:%s:%s", prefix, *name, *window);
            redisReply *reply = redisdb_commandv (db, "DEL", key, NULL);
            if (reply)
                freeReplyObject (reply);
        }
    redisdb_destroy (&db);
    edge_redislimit_destroy (&first);
    edge_redislimit_destroy (&second);
    printf ("OK\n");
}
