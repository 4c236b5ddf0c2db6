/*  =========================================================================
    edge_supervision - the supervisor's view of the processes, for the edge

    The launcher's supervisor writes one line per process to its status
    file (<var>/run/children: name pid restarts state holds) whenever
    something changes. The edge, the system's one scrape target and the
    place /ready is asked, reads that file when it answers: a process held
    down after too many restarts then shows in the metrics and in /ready's
    body without a socket between the two. An edge on another host than
    the supervisor simply finds no file and shows nothing of it.
    =========================================================================
*/
#ifndef COMPTOIR_EDGE_SUPERVISION_H
#define COMPTOIR_EDGE_SUPERVISION_H

#include <jansson.h>
#include <stdbool.h>

//  Prometheus text for every process in the status file at path:
//  comptoir_supervisor_process_up, _restarts_total, _process_held and
//  _holds_total, labelled process="<name>". A new string; NULL when the
//  file is absent or unreadable (nothing to show).
char *edge_supervision_metrics (const char *path);

//  The names of the processes held down, as a new JSON array (empty when
//  none, or when there is no file).
json_t *edge_supervision_held (const char *path);

void edge_supervision_test (bool verbose);

#endif
