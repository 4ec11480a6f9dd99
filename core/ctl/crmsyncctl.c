/*
 * crmsyncctl.c - the command-line face of the admin API: list workflows like the Workflows page,
 * start and stop them (optionally waiting for the state to settle), show and edit definitions (as
 * YAML in $EDITOR, validated by the daemon on save), revisions, replay, dead letters and redrive,
 * health, the fleet of daemons sharing the state database, and a backup of it. --json prints the API's answer as is. Exit codes: see
 * ctl_client.h and crmsyncctl(1).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "ctl_client.h"
#include "ctl_fleet.h"
#include "ctl_preflight.h"
#include "util/util.h"
#include "util/yaml_emit.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif

struct ctl {
    struct ctl_client *client;
    int json, wait, dry_run;
    long limit;
};

static void usage(FILE *out)
{
    fputs("Usage: crmsyncctl [--url URL] [--token-file FILE] [-c CONFIG] [--json] COMMAND [ARGS]\n"
          "Commands:\n"
          "  workflows                 list workflows: name, backlog, status (pending edits marked)\n"
          "  show ID                   one workflow's status and definition\n"
          "  start ID [--wait]         start a workflow (--wait: until RUNNING or FAILED)\n"
          "  stop ID [--wait]          stop a workflow gracefully\n"
          "  edit ID                   edit the definition in $EDITOR (YAML); stored as a pending revision\n"
          "  revisions ID [REV]        list revisions, or show one with its changes\n"
          "  replay ID MAPPING         read a mapping's stream again from the beginning\n"
          "  dead-letters ID [--limit N] the newest dead letters (default 50)\n"
          "  redrive ID [DEAD_ID]      requeue one dead letter, or all of a workflow's\n"
          "  health                    exit 0 when every workflow that should run does\n"
          "  fleet                     the daemons sharing the state database, and on which each workflow\n"
          "                            reads and writes\n"
          "  preflight [ID...]         check every prerequisite in Dynamics 365 and Campaign of the workflows\n"
          "                            (default: all), one line each with the fix; exit 0 when all pass\n"
          "  setup CONNECTOR [--dry-run] create what the workflows need in that system (dynamics365): tables,\n"
          "                            columns, keys, change tracking; --dry-run prints the requests only\n"
          "  backup FILE               the daemon writes a consistent copy of its state database to FILE\n"
          "                            (a new file, owner-only, on the daemon's machine)\n"
          "Options:\n"
          "  --url URL                 the admin API (default: admin.listen of the configuration)\n"
          "  --token-file FILE         the admin token, an owner-only file (default: admin.token_file, then\n"
          "                            admin.tokens, of the configuration)\n"
          "  -c CONFIG                 the configuration to take those from (default " SYSCONFDIR
          "/crmsync/crmsync.conf)\n"
          "  --json                    the API's JSON instead of a table\n"
          "Exit status: 0 done, 1 refused or failed, 2 bad command line, 3 no answer from the admin API,\n"
          "4 no such workflow, mapping, revision or dead letter, 5 not allowed in the workflow's state,\n"
          "6 invalid definition or request, 7 health: a workflow that should run does not, 8 preflight: a\n"
          "prerequisite is missing. See crmsyncctl(1).\n",
          out);
}

static int get(struct ctl *c, const char *path, json_t **doc)
{
    long status;
    return ctl_call(c->client, "GET", path, NULL, &status, doc);
}

/* ---- workflows, show ------------------------------------------------------------------------------ */

static const char *str(const json_t *o, const char *k, const char *fallback)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : fallback;
}

static void print_status(const json_t *w)
{
    printf("%s", str(w, "status", "?"));
    if (json_string_value(json_object_get(w, "substate")))
        printf(" (%s)", str(w, "substate", ""));
    if (json_string_value(json_object_get(w, "reason")))
        printf(": %s", str(w, "reason", ""));
}

