/*  =========================================================================
    comptoir-top - a live view of the broker: services, workers, socket events

    A CURVE Majordomo client like any other (runtime/mdp_client.c), with a
    client-only certificate (`comptoir keys` makes var/keys/top, admitted
    by the broker), so it watches a local broker or one on another host.
    Every refresh asks mmi.status and mmi.events (the events after the last
    one seen) at once and draws when both have answered; requests carry a
    deadline, so a broker that does not answer gives a line on the screen
    (or, with --once, a message and exit status 1) and never a hang.

    One loop polls the client's socket and the keyboard, so q and the
    arrows answer while a refresh waits. What is shown is built by top_view
    (monitor/top_view.c) from the answers alone; this file does the I/O:
    options, certificates, requests, ncurses, --once and --json.
    =========================================================================
*/
#include "top_view.h"
#include "curvekeys.h"
#include "logline.h"
#include "mdp.h"
#include "mdp_client.h"
#include "settings.h"

#include <dirent.h>
#include <fcntl.h>
#include <locale.h>
#include <ncurses.h>
#include <unistd.h>

#ifndef COMPTOIR_DEFAULT_CONFIG
#   define COMPTOIR_DEFAULT_CONFIG "etc/comptoir.cfg"
#endif
#define TOP_INTERVAL_MS     1000
#define TOP_TIMEOUT_MS      2000
#define TOP_ONCE_WIDTH      160

typedef struct {
    const char *config;
    const char *broker;
    const char *cert;
    const char *server_key;
    int interval_ms;
    int timeout_ms;
    bool once;
    bool json;
    bool all;
} options_t;

//  One refresh: the two requests in flight and what their answers said.
typedef struct {
    mdp_client_t *client;
    top_view_t *view;
    const char *endpoint;
    int timeout_ms;
    char *status_cid;           //  pending request ids, NULL once answered
    char *events_cid;
    bool failed;                //  this refresh got no usable status
    char error [256];
} refresh_t;

//  --------------------------------------------------------------------------

static void
s_usage (FILE *out, const char *program)
{
    fprintf (out,
        "usage: %s [OPTIONS]\n"
        "A live view of a Comptoir broker: services (workers, idle, queue depth,\n"
        "requests per second, p50/p99 latency), workers (instance, liveness,\n"
        "requests served), the brokers' HA state, and the broker's socket events\n"
        "(connections, failed CURVE handshakes with the peer's address, keys the\n"
        "authenticator refused).\n"
        "\n"
        "  --config FILE      configuration (default %s when it exists): gives\n"
        "                     broker/endpoint and keys/dir\n"
        "  --broker ENDPOINT  the broker, e.g. tcp://shop-1.example:5555\n"
        "                     (default broker/endpoint, else tcp://127.0.0.1:5555)\n"
        "  --cert FILE        this client's certificate; FILE_secret holds its secret\n"
        "                     (default <keys/dir>/top, made by `comptoir keys`)\n"
        "  --server-key FILE  the broker's public certificate, or its public key\n"
        "                     itself (40 z85 characters) (default <keys/dir>/broker)\n"
        "  --interval SECONDS time between refreshes (default 1)\n"
        "  --timeout MS       how long a refresh waits for the broker (default %d)\n"
        "  --once             print one text snapshot and exit (1: no answer)\n"
        "  --json             print one JSON object per refresh (with --once: one)\n"
        "  --all              show the internal services (_metrics.*) and their\n"
        "                     workers too (the JSON always has them)\n"
        "  --help             this text\n"
        "\n"
        "Keys in the live view: q quits, p pauses, i shows or hides the internal\n"
        "services, up/down (page up/down) scroll the events, home goes back to\n"
        "the newest. Log lines go to stderr; in the live view they are dropped\n"
        "unless stderr is redirected (2>top.log).\n"
        "For a remote broker: copy its public certificate (var/keys/broker) and\n"
        "admit this tool's public key there (var/keys/allowed/top.pub, then\n"
        "SIGHUP the broker).\n",
        program, COMPTOIR_DEFAULT_CONFIG, TOP_TIMEOUT_MS);
}

