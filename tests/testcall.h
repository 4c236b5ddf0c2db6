/*  testcall - what the context suites share to call a verb directly: a
    request built from JSON literals, dispatched through the context's own
    verb table (contextnode_dispatch), and the checks on its reply. */
#ifndef COMPTOIR_TESTCALL_H
#define COMPTOIR_TESTCALL_H

#include "contextnode.h"
#include "envelope.h"

//  A request for verb with body {params, data}: params a JSON object
//  literal (NULL: {}), data any JSON literal (NULL: no data). Request id
//  "it-request", deadline 20 s ahead; the caller sets the identity.
envelope_t *testcall_request (const char *verb, const char *params, const char *data);

//  Dispatch *request_p through def with state, destroy the request, and
//  return the reply (asserted to be a reply).
envelope_t *testcall_dispatch (const contextnode_def_t *def, void *state, envelope_t **request_p);

//  The error code of a reply ("" when none).
const char *testcall_code (const envelope_t *reply);

//  Assert the reply's status; print the reply first when it differs.
void testcall_expect (const envelope_t *reply, int status);

#endif
