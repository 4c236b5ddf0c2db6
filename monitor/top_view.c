/*  =========================================================================
    top_view - what comptoir-top shows: the model and its rendering

    The model is a copy of the broker's last status (services and workers,
    sorted so the screen does not jump between refreshes) and a ring of the
    socket events seen so far, each once: the view remembers the last
    sequence number and asks only for what came after it.

    Everything that comes from the broker is untrusted, even over CURVE
    (the tool may point at any broker): an answer that is not the expected
    shape is refused whole, an entry with a missing or mistyped field is
    skipped and counted, and every string is cut to its column and has its
    control characters replaced, so no answer can move the cursor or
    change the terminal.
    =========================================================================
*/
#include "top_view.h"

#define NAME_MAX_CHARS      128
#define ID_MAX_CHARS        96
#define ADDRESS_MAX_CHARS   72
#define KIND_MAX_CHARS      32
#define KEY_MAX_CHARS       41
#define DETAIL_MAX_CHARS    128
#define LINE_MAX_CHARS      512
#define EVENTS_MIN_ROWS     5       //  rows kept for the stream on a small screen

typedef struct {
    char name [NAME_MAX_CHARS];
    int64_t workers, idle, queue, served;
    double rps, p50_ms, p99_ms;         //  < 0: not given (no reply measured yet)
} view_service_t;

typedef struct {
    char id [ID_MAX_CHARS];
    char instance [ID_MAX_CHARS];
    char service [NAME_MAX_CHARS];
    char address [ADDRESS_MAX_CHARS];
    bool idle;
    int64_t served, seen_ms, expires_ms;    //  seen_ms < 0: not given
    int64_t age_ms;                         //  since its READY; < 0: not given
} view_worker_t;

typedef struct {
    uint64_t seq;
    int64_t at;
    char kind [KIND_MAX_CHARS];
    char address [ADDRESS_MAX_CHARS];
    char key [KEY_MAX_CHARS];
    char detail [DETAIL_MAX_CHARS];
} view_event_t;

struct _top_view_t {
    char *endpoint;
    view_service_t *services;
    size_t service_count;
    size_t public_services;         //  those before the internal ones (_metrics.*)
    view_worker_t *workers;
    size_t worker_count;
    size_t public_workers;
    bool show_internal;
    size_t skipped;                 //  entries of the last status we could not read
    char ha [32];
    int64_t uptime_s;
    bool have_status;
    view_event_t events [TOP_VIEW_EVENTS_MAX];
    size_t event_count;             //  kept (at most TOP_VIEW_EVENTS_MAX)
    uint64_t event_total;           //  ever added: the next one goes to slot total % MAX
    uint64_t since;                 //  the broker's newest sequence seen
    uint64_t missed;                //  events the broker dropped before we asked
    int scroll;                     //  newest events skipped on screen
    bool paused;
    char *error;
    zhashx_t *key_names;            //  public key (z85) -> whose it is
};

//  --------------------------------------------------------------------------
//  Copy a string from the broker into a field: cut to size, control
//  characters and non-ASCII bytes made '?'.

static void
s_copy (char *field, size_t size, const char *value)
{
    size_t index = 0;
    for (; value && value [index] && index + 1 < size; index++) {
        unsigned char c = (unsigned char) value [index];
        field [index] = c < 0x20 || c >= 0x7f ? '?' : (char) c;
    }
    field [index] = 0;
}

//  --------------------------------------------------------------------------

top_view_t *
top_view_new (const char *endpoint)
{
    top_view_t *self = (top_view_t *) zmalloc (sizeof (top_view_t));
    if (!self)
        return NULL;
    self->endpoint = strdup (endpoint ? endpoint : "?");
    snprintf (self->ha, sizeof self->ha, "single");
    self->key_names = zhashx_new ();
    if (!self->endpoint || !self->key_names)
        top_view_destroy (&self);
    else {
        zhashx_set_destructor (self->key_names, (czmq_destructor *) zstr_free);
        zhashx_set_duplicator (self->key_names, (czmq_duplicator *) strdup);
    }
    return self;
}

