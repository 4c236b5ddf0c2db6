/*  Unit tests: the self-test of every runtime class, and of the classes of
    the processes that need no database. */
#include "testrunner.h"

#include "actor.h"
#include "contextdb.h"
#include "contextnode.h"
#include "curvekeys.h"
#include "envelope.h"
#include "eventbus.h"
#include "logline.h"
#include "mdp_client.h"
#include "mdp_worker.h"
#include "metrics.h"
#include "pgdb.h"
#include "redisdb.h"
#include "request_input.h"
#include "salestax.h"
#include "settings.h"
#include "sidemetrics.h"

static const testrunner_case_t s_cases [] = {
    { "envelope", envelope_test },
    { "settings", settings_test },
    { "logline", logline_test },
    { "metrics", metrics_test },
    { "sidemetrics", sidemetrics_test },
    { "curvekeys", curvekeys_test },
    { "actor", actor_test },
    { "contextnode", contextnode_test },
    { "contextdb", contextdb_test },
    { "mdp_client", mdp_client_test },
    { "mdp_worker", mdp_worker_test },
    { "pgdb", pgdb_test },
    { "request_input", request_input_test },
    { "salestax", salestax_test },
    { "redisdb", redisdb_test },
    { "eventbus", eventbus_test },
    { NULL, NULL }
};

int
main (int argc, char **argv)
{
    return testrunner_main (argc, argv, s_cases, 120);
}
