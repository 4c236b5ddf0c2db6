/*  =========================================================================
    supervisor - starts child processes and restarts those that die

    Erlang's one_for_one strategy for OS processes: each child that dies is
    restarted alone, after an exponential backoff (backoff_min_ms doubling up
    to backoff_max_ms, back to the minimum once the child has stayed up for
    stable_ms). A child that needs more than `intensity` restarts within
    `period_s` seconds is given up: the supervisor then stops every other
    child and reports failure, as an Erlang supervisor terminates itself and
    its children when its restart intensity is exceeded (there is no higher
    supervisor here, so the whole system stops and the exit code says why).

    One thread, no timers of its own: the caller drives supervisor_step, which
    sleeps in poll() on a self-pipe that the SIGCHLD/SIGTERM/SIGINT/SIGHUP
    handlers write to, so a death or a stop request wakes it at once.
    Each child runs in its own process group (a terminal's Ctrl-C reaches
    only the supervisor, which stops the children in reverse order) with its
    stdout and stderr appended to its own log file.
    =========================================================================
*/
#ifndef COMPTOIR_SUPERVISOR_H
#define COMPTOIR_SUPERVISOR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct _supervisor_t supervisor_t;

typedef struct {
    int intensity;              //  restarts allowed per child within period_s
    int period_s;
    int backoff_min_ms;
    int backoff_max_ms;
    int stable_ms;              //  up this long: the backoff starts again from the minimum
    int stop_timeout_ms;        //  SIGTERM, then SIGKILL after this long
    const char *status_path;    //  "name pid restarts" lines, rewritten on change (may be NULL)
} supervisor_config_t;

//  Defaults: 5 restarts in 30 s, backoff 100..5000 ms, stable 10 s, stop 5 s.
void supervisor_config_defaults (supervisor_config_t *config);

//  Create a supervisor. Installs the signal handlers (SIGCHLD, SIGTERM,
//  SIGINT, SIGHUP) of the process: one supervisor per process.
//  Returns NULL on failure.
supervisor_t *supervisor_new (const supervisor_config_t *config);

//  Stops the children still running (as supervisor_stop) and frees.
void supervisor_destroy (supervisor_t **self_p);

//  Add a child; it starts at the next step, in the order added. argv ends
//  with NULL; argv[0] is the program path (no PATH search). log_path may
//  be NULL (output to /dev/null). Returns 0, or -1 (bad arguments or
//  duplicate name).
int supervisor_add (supervisor_t *self, const char *name, char *const argv[], const char *log_path);

//  Wait up to timeout_ms for deaths, signals and due restarts, and act on
//  them. Returns 0 while running, 1 once a stop was requested by a signal
//  (the caller then calls supervisor_stop), -1 once a child was given up.
int supervisor_step (supervisor_t *self, int timeout_ms);

//  Run steps until a signal asks to stop or a child is given up, then stop
//  the children. Returns the exit code: 0 after a requested stop, 1 after
//  a give-up.
int supervisor_run (supervisor_t *self);

//  Stop every child in reverse order: SIGTERM to its process group, wait up
//  to stop_timeout_ms, then SIGKILL. No restarts afterwards.
void supervisor_stop (supervisor_t *self);

//  Ask the running loop to stop, as SIGTERM does (for tests).
void supervisor_request_stop (supervisor_t *self);

//  Pid of a child (0 when not running, -1 when unknown name).
pid_t supervisor_pid (supervisor_t *self, const char *name);

//  Number of restarts of a child (-1 when unknown name).
int supervisor_restarts (supervisor_t *self, const char *name);

//  True when the child was given up.
bool supervisor_gave_up (supervisor_t *self, const char *name);

void supervisor_test (bool verbose);

#endif