void
top_view_destroy (top_view_t **self_p)
{
    assert (self_p);
    top_view_t *self = *self_p;
    if (self) {
        free (self->endpoint);
        free (self->services);
        free (self->workers);
        free (self->error);
        zhashx_destroy (&self->key_names);
        free (self);
        *self_p = NULL;
    }
}

//  --------------------------------------------------------------------------

//  Services by name, the internal ones (_metrics.cart-1) after the others:
//  what the shop serves comes first on a small screen.
static int
s_compare_names (const char *one, const char *two)
{
    if ((*one == '_') != (*two == '_'))
        return *one == '_' ? 1 : -1;
    return strcmp (one, two);
}

static int
s_compare_services (const void *one, const void *two)
{
    return s_compare_names (((const view_service_t *) one)->name, ((const view_service_t *) two)->name);
}

static int
s_compare_workers (const void *one, const void *two)
{
    const view_worker_t *a = (const view_worker_t *) one, *b = (const view_worker_t *) two;
    int order = s_compare_names (a->service, b->service);
    return order ? order : strcmp (a->id, b->id);
}

//  A worker's instance is its identity up to the last dot (cart-2.1 is
//  actor 1 of process cart-2); other identities have none we know.
static void
s_instance_of (const char *id, char *instance, size_t size)
{
    const char *dot = strrchr (id, '.');
    if (!dot || dot == id)
        snprintf (instance, size, "-");
    else
        snprintf (instance, size, "%.*s", (int) (dot - id), id);
}

int
top_view_set_status (top_view_t *self, const json_t *status)
{
    assert (self);
    json_t *services = json_object_get (status, "services");
    json_t *workers = json_object_get (status, "workers");
    if (!json_is_object (status) || !json_is_array (services) || !json_is_array (workers))
        return -1;
    size_t service_count = json_array_size (services), worker_count = json_array_size (workers);
    view_service_t *service_list = (view_service_t *) calloc (service_count + 1, sizeof (view_service_t));
    view_worker_t *worker_list = (view_worker_t *) calloc (worker_count + 1, sizeof (view_worker_t));
    if (!service_list || !worker_list) {
        free (service_list);
        free (worker_list);
        return -1;
    }
    size_t skipped = 0, index;
    json_t *item;
    service_count = 0;
    json_array_foreach (services, index, item) {
        const char *name;
        json_int_t count, idle, queue, served;
        json_t *rps = NULL, *p50 = NULL, *p99 = NULL;     //  numbers, or null before a reply
        if (json_unpack ((json_t *) item, "{s:s, s:I, s:I, s:I, s:I, s?o, s?o, s?o}",
                         "name", &name, "workers", &count, "idle", &idle, "queue", &queue,
                         "replies", &served, "rps", &rps, "p50_ms", &p50, "p99_ms", &p99) != 0) {
            skipped++;
            continue;
        }
        view_service_t *service = &service_list [service_count++];
        s_copy (service->name, sizeof service->name, name);
        service->workers = count;
        service->idle = idle;
        service->queue = queue;
        service->served = served;
        service->rps = json_is_number (rps) ? json_number_value (rps) : -1;
        service->p50_ms = json_is_number (p50) ? json_number_value (p50) : -1;
        service->p99_ms = json_is_number (p99) ? json_number_value (p99) : -1;
    }
    worker_count = 0;
    json_array_foreach (workers, index, item) {
        const char *id, *service, *address = "";
        int idle;
        json_int_t served, expires = -1, seen = -1, age = -1;
        if (json_unpack ((json_t *) item, "{s:s, s:s, s:b, s:I, s?I, s?I, s?I, s?s}",
                         "id", &id, "service", &service, "idle", &idle, "served", &served,
                         "expires_in_ms", &expires, "seen_ms_ago", &seen, "age_ms", &age,
                         "address", &address) != 0) {
            skipped++;
            continue;
        }
        view_worker_t *worker = &worker_list [worker_count++];
        s_copy (worker->id, sizeof worker->id, id);
        s_copy (worker->service, sizeof worker->service, service);
        s_copy (worker->address, sizeof worker->address, *address ? address : "-");
        s_instance_of (worker->id, worker->instance, sizeof worker->instance);
        worker->idle = idle != 0;
        worker->served = served;
        worker->seen_ms = seen;
        worker->expires_ms = expires;
        worker->age_ms = age;
    }
    qsort (service_list, service_count, sizeof (view_service_t), s_compare_services);
    qsort (worker_list, worker_count, sizeof (view_worker_t), s_compare_workers);
    free (self->services);
    free (self->workers);
    self->services = service_list;
    self->service_count = service_count;
    self->workers = worker_list;
    self->worker_count = worker_count;
    //  Sorted, the internal ones come last.
    self->public_services = 0;
    while (self->public_services < service_count && service_list [self->public_services].name [0] != '_')
        self->public_services++;
    self->public_workers = 0;
    while (self->public_workers < worker_count && worker_list [self->public_workers].service [0] != '_')
        self->public_workers++;
    self->skipped = skipped;
    json_t *ha = json_object_get (status, "ha");
    s_copy (self->ha, sizeof self->ha, json_is_string (ha) ? json_string_value (ha) : "single");
    self->uptime_s = json_integer_value (json_object_get (status, "uptime_s"));
    self->have_status = true;
    return 0;
}

