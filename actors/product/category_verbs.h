/*  =========================================================================
    category_verbs - the handlers of the category.* verbs

    Categories are {id, name, description}; names are unique without regard
    to case. A category still holding active products cannot be deleted.
    =========================================================================
*/
#ifndef COMPTOIR_CATEGORY_VERBS_H
#define COMPTOIR_CATEGORY_VERBS_H

#include "envelope.h"

envelope_t *category_list (const envelope_t *request, void *state);
envelope_t *category_create (const envelope_t *request, void *state);
envelope_t *category_update (const envelope_t *request, void *state);
envelope_t *category_delete (const envelope_t *request, void *state);

#endif
