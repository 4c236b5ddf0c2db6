/*  =========================================================================
    metrics - counters, gauges and histograms rendered as Prometheus text

    A registry is a hash of families (one per metric name) each holding a
    hash of series (one per label string). Observing a series that exists
    costs two hash lookups and no allocation, which is what a hot path can
    afford; the registry belongs to one thread, so there is no lock.
    Rendering sorts names and labels so the output is stable for diffs and
    tests.
    =========================================================================
*/
#include "metrics.h"

#include <czmq.h>
#include <math.h>

static const double s_buckets [] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10
};
#define BUCKETS (sizeof s_buckets / sizeof s_buckets [0])

typedef struct {
    double value;                   //  counter or gauge
    uint64_t counts [BUCKETS];      //  histogram: per bucket (not cumulative)
    uint64_t count;
    double sum;
} series_t;

typedef struct {
    char *type;                     //  counter, gauge, histogram, untyped
    char *help;
    zhashx_t *series;               //  labels -> series_t
} family_t;

struct _metrics_t {
    zhashx_t *families;             //  name -> family_t
};

//  --------------------------------------------------------------------------

static void
s_family_destroy (void **item)
{
    family_t *family = (family_t *) *item;
    if (family) {
        zhashx_destroy (&family->series);
        free (family->type);
        free (family->help);
        free (family);
        *item = NULL;
    }
}

static void
s_series_destroy (void **item)
{
    free (*item);
    *item = NULL;
}

//  --------------------------------------------------------------------------

metrics_t *
metrics_new (void)
{
    metrics_t *self = (metrics_t *) zmalloc (sizeof (metrics_t));
    if (!self)
        return NULL;
    self->families = zhashx_new ();
    if (!self->families) {
        free (self);
        return NULL;
    }
    zhashx_set_destructor (self->families, s_family_destroy);
    return self;
}

void
metrics_destroy (metrics_t **self_p)
{
    assert (self_p);
    metrics_t *self = *self_p;
    if (self) {
        zhashx_destroy (&self->families);
        free (self);
        *self_p = NULL;
    }
}

//  --------------------------------------------------------------------------

static family_t *
s_family (metrics_t *self, const char *name, const char *type)
{
    family_t *family = (family_t *) zhashx_lookup (self->families, name);
    if (family)
        return family;
    family = (family_t *) zmalloc (sizeof (family_t));
    if (!family)
        return NULL;
    family->type = strdup (type);
    family->series = zhashx_new ();
    if (!family->type || !family->series) {
        s_family_destroy ((void **) &family);
        return NULL;
    }
    zhashx_set_destructor (family->series, s_series_destroy);
    zhashx_insert (self->families, name, family);
    return family;
}

static series_t *
s_series (metrics_t *self, const char *name, const char *type, const char *labels)
{
    family_t *family = s_family (self, name, type);
    if (!family)
        return NULL;
    const char *key = labels ? labels : "";
    series_t *series = (series_t *) zhashx_lookup (family->series, key);
    if (!series) {
        series = (series_t *) zmalloc (sizeof (series_t));
        if (series)
            zhashx_insert (family->series, key, series);
    }
    return series;
}

//  --------------------------------------------------------------------------

void
metrics_declare (metrics_t *self, const char *name, const char *type, const char *help)
{
    family_t *family = s_family (self, name, type);
    if (!family)
        return;
    free (family->type);
    family->type = strdup (type);
    free (family->help);
    family->help = help ? strdup (help) : NULL;
}

void
metrics_counter_add (metrics_t *self, const char *name, const char *labels, double value)
{
    series_t *series = s_series (self, name, "untyped", labels);
    if (series)
        series->value += value;
}

void
metrics_gauge_set (metrics_t *self, const char *name, const char *labels, double value)
{
    series_t *series = s_series (self, name, "untyped", labels);
    if (series)
        series->value = value;
}

