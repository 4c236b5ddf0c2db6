/*  =========================================================================
    top_view - what comptoir-top shows: the model and its rendering

    The broker's answers (mmi.status, mmi.events) go in as JSON; lines of
    text, or one JSON object, come out. No socket and no terminal here, so
    the whole screen can be checked by a unit test; top_main.c does the I/O
    and draws the lines with ncurses.
    =========================================================================
*/
#ifndef COMPTOIR_TOP_VIEW_H
#define COMPTOIR_TOP_VIEW_H

#include <czmq.h>
#include <jansson.h>

#define TOP_VIEW_EVENTS_MAX     1000    //  socket events kept for the stream
#define TOP_VIEW_ONCE_EVENTS    20      //  events in a snapshot (height <= 0)

typedef struct _top_view_t top_view_t;

//  A view of the broker at endpoint (shown in the title).
top_view_t *top_view_new (const char *endpoint);
void top_view_destroy (top_view_t **self_p);

//  Take an mmi.status body. Returns 0, or -1 when it is not a status (the
//  view keeps what it had). Entries with missing or mistyped fields are
//  skipped and counted (shown in the title).
int top_view_set_status (top_view_t *self, const json_t *status);

//  Take an mmi.events body. Returns the number of new events, or -1 when
//  it is not an events answer. Events the broker no longer had are counted
//  as missed; a broker whose sequence went back (it restarted) makes the
//  view ask from 0 again.
int top_view_add_events (top_view_t *self, const json_t *answer);

//  The sequence number to ask mmi.events from.
uint64_t top_view_since (top_view_t *self);

//  Events with this public key (z85) show whose it is (name).
void top_view_name_key (top_view_t *self, const char *key, const char *name);

//  The broker does not answer (why), or answers again (NULL).
void top_view_set_error (top_view_t *self, const char *error);

void top_view_set_paused (top_view_t *self, bool paused);
bool top_view_paused (top_view_t *self);

//  Show the internal services (names starting with _, as _metrics.cart-1)
//  and their workers too; hidden by default (the JSON has them always).
void top_view_show_internal (top_view_t *self, bool show);
bool top_view_internal_shown (top_view_t *self);

//  Scroll the event stream: positive goes to older events.
void top_view_scroll (top_view_t *self, int lines);

//  The screen as lines of at most width characters, height lines at most
//  (height <= 0: every service and worker and the last TOP_VIEW_ONCE_EVENTS
//  events, for --once). Events are newest first. Caller destroys the list.
zlistx_t *top_view_render (top_view_t *self, int width, int height);

//  True for the lines render makes as titles and column headings.
bool top_view_heading (const char *line);

//  The view as one JSON object (--json), with the events added after the
//  first after_total (see top_view_event_total; 0: every event kept).
//  Caller owns it.
json_t *top_view_json (top_view_t *self, uint64_t after_total);

//  How many events the view has taken in, ever (not the broker's sequence:
//  that starts again when the broker restarts).
uint64_t top_view_event_total (top_view_t *self);

void top_view_test (bool verbose);

#endif
