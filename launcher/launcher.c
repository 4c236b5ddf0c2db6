/*  =========================================================================
    launcher - the `comptoir` command: which processes make the system

    `comptoir up` loads the configuration, changes to comptoir/home, writes
    <var>/run/comptoir.pid, and hands the plan to the supervisor; every child
    gets the configuration's absolute path, its output goes to
    <var>/log/<name>.log, and the children's pids and restart counts are in
    <var>/run/children for scripts and tests. The supervisor's own JSON log
    lines go to stderr (run.sh appends them to <var>/log/supervisor.log).
    Programs are checked before anything starts, so a missing binary is one
    clear message rather than a child that crashes until it is held down.
    =========================================================================
*/
#include "launcher.h"
#include "supervisor.h"
#include "curvekeys.h"
#include "logline.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define LAUNCHER_INSTANCES_MAX 64
#define LAUNCHER_CHILDREN_MAX 512

//  --------------------------------------------------------------------------
//  A program path: absolute as given, else under bindir ("." = as given,
//  relative to the working directory).

static char *
s_program (settings_t *settings, const char *command)
{
    const char *bindir = settings_get (settings, "supervisor/bindir", ".");
    if (command [0] == '/' || !bindir || !*bindir || strcmp (bindir, ".") == 0)
        return strdup (command);
    size_t size = strlen (bindir) + strlen (command) + 2;
    char *path = (char *) malloc (size);
    if (path)
        snprintf (path, size, "%s/%s", bindir, command);
    return path;
}

//  --------------------------------------------------------------------------

static int
s_plan_add (launcher_plan_t *self, const char *name, char *program, const char *config_path,
            int instance)
{
    if (!program || self->size >= LAUNCHER_CHILDREN_MAX) {
        free (program);
        return -1;
    }
    launcher_child_t *child = &self->children [self->size];
    memset (child, 0, sizeof *child);
    child->name = strdup (name);
    child->argv [0] = program;
    child->argv [1] = strdup ("--config");
    child->argv [2] = strdup (config_path);
    bool ok = child->name && child->argv [1] && child->argv [2];
    if (instance > 0) {
        char number [16];
        snprintf (number, sizeof number, "%d", instance);
        child->argv [3] = strdup ("--instance");
        child->argv [4] = strdup (number);
        ok = ok && child->argv [3] && child->argv [4];
    }
    self->size++;               //  counted even when incomplete: destroy frees it
    return ok ? 0 : -1;
}

//  --------------------------------------------------------------------------
//  A context name is a word of lower-case letters, digits and '_'.

static bool
s_valid_context (const char *name)
{
    if (!*name || strlen (name) > 32)
        return false;
    for (const char *c = name; *c; c++)
        if (!(islower ((unsigned char) *c) || isdigit ((unsigned char) *c) || *c == '_'))
            return false;
    return true;
}

//  --------------------------------------------------------------------------

launcher_plan_t *
launcher_plan_new (settings_t *settings, const char *config_path)
{
    launcher_plan_t *self = (launcher_plan_t *) calloc (1, sizeof (launcher_plan_t));
    if (!self)
        return NULL;
    self->children = (launcher_child_t *) calloc (LAUNCHER_CHILDREN_MAX, sizeof (launcher_child_t));
    if (!self->children) {
        free (self);
        return NULL;
    }
    int rc = s_plan_add (self, "broker",
                         s_program (settings, settings_get (settings, "broker/command",
                                                            "broker/comptoir-broker")),
                         config_path, 0);

    char *contexts = strdup (settings_get (settings, "supervisor/contexts", "product"));
    char *save = NULL;
    for (char *context = contexts ? strtok_r (contexts, " ,", &save) : NULL;
         rc == 0 && context; context = strtok_r (NULL, " ,", &save)) {
        if (!s_valid_context (context)) {
            log_error (NULL, "supervisor/contexts: '%s' is not a context name", context);
            rc = -1;
            break;
        }
        char path [128], fallback [160];
        snprintf (path, sizeof path, "%s/instances", context);
        int64_t instances = settings_get_int (settings, path, 1);
        if (instances < 0 || instances > LAUNCHER_INSTANCES_MAX) {
            log_error (NULL, "%s must be between 0 and %d", path, LAUNCHER_INSTANCES_MAX);
            rc = -1;
            break;
        }
        snprintf (path, sizeof path, "%s/command", context);
        snprintf (fallback, sizeof fallback, "actors/%s/comptoir-%s", context, context);
        const char *command = settings_get (settings, path, fallback);
        for (int instance = 1; rc == 0 && instance <= instances; instance++) {
            char name [64];
            snprintf (name, sizeof name, "%s-%d", context, instance);
            rc = s_plan_add (self, name, s_program (settings, command), config_path, instance);
        }
    }
    free (contexts);
    if (rc == 0)
        rc = s_plan_add (self, "edge",
                         s_program (settings, settings_get (settings, "edge/command",
                                                            "http-edge/comptoir-edge")),
                         config_path, 0);
    if (rc != 0)
        launcher_plan_destroy (&self);
    return self;
}

