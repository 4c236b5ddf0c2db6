/*  =========================================================================
    edge_keys - the API keys of the consumers (web store, POS, apps)

    Keys come from the configuration only (edge/consumers/<name>/key, or
    key_file naming a file that holds it), never from the source. The table
    holds BLAKE2b hashes of the keys, not the keys: a lookup hashes the
    presented key and finds its consumer in O(1), then confirms with a
    constant-time compare, so the time taken tells nothing about how much
    of a guess was right.
    =========================================================================
*/
#ifndef COMPTOIR_EDGE_KEYS_H
#define COMPTOIR_EDGE_KEYS_H

#include "settings.h"

#include <stdbool.h>
#include <stddef.h>

//  Shortest and longest key accepted in the configuration.
#define EDGE_KEY_MIN  16
#define EDGE_KEY_MAX  256

typedef struct _edge_keys_t edge_keys_t;

edge_keys_t *edge_keys_new (void);
void edge_keys_destroy (edge_keys_t **self_p);

//  Add a consumer's key. Returns 0, or -1 when the key is too short or
//  long, or already belongs to another consumer.
int edge_keys_add (edge_keys_t *self, const char *consumer, const char *key);

//  Load every consumer under edge/consumers. A key_file that does not
//  exist is created with a new random key (mode 0600), so that a first
//  start has a working key that nobody compiled in. Returns the number of
//  consumers loaded, or -1 when one of them is broken.
int edge_keys_load (edge_keys_t *self, settings_t *settings);

//  The consumer owning key, or NULL. The string belongs to the table.
const char *edge_keys_lookup (edge_keys_t *self, const char *key);

size_t edge_keys_size (edge_keys_t *self);

void edge_keys_test (bool verbose);

#endif
