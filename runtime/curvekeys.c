/*  =========================================================================
    curvekeys - CurveZMQ certificates and the ZAP authenticator

    Why our own ZAP handler rather than zauth: zauth given a certificate
    folder reads the whole folder again on every handshake (28 ms at 3,000
    certificates, measured on Debian 12's CZMQ), and a broker that admits
    workers and edges all day cannot afford that. Here the allowed keys are
    a hash in memory, filled from the folder at start and again on RELOAD
    (the broker sends it on SIGHUP), so a handshake costs one lookup.
    Secrets are written under umask 077, so no window exists in which a
    secret file is readable by others.
    =========================================================================
*/
#include "curvekeys.h"
#include "logline.h"

#include <dirent.h>
#include <sys/stat.h>

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"

//  --------------------------------------------------------------------------

zcert_t *
curvekeys_ensure (const char *keys_dir, const char *name, bool publish)
{
    char path [512], allowed [512], public_path [512];
    snprintf (path, sizeof path, "%s/%s", keys_dir, name);
    snprintf (allowed, sizeof allowed, "%s/allowed", keys_dir);
    snprintf (public_path, sizeof public_path, "%s/allowed/%s.pub", keys_dir, name);

    mode_t old_mask = umask (077);
    zcert_t *cert = NULL;
    if (zsys_dir_create ("%s", allowed) != 0)
        log_error (NULL, "cannot create key folder %s: %s", allowed, strerror (errno));
    else {
        char secret_path [600];
        snprintf (secret_path, sizeof secret_path, "%s_secret", path);
        if (zsys_file_exists (secret_path)) {
            cert = zcert_load (path);
            if (!cert)
                log_error (NULL, "cannot read certificate %s", secret_path);
        }
        else {
            cert = zcert_new ();
            if (cert) {
                zcert_set_meta (cert, "name", "%s", name);
                if (zcert_save (cert, path) != 0) {
                    log_error (NULL, "cannot write certificate %s: %s", path, strerror (errno));
                    zcert_destroy (&cert);
                }
                else
                    log_info (NULL, "created CURVE certificate %s", path);
            }
        }
        if (cert) {
            chmod (secret_path, 0600);
            //  The allowed copy is rewritten when it differs (a rotated key).
            char *current = zsys_file_exists (public_path) ? curvekeys_public_of (public_path) : NULL;
            if (publish && (!current || !streq (current, zcert_public_txt (cert)))) {
                if (zcert_save_public (cert, public_path) != 0) {
                    log_error (NULL, "cannot write %s: %s", public_path, strerror (errno));
                    zcert_destroy (&cert);
                }
            }
            free (current);
        }
    }
    umask (old_mask);
    return cert;
}

//  --------------------------------------------------------------------------

char *
curvekeys_public_of (const char *cert_path)
{
    zcert_t *cert = zcert_load (cert_path);
    if (!cert)
        return NULL;
    //  A file read while it is being written loads as the all-zero key,
    //  with which no handshake would ever succeed: not a key.
    static const byte zero [32] = { 0 };
    char *key = memcmp (zcert_public_key (cert), zero, sizeof zero) == 0
              ? NULL : strdup (zcert_public_txt (cert));
    zcert_destroy (&cert);
    return key;
}

//  --------------------------------------------------------------------------

void
curvekeys_apply_client (zsock_t *sock, zcert_t *cert, const char *server_public_z85)
{
    zcert_apply (cert, sock);
    zsock_set_curve_serverkey (sock, server_public_z85);
}

void
curvekeys_apply_server (zsock_t *sock, zcert_t *cert)
{
    zcert_apply (cert, sock);
    zsock_set_curve_server (sock, 1);
    zsock_set_zap_domain (sock, "comptoir");
}

//  --------------------------------------------------------------------------
//  The authenticator's state, in its own thread.

typedef struct {
    char *allowed_dir;
    zhashx_t *keys;             //  z85 public key -> "" (a set)
    zsock_t *handler;           //  REP on the ZAP endpoint
    zsock_t *reports;           //  PUB on CURVEKEYS_ZAP_EVENTS
    uint64_t allowed, denied;
} auth_t;

