/*
 * main.c - crmsyncd: command line, start-up (config, plugins, state DB, workflows), signal handling
 * (SIGTERM/SIGINT stop gracefully, SIGHUP reloads the config) and shutdown.
 */
#include "config/config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "admin/admin.h"
#include "state/backlog.h"
#include "engine/engine.h"
#include "host/loader.h"
#include "util/log.h"
#include "host/plugin_list.h"
#include "sdnotify.h"
#include "shutdown.h"
#include "state/state_reset.h"
#include "state_open.h"
#include "util/util.h"

#ifndef PLUGINDIR
#define PLUGINDIR "/usr/lib/crmsync"
#endif
#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif

#define EXIT_USAGE  2
#define EXIT_CONFIG 78 /* EX_CONFIG: systemd does not restart on it in a loop with RestartPreventExitStatus */

struct options {
    const char *config;
    int check_config, list_plugins, exit_when_idle, reset_state, yes;
};

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: crmsyncd [-c FILE] [--check-config | --list-plugins | --exit-when-idle |\n"
            "                 --reset-state [--yes]]\n"
            "Keeps Microsoft Dynamics 365 and Adobe Campaign Standard in sync.\n\n"
            "  -c, --config FILE   configuration file (default %s/crmsync/crmsync.conf)\n"
            "      --check-config  validate the configuration, plugins and their options, then exit\n"
            "      --list-plugins[=json]  print the configured plugins, their ABI and options (as text or\n"
            "                      JSON), then exit\n"
            "      --exit-when-idle  exit once every running workflow has drained its source and backlog\n"
            "      --reset-state   move the state database aside (after typing the state directory's path to\n"
            "                      confirm, or with --yes), so that the next start begins anew, then exit\n"
            "  -h, --help          this text\n"
            "  -V, --version       print the version\n",
            SYSCONFDIR);
}

static int parse_args(int argc, char **argv, struct options *o)
{
    static const struct option longs[] = {{"config", required_argument, NULL, 'c'},
                                          {"check-config", no_argument, NULL, 'C'},
                                          {"list-plugins", optional_argument, NULL, 'L'},
                                          {"exit-when-idle", no_argument, NULL, 'I'},
                                          {"reset-state", no_argument, NULL, 'R'},
                                          {"yes", no_argument, NULL, 'Y'},
                                          {"help", no_argument, NULL, 'h'},
                                          {"version", no_argument, NULL, 'V'},
                                          {NULL, 0, NULL, 0}};
    int c;
    o->config = SYSCONFDIR "/crmsync/crmsync.conf";
    while ((c = getopt_long(argc, argv, "c:hV", longs, NULL)) != -1) {
        switch (c) {
        case 'c':
            o->config = optarg;
            break;
        case 'C':
            o->check_config = 1;
            break;
        case 'L':
            if (optarg && strcmp(optarg, "json") != 0) {
                fprintf(stderr, "crmsyncd: --list-plugins=%s: the only format is json\n", optarg);
                return -1;
            }
            o->list_plugins = optarg ? 2 : 1;
            break;
        case 'I':
            o->exit_when_idle = 1;
            break;
        case 'R':
            o->reset_state = 1;
            break;
        case 'Y':
            o->yes = 1;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        case 'V':
            printf("crmsyncd %s (plugin ABI %d.%d)\n", PACKAGE_VERSION, CS_ABI_MAJOR, CS_ABI_MINOR);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "crmsyncd: unexpected argument \"%s\"\n", argv[optind]);
        usage(stderr);
        return -1;
    }
    if (o->yes && !o->reset_state) {
        fprintf(stderr, "crmsyncd: --yes confirms --reset-state, and goes with it only\n");
        return -1;
    }
    return 0;
}

static struct cs_config *load_config(const char *path)
{
    struct cs_config *cfg = NULL;
    char *err = NULL;
    if (cs_config_load(path, &cfg, &err) != 0) {
        fprintf(stderr, "%s\ncrmsyncd: %s has errors; nothing was started\n", err, path);
        free(err);
        return NULL;
    }
    cs_log_set_level(cs_log_level_parse(json_string_value(json_object_get(cfg->root, "log_level"))));
    return cfg;
}

static int load_plugins(struct cs_registry *reg, const struct cs_config *cfg)
{
    const json_t *list = json_object_get(cfg->root, "plugins");
    const char *dir = json_string_value(json_object_get(cfg->root, "plugin_dir"));
    int rc = 0;
    for (size_t i = 0; i < json_array_size(list); i++) {
        char *err = NULL, path[32], *where;
        if (cs_loader_load(reg, dir ? dir : PLUGINDIR, json_string_value(json_array_get(list, i)), &err) == 0)
            continue;
        snprintf(path, sizeof path, "plugins[%zu]", i);
        where = cs_config_where(cfg, path);
        fprintf(stderr, "%s: %s\n", where, err);
        free(where);
        free(err);
        rc = -1;
    }
    return rc;
}

