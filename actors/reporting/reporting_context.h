/*  =========================================================================
    reporting_context - the reporting context: its verb table and actor state

    The definition lives here rather than in main.c so that the integration
    tests build the same state and dispatch through the same table as the
    real process.
    =========================================================================
*/
#ifndef COMPTOIR_REPORTING_CONTEXT_H
#define COMPTOIR_REPORTING_CONTEXT_H

#include "contextnode.h"
#include "reporting_state.h"

//  name "reporting", the verbs, make_state / free_state.
extern const contextnode_def_t reporting_context_def;

#endif