//  Read every *.pub file of the folder. Returns the number of keys, or -1.
static int
s_auth_load (auth_t *self)
{
    DIR *dir = opendir (self->allowed_dir);
    if (!dir) {
        log_error (NULL, "cannot read allowed keys folder %s: %s", self->allowed_dir,
                   strerror (errno));
        return -1;
    }
    zhashx_t *keys = zhashx_new ();
    struct dirent *entry;
    while ((entry = readdir (dir))) {
        size_t len = strlen (entry->d_name);
        if (len < 5 || strcmp (entry->d_name + len - 4, ".pub") != 0)
            continue;
        char path [1024];
        snprintf (path, sizeof path, "%s/%s", self->allowed_dir, entry->d_name);
        char *key = curvekeys_public_of (path);
        if (key && strlen (key) == 40)
            zhashx_insert (keys, key, (void *) "");
        else
            log_warn (NULL, "ignoring %s: not a public certificate", path);
        free (key);
    }
    closedir (dir);
    zhashx_destroy (&self->keys);
    self->keys = keys;
    return (int) zhashx_size (keys);
}

//  Answer one ZAP request (ZeroMQ RFC 27).
static void
s_auth_answer (auth_t *self)
{
    zmsg_t *request = zmsg_recv (self->handler);
    if (!request)
        return;
    char *version = zmsg_popstr (request);
    char *sequence = zmsg_popstr (request);
    char *domain = zmsg_popstr (request);
    char *address = zmsg_popstr (request);
    char *identity = zmsg_popstr (request);
    char *mechanism = zmsg_popstr (request);
    zframe_t *credential = zmsg_pop (request);

    bool ok = false;
    const char *reason = "mechanism not allowed";
    char key [41] = "";
    if (mechanism && streq (mechanism, "CURVE") && credential && zframe_size (credential) == 32) {
        zmq_z85_encode (key, zframe_data (credential), 32);
        ok = zhashx_lookup (self->keys, key) != NULL;
        reason = ok ? "OK" : "public key not allowed";
    }
    if (ok)
        self->allowed++;
    else {
        self->denied++;
        log_warn (NULL, "refused %s client from %s: %s%s%s", mechanism ? mechanism : "?",
                  address ? address : "?", reason, *key ? " " : "", key);
    }
    //  The report goes out before the answer: whoever sees the handshake's
    //  outcome on a socket monitor finds the verdict already there.
    zmsg_t *report = zmsg_new ();
    zmsg_addstr (report, ok ? "allowed" : "denied");
    zmsg_addstr (report, address ? address : "");
    zmsg_addstr (report, key);
    zmsg_addstr (report, mechanism ? mechanism : "");
    zmsg_addstr (report, reason);
    zmsg_send (&report, self->reports);

    zmsg_t *reply = zmsg_new ();
    zmsg_addstr (reply, "1.0");
    zmsg_addstr (reply, sequence ? sequence : "");
    zmsg_addstr (reply, ok ? "200" : "400");
    zmsg_addstr (reply, reason);
    zmsg_addstr (reply, ok ? key : "");
    zmsg_addmem (reply, NULL, 0);
    zmsg_send (&reply, self->handler);

    free (version);
    free (sequence);
    free (domain);
    free (address);
    free (identity);
    free (mechanism);
    zframe_destroy (&credential);
    zmsg_destroy (&request);
}

//  Answer a command from the parent. Returns false on $TERM.
static bool
s_auth_command (auth_t *self, zsock_t *pipe)
{
    zmsg_t *msg = zmsg_recv (pipe);
    if (!msg)
        return false;
    char *command = zmsg_popstr (msg);
    bool running = true;
    if (!command || streq (command, "$TERM"))
        running = false;
    else
    if (streq (command, "RELOAD")) {
        int count = s_auth_load (self);
        log_info (NULL, "allowed keys reloaded: %d", count);
        zstr_sendf (pipe, "%d", count);
    }
    else
    if (streq (command, "ALLOW")) {
        char *key = zmsg_popstr (msg);
        bool good = key && strlen (key) == 40;
        if (good)
            zhashx_insert (self->keys, key, (void *) "");
        zstr_send (pipe, good ? "0" : "-1");
        free (key);
    }
    else
    if (streq (command, "STATS"))
        zstr_sendf (pipe, "%" PRIu64 " %" PRIu64, self->allowed, self->denied);
    else
        log_warn (NULL, "authenticator: unknown command %s", command);
    free (command);
    zmsg_destroy (&msg);
    return running;
}