/* A workflow with legs: its direction, then each leg's status and backlog. */
static void print_legs(const json_t *w)
{
    json_t *leg;
    size_t i;
    if (!json_object_get(w, "legs"))
        return;
    printf("direction: %s\n", str(w, "direction", "?"));
    json_array_foreach (json_object_get(w, "legs"), i, leg) {
        printf("  leg %-20s ", str(leg, "leg", "?"));
        print_status(leg);
        printf(", %lld queued, %lld dead letters\n", (long long)json_integer_value(json_object_get(leg, "backlog")),
               (long long)json_integer_value(json_object_get(leg, "dead_letters")));
    }
}

static int cmd_workflows(struct ctl *c)
{
    json_t *doc, *w;
    size_t i;
    int rc = get(c, "/api/v1/workflows", &doc);
    if (rc == CTL_OK && c->json)
        ctl_print_json(doc);
    else if (rc == CTL_OK) {
        printf("%-40s %-24s %10s %8s  %s\n", "NAME", "ID", "BACKLOG", "DEAD", "STATUS");
        json_array_foreach (json_object_get(doc, "workflows"), i, w) {
            printf("%-40s %-24s %10lld %8lld  ", str(w, "title", ""), str(w, "id", ""),
                   (long long)json_integer_value(json_object_get(w, "backlog")),
                   (long long)json_integer_value(json_object_get(w, "dead_letters")));
            print_status(w);
            if (json_is_true(json_object_get(w, "pending")))
                printf("  [pending edit: takes effect at stop+start]");
            putchar('\n');
        }
    }
    json_decref(doc);
    return rc;
}

static int cmd_show(struct ctl *c, const char *id)
{
    char *path = cs_xasprintf("/api/v1/workflows/%s", id), *yaml;
    json_t *w = NULL, *def = NULL;
    int rc = get(c, path, &w);
    free(path);
    path = cs_xasprintf("/api/v1/workflows/%s/definition", id);
    if (rc == CTL_OK)
        rc = get(c, path, &def);
    if (rc == CTL_OK && c->json) {
        json_object_set(w, "definition", json_object_get(def, "definition"));
        ctl_print_json(w);
    } else if (rc == CTL_OK) {
        printf("%s (%s)\nstatus:    ", str(w, "title", ""), id);
        print_status(w);
        printf("\nbacklog:   %lld queued, %lld dead letters\nrevision:  running %lld, latest %lld%s\n",
               (long long)json_integer_value(json_object_get(w, "backlog")),
               (long long)json_integer_value(json_object_get(w, "dead_letters")),
               (long long)json_integer_value(json_object_get(w, "running_revision")),
               (long long)json_integer_value(json_object_get(w, "latest_revision")),
               json_is_true(json_object_get(w, "pending")) ? " (pending until stop+start)" : "");
        if (json_object_get(w, "writers")) {
            char *placement = ctl_fleet_placement(w);
            printf("runs:      %s\n", placement);
            free(placement);
        }
        print_legs(w);
        char *why = NULL;
        yaml = cs_yaml_dump(json_object_get(def, "definition"), &why);
        printf("definition (revision %lld, from %s):\n%s",
               (long long)json_integer_value(json_object_get(def, "revision")), str(def, "source", "?"),
               yaml ? yaml : "");
        if (!yaml) {
            fprintf(stderr, "crmsyncctl: cannot show the definition of %s as YAML: %s (--json shows it as JSON)\n", id,
                    why);
            rc = CTL_FAILED;
        }
        free(why);
        free(yaml);
    }
    free(path);
    json_decref(w);
    json_decref(def);
    return rc;
}

/* ---- start, stop ---------------------------------------------------------------------------------- */

static int settled(const char *status, int start)
{
    return start ? strcmp(status, "RUNNING") == 0 || strcmp(status, "FAILED") == 0 : strcmp(status, "STOPPED") == 0;
}

