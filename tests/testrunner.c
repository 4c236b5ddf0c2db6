/*  =========================================================================
    testrunner - runs named tests, each in its own child process
    =========================================================================
*/
#include "testrunner.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

//  --------------------------------------------------------------------------
//  Run one case in a child; returns true when it exited 0 within the time.

static bool
s_run_case (const testrunner_case_t *tc, bool verbose, int timeout_s)
{
    fflush (stdout);
    fflush (stderr);
    pid_t pid = fork ();
    if (pid < 0) {
        perror ("fork");
        return false;
    }
    if (pid == 0) {
        alarm ((unsigned) timeout_s);
        tc->fn (verbose);
        fflush (stdout);
        _exit (0);
    }
    int status = 0;
    while (waitpid (pid, &status, 0) < 0) {
        if (errno != EINTR) {
            perror ("waitpid");
            return false;
        }
    }
    if (WIFEXITED (status) && WEXITSTATUS (status) == 0)
        return true;
    if (WIFSIGNALED (status))
        fprintf (stderr, "  %s: killed by signal %d%s\n", tc->name, WTERMSIG (status),
                 WTERMSIG (status) == SIGALRM ? " (timeout)" : "");
    else
        fprintf (stderr, "  %s: exit status %d\n", tc->name, WEXITSTATUS (status));
    return false;
}

//  --------------------------------------------------------------------------

static bool
s_selected (const char *name, int argc, char **argv)
{
    bool any = false;
    for (int i = 1; i < argc; i++) {
        if (argv [i][0] == '-')
            continue;
        any = true;
        if (strcmp (argv [i], name) == 0)
            return true;
    }
    return !any;
}

//  --------------------------------------------------------------------------

int
testrunner_main (int argc, char **argv, const testrunner_case_t *cases, int timeout_s)
{
    bool verbose = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp (argv [i], "-v") == 0)
            verbose = true;
        else
        if (strcmp (argv [i], "--list") == 0) {
            for (const testrunner_case_t *tc = cases; tc->name; tc++)
                printf ("%s\n", tc->name);
            return 0;
        }
        else
        if (strcmp (argv [i], "-h") == 0 || strcmp (argv [i], "--help") == 0) {
            printf ("usage: %s [-v] [--list] [test-name...]\n"
                    "Runs each test in its own process and prints PASS:/FAIL: lines.\n",
                    argv [0]);
            return 0;
        }
    }
    int passed = 0, failed = 0;
    for (const testrunner_case_t *tc = cases; tc->name; tc++) {
        if (!s_selected (tc->name, argc, argv))
            continue;
        struct timespec t0, t1;
        clock_gettime (CLOCK_MONOTONIC, &t0);
        bool ok = s_run_case (tc, verbose, timeout_s);
        clock_gettime (CLOCK_MONOTONIC, &t1);
        double secs = (double) (t1.tv_sec - t0.tv_sec) + (double) (t1.tv_nsec - t0.tv_nsec) / 1e9;
        printf ("%s: %s (%.2fs)\n", ok ? "PASS" : "FAIL", tc->name, secs);
        fflush (stdout);
        if (ok)
            passed++;
        else
            failed++;
    }
    printf ("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
