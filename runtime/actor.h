/*  =========================================================================
    actor - a thread that owns its state, on CZMQ's zactor and zloop

    The actor's body runs a zloop: the pipe to its parent is always in it,
    and the init function adds the actor's own sockets and timers. "$TERM"
    on the pipe ends the loop and destroys the state: a clean stop. When a
    handler returns -1 the loop ends too and the actor reports "FAILED" to
    its parent, which may restart it (see contextnode).
    =========================================================================
*/
#ifndef COMPTOIR_ACTOR_H
#define COMPTOIR_ACTOR_H

#include <czmq.h>

typedef struct _actor_t actor_t;

//  Called in the actor's thread. Create the state, add sockets and timers to
//  loop. Return 0, or -1 when the actor cannot start.
typedef int (actor_init_fn) (zloop_t *loop, zsock_t *pipe, void *args, void **state_p);
//  Called in the actor's thread when it stops.
typedef void (actor_destroy_fn) (void **state_p);
//  Called for a message from the parent other than $TERM. Return -1 to stop.
typedef int (actor_command_fn) (zmsg_t *msg, zsock_t *pipe, void *state);

//  Start an actor. Returns once init has run: NULL when init failed.
actor_t *actor_new (const char *name, actor_init_fn *init, actor_command_fn *command,
                    actor_destroy_fn *destroy, void *args);

//  Stop it ($TERM) and wait for the thread to end.
void actor_destroy (actor_t **self_p);

//  The parent's end of the pipe: send commands, read "FAILED" reports.
zsock_t *actor_sock (actor_t *self);

const char *actor_name (actor_t *self);

void actor_test (bool verbose);

#endif
