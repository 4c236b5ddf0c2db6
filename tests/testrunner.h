/*  =========================================================================
    testrunner - runs named tests, each in its own child process

    A CZMQ-style self-test asserts; one failed assert must not hide the
    others, so every test runs in a forked child and the runner reports
    "PASS: name" or "FAIL: name" from its exit status, then a summary.
    check.sh adds these lines up across every suite.
    =========================================================================
*/
#ifndef COMPTOIR_TESTRUNNER_H
#define COMPTOIR_TESTRUNNER_H

#include <stdbool.h>

typedef void (testrunner_fn) (bool verbose);

typedef struct {
    const char *name;
    testrunner_fn *fn;
} testrunner_case_t;

//  Runs every case (or those named on the command line; -v for verbose,
//  --list to list). Each case has timeout_s seconds. Returns the exit code:
//  0 all passed, 1 some failed, 77 when skip is true (nothing could run).
int testrunner_main (int argc, char **argv, const testrunner_case_t *cases, int timeout_s);

#endif
