/*  =========================================================================
    redisdb - the Redis helper every context may use

    Why it is built this way:

    - hiredis's synchronous context, one per actor: an actor handles one
      request at a time, so a blocking call with a short timeout is the
      simplest thing that is correct. Nothing is shared between threads.
    - A connection that failed once (refused, reset, timed out) is freed at
      once: after a timeout hiredis may still deliver the late reply to the
      next command, which would then read someone else's answer. A fresh
      connection never mixes replies.
    - After a failed connect we wait retry_pause_ms before trying again, so
      that while Redis is down every request fails in microseconds rather
      than each paying the connect timeout.
    - Scripts: the server computes the SHA1 (SCRIPT LOAD), we keep it and use
      EVALSHA; NOSCRIPT (the server restarted or flushed its scripts) runs
      the source with EVAL, which caches it again, and the SHA is kept.
    =========================================================================
*/
#include "redisdb.h"
#include "logline.h"

#include <czmq.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REDISDB_MAX_SCRIPTS 16
#define REDISDB_MAX_ARGS    64

typedef struct {
    char *name;
    char *source;
    char sha [41];              //  "" until loaded
} s_script_t;

struct _redisdb_t {
    char *host;
    int port;
    int connect_timeout_ms;
    int command_timeout_ms;
    int retry_pause_ms;
    redisContext *context;      //  NULL when not connected
    int64_t next_attempt;       //  zclock_mono () before which we do not reconnect
    char error [256];
    s_script_t scripts [REDISDB_MAX_SCRIPTS];
    int nscripts;
};

//  --------------------------------------------------------------------------

redisdb_t *
redisdb_new (const char *host, int port, int connect_timeout_ms, int command_timeout_ms)
{
    if (!host || !*host || port <= 0 || port > 65535)
        return NULL;
    redisdb_t *self = (redisdb_t *) zmalloc (sizeof (redisdb_t));
    if (!self)
        return NULL;
    self->host = strdup (host);
    if (!self->host) {
        free (self);
        return NULL;
    }
    self->port = port;
    self->connect_timeout_ms = connect_timeout_ms > 0 ? connect_timeout_ms : 200;
    self->command_timeout_ms = command_timeout_ms > 0 ? command_timeout_ms : 500;
    self->retry_pause_ms = 100;
    return self;
}

//  --------------------------------------------------------------------------

void
redisdb_destroy (redisdb_t **self_p)
{
    if (self_p && *self_p) {
        redisdb_t *self = *self_p;
        if (self->context)
            redisFree (self->context);
        for (int i = 0; i < self->nscripts; i++) {
            free (self->scripts [i].name);
            free (self->scripts [i].source);
        }
        free (self->host);
        free (self);
        *self_p = NULL;
    }
}

//  --------------------------------------------------------------------------

void
redisdb_set_retry_pause (redisdb_t *self, int pause_ms)
{
    self->retry_pause_ms = pause_ms > 0 ? pause_ms : 0;
}

//  --------------------------------------------------------------------------

static struct timeval
s_timeval (int ms)
{
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
    return tv;
}

//  --------------------------------------------------------------------------
//  Drop a failed connection; the next call reconnects.
static void
s_drop (redisdb_t *self, const char *why)
{
    if (self->context) {
        snprintf (self->error, sizeof self->error, "%s: %s", why,
                  self->context->err ? self->context->errstr : "connection lost");
        redisFree (self->context);
        self->context = NULL;
        log_warn (NULL, "redis %s:%d: %s", self->host, self->port, self->error);
    }
    else
        snprintf (self->error, sizeof self->error, "%s", why);
}

//  --------------------------------------------------------------------------

