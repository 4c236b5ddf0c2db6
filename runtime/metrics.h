/*  =========================================================================
    metrics - counters, gauges and histograms rendered as Prometheus text

    Each actor keeps its own registry (nothing shared between threads); a
    process renders its registries into the text exposition format (version
    0.0.4) when asked. A series is a metric name plus a label string already
    in Prometheus syntax, e.g. route="/api/v1/products",status="200".
    =========================================================================
*/
#ifndef COMPTOIR_METRICS_H
#define COMPTOIR_METRICS_H

#include <stdbool.h>
#include <stddef.h>

typedef struct _metrics_t metrics_t;

metrics_t *metrics_new (void);
void metrics_destroy (metrics_t **self_p);

//  Declare a metric's type ("counter", "gauge", "histogram") and help text.
//  Observing an undeclared name declares it untyped.
void metrics_declare (metrics_t *self, const char *name, const char *type, const char *help);

//  labels may be NULL or "" for a series without labels.
void metrics_counter_add (metrics_t *self, const char *name, const char *labels, double value);
void metrics_gauge_set (metrics_t *self, const char *name, const char *labels, double value);
//  Histogram of seconds, with fixed buckets from 0.5 ms to 10 s.
void metrics_observe (metrics_t *self, const char *name, const char *labels, double seconds);

//  Current value of a counter or gauge series (0 when absent): for tests and views.
double metrics_value (metrics_t *self, const char *name, const char *labels);

//  Append the exposition text to a growing buffer; returns a new string the
//  caller frees. prefix_labels, when not NULL, is added to every series
//  (e.g. process="broker").
char *metrics_render (metrics_t *self, const char *prefix_labels);

void metrics_test (bool verbose);

#endif
