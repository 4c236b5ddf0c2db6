/*  =========================================================================
    edge_cache - the edge's response cache for public catalog reads

    A hash (key -> entry) for lookups and a list in recency order for the
    bound: the list's head is the least recently used entry, a hit moves
    its entry to the tail, and a full cache drops the head. Each entry is
    one allocation holding its bookkeeping, its key and its body, so a
    store costs one malloc and a removal one free; the hash uses the key
    inside the entry instead of a copy of its own.

    Services are few (one per context named in the route table), each with
    its generation; entries point at their service, so an invalidation is
    one walk over the list. Writes are rare next to reads: a walk over ten
    thousand entries at each write costs less than keeping a list per
    service in step on every read. See edge_cache.h.
    =========================================================================
*/
#include "edge_cache.h"

#include <czmq.h>
#include <string.h>

typedef struct {
    uint64_t generation;
} service_t;

typedef struct {
    edge_cache_entry_t view;        //  what lookups return
    char *key;                      //  inside this allocation
    service_t *service;             //  belongs to the services hash
    void *handle;                   //  in the recency list
    size_t bytes;                   //  key and body, counted against max_bytes
} entry_t;

struct _edge_cache_t {
    zhashx_t *entries;              //  key -> entry_t (owned through the list walk)
    zlistx_t *recency;              //  entry_t, least recently used first
    zhashx_t *services;             //  name -> service_t (owned)
    size_t max_entries;
    size_t max_body;
    size_t max_bytes;
    size_t bytes;                   //  held now
    uint64_t removed [EDGE_CACHE_REASONS];
};

//  --------------------------------------------------------------------------
//  Create a cache.

edge_cache_t *
edge_cache_new (size_t max_entries, size_t max_body, size_t max_bytes)
{
    edge_cache_t *self = (edge_cache_t *) zmalloc (sizeof (edge_cache_t));
    self->entries = zhashx_new ();
    self->recency = zlistx_new ();
    self->services = zhashx_new ();
    if (!self->entries || !self->recency || !self->services) {
        edge_cache_destroy (&self);
        return NULL;
    }
    //  Keys live inside their entries: no copy, no separate free.
    zhashx_set_key_duplicator (self->entries, NULL);
    zhashx_set_key_destructor (self->entries, NULL);
    zhashx_set_destructor (self->services, (zhashx_destructor_fn *) zstr_free);
    self->max_entries = max_entries;
    self->max_body = max_body;
    self->max_bytes = max_bytes;
    return self;
}

//  --------------------------------------------------------------------------
//  Destroy the cache and every entry.

void
edge_cache_destroy (edge_cache_t **self_p)
{
    assert (self_p);
    edge_cache_t *self = *self_p;
    if (!self)
        return;
    if (self->recency) {
        entry_t *entry = (entry_t *) zlistx_first (self->recency);
        while (entry) {
            free (entry);
            entry = (entry_t *) zlistx_next (self->recency);
        }
    }
    zlistx_destroy (&self->recency);
    zhashx_destroy (&self->entries);
    zhashx_destroy (&self->services);
    free (self);
    *self_p = NULL;
}

//  --------------------------------------------------------------------------
//  The service record, created at first sight. NULL on allocation failure.

static service_t *
s_service_require (edge_cache_t *self, const char *name)
{
    service_t *service = (service_t *) zhashx_lookup (self->services, name);
    if (!service) {
        service = (service_t *) zmalloc (sizeof (service_t));
        if (zhashx_insert (self->services, name, service) != 0) {
            free (service);
            return NULL;
        }
    }
    return service;
}

//  --------------------------------------------------------------------------
//  Remove one entry, counting why.

static void
s_entry_remove (edge_cache_t *self, entry_t *entry, edge_cache_reason_t reason)
{
    zlistx_delete (self->recency, entry->handle);
    zhashx_delete (self->entries, entry->key);
    self->removed [reason]++;
    self->bytes -= entry->bytes;
    free (entry);
}

//  --------------------------------------------------------------------------
//  The generation of a service.

uint64_t
edge_cache_generation (edge_cache_t *self, const char *service)
{
    assert (self);
    assert (service);
    service_t *record = (service_t *) zhashx_lookup (self->services, service);
    return record ? record->generation : 0;
}

//  --------------------------------------------------------------------------
//  Keep a body.