static int cmd_start_stop(struct ctl *c, const char *id, int start)
{
    char *path = cs_xasprintf("/api/v1/workflows/%s/%s", id, start ? "start" : "stop");
    json_t *doc = NULL;
    long status;
    int rc = ctl_call(c->client, "POST", path, NULL, &status, &doc);
    free(path);
    path = cs_xasprintf("/api/v1/workflows/%s", id);
    while (rc == CTL_OK && c->wait && !settled(str(doc, "status", ""), start)) {
        struct timespec ts = {0, 200 * 1000000};
        nanosleep(&ts, NULL);
        json_decref(doc);
        rc = get(c, path, &doc);
    }
    if (rc == CTL_OK && c->json)
        ctl_print_json(doc);
    else if (rc == CTL_OK) {
        printf("%s: ", id);
        print_status(doc);
        putchar('\n');
        if (c->wait && strcmp(str(doc, "status", ""), "FAILED") == 0)
            rc = CTL_FAILED;
    }
    free(path);
    json_decref(doc);
    return rc;
}

/* ---- edit ----------------------------------------------------------------------------------------- */

static int run_editor(const char *file)
{
    const char *editor = getenv("VISUAL") ? getenv("VISUAL") : getenv("EDITOR") ? getenv("EDITOR") : "vi";
    char *cmd = cs_xasprintf("%s '%s'", editor, file);
    int status = system(cmd);
    free(cmd);
    return status == 0 ? 0 : -1;
}

static int write_text(const char *file, const char *header, const char *body)
{
    FILE *f = fopen(file, "w");
    if (!f)
        return -1;
    fprintf(f, "%s%s", header, body);
    return fclose(f);
}

/* `text` as YAML comment lines ("# ..."), appended to *out. */
static void add_comments(char **out, const char *text)
{
    for (const char *line = text; line && *line;) {
        size_t len = strcspn(line, "\n");
        char *next = cs_xasprintf("%s# %.*s\n", *out ? *out : "", (int)len, line);
        free(*out);
        *out = next;
        line += len + (line[len] == '\n');
    }
}

/* The errors of a refused definition as YAML comments, for the next round in the editor. New. */
static char *error_comments(const json_t *answer, const char *parse_error)
{
    const json_t *details = json_object_get(json_object_get(answer, "error"), "details"), *d;
    char *out = NULL;
    size_t i;
    if (parse_error) {
        add_comments(&out, "not valid YAML:");
        add_comments(&out, parse_error);
        return out;
    }
    add_comments(&out, "crmsyncd refused this definition:");
    json_array_foreach (details, i, d) {
        char *line = cs_xasprintf("  %s: %s", str(d, "path", ""), str(d, "message", ""));
        add_comments(&out, line);
        free(line);
    }
    return out;
}

static char *strip_comments_header(char *text)
{
    while (text[0] == '#') {
        char *nl = strchr(text, '\n');
        if (!nl)
            break;
        text = nl + 1;
    }
    return text;
}

/* One round: store `body` if the daemon accepts it. CTL_OK, CTL_INVALID (with *comments for the next
 * round), or another failure. */
static int try_definition(struct ctl *c, const char *id, const char *path, const char *body, const char *file,
                          char **comments)
{
    char *err = NULL;
    json_t *def = cs_config_parse_text(body, strlen(body), file, &err), *answer = NULL;
    long status;
    int rc;

    *comments = NULL;
    if (!def) {
        *comments = error_comments(NULL, err);
        free(err);
        return CTL_INVALID;
    }
    rc = ctl_call(c->client, "PUT", path, def, &status, &answer);
    json_decref(def);
    if (rc == CTL_OK)
        printf("%s: revision %lld: %s\n", id, (long long)json_integer_value(json_object_get(answer, "revision")),
               str(answer, "message", ""));
    else if (rc == CTL_INVALID)
        *comments = error_comments(answer, NULL);
    json_decref(answer);
    return rc;
}

