/*  =========================================================================
    edge_metrics - one Prometheus exposition out of many processes' texts

    Lines are sorted into families as they come: a hash finds a family by
    name, a list keeps the families in order of first appearance, and each
    family gathers its sample lines in a growing chunk. Nothing but the
    metric name of a line is looked at. See edge_metrics.h.
    =========================================================================
*/
#include "edge_metrics.h"

#include <czmq.h>
#include <string.h>

typedef struct {
    char *name;
    char *help;                     //  the whole HELP line, or NULL
    char *type_line;                //  the whole TYPE line, or NULL
    char *type;                     //  counter, gauge, histogram..., or NULL
    zchunk_t *samples;              //  sample lines, each ending in \n
} family_t;

struct _edge_metrics_t {
    zhashx_t *families;             //  name -> family_t (not owned)
    zlistx_t *order;                //  family_t, first seen first (owned)
    zchunk_t *comments;             //  other comment lines
};

//  Suffixes of the samples of a histogram or summary family.
static const char *s_suffixes [] = { "_bucket", "_sum", "_count", "_created", NULL };

//  --------------------------------------------------------------------------

static void
s_family_destroy (family_t **self_p)
{
    family_t *self = *self_p;
    if (!self)
        return;
    free (self->name);
    free (self->help);
    free (self->type_line);
    free (self->type);
    zchunk_destroy (&self->samples);
    free (self);
    *self_p = NULL;
}

//  --------------------------------------------------------------------------
//  Create an empty exposition.

edge_metrics_t *
edge_metrics_new (void)
{
    edge_metrics_t *self = (edge_metrics_t *) zmalloc (sizeof (edge_metrics_t));
    self->families = zhashx_new ();
    self->order = zlistx_new ();
    self->comments = zchunk_new (NULL, 256);
    if (!self->families || !self->order || !self->comments) {
        edge_metrics_destroy (&self);
        return NULL;
    }
    zlistx_set_destructor (self->order, (czmq_destructor *) s_family_destroy);
    return self;
}

//  --------------------------------------------------------------------------
//  Destroy the exposition.

void
edge_metrics_destroy (edge_metrics_t **self_p)
{
    assert (self_p);
    edge_metrics_t *self = *self_p;
    if (!self)
        return;
    zhashx_destroy (&self->families);
    zlistx_destroy (&self->order);
    zchunk_destroy (&self->comments);
    free (self);
    *self_p = NULL;
}

//  --------------------------------------------------------------------------
//  The family of a name, created when new. NULL on allocation failure.

static family_t *
s_family_require (edge_metrics_t *self, const char *name, size_t len)
{
    char *key = strndup (name, len);
    if (!key)
        return NULL;
    family_t *family = (family_t *) zhashx_lookup (self->families, key);
    if (family) {
        free (key);
        return family;
    }
    family = (family_t *) zmalloc (sizeof (family_t));
    family->name = key;
    family->samples = zchunk_new (NULL, 256);
    if (!family->samples || zhashx_insert (self->families, key, family) != 0) {
        s_family_destroy (&family);
        return NULL;
    }
    if (!zlistx_add_end (self->order, family)) {
        zhashx_delete (self->families, key);
        s_family_destroy (&family);
        return NULL;
    }
    return family;
}

//  --------------------------------------------------------------------------
//  The family a sample belongs to: its own name, or for a histogram or
//  summary the name without the sample's suffix.

static family_t *
s_family_of_sample (edge_metrics_t *self, const char *name, size_t len)
{
    char key [256];
    if (len < sizeof key) {
        memcpy (key, name, len);
        key [len] = 0;
        family_t *family = (family_t *) zhashx_lookup (self->families, key);
        if (family)
            return family;
        for (const char **suffix = s_suffixes; *suffix; suffix++) {
            size_t suffix_len = strlen (*suffix);
            if (len <= suffix_len || memcmp (name + len - suffix_len, *suffix, suffix_len))
                continue;
            key [len - suffix_len] = 0;
            family = (family_t *) zhashx_lookup (self->families, key);
            if (family && family->type
            && (streq (family->type, "histogram") || streq (family->type, "summary")))
                return family;
            key [len - suffix_len] = (*suffix) [0];
        }
    }
    return s_family_require (self, name, len);
}