//  --------------------------------------------------------------------------

void
launcher_plan_destroy (launcher_plan_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    launcher_plan_t *self = *self_p;
    for (size_t i = 0; i < self->size; i++) {
        free (self->children [i].name);
        for (int arg = 0; arg < LAUNCHER_ARGV_MAX; arg++)
            free (self->children [i].argv [arg]);
    }
    free (self->children);
    free (self);
    *self_p = NULL;
}

//  --------------------------------------------------------------------------
//  One API key file: 32 random bytes as hex, mode 0600, never overwritten.

static int
s_api_key_ensure (const char *path)
{
    if (access (path, F_OK) == 0)
        return 0;
    char *folder = strdup (path);
    if (!folder)
        return -1;
    char *slash = strrchr (folder, '/');
    if (slash) {
        *slash = 0;
        if (*folder && zsys_dir_create ("%s", folder) != 0) {
            log_error (NULL, "cannot create %s: %s", folder, strerror (errno));
            free (folder);
            return -1;
        }
    }
    free (folder);
    unsigned char key [32];
    char hex [65];
    randombytes_buf (key, sizeof key);
    sodium_bin2hex (hex, sizeof hex, key, sizeof key);
    sodium_memzero (key, sizeof key);
    int fd = open (path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0) {
        log_error (NULL, "cannot create %s: %s", path, strerror (errno));
        return -1;
    }
    ssize_t written = write (fd, hex, 64);
    sodium_memzero (hex, sizeof hex);
    if (close (fd) != 0 || written != 64) {
        unlink (path);
        log_error (NULL, "cannot write %s", path);
        return -1;
    }
    log_info (NULL, "created API key %s", path);
    return 0;
}

//  --------------------------------------------------------------------------

int
launcher_keys (settings_t *settings, launcher_plan_t *plan)
{
    if (sodium_init () < 0)
        return -1;
    const char *keys_dir = settings_get (settings, "keys/dir", "var/keys");
    int rc = 0;
    for (size_t i = 0; i < plan->size; i++) {
        const char *name = plan->children [i].name;
        bool is_broker = strcmp (name, "broker") == 0;
        zcert_t *cert = curvekeys_ensure (keys_dir, name, !is_broker);
        if (!cert)
            rc = -1;
        zcert_destroy (&cert);
    }
    //  comptoir-top's client certificate: not a process of the plan, but
    //  admitted by the broker like one, so the monitoring tool connects.
    zcert_t *top = curvekeys_ensure (keys_dir, "top", true);
    if (!top)
        rc = -1;
    zcert_destroy (&top);
    zconfig_t *consumers = settings_locate (settings, "edge/consumers");
    for (zconfig_t *consumer = consumers ? zconfig_child (consumers) : NULL; consumer;
         consumer = zconfig_next (consumer)) {
        char path [256];
        snprintf (path, sizeof path, "edge/consumers/%s/key_file", zconfig_name (consumer));
        const char *key_file = settings_get (settings, path, NULL);
        if (key_file && *key_file && s_api_key_ensure (key_file) != 0)
            rc = -1;
    }
    return rc;
}

