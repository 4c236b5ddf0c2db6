/*  =========================================================================
    sales_context - the sales context: its verb table and actor state

    The definition lives here rather than in main.c so that the integration
    tests build the same state and dispatch through the same table as the
    real process.
    =========================================================================
*/
#ifndef COMPTOIR_SALES_CONTEXT_H
#define COMPTOIR_SALES_CONTEXT_H

#include "contextnode.h"
#include "sales_state.h"

//  name "sales", the verbs, make_state / free_state.
extern const contextnode_def_t sales_context_def;

#endif
