/*  =========================================================================
    contextcall - one context calling another through the broker

    The call is synchronous on purpose: each actor holds one request at a
    time and the process has several actors; the heartbeats sent while it
    waits keep the worker alive in the broker's eyes.
    =========================================================================
*/
#include "contextcall.h"
#include "contextnode.h"
#include "curvekeys.h"

#include <stdio.h>
#include <stdlib.h>

//  --------------------------------------------------------------------------

mdp_client_t *
contextcall_client_new (settings_t *settings, const char *name, int timeout_ms)
{
    const char *keys_dir = settings_get (settings, "keys/dir", "var/keys");
    char broker [512];
    snprintf (broker, sizeof broker, "%s/broker", keys_dir);
    zcert_t *cert = curvekeys_ensure (keys_dir, name, true);
    char *server_key = curvekeys_public_of (broker);
    mdp_client_t *client = NULL;
    if (cert && server_key)
        client = mdp_client_new (settings_get (settings, "broker/endpoint", "tcp://127.0.0.1:5555"),
                                 cert, server_key);
    zcert_destroy (&cert);
    free (server_key);
    if (client) {
        mdp_client_set_timeout (client, timeout_ms);
        mdp_client_set_waiting (client, contextnode_keepalive, NULL);
    }
    return client;
}

//  --------------------------------------------------------------------------

envelope_t *
contextcall (mdp_client_t *client, const envelope_t *request, const char *consumer,
             const char *service, const char *verb, const char *role, const char *sub,
             json_t *params, json_t *data, int timeout_ms)
{
    envelope_t *ask = client ? envelope_new_request (verb) : NULL;
    if (!ask) {
        json_decref (params);
        json_decref (data);
        return envelope_new_error (request, 503, "service_unavailable", "no broker", NULL);
    }
    envelope_set_str (&ask->rid, request ? request->rid : NULL);
    envelope_set_str (&ask->consumer, consumer);
    envelope_set_str (&ask->role, role ? role : "service");
    if (sub)
        envelope_set_str (&ask->sub, sub);
    ask->retryable = true;
    ask->deadline = zclock_time () + timeout_ms;
    ask->body = json_object ();
    json_object_set_new (ask->body, "params", params ? params : json_object ());
    if (data)
        json_object_set_new (ask->body, "data", data);
    envelope_t *answer = mdp_client_call (client, service, &ask);
    envelope_destroy (&ask);
    if (!answer)
        return envelope_new_error (request, 503, "service_unavailable", "cannot reach the broker", NULL);
    return answer;
}