static int cmd_edit(struct ctl *c, const char *id)
{
    const char *tmp = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char *path = cs_xasprintf("/api/v1/workflows/%s/definition", id), *dir = cs_xasprintf("%s/crmsyncctl-XXXXXX", tmp);
    char *header = cs_xasprintf("# %s: save and quit to store a new revision; an unchanged file stores nothing\n", id);
    char *file = NULL, *original = NULL, *previous = NULL, *why = NULL;
    json_t *doc = NULL;
    int rc = get(c, path, &doc);

    if (rc != CTL_OK)
        goto out;
    if (!(original = cs_yaml_dump(json_object_get(doc, "definition"), &why))) {
        fprintf(stderr, "crmsyncctl: cannot write the definition of %s as YAML: %s\n", id, why);
        rc = CTL_FAILED;
        goto out;
    }
    if (!mkdtemp(dir)) {
        fprintf(stderr, "crmsyncctl: cannot make a directory for the file to edit under %s: %s (set TMPDIR)\n", tmp,
                strerror(errno));
        rc = CTL_FAILED;
        goto out;
    }
    file = cs_xasprintf("%s/%s.yaml", dir, id);
    if (write_text(file, header, original) != 0) {
        rc = CTL_FAILED;
        goto out;
    }
    previous = cs_xstrdup(original);
    for (;;) {
        char *text = NULL, *err = NULL, *body, *comments = NULL;
        size_t len;

        if (run_editor(file) != 0 || !(text = cs_read_file(file, 1 << 20, &len, &err))) {
            fprintf(stderr, "crmsyncctl: %s; nothing was stored\n", err ? err : "the editor failed");
            free(err);
            rc = CTL_FAILED;
            break;
        }
        body = strip_comments_header(text);
        if (strcmp(body, previous) == 0) {
            /* saved as it was shown: the original, or the last refused text unchanged */
            rc = strcmp(body, original) == 0 ? CTL_OK : CTL_INVALID;
            printf("%s: %s; nothing stored\n", id,
                   rc == CTL_OK ? "no changes" : "unchanged since the errors were shown");
            free(text);
            break;
        }
        rc = try_definition(c, id, path, body, file, &comments);
        if (rc == CTL_INVALID) {
            write_text(file, comments, body);
            fprintf(stderr, "crmsyncctl: %s: the definition was refused; reopening it with the errors\n", id);
            free(previous);
            previous = cs_xstrdup(body);
        }
        free(comments);
        free(text);
        if (rc != CTL_INVALID)
            break;
    }
out:
    if (file) {
        unlink(file);
        rmdir(dir);
    }
    free(file);
    free(dir);
    free(original);
    free(previous);
    free(why);
    free(header);
    free(path);
    json_decref(doc);
    return rc;
}

/* ---- revisions, replay, dead letters, health ------------------------------------------------------ */

static int cmd_revisions(struct ctl *c, const char *id, const char *rev)
{
    char *path = rev ? cs_xasprintf("/api/v1/workflows/%s/revisions/%s", id, rev)
                     : cs_xasprintf("/api/v1/workflows/%s/revisions", id);
    json_t *doc = NULL, *r;
    size_t i;
    int rc = get(c, path, &doc);
    if (rc == CTL_OK && c->json) {
        ctl_print_json(doc);
    } else if (rc == CTL_OK && rev) {
        printf("revision %s (%s, by %s)\n", rev, str(doc, "source", "?"), str(doc, "author", "the config file"));
        json_array_foreach (json_object_get(doc, "diff"), i, r) {
            char *from = json_dumps(json_object_get(r, "from"), JSON_COMPACT | JSON_ENCODE_ANY);
            char *to = json_dumps(json_object_get(r, "to"), JSON_COMPACT | JSON_ENCODE_ANY);
            printf("  %-8s %s%s%s%s%s\n", str(r, "op", ""), str(r, "path", ""), from ? ": " : "", from ? from : "",
                   to ? " -> " : "", to ? to : "");
            free(from);
            free(to);
        }
    } else if (rc == CTL_OK) {
        printf("%-8s %-8s %-14s %s\n", "REV", "SOURCE", "CREATED", "AUTHOR");
        json_array_foreach (json_object_get(doc, "revisions"), i, r) {
            time_t t = (time_t)(json_integer_value(json_object_get(r, "created_at")) / 1000);
            char when[32];
            strftime(when, sizeof when, "%Y-%m-%d %H:%M", localtime(&t));
            printf("%-8lld %-8s %-14s %s\n", (long long)json_integer_value(json_object_get(r, "revision")),
                   str(r, "source", ""), when, str(r, "author", "-"));
        }
    }
    free(path);
    json_decref(doc);
    return rc;
}