//  --------------------------------------------------------------------------

static void
s_usage (FILE *out)
{
    fprintf (out,
        "usage: comptoir [--config FILE] COMMAND\n"
        "\n"
        "Commands:\n"
        "  up      start every process of the configuration and restart any that\n"
        "          dies (exponential backoff; a process restarted more than\n"
        "          supervisor/restart_intensity times within restart_period_s is\n"
        "          held down alone for supervisor/cooldown_s, doubling up to\n"
        "          cooldown_max_s, while the others keep serving). SIGTERM or\n"
        "          SIGINT stops the processes in reverse order and exits 0.\n"
        "  keys    create the CURVE certificates of every process (and `top`, for\n"
        "          comptoir-top) and the API key files of the consumers, keeping\n"
        "          those that exist\n"
        "  plan    print the processes `up` would start, one command line each\n"
        "  status  print the processes: name pid restarts state holds (pid 0: down;\n"
        "          state running, restarting, held or stopped)\n"
        "  get PATH  print one setting (environment override first), e.g.\n"
        "          `comptoir get postgres/product` (scripts use it)\n"
        "\n"
        "Options:\n"
        "  --config FILE   configuration file (default etc/comptoir.cfg)\n"
        "  -h, --help      this help (`comptoir up --help` explains up)\n");
}

static void
s_usage_up (FILE *out)
{
    fprintf (out,
        "usage: comptoir up [--config FILE]\n"
        "\n"
        "Starts, in this order, the broker, every instance of every context in\n"
        "supervisor/contexts (<context>/instances of <context>/command, default\n"
        "actors/<context>/comptoir-<context>, with --instance N), then the edge.\n"
        "Each process gets --config <absolute path>; its output is appended to\n"
        "<var>/log/<name>.log. Writes <var>/run/comptoir.pid and <var>/run/children\n"
        "(one line per process: name pid restarts state holds). Programs are found\n"
        "relative to supervisor/bindir (default: the working directory, comptoir/home).\n"
        "A process over its restart budget is held down alone (state \"held\") for\n"
        "its cool-down, then tried again; nothing else stops.\n"
        "Exit code: 0 after SIGTERM/SIGINT, 2 on a configuration or start-up error.\n");
}

//  --------------------------------------------------------------------------
//  <var>/run/comptoir.pid: refuse to run twice, write ours.

static int
s_pid_file_claim (const char *path)
{
    FILE *file = fopen (path, "r");
    if (file) {
        int pid = 0;
        if (fscanf (file, "%d", &pid) == 1 && pid > 0 && pid != getpid () && kill (pid, 0) == 0) {
            char comm_path [64], comm [64] = "";
            snprintf (comm_path, sizeof comm_path, "/proc/%d/comm", pid);
            FILE *comm_file = fopen (comm_path, "r");
            if (comm_file) {
                if (!fgets (comm, sizeof comm, comm_file))
                    comm [0] = 0;
                fclose (comm_file);
            }
            if (strncmp (comm, "comptoir", 8) == 0) {
                fclose (file);
                log_error (NULL, "already running as pid %d (%s)", pid, path);
                return -1;
            }
        }
        fclose (file);
    }
    file = fopen (path, "w");
    if (!file) {
        log_error (NULL, "cannot write %s: %s", path, strerror (errno));
        return -1;
    }
    fprintf (file, "%d\n", (int) getpid ());
    fclose (file);
    return 0;
}

//  --------------------------------------------------------------------------