//  --------------------------------------------------------------------------

int
top_view_add_events (top_view_t *self, const json_t *answer)
{
    assert (self);
    json_t *events = json_object_get (answer, "events");
    json_t *first = json_object_get (answer, "first");
    json_t *last = json_object_get (answer, "last");
    if (!json_is_array (events) || !json_is_integer (first) || !json_is_integer (last)
    ||  json_integer_value (first) < 0 || json_integer_value (last) < 0)
        return -1;
    if ((uint64_t) json_integer_value (last) < self->since) {
        self->since = 0;            //  a new broker: its numbers start again
        return 0;
    }
    uint64_t oldest = (uint64_t) json_integer_value (first);
    if (self->since > 0 && oldest > self->since + 1)
        self->missed += oldest - self->since - 1;
    int added = 0;
    size_t index;
    json_t *item;
    json_array_foreach (events, index, item) {
        json_int_t seq, at;
        const char *kind, *address, *detail, *key = "";
        if (json_unpack ((json_t *) item, "{s:I, s:I, s:s, s:s, s:s, s?s}", "seq", &seq, "at", &at,
                         "kind", &kind, "address", &address, "detail", &detail, "key", &key) != 0
        ||  seq <= 0 || (uint64_t) seq <= self->since)
            continue;
        view_event_t *event = &self->events [self->event_total++ % TOP_VIEW_EVENTS_MAX];
        event->seq = (uint64_t) seq;
        event->at = at;
        s_copy (event->kind, sizeof event->kind, kind);
        s_copy (event->address, sizeof event->address, *address ? address : "-");
        s_copy (event->key, sizeof event->key, key);
        s_copy (event->detail, sizeof event->detail, detail);
        self->since = (uint64_t) seq;
        if (self->event_count < TOP_VIEW_EVENTS_MAX)
            self->event_count++;
        if (self->scroll > 0)       //  keep the lines being read in place
            self->scroll++;
        added++;
    }
    return added;
}

uint64_t
top_view_since (top_view_t *self)
{
    assert (self);
    return self->since;
}

uint64_t
top_view_event_total (top_view_t *self)
{
    assert (self);
    return self->event_total;
}

//  --------------------------------------------------------------------------

void
top_view_name_key (top_view_t *self, const char *key, const char *name)
{
    assert (self);
    assert (key && name);
    zhashx_update (self->key_names, key, (void *) name);
}

//  --------------------------------------------------------------------------

void
top_view_set_error (top_view_t *self, const char *error)
{
    assert (self);
    free (self->error);
    self->error = error ? strdup (error) : NULL;
}

void
top_view_set_paused (top_view_t *self, bool paused)
{
    assert (self);
    self->paused = paused;
}

bool
top_view_paused (top_view_t *self)
{
    assert (self);
    return self->paused;
}

