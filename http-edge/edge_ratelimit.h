/*  =========================================================================
    edge_ratelimit - request counters per consumer (or client address),
    in windows of a second, a minute, an hour and a day

    Each key (a consumer's name, a client's address) has one counter per
    window. A window opens at the key's first request after the previous
    one closed and lasts its length (1 s, 60 s, 3600 s, 86400 s): within
    it, at most the limit is let through. A request is counted in every
    window at once, and only when every window has room, so a refused
    request uses up nothing.

    Exact under concurrency by construction: the edge is one event loop,
    so take() is never run twice at the same moment, and the decision and
    the count are one step. Requests that arrive together are let through
    up to the limit and not one more.

    Bounded: at most max_keys keys are held; keys whose windows are all
    closed leave at the caller's sweep. Not thread-safe. Times are
    milliseconds on any monotonic clock the caller chooses.
    =========================================================================
*/
#ifndef COMPTOIR_EDGE_RATELIMIT_H
#define COMPTOIR_EDGE_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    EDGE_RATELIMIT_SECOND = 0,
    EDGE_RATELIMIT_MINUTE = 1,
    EDGE_RATELIMIT_HOUR = 2,
    EDGE_RATELIMIT_DAY = 3,
    EDGE_RATELIMIT_WINDOWS = 4
} edge_ratelimit_window_t;

//  Limits of a key: limit [window] requests per window, 0 = no limit.
typedef struct {
    int64_t limit [EDGE_RATELIMIT_WINDOWS];
} edge_ratelimit_policy_t;

//  What a take() decided, and what the headers say.
typedef struct {
    bool allowed;
    int tightest;               //  the window of RateLimit-*: least remaining; -1 = none limited
    int64_t limit [EDGE_RATELIMIT_WINDOWS];         //  0 for windows without a limit
    int64_t remaining [EDGE_RATELIMIT_WINDOWS];     //  after this request
    int64_t reset_s [EDGE_RATELIMIT_WINDOWS];       //  seconds until the window closes (>= 1)
    int64_t retry_after_s;      //  refused: seconds until every full window has closed
} edge_ratelimit_result_t;

typedef struct _edge_ratelimit_t edge_ratelimit_t;

//  A table of at most max_keys keys. NULL on allocation failure.
edge_ratelimit_t *edge_ratelimit_new (size_t max_keys);

void edge_ratelimit_destroy (edge_ratelimit_t **self_p);

//  Count one request of key under policy at time now (ms), if every
//  limited window has room. Fills result either way. Returns 0, or -1
//  when the key is new and the table is full (after a sweep): the caller
//  decides (the edge refuses, so that a flood of addresses cannot
//  switch the limit off).
int edge_ratelimit_take (edge_ratelimit_t *self, const char *key,
                         const edge_ratelimit_policy_t *policy, int64_t now,
                         edge_ratelimit_result_t *result);

//  Give back a request taken at now (another limit refused it after this
//  one let it through).
void edge_ratelimit_give_back (edge_ratelimit_t *self, const char *key, int64_t now);

//  Remove the keys whose windows have all closed. Returns how many.
size_t edge_ratelimit_sweep (edge_ratelimit_t *self, int64_t now);

size_t edge_ratelimit_size (edge_ratelimit_t *self);

//  "Second", "Minute", "Hour", "Day" (for X-RateLimit-Limit-<Window>),
//  and "second"... (for settings paths).
const char *edge_ratelimit_window_name (int window);
const char *edge_ratelimit_window_setting (int window);

//  Length of a window in milliseconds.
int64_t edge_ratelimit_window_ms (int window);

//  True when the policy limits at least one window.
bool edge_ratelimit_policy_active (const edge_ratelimit_policy_t *policy);

void edge_ratelimit_test (bool verbose);

#endif
