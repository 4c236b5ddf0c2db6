/*  Unit tests of the HTTP edge: route table, replies and request ids, API
    keys, and the server itself on free ports (the refusals it makes on its
    own, and the 504 of a request that no context answers). */
#include "testrunner.h"

#include "edge_keys.h"
#include "edge_reply.h"
#include "edge_routes.h"
#include "edge_server.h"

static const testrunner_case_t s_cases [] = {
    { "edge_routes", edge_routes_test },
    { "edge_reply", edge_reply_test },
    { "edge_keys", edge_keys_test },
    { "edge_server", edge_server_test },
    { NULL, NULL }
};

int
main (int argc, char **argv)
{
    return testrunner_main (argc, argv, s_cases, 60);
}
