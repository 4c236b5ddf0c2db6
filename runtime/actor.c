/*  =========================================================================
    actor - a thread that owns its state, on CZMQ's zactor and zloop

    zactor gives the thread and the pipe; zloop gives fair polling and
    timers (DESIGN.md: zpoller serves sockets in list order, zloop does not).
    What this class adds is the life cycle every Comptoir actor needs: an
    init that can fail and say so to actor_new, a clean stop on $TERM, and a
    "FAILED" report when a handler gives up, so the parent can restart it.
    =========================================================================
*/
#include "actor.h"
#include "logline.h"

struct _actor_t {
    zactor_t *zactor;
    char *name;
};

typedef struct {
    actor_init_fn *init;
    actor_command_fn *command;
    actor_destroy_fn *destroy;
    void *args;
    const char *name;
} shim_t;

typedef struct {
    shim_t shim;
    void *state;
    bool terminated;            //  the parent said $TERM
} running_t;

//  --------------------------------------------------------------------------

static int
s_on_pipe (zloop_t *loop, zsock_t *pipe, void *arg)
{
    running_t *running = (running_t *) arg;
    zmsg_t *msg = zmsg_recv (pipe);
    if (!msg) {
        running->terminated = true;
        return -1;
    }
    zframe_t *first = zmsg_first (msg);
    if (first && zframe_streq (first, "$TERM")) {
        running->terminated = true;
        zmsg_destroy (&msg);
        return -1;
    }
    int rc = 0;
    if (running->shim.command)
        rc = running->shim.command (msg, pipe, running->state);
    zmsg_destroy (&msg);
    return rc;
}

//  Wait for $TERM: the parent always ends an actor with actor_destroy.
static void
s_wait_term (zsock_t *pipe)
{
    while (true) {
        char *command = zstr_recv (pipe);
        bool term = !command || streq (command, "$TERM");
        free (command);
        if (term)
            break;
    }
}

static void
s_actor (zsock_t *pipe, void *args)
{
    running_t running = { .shim = *(shim_t *) args };
    zloop_t *loop = zloop_new ();
    zsock_signal (pipe, 0);     //  releases zactor_new; our own status follows
    if (!loop || running.shim.init (loop, pipe, running.shim.args, &running.state) != 0) {
        zstr_send (pipe, "FAILED");
        zloop_destroy (&loop);
        s_wait_term (pipe);
        return;
    }
    zstr_send (pipe, "READY");
    zloop_reader (loop, pipe, s_on_pipe, &running);
    zloop_start (loop);
    if (!running.terminated) {
        log_warn (NULL, "actor %s failed", running.shim.name);
        zstr_send (pipe, "FAILED");
    }
    if (running.shim.destroy)
        running.shim.destroy (&running.state);
    zloop_destroy (&loop);
    if (!running.terminated)
        s_wait_term (pipe);
}

//  --------------------------------------------------------------------------

actor_t *
actor_new (const char *name, actor_init_fn *init, actor_command_fn *command,
           actor_destroy_fn *destroy, void *args)
{
    assert (init);
    actor_t *self = (actor_t *) zmalloc (sizeof (actor_t));
    if (!self)
        return NULL;
    self->name = strdup (name ? name : "actor");
    shim_t shim = { init, command, destroy, args, self->name };
    self->zactor = self->name ? zactor_new (s_actor, &shim) : NULL;
    char *status = self->zactor ? zstr_recv (self->zactor) : NULL;
    bool ready = status && streq (status, "READY");
    free (status);
    if (!ready)
        actor_destroy (&self);
    return self;
}

//  --------------------------------------------------------------------------

void
actor_destroy (actor_t **self_p)
{
    assert (self_p);
    actor_t *self = *self_p;
    if (self) {
        zactor_destroy (&self->zactor);
        free (self->name);
        free (self);
        *self_p = NULL;
    }
}

zsock_t *
actor_sock (actor_t *self)
{
    return zactor_sock (self->zactor);
}

const char *
actor_name (actor_t *self)
{
    return self->name;
}

//  --------------------------------------------------------------------------
//  Self test: a counter actor with a timer, commands, a failure and a stop.

typedef struct {
    int ticks;
    int *destroyed;
} counter_t;

static int
s_counter_tick (zloop_t *loop, int timer_id, void *arg)
{
    ((counter_t *) arg)->ticks++;
    return 0;
}

static int
s_counter_init (zloop_t *loop, zsock_t *pipe, void *args, void **state_p)
{
    int *mode = (int *) args;
    if (mode [0] == 1)
        return -1;                  //  "cannot start"
    counter_t *counter = (counter_t *) zmalloc (sizeof (counter_t));
    counter->destroyed = &mode [1];
    zloop_timer (loop, 5, 0, s_counter_tick, counter);
    *state_p = counter;
    return 0;
}

static int
s_counter_command (zmsg_t *msg, zsock_t *pipe, void *state)
{
    counter_t *counter = (counter_t *) state;
    char *command = zmsg_popstr (msg);
    int rc = 0;
    if (streq (command, "TICKS"))
        zstr_sendf (pipe, "%d", counter->ticks);
    else
    if (streq (command, "CRASH"))
        rc = -1;
    free (command);
    return rc;
}

static void
s_counter_destroy (void **state_p)
{
    counter_t *counter = (counter_t *) *state_p;
    if (counter) {
        (*counter->destroyed)++;
        free (counter);
        *state_p = NULL;
    }
}

void
actor_test (bool verbose)
{
    printf (" * actor: ");
    int mode [2] = { 0, 0 };

    //  Timers run; commands are answered; $TERM destroys the state
    actor_t *actor = actor_new ("counter", s_counter_init, s_counter_command,
                                s_counter_destroy, mode);
    assert (actor);
    assert (streq (actor_name (actor), "counter"));
    zclock_sleep (60);
    zstr_send (actor_sock (actor), "TICKS");
    char *ticks = zstr_recv (actor_sock (actor));
    assert (atoi (ticks) >= 3);
    free (ticks);
    actor_destroy (&actor);
    assert (actor == NULL);
    assert (mode [1] == 1);

    //  A failed init is reported to actor_new
    mode [0] = 1;
    actor = actor_new ("broken", s_counter_init, s_counter_command, s_counter_destroy, mode);
    assert (actor == NULL);

    //  A handler that gives up ends the actor with a FAILED report
    mode [0] = 0;
    actor = actor_new ("crashing", s_counter_init, s_counter_command, s_counter_destroy, mode);
    assert (actor);
    zstr_send (actor_sock (actor), "CRASH");
    char *report = zstr_recv (actor_sock (actor));
    assert (streq (report, "FAILED"));
    free (report);
    actor_destroy (&actor);
    assert (mode [1] == 2);
    if (verbose)
        printf ("(verbose) ");
    printf ("OK\n");
}
