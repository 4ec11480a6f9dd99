/*
 * ctl_fleet.c - crmsyncctl fleet: GET /api/v1/fleet as two tables, the members (node, host, pid, admin
 * API, heartbeat age, started) and the workflows (where the reader runs, writers per node); with --json
 * the answer as is.
 */
#include "ctl_fleet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

static const char *text(const json_t *o, const char *k, const char *fallback)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : fallback;
}

/* "a 4, b 4" (new; "none" when empty). */
static char *writers_text(const json_t *writers)
{
    char *out = cs_xstrdup(""), *next;
    const char *node;
    json_t *n;
    json_object_foreach ((json_t *)writers, node, n) {
        next = cs_xasprintf("%s%s%s %lld", out, *out ? ", " : "", node, (long long)json_integer_value(n));
        free(out);
        out = next;
    }
    if (!*out) {
        free(out);
        out = cs_xstrdup("none");
    }
    return out;
}

char *ctl_fleet_placement(const json_t *w)
{
    char *writers = writers_text(json_object_get(w, "writers"));
    char *line = json_is_string(json_object_get(w, "reader"))
                     ? cs_xasprintf("reader on node %s; writers: %s", text(w, "reader", ""), writers)
                     : cs_xasprintf("reader on no node; writers: %s", writers);
    free(writers);
    return line;
}

static void print_members(const json_t *members)
{
    json_t *m;
    size_t i;
    printf("%-20s %-20s %8s  %-32s %s\n", "NODE", "HOST", "PID", "ADMIN", "HEARTBEAT");
    json_array_foreach (members, i, m) {
        char *node =
            cs_xasprintf("%s%s", text(m, "node", "?"), json_is_true(json_object_get(m, "self")) ? " (this)" : "");
        printf("%-20s %-20s %8lld  %-32s %.1f s ago%s\n", node, text(m, "host", "?"),
               (long long)json_integer_value(json_object_get(m, "pid")), text(m, "admin", "-"),
               json_integer_value(json_object_get(m, "heartbeat_age_ms")) / 1000.0,
               json_is_false(json_object_get(m, "alive")) ? " (dead: its claims are released at the next sweep)" : "");
        free(node);
    }
}

static void print_workflows(const json_t *workflows)
{
    const char *id;
    json_t *w;
    printf("\n%-32s %-20s %s\n", "WORKFLOW", "READER", "WRITERS");
    json_object_foreach ((json_t *)workflows, id, w) {
        char *writers = writers_text(json_object_get(w, "writers"));
        printf("%-32s %-20s %s\n", id, text(w, "reader", "-"), writers);
        free(writers);
    }
}

int ctl_fleet(struct ctl_client *c, int json)
{
    json_t *doc = NULL;
    long status;
    int rc = ctl_call(c, "GET", "/api/v1/fleet", NULL, &status, &doc);
    if (rc == CTL_OK && json) {
        ctl_print_json(doc);
    } else if (rc == CTL_OK) {
        printf("node %s, reader lease %.1f s\n\n", text(doc, "node", "?"),
               json_integer_value(json_object_get(doc, "lease_ms")) / 1000.0);
        print_members(json_object_get(doc, "members"));
        print_workflows(json_object_get(doc, "workflows"));
    }
    json_decref(doc);
    return rc;
}
