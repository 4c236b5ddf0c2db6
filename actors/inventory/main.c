/*  =========================================================================
    comptoir-inventory - the inventory context's process

    Everything a context process does (command line, settings, worker
    actors, Majordomo registration, supervision of its actors) is in
    runtime/contextnode; the inventory brings its verb table and state.
    =========================================================================
*/
#include "inventory_context.h"

int
main (int argc, char **argv)
{
    return contextnode_main (argc, argv, &inventory_context_def);
}
