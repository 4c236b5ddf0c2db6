/*  =========================================================================
    comptoir - the launcher: `comptoir up` runs and supervises the system

    Everything is in launcher.c (the plan, keys, the command line) and
    supervisor.c (the restart strategy), so the tests exercise the same code.
    =========================================================================
*/
#include "launcher.h"

int
main (int argc, char **argv)
{
    return launcher_main (argc, argv);
}
