/*  =========================================================================
    curvekeys - CurveZMQ certificates and the ZAP authenticator

    Every process has its own certificate, created on first start and kept
    with mode 0600 (the secret file) under the keys folder; its public half
    is copied into the allowed/ folder that the broker admits. The broker's
    authenticator is our own small ZAP handler: the allowed public keys live
    in memory (zauth would rescan the folder on every handshake) and are
    reloaded on request. It must be started before any CURVE server binds,
    because libzmq admits everybody when no ZAP handler answers.
    =========================================================================
*/
#ifndef COMPTOIR_CURVEKEYS_H
#define COMPTOIR_CURVEKEYS_H

#include <czmq.h>
#include <stdbool.h>

//  The authenticator's reports, a PUB socket in the same process: one
//  message per ZAP request, [verdict] [address] [key] [mechanism] [reason]
//  where verdict is "allowed" or "denied", address is the peer's IP as
//  libzmq gives it to ZAP (no port), key the client's public key in z85
//  ("" for other mechanisms). Nobody waits on it: without a subscriber the
//  reports are dropped.
#define CURVEKEYS_ZAP_EVENTS "inproc://comptoir.zap.events"

//  Load the certificate keys_dir/<name> (public half in keys_dir/<name>,
//  secret half in keys_dir/<name>_secret, mode 0600), or create the pair
//  when absent, and make sure keys_dir/allowed/<name>.pub exists (unless
//  publish is false, as for the broker's own server key).
//  Returns NULL (and logs) on failure.
zcert_t *curvekeys_ensure (const char *keys_dir, const char *name, bool publish);

//  Read a public key (z85, 40 chars) from a public certificate file.
//  Returns a new string or NULL.
char *curvekeys_public_of (const char *cert_path);

//  Make sock a CURVE client of the server whose public key is given (z85).
void curvekeys_apply_client (zsock_t *sock, zcert_t *cert, const char *server_public_z85);

//  Make sock a CURVE server with this certificate.
void curvekeys_apply_server (zsock_t *sock, zcert_t *cert);

//  The authenticator: an actor serving ZAP on inproc://zeromq.zap.01 that
//  admits CURVE clients whose public key is in allowed_dir (*.pub files),
//  and refuses NULL and PLAIN mechanisms. Commands on the actor's pipe:
//    "RELOAD"      rescan allowed_dir (answers the number of keys as a string)
//    "ALLOW" key   add one key (z85) (answers "0")
//    "STATS"       answers "<allowed> <denied>" counts
//  Every verdict is also published on CURVEKEYS_ZAP_EVENTS (below), so the
//  broker can show who was refused. Returns NULL when the folder cannot be
//  read.
zactor_t *curvekeys_auth_new (const char *allowed_dir);

void curvekeys_test (bool verbose);

#endif