/* --reset-state: the exit status. */
static int reset_state(const char *dir, int yes)
{
    char *moved_to = NULL, *err = NULL;
    if (cs_state_reset(dir, yes, stdin, stderr, &moved_to, &err) != 0) {
        fprintf(stderr, "crmsyncd: %s\n", err);
        free(err);
        return 1;
    }
    if (moved_to)
        fprintf(stderr,
                "crmsyncd: moved the state database of %s aside to %s (with its -wal and -shm files, if "
                "any); the next start begins anew with a full sync of every workflow\n",
                dir, moved_to);
    else
        fprintf(stderr, "crmsyncd: %s holds no state.db: nothing to reset\n", dir);
    free(moved_to);
    return 0;
}

/* stop_timeout of a checked configuration, in ms. */
static int64_t stop_timeout(const struct cs_config *cfg)
{
    return json_integer_value(json_object_get(cfg->root, "stop_timeout"));
}

/* Reload the configuration; a new stop_timeout replaces *stop_ms. */
static void reload(struct cs_engine *engine, const char *path, int64_t *stop_ms)
{
    struct cs_config *cfg = load_config(path);
    char *err = NULL;
    if (!cfg) {
        cs_log(CS_LOG_ERROR, "core", "reload of %s refused; the running configuration stays", path);
        return;
    }
    if (cs_engine_check_config(engine, cfg, 1, &err) != 0) {
        fprintf(stderr, "%s\n", err);
        cs_log(CS_LOG_ERROR, "core", "reload of %s refused; the running configuration stays", path);
        free(err);
        cs_config_free(cfg);
        return;
    }
    cs_log(CS_LOG_NOTICE, "core", "reloaded %s", path);
    *stop_ms = stop_timeout(cfg); /* the engine owns cfg now, and keeps it at least until the next reload */
    cs_engine_start_desired(engine);
}

