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
    int64_t count [EDGE_RATELIMIT_WINDOWS];         //  counted in the window, this request included
    int64_t left_ms [EDGE_RATELIMIT_WINDOWS];       //  milliseconds until the window closes
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

//  Shared counters (edge_redislimit) and this table work as one: after a
//  shared decision, raise copies its counts here (each window keeps the
//  larger count, and closes when the shared one does), so that when the
//  shared store cannot answer, counting here goes on from where it was
//  rather than from zero. Returns 0, or -1 when the table is full.
int edge_ratelimit_raise (edge_ratelimit_t *self, const char *key,
                          const edge_ratelimit_result_t *shared, int64_t now);

//  What was counted here and not yet given to the shared counters (the
//  requests let through while they could not answer): true, with each
//  window's count (0 when closed) and milliseconds left in floor. The next
//  shared decision raises the shared counts to at least these, so requests
//  let through during an outage still count once the store is back.
bool edge_ratelimit_unsynced (edge_ratelimit_t *self, const char *key, int64_t now,
                              int64_t count [EDGE_RATELIMIT_WINDOWS],
                              int64_t left_ms [EDGE_RATELIMIT_WINDOWS]);

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
