/*  =========================================================================
    redisdb - the Redis helper every context may use

    One connection per actor (hiredis, synchronous). Connect and command
    timeouts are short and come from the caller's settings, so that when
    Redis is away a handler learns it within a fraction of a second and
    answers 503 instead of holding its worker. A failed connection is
    dropped at once and reopened on the next call (after a short pause, so
    that a dead server is not hammered by every request): the actor
    recovers by itself when Redis comes back. Lua scripts are registered by
    name and run with EVALSHA, falling back to EVAL when the server answers
    NOSCRIPT (after a restart or a SCRIPT FLUSH).
    =========================================================================
*/
#ifndef COMPTOIR_REDISDB_H
#define COMPTOIR_REDISDB_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct _redisdb_t redisdb_t;

//  Does not connect yet; the first call does. Timeouts in milliseconds
//  (<= 0 gives 200 ms to connect, 500 ms per command). Returns NULL only
//  on allocation failure.
redisdb_t *redisdb_new (const char *host, int port, int connect_timeout_ms, int command_timeout_ms);
void redisdb_destroy (redisdb_t **self_p);

//  After a failed connection, no new attempt before this many ms (default
//  100; 0 tries at every call). The calls meanwhile fail at once.
void redisdb_set_retry_pause (redisdb_t *self, int pause_ms);

//  Connect now if not connected. Returns 0 or -1.
int redisdb_connect (redisdb_t *self);

//  Whether a connection is open (it may still have died unnoticed).
bool redisdb_connected (redisdb_t *self);

//  Run one command given as arguments (binary safe; argvlen may be NULL
//  for C strings). Returns the reply (free it with freeReplyObject), which
//  may be of type REDIS_REPLY_ERROR for an error Redis answered; NULL when
//  Redis could not be reached or the connection failed (then the next
//  call reconnects, and redisdb_error says why).
redisReply *redisdb_command (redisdb_t *self, int argc, const char **argv, const size_t *argvlen);

//  Same with a NULL-terminated list of C strings.
redisReply *redisdb_commandv (redisdb_t *self, const char *arg, ...);

//  Register a Lua script under a name (kept here; loaded on first use).
//  Returns 0, or -1 when the table is full or name/source are bad.
int redisdb_script (redisdb_t *self, const char *name, const char *source);

//  Run a registered script: EVALSHA sha numkeys args..., and EVAL when the
//  server does not know the script. args holds the keys then the other
//  arguments (C strings). Returns as redisdb_command does.
redisReply *redisdb_eval (redisdb_t *self, const char *name, int numkeys, int argc, const char **args);

//  Why the last call failed ("" when it did not).
const char *redisdb_error (redisdb_t *self);

//  Parse "host:port" (as COMPTOIR_TEST_REDIS). Returns 0 or -1.
int redisdb_parse_address (const char *address, char *host, size_t host_size, int *port);

void redisdb_test (bool verbose);

#endif
