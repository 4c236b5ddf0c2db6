/*  =========================================================================
    customer_demo - the demo accounts of a fresh system

    `comptoir-customer --demo-accounts FILE` creates a few demo customers
    and one staff account per role and store (a cashier and a manager for
    each of the inventory seed's stores 1 to 3, and one admin), each with a
    random password, writes the credentials to FILE (mode 0600) as lines
    "role username-or-email password store_id" (store_id "-" for none), and
    prints them. When the accounts exist already it does nothing: the code
    holds no password, and no password is ever shown twice.
    =========================================================================
*/
#ifndef COMPTOIR_CUSTOMER_DEMO_H
#define COMPTOIR_CUSTOMER_DEMO_H

#include "settings.h"

#include <stdbool.h>

//  Returns 0 (created, or there already), -1 on failure (logged).
int customer_demo_accounts (settings_t *settings, const char *file);

#endif