int
redisdb_connect (redisdb_t *self)
{
    if (self->context)
        return 0;
    int64_t now = zclock_mono ();
    if (now < self->next_attempt) {
        snprintf (self->error, sizeof self->error, "redis %s:%d is unavailable (retrying shortly)",
                  self->host, self->port);
        return -1;
    }
    redisContext *context = redisConnectWithTimeout (self->host, self->port,
                                                     s_timeval (self->connect_timeout_ms));
    if (!context || context->err) {
        snprintf (self->error, sizeof self->error, "cannot connect to redis %s:%d: %s",
                  self->host, self->port, context ? context->errstr : "out of memory");
        if (context)
            redisFree (context);
        self->next_attempt = now + self->retry_pause_ms;
        return -1;
    }
    if (redisSetTimeout (context, s_timeval (self->command_timeout_ms)) != REDIS_OK) {
        snprintf (self->error, sizeof self->error, "cannot set the redis timeout");
        redisFree (context);
        self->next_attempt = now + self->retry_pause_ms;
        return -1;
    }
    self->context = context;
    self->error [0] = 0;
    return 0;
}

//  --------------------------------------------------------------------------

bool
redisdb_connected (redisdb_t *self)
{
    return self->context != NULL;
}

//  --------------------------------------------------------------------------

const char *
redisdb_error (redisdb_t *self)
{
    return self->error;
}

//  --------------------------------------------------------------------------

redisReply *
redisdb_command (redisdb_t *self, int argc, const char **argv, const size_t *argvlen)
{
    if (argc < 1 || !argv)
        return NULL;
    if (redisdb_connect (self))
        return NULL;
    redisReply *reply = (redisReply *) redisCommandArgv (self->context, argc, argv, argvlen);
    if (!reply || self->context->err) {
        if (reply)
            freeReplyObject (reply);
        s_drop (self, "redis command failed");
        return NULL;
    }
    return reply;
}

//  --------------------------------------------------------------------------

redisReply *
redisdb_commandv (redisdb_t *self, const char *arg, ...)
{
    const char *argv [REDISDB_MAX_ARGS];
    int argc = 0;
    va_list args;
    va_start (args, arg);
    while (arg && argc < REDISDB_MAX_ARGS) {
        argv [argc++] = arg;
        arg = va_arg (args, const char *);
    }
    va_end (args);
    if (arg)
        return NULL;            //  too many arguments
    return redisdb_command (self, argc, argv, NULL);
}

//  --------------------------------------------------------------------------

int
redisdb_script (redisdb_t *self, const char *name, const char *source)
{
    if (!name || !source || self->nscripts >= REDISDB_MAX_SCRIPTS)
        return -1;
    for (int i = 0; i < self->nscripts; i++)
        if (streq (self->scripts [i].name, name))
            return -1;
    s_script_t *script = &self->scripts [self->nscripts];
    script->name = strdup (name);
    script->source = strdup (source);
    script->sha [0] = 0;
    if (!script->name || !script->source) {
        free (script->name);
        free (script->source);
        return -1;
    }
    self->nscripts++;
    return 0;
}

//  --------------------------------------------------------------------------

static redisReply *
s_eval (redisdb_t *self, const char *verb, const char *first, int numkeys, int argc, const char **args)
{
    const char *argv [REDISDB_MAX_ARGS];
    char count [16];
    snprintf (count, sizeof count, "%d", numkeys);
    argv [0] = verb;
    argv [1] = first;
    argv [2] = count;
    for (int i = 0; i < argc; i++)
        argv [3 + i] = args [i];
    return redisdb_command (self, argc + 3, argv, NULL);
}

//  --------------------------------------------------------------------------

