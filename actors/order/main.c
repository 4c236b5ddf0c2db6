/*  =========================================================================
    comptoir-order - the order context's process

    Everything a context process does (command line, settings, worker
    actors, Majordomo registration, supervision of its actors) is in
    runtime/contextnode; the order context brings its verb table and state.
    =========================================================================
*/
#include "order_context.h"

int
main (int argc, char **argv)
{
    return contextnode_main (argc, argv, &order_context_def);
}
