/*  =========================================================================
    comptoir-customer - the identity context's process

    Everything a context process does (command line, settings, worker
    actors, Majordomo registration, supervision of its actors) is in
    runtime/contextnode; the identity context brings its verb table and
    state, and two one-shot commands of its own:

      --rotate-key           a new signing key; the previous ones stay
                             published (their tokens verify until they
                             expire) until their .pub files are removed
      --demo-accounts FILE   the demo customers and staff, with random
                             passwords written to FILE (0600), once
    =========================================================================
*/
#include "customer_context.h"
#include "customer_demo.h"
#include "customer_keys.h"
#include "logline.h"

#include <string.h>

//  --------------------------------------------------------------------------

static int
s_rotate_key (settings_t *settings)
{
    if (sodium_init () < 0)
        return 1;
    const char *dir = customer_context_keys_dir (settings);
    customer_keys_t *keys = customer_keys_new (dir);
    char kid [CUSTOMER_KEYS_KID_MAX + 1];
    int rc = keys ? customer_keys_rotate (keys, kid) : -1;
    if (rc == 0) {
        printf ("New signing key %s in %s; the running workers sign with it from their next token.\n",
                kid, dir);
        json_t *jwks = customer_keys_jwks (keys);
        json_t *list = json_object_get (jwks, "keys");
        printf ("Published keys (newest first):");
        for (size_t i = 0; i < json_array_size (list); i++)
            printf (" %s", json_string_value (json_object_get (json_array_get (list, i), "kid")));
        printf ("\nThe older keys stay published, and the tokens they signed stay valid until they\n"
                "expire, until you remove their files (<kid>.pub and <kid>.secret) from %s.\n", dir);
        json_decref (jwks);
    }
    customer_keys_destroy (&keys);
    return rc == 0 ? 0 : 1;
}

//  --------------------------------------------------------------------------

int
main (int argc, char **argv)
{
    const char *config = "etc/comptoir.cfg";
    const char *demo_file = NULL;
    bool rotate = false, help = false;
    for (int i = 1; i < argc; i++) {
        if (streq (argv [i], "--rotate-key"))
            rotate = true;
        else
        if (streq (argv [i], "--demo-accounts")) {
            if (i + 1 == argc) {
                fprintf (stderr, "%s: --demo-accounts needs a FILE\n", argv [0]);
                return 2;
            }
            demo_file = argv [++i];
        }
        else
        if ((streq (argv [i], "--config") || streq (argv [i], "-c")) && i + 1 < argc)
            config = argv [++i];
        else
        if (strncmp (argv [i], "--config=", 9) == 0)
            config = argv [i] + 9;
        else
        if (streq (argv [i], "--help") || streq (argv [i], "-h"))
            help = true;
    }
    if (help) {
        char *args [] = { argv [0], "--help", NULL };
        contextnode_main (2, args, &customer_context_def);
        printf ("\nIdentity commands (run once, then exit):\n"
                "      --rotate-key          create a new signing key (auth/jwt_keys_dir); the\n"
                "                            old ones stay published until their .pub is removed\n"
                "      --demo-accounts FILE  create the demo customers and staff accounts with\n"
                "                            random passwords, written to FILE (0600) and printed;\n"
                "                            does nothing when they exist\n");
        return 0;
    }
    if (!rotate && !demo_file)
        return contextnode_main (argc, argv, &customer_context_def);

    logline_init ("customer-admin", -1);
    settings_t *settings = settings_load (config);
    if (!settings)
        return 1;
    settings_apply_log_level (settings, "customer-admin");
    int rc = 0;
    if (rotate)
        rc = s_rotate_key (settings);
    if (rc == 0 && demo_file)
        rc = customer_demo_accounts (settings, demo_file) == 0 ? 0 : 1;
    settings_destroy (&settings);
    return rc;
}
