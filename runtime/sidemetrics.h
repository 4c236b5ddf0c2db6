/*  =========================================================================
    sidemetrics - metrics of a context process's side actors

    A worker actor's counters reach /metrics through its pipe (contextnode);
    a side actor (an event feed, a relay, a sweep) started by a context's
    make_state has no such pipe. It keeps its own registry here and pushes
    a rendered snapshot over a PUSH socket to the process's parent, which
    binds SIDEMETRICS_ENDPOINT (inproc: every thread of the process shares
    CZMQ's context) and adds the latest snapshot of each source to its
    answer, after the worker actors'. Nothing is shared between threads.
    =========================================================================
*/
#ifndef COMPTOIR_SIDEMETRICS_H
#define COMPTOIR_SIDEMETRICS_H

#include "metrics.h"

#include <czmq.h>

//  Where contextnode's parent listens.
#define SIDEMETRICS_ENDPOINT "inproc://comptoir-sidemetrics"

typedef struct _sidemetrics_t sidemetrics_t;

//  A side actor's registry, pushed to endpoint under source (its name,
//  unique in the process: "reporting-feed"). NULL when out of memory.
sidemetrics_t *sidemetrics_new (const char *endpoint, const char *source);
void sidemetrics_destroy (sidemetrics_t **self_p);

//  The registry to declare and count in (owned by self).
metrics_t *sidemetrics_registry (sidemetrics_t *self);

//  Render the registry, with prefix_labels on every series, and push it.
//  Never blocks: a snapshot nobody takes is dropped (the next one carries
//  the same counters). 0, or -1 when it was not sent.
int sidemetrics_push (sidemetrics_t *self, const char *prefix_labels);

//  The parent's side: read one pushed snapshot from pull into snapshots
//  (source -> text, the hash owns the strings: give it free as its
//  destructor). 0, or -1 when the message was not a snapshot.
int sidemetrics_recv (zsock_t *pull, zhashx_t *snapshots);

void sidemetrics_test (bool verbose);

#endif