void
top_view_show_internal (top_view_t *self, bool show)
{
    assert (self);
    self->show_internal = show;
}

bool
top_view_internal_shown (top_view_t *self)
{
    assert (self);
    return self->show_internal;
}

void
top_view_scroll (top_view_t *self, int lines)
{
    assert (self);
    int scroll = self->scroll + lines;
    int most = self->event_count > 0 ? (int) self->event_count - 1 : 0;
    self->scroll = scroll < 0 ? 0 : scroll > most ? most : scroll;
}

//  --------------------------------------------------------------------------
//  Rendering helpers.

//  The i-th newest event kept (0 = newest).
static view_event_t *
s_event_newest (top_view_t *self, size_t index)
{
    if (index >= self->event_count)
        return NULL;
    return &self->events [(self->event_total - 1 - index) % TOP_VIEW_EVENTS_MAX];
}

static void
s_line (zlistx_t *lines, int width, const char *format, ...)
{
    char text [LINE_MAX_CHARS];
    va_list args;
    va_start (args, format);
    vsnprintf (text, sizeof text, format, args);
    va_end (args);
    if (width > 0 && width < (int) sizeof text)
        text [width] = 0;
    zlistx_add_end (lines, strdup (text));
}

static void
s_figure (char *text, size_t size, double value, const char *format)
{
    if (value < 0)
        snprintf (text, size, "-");
    else
        snprintf (text, size, format, value);
}

static void
s_uptime (char *text, size_t size, int64_t seconds)
{
    if (seconds < 0)
        snprintf (text, size, "-");
    else
    if (seconds >= 86400)
        snprintf (text, size, "%dd%02dh", (int) (seconds / 86400), (int) (seconds % 86400 / 3600));
    else
    if (seconds >= 3600)
        snprintf (text, size, "%dh%02dm", (int) (seconds / 3600), (int) (seconds % 3600 / 60));
    else
        snprintf (text, size, "%dm%02ds", (int) (seconds / 60), (int) (seconds % 60));
}

static void
s_clock (char *text, size_t size, int64_t at_ms, bool millis)
{
    time_t seconds = (time_t) (at_ms / 1000);
    struct tm local;
    localtime_r (&seconds, &local);
    if (millis)
        snprintf (text, size, "%02d:%02d:%02d.%03d", local.tm_hour, local.tm_min, local.tm_sec,
                  (int) (at_ms % 1000));
    else
        snprintf (text, size, "%02d:%02d:%02d", local.tm_hour, local.tm_min, local.tm_sec);
}

#define SERVICES_HEADING    "SERVICE"
#define WORKERS_HEADING     "WORKER"
#define EVENTS_HEADING      "EVENTS"
#define TITLE_HEADING       "comptoir-top"

static void
s_render_service (zlistx_t *lines, int width, view_service_t *service)
{
    char rps [16], p50 [16], p99 [16];
    s_figure (rps, sizeof rps, service->rps, "%.1f");
    s_figure (p50, sizeof p50, service->p50_ms, "%.2f");
    s_figure (p99, sizeof p99, service->p99_ms, "%.2f");
    s_line (lines, width, "%-24.24s %7lld %5lld %6lld %8s %8s %8s %10lld", service->name,
            (long long) service->workers, (long long) service->idle, (long long) service->queue,
            rps, p50, p99, (long long) service->served);
}

static void
s_render_worker (zlistx_t *lines, int width, view_worker_t *worker)
{
    char seen [24], expires [24], age [24];
    s_uptime (age, sizeof age, worker->age_ms < 0 ? -1 : worker->age_ms / 1000);
    if (worker->seen_ms >= 0)
        snprintf (seen, sizeof seen, "%lld", (long long) worker->seen_ms);
    else
        snprintf (seen, sizeof seen, "-");
    if (worker->expires_ms >= 0)
        snprintf (expires, sizeof expires, "%lld", (long long) worker->expires_ms);
    else
        snprintf (expires, sizeof expires, "-");
    //  Credit and outstanding requests: the broker has no credit yet (issue 9).
    s_line (lines, width, "%-24.24s %-14.14s %-18.18s %-5s %-15.15s %7s %7s %7s %8lld %6s %4s",
            worker->id, worker->instance, worker->service, worker->idle ? "idle" : "busy",
            worker->address, age, seen, expires, (long long) worker->served, "-", "-");
}

