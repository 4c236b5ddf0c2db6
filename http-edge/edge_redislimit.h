/*  =========================================================================
    edge_redislimit - rate-limit counters shared by several edges, in Redis

    With edge/rate_limit_redis = 1, every edge counts in the same Redis
    keys, so a consumer's 100 a minute hold across all the edges behind a
    load balancer. The windows are the same as edge_ratelimit's (one per
    second, minute, hour, day; each opens at the first request counted in
    it): one key per (key, window), INCR and PEXPIRE on the first, all in
    one Lua script, which Redis runs atomically, so requests arriving
    together at different edges are let through up to the limit and not
    one more. A refused request counts nowhere.

    The call is synchronous with a short timeout (edge/rate_limit_redis_
    timeout_ms, a few milliseconds): the edge's loop waits at most that
    long for a request's counters. When Redis is away or slow, take()
    answers -1 at once (for edge/rate_limit_redis_retry_ms after a
    failure, no new attempt) and the caller counts locally: each edge then
    enforces the limit on its own until Redis is back, starting from the
    counts Redis last gave it (edge_ratelimit_raise), and hands what it let
    through meanwhile back to Redis with its next call (the floors).
    =========================================================================
*/
#ifndef COMPTOIR_EDGE_REDISLIMIT_H
#define COMPTOIR_EDGE_REDISLIMIT_H

#include "edge_ratelimit.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct _edge_redislimit_t edge_redislimit_t;

//  Counters under prefix in the Redis at host:port, with these timeouts
//  (milliseconds). Does not connect yet. NULL on bad arguments.
edge_redislimit_t *edge_redislimit_new (const char *host, int port, const char *prefix,
                                        int connect_timeout_ms, int command_timeout_ms,
                                        int retry_pause_ms);

void edge_redislimit_destroy (edge_redislimit_t **self_p);

//  Count one request of key under policy, if every limited window has
//  room; fills result as edge_ratelimit_take does. Returns 0, or -1 when
//  Redis could not answer (result is then untouched: count locally).
//  floor and floor_ms (per window, both NULL for none; from
//  edge_ratelimit_unsynced) raise the shared counts first to what this
//  edge let through on its own while Redis was away.
int edge_redislimit_take (edge_redislimit_t *self, const char *key, const edge_ratelimit_policy_t *policy,
                          const int64_t *floor, const int64_t *floor_ms, edge_ratelimit_result_t *result);

//  Give back a request taken (another limit refused it). Best effort.
void edge_redislimit_give_back (edge_redislimit_t *self, const char *key,
                                const edge_ratelimit_policy_t *policy);

//  Requests counted locally because Redis could not answer, so far.
uint64_t edge_redislimit_fallbacks (edge_redislimit_t *self);

void edge_redislimit_test (bool verbose);

#endif
