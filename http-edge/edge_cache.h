/*  =========================================================================
    edge_cache - the edge's response cache for public catalog reads

    Why a cache in the edge: a catalog read through the whole system costs
    about half a millisecond of CPU over five processes (edge, broker,
    worker, PostgreSQL, and back), while the answer changes rarely and is
    the same for every consumer. Keeping the last 200 answers of a few
    GET routes for about a second removes nearly all of that cost for the
    hot products, and a second of staleness is what the catalog accepts.

    The cache holds bodies, not responses: each hit still goes through the
    edge's whole answer path (API key, a new X-Request-ID, access log line,
    metrics), and only the context's part is skipped.

    Bounded on every axis: at most max_entries entries and max_bytes bytes
    of keys and bodies in all (the least recently used leave first, so a
    client asking for many distinct URLs only pushes entries out), no body
    over max_body bytes, and every entry leaves at its TTL, lazily when
    looked up and on the caller's periodic sweep.

    Consistency: every entry belongs to one service. A write through this
    edge drops every entry of its service (edge_cache_invalidate) and bumps
    the service's generation, so that a read sent before the write and
    answered after it is not stored (edge_cache_store refuses an answer
    whose generation is old). Writes through another edge, or straight to
    the database, are only bounded by the TTL.

    Not thread-safe: it belongs to the edge's one loop. Times are
    milliseconds on any monotonic clock the caller chooses (tests use
    their own).
    =========================================================================
*/
#ifndef COMPTOIR_EDGE_CACHE_H
#define COMPTOIR_EDGE_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _edge_cache_t edge_cache_t;

//  What a lookup finds. Valid until the next call that changes the cache
//  (store, invalidate, sweep, another lookup): copy the body before that.
typedef struct {
    const char *body;
    size_t body_size;
    const char *content_type;       //  as given to store (a static string)
    int64_t stored_at;              //  ms, the caller's clock
    int64_t expires_at;             //  ms
} edge_cache_entry_t;

//  Why entries left the cache, counted since it was created.
typedef enum {
    EDGE_CACHE_EVICTED = 0,         //  the least recently used, to make room
    EDGE_CACHE_EXPIRED = 1,         //  past their TTL
    EDGE_CACHE_INVALIDATED = 2,     //  a write to their service
    EDGE_CACHE_REASONS = 3
} edge_cache_reason_t;

//  A cache of at most max_entries bodies of at most max_body bytes each,
//  holding at most max_bytes of keys and bodies in all. Returns NULL on
//  allocation failure.
edge_cache_t *edge_cache_new (size_t max_entries, size_t max_body, size_t max_bytes);

void edge_cache_destroy (edge_cache_t **self_p);

//  The current generation of a service's entries (0 for a service never
//  invalidated). Take it before sending a read; give it back to store.
uint64_t edge_cache_generation (edge_cache_t *self, const char *service);

//  Keep a body under key for ttl_ms from now, for service. Copies key and
//  body. Replaces an entry with the same key. Returns 0, or -1 when it is
//  not stored: ttl_ms <= 0, a body over max_body, max_entries 0, key and
//  body over max_bytes, a
//  generation older than the service's current one, no memory.
int edge_cache_store (edge_cache_t *self, const char *key, const char *service,
                      uint64_t generation, int64_t ttl_ms, const char *content_type,
                      const char *body, size_t body_size, int64_t now);

//  The live entry under key, or NULL. An expired entry found here is
//  removed. A hit makes the entry the most recently used.
const edge_cache_entry_t *edge_cache_lookup (edge_cache_t *self, const char *key, int64_t now);

//  Drop every entry of a service and bump its generation. Returns how
//  many entries were dropped.
size_t edge_cache_invalidate (edge_cache_t *self, const char *service);

//  Remove every expired entry. Returns how many were removed.
size_t edge_cache_sweep (edge_cache_t *self, int64_t now);

//  Number of entries held (some may be expired until the next sweep).
size_t edge_cache_size (edge_cache_t *self);

//  Bytes of keys and bodies held.
size_t edge_cache_bytes (edge_cache_t *self);

//  Entries removed for a reason since the cache was created.
uint64_t edge_cache_removed (edge_cache_t *self, edge_cache_reason_t reason);

void edge_cache_test (bool verbose);

#endif