void
metrics_observe (metrics_t *self, const char *name, const char *labels, double seconds)
{
    series_t *series = s_series (self, name, "histogram", labels);
    if (!series)
        return;
    size_t i = 0;
    while (i < BUCKETS && seconds > s_buckets [i])
        i++;
    if (i < BUCKETS)
        series->counts [i]++;
    series->count++;
    series->sum += seconds;
}

double
metrics_value (metrics_t *self, const char *name, const char *labels)
{
    family_t *family = (family_t *) zhashx_lookup (self->families, name);
    if (!family)
        return 0;
    series_t *series = (series_t *) zhashx_lookup (family->series, labels ? labels : "");
    return series ? series->value : 0;
}

//  --------------------------------------------------------------------------
//  Write "{a,b}" from the prefix labels, the series labels and an extra pair.

static void
s_labels (zchunk_t *out, const char *prefix, const char *labels, const char *extra)
{
    const char *parts [3] = { prefix, labels, extra };
    bool open = false;
    for (int i = 0; i < 3; i++) {
        if (!parts [i] || !*parts [i])
            continue;
        zchunk_extend (out, open ? "," : "{", 1);
        zchunk_extend (out, parts [i], strlen (parts [i]));
        open = true;
    }
    if (open)
        zchunk_extend (out, "}", 1);
}

static void
s_printf (zchunk_t *out, const char *fmt, ...)
{
    char buf [512];
    va_list args;
    va_start (args, fmt);
    int len = vsnprintf (buf, sizeof buf, fmt, args);
    va_end (args);
    if (len > 0)
        zchunk_extend (out, buf, (size_t) len < sizeof buf ? (size_t) len : sizeof buf - 1);
}

static void
s_number (zchunk_t *out, double value)
{
    if (isinf (value))
        s_printf (out, value > 0 ? " +Inf\n" : " -Inf\n");
    else
    if (value == floor (value) && fabs (value) < 1e15)
        s_printf (out, " %.0f\n", value);
    else
        s_printf (out, " %.9g\n", value);
}

static int
s_compare (const void *a, const void *b)
{
    return strcmp (*(const char *const *) a, *(const char *const *) b);
}

//  Sorted keys of a hash, in a new array of borrowed strings.
static const char **
s_sorted_keys (zhashx_t *hash, size_t *count)
{
    *count = zhashx_size (hash);
    const char **keys = (const char **) calloc (*count + 1, sizeof (char *));
    if (!keys)
        return NULL;
    size_t n = 0;
    for (void *item = zhashx_first (hash); item && n < *count; item = zhashx_next (hash))
        keys [n++] = (const char *) zhashx_cursor (hash);
    qsort (keys, n, sizeof (char *), s_compare);
    *count = n;
    return keys;
}

//  --------------------------------------------------------------------------

char *
metrics_render (metrics_t *self, const char *prefix_labels)
{
    zchunk_t *out = zchunk_new (NULL, 4096);
    if (!out)
        return NULL;
    size_t nfamilies;
    const char **names = s_sorted_keys (self->families, &nfamilies);
    for (size_t f = 0; names && f < nfamilies; f++) {
        const char *name = names [f];
        family_t *family = (family_t *) zhashx_lookup (self->families, name);
        if (family->help)
            s_printf (out, "# HELP %s %s\n", name, family->help);
        s_printf (out, "# TYPE %s %s\n", name, family->type);
        size_t nseries;
        const char **labels = s_sorted_keys (family->series, &nseries);
        for (size_t s = 0; labels && s < nseries; s++) {
            series_t *series = (series_t *) zhashx_lookup (family->series, labels [s]);
            if (streq (family->type, "histogram")) {
                uint64_t cumulative = 0;
                for (size_t b = 0; b <= BUCKETS; b++) {
                    char le [32];
                    if (b < BUCKETS) {
                        cumulative += series->counts [b];
                        snprintf (le, sizeof le, "le=\"%g\"", s_buckets [b]);
                    }
                    else {
                        cumulative = series->count;
                        snprintf (le, sizeof le, "le=\"+Inf\"");
                    }
                    s_printf (out, "%s_bucket", name);
                    s_labels (out, prefix_labels, labels [s], le);
                    s_number (out, (double) cumulative);
                }
                s_printf (out, "%s_sum", name);
                s_labels (out, prefix_labels, labels [s], NULL);
                s_number (out, series->sum);
                s_printf (out, "%s_count", name);
                s_labels (out, prefix_labels, labels [s], NULL);
                s_number (out, (double) series->count);
            }
            else {
                s_printf (out, "%s", name);
                s_labels (out, prefix_labels, labels [s], NULL);
                s_number (out, series->value);
            }
        }
        free (labels);
    }
    free (names);
    char *text = (char *) malloc (zchunk_size (out) + 1);
    if (text) {
        memcpy (text, zchunk_data (out), zchunk_size (out));
        text [zchunk_size (out)] = 0;
    }
    zchunk_destroy (&out);
    return text;
}

