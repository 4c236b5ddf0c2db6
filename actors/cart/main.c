/*  =========================================================================
    comptoir-cart - the cart context's process

    Everything a context process does (command line, settings, worker
    actors, Majordomo registration, supervision of its actors) is in
    runtime/contextnode; the cart context brings its verb table and state.
    =========================================================================
*/
#include "cart_context.h"

//  --------------------------------------------------------------------------

int
main (int argc, char **argv)
{
    return contextnode_main (argc, argv, &cart_context_def);
}