static void
s_render_event (top_view_t *self, zlistx_t *lines, int width, view_event_t *event)
{
    char clock [16], key [96] = "";
    s_clock (clock, sizeof clock, event->at, true);
    if (*event->key) {
        const char *name = (const char *) zhashx_lookup (self->key_names, event->key);
        snprintf (key, sizeof key, "  key %s (%s)", event->key, name ? name : "unknown key");
    }
    s_line (lines, width, "%s %-26s %-22s %s%s", clock, event->kind, event->address,
            event->detail, key);
}

//  --------------------------------------------------------------------------

zlistx_t *
top_view_render (top_view_t *self, int width, int height)
{
    assert (self);
    zlistx_t *lines = zlistx_new ();
    if (!lines)
        return NULL;
    zlistx_set_destructor (lines, (czmq_destructor *) zstr_free);
    char uptime [24], clock [16];
    s_uptime (uptime, sizeof uptime, self->uptime_s);
    s_clock (clock, sizeof clock, zclock_time (), false);
    s_line (lines, width, TITLE_HEADING "  %s  HA %s%s  up %s  %s%s", self->endpoint, self->ha,
            streq (self->ha, "single") ? " (no Binary Star pair yet)" : "",
            self->have_status ? uptime : "?", clock, self->paused ? "  [paused]" : "");
    if (self->error)
        s_line (lines, width, "!! %s%s", self->error,
                self->have_status ? " (the figures below are the last ones received)" : "");
    else
    if (!self->have_status)
        s_line (lines, width, "waiting for the broker's first answer");
    if (self->skipped)
        s_line (lines, width, "!! %zu entries of the broker's answer could not be read", self->skipped);

    //  Rows: whatever the title and the headings leave, the stream keeping
    //  at least EVENTS_MIN_ROWS; height <= 0 shows everything.
    size_t services = self->show_internal ? self->service_count : self->public_services;
    size_t workers = self->show_internal ? self->worker_count : self->public_workers;
    bool hidden = services < self->service_count;
    int fixed = (int) zlistx_size (lines) + 5 + (hidden ? 1 : 0);
    int room = height > 0 ? height - fixed : INT_MAX / 4;
    int service_rows = (int) services;
    int worker_rows = (int) workers;
    if (height > 0) {
        int spare = room - EVENTS_MIN_ROWS;
        if (service_rows > spare)
            service_rows = spare > 1 ? spare : 1;
        spare -= service_rows;
        if (worker_rows > spare)
            worker_rows = spare > 1 ? spare : 1;
    }
    s_line (lines, width, SERVICES_HEADING "%17s %7s %5s %6s %8s %8s %8s %10s", "", "WORKERS", "IDLE",
            "QUEUE", "RPS", "P50 ms", "P99 ms", "SERVED");
    for (int index = 0; index < service_rows && index < (int) services; index++) {
        if (index == service_rows - 1 && service_rows < (int) services)
            s_line (lines, width, "... %d more services", (int) services - index);
        else
            s_render_service (lines, width, &self->services [index]);
    }
    s_line (lines, width, "%s", "");
    s_line (lines, width, WORKERS_HEADING "%18s %-14s %-18s %-5s %-15s %7s %7s %7s %8s %6s %4s", "",
            "INSTANCE", "SERVICE", "STATE", "ADDRESS", "AGE", "SEEN ms", "EXP ms", "SERVED", "CREDIT",
            "OUT");
    for (int index = 0; index < worker_rows && index < (int) workers; index++) {
        if (index == worker_rows - 1 && worker_rows < (int) workers)
            s_line (lines, width, "... %d more workers", (int) workers - index);
        else
            s_render_worker (lines, width, &self->workers [index]);
    }
    if (hidden)
        s_line (lines, width, "(%zu internal services (_metrics.*) and their %zu workers not shown: %s)",
                self->service_count - services, self->worker_count - workers,
                height > 0 ? "i shows them" : "--all shows them");
    s_line (lines, width, "%s", "");

    char missed [48] = "";
    if (self->missed)
        snprintf (missed, sizeof missed, ", %llu missed", (unsigned long long) self->missed);
    s_line (lines, width, EVENTS_HEADING " newest first (%zu kept%s)%s", self->event_count, missed,
            height > 0 ? "   up/down scroll  p pause  i internal  q quit" : "");
    int event_rows = height > 0 ? height - (int) zlistx_size (lines) : TOP_VIEW_ONCE_EVENTS;
    int scroll = height > 0 ? self->scroll : 0;
    if (scroll > 0 && event_rows > 0) {
        s_line (lines, width, "... %d newer events above", scroll);
        event_rows--;
    }
    for (int index = 0; index < event_rows; index++) {
        view_event_t *event = s_event_newest (self, (size_t) (scroll + index));
        if (!event)
            break;
        s_render_event (self, lines, width, event);
    }
    return lines;
}