static void print_summary(struct cs_engine *engine)
{
    json_t *list = cs_engine_list(engine), *w;
    struct rusage ru;
    size_t i;
    json_array_foreach (list, i, w) {
        char *line = json_dumps(w, JSON_COMPACT | JSON_SORT_KEYS);
        cs_log(CS_LOG_NOTICE, "summary", "%s", line);
        free(line);
    }
    json_decref(list);
    getrusage(RUSAGE_SELF, &ru);
    cs_log(CS_LOG_NOTICE, "summary", "{\"cpu_user_s\":%.3f,\"cpu_system_s\":%.3f}",
           ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6, ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
}

/* Log a notification to the service manager that could not be sent (cs_sd_notify* returned -1). */
static void notified(int rc)
{
    if (rc < 0)
        cs_log(CS_LOG_WARNING, "core", "cannot notify the service manager at %s: %s", getenv("NOTIFY_SOCKET"),
               strerror(errno));
}

/* Wait for signals (blocked in every thread) until asked to stop; returns the exit status. */
static int serve(struct cs_engine *engine, const struct options *o, int64_t *stop_ms)
{
    sigset_t set;
    struct timespec tick = {0, 200 * 1000000};
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    for (;;) {
        int sig = sigtimedwait(&set, NULL, &tick), failed = 0;
        if (sig == SIGTERM || sig == SIGINT) {
            cs_log(CS_LOG_NOTICE, "core", "%s: stopping workflows", sig == SIGTERM ? "SIGTERM" : "SIGINT");
            notified(cs_sd_notify_stopping());
            return 0;
        }
        if (sig == SIGHUP) {
            notified(cs_sd_notify_reloading());
            reload(engine, o->config, stop_ms);
            notified(cs_sd_notify_ready("running"));
        }
        if (o->exit_when_idle && cs_engine_all_idle(engine, &failed)) {
            print_summary(engine);
            return failed ? 1 : 0;
        }
    }
}

/* What the engine shows while the state store is waited for (cs_state_open's wait). */
struct awaiting {
    struct cs_engine *engine;
    const struct cs_config *cfg;
};

static void state_awaited(void *arg, const char *why)
{
    const struct awaiting *a = arg;
    cs_engine_await_state(a->engine, a->cfg, why);
}

static int start_admin(struct cs_engine *engine, const json_t *admin_cfg, struct cs_admin **admin, int *status)
{
    char *err = NULL;
    if (cs_admin_start(engine, admin_cfg, admin, &err) == 0)
        return 0;
    cs_log(CS_LOG_ERROR, "admin", "%s; nothing was started", err);
    free(err);
    *status = EXIT_CONFIG;
    return -1;
}

int main(int argc, char **argv)
{
    struct options o = {0};
    struct cs_config *cfg = NULL;
    struct cs_registry *reg = NULL;
    struct cs_backlog *backlog = NULL;
    struct cs_engine *engine = NULL;
    struct cs_admin *admin = NULL;
    struct cs_shutdown *watchdog = NULL;
    const json_t *admin_cfg, *state_cfg;
    int64_t stop_ms;
    sigset_t set;
    char *err = NULL;
    int status = EXIT_CONFIG, lock_fd = -1, stopped = 0;

    if (parse_args(argc, argv, &o) != 0)
        return EXIT_USAGE;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* inherited by every thread; main waits for them */
    signal(SIGPIPE, SIG_IGN);

    if (!(cfg = load_config(o.config)))
        goto out;
    if (o.reset_state) {
        status = reset_state(json_string_value(json_object_get(cfg->root, "state_dir")), o.yes);
        goto out;
    }
    reg = cs_registry_new();
    if (load_plugins(reg, cfg) != 0) {
        fprintf(stderr, "crmsyncd: %s: plugins could not be loaded; nothing was started\n", o.config);
        goto out;
    }
    if (o.list_plugins) {
        if (o.list_plugins == 2)
            cs_plugin_list_print_json(reg, stdout);
        else
            cs_plugin_list_print(reg, stdout);
        status = 0;
        goto out;
    }
    engine = cs_engine_new(reg, NULL);
    if (cs_engine_check_config(engine, cfg, 0, &err) != 0) {
        fprintf(stderr, "%s\ncrmsyncd: %s has errors; nothing was started\n", err, o.config);
        goto out;
    }
    if (o.check_config && cs_admin_check(json_object_get(cfg->root, "admin"), &err) != 0) {
        fprintf(stderr, "%s\ncrmsyncd: %s has errors; nothing was started\n", err, o.config);
        status = EXIT_CONFIG;
        goto out;
    }
    if (o.check_config) {
        printf("%s: OK (%zu plugins, %zu connections, %zu workflows)\n", o.config, reg->n_plugins,
               json_object_size(json_object_get(cfg->root, "connections")),
               json_array_size(json_object_get(cfg->root, "workflows")));
        status = 0;
        goto out;
    }
    status = 1;
    admin_cfg = json_object_get(cfg->root, "admin");
    state_cfg = json_object_get(cfg->root, "state");
    if (cs_state_waits(cfg->root)) { /* the admin API answers while the database is waited for */
        cs_engine_await_state(engine, cfg, "the state database is being opened");
        if (start_admin(engine, admin_cfg, &admin, &status) != 0)
            goto out;
    }
    if (cs_state_open(cfg->root, o.config, &backlog, &lock_fd, &stopped,
                      &(struct cs_state_wait){state_awaited, &(struct awaiting){engine, cfg}}) != 0) {
        status = stopped ? 0 : 1;
        goto out;
    }
    cs_engine_state_opened(engine, backlog);
    if (cs_engine_check_config(engine, cfg, 1, &err) != 0) {
        fprintf(stderr, "%s\n", err);
        goto out;
    }
    cs_engine_await_done(engine);
    stop_ms = stop_timeout(cfg);
    cfg = NULL; /* the engine owns it now */
    if (!admin && start_admin(engine, admin_cfg, &admin, &status) != 0)
        goto out;
    if (cs_engine_join_fleet(engine, json_string_value(json_object_get(state_cfg, "node")),
                             json_integer_value(json_object_get(state_cfg, "lease")), cs_admin_address(admin),
                             &err) != 0) {
        cs_log(CS_LOG_ERROR, "fleet", "%s; nothing was started", err);
        goto out;
    }
    cs_log(CS_LOG_NOTICE, "core", "crmsyncd %s started (%zu plugins)", PACKAGE_VERSION, reg->n_plugins);
    cs_engine_start_desired(engine);
    notified(cs_sd_notify_ready("running"));
    status = serve(engine, &o, &stop_ms);
    /* bounded by stop_timeout: the workflows first, so that an admin request still busy holds up nothing
     * queued; the engine is freed only once no admin request uses it */
    watchdog = cs_shutdown_arm(stop_ms, status);
    cs_shutdown_step(watchdog, "the workflows to stop (in-flight batches to finish or go back to the backlog)");
    cs_engine_shutdown(engine);
    cs_shutdown_step(watchdog, "the admin API's requests in progress to end");
    cs_admin_stop(admin);
    admin = NULL;
    cs_shutdown_step(watchdog, "the state database to close");
    cs_engine_leave_fleet(engine);
out:
    cs_admin_stop(admin);
    if (engine)
        cs_engine_leave_fleet(engine);
    cs_engine_free(engine);
    cs_backlog_close(backlog);
    cs_shutdown_done(watchdog);
    cs_registry_free(reg);
    cs_config_free(cfg);
    free(err);
    if (lock_fd >= 0)
        close(lock_fd);
    return status;
}