//  --------------------------------------------------------------------------
//  Length of the metric name at the start of text.

static size_t
s_name_length (const char *text, size_t size)
{
    size_t len = 0;
    while (len < size) {
        char c = text [len];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':'
            || (len > 0 && c >= '0' && c <= '9')))
            break;
        len++;
    }
    return len;
}

//  --------------------------------------------------------------------------
//  Sort one line (without its newline) into its family.

static int
s_add_line (edge_metrics_t *self, const char *line, size_t size)
{
    while (size && (line [size - 1] == '\r' || line [size - 1] == ' '))
        size--;
    if (size == 0)
        return 0;
    if (line [0] == '#') {
        bool help = size >= 6 && memcmp (line, "# HELP", 6) == 0 && (size == 6 || line [6] == ' ');
        bool type = size >= 6 && memcmp (line, "# TYPE", 6) == 0 && (size == 6 || line [6] == ' ');
        if (help || type) {
            size_t len = size > 7 ? s_name_length (line + 7, size - 7) : 0;
            if (len == 0)
                return 0;           //  a HELP or TYPE without a name: noise
            family_t *family = s_family_require (self, line + 7, len);
            if (!family)
                return -1;
            if (help && !family->help)
                family->help = strndup (line, size);
            if (type && !family->type_line) {
                family->type_line = strndup (line, size);
                const char *word = line + 7 + len;
                size_t left = size - 7 - len;
                while (left && *word == ' ') {
                    word++;
                    left--;
                }
                family->type = strndup (word, left);
            }
            return 0;
        }
        zchunk_extend (self->comments, line, size);
        zchunk_extend (self->comments, "\n", 1);
        return 0;
    }
    size_t len = s_name_length (line, size);
    if (len == 0)
        return 0;                   //  not a sample: dropped
    family_t *family = s_family_of_sample (self, line, len);
    if (!family)
        return -1;
    zchunk_extend (family->samples, line, size);
    zchunk_extend (family->samples, "\n", 1);
    return 0;
}

//  --------------------------------------------------------------------------
//  Add a process's text.

