/*  =========================================================================
    edge_ratelimit - request counters per key in four fixed windows

    Why windows that open at a key's first request rather than on the
    clock's minute: a burst right before and after a clock boundary would
    pass twice the limit within a few seconds; a window of the key's own
    stays closed for its whole length once full. It is also the shape a
    shared counter in Redis takes (INCR, then EXPIRE on the first), should
    several edges share limits later.

    A zhashx maps each key to its counters; see edge_ratelimit.h.

    With shared counters in Redis (edge_redislimit), this table is their
    local copy: raise() after each shared decision, take() when Redis
    cannot answer, unsynced() to hand what was counted meanwhile back to
    Redis. Counting alone from zero during an outage would let a consumer
    through twice, once in Redis and once here.
    =========================================================================
*/
#include "edge_ratelimit.h"

#include <czmq.h>
#include <string.h>

typedef struct {
    int64_t start [EDGE_RATELIMIT_WINDOWS];     //  ms when the window opened
    int64_t count [EDGE_RATELIMIT_WINDOWS];     //  requests counted in it
    bool unsynced;              //  counted here since the last raise (shared store away)
} s_counter_t;

struct _edge_ratelimit_t {
    zhashx_t *counters;         //  key -> s_counter_t
    size_t max_keys;
};

static const int64_t s_window_ms [EDGE_RATELIMIT_WINDOWS] = {
    1000, 60 * 1000, 3600 * 1000, 86400 * 1000
};
static const char *s_window_names [EDGE_RATELIMIT_WINDOWS] = {
    "Second", "Minute", "Hour", "Day"
};
static const char *s_window_settings [EDGE_RATELIMIT_WINDOWS] = {
    "second", "minute", "hour", "day"
};

//  --------------------------------------------------------------------------

static void
s_counter_free (void **item)
{
    free (*item);
    *item = NULL;
}

edge_ratelimit_t *
edge_ratelimit_new (size_t max_keys)
{
    edge_ratelimit_t *self = (edge_ratelimit_t *) zmalloc (sizeof (edge_ratelimit_t));
    self->counters = zhashx_new ();
    self->max_keys = max_keys;
    if (!self->counters) {
        free (self);
        return NULL;
    }
    zhashx_set_destructor (self->counters, s_counter_free);
    return self;
}

void
edge_ratelimit_destroy (edge_ratelimit_t **self_p)
{
    assert (self_p);
    edge_ratelimit_t *self = *self_p;
    if (!self)
        return;
    zhashx_destroy (&self->counters);
    free (self);
    *self_p = NULL;
}

//  --------------------------------------------------------------------------

const char *
edge_ratelimit_window_name (int window)
{
    return window >= 0 && window < EDGE_RATELIMIT_WINDOWS ? s_window_names [window] : "";
}

const char *
edge_ratelimit_window_setting (int window)
{
    return window >= 0 && window < EDGE_RATELIMIT_WINDOWS ? s_window_settings [window] : "";
}

int64_t
edge_ratelimit_window_ms (int window)
{
    return window >= 0 && window < EDGE_RATELIMIT_WINDOWS ? s_window_ms [window] : 0;
}

bool
edge_ratelimit_policy_active (const edge_ratelimit_policy_t *policy)
{
    for (int w = 0; policy && w < EDGE_RATELIMIT_WINDOWS; w++)
        if (policy->limit [w] > 0)
            return true;
    return false;
}

//  --------------------------------------------------------------------------
//  A window whose time is over starts again at now.

static void
s_counter_roll (s_counter_t *counter, int64_t now)
{
    for (int w = 0; w < EDGE_RATELIMIT_WINDOWS; w++)
        if (counter->count [w] == 0 || now - counter->start [w] >= s_window_ms [w]
        ||  now < counter->start [w]) {     //  a clock that went back: start over
            counter->start [w] = now;
            counter->count [w] = 0;
        }
}

static bool
s_counter_idle (const s_counter_t *counter, int64_t now)
{
    for (int w = 0; w < EDGE_RATELIMIT_WINDOWS; w++)
        if (counter->count [w] > 0 && now - counter->start [w] < s_window_ms [w])
            return false;
    return true;
}

//  --------------------------------------------------------------------------
//  The counter of key, made when new (NULL when the table is full).

