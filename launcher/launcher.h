/*  =========================================================================
    launcher - the `comptoir` command: which processes make the system

    Reads the one configuration file and turns it into the list of processes
    to supervise, in start order: the broker, then every instance of every
    context named in supervisor/contexts, then the edge. The list is data:
    a new context is one more name in supervisor/contexts plus its
    <context>/instances (and <context>/command when its binary is not
    actors/<context>/comptoir-<context>). `comptoir keys` creates every
    process's CURVE certificate (publishing the clients' public keys into the
    broker's allowed/ folder) and each API consumer's key file, so that
    everything is admitted before anything starts.
    =========================================================================
*/
#ifndef COMPTOIR_LAUNCHER_H
#define COMPTOIR_LAUNCHER_H

#include "settings.h"

#include <stdbool.h>
#include <stddef.h>

#define LAUNCHER_ARGV_MAX 8

typedef struct {
    char *name;                         //  "broker", "product-2", "edge"
    char *argv [LAUNCHER_ARGV_MAX];     //  ends with NULL
} launcher_child_t;

typedef struct {
    launcher_child_t *children;
    size_t size;
} launcher_plan_t;

//  Build the list of processes from the settings. config_path is passed to
//  every child as --config (give an absolute path). Returns NULL on error
//  (a bad context name, too many instances).
launcher_plan_t *launcher_plan_new (settings_t *settings, const char *config_path);
void launcher_plan_destroy (launcher_plan_t **self_p);

//  Create the certificates of every process of the plan (broker unpublished,
//  the others published into allowed/) and every consumer's API key file
//  (edge/consumers/<name>/key_file: 32 random bytes as 64 hex characters,
//  mode 0600), keeping those that exist. Returns 0 or -1.
int launcher_keys (settings_t *settings, launcher_plan_t *plan);

//  The `comptoir` command line. Returns the process exit code.
int launcher_main (int argc, char **argv);

void launcher_test (bool verbose);

#endif