//  --------------------------------------------------------------------------

void
metrics_test (bool verbose)
{
    printf (" * metrics: ");
    metrics_t *metrics = metrics_new ();
    assert (metrics);
    metrics_declare (metrics, "comptoir_requests_total", "counter", "Requests served.");
    metrics_counter_add (metrics, "comptoir_requests_total", "status=\"200\"", 1);
    metrics_counter_add (metrics, "comptoir_requests_total", "status=\"200\"", 2);
    metrics_counter_add (metrics, "comptoir_requests_total", "status=\"404\"", 1);
    assert (metrics_value (metrics, "comptoir_requests_total", "status=\"200\"") == 3);
    assert (metrics_value (metrics, "comptoir_requests_total", "status=\"500\"") == 0);
    metrics_declare (metrics, "comptoir_workers", "gauge", "Workers.");
    metrics_gauge_set (metrics, "comptoir_workers", NULL, 5);
    metrics_gauge_set (metrics, "comptoir_workers", NULL, 3);
    assert (metrics_value (metrics, "comptoir_workers", NULL) == 3);
    metrics_declare (metrics, "comptoir_latency_seconds", "histogram", "Latency.");
    metrics_observe (metrics, "comptoir_latency_seconds", "route=\"a\"", 0.0004);
    metrics_observe (metrics, "comptoir_latency_seconds", "route=\"a\"", 0.003);
    metrics_observe (metrics, "comptoir_latency_seconds", "route=\"a\"", 60);

    char *text = metrics_render (metrics, "process=\"unit\"");
    assert (text);
    if (verbose)
        printf ("\n%s", text);
    assert (strstr (text, "# HELP comptoir_requests_total Requests served.\n"));
    assert (strstr (text, "# TYPE comptoir_requests_total counter\n"));
    assert (strstr (text, "comptoir_requests_total{process=\"unit\",status=\"200\"} 3\n"));
    assert (strstr (text, "comptoir_workers{process=\"unit\"} 3\n"));
    assert (strstr (text, "# TYPE comptoir_latency_seconds histogram\n"));
    //  Buckets are cumulative; +Inf holds everything
    assert (strstr (text, "comptoir_latency_seconds_bucket{process=\"unit\",route=\"a\",le=\"0.0005\"} 1\n"));
    assert (strstr (text, "comptoir_latency_seconds_bucket{process=\"unit\",route=\"a\",le=\"0.005\"} 2\n"));
    assert (strstr (text, "comptoir_latency_seconds_bucket{process=\"unit\",route=\"a\",le=\"10\"} 2\n"));
    assert (strstr (text, "comptoir_latency_seconds_bucket{process=\"unit\",route=\"a\",le=\"+Inf\"} 3\n"));
    assert (strstr (text, "comptoir_latency_seconds_count{process=\"unit\",route=\"a\"} 3\n"));
    //  Families come out sorted by name
    assert (strstr (text, "comptoir_latency") < strstr (text, "comptoir_requests"));
    free (text);

    //  Without prefix labels, a label-less series has no braces
    text = metrics_render (metrics, NULL);
    assert (strstr (text, "\ncomptoir_workers 3\n"));
    free (text);
    metrics_destroy (&metrics);
    assert (metrics == NULL);
    printf ("OK\n");
}
