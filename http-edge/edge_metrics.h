/*  =========================================================================
    edge_metrics - one Prometheus exposition out of many processes' texts

    The edge's admin /metrics is the one scrape target of the system: it
    shows the edge's own registry, the broker's and every context
    process's, each rendered by its own process. Pasting the texts one
    after the other would repeat "# TYPE" lines (product-1 and product-2
    both have comptoir_context_requests_total) and split a family's
    series, which the exposition format forbids and strict parsers
    refuse. This class regroups the lines by metric family, keeping the
    first HELP and TYPE seen for each family and the families in the order
    they first appear. It does not parse values or labels: a sample line
    is kept as it came, and goes with its family (name, or name minus
    _bucket/_sum/_count for histograms and summaries).
    =========================================================================
*/
#ifndef COMPTOIR_EDGE_METRICS_H
#define COMPTOIR_EDGE_METRICS_H

#include <stdbool.h>
#include <stddef.h>

typedef struct _edge_metrics_t edge_metrics_t;

//  An empty exposition. Returns NULL on allocation failure.
edge_metrics_t *edge_metrics_new (void);

void edge_metrics_destroy (edge_metrics_t **self_p);

//  Add one process's exposition text (size bytes, need not end in a
//  newline). Comment lines other than HELP and TYPE are kept, at the end.
//  Returns 0, or -1 on allocation failure.
int edge_metrics_add (edge_metrics_t *self, const char *text, size_t size);

//  The merged exposition, a new string the caller frees (NULL on
//  allocation failure).
char *edge_metrics_render (edge_metrics_t *self);

void edge_metrics_test (bool verbose);

#endif
