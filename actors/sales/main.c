/*  =========================================================================
    comptoir-sales - the sales context's process (the stores' points of sale)

    Everything a context process does (command line, settings, worker
    actors, Majordomo registration, supervision of its actors) is in
    runtime/contextnode; the sales context brings its verb table and state.
    =========================================================================
*/
#include "sales_context.h"

int
main (int argc, char **argv)
{
    return contextnode_main (argc, argv, &sales_context_def);
}
