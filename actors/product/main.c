/*  =========================================================================
    comptoir-product - the catalog context's process

    Everything a context process does (command line, settings, worker
    actors, Majordomo registration, supervision of its actors) is in
    runtime/contextnode; the catalog brings its verb table and state.
    =========================================================================
*/
#include "product_context.h"

int
main (int argc, char **argv)
{
    return contextnode_main (argc, argv, &product_context_def);
}
