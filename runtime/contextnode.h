/*  =========================================================================
    contextnode - the main of every bounded context's process

    `comptoir-<context> --instance N` hosts a few worker actors of one
    context. Each actor owns its own Majordomo worker (a DEALER to the
    broker, registered for the context's service name) and whatever state
    the context's make_state gives it (its PostgreSQL or Redis connection).
    A request is dispatched by verb through the context's table: one handler
    per verb, from request envelope to reply envelope. The node checks the
    envelope before the handler runs (kind, verb known, deadline not past),
    counts requests and latency per verb, and restarts an actor that fails.
    =========================================================================
*/
#ifndef COMPTOIR_CONTEXTNODE_H
#define COMPTOIR_CONTEXTNODE_H

#include "envelope.h"
#include "settings.h"

//  A handler gets the request and the actor's state; it returns the reply
//  (never NULL: use envelope_new_error).
typedef envelope_t *(contextnode_verb_fn) (const envelope_t *request, void *state);

typedef struct {
    const char *verb;                 //  "product.get"
    contextnode_verb_fn *handler;
} contextnode_verb_t;

typedef struct {
    const char *name;                 //  "product": also the Majordomo service name
    const contextnode_verb_t *verbs;  //  ends with {NULL, NULL}
    //  Per-actor state, built in the actor's thread. NULL on failure.
    void *(*make_state) (settings_t *settings, int instance, int actor);
    void (*free_state) (void **state_p);
} contextnode_def_t;

//  Parse the command line (--config, --instance, --actors, --help), load
//  settings, start the actors, and run until SIGINT/SIGTERM.
//  Returns the process exit code.
int contextnode_main (int argc, char **argv, const contextnode_def_t *def);

//  Dispatch one request through the table (checks verb and deadline).
//  Exposed for tests. Takes no ownership.
envelope_t *contextnode_dispatch (const contextnode_def_t *def, const envelope_t *request, void *state);

//  For a handler that waits on another context: sends the heartbeat of the
//  Majordomo worker of the calling actor's thread when one is due, so the
//  broker does not take the busy worker for dead. Matches
//  mdp_client_waiting_fn: give it to mdp_client_set_waiting (arg unused).
//  Returns milliseconds until it is next due; -1 in a thread that runs no
//  worker (a sweep, a test), where it does nothing.
int contextnode_keepalive (void *arg);

void contextnode_test (bool verbose);

#endif
