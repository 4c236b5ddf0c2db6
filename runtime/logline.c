/*  =========================================================================
    logline - JSON log lines on stderr

    A line is formatted whole into a stack buffer and written with one
    write(2), so lines from different threads never interleave and a crash
    loses at most the line being written. The message is escaped for JSON
    here, so callers can log client input safely.
    =========================================================================
*/
#include "logline.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <assert.h>

static char s_process [64] = "comptoir";
static int s_level = LOGLINE_INFO;
static const char *s_names [] = { "debug", "info", "warn", "error" };

//  --------------------------------------------------------------------------

void
logline_init (const char *process, int level)
{
    if (process)
        snprintf (s_process, sizeof s_process, "%s", process);
    if (level < 0) {
        const char *env = getenv ("COMPTOIR_LOG_LEVEL");
        level = env ? logline_level_of (env) : LOGLINE_INFO;
        if (level < 0)
            level = LOGLINE_INFO;
    }
    s_level = level;
}

//  --------------------------------------------------------------------------

int
logline_level_of (const char *name)
{
    for (int i = 0; name && i < 4; i++)
        if (strcasecmp (name, s_names [i]) == 0)
            return i;
    return -1;
}

//  --------------------------------------------------------------------------
//  Append text to buf at *pos as JSON string content.

static void
s_escape (char *buf, size_t size, size_t *pos, const char *text)
{
    for (const unsigned char *p = (const unsigned char *) text; *p && *pos + 7 < size; p++) {
        unsigned char c = *p;
        if (c == '"' || c == '\\') {
            buf [(*pos)++] = '\\';
            buf [(*pos)++] = (char) c;
        }
        else
        if (c == '\n') {
            buf [(*pos)++] = '\\';
            buf [(*pos)++] = 'n';
        }
        else
        if (c < 0x20 || c == 0x7f)
            *pos += (size_t) snprintf (buf + *pos, size - *pos, "\\u%04x", c);
        else
            buf [(*pos)++] = (char) c;
    }
}

//  --------------------------------------------------------------------------

int
logline_format (char *buf, size_t size, loglevel_t level, const char *rid,
                const char *fmt, va_list args)
{
    assert (size > 64);
    char message [4096];
    vsnprintf (message, sizeof message, fmt, args);

    struct timeval tv;
    gettimeofday (&tv, NULL);
    struct tm tm;
    gmtime_r (&tv.tv_sec, &tm);
    size_t pos = strftime (buf, size, "{\"ts\":\"%Y-%m-%dT%H:%M:%S", &tm);
    pos += (size_t) snprintf (buf + pos, size - pos, ".%03ldZ\",\"level\":\"%s\",\"process\":\"",
                              (long) (tv.tv_usec / 1000), s_names [level & 3]);
    s_escape (buf, size, &pos, s_process);
    if (rid && *rid) {
        pos += (size_t) snprintf (buf + pos, size - pos, "\",\"request_id\":\"");
        s_escape (buf, size, &pos, rid);
    }
    pos += (size_t) snprintf (buf + pos, size - pos, "\",\"msg\":\"");
    s_escape (buf, size - 3, &pos, message);
    if (pos > size - 4)
        pos = size - 4;
    buf [pos++] = '"';
    buf [pos++] = '}';
    buf [pos++] = '\n';
    buf [pos] = 0;
    return (int) pos;
}

//  --------------------------------------------------------------------------

void
logline_write (loglevel_t level, const char *rid, const char *fmt, ...)
{
    if ((int) level < s_level)
        return;
    char line [8192];
    va_list args;
    va_start (args, fmt);
    int len = logline_format (line, sizeof line, level, rid, fmt, args);
    va_end (args);
    ssize_t rc = write (STDERR_FILENO, line, (size_t) len);
    (void) rc;
}

//  --------------------------------------------------------------------------

static int
s_format (char *buf, size_t size, loglevel_t level, const char *rid, const char *fmt, ...)
{
    va_list args;
    va_start (args, fmt);
    int len = logline_format (buf, size, level, rid, fmt, args);
    va_end (args);
    return len;
}

void
logline_test (bool verbose)
{
    printf (" * logline: ");
    logline_init ("unit", LOGLINE_INFO);
    char line [512];
    int len = s_format (line, sizeof line, LOGLINE_WARN, "r-1", "quote \" and \\ and\nnewline %d", 7);
    assert (len > 0 && line [len - 1] == '\n');
    if (verbose)
        printf ("\n%s", line);
    assert (strstr (line, "\"level\":\"warn\""));
    assert (strstr (line, "\"process\":\"unit\""));
    assert (strstr (line, "\"request_id\":\"r-1\""));
    assert (strstr (line, "quote \\\" and \\\\ and\\nnewline 7"));
    assert (strncmp (line, "{\"ts\":\"20", 9) == 0);

    //  No request id: no field
    s_format (line, sizeof line, LOGLINE_INFO, NULL, "plain");
    assert (!strstr (line, "request_id"));

    //  A message longer than the buffer is cut but the line stays valid JSON
    char big [3000];
    memset (big, 'x', sizeof big - 1);
    big [sizeof big - 1] = 0;
    len = s_format (line, sizeof line, LOGLINE_INFO, NULL, "%s", big);
    assert ((size_t) len < sizeof line);
    assert (line [len - 1] == '\n' && line [len - 2] == '}' && line [len - 3] == '"');

    assert (logline_level_of ("WARN") == LOGLINE_WARN);
    assert (logline_level_of ("debug") == LOGLINE_DEBUG);
    assert (logline_level_of ("loud") == -1);

    //  Control characters are escaped
    s_format (line, sizeof line, LOGLINE_INFO, NULL, "bell\a");
    assert (strstr (line, "bell\\u0007"));
    printf ("OK\n");
}