static int
s_up (settings_t *settings, launcher_plan_t *plan)
{
    const char *var = settings_get (settings, "comptoir/var", "var");
    if (strlen (var) > 2048) {
        log_error (NULL, "comptoir/var is too long");
        return 2;
    }
    char log_dir [3072], run_dir [3072], pid_path [PATH_MAX], status_path [PATH_MAX];
    snprintf (log_dir, sizeof log_dir, "%s/log", var);
    snprintf (run_dir, sizeof run_dir, "%s/run", var);
    snprintf (pid_path, sizeof pid_path, "%s/comptoir.pid", run_dir);
    snprintf (status_path, sizeof status_path, "%s/children", run_dir);
    if (zsys_dir_create ("%s", log_dir) != 0 || zsys_dir_create ("%s", run_dir) != 0) {
        log_error (NULL, "cannot create %s and %s: %s", log_dir, run_dir, strerror (errno));
        return 2;
    }
    int missing = 0;
    for (size_t i = 0; i < plan->size; i++)
        if (access (plan->children [i].argv [0], X_OK) != 0) {
            log_error (NULL, "%s: cannot run %s: %s (built with make?)", plan->children [i].name,
                       plan->children [i].argv [0], strerror (errno));
            missing++;
        }
    if (missing)
        return 2;

    supervisor_config_t config;
    supervisor_config_defaults (&config);
    config.intensity = (int) settings_get_int (settings, "supervisor/restart_intensity", config.intensity);
    config.period_s = (int) settings_get_int (settings, "supervisor/restart_period_s", config.period_s);
    config.backoff_min_ms = (int) settings_get_int (settings, "supervisor/backoff_min_ms", config.backoff_min_ms);
    config.backoff_max_ms = (int) settings_get_int (settings, "supervisor/backoff_max_ms", config.backoff_max_ms);
    config.stable_ms = (int) settings_get_int (settings, "supervisor/stable_ms", config.stable_ms);
    config.stop_timeout_ms = (int) settings_get_int (settings, "supervisor/stop_timeout_ms", config.stop_timeout_ms);
    int64_t cooldown = settings_get_int (settings, "supervisor/cooldown_s", config.cooldown_ms / 1000);
    int64_t cooldown_max = settings_get_int (settings, "supervisor/cooldown_max_s", config.cooldown_max_ms / 1000);
    if (cooldown < 0 || cooldown > 86400 || cooldown_max < cooldown || cooldown_max > 86400) {
        log_error (NULL, "supervisor/cooldown_s and cooldown_max_s must be 0..86400, the first not above the second");
        return 2;
    }
    config.cooldown_ms = (int) cooldown * 1000;
    config.cooldown_max_ms = (int) cooldown_max * 1000;
    config.status_path = status_path;

    if (s_pid_file_claim (pid_path) != 0)
        return 2;
    supervisor_t *supervisor = supervisor_new (&config);
    if (!supervisor) {
        log_error (NULL, "invalid supervisor settings");
        unlink (pid_path);
        return 2;
    }
    for (size_t i = 0; i < plan->size; i++) {
        char log_path [PATH_MAX];
        snprintf (log_path, sizeof log_path, "%s/%s.log", log_dir, plan->children [i].name);
        supervisor_add (supervisor, plan->children [i].name, plan->children [i].argv, log_path);
    }
    log_info (NULL, "supervising %zu processes (pid %d)", plan->size, (int) getpid ());
    int rc = supervisor_run (supervisor);
    supervisor_destroy (&supervisor);
    unlink (pid_path);
    log_info (NULL, "stopped (exit code %d)", rc);
    return rc;
}

//  --------------------------------------------------------------------------

