/*  =========================================================================
    sidemetrics - metrics of a context process's side actors

    A snapshot is the whole rendered registry, not a delta: a lost or
    dropped message costs nothing but freshness, and the parent keeps only
    the latest text per source, so a side actor that restarts with fresh
    counters replaces its old snapshot instead of adding to it. The PUSH
    socket does not wait for the parent (a few snapshots queued at most,
    sent without blocking), so a feed never stalls on its metrics.
    =========================================================================
*/
#include "sidemetrics.h"

//  Snapshots queued for a parent that has not read them yet; more are dropped.
#define SIDEMETRICS_QUEUE 8

struct _sidemetrics_t {
    zsock_t *push;
    char *source;
    metrics_t *metrics;
};

//  --------------------------------------------------------------------------

sidemetrics_t *
sidemetrics_new (const char *endpoint, const char *source)
{
    assert (endpoint);
    assert (source);
    sidemetrics_t *self = (sidemetrics_t *) zmalloc (sizeof (sidemetrics_t));
    if (!self)
        return NULL;
    self->push = zsock_new (ZMQ_PUSH);
    self->source = strdup (source);
    self->metrics = metrics_new ();
    if (self->push) {
        zsock_set_sndhwm (self->push, SIDEMETRICS_QUEUE);
        zsock_set_linger (self->push, 0);
        zsock_set_sndtimeo (self->push, 0);
    }
    if (!self->push || !self->source || !self->metrics || zsock_connect (self->push, "%s", endpoint))
        sidemetrics_destroy (&self);
    return self;
}

//  --------------------------------------------------------------------------

void
sidemetrics_destroy (sidemetrics_t **self_p)
{
    assert (self_p);
    sidemetrics_t *self = *self_p;
    if (self) {
        zsock_destroy (&self->push);
        metrics_destroy (&self->metrics);
        free (self->source);
        free (self);
        *self_p = NULL;
    }
}

//  --------------------------------------------------------------------------

metrics_t *
sidemetrics_registry (sidemetrics_t *self)
{
    assert (self);
    return self->metrics;
}

//  --------------------------------------------------------------------------

int
sidemetrics_push (sidemetrics_t *self, const char *prefix_labels)
{
    assert (self);
    char *text = metrics_render (self->metrics, prefix_labels);
    if (!text)
        return -1;
    zmsg_t *msg = zmsg_new ();
    int rc = msg && zmsg_addstr (msg, self->source) == 0 && zmsg_addstr (msg, text) == 0 ? 0 : -1;
    free (text);
    if (rc == 0)
        rc = zmsg_send (&msg, self->push);
    zmsg_destroy (&msg);
    return rc;
}

//  --------------------------------------------------------------------------

int
sidemetrics_recv (zsock_t *pull, zhashx_t *snapshots)
{
    assert (pull);
    assert (snapshots);
    zmsg_t *msg = zmsg_recv (pull);
    if (!msg)
        return -1;
    char *source = zmsg_popstr (msg);
    char *text = zmsg_popstr (msg);
    int rc = -1;
    if (source && text && zmsg_size (msg) == 0) {
        zhashx_update (snapshots, source, text);
        text = NULL;
        rc = 0;
    }
    free (source);
    free (text);
    zmsg_destroy (&msg);
    return rc;
}

//  --------------------------------------------------------------------------
//  Self test: a side actor's snapshot reaches the parent, the latest wins.

void
sidemetrics_test (bool verbose)
{
    printf (" * sidemetrics: ");
    //  Pushed before the parent binds: queued, never blocking
    sidemetrics_t *feed = sidemetrics_new ("inproc://sidemetrics-test", "feed");
    assert (feed);
    metrics_t *registry = sidemetrics_registry (feed);
    metrics_declare (registry, "feed_applied_total", "counter", "Events applied.");
    metrics_counter_add (registry, "feed_applied_total", "producer=\"order\"", 1);
    sidemetrics_push (feed, "process=\"test-1\"");
    sidemetrics_push (feed, "process=\"test-1\"");

    zsock_t *pull = zsock_new_pull ("@inproc://sidemetrics-test");
    assert (pull);
    zsock_set_rcvtimeo (pull, 1000);
    zhashx_t *snapshots = zhashx_new ();
    zhashx_set_destructor (snapshots, (zhashx_destructor_fn *) zstr_free);
    assert (sidemetrics_recv (pull, snapshots) == 0);
    const char *text = (const char *) zhashx_lookup (snapshots, "feed");
    assert (text && strstr (text, "feed_applied_total{process=\"test-1\",producer=\"order\"} 1\n"));
    while (zsock_events (pull) & ZMQ_POLLIN)
        assert (sidemetrics_recv (pull, snapshots) == 0);

    //  Each snapshot replaces the source's last one: the whole registry
    metrics_counter_add (registry, "feed_applied_total", "producer=\"order\"", 6);
    assert (sidemetrics_push (feed, "process=\"test-1\"") == 0);
    assert (sidemetrics_recv (pull, snapshots) == 0);
    assert (zhashx_size (snapshots) == 1);
    text = (const char *) zhashx_lookup (snapshots, "feed");
    if (verbose)
        printf ("\n%s", text);
    assert (strstr (text, "# TYPE feed_applied_total counter\n"));
    assert (strstr (text, "feed_applied_total{process=\"test-1\",producer=\"order\"} 7\n"));

    //  A message that is not a snapshot is refused
    zsock_t *stray = zsock_new_push (">inproc://sidemetrics-test");
    assert (stray);
    zstr_send (stray, "feed");
    assert (sidemetrics_recv (pull, snapshots) == -1);
    assert (zhashx_size (snapshots) == 1);
    zsock_destroy (&stray);

    zhashx_destroy (&snapshots);
    zsock_destroy (&pull);
    sidemetrics_destroy (&feed);
    if (verbose)
        printf ("(verbose) ");
    printf ("OK\n");
}