//  Parse the command line. Returns 0, 1 for --help, -1 on a bad argument.
static int
s_options (options_t *options, int argc, char **argv)
{
    *options = (options_t) { .interval_ms = TOP_INTERVAL_MS, .timeout_ms = TOP_TIMEOUT_MS };
    for (int index = 1; index < argc; index++) {
        const char *arg = argv [index];
        const char *value = index + 1 < argc ? argv [index + 1] : NULL;
        if (streq (arg, "--help") || streq (arg, "-h"))
            return 1;
        else
        if (streq (arg, "--once"))
            options->once = true;
        else
        if (streq (arg, "--json"))
            options->json = true;
        else
        if (streq (arg, "--all"))
            options->all = true;
        else
        if (!value) {
            fprintf (stderr, "%s: %s needs a value\n", argv [0], arg);
            return -1;
        }
        else {
            index++;
            char *end = NULL;
            if (streq (arg, "--config"))
                options->config = value;
            else
            if (streq (arg, "--broker"))
                options->broker = value;
            else
            if (streq (arg, "--cert"))
                options->cert = value;
            else
            if (streq (arg, "--server-key"))
                options->server_key = value;
            else
            if (streq (arg, "--interval")) {
                double seconds = strtod (value, &end);
                if (!end || *end || seconds < 0.1 || seconds > 3600) {
                    fprintf (stderr, "%s: --interval wants seconds between 0.1 and 3600\n", argv [0]);
                    return -1;
                }
                options->interval_ms = (int) (seconds * 1000);
            }
            else
            if (streq (arg, "--timeout")) {
                long ms = strtol (value, &end, 10);
                if (!end || *end || ms < 10 || ms > 60000) {
                    fprintf (stderr, "%s: --timeout wants milliseconds between 10 and 60000\n", argv [0]);
                    return -1;
                }
                options->timeout_ms = (int) ms;
            }
            else {
                fprintf (stderr, "%s: unknown argument %s\n", argv [0], arg);
                return -1;
            }
        }
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  The broker's public key: a certificate file, or the key itself.

static char *
s_server_key (const char *given)
{
    if (strlen (given) == 40 && !zsys_file_exists (given)) {
        byte key [32];
        return zmq_z85_decode (key, given) ? strdup (given) : NULL;
    }
    return curvekeys_public_of (given);
}

//  Our certificate, with its secret half.
static zcert_t *
s_client_cert (const char *path)
{
    char secret [1100];
    snprintf (secret, sizeof secret, "%s_secret", path);
    if (!zsys_file_exists (secret))
        return NULL;
    return zcert_load (path);
}

//  Name the keys the broker admits (<keys/dir>/allowed/NAME.pub), when
//  this machine has that folder, so events show whose key it was.
static void
s_name_keys (top_view_t *view, const char *keys_dir)
{
    char folder [1024];
    snprintf (folder, sizeof folder, "%s/allowed", keys_dir);
    DIR *dir = opendir (folder);
    struct dirent *entry;
    while (dir && (entry = readdir (dir))) {
        size_t length = strlen (entry->d_name);
        if (length < 5 || strcmp (entry->d_name + length - 4, ".pub") != 0)
            continue;
        char path [1400];
        snprintf (path, sizeof path, "%s/%s", folder, entry->d_name);
        char *key = curvekeys_public_of (path);
        if (key) {
            entry->d_name [length - 4] = 0;
            top_view_name_key (view, key, entry->d_name);
        }
        free (key);
    }
    if (dir)
        closedir (dir);
}

//  --------------------------------------------------------------------------
//  A refresh: ask both at once.

static char *
s_ask (refresh_t *self, const char *service, json_t *body)
{
    envelope_t *request = envelope_new_request (service);
    if (!request) {
        json_decref (body);
        return NULL;
    }
    request->body = body;
    request->deadline = zclock_time () + self->timeout_ms;
    char *cid = strdup (request->cid);
    if (mdp_client_send (self->client, service, &request) != 0) {
        envelope_destroy (&request);
        free (cid);
        return NULL;
    }
    return cid;
}

static void
s_refresh_start (refresh_t *self)
{
    self->failed = false;
    self->error [0] = 0;
    self->status_cid = s_ask (self, MDP_MMI_STATUS, NULL);
    self->events_cid = s_ask (self, MDP_MMI_EVENTS,
                              json_pack ("{s:I}", "since", (json_int_t) top_view_since (self->view)));
    if (!self->status_cid || !self->events_cid) {
        self->failed = true;
        snprintf (self->error, sizeof self->error, "cannot send to the broker at %s", self->endpoint);
    }
}

static bool
s_refresh_pending (refresh_t *self)
{
    return self->status_cid || self->events_cid;
}

//  An answer that is not a 200: what to say about it.
static void
s_refresh_failure (refresh_t *self, const char *service, envelope_t *reply)
{
    const char *code = json_string_value (json_object_get (reply->error, "code"));
    if (reply->status == 504)
        snprintf (self->error, sizeof self->error,
                  "the broker at %s does not answer (no reply within %d ms)", self->endpoint,
                  self->timeout_ms);
    else
    if (reply->status == 501 && streq (service, MDP_MMI_EVENTS))
        snprintf (self->error, sizeof self->error,
                  "this broker has no mmi.events (older than comptoir-top): no socket events");
    else
        snprintf (self->error, sizeof self->error, "%s answered %d %s", service, reply->status,
                  code ? code : "");
}

//  Take a reply. Returns true when it ended the refresh.
static bool
s_refresh_take (refresh_t *self, envelope_t *reply)
{
    bool status = self->status_cid && streq (reply->cid, self->status_cid);
    bool events = self->events_cid && streq (reply->cid, self->events_cid);
    if (!status && !events)
        return false;               //  a late answer to an older refresh
    const char *service = status ? MDP_MMI_STATUS : MDP_MMI_EVENTS;
    if (reply->status != 200) {
        s_refresh_failure (self, service, reply);
        if (status)
            self->failed = true;
    }
    else
    if (status && top_view_set_status (self->view, reply->body) != 0) {
        self->failed = true;
        snprintf (self->error, sizeof self->error, "the broker's mmi.status answer is not a status");
        log_warn (NULL, "comptoir-top: dropping an mmi.status answer of the wrong shape");
    }
    else
    if (events && top_view_add_events (self->view, reply->body) < 0) {
        snprintf (self->error, sizeof self->error, "the broker's mmi.events answer is not a list of events");
        log_warn (NULL, "comptoir-top: dropping an mmi.events answer of the wrong shape");
    }
    if (status)
        zstr_free (&self->status_cid);
    else
        zstr_free (&self->events_cid);
    if (s_refresh_pending (self))
        return false;
    top_view_set_error (self->view, self->error [0] ? self->error : NULL);
    return true;
}

//  Wait up to timeout_ms for the client's socket (and stdin when asked).
//  Returns true when a refresh ended.
static bool
s_refresh_wait (refresh_t *self, int timeout_ms, bool keyboard, bool *key_ready)
{
    int tick = mdp_client_tick (self->client);
    if (tick >= 0 && tick < timeout_ms)
        timeout_ms = tick;
    zmq_pollitem_t items [2] = {
        { zsock_resolve (mdp_client_sock (self->client)), 0, ZMQ_POLLIN, 0 },
        { NULL, STDIN_FILENO, ZMQ_POLLIN, 0 } };
    zmq_poll (items, keyboard ? 2 : 1, timeout_ms);
    if (key_ready)
        *key_ready = keyboard && (items [1].revents & ZMQ_POLLIN);
    mdp_client_tick (self->client);
    bool ended = false;
    envelope_t *reply;
    while ((reply = mdp_client_recv (self->client))) {
        if (s_refresh_take (self, reply))
            ended = true;
        envelope_destroy (&reply);
    }
    return ended;
}

//  --------------------------------------------------------------------------
//  The three ways to show the view.

static void
s_print_text (top_view_t *view)
{
    zlistx_t *lines = top_view_render (view, TOP_ONCE_WIDTH, 0);
    for (char *line = lines ? (char *) zlistx_first (lines) : NULL; line;
         line = (char *) zlistx_next (lines))
        printf ("%s\n", line);
    zlistx_destroy (&lines);
    fflush (stdout);
}

static void
s_print_json (top_view_t *view, uint64_t *printed)
{
    json_t *object = top_view_json (view, *printed);
    *printed = top_view_event_total (view);
    char *text = object ? json_dumps (object, JSON_COMPACT) : NULL;
    if (text)
        printf ("%s\n", text);
    fflush (stdout);
    free (text);
    json_decref (object);
}

static void
s_draw (top_view_t *view)
{
    zlistx_t *lines = top_view_render (view, COLS, LINES);
    erase ();
    int row = 0;
    for (char *line = lines ? (char *) zlistx_first (lines) : NULL; line && row < LINES;
         line = (char *) zlistx_next (lines), row++) {
        int attribute = row == 0 ? A_REVERSE : top_view_heading (line) ? A_BOLD
                      : strncmp (line, "!!", 2) == 0 ? A_BOLD : A_NORMAL;
        attron (attribute);
        mvaddnstr (row, 0, line, COLS);
        attroff (attribute);
    }
    refresh ();
    zlistx_destroy (&lines);
}

//  Keys waiting. Returns false on q.
static bool
s_keys (top_view_t *view)
{
    int key;
    while ((key = getch ()) != ERR) {
        if (key == 'q' || key == 'Q')
            return false;
        else
        if (key == 'p' || key == 'P' || key == ' ')
            top_view_set_paused (view, !top_view_paused (view));
        else
        if (key == 'i' || key == 'I')
            top_view_show_internal (view, !top_view_internal_shown (view));
        else
        if (key == KEY_UP)
            top_view_scroll (view, -1);
        else
        if (key == KEY_DOWN)
            top_view_scroll (view, 1);
        else
        if (key == KEY_PPAGE)
            top_view_scroll (view, -10);
        else
        if (key == KEY_NPAGE)
            top_view_scroll (view, 10);
        else
        if (key == KEY_HOME)
            top_view_scroll (view, -1000000);
    }
    return true;
}

//  --once: one refresh, printed. Returns the exit status.
static int
s_run_once (refresh_t *refresh, bool json)
{
    s_refresh_start (refresh);
    while (s_refresh_pending (refresh) && !zsys_interrupted)
        s_refresh_wait (refresh, refresh->timeout_ms, false, NULL);
    bool failed = refresh->failed || s_refresh_pending (refresh);
    if (refresh->failed)
        top_view_set_error (refresh->view, refresh->error);
    uint64_t printed = 0;
    if (json)
        s_print_json (refresh->view, &printed);
    else
    if (!failed)
        s_print_text (refresh->view);
    if (refresh->failed)
        fprintf (stderr, "comptoir-top: %s\n", refresh->error);
    return failed ? 1 : 0;
}

//  Start ncurses. Log lines would scribble over the screen: when stderr
//  is the terminal, they are dropped.
static int
s_screen_start (void)
{
    if (isatty (STDERR_FILENO)) {
        int null = open ("/dev/null", O_WRONLY);
        if (null >= 0) {
            dup2 (null, STDERR_FILENO);
            close (null);
        }
    }
    setlocale (LC_ALL, "");
    if (!initscr ())
        return -1;
    cbreak ();
    noecho ();
    keypad (stdscr, TRUE);
    nodelay (stdscr, TRUE);
    curs_set (0);
    return 0;
}

//  The live view (ncurses), or --json lines: refresh until q or a signal.
static int
s_run_live (refresh_t *refresh, int interval_ms, bool json)
{
    if (!json && s_screen_start () != 0) {
        fprintf (stderr, "comptoir-top: cannot use this terminal (is TERM set?)\n");
        return 1;
    }
    uint64_t printed = 0;
    int64_t next = zclock_mono ();
    bool running = true;
    while (running && !zsys_interrupted) {
        bool ended = false;
        int64_t now = zclock_mono ();
        if (!s_refresh_pending (refresh) && !top_view_paused (refresh->view) && now >= next) {
            s_refresh_start (refresh);
            next = now + interval_ms;
            if (!s_refresh_pending (refresh)) {      //  nothing could be sent
                top_view_set_error (refresh->view, refresh->error);
                ended = true;
            }
        }
        int wait = s_refresh_pending (refresh) ? refresh->timeout_ms
                 : top_view_paused (refresh->view) ? 1000 : (int) (next - now);
        bool key_ready = false;
        if (!ended)
            ended = s_refresh_wait (refresh, wait > 0 ? wait : 0, !json, &key_ready);
        if (json) {
            if (ended)
                s_print_json (refresh->view, &printed);
            continue;
        }
        if (key_ready)
            running = s_keys (refresh->view);
        s_draw (refresh->view);
    }
    if (!json)
        endwin ();
    return 0;
}

//  --------------------------------------------------------------------------

int
main (int argc, char **argv)
{
    options_t options;
    int parsed = s_options (&options, argc, argv);
    if (parsed != 0) {
        s_usage (parsed > 0 ? stdout : stderr, argv [0]);
        return parsed > 0 ? 0 : 2;
    }
    logline_init ("comptoir-top", -1);
    settings_t *settings = NULL;
    const char *config = options.config;
    if (!config && zsys_file_exists (COMPTOIR_DEFAULT_CONFIG))
        config = COMPTOIR_DEFAULT_CONFIG;
    if (config && !(settings = settings_load (config))) {
        fprintf (stderr, "comptoir-top: cannot read the configuration %s\n", config);
        return 2;
    }
    char *keys_dir = strdup (settings_get (settings, "keys/dir", "var/keys"));
    char *endpoint = strdup (options.broker ? options.broker
                                            : settings_get (settings, "broker/endpoint", "tcp://127.0.0.1:5555"));
    char cert_path [1024], server_path [1024];
    snprintf (cert_path, sizeof cert_path, "%s", options.cert ? options.cert : "");
    if (!options.cert)
        snprintf (cert_path, sizeof cert_path, "%s/top", keys_dir);
    snprintf (server_path, sizeof server_path, "%s", options.server_key ? options.server_key : "");
    if (!options.server_key)
        snprintf (server_path, sizeof server_path, "%s/broker", keys_dir);
    settings_destroy (&settings);

    int rc = 2;
    zcert_t *cert = s_client_cert (cert_path);
    char *server_key = s_server_key (server_path);
    mdp_client_t *client = NULL;
    top_view_t *view = NULL;
    if (!cert)
        fprintf (stderr, "comptoir-top: cannot read the certificate %s and %s_secret "
                 "(run `comptoir keys`, or give --cert)\n", cert_path, cert_path);
    else
    if (!server_key)
        fprintf (stderr, "comptoir-top: cannot read the broker's public key from %s "
                 "(give --server-key)\n", server_path);
    else {
        client = mdp_client_new (endpoint, cert, server_key);
        view = top_view_new (endpoint);
    }
    if (client && view) {
        s_name_keys (view, keys_dir);
        top_view_show_internal (view, options.all);
        mdp_client_set_resend (client, 0);
        mdp_client_set_timeout (client, options.timeout_ms);
        refresh_t refresh = { .client = client, .view = view, .endpoint = endpoint,
                              .timeout_ms = options.timeout_ms };
        rc = options.once ? s_run_once (&refresh, options.json)
                          : s_run_live (&refresh, options.interval_ms, options.json);
        zstr_free (&refresh.status_cid);
        zstr_free (&refresh.events_cid);
    }
    top_view_destroy (&view);
    mdp_client_destroy (&client);
    zcert_destroy (&cert);
    free (server_key);
    free (endpoint);
    free (keys_dir);
    return rc;
}