static void
s_auth_actor (zsock_t *pipe, void *args)
{
    auth_t self = { .allowed_dir = strdup ((const char *) args) };
    self.handler = zsock_new (ZMQ_REP);
    self.reports = zsock_new (ZMQ_PUB);
    //  Binding fails only when another handler owns the endpoint: a
    //  programmer error, since two authenticators would race.
    if (!self.allowed_dir || !self.handler || zsock_bind (self.handler, ZAP_ENDPOINT) != 0
    ||  !self.reports || zsock_bind (self.reports, CURVEKEYS_ZAP_EVENTS) != 0
    ||  s_auth_load (&self) < 0) {
        log_error (NULL, "authenticator cannot start on %s", ZAP_ENDPOINT);
        assert (false);
    }
    zsock_signal (pipe, 0);
    zpoller_t *poller = zpoller_new (pipe, self.handler, NULL);
    while (true) {
        zsock_t *which = (zsock_t *) zpoller_wait (poller, -1);
        if (which == pipe) {
            if (!s_auth_command (&self, pipe))
                break;
        }
        else
        if (which == self.handler)
            s_auth_answer (&self);
        else
        if (zpoller_terminated (poller))
            break;
    }
    zpoller_destroy (&poller);
    zsock_destroy (&self.reports);
    zsock_destroy (&self.handler);
    zhashx_destroy (&self.keys);
    free (self.allowed_dir);
}

//  --------------------------------------------------------------------------

zactor_t *
curvekeys_auth_new (const char *allowed_dir)
{
    //  Check the folder here: an actor that fails to start cannot say so
    //  through zactor_new.
    DIR *dir = opendir (allowed_dir);
    if (!dir) {
        log_error (NULL, "cannot read allowed keys folder %s: %s", allowed_dir, strerror (errno));
        return NULL;
    }
    closedir (dir);
    //  zactor_new returns after the actor has copied the path.
    return zactor_new (s_auth_actor, (void *) allowed_dir);
}

//  --------------------------------------------------------------------------