static s_counter_t *
s_counter_require (edge_ratelimit_t *self, const char *key, int64_t now)
{
    s_counter_t *counter = (s_counter_t *) zhashx_lookup (self->counters, key);
    if (counter)
        return counter;
    if (zhashx_size (self->counters) >= self->max_keys)
        edge_ratelimit_sweep (self, now);
    if (zhashx_size (self->counters) >= self->max_keys)
        return NULL;
    counter = (s_counter_t *) zmalloc (sizeof (s_counter_t));
    if (zhashx_insert (self->counters, key, counter) != 0) {
        free (counter);
        return NULL;
    }
    return counter;
}

//  --------------------------------------------------------------------------
//  Count a request.

int
edge_ratelimit_take (edge_ratelimit_t *self, const char *key,
                     const edge_ratelimit_policy_t *policy, int64_t now,
                     edge_ratelimit_result_t *result)
{
    assert (self);
    assert (key);
    assert (policy);
    assert (result);
    memset (result, 0, sizeof *result);
    result->tightest = -1;
    s_counter_t *counter = s_counter_require (self, key, now);
    if (!counter)
        return -1;
    s_counter_roll (counter, now);
    counter->unsynced = true;
    bool room = true;
    for (int w = 0; w < EDGE_RATELIMIT_WINDOWS; w++)
        if (policy->limit [w] > 0 && counter->count [w] >= policy->limit [w])
            room = false;
    result->allowed = room;
    for (int w = 0; w < EDGE_RATELIMIT_WINDOWS; w++) {
        if (room)
            counter->count [w]++;
        if (policy->limit [w] <= 0)
            continue;
        int64_t left_ms = counter->start [w] + s_window_ms [w] - now;
        result->count [w] = counter->count [w];
        result->left_ms [w] = left_ms > 0 ? left_ms : 1;
        result->limit [w] = policy->limit [w];
        result->remaining [w] = policy->limit [w] > counter->count [w]
                              ? policy->limit [w] - counter->count [w] : 0;
        result->reset_s [w] = left_ms > 0 ? (left_ms + 999) / 1000 : 1;
        if (!room && counter->count [w] >= policy->limit [w]
        &&  result->reset_s [w] > result->retry_after_s)
            result->retry_after_s = result->reset_s [w];
        //  The tightest: least remaining; among equals, the one that
        //  stays closed longer when refused, or reopens sooner otherwise.
        int t = result->tightest;
        if (t < 0 || result->remaining [w] < result->remaining [t]
        ||  (result->remaining [w] == result->remaining [t]
             && (room ? result->reset_s [w] < result->reset_s [t]
                      : result->reset_s [w] > result->reset_s [t])))
            result->tightest = w;
    }
    return 0;
}

//  --------------------------------------------------------------------------

int
edge_ratelimit_raise (edge_ratelimit_t *self, const char *key,
                      const edge_ratelimit_result_t *shared, int64_t now)
{
    assert (self);
    assert (key);
    assert (shared);
    s_counter_t *counter = s_counter_require (self, key, now);
    if (!counter)
        return -1;
    s_counter_roll (counter, now);
    for (int w = 0; w < EDGE_RATELIMIT_WINDOWS; w++) {
        if (shared->limit [w] <= 0 || shared->count [w] <= 0)
            continue;
        int64_t left = shared->left_ms [w] < s_window_ms [w] ? shared->left_ms [w] : s_window_ms [w];
        if (shared->count [w] >= counter->count [w]) {
            counter->count [w] = shared->count [w];
            counter->start [w] = now + left - s_window_ms [w];
        }
    }
    counter->unsynced = false;
    return 0;
}

//  --------------------------------------------------------------------------

bool
edge_ratelimit_unsynced (edge_ratelimit_t *self, const char *key, int64_t now,
                         int64_t count [EDGE_RATELIMIT_WINDOWS], int64_t left_ms [EDGE_RATELIMIT_WINDOWS])
{
    assert (self);
    s_counter_t *counter = key ? (s_counter_t *) zhashx_lookup (self->counters, key) : NULL;
    if (!counter || !counter->unsynced)
        return false;
    for (int w = 0; w < EDGE_RATELIMIT_WINDOWS; w++) {
        bool open = counter->count [w] > 0 && now >= counter->start [w]
                 && now - counter->start [w] < s_window_ms [w];
        count [w] = open ? counter->count [w] : 0;
        left_ms [w] = open ? counter->start [w] + s_window_ms [w] - now : 0;
    }
    return true;
}

//  --------------------------------------------------------------------------