static int cmd_replay(struct ctl *c, const char *id, const char *mapping)
{
    char *path = cs_xasprintf("/api/v1/workflows/%s/replay", id);
    json_t *body = json_pack("{s:s}", "mapping", mapping), *doc = NULL;
    long status;
    int rc = ctl_call(c->client, "POST", path, body, &status, &doc);
    if (rc == CTL_OK)
        printf("%s: %s: %s\n", id, mapping, str(doc, "message", ""));
    json_decref(body);
    json_decref(doc);
    free(path);
    return rc;
}

static int cmd_dead_letters(struct ctl *c, const char *id)
{
    char *path = cs_xasprintf("/api/v1/workflows/%s/dead-letters?limit=%ld", id, c->limit);
    json_t *doc = NULL, *d;
    size_t i;
    int rc = get(c, path, &doc);
    if (rc == CTL_OK && c->json) {
        ctl_print_json(doc);
    } else if (rc == CTL_OK) {
        printf("%-8s %-20s %-18s %-6s %s\n", "ID", "KEY", "CLASS", "HTTP", "DETAIL");
        json_array_foreach (json_object_get(doc, "dead_letters"), i, d) {
            printf("%-8lld %-20s %-18s %-6lld %s%s\n", (long long)json_integer_value(json_object_get(d, "id")),
                   str(d, "key", ""), str(d, "error_class", ""),
                   (long long)json_integer_value(json_object_get(d, "http_status")), str(d, "detail", ""),
                   json_integer_value(json_object_get(d, "redriven_at")) ? " (redriven)" : "");
        }
    }
    free(path);
    json_decref(doc);
    return rc;
}

static int cmd_redrive(struct ctl *c, const char *id, const char *dead_id)
{
    char *path = dead_id ? cs_xasprintf("/api/v1/workflows/%s/dead-letters/%s/redrive", id, dead_id)
                         : cs_xasprintf("/api/v1/workflows/%s/dead-letters/redrive", id);
    json_t *doc = NULL;
    long status;
    int rc = ctl_call(c->client, "POST", path, NULL, &status, &doc);
    if (rc == CTL_OK)
        printf("%s: %lld dead letter(s) back in the backlog\n", id,
               (long long)json_integer_value(json_object_get(doc, "redriven")));
    json_decref(doc);
    free(path);
    return rc;
}

/* The daemon copies its state database to FILE (a relative FILE is taken from this directory). */
static int cmd_backup(struct ctl *c, const char *file)
{
    char *cwd = file[0] == '/' ? NULL : getcwd(NULL, 0);
    char *path = file[0] == '/' ? cs_xstrdup(file) : cwd ? cs_xasprintf("%s/%s", cwd, file) : NULL;
    json_t *body, *doc = NULL;
    long status;
    int rc;
    free(cwd);
    if (!path) {
        fprintf(stderr, "crmsyncctl: backup %s: cannot tell the current directory (%s): give an absolute path\n", file,
                strerror(errno));
        return CTL_USAGE;
    }
    body = json_pack("{s:s}", "path", path);
    rc = ctl_call(c->client, "POST", "/api/v1/backup", body, &status, &doc);
    if (rc == CTL_OK && c->json)
        ctl_print_json(doc);
    else if (rc == CTL_OK)
        printf("state database copied to %s (%lld bytes, %lld ms)\n", str(doc, "path", path),
               (long long)json_integer_value(json_object_get(doc, "bytes")),
               (long long)json_integer_value(json_object_get(doc, "elapsed_ms")));
    json_decref(body);
    json_decref(doc);
    free(path);
    return rc;
}

static int cmd_health(struct ctl *c)
{
    json_t *doc = NULL, *p;
    size_t i;
    int rc = get(c, "/api/v1/health", &doc);
    if (c->json && doc)
        ctl_print_json(doc);
    else if (doc) {
        printf("%s\n", str(doc, "status", "?"));
        json_array_foreach (json_object_get(doc, "problems"), i, p) {
            if (json_object_get(p, "component")) /* the state database */
                printf("  %s: %s\n", str(p, "component", ""), str(p, "reason", ""));
            else
                printf("  %s is %s%s%s\n", str(p, "workflow", ""), str(p, "status", ""),
                       json_string_value(json_object_get(p, "reason")) ? ": " : "", str(p, "reason", ""));
        }
    }
    json_decref(doc);
    return rc;
}

