/*  =========================================================================
    auth_verbs - the handlers of the auth.* verbs: register, login, staff
    login and the JWK set. Anyone may call them (no token needed).
    =========================================================================
*/
#ifndef COMPTOIR_AUTH_VERBS_H
#define COMPTOIR_AUTH_VERBS_H

#include "envelope.h"

envelope_t *auth_register (const envelope_t *request, void *state);
envelope_t *auth_login (const envelope_t *request, void *state);
envelope_t *auth_staff_login (const envelope_t *request, void *state);
envelope_t *auth_jwks (const envelope_t *request, void *state);

#endif
