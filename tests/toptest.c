/*  =========================================================================
    toptest - comptoir-top's view, without a broker or a terminal

    The model and the screen of comptoir-top (monitor/top_view.c) are
    plain functions from the broker's answers to lines of text, so their
    self-test runs here like any other class's.
    =========================================================================
*/
#include "testrunner.h"
#include "top_view.h"

static void
test_top_view_selftest (bool verbose)
{
    top_view_test (verbose);
}

static const testrunner_case_t s_cases [] = {
    { "top_view_selftest", test_top_view_selftest },
    { NULL, NULL }
};

int
main (int argc, char **argv)
{
    return testrunner_main (argc, argv, s_cases, 15);
}
