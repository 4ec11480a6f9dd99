/*
 * ctl_preflight.c - crmsyncctl preflight and setup: POST /api/v1/preflight and /api/v1/setup, printed
 * one line per check or step (OK / FAIL / WARN, where, what was found, and the fix), or the API's JSON
 * with --json. The daemon does the work: it holds the connections, their secrets and tokens.
 */
#include "ctl_preflight.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *str(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* "connection" or "connection/workflow". */
static void print_where(const json_t *item)
{
    const char *wf = str(item, "workflow");
    printf("%s%s%s", str(item, "connection"), *wf ? "/" : "", wf);
}

static void print_check(const json_t *item)
{
    int ok = json_is_true(json_object_get(item, "ok"));
    printf("%-4s ", !ok ? "FAIL" : json_is_true(json_object_get(item, "warning")) ? "WARN" : "OK");
    print_where(item);
    printf(": %s: %s", str(item, "check"), str(item, "detail"));
    if (!ok && *str(item, "fix"))
        printf("\n     fix: %s", str(item, "fix"));
    putchar('\n');
}

int ctl_preflight(struct ctl_client *c, int json, int n_ids, char **ids)
{
    json_t *list = json_array(), *body, *doc = NULL, *item;
    long status;
    size_t i;
    int rc;
    for (int k = 0; k < n_ids; k++)
        json_array_append_new(list, json_string(ids[k]));
    body = json_pack("{s:o}", "workflows", list);
    rc = ctl_call(c, "POST", "/api/v1/preflight", body, &status, &doc);
    if (rc == CTL_OK && json) {
        ctl_print_json(doc);
    } else if (rc == CTL_OK) {
        json_array_foreach (json_object_get(doc, "checks"), i, item)
            print_check(item);
        printf("%lld check(s) failed\n", (long long)json_integer_value(json_object_get(doc, "failed")));
    }
    if (rc == CTL_OK && !json_is_true(json_object_get(doc, "ok")))
        rc = CTL_NOT_READY;
    json_decref(body);
    json_decref(doc);
    return rc;
}

int ctl_setup(struct ctl_client *c, int json, const char *connector, int dry_run)
{
    json_t *body = json_pack("{s:s, s:b}", "connector", connector, "dry_run", dry_run), *doc = NULL, *item;
    long status;
    size_t i;
    int rc = ctl_call(c, "POST", "/api/v1/setup", body, &status, &doc);
    if (rc == CTL_OK && json) {
        ctl_print_json(doc);
    } else if (rc == CTL_OK) {
        json_array_foreach (json_object_get(doc, "steps"), i, item) {
            int ok = json_is_true(json_object_get(item, "ok"));
            printf("%-7s ", !ok                                              ? "FAIL"
                            : dry_run                                        ? "WOULD"
                            : json_is_true(json_object_get(item, "changed")) ? "DONE"
                                                                             : "OK");
            print_where(item);
            printf(": %s: %s\n", str(item, "check"), str(item, "detail"));
            if (!ok && *str(item, "fix"))
                printf("        fix: %s\n", str(item, "fix"));
        }
        if (json_integer_value(json_object_get(doc, "changed")) == 0 && json_is_true(json_object_get(doc, "ok")))
            printf("%s: nothing to do: everything the workflows need is there\n", connector);
        else if (dry_run)
            printf("%s: --dry-run: nothing was sent\n", connector);
    }
    if (rc == CTL_OK && !json_is_true(json_object_get(doc, "ok")))
        rc = CTL_FAILED;
    json_decref(body);
    json_decref(doc);
    return rc;
}