bool
top_view_heading (const char *line)
{
    assert (line);
    return strncmp (line, TITLE_HEADING, strlen (TITLE_HEADING)) == 0
        || strncmp (line, SERVICES_HEADING " ", strlen (SERVICES_HEADING) + 1) == 0
        || strncmp (line, WORKERS_HEADING " ", strlen (WORKERS_HEADING) + 1) == 0
        || strncmp (line, EVENTS_HEADING " ", strlen (EVENTS_HEADING) + 1) == 0;
}

//  --------------------------------------------------------------------------

static json_t *
s_figure_json (double value)
{
    return value < 0 ? json_null () : json_real (value);
}

json_t *
top_view_json (top_view_t *self, uint64_t after_total)
{
    assert (self);
    json_t *services = json_array ();
    for (size_t index = 0; index < self->service_count; index++) {
        view_service_t *service = &self->services [index];
        json_array_append_new (services, json_pack ("{s:s, s:I, s:I, s:I, s:o, s:o, s:o, s:I}",
            "name", service->name, "workers", (json_int_t) service->workers,
            "idle", (json_int_t) service->idle, "queue", (json_int_t) service->queue,
            "rps", s_figure_json (service->rps), "p50_ms", s_figure_json (service->p50_ms),
            "p99_ms", s_figure_json (service->p99_ms), "served", (json_int_t) service->served));
    }
    json_t *workers = json_array ();
    for (size_t index = 0; index < self->worker_count; index++) {
        view_worker_t *worker = &self->workers [index];
        json_array_append_new (workers, json_pack (
            "{s:s, s:s, s:s, s:s, s:b, s:I, s:I, s:I, s:I, s:n, s:n}",
            "id", worker->id, "instance", worker->instance, "service", worker->service,
            "address", worker->address, "idle", worker->idle, "served", (json_int_t) worker->served,
            "seen_ms_ago", (json_int_t) worker->seen_ms, "expires_in_ms", (json_int_t) worker->expires_ms,
            "age_ms", (json_int_t) worker->age_ms,
            "credit", "outstanding"));
    }
    json_t *events = json_array ();
    uint64_t newer = self->event_total > after_total ? self->event_total - after_total : 0;
    if (newer > self->event_count)
        newer = self->event_count;
    for (size_t index = (size_t) newer; index > 0; index--) {
        view_event_t *event = s_event_newest (self, index - 1);
        json_t *item = json_pack ("{s:I, s:I, s:s, s:s, s:s}", "seq", (json_int_t) event->seq,
                                  "at", (json_int_t) event->at, "kind", event->kind,
                                  "address", event->address, "detail", event->detail);
        if (item && *event->key) {
            const char *name = (const char *) zhashx_lookup (self->key_names, event->key);
            json_object_set_new (item, "key", json_string (event->key));
            json_object_set_new (item, "key_name", name ? json_string (name) : json_null ());
        }
        json_array_append_new (events, item);
    }
    return json_pack ("{s:s, s:I, s:b, s:s?, s:s, s:I, s:o, s:o, s:o, s:I}",
                      "broker", self->endpoint, "at", (json_int_t) zclock_time (),
                      "ok", self->error == NULL && self->have_status, "error", self->error,
                      "ha", self->ha, "uptime_s", (json_int_t) self->uptime_s,
                      "services", services, "workers", workers, "events", events,
                      "missed", (json_int_t) self->missed);
}

