/*  =========================================================================
    edge_supervision - the supervisor's view of the processes, for the edge

    The status file is small (one line per process) and written by rename,
    so it is read whole at each scrape or /ready probe: no cache to go
    stale. Lines that do not parse (an older supervisor's three fields, or
    anything else) are skipped rather than trusted.
    =========================================================================
*/
#include "edge_supervision.h"

#include <assert.h>
#include <czmq.h>
#include <stdio.h>
#include <string.h>

#define S_NAME_MAX  64

typedef struct {
    char name [S_NAME_MAX];
    int pid;
    int restarts;
    char state [16];
    int holds;
} s_process_t;

//  --------------------------------------------------------------------------
//  One status line into *process. true when it has the five fields and a
//  name of the launcher's alphabet (letters, digits, '-', '_', '.').

static bool
s_parse (const char *line, s_process_t *process)
{
    if (sscanf (line, "%63s %d %d %15s %d", process->name, &process->pid, &process->restarts,
                process->state, &process->holds) != 5)
        return false;
    for (const char *c = process->name; *c; c++)
        if (!isalnum ((unsigned char) *c) && *c != '-' && *c != '_' && *c != '.')
            return false;
    return process->pid >= 0 && process->restarts >= 0 && process->holds >= 0;
}

//  --------------------------------------------------------------------------

char *
edge_supervision_metrics (const char *path)
{
    FILE *file = path ? fopen (path, "r") : NULL;
    if (!file)
        return NULL;
    static const char *const families [] = {
        "comptoir_supervisor_process_up", "gauge", "1 while the process runs",
        "comptoir_supervisor_restarts_total", "counter", "Restarts of the process by the supervisor",
        "comptoir_supervisor_process_held", "gauge",
            "1 while the process is held down after too many restarts (supervisor/cooldown_s)",
        "comptoir_supervisor_holds_total", "counter", "Times the process was held down",
        NULL
    };
    //  Four families, one pass over the lines each: read them once.
    s_process_t processes [256];
    size_t count = 0;
    char line [256];
    while (count < 256 && fgets (line, sizeof line, file))
        if (s_parse (line, &processes [count]))
            count++;
    fclose (file);
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream (&text, &size);
    if (!out)
        return NULL;
    for (int family = 0; families [family * 3]; family++) {
        const char *name = families [family * 3];
        fprintf (out, "# HELP %s %s\n# TYPE %s %s\n", name, families [family * 3 + 2], name,
                 families [family * 3 + 1]);
        for (size_t i = 0; i < count; i++) {
            const s_process_t *process = &processes [i];
            int value = family == 0 ? process->pid > 0
                      : family == 1 ? process->restarts
                      : family == 2 ? streq (process->state, "held")
                      : process->holds;
            fprintf (out, "%s{process=\"%s\"} %d\n", name, process->name, value);
        }
    }
    if (fclose (out) != 0) {
        free (text);
        return NULL;
    }
    return text;
}

//  --------------------------------------------------------------------------

json_t *
edge_supervision_held (const char *path)
{
    json_t *held = json_array ();
    FILE *file = path ? fopen (path, "r") : NULL;
    if (!file || !held) {
        if (file)
            fclose (file);
        return held;
    }
    char line [256];
    s_process_t process;
    while (fgets (line, sizeof line, file))
        if (s_parse (line, &process) && streq (process.state, "held"))
            json_array_append_new (held, json_string (process.name));
    fclose (file);
    return held;
}

//  --------------------------------------------------------------------------

void
edge_supervision_test (bool verbose)
{
    if (verbose)
        printf (" * edge_supervision: ");
    char path [] = "/tmp/comptoir-edge-supervision-XXXXXX";
    int fd = mkstemp (path);
    assert (fd >= 0);
    const char *status =
        "broker 100 0 running 0\n"
        "cart-1 0 9 held 2\n"
        "cart-2 0 1 restarting 0\n"
        "bad\"name 1 1 running 0\n"             //  refused: not a process name
        "order-1 5 2\n";                        //  refused: an old three-field line
    assert (write (fd, status, strlen (status)) == (ssize_t) strlen (status));
    close (fd);

    char *text = edge_supervision_metrics (path);
    assert (text);
    assert (strstr (text, "# TYPE comptoir_supervisor_process_up gauge\n"));
    assert (strstr (text, "comptoir_supervisor_process_up{process=\"broker\"} 1\n"));
    assert (strstr (text, "comptoir_supervisor_process_up{process=\"cart-1\"} 0\n"));
    assert (strstr (text, "comptoir_supervisor_restarts_total{process=\"cart-1\"} 9\n"));
    assert (strstr (text, "comptoir_supervisor_process_held{process=\"cart-1\"} 1\n"));
    assert (strstr (text, "comptoir_supervisor_process_held{process=\"cart-2\"} 0\n"));
    assert (strstr (text, "comptoir_supervisor_holds_total{process=\"cart-1\"} 2\n"));
    assert (!strstr (text, "bad") && !strstr (text, "order-1"));
    free (text);

    json_t *held = edge_supervision_held (path);
    assert (json_array_size (held) == 1);
    assert (streq (json_string_value (json_array_get (held, 0)), "cart-1"));
    json_decref (held);

    unlink (path);
    assert (edge_supervision_metrics (path) == NULL);
    held = edge_supervision_held (path);
    assert (held && json_array_size (held) == 0);
    json_decref (held);
    if (verbose)
        printf ("OK\n");
}
