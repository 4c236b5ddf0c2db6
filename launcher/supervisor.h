/*  =========================================================================
    supervisor - starts child processes and restarts those that die

    Erlang's one_for_one strategy for OS processes: each child that dies is
    restarted alone. A run shorter than stable_ms is a failed start (as
    supervisord's startsecs says): its death doubles the backoff (from
    backoff_min_ms up to backoff_max_ms) and counts toward the restart
    budget. A child that stayed up longer and then died (killed, or
    crashed after serving a while) is restarted after backoff_min_ms and
    costs no budget: killing workers at random under load is a normal day.
    A child with more than `intensity` failed starts within `period_s`
    seconds is held down alone for a cool-down (cooldown_ms,
    doubling at each hold in a row up to cooldown_max_ms, as Kubernetes'
    crash-loop back-off does), then tried again with a fresh budget. The
    other children keep running: a flapping context degrades the system,
    it never stops it (DESIGN.md). Erlang's supervisor would terminate
    itself here, but it has a higher supervisor to escalate to; ours has
    none, and halting every context for one would turn a bug in one
    worker into an outage of the whole shop.

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
    int stable_ms;              //  a shorter run is a failed start (backoff, budget)
    int stop_timeout_ms;        //  SIGTERM, then SIGKILL after this long
    int cooldown_ms;            //  first hold of a child over its budget
    int cooldown_max_ms;        //  longest hold (the hold doubles up to it)
    const char *status_path;    //  "name pid restarts state" lines, rewritten on change (may be NULL)
} supervisor_config_t;

//  Defaults: 5 failed starts in 30 s, backoff 100..5000 ms, stable 1 s, stop 5 s,
//  cool-down 30 s doubling up to 5 min.
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
//  (the caller then calls supervisor_stop).
int supervisor_step (supervisor_t *self, int timeout_ms);

//  Run steps until a signal asks to stop, then stop the children. Returns
//  the exit code: 0.
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

//  True while the child is held down for its cool-down.
bool supervisor_held (supervisor_t *self, const char *name);

//  Number of times the child was held down so far (-1 when unknown name).
int supervisor_holds (supervisor_t *self, const char *name);

void supervisor_test (bool verbose);

#endif
