/*  Launcher tests: the supervisor's restart strategy (backoff, restart
    intensity, clean stop) and the launcher's plan and keys. */
#include "testrunner.h"

#include "launcher.h"
#include "supervisor.h"

static const testrunner_case_t s_cases [] = {
    { "supervisor", supervisor_test },
    { "launcher", launcher_test },
    { NULL, NULL }
};

int
main (int argc, char **argv)
{
    return testrunner_main (argc, argv, s_cases, 60);
}