/* ---- main ----------------------------------------------------------------------------------------- */

static int run(struct ctl *c, int argc, char **argv)
{
    const char *cmd = argv[0], *a1 = argc > 1 ? argv[1] : NULL, *a2 = argc > 2 ? argv[2] : NULL;
    if (strcmp(cmd, "workflows") == 0 && argc == 1)
        return cmd_workflows(c);
    if (strcmp(cmd, "health") == 0 && argc == 1)
        return cmd_health(c);
    if (strcmp(cmd, "fleet") == 0 && argc == 1)
        return ctl_fleet(c->client, c->json);
    if (strcmp(cmd, "preflight") == 0)
        return ctl_preflight(c->client, c->json, argc - 1, argv + 1);
    if (strcmp(cmd, "setup") == 0 && argc == 2)
        return ctl_setup(c->client, c->json, a1, c->dry_run);
    if (strcmp(cmd, "show") == 0 && argc == 2)
        return cmd_show(c, a1);
    if ((strcmp(cmd, "start") == 0 || strcmp(cmd, "stop") == 0) && argc == 2)
        return cmd_start_stop(c, a1, strcmp(cmd, "start") == 0);
    if (strcmp(cmd, "edit") == 0 && argc == 2)
        return cmd_edit(c, a1);
    if (strcmp(cmd, "revisions") == 0 && (argc == 2 || argc == 3))
        return cmd_revisions(c, a1, a2);
    if (strcmp(cmd, "replay") == 0 && argc == 3)
        return cmd_replay(c, a1, a2);
    if (strcmp(cmd, "dead-letters") == 0 && argc == 2)
        return cmd_dead_letters(c, a1);
    if (strcmp(cmd, "redrive") == 0 && (argc == 2 || argc == 3))
        return cmd_redrive(c, a1, a2);
    if (strcmp(cmd, "backup") == 0 && argc == 2)
        return cmd_backup(c, a1);
    fprintf(stderr, "crmsyncctl: unknown command or wrong arguments: %s\n", cmd);
    usage(stderr);
    return CTL_USAGE;
}

int main(int argc, char **argv)
{
    static const struct option longs[] = {{"url", required_argument, NULL, 'u'},
                                          {"token-file", required_argument, NULL, 't'},
                                          {"config", required_argument, NULL, 'c'},
                                          {"json", no_argument, NULL, 'j'},
                                          {"wait", no_argument, NULL, 'w'},
                                          {"limit", required_argument, NULL, 'l'},
                                          {"dry-run", no_argument, NULL, 'd'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    const char *url = NULL, *token_file = NULL, *config = SYSCONFDIR "/crmsync/crmsync.conf";
    struct ctl c = {.limit = 50};
    char *err = NULL;
    int opt, rc, config_given = 0;

    while ((opt = getopt_long(argc, argv, "c:h", longs, NULL)) != -1) {
        switch (opt) {
        case 'u':
            url = optarg;
            break;
        case 't':
            token_file = optarg;
            break;
        case 'c':
            config = optarg;
            config_given = 1;
            break;
        case 'j':
            c.json = 1;
            break;
        case 'w':
            c.wait = 1;
            break;
        case 'd':
            c.dry_run = 1;
            break;
        case 'l':
            c.limit = strtol(optarg, NULL, 10);
            break;
        case 'h':
            usage(stdout);
            return CTL_OK;
        default:
            usage(stderr);
            return CTL_USAGE;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return CTL_USAGE;
    }
    if (!(c.client = ctl_client_new(url, token_file, config, config_given, &err))) {
        fprintf(stderr, "crmsyncctl: %s\n", err);
        free(err);
        return CTL_FAILED;
    }
    rc = run(&c, argc - optind, argv + optind);
    ctl_client_free(c.client);
    return rc;
}