void
curvekeys_test (bool verbose)
{
    printf (" * curvekeys: ");
    char dir [] = "/tmp/comptoir-keys-XXXXXX";
    assert (mkdtemp (dir));

    //  Certificates are created once, secrets 0600, public copies in allowed/
    zcert_t *server = curvekeys_ensure (dir, "broker", false);
    zcert_t *client = curvekeys_ensure (dir, "edge", true);
    assert (server && client);
    char path [600];
    snprintf (path, sizeof path, "%s/edge_secret", dir);
    struct stat st;
    assert (stat (path, &st) == 0 && (st.st_mode & 0777) == 0600);
    snprintf (path, sizeof path, "%s/allowed/edge.pub", dir);
    assert (zsys_file_exists (path));
    snprintf (path, sizeof path, "%s/allowed/broker.pub", dir);
    assert (!zsys_file_exists (path));
    zcert_t *again = curvekeys_ensure (dir, "edge", true);
    assert (streq (zcert_public_txt (again), zcert_public_txt (client)));
    zcert_destroy (&again);
    snprintf (path, sizeof path, "%s/broker", dir);
    char *server_key = curvekeys_public_of (path);
    assert (server_key && streq (server_key, zcert_public_txt (server)));
    //  A certificate file without its key yet (being written) is no key
    char half [600];
    snprintf (half, sizeof half, "%s/half", dir);
    FILE *file = fopen (half, "w");
    assert (file);
    fputs ("curve\n    public-key = \"0000000000000000000000000000000000000000\"\n", file);
    fclose (file);
    assert (curvekeys_public_of (half) == NULL);
    snprintf (half, sizeof half, "%s/empty", dir);
    file = fopen (half, "w");
    assert (file);
    fclose (file);
    assert (curvekeys_public_of (half) == NULL);

    //  The authenticator admits the allowed key only
    char allowed [600];
    snprintf (allowed, sizeof allowed, "%s/allowed", dir);
    zactor_t *auth = curvekeys_auth_new (allowed);
    assert (auth);
    zsock_t *reports = zsock_new_sub (CURVEKEYS_ZAP_EVENTS, "");
    assert (reports);
    zsock_t *router = zsock_new (ZMQ_ROUTER);
    curvekeys_apply_server (router, server);
    int port = zsock_bind (router, "tcp://127.0.0.1:*");
    assert (port > 0);
    char endpoint [64];
    snprintf (endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", port);
    zsock_set_rcvtimeo (router, 1000);

    zsock_t *good = zsock_new (ZMQ_DEALER);
    curvekeys_apply_client (good, client, server_key);
    zsock_connect (good, "%s", endpoint);
    zstr_send (good, "hello");
    zmsg_t *msg = zmsg_recv (router);
    assert (msg && zmsg_size (msg) == 2);
    zmsg_destroy (&msg);

    //  A client with a key nobody allowed gets nothing
    zcert_t *stranger = zcert_new ();
    zsock_t *bad = zsock_new (ZMQ_DEALER);
    curvekeys_apply_client (bad, stranger, server_key);
    zsock_connect (bad, "%s", endpoint);
    zstr_send (bad, "let me in");
    //  A plaintext client gets nothing either
    zsock_t *plain = zsock_new (ZMQ_DEALER);
    zsock_connect (plain, "%s", endpoint);
    zstr_send (plain, "plain");
    msg = zmsg_recv (router);
    assert (msg == NULL);

    //  Each verdict is reported, the refused one with the stranger's key
    zsock_set_rcvtimeo (reports, 1000);
    bool stranger_reported = false;
    zmsg_t *report;
    while (!stranger_reported && (report = zmsg_recv (reports))) {
        char *verdict = zmsg_popstr (report);
        char *address = zmsg_popstr (report);
        char *key = zmsg_popstr (report);
        stranger_reported = verdict && streq (verdict, "denied") && address
                         && streq (address, "127.0.0.1") && key
                         && streq (key, zcert_public_txt (stranger));
        free (verdict);
        free (address);
        free (key);
        zmsg_destroy (&report);
    }
    assert (stranger_reported);

    zstr_send (auth, "STATS");
    char *stats = zstr_recv (auth);
    unsigned long long a = 0, d = 0;
    assert (sscanf (stats, "%llu %llu", &a, &d) == 2);
    assert (a >= 1 && d >= 1);
    free (stats);

    //  Once allowed at run time, the stranger gets through (its queued
    //  message was dropped with the failed handshake; it reconnects)
    zstr_sendx (auth, "ALLOW", zcert_public_txt (stranger), NULL);
    char *answer = zstr_recv (auth);
    assert (streq (answer, "0"));
    free (answer);
    zsock_t *late = zsock_new (ZMQ_DEALER);
    curvekeys_apply_client (late, stranger, server_key);
    zsock_connect (late, "%s", endpoint);
    zstr_send (late, "now?");
    msg = zmsg_recv (router);
    assert (msg);
    zmsg_destroy (&msg);

    //  RELOAD reads the folder again: one public key there
    zstr_send (auth, "RELOAD");
    answer = zstr_recv (auth);
    assert (streq (answer, "1"));
    free (answer);

    zsock_destroy (&reports);
    zsock_destroy (&late);
    zsock_destroy (&plain);
    zsock_destroy (&bad);
    zsock_destroy (&good);
    zsock_destroy (&router);
    zactor_destroy (&auth);
    zcert_destroy (&stranger);
    zcert_destroy (&server);
    zcert_destroy (&client);
    free (server_key);
    zsys_dir_delete ("%s/allowed", dir);
    if (verbose)
        printf ("(%s) ", dir);
    char cmd [700];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert (system (cmd) == 0);
    printf ("OK\n");
}
