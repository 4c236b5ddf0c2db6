/*  =========================================================================
    outbox_relay - publishes a context's outbox on the event bus, in order

    An actor with its own database connection, a timer and the context's
    eventbus publisher; it also answers replay requests from the outbox.
    Its integration test is tests/eventbus_it.c (it needs PostgreSQL).
    =========================================================================
*/
#ifndef COMPTOIR_OUTBOX_RELAY_H
#define COMPTOIR_OUTBOX_RELAY_H

#include "actor.h"
#include "settings.h"

//  Start a relay for context's outbox (the `outbox` table of conninfo's
//  database): every interval_ms it publishes unpublished rows in seq order
//  on publish_endpoint and marks them; replay_endpoint answers
//  "<context>.events_since". NULL when it cannot start (e.g. the endpoints
//  are taken by another relay). With keys_dir (NULL or "" = plain TCP), CURVE:
//  server key <keys_dir>/<context>-events, subscribers admitted from
//  <keys_dir>/allowed/.
actor_t *outbox_relay_new (const char *conninfo, const char *context, const char *publish_endpoint,
                           const char *replay_endpoint, int64_t interval_ms, const char *keys_dir);

//  The relay of a context as its settings say: <context>/events_publish,
//  <context>/events_replay, <context>/relay_ms (default 100) and keys/dir.
//  NULL, with a log line, when they are not set or it cannot start: the
//  events then wait in the outbox, and the context serves anyway.
actor_t *outbox_relay_start (settings_t *settings, const char *context, const char *conninfo);

#endif