int
edge_cache_store (edge_cache_t *self, const char *key, const char *service,
                  uint64_t generation, int64_t ttl_ms, const char *content_type,
                  const char *body, size_t body_size, int64_t now)
{
    assert (self);
    assert (key);
    assert (service);
    if (ttl_ms <= 0 || self->max_entries == 0 || body_size > self->max_body
    || (body_size > 0 && !body))
        return -1;
    size_t key_size = strlen (key) + 1;
    if (key_size + body_size > self->max_bytes)
        return -1;
    service_t *record = s_service_require (self, service);
    if (!record || generation != record->generation)
        return -1;                  //  a write came between the read and its answer

    entry_t *entry = (entry_t *) malloc (sizeof (entry_t) + key_size + body_size);
    if (!entry)
        return -1;
    entry->key = (char *) (entry + 1);
    memcpy (entry->key, key, key_size);
    char *copy = entry->key + key_size;
    if (body_size)
        memcpy (copy, body, body_size);
    entry->view.body = copy;
    entry->view.body_size = body_size;
    entry->view.content_type = content_type;
    entry->view.stored_at = now;
    entry->view.expires_at = now + ttl_ms;
    entry->service = record;
    entry->bytes = key_size + body_size;

    entry_t *old = (entry_t *) zhashx_lookup (self->entries, key);
    if (old) {                      //  a newer answer for the same key
        zlistx_delete (self->recency, old->handle);
        zhashx_delete (self->entries, old->key);
        self->bytes -= old->bytes;
        free (old);
    }
    while (zhashx_size (self->entries) >= self->max_entries
       ||  self->bytes + entry->bytes > self->max_bytes) {
        entry_t *oldest = (entry_t *) zlistx_first (self->recency);
        if (!oldest)
            break;
        s_entry_remove (self, oldest, EDGE_CACHE_EVICTED);
    }
    entry->handle = zlistx_add_end (self->recency, entry);
    if (!entry->handle) {
        free (entry);
        return -1;
    }
    if (zhashx_insert (self->entries, entry->key, entry) != 0) {
        zlistx_delete (self->recency, entry->handle);
        free (entry);
        return -1;
    }
    self->bytes += entry->bytes;
    return 0;
}

//  --------------------------------------------------------------------------
//  Find a live entry.

const edge_cache_entry_t *
edge_cache_lookup (edge_cache_t *self, const char *key, int64_t now)
{
    assert (self);
    assert (key);
    entry_t *entry = (entry_t *) zhashx_lookup (self->entries, key);
    if (!entry)
        return NULL;
    if (now >= entry->view.expires_at) {
        s_entry_remove (self, entry, EDGE_CACHE_EXPIRED);
        return NULL;
    }
    zlistx_move_end (self->recency, entry->handle);
    return &entry->view;
}

//  --------------------------------------------------------------------------
//  Drop a service's entries.

size_t
edge_cache_invalidate (edge_cache_t *self, const char *service)
{
    assert (self);
    assert (service);
    service_t *record = s_service_require (self, service);
    if (!record)
        return 0;
    record->generation++;
    size_t dropped = 0;
    entry_t *entry = (entry_t *) zlistx_first (self->recency);
    while (entry) {
        //  Step past the entry before removing it: the cursor stays valid.
        entry_t *next = (entry_t *) zlistx_next (self->recency);
        if (entry->service == record) {
            s_entry_remove (self, entry, EDGE_CACHE_INVALIDATED);
            dropped++;
        }
        entry = next;
    }
    return dropped;
}

//  --------------------------------------------------------------------------
//  Remove the expired entries.

size_t
edge_cache_sweep (edge_cache_t *self, int64_t now)
{
    assert (self);
    size_t removed = 0;
    entry_t *entry = (entry_t *) zlistx_first (self->recency);
    while (entry) {
        entry_t *next = (entry_t *) zlistx_next (self->recency);
        if (now >= entry->view.expires_at) {
            s_entry_remove (self, entry, EDGE_CACHE_EXPIRED);
            removed++;
        }
        entry = next;
    }
    return removed;
}

//  --------------------------------------------------------------------------

size_t
edge_cache_size (edge_cache_t *self)
{
    assert (self);
    return zhashx_size (self->entries);
}

size_t
edge_cache_bytes (edge_cache_t *self)
{
    assert (self);
    return self->bytes;
}

uint64_t
edge_cache_removed (edge_cache_t *self, edge_cache_reason_t reason)
{
    assert (self);
    return (unsigned) reason < EDGE_CACHE_REASONS ? self->removed [reason] : 0;
}

//  --------------------------------------------------------------------------
//  Self test

