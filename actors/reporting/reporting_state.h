/*  =========================================================================
    reporting_state - what each worker actor of the reporting context owns

    The verbs include this file and nothing of the context above them; only
    reporting_context.c builds the verb table (arrows point one way).
    =========================================================================
*/
#ifndef COMPTOIR_REPORTING_STATE_H
#define COMPTOIR_REPORTING_STATE_H

#include "actor.h"
#include "pgdb.h"

typedef struct {
    pgdb_t *db;                 //  its own connection to the reporting database
    char name [32];             //  reporting-<instance>.<actor>, for logs
    actor_t *feed;              //  the event feed (first actor of instance 1 only)
} reporting_state_t;

#endif
