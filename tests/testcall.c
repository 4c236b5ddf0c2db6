/*  testcall - see testcall.h. */
#include "testcall.h"

#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>

envelope_t *
testcall_request (const char *verb, const char *params, const char *data)
{
    envelope_t *request = envelope_new_request (verb);
    assert (request);
    envelope_set_str (&request->rid, "it-request");
    request->deadline = zclock_time () + 20000;
    request->body = json_object ();
    json_t *value = params ? json_loads (params, 0, NULL) : json_object ();
    assert (value);
    json_object_set_new (request->body, "params", value);
    if (data) {
        value = json_loads (data, JSON_DECODE_ANY, NULL);
        assert (value);
        json_object_set_new (request->body, "data", value);
    }
    return request;
}

envelope_t *
testcall_dispatch (const contextnode_def_t *def, void *state, envelope_t **request_p)
{
    envelope_t *reply = contextnode_dispatch (def, *request_p, state);
    assert (reply && reply->kind == ENVELOPE_REPLY);
    envelope_destroy (request_p);
    return reply;
}

const char *
testcall_code (const envelope_t *reply)
{
    const char *code = json_string_value (json_object_get (reply->error, "code"));
    return code ? code : "";
}

void
testcall_expect (const envelope_t *reply, int status)
{
    if (reply->status != status) {
        char *text = json_dumps (reply->error ? reply->error : reply->body, 0);
        fprintf (stderr, "expected %d, got %d: %s\n", status, reply->status, text ? text : "");
        free (text);
    }
    assert (reply->status == status);
}
