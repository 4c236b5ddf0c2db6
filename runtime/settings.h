/*  =========================================================================
    settings - one configuration file for the whole system

    The file is ZPL (ZeroMQ RFC 4), read with CZMQ's zconfig. Every value can
    be overridden from the environment: the path "broker/heartbeat_ms" is
    overridden by COMPTOIR_BROKER_HEARTBEAT_MS (upper case, '/' and '-' become
    '_'). Read at start, never written afterwards: the only global state a
    process keeps.
    =========================================================================
*/
#ifndef COMPTOIR_SETTINGS_H
#define COMPTOIR_SETTINGS_H

#include <czmq.h>
#include <stdint.h>

typedef struct _settings_t settings_t;

//  Load the file. Returns NULL (and logs why) when it cannot be read or parsed.
//  A NULL path gives an empty configuration (defaults and environment only).
settings_t *settings_load (const char *path);
void settings_destroy (settings_t **self_p);

//  The value at path, the environment override first, else default_value.
const char *settings_get (settings_t *self, const char *path, const char *default_value);

//  Integer value; a value that is not an integer logs a warning and gives the default.
int64_t settings_get_int (settings_t *self, const char *path, int64_t default_value);

//  Boolean value: 1/0, true/false, yes/no, on/off.
bool settings_get_bool (settings_t *self, const char *path, bool default_value);

//  The node at path, for iterating children (zconfig_child / zconfig_next). May be NULL.
zconfig_t *settings_locate (settings_t *self, const char *path);

//  Name the process in the log lines and set their level from
//  comptoir/log_level, unless COMPTOIR_LOG_LEVEL is set (it wins).
void settings_apply_log_level (settings_t *self, const char *process);

//  The path the file was loaded from, or NULL.
const char *settings_filename (settings_t *self);

void settings_test (bool verbose);

#endif