int
edge_metrics_add (edge_metrics_t *self, const char *text, size_t size)
{
    assert (self);
    if (!text)
        return 0;
    const char *cursor = text;
    const char *end = text + size;
    while (cursor < end) {
        const char *newline = (const char *) memchr (cursor, '\n', (size_t) (end - cursor));
        const char *stop = newline ? newline : end;
        if (s_add_line (self, cursor, (size_t) (stop - cursor)))
            return -1;
        cursor = stop + 1;
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Render the merged exposition.

char *
edge_metrics_render (edge_metrics_t *self)
{
    assert (self);
    zchunk_t *out = zchunk_new (NULL, 16384);
    if (!out)
        return NULL;
    family_t *family = (family_t *) zlistx_first (self->order);
    while (family) {
        if (family->help) {
            zchunk_extend (out, family->help, strlen (family->help));
            zchunk_extend (out, "\n", 1);
        }
        if (family->type_line) {
            zchunk_extend (out, family->type_line, strlen (family->type_line));
            zchunk_extend (out, "\n", 1);
        }
        zchunk_extend (out, zchunk_data (family->samples), zchunk_size (family->samples));
        family = (family_t *) zlistx_next (self->order);
    }
    zchunk_extend (out, zchunk_data (self->comments), zchunk_size (self->comments));
    size_t size = zchunk_size (out);
    char *text = (char *) malloc (size + 1);
    if (text) {
        if (size)
            memcpy (text, zchunk_data (out), size);
        text [size] = 0;
    }
    zchunk_destroy (&out);
    return text;
}

//  --------------------------------------------------------------------------
//  Self test

void
edge_metrics_test (bool verbose)
{
    (void) verbose;
    printf (" * edge_metrics: ");
    edge_metrics_t *metrics = edge_metrics_new ();
    assert (metrics);
    const char *edge =
        "# HELP comptoir_edge_requests_total HTTP requests\n"
        "# TYPE comptoir_edge_requests_total counter\n"
        "comptoir_edge_requests_total{route=\"/health\"} 3\n";
    const char *one =
        "# HELP comptoir_context_requests_total Requests handled\n"
        "# TYPE comptoir_context_requests_total counter\n"
        "comptoir_context_requests_total{process=\"product-1\",verb=\"product.get\"} 5\n"
        "# TYPE comptoir_context_duration_seconds histogram\n"
        "comptoir_context_duration_seconds_bucket{process=\"product-1\",le=\"+Inf\"} 5\n"
        "comptoir_context_duration_seconds_sum{process=\"product-1\"} 0.01\n"
        "comptoir_context_duration_seconds_count{process=\"product-1\"} 5\n";
    //  A second process: same families, no trailing newline, CRLF, noise
    const char *two =
        "# HELP comptoir_context_requests_total Requests handled (other words)\r\n"
        "# TYPE comptoir_context_requests_total counter\n"
        "comptoir_context_requests_total{process=\"product-2\",verb=\"product.get\"} 7\n"
        "\n"
        "# a comment\n"
        "# HELP \n"
        "{not a sample} 1\n"
        "# TYPE comptoir_context_duration_seconds histogram\n"
        "comptoir_context_duration_seconds_bucket{process=\"product-2\",le=\"+Inf\"} 7\n"
        "comptoir_context_duration_seconds_count{process=\"product-2\"} 7\n"
        "untyped_thing 4";
    assert (edge_metrics_add (metrics, edge, strlen (edge)) == 0);
    assert (edge_metrics_add (metrics, one, strlen (one)) == 0);
    assert (edge_metrics_add (metrics, two, strlen (two)) == 0);
    assert (edge_metrics_add (metrics, NULL, 0) == 0);
    char *text = edge_metrics_render (metrics);
    assert (text);
    if (verbose)
        printf ("\n%s", text);
    const char *expected =
        "# HELP comptoir_edge_requests_total HTTP requests\n"
        "# TYPE comptoir_edge_requests_total counter\n"
        "comptoir_edge_requests_total{route=\"/health\"} 3\n"
        "# HELP comptoir_context_requests_total Requests handled\n"
        "# TYPE comptoir_context_requests_total counter\n"
        "comptoir_context_requests_total{process=\"product-1\",verb=\"product.get\"} 5\n"
        "comptoir_context_requests_total{process=\"product-2\",verb=\"product.get\"} 7\n"
        "# TYPE comptoir_context_duration_seconds histogram\n"
        "comptoir_context_duration_seconds_bucket{process=\"product-1\",le=\"+Inf\"} 5\n"
        "comptoir_context_duration_seconds_sum{process=\"product-1\"} 0.01\n"
        "comptoir_context_duration_seconds_count{process=\"product-1\"} 5\n"
        "comptoir_context_duration_seconds_bucket{process=\"product-2\",le=\"+Inf\"} 7\n"
        "comptoir_context_duration_seconds_count{process=\"product-2\"} 7\n"
        "untyped_thing 4\n"
        "# a comment\n";
    assert (streq (text, expected));
    free (text);
    edge_metrics_destroy (&metrics);
    assert (metrics == NULL);

    //  Nothing in, nothing out
    metrics = edge_metrics_new ();
    text = edge_metrics_render (metrics);
    assert (text && streq (text, ""));
    free (text);
    //  A counter named like a histogram's sample is its own family
    const char *plain = "# TYPE jobs counter\njobs_count 1\n";
    assert (edge_metrics_add (metrics, plain, strlen (plain)) == 0);
    text = edge_metrics_render (metrics);
    assert (streq (text, "# TYPE jobs counter\njobs_count 1\n"));
    free (text);
    edge_metrics_destroy (&metrics);
    printf ("OK\n");
}