void
edge_ratelimit_give_back (edge_ratelimit_t *self, const char *key, int64_t now)
{
    assert (self);
    s_counter_t *counter = key ? (s_counter_t *) zhashx_lookup (self->counters, key) : NULL;
    if (!counter)
        return;
    for (int w = 0; w < EDGE_RATELIMIT_WINDOWS; w++)
        if (counter->count [w] > 0 && now - counter->start [w] < s_window_ms [w])
            counter->count [w]--;
}

//  --------------------------------------------------------------------------

size_t
edge_ratelimit_sweep (edge_ratelimit_t *self, int64_t now)
{
    assert (self);
    zlistx_t *idle = zlistx_new ();
    if (!idle)
        return 0;
    s_counter_t *counter = (s_counter_t *) zhashx_first (self->counters);
    while (counter) {
        if (s_counter_idle (counter, now))
            zlistx_add_end (idle, (void *) zhashx_cursor (self->counters));
        counter = (s_counter_t *) zhashx_next (self->counters);
    }
    size_t removed = 0;
    for (const char *key = (const char *) zlistx_first (idle); key;
         key = (const char *) zlistx_next (idle)) {
        zhashx_delete (self->counters, key);
        removed++;
    }
    zlistx_destroy (&idle);
    return removed;
}

size_t
edge_ratelimit_size (edge_ratelimit_t *self)
{
    assert (self);
    return zhashx_size (self->counters);
}

//  --------------------------------------------------------------------------
//  Self test.