int
launcher_main (int argc, char **argv)
{
    const char *config_arg = "etc/comptoir.cfg";
    const char *command = NULL;
    const char *get_path = NULL;
    bool help = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp (argv [i], "--config") == 0 && i + 1 < argc)
            config_arg = argv [++i];
        else
        if (strcmp (argv [i], "-h") == 0 || strcmp (argv [i], "--help") == 0)
            help = true;
        else
        if (argv [i][0] != '-' && !command)
            command = argv [i];
        else
        if (argv [i][0] != '-' && command && strcmp (command, "get") == 0 && !get_path)
            get_path = argv [i];
        else {
            fprintf (stderr, "comptoir: unknown argument '%s'\n", argv [i]);
            s_usage (stderr);
            return 2;
        }
    }
    if (help || !command) {
        if (command && strcmp (command, "up") == 0)
            s_usage_up (stdout);
        else
            s_usage (help ? stdout : stderr);
        return help ? 0 : 2;
    }
    if (strcmp (command, "get") == 0) {
        //  No chdir, no logs: the value only, for shell scripts.
        if (!get_path) {
            s_usage (stderr);
            return 2;
        }
        settings_t *settings = settings_load (config_arg);
        if (!settings)
            return 2;
        printf ("%s\n", settings_get (settings, get_path, ""));
        settings_destroy (&settings);
        return 0;
    }
    if (strcmp (command, "status") == 0) {
        settings_t *settings = settings_load (config_arg);
        if (!settings)
            return 2;
        char path [PATH_MAX];
        snprintf (path, sizeof path, "%.2000s/%.2000s/run/children",
                  settings_get (settings, "comptoir/home", "."),
                  settings_get (settings, "comptoir/var", "var"));
        settings_destroy (&settings);
        FILE *file = fopen (path, "r");
        if (!file) {
            fprintf (stderr, "comptoir: not running (no %s)\n", path);
            return 1;
        }
        char line [512];
        while (fgets (line, sizeof line, file))
            fputs (line, stdout);
        fclose (file);
        return 0;
    }
    if (strcmp (command, "up") != 0 && strcmp (command, "keys") != 0
    &&  strcmp (command, "plan") != 0) {
        fprintf (stderr, "comptoir: unknown command '%s'\n", command);
        s_usage (stderr);
        return 2;
    }
    logline_init ("supervisor", -1);
    char config_path [PATH_MAX];
    if (!realpath (config_arg, config_path)) {
        log_error (NULL, "cannot read configuration %s: %s", config_arg, strerror (errno));
        return 2;
    }
    settings_t *settings = settings_load (config_path);
    if (!settings)
        return 2;
    const char *home = settings_get (settings, "comptoir/home", ".");
    if (home && *home && chdir (home) != 0) {
        log_error (NULL, "cannot change to comptoir/home %s: %s", home, strerror (errno));
        settings_destroy (&settings);
        return 2;
    }
    launcher_plan_t *plan = launcher_plan_new (settings, config_path);
    int rc = 2;
    if (plan) {
        if (strcmp (command, "plan") == 0) {
            for (size_t i = 0; i < plan->size; i++) {
                printf ("%s:", plan->children [i].name);
                for (int arg = 0; plan->children [i].argv [arg]; arg++)
                    printf (" %s", plan->children [i].argv [arg]);
                printf ("\n");
            }
            rc = 0;
        }
        else
        if (strcmp (command, "keys") == 0)
            rc = launcher_keys (settings, plan) == 0 ? 0 : 1;
        else
            rc = s_up (settings, plan);
        launcher_plan_destroy (&plan);
    }
    settings_destroy (&settings);
    return rc;
}

//  --------------------------------------------------------------------------