redisReply *
redisdb_eval (redisdb_t *self, const char *name, int numkeys, int argc, const char **args)
{
    if (numkeys < 0 || argc < numkeys || argc + 3 > REDISDB_MAX_ARGS || (argc && !args))
        return NULL;
    s_script_t *script = NULL;
    for (int i = 0; i < self->nscripts; i++)
        if (streq (self->scripts [i].name, name))
            script = &self->scripts [i];
    if (!script) {
        snprintf (self->error, sizeof self->error, "no script named %s", name);
        return NULL;
    }
    if (!script->sha [0]) {
        redisReply *loaded = redisdb_commandv (self, "SCRIPT", "LOAD", script->source, NULL);
        if (!loaded)
            return NULL;
        if (loaded->type == REDIS_REPLY_STRING && loaded->len == 40) {
            memcpy (script->sha, loaded->str, 40);
            script->sha [40] = 0;
        }
        else
        if (loaded->type == REDIS_REPLY_ERROR)
            return loaded;      //  a syntax error in the script: the caller sees it
        freeReplyObject (loaded);
    }
    redisReply *reply = NULL;
    if (script->sha [0]) {
        reply = s_eval (self, "EVALSHA", script->sha, numkeys, argc, args);
        if (!reply || reply->type != REDIS_REPLY_ERROR || strncmp (reply->str, "NOSCRIPT", 8) != 0)
            return reply;
        freeReplyObject (reply);
        script->sha [0] = 0;    //  load it again next time
    }
    return s_eval (self, "EVAL", script->source, numkeys, argc, args);
}

//  --------------------------------------------------------------------------

int
redisdb_parse_address (const char *address, char *host, size_t host_size, int *port)
{
    if (!address)
        return -1;
    const char *colon = strrchr (address, ':');
    if (!colon || colon == address || (size_t) (colon - address) >= host_size)
        return -1;
    char *end = NULL;
    long value = strtol (colon + 1, &end, 10);
    if (!colon [1] || *end || value <= 0 || value > 65535)
        return -1;
    memcpy (host, address, (size_t) (colon - address));
    host [colon - address] = 0;
    *port = (int) value;
    return 0;
}