void
edge_ratelimit_test (bool verbose)
{
    printf (" * edge_ratelimit: ");
    edge_ratelimit_t *limits = edge_ratelimit_new (3);
    assert (limits);
    edge_ratelimit_policy_t policy = { { 0, 5, 8, 0 } };
    edge_ratelimit_result_t result;
    assert (edge_ratelimit_policy_active (&policy));
    edge_ratelimit_policy_t none = { { 0, 0, 0, 0 } };
    assert (!edge_ratelimit_policy_active (&none));
    int64_t t0 = 1000000;

    //  Exactly the limit passes in a minute, and not one more
    int passed = 0;
    for (int i = 0; i < 20; i++) {
        assert (edge_ratelimit_take (limits, "web", &policy, t0 + i * 100, &result) == 0);
        passed += result.allowed;
        if (i == 0) {
            assert (result.allowed && result.tightest == EDGE_RATELIMIT_MINUTE);
            assert (result.remaining [EDGE_RATELIMIT_MINUTE] == 4);
            assert (result.remaining [EDGE_RATELIMIT_HOUR] == 7);
            assert (result.limit [EDGE_RATELIMIT_SECOND] == 0 && result.limit [EDGE_RATELIMIT_DAY] == 0);
            assert (result.reset_s [EDGE_RATELIMIT_MINUTE] == 60);
            assert (result.reset_s [EDGE_RATELIMIT_HOUR] == 3600);
        }
        if (i == 5) {
            assert (!result.allowed && result.remaining [EDGE_RATELIMIT_MINUTE] == 0);
            assert (result.tightest == EDGE_RATELIMIT_MINUTE);
            assert (result.retry_after_s == 60);    //  59.5 s, rounded up
            assert (result.remaining [EDGE_RATELIMIT_HOUR] == 3);
        }
    }
    assert (passed == 5);
    //  Refused requests used nothing: after the minute, 3 more (the hour's 8)
    passed = 0;
    for (int i = 0; i < 10; i++) {
        edge_ratelimit_take (limits, "web", &policy, t0 + 60000 + i, &result);
        passed += result.allowed;
    }
    assert (passed == 3);
    assert (!result.allowed && result.tightest == EDGE_RATELIMIT_HOUR);
    assert (result.retry_after_s == 3540);      //  the hour window stays closed longest

    //  Other keys have their own counters; a policy without limits counts
    //  but never refuses
    edge_ratelimit_take (limits, "pos", &policy, t0, &result);
    assert (result.allowed && result.remaining [EDGE_RATELIMIT_MINUTE] == 4);
    edge_ratelimit_take (limits, "free", &none, t0, &result);
    assert (result.allowed && result.tightest == -1);

    //  Give back: a request another limit refused is not counted
    edge_ratelimit_take (limits, "pos", &policy, t0 + 1, &result);
    assert (result.remaining [EDGE_RATELIMIT_MINUTE] == 3);
    edge_ratelimit_give_back (limits, "pos", t0 + 1);
    edge_ratelimit_take (limits, "pos", &policy, t0 + 2, &result);
    assert (result.remaining [EDGE_RATELIMIT_MINUTE] == 3);
    edge_ratelimit_give_back (limits, "nobody", t0);

    //  The per-second window
    edge_ratelimit_policy_t burst = { { 2, 0, 0, 0 } };
    assert (edge_ratelimit_take (limits, "free", &burst, t0, &result) == 0);
    edge_ratelimit_take (limits, "free", &burst, t0 + 10, &result);
    assert (!result.allowed && result.retry_after_s == 1);
    edge_ratelimit_take (limits, "free", &burst, t0 + 1000, &result);
    assert (result.allowed && result.remaining [EDGE_RATELIMIT_SECOND] == 1);

    //  Full table: a new key is refused until the old ones are idle
    assert (edge_ratelimit_size (limits) == 3);
    assert (edge_ratelimit_take (limits, "new", &policy, t0 + 2000, &result) == -1);
    assert (edge_ratelimit_sweep (limits, t0 + 2000) == 0);
    //  a day later everything is idle
    assert (edge_ratelimit_take (limits, "new", &policy, t0 + 86400 * 1000LL + 1, &result) == 0);
    assert (result.allowed && edge_ratelimit_size (limits) == 1);

    //  A clock that goes back starts the windows again rather than
    //  refusing forever
    edge_ratelimit_take (limits, "new", &policy, t0, &result);
    assert (result.allowed && result.remaining [EDGE_RATELIMIT_MINUTE] == 4);

    //  A local copy of shared counters: raise takes the shared count and
    //  the shared window's end; counting alone goes on from there, and
    //  what was counted alone is handed back (unsynced) until the next raise
    edge_ratelimit_t *copy = edge_ratelimit_new (10);
    edge_ratelimit_policy_t ten = { { 0, 10, 0, 0 } };
    edge_ratelimit_result_t shared;
    memset (&shared, 0, sizeof shared);
    shared.limit [EDGE_RATELIMIT_MINUTE] = 10;
    shared.count [EDGE_RATELIMIT_MINUTE] = 7;
    shared.left_ms [EDGE_RATELIMIT_MINUTE] = 30000;
    int64_t floor [EDGE_RATELIMIT_WINDOWS], floor_ms [EDGE_RATELIMIT_WINDOWS];
    assert (edge_ratelimit_raise (copy, "web", &shared, t0) == 0);
    assert (!edge_ratelimit_unsynced (copy, "web", t0, floor, floor_ms));
    edge_ratelimit_take (copy, "web", &ten, t0 + 1000, &result);
    assert (result.allowed && result.remaining [EDGE_RATELIMIT_MINUTE] == 2);
    assert (result.reset_s [EDGE_RATELIMIT_MINUTE] == 29);
    assert (edge_ratelimit_unsynced (copy, "web", t0 + 1000, floor, floor_ms));
    assert (floor [EDGE_RATELIMIT_MINUTE] == 8 && floor_ms [EDGE_RATELIMIT_MINUTE] == 29000);
    //  A lower shared count does not lower ours
    shared.count [EDGE_RATELIMIT_MINUTE] = 5;
    assert (edge_ratelimit_raise (copy, "web", &shared, t0 + 1000) == 0);
    edge_ratelimit_take (copy, "web", &ten, t0 + 1001, &result);
    assert (result.count [EDGE_RATELIMIT_MINUTE] == 9);
    //  Once the window is over, nothing is left to hand back
    assert (edge_ratelimit_unsynced (copy, "web", t0 + 40000, floor, floor_ms));
    assert (floor [EDGE_RATELIMIT_MINUTE] == 0);
    edge_ratelimit_destroy (&copy);

    //  Names
    assert (streq (edge_ratelimit_window_name (EDGE_RATELIMIT_MINUTE), "Minute"));
    assert (streq (edge_ratelimit_window_setting (EDGE_RATELIMIT_DAY), "day"));
    assert (edge_ratelimit_window_ms (EDGE_RATELIMIT_HOUR) == 3600000);
    assert (streq (edge_ratelimit_window_name (9), ""));

    //  Many takes in a row stay exact (what the loop does under load)
    edge_ratelimit_t *big = edge_ratelimit_new (10);
    edge_ratelimit_policy_t hundred = { { 0, 100, 1000, 10000 } };
    passed = 0;
    for (int i = 0; i < 1000; i++) {
        edge_ratelimit_take (big, "exact", &hundred, t0 + i, &result);
        passed += result.allowed;
    }
    assert (passed == 100);
    edge_ratelimit_destroy (&big);
    edge_ratelimit_destroy (&limits);
    assert (limits == NULL);
    if (verbose)
        printf ("(windows, give back, bounds) ");
    printf ("OK\n");
}