//  --------------------------------------------------------------------------
//  Self-test: a broker's answers in, the screen and the JSON out.

static char *
s_screen (top_view_t *view, int width, int height)
{
    zlistx_t *lines = top_view_render (view, width, height);
    assert (lines);
    assert (height <= 0 || (int) zlistx_size (lines) <= height);
    size_t size = 1;
    for (char *line = (char *) zlistx_first (lines); line; line = (char *) zlistx_next (lines)) {
        assert ((int) strlen (line) <= width);
        size += strlen (line) + 1;
    }
    char *screen = (char *) zmalloc (size);
    for (char *line = (char *) zlistx_first (lines); line; line = (char *) zlistx_next (lines)) {
        strcat (screen, line);
        strcat (screen, "\n");
    }
    zlistx_destroy (&lines);
    return screen;
}

void
top_view_test (bool verbose)
{
    printf (" * top_view: ");
    top_view_t *view = top_view_new ("tcp://127.0.0.1:5555");
    assert (view);
    char *screen = s_screen (view, 120, 30);
    assert (strstr (screen, "waiting for the broker"));
    free (screen);

    //  Services and workers, sorted; instances from identities; no credit yet.
    json_t *status = json_loads (
        "{\"ha\": \"single\", \"uptime_s\": 3725, \"services\": ["
        " {\"name\": \"_metrics.cart-1\", \"workers\": 1, \"idle\": 1, \"queue\": 0, \"replies\": 0},"
        " {\"name\": \"product\", \"workers\": 2, \"idle\": 1, \"queue\": 0, \"replies\": 10,"
        "  \"rps\": 2.5, \"p50_ms\": 1.25, \"p99_ms\": 7.5},"
        " {\"name\": \"cart\", \"workers\": 3, \"idle\": 3, \"queue\": 4, \"replies\": 7,"
        "  \"rps\": 0.0, \"p50_ms\": null},"
        " {\"name\": \"bad\", \"workers\": \"many\"}],"
        " \"workers\": ["
        " {\"id\": \"cart-2.1\", \"service\": \"cart\", \"idle\": true, \"served\": 3, \"expires_in_ms\": 900,"
        "  \"seen_ms_ago\": 100, \"age_ms\": 65000, \"address\": \"127.0.0.1\"},"
        " {\"id\": \"cart-1.1\", \"service\": \"cart\", \"idle\": false, \"served\": 4},"
        " {\"id\": \"evil\\u001b[2J\", \"service\": \"product\", \"idle\": true, \"served\": 0}]}", 0, NULL);
    assert (status);
    assert (top_view_set_status (view, status) == 0);
    json_decref (status);
    json_t *wrong = json_pack ("{s:s}", "services", "none");
    assert (top_view_set_status (view, wrong) == -1);
    json_decref (wrong);
    screen = s_screen (view, 140, 0);
    if (verbose)
        printf ("\n%s", screen);
    assert (strstr (screen, "HA single (no Binary Star pair yet)  up 1h02m"));
    assert (strstr (screen, "1 entries of the broker's answer could not be read"));
    char *cart = strstr (screen, "\ncart ");
    char *product = strstr (screen, "\nproduct ");
    assert (cart && product && cart < product);
    assert (strstr (cart, "      3     3      4      0.0        -        -          7"));
    assert (strstr (product, "2.5     1.25     7.50"));
    char *first = strstr (screen, "cart-1.1");
    char *second = strstr (screen, "cart-2.1");
    assert (first && second && first < second);
    assert (!strstr (screen, "\n_metrics.cart-1 "));
    assert (strstr (screen, "(1 internal services (_metrics.*) and their 0 workers not shown: --all"));
    assert (strstr (second, "cart-2         cart               idle  127.0.0.1         1m05s     100     900"));
    assert (strstr (screen, "evil?[2J"));
    assert (!strchr (screen, 0x1b));
    free (screen);
    top_view_show_internal (view, true);
    screen = s_screen (view, 140, 0);
    assert (strstr (screen, "\n_metrics.cart-1 ") > strstr (screen, "\nproduct "));
    assert (!strstr (screen, "not shown"));
    free (screen);

    //  Events: each once, newest first; a gap is counted; scrolling.
    json_t *answer = json_loads (
        "{\"first\": 1, \"last\": 3, \"events\": ["
        " {\"seq\": 1, \"at\": 1700000000000, \"kind\": \"accepted\", \"address\": \"127.0.0.1:4000\", \"detail\": \"\"},"
        " {\"seq\": 2, \"at\": 1700000000001, \"kind\": \"zap_denied\", \"address\": \"127.0.0.1\","
        "  \"key\": \"K\", \"detail\": \"CURVE: public key not allowed\"},"
        " {\"seq\": 3, \"at\": 1700000000002, \"kind\": \"handshake_failed_protocol\","
        "  \"address\": \"127.0.0.1:4001\", \"detail\": \"mismatch\"}]}", 0, NULL);
    assert (top_view_add_events (view, answer) == 3);
    assert (top_view_add_events (view, answer) == 0);       //  the same again: nothing new
    assert (top_view_since (view) == 3);
    json_decref (answer);
    answer = json_loads ("{\"first\": 6, \"last\": 6, \"events\": [{\"seq\": 6, \"at\": 1700000000009,"
                         " \"kind\": \"disconnected\", \"address\": \"127.0.0.1:4000\", \"detail\": \"\"}]}",
                         0, NULL);
    assert (top_view_add_events (view, answer) == 1);
    json_decref (answer);
    screen = s_screen (view, 120, 0);
    assert (strstr (screen, "4 kept, 2 missed"));
    char *newest = strstr (screen, "disconnected");
    char *oldest = strstr (screen, "accepted");
    assert (newest && oldest && newest < oldest);
    assert (strstr (screen, "CURVE: public key not allowed  key K (unknown key)"));
    top_view_name_key (view, "K", "cart-1");
    free (screen);
    screen = s_screen (view, 120, 0);
    assert (strstr (screen, "not allowed  key K (cart-1)"));
    free (screen);
    top_view_scroll (view, 2);
    screen = s_screen (view, 120, 20);
    assert (strstr (screen, "2 newer events above"));
    assert (!strstr (screen, "disconnected") && strstr (screen, "accepted"));
    free (screen);
    top_view_scroll (view, -10);

    //  A small screen keeps room for the stream; a broker that restarted
    //  numbers from 1 again.
    screen = s_screen (view, 60, 14);
    assert (strstr (screen, "more workers") && strstr (screen, "disconnected"));
    free (screen);
    answer = json_loads ("{\"first\": 1, \"last\": 1, \"events\": []}", 0, NULL);
    assert (top_view_add_events (view, answer) == 0);
    assert (top_view_since (view) == 0);
    json_decref (answer);
    assert (top_view_add_events (view, NULL) == -1);

    //  An error, and the JSON for scripts.
    top_view_set_error (view, "the broker does not answer");
    top_view_set_paused (view, true);
    screen = s_screen (view, 120, 30);
    assert (strstr (screen, "!! the broker does not answer (the figures below"));
    assert (strstr (screen, "[paused]"));
    free (screen);
    assert (top_view_event_total (view) == 4);
    json_t *object = top_view_json (view, 2);
    assert (json_is_false (json_object_get (object, "ok")));
    assert (json_array_size (json_object_get (object, "services")) == 3);
    json_t *worker = json_array_get (json_object_get (object, "workers"), 1);
    assert (streq (json_string_value (json_object_get (worker, "instance")), "cart-2"));
    assert (json_is_null (json_object_get (worker, "credit")));
    assert (json_array_size (json_object_get (object, "events")) == 2);
    json_decref (object);
    top_view_destroy (&view);
    assert (view == NULL);
    printf ("OK\n");
}