//  --------------------------------------------------------------------------
//  Self test: against COMPTOIR_TEST_REDIS when set (its own keys, removed
//  at the end), and the failure paths against a closed port always.
void
redisdb_test (bool verbose)
{
    printf (" * redisdb: ");
    char host [128];
    int port = 0;
    assert (redisdb_parse_address ("127.0.0.1:6380", host, sizeof host, &port) == 0);
    assert (streq (host, "127.0.0.1") && port == 6380);
    assert (redisdb_parse_address ("127.0.0.1", host, sizeof host, &port) == -1);
    assert (redisdb_parse_address (":6380", host, sizeof host, &port) == -1);
    assert (redisdb_parse_address ("h:0", host, sizeof host, &port) == -1);
    assert (redisdb_parse_address ("h:12x", host, sizeof host, &port) == -1);
    assert (redisdb_new ("127.0.0.1", 0, 0, 0) == NULL);

    //  Nobody listens on port 1: the call fails fast with a reason, and
    //  during the pause the next one fails without trying.
    redisdb_t *away = redisdb_new ("127.0.0.1", 1, 200, 200);
    assert (away);
    int64_t started = zclock_mono ();
    assert (redisdb_commandv (away, "PING", NULL) == NULL);
    assert (strstr (redisdb_error (away), "cannot connect"));
    assert (redisdb_commandv (away, "PING", NULL) == NULL);
    assert (strstr (redisdb_error (away), "retrying"));
    assert (zclock_mono () - started < 1000);
    assert (!redisdb_connected (away));
    redisdb_destroy (&away);
    assert (away == NULL);

    const char *address = getenv ("COMPTOIR_TEST_REDIS");
    if (!address || redisdb_parse_address (address, host, sizeof host, &port)) {
        printf ("(no COMPTOIR_TEST_REDIS: Redis part skipped) OK\n");
        return;
    }
    redisdb_t *db = redisdb_new (host, port, 200, 500);
    assert (db);
    redisdb_set_retry_pause (db, 0);
    char key [64];
    snprintf (key, sizeof key, "redisdb_test:%d", getpid ());

    redisReply *reply = redisdb_commandv (db, "SET", key, "one", "EX", "60", NULL);
    assert (reply && reply->type == REDIS_REPLY_STATUS);
    freeReplyObject (reply);
    //  Binary-safe arguments
    const char *argv [] = { "SET", key, "a\0b" };
    size_t argvlen [] = { 3, strlen (key), 3 };
    reply = redisdb_command (db, 3, argv, argvlen);
    assert (reply && reply->type == REDIS_REPLY_STATUS);
    freeReplyObject (reply);
    reply = redisdb_commandv (db, "GET", key, NULL);
    assert (reply && reply->type == REDIS_REPLY_STRING && reply->len == 3 && reply->str [1] == 0);
    freeReplyObject (reply);
    //  An error Redis answers is a reply, not a failure
    reply = redisdb_commandv (db, "INCR", key, NULL);
    assert (reply && reply->type == REDIS_REPLY_ERROR);
    freeReplyObject (reply);
    assert (redisdb_connected (db));

    //  The server closes our connection: one call may fail, then the next
    //  reconnects by itself.
    reply = redisdb_commandv (db, "CLIENT", "ID", NULL);
    assert (reply && reply->type == REDIS_REPLY_INTEGER);
    char id [32];
    snprintf (id, sizeof id, "%lld", reply->integer);
    freeReplyObject (reply);
    redisdb_t *killer = redisdb_new (host, port, 200, 500);
    reply = redisdb_commandv (killer, "CLIENT", "KILL", "ID", id, NULL);
    assert (reply && reply->type == REDIS_REPLY_INTEGER && reply->integer == 1);
    freeReplyObject (reply);
    redisdb_destroy (&killer);
    reply = redisdb_commandv (db, "PING", NULL);
    if (!reply) {
        if (verbose)
            printf ("(dropped: %s) ", redisdb_error (db));
        reply = redisdb_commandv (db, "PING", NULL);
    }
    assert (reply && reply->type == REDIS_REPLY_STATUS && streq (reply->str, "PONG"));
    freeReplyObject (reply);

    //  Scripts: EVALSHA, then EVAL when the server does not know the SHA
    assert (redisdb_script (db, "incrby", "return redis.call('INCRBY', KEYS[1], ARGV[1])") == 0);
    assert (redisdb_script (db, "incrby", "return 0") == -1);
    assert (redisdb_script (db, "broken", "return (") == 0);
    const char *args [] = { key, "5" };
    reply = redisdb_commandv (db, "SET", key, "10", NULL);
    freeReplyObject (reply);
    reply = redisdb_eval (db, "incrby", 1, 2, args);
    assert (reply && reply->type == REDIS_REPLY_INTEGER && reply->integer == 15);
    freeReplyObject (reply);
    //  As if the server had forgotten it (a restart, SCRIPT FLUSH): an
    //  unknown SHA gets NOSCRIPT, and we run the source. (No SCRIPT FLUSH
    //  here: the test Redis is shared.)
    assert (strlen (db->scripts [0].sha) == 40);
    memset (db->scripts [0].sha, 'f', 40);
    reply = redisdb_eval (db, "incrby", 1, 2, args);
    assert (reply && reply->type == REDIS_REPLY_INTEGER && reply->integer == 20);
    freeReplyObject (reply);
    reply = redisdb_eval (db, "incrby", 1, 2, args);
    assert (reply && reply->type == REDIS_REPLY_INTEGER && reply->integer == 25);
    //  ...and the real SHA was loaded again
    assert (strlen (db->scripts [0].sha) == 40 && strspn (db->scripts [0].sha, "f") < 40);
    freeReplyObject (reply);
    reply = redisdb_eval (db, "broken", 0, 0, NULL);
    assert (reply && reply->type == REDIS_REPLY_ERROR);
    freeReplyObject (reply);
    assert (redisdb_eval (db, "missing", 0, 0, NULL) == NULL);

    reply = redisdb_commandv (db, "DEL", key, NULL);
    freeReplyObject (reply);
    redisdb_destroy (&db);
    if (verbose)
        printf ("(verbose) ");
    printf ("OK\n");
}