void
launcher_test (bool verbose)
{
    if (verbose)
        printf (" * launcher: ");
    char dir [] = "/tmp/comptoir-launcher-test-XXXXXX";
    assert (mkdtemp (dir));
    char config_path [256], keys_dir [256], key_file [256];
    snprintf (config_path, sizeof config_path, "%s/test.cfg", dir);
    snprintf (keys_dir, sizeof keys_dir, "%s/keys", dir);
    snprintf (key_file, sizeof key_file, "%s/keys/api/demo.key", dir);
    FILE *file = fopen (config_path, "w");
    assert (file);
    fprintf (file,
        "keys\n"
        "    dir = \"%s\"\n"
        "edge\n"
        "    consumers\n"
        "        demo\n"
        "            key_file = \"%s\"\n"
        "supervisor\n"
        "    contexts = \"product, cart\"\n"
        "    bindir = \"/opt/comptoir\"\n"
        "product\n"
        "    instances = 2\n"
        "cart\n"
        "    instances = 3\n"
        "    command = \"/usr/bin/cart-node\"\n",
        keys_dir, key_file);
    fclose (file);
    settings_t *settings = settings_load (config_path);
    assert (settings);

    //  The plan: broker, each context's instances in order, edge.
    launcher_plan_t *plan = launcher_plan_new (settings, config_path);
    assert (plan);
    assert (plan->size == 7);
    const char *names [] = { "broker", "product-1", "product-2", "cart-1", "cart-2", "cart-3", "edge" };
    for (size_t i = 0; i < plan->size; i++)
        assert (strcmp (plan->children [i].name, names [i]) == 0);
    assert (strcmp (plan->children [0].argv [0], "/opt/comptoir/broker/comptoir-broker") == 0);
    assert (plan->children [0].argv [3] == NULL);
    launcher_child_t *product2 = &plan->children [2];
    assert (strcmp (product2->argv [0], "/opt/comptoir/actors/product/comptoir-product") == 0);
    assert (strcmp (product2->argv [1], "--config") == 0);
    assert (strcmp (product2->argv [2], config_path) == 0);
    assert (strcmp (product2->argv [3], "--instance") == 0);
    assert (strcmp (product2->argv [4], "2") == 0);
    assert (product2->argv [5] == NULL);
    assert (strcmp (plan->children [5].argv [0], "/usr/bin/cart-node") == 0);
    assert (strcmp (plan->children [6].argv [0], "/opt/comptoir/http-edge/comptoir-edge") == 0);

    //  Keys: the broker's server key stays unpublished, the others are
    //  admitted, the API key is 64 hex characters only its owner reads.
    assert (launcher_keys (settings, plan) == 0);
    char path [PATH_MAX];
    snprintf (path, sizeof path, "%s/broker", keys_dir);
    assert (access (path, F_OK) == 0);
    snprintf (path, sizeof path, "%s/allowed/broker.pub", keys_dir);
    assert (access (path, F_OK) != 0);
    snprintf (path, sizeof path, "%s/allowed/product-2.pub", keys_dir);
    assert (access (path, F_OK) == 0);
    snprintf (path, sizeof path, "%s/allowed/edge.pub", keys_dir);
    assert (access (path, F_OK) == 0);
    snprintf (path, sizeof path, "%s/allowed/top.pub", keys_dir);
    assert (access (path, F_OK) == 0);
    //  Only the processes of the plan are admitted.
    snprintf (path, sizeof path, "%s/allowed/product.pub", keys_dir);
    assert (access (path, F_OK) != 0);
    struct stat info;
    assert (stat (key_file, &info) == 0);
    assert ((info.st_mode & 0777) == 0600);
    assert (info.st_size == 64);
    char first [65] = "", second [65] = "";
    file = fopen (key_file, "r");
    assert (file && fread (first, 1, 64, file) == 64);
    fclose (file);
    for (int i = 0; i < 64; i++)
        assert (isxdigit ((unsigned char) first [i]));
    //  A second run keeps what exists.
    assert (launcher_keys (settings, plan) == 0);
    file = fopen (key_file, "r");
    assert (file && fread (second, 1, 64, file) == 64);
    fclose (file);
    assert (strcmp (first, second) == 0);
    launcher_plan_destroy (&plan);
    assert (plan == NULL);
    settings_destroy (&settings);

    //  A bad context name is refused.
    file = fopen (config_path, "w");
    assert (file);
    fprintf (file, "supervisor\n    contexts = \"product ../etc\"\n");
    fclose (file);
    settings = settings_load (config_path);
    assert (settings);
    plan = launcher_plan_new (settings, config_path);
    assert (plan == NULL);
    settings_destroy (&settings);

    //  `comptoir up` end to end, with a shell script standing in for every
    //  program: it starts them all, writes the pid and status files, and a
    //  SIGTERM stops them all with exit code 0.
    char script [300];
    snprintf (script, sizeof script, "%s/fake-process", dir);
    file = fopen (script, "w");
    assert (file);
    fprintf (file, "#!/bin/sh\nexec sleep 30\n");
    fclose (file);
    assert (chmod (script, 0755) == 0);
    char failing [300];
    snprintf (failing, sizeof failing, "%s/failing-process", dir);
    file = fopen (failing, "w");
    assert (file);
    fprintf (file, "#!/bin/sh\nexit 3\n");
    fclose (file);
    assert (chmod (failing, 0755) == 0);
    for (int round = 0; round < 2; round++) {
        bool fails = round == 1;
        file = fopen (config_path, "w");
        assert (file);
        fprintf (file,
            "comptoir\n    var = \"%s/var\"\n"
            "broker\n    command = \"%s\"\n"
            "edge\n    command = \"%s\"\n"
            "supervisor\n    contexts = \"product\"\n"
            "    restart_intensity = 2\n    backoff_min_ms = 10\n    backoff_max_ms = 20\n"
            "    cooldown_s = 60\n"
            "product\n    instances = 2\n    command = \"%s\"\n",
            dir, script, script, fails ? failing : script);
        fclose (file);
        char pid_path [400], status_path [400];
        snprintf (pid_path, sizeof pid_path, "%s/var/run/comptoir.pid", dir);
        snprintf (status_path, sizeof status_path, "%s/var/run/children", dir);
        unlink (status_path);
        fflush (stdout);
        pid_t pid = fork ();
        assert (pid >= 0);
        if (pid == 0) {
            char *args [] = { "comptoir", "--config", config_path, "up", NULL };
            _exit (launcher_main (4, args));
        }
        int status = 0;
        if (fails) {
            //  Two restarts allowed, the third death holds each failing
            //  product process down for its cool-down; the broker and the
            //  edge keep running, and so does the supervisor.
            int held = 0, running = 0;
            int64_t until = zclock_mono () + 5000;
            while ((held < 2 || running < 2) && zclock_mono () < until) {
                zclock_sleep (20);
                held = running = 0;
                FILE *status_file = fopen (status_path, "r");
                if (!status_file)
                    continue;
                char name [64], state [16];
                int child_pid, restarts, holds;
                while (fscanf (status_file, "%63s %d %d %15s %d", name, &child_pid, &restarts,
                               state, &holds) == 5) {
                    if (strncmp (name, "product-", 8) == 0 && child_pid == 0 && restarts == 2
                    &&  streq (state, "held") && holds == 1)
                        held++;
                    if (strncmp (name, "product-", 8) != 0 && child_pid > 0 && streq (state, "running"))
                        running++;
                }
                fclose (status_file);
            }
            assert (held == 2 && running == 2);
            assert (waitpid (pid, &status, WNOHANG) == 0);
            kill (pid, SIGTERM);
            assert (waitpid (pid, &status, 0) == pid);
            assert (WIFEXITED (status) && WEXITSTATUS (status) == 0);
            continue;
        }
        //  Wait until the status file lists four running processes.
        int running = 0;
        pid_t pids [8] = { 0 };
        int64_t until = zclock_mono () + 5000;
        while (running < 4 && zclock_mono () < until) {
            zclock_sleep (20);
            running = 0;
            FILE *status_file = fopen (status_path, "r");
            if (!status_file)
                continue;
            char name [64], state [16];
            int child_pid, restarts, holds;
            while (running < 8
               &&  fscanf (status_file, "%63s %d %d %15s %d", name, &child_pid, &restarts,
                           state, &holds) == 5)
                if (child_pid > 0)
                    pids [running++] = child_pid;
            fclose (status_file);
        }
        assert (running == 4);
        assert (access (pid_path, F_OK) == 0);
        kill (pid, SIGTERM);
        assert (waitpid (pid, &status, 0) == pid);
        assert (WIFEXITED (status) && WEXITSTATUS (status) == 0);
        for (int i = 0; i < running; i++)
            assert (kill (pids [i], 0) != 0);
        assert (access (pid_path, F_OK) != 0);
    }

    char command [PATH_MAX + 16];
    snprintf (command, sizeof command, "rm -rf '%s'", dir);
    assert (system (command) == 0);
    if (verbose)
        printf ("OK\n");
}