void
edge_cache_test (bool verbose)
{
    (void) verbose;
    printf (" * edge_cache: ");
    const char *json = "application/json";

    //  A body comes back as stored, until its TTL
    edge_cache_t *cache = edge_cache_new (3, 16, 1 << 20);
    assert (cache);
    assert (edge_cache_lookup (cache, "a", 0) == NULL);
    assert (edge_cache_store (cache, "a", "product", 0, 100, json, "{\"id\":1}", 8, 1000) == 0);
    const edge_cache_entry_t *hit = edge_cache_lookup (cache, "a", 1050);
    assert (hit);
    assert (hit->body_size == 8 && memcmp (hit->body, "{\"id\":1}", 8) == 0);
    assert (hit->content_type == json);
    assert (hit->stored_at == 1000 && hit->expires_at == 1100);
    assert (edge_cache_lookup (cache, "a", 1099));
    //  TTL expiry: gone at the deadline, removed by the lookup itself
    assert (edge_cache_lookup (cache, "a", 1100) == NULL);
    assert (edge_cache_size (cache) == 0);
    assert (edge_cache_removed (cache, EDGE_CACHE_EXPIRED) == 1);

    //  No TTL, no store; an empty body is a body
    assert (edge_cache_store (cache, "z", "product", 0, 0, json, "x", 1, 0) == -1);
    assert (edge_cache_store (cache, "z", "product", 0, -5, json, "x", 1, 0) == -1);
    assert (edge_cache_store (cache, "e", "product", 0, 10, json, NULL, 0, 0) == 0);
    assert (edge_cache_lookup (cache, "e", 5)->body_size == 0);
    assert (edge_cache_invalidate (cache, "product") == 1);
    assert (edge_cache_size (cache) == 0);

    //  Body bound: over max_body is not stored, exactly max_body is
    assert (edge_cache_store (cache, "big", "product", 1, 100, json, "0123456789abcdefX", 17, 0) == -1);
    assert (edge_cache_lookup (cache, "big", 0) == NULL);
    assert (edge_cache_store (cache, "max", "product", 1, 100, json, "0123456789abcdef", 16, 0) == 0);
    assert (edge_cache_lookup (cache, "max", 0)->body_size == 16);

    //  Storing under the same key replaces the entry
    assert (edge_cache_store (cache, "max", "product", 1, 100, json, "new", 3, 10) == 0);
    assert (edge_cache_size (cache) == 1);
    hit = edge_cache_lookup (cache, "max", 20);
    assert (hit && hit->body_size == 3 && memcmp (hit->body, "new", 3) == 0 && hit->stored_at == 10);
    edge_cache_destroy (&cache);
    assert (cache == NULL);

    //  LRU bound: the least recently used leaves first
    cache = edge_cache_new (3, 1024, 1 << 20);
    assert (edge_cache_store (cache, "1", "product", 0, 1000, json, "one", 3, 0) == 0);
    assert (edge_cache_store (cache, "2", "product", 0, 1000, json, "two", 3, 0) == 0);
    assert (edge_cache_store (cache, "3", "product", 0, 1000, json, "three", 5, 0) == 0);
    assert (edge_cache_lookup (cache, "1", 1));         //  1 is now the most recent
    assert (edge_cache_store (cache, "4", "product", 0, 1000, json, "four", 4, 2) == 0);
    assert (edge_cache_size (cache) == 3);
    assert (edge_cache_removed (cache, EDGE_CACHE_EVICTED) == 1);
    assert (edge_cache_lookup (cache, "2", 3) == NULL); //  the oldest untouched one left
    assert (edge_cache_lookup (cache, "1", 3));
    assert (edge_cache_lookup (cache, "3", 3));
    assert (edge_cache_lookup (cache, "4", 3));
    //  A long run stays within the bound
    for (int i = 0; i < 1000; i++) {
        char key [16];
        snprintf (key, sizeof key, "k%d", i);
        assert (edge_cache_store (cache, key, "product", 0, 1000, json, key, strlen (key), 10) == 0);
        assert (edge_cache_size (cache) <= 3);
    }
    assert (edge_cache_lookup (cache, "k999", 11) && edge_cache_lookup (cache, "k997", 11));
    assert (edge_cache_lookup (cache, "k996", 11) == NULL);
    edge_cache_destroy (&cache);

    //  Bytes bound: keys and bodies in all; the least recently used leave
    cache = edge_cache_new (100, 1024, 100);
    char body [64];
    memset (body, 'x', sizeof body);
    assert (edge_cache_store (cache, "a", "product", 0, 1000, json, body, 40, 0) == 0);
    assert (edge_cache_bytes (cache) == 42);            //  "a" and its NUL, 40 bytes
    assert (edge_cache_store (cache, "b", "product", 0, 1000, json, body, 40, 0) == 0);
    assert (edge_cache_bytes (cache) == 84);
    assert (edge_cache_store (cache, "c", "product", 0, 1000, json, body, 40, 0) == 0);
    assert (edge_cache_bytes (cache) == 84);            //  "a" left for "c"
    assert (edge_cache_lookup (cache, "a", 1) == NULL);
    assert (edge_cache_lookup (cache, "b", 1) && edge_cache_lookup (cache, "c", 1));
    assert (edge_cache_removed (cache, EDGE_CACHE_EVICTED) == 1);
    //  Replacing an entry counts its new size only
    assert (edge_cache_store (cache, "c", "product", 0, 1000, json, body, 10, 0) == 0);
    assert (edge_cache_bytes (cache) == 54);
    //  An entry bigger than the whole budget is refused, and evicts nothing
    assert (edge_cache_store (cache, "d", "product", 0, 1000, json, body, 64, 0) == 0);
    assert (edge_cache_store (cache, "toolong", "product", 0, 1000, json, body, 95, 0) == -1);
    assert (edge_cache_bytes (cache) <= 100 && edge_cache_lookup (cache, "d", 1));
    size_t held = edge_cache_size (cache);
    assert (held == 2);
    assert (edge_cache_invalidate (cache, "product") == held);
    assert (edge_cache_bytes (cache) == 0);
    edge_cache_destroy (&cache);

    //  A cache of no entries keeps nothing
    cache = edge_cache_new (0, 1024, 1 << 20);
    assert (edge_cache_store (cache, "1", "product", 0, 1000, json, "one", 3, 0) == -1);
    assert (edge_cache_size (cache) == 0);
    edge_cache_destroy (&cache);

    //  Invalidation by service: only that service's entries leave
    cache = edge_cache_new (100, 1024, 1 << 20);
    assert (edge_cache_generation (cache, "product") == 0);
    assert (edge_cache_store (cache, "p1", "product", 0, 1000, json, "p1", 2, 0) == 0);
    assert (edge_cache_store (cache, "p2", "product", 0, 1000, json, "p2", 2, 0) == 0);
    assert (edge_cache_store (cache, "i1", "inventory", 0, 1000, json, "i1", 2, 0) == 0);
    //  A read sent now, answered after the write below
    uint64_t before_write = edge_cache_generation (cache, "product");
    assert (edge_cache_invalidate (cache, "product") == 2);
    assert (edge_cache_removed (cache, EDGE_CACHE_INVALIDATED) == 2);
    assert (edge_cache_lookup (cache, "p1", 1) == NULL);
    assert (edge_cache_lookup (cache, "p2", 1) == NULL);
    assert (edge_cache_lookup (cache, "i1", 1));
    assert (edge_cache_generation (cache, "product") == before_write + 1);
    assert (edge_cache_generation (cache, "inventory") == 0);
    //  ...is not stored: it may have read the state before the write
    assert (edge_cache_store (cache, "p1", "product", before_write, 1000, json, "old", 3, 2) == -1);
    assert (edge_cache_lookup (cache, "p1", 2) == NULL);
    //  a read sent after the write is
    assert (edge_cache_store (cache, "p1", "product", before_write + 1, 1000, json, "new", 3, 2) == 0);
    assert (edge_cache_lookup (cache, "p1", 3));
    //  Invalidating a service with no entries only bumps its generation
    assert (edge_cache_invalidate (cache, "cart") == 0);
    assert (edge_cache_generation (cache, "cart") == 1);

    //  The sweep removes the expired entries, and only them
    assert (edge_cache_store (cache, "short", "product", 1, 10, json, "s", 1, 100) == 0);
    assert (edge_cache_store (cache, "long", "product", 1, 5000, json, "l", 1, 100) == 0);
    size_t before = edge_cache_size (cache);
    assert (edge_cache_sweep (cache, 1200) == before - 1);     //  all but "long"
    assert (edge_cache_size (cache) == 1);
    assert (edge_cache_lookup (cache, "long", 1200));
    assert (edge_cache_sweep (cache, 5100) == 1);
    assert (edge_cache_size (cache) == 0);
    edge_cache_destroy (&cache);
    printf ("OK\n");
}
