/*  =========================================================================
    logline - JSON log lines on stderr

    One JSON object a line: ts, level, process, msg, and the request id when
    the line was caused by a request, so that one grep follows a request
    through every process. The supervisor sends each process's stderr to its
    own file under var/log.
    =========================================================================
*/
#ifndef COMPTOIR_LOGLINE_H
#define COMPTOIR_LOGLINE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>

typedef enum { LOGLINE_DEBUG = 0, LOGLINE_INFO = 1, LOGLINE_WARN = 2, LOGLINE_ERROR = 3 } loglevel_t;

//  Name the process and set the lowest level written (default info).
//  Reads COMPTOIR_LOG_LEVEL (debug, info, warn, error) when level < 0.
void logline_init (const char *process, int level);

//  The level named debug, info, warn or error (any case); -1 for another name.
int logline_level_of (const char *name);

//  Write one line. rid may be NULL.
void logline_write (loglevel_t level, const char *rid, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

//  Format one line into buf (used by logline_write and the tests).
//  Returns the length written, truncated to fit.
int logline_format (char *buf, size_t size, loglevel_t level, const char *rid,
                    const char *fmt, va_list args);

#define log_debug(rid, ...) logline_write (LOGLINE_DEBUG, (rid), __VA_ARGS__)
#define log_info(rid, ...)  logline_write (LOGLINE_INFO,  (rid), __VA_ARGS__)
#define log_warn(rid, ...)  logline_write (LOGLINE_WARN,  (rid), __VA_ARGS__)
#define log_error(rid, ...) logline_write (LOGLINE_ERROR, (rid), __VA_ARGS__)

void logline_test (bool verbose);

#endif
