/*  Unit tests of the HTTP edge: route table, replies and request ids, API
    keys, the response cache, the merging of metrics texts, token
    verification (every forged case), rate limits, CORS, the supervisor's status file, and the server
    itself on free ports (the refusals it makes on its own, the 504 of a
    request that no context answers, then the cache and the /metrics
    fan-out against a fake broker). */
#include "testrunner.h"

#include "edge_cache.h"
#include "edge_cors.h"
#include "edge_jwt.h"
#include "edge_keys.h"
#include "edge_metrics.h"
#include "edge_ratelimit.h"
#include "edge_redislimit.h"
#include "edge_reply.h"
#include "edge_routes.h"
#include "edge_server.h"
#include "edge_supervision.h"

static const testrunner_case_t s_cases [] = {
    { "edge_routes", edge_routes_test },
    { "edge_reply", edge_reply_test },
    { "edge_keys", edge_keys_test },
    { "edge_cache", edge_cache_test },
    { "edge_metrics", edge_metrics_test },
    { "edge_jwt", edge_jwt_test },
    { "edge_ratelimit", edge_ratelimit_test },
    { "edge_redislimit", edge_redislimit_test },
    { "edge_cors", edge_cors_test },
    { "edge_supervision", edge_supervision_test },
    { "edge_server", edge_server_test },
    { NULL, NULL }
};

int
main (int argc, char **argv)
{
    return testrunner_main (argc, argv, s_cases, 60);
}
