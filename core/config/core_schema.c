/*
 * core_schema.c - the configuration's own keys as the checker's field lists (state, admin, connections,
 * workflows with their mappings, legs, retry and limits), and the checks across members that a field list
 * cannot say (unique ids, known connections, guardrails, the former Opt In/Out pair).
 */
#include "config_internal.h"

#include <stdlib.h>
#include <string.h>

#include "legs.h"
#include "mapping.h"
#include "mapping/vocabulary.h"
#include "util/util.h"
#include "util/yaml_emit.h"

#ifndef CS_DEFAULT_STATE_DIR
#define CS_DEFAULT_STATE_DIR "/var/lib/crmsync"
#endif
#ifndef CS_DEFAULT_WEB_DIR
#define CS_DEFAULT_WEB_DIR "/usr/share/crmsync/web"
#endif

static const char *item_string(const json_t *list, size_t i, const char *member)
{
    const json_t *v = json_array_get(list, i);
    return json_string_value(member ? json_object_get(v, member) : v);
}

static char *item_path(const char *path, size_t i, const char *member)
{
    return member ? cs_xasprintf("%s[%zu].%s", path, i, member) : cs_xasprintf("%s[%zu]", path, i);
}

/* "line N" of the main file, or "file:N" of a conf.d file. New. */
char *cs_cfg_first_at(const struct cs_config *cfg, const char *path)
{
    const json_t *pos = json_object_get(cfg->positions, path);
    const char *file = json_string_value(json_array_get(pos, 2));
    long long line = json_integer_value(json_array_get(pos, 0));
    return file ? cs_xasprintf("%s:%lld", file, line) : cs_xasprintf("line %lld", line);
}

/* Each string (or string member `member` of each object) of `list` at `path` appears once. Linear:
 * the strings seen are kept with their first index. */
static void check_unique(struct checker *c, const char *path, const json_t *list, const char *member, const char *what)
{
    json_t *seen = json_object();
    for (size_t i = 0; i < json_array_size(list); i++) {
        const char *s = item_string(list, i, member);
        const json_t *first_index = s ? json_object_get(seen, s) : NULL;
        if (first_index) {
            size_t j = (size_t)json_integer_value(first_index);
            char *here = item_path(path, i, member), *first = item_path(path, j, member);
            char *at = cs_cfg_first_at(c->cfg, first);
            cs_cfg_report(c, here, "duplicate %s \"%s\" (first at %s)", what, s, at);
            free(at);
            free(here);
            free(first);
        } else if (s) {
            json_object_set_new_nocheck(seen, s, json_integer((json_int_t)i));
        }
    }
    json_decref(seen);
}

/* Member `member` (named `name`) of the object at `owner` names an entry of `connections`. */
static void check_connection_at(struct checker *c, const char *owner, const char *name, const char *member,
                                json_t *connections)
{
    const char *key;
    json_t *names, *v;
    char *path, *h;

    if (!name || json_object_get(connections, name))
        return;
    names = json_array();
    json_object_foreach (connections, key, v)
        json_array_append_new(names, json_string(key));
    path = cs_cfg_child_path(owner, member);
    h = cs_cfg_hint(name, names, "defined");
    cs_cfg_report(c, path, "unknown connection \"%s\"%s", name, h);
    free(h);
    free(path);
    json_decref(names);
}

/* Member `member` of workflow i names an entry of `connections`. */
static void check_connection(struct checker *c, const json_t *workflows, size_t i, const char *member,
                             json_t *connections)
{
    char *owner = cs_xasprintf("workflows[%zu]", i);
    check_connection_at(c, owner, item_string(workflows, i, member), member, connections);
    free(owner);
}

static void root_post(struct checker *c, const char *path, json_t *root)
{
    const json_t *workflows = json_object_get(root, "workflows");
    json_t *connections = json_object_get(root, "connections");

    (void)path;
    check_unique(c, "plugins", json_object_get(root, "plugins"), NULL, "plugin");
    for (size_t i = 0; i < json_array_size(json_object_get(root, "plugins")); i++) {
        const char *p = json_string_value(json_array_get(json_object_get(root, "plugins"), i));
        if (p && strchr(p, '/')) { /* a path, not a name looked up in plugin_dir */
            char *full = cs_config_path(c->cfg, p);
            json_array_set_new(json_object_get(root, "plugins"), i, json_string(full));
            free(full);
        }
    }
    check_unique(c, "workflows", workflows, "id", "workflow id");
    for (size_t i = 0; i < json_array_size(workflows); i++) {
        const json_t *legs = json_object_get(json_array_get(workflows, i), "legs"), *leg;
        const char *name;
        check_connection(c, workflows, i, "source", connections);
        check_connection(c, workflows, i, "sink", connections);
        json_object_foreach ((json_t *)legs, name, leg) {
            char *lpath = cs_xasprintf("workflows[%zu].legs.%s", i, name);
            check_connection_at(c, lpath, json_string_value(json_object_get(leg, "source")), "source", connections);
            check_connection_at(c, lpath, json_string_value(json_object_get(leg, "sink")), "sink", connections);
            free(lpath);
        }
    }
}

/* Opt In/Out written as its two former workflows (legs.h): refused, showing the one workflow to write. */
void cs_cfg_check_former_pair(struct checker *c, const json_t *doc)
{
    const json_t *workflows = json_object_get(doc, "workflows");
    json_t *merged = NULL, *listed;
    size_t first = 0;
    long second = cs_legs_former_pair(workflows, &first, &merged);
    char *yaml, *err = NULL, *path, *at;
    if (second < 0)
        return;
    listed = json_pack("[o]", merged); /* as it stands under workflows: */
    yaml = cs_yaml_dump(listed, &err);
    json_decref(listed);
    path = cs_xasprintf("workflows[%zu]", first);
    at = cs_cfg_first_at(c->cfg, path);
    free(path);
    path = cs_xasprintf("workflows[%ld]", second);
    cs_cfg_report(c, path,
                  "this workflow and workflows[%zu] (%s) are the two directions of Opt In/Out, which is one "
                  "workflow with a direction since crmsync 0.9; replace both with the one below (its legs keep the "
                  "backlog, cursors and dead letters of the two, nothing is read again):\n%s",
                  first, at, yaml ? yaml : err);
    free(path);
    free(at);
    free(yaml);
    free(err);
}

/* admin.allowed_hosts: host names as a browser sends them in Host, without port or scheme. */
static void check_allowed_hosts(struct checker *c, const char *path, const json_t *hosts)
{
    static const char name_chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-";
    for (size_t i = 0; i < json_array_size(hosts); i++) {
        const char *h = json_string_value(json_array_get(hosts, i));
        char *here;
        if (!h || !*h || strspn(h, name_chars) == strlen(h))
            continue;
        here = cs_xasprintf("%s.allowed_hosts[%zu]", path, i);
        cs_cfg_report(c, here,
                      "\"%s\" is not a host name: give the name alone (letters, digits, \".\", \"-\"), without "
                      "scheme or port, e.g. crmsync.example.com",
                      h);
        free(here);
    }
}

static void admin_post(struct checker *c, const char *path, json_t *admin)
{
    int cert = json_object_get(admin, "tls_cert_file") != NULL, key = json_object_get(admin, "tls_key_file") != NULL;
    char *missing;

    check_allowed_hosts(c, path, json_object_get(admin, "allowed_hosts"));
    if (json_is_integer(json_object_get(admin, "request_head_timeout")) &&
        json_integer_value(json_object_get(admin, "request_head_timeout")) < 1000) {
        char *here = cs_cfg_child_path(path, "request_head_timeout");
        cs_cfg_report(c, here, "must be at least 1s: a client needs time to send its request head");
        free(here);
    }
    if (cert == key)
        return;
    missing = cs_cfg_child_path(path, cert ? "tls_key_file" : "tls_cert_file");
    cs_cfg_report(c, missing, "required when %s is set", cert ? "tls_cert_file" : "tls_key_file");
    free(missing);
}

static void retry_post(struct checker *c, const char *path, json_t *retry)
{
    const json_t *v = json_object_get(retry, "max_attempts");
    long long n = json_integer_value(v);
    char *child;

    if (!v || n == -1 || n >= 1)
        return;
    child = cs_cfg_child_path(path, "max_attempts");
    cs_cfg_report(c, child, "must be -1 (retry forever) or at least 1, got %lld", n);
    free(child);
}

/* Each destination table is the target of one mapping (a duplicate stream is reported already). */
static void check_targets(struct checker *c, const char *path, const json_t *mappings)
{
    /* per target: [the first mapping to it, the first one to it from another stream than that one's] */
    json_t *seen = json_object();
    for (size_t i = 0; i < json_array_size(mappings); i++) {
        const char *t = item_string(mappings, i, "target"), *st = item_string(mappings, i, "stream");
        json_t *firsts = t && st ? json_object_get(seen, t) : NULL;
        const json_t *other;
        size_t j0, j;
        if (!t || !st)
            continue;
        if (!firsts) {
            json_object_set_new_nocheck(seen, t, json_pack("[I]", (json_int_t)i));
            continue;
        }
        j0 = (size_t)json_integer_value(json_array_get(firsts, 0));
        other = json_array_get(firsts, 1);
        if (strcmp(st, item_string(mappings, j0, "stream")) != 0) {
            j = j0;
            if (!other)
                json_array_append_new(firsts, json_integer((json_int_t)i));
        } else if (other) {
            j = (size_t)json_integer_value(other);
        } else {
            continue;
        }
        {
            char *here = cs_xasprintf("%s%smappings[%zu].target", path, *path ? "." : "", i);
            cs_cfg_report(c, here,
                          "\"%s\" is already the target of mappings[%zu] (%s): each destination table is "
                          "mapped to once",
                          t, j, item_string(mappings, j, "stream"));
            free(here);
        }
    }
    json_decref(seen);
}

/* Adobe's guardrails: at most limits.custom_entities custom tables, each with at most limits.columns
 * mapped fields. */
static void check_guardrails(struct checker *c, const char *path, const json_t *wf, const json_t *limits)
{
    const json_t *mappings = json_object_get(wf, "mappings");
    int64_t max_custom = json_integer_value(json_object_get(limits, "custom_entities"));
    int64_t max_columns = json_integer_value(json_object_get(limits, "columns")), custom = 0;
    for (size_t i = 0; i < json_array_size(mappings); i++) {
        const json_t *m = json_array_get(mappings, i);
        char *where;
        if (!cs_mapping_is_custom(m))
            continue;
        where = cs_xasprintf("%s%smappings[%zu]", path, *path ? "." : "", i);
        if (++custom == max_custom + 1)
            cs_cfg_report(c, where,
                          "more than %lld custom entities in one workflow (limits.custom_entities; Adobe's "
                          "guardrail is 20)",
                          (long long)max_custom);
        if ((int64_t)json_array_size(json_object_get(m, "fields")) > max_columns) {
            char *fields = cs_xasprintf("%s.fields", where);
            cs_cfg_report(c, fields, "%zu mapped columns, more than limits.columns (%lld; Adobe's guardrail is 50)",
                          json_array_size(json_object_get(m, "fields")), (long long)max_columns);
            free(fields);
        }
        free(where);
    }
}

/* The mappings of a one-way workflow, or of one leg, at `path`. */
static void check_mappings(struct checker *c, const char *path, const json_t *owner, const json_t *limits_of)
{
    char *child = cs_cfg_child_path(path, "mappings");
    check_unique(c, child, json_object_get(owner, "mappings"), "stream", "stream");
    free(child);
    check_targets(c, path, json_object_get(owner, "mappings"));
    check_guardrails(c, path, owner, json_object_get(limits_of, "limits"));
}

static int valid_id(const char *id)
{
    return *id && *id != '-' && strspn(id, "abcdefghijklmnopqrstuvwxyz0123456789-") == strlen(id);
}

/* In a workflow with legs the direction sets each entity handler's `mode`: it is not written. */
static void check_no_mode(struct checker *c, const char *lpath, const json_t *leg)
{
    const json_t *mappings = json_object_get(leg, "mappings");
    for (size_t i = 0; i < json_array_size(mappings); i++) {
        char *here;
        if (!json_object_get(json_object_get(json_array_get(mappings, i), "entity"), "mode"))
            continue;
        here = cs_xasprintf("%s.mappings[%zu].entity.mode", lpath, i);
        cs_cfg_report(c, here, "set by the workflow's direction in a workflow with legs; remove it");
        free(here);
    }
}

static void check_legs(struct checker *c, const char *path, const json_t *wf)
{
    const json_t *legs = json_object_get(wf, "legs"), *leg;
    const char *direction = json_string_value(json_object_get(wf, "direction")), *name;
    static const char *const one_way[] = {"source", "sink", "mappings", NULL};
    char *child;

    for (size_t i = 0; one_way[i]; i++)
        if (json_object_get(wf, one_way[i])) {
            child = cs_cfg_child_path(path, one_way[i]);
            cs_cfg_report(c, child, "a workflow with legs has its %s in each leg; move it there", one_way[i]);
            free(child);
        }
    child = cs_cfg_child_path(path, "legs");
    if (json_object_size(legs) < 1 || json_object_size(legs) > CS_LEGS_MAX)
        cs_cfg_report(c, child, "one or %d legs, got %zu", CS_LEGS_MAX, json_object_size(legs));
    json_object_foreach ((json_t *)legs, name, leg) {
        char *lpath = cs_cfg_child_path(child, name);
        if (!valid_id(name))
            cs_cfg_report(c, lpath, "a leg's name is lowercase letters, digits and \"-\", not starting with \"-\"");
        check_mappings(c, lpath, leg, wf);
        check_no_mode(c, lpath, leg);
        free(lpath);
    }
    free(child);
    child = cs_cfg_child_path(path, "direction");
    if (!direction) {
        cs_cfg_report(c, child, "required in a workflow with legs: disabled, bidirectional or the name of a leg");
    } else if (strcmp(direction, "bidirectional") == 0
                   ? json_object_size(legs) != CS_LEGS_MAX
                   : strcmp(direction, "disabled") != 0 && !json_object_get(legs, direction)) {
        char *names = NULL;
        json_object_foreach ((json_t *)legs, name, leg) {
            char *more = cs_xasprintf("%s%s%s", names ? names : "", names ? ", " : "", name);
            free(names);
            names = more;
        }
        cs_cfg_report(c, child, "\"%s\" is not a direction of this workflow: use disabled, %s%s", direction,
                      names ? names : "",
                      json_object_size(legs) == CS_LEGS_MAX ? " or bidirectional"
                                                            : " (add the other "
                                                              "leg for bidirectional)");
        free(names);
    }
    free(child);
}

static void workflow_post(struct checker *c, const char *path, json_t *wf)
{
    const char *id = json_string_value(json_object_get(wf, "id"));
    char *child;

    if (id && !valid_id(id)) {
        child = cs_cfg_child_path(path, "id");
        cs_cfg_report(c, child, "must be lowercase letters, digits and \"-\", not starting with \"-\"; got \"%s\"", id);
        free(child);
    }
    if (json_object_get(wf, "legs")) {
        check_legs(c, path, wf);
        return;
    }
    if (json_object_get(wf, "direction")) {
        child = cs_cfg_child_path(path, "direction");
        cs_cfg_report(c, child, "only a workflow with legs has a direction; add legs or remove it");
        free(child);
    }
    check_mappings(c, path, wf, wf);
}

static const char *const log_levels[] = {"error", "warning", "notice", "info", "debug", NULL};

/* state.dsn_file belongs to the postgresql driver, and must be a readable owner-only file. */
static void state_post(struct checker *c, const char *path, json_t *state)
{
    const char *driver = json_string_value(json_object_get(state, "driver"));
    const char *file = json_string_value(json_object_get(state, "dsn_file"));
    char *where, *dsn = NULL, *msg = NULL;

    if (!file)
        return;
    where = cs_cfg_child_path(path, "dsn_file");
    if (driver && strcmp(driver, "postgresql") != 0)
        cs_cfg_report(c, where, "is read by the postgresql driver only; remove it, or set driver: postgresql");
    else if (cs_config_read_secret(file, &dsn, &msg) != 0)
        cs_cfg_report(c, where, "%s", msg);
    if (dsn)
        explicit_bzero(dsn, strlen(dsn));
    free(dsn);
    free(msg);
    free(where);
}

static const char *const state_drivers[] = {"sqlite", "postgresql", NULL};
static const struct field state_fields[] = {
    {.name = "driver", .type = CS_OPT_STRING, .def = "sqlite", .choices = state_drivers},
    {.name = "dsn_file", .type = CS_OPT_STRING, .flags = F_NONEMPTY | F_PATH},
    /* the fleet (several crmsyncd on one postgresql database): this daemon's name in it (default: the host
     * name; with sqlite only a label), and the reader lease, after which a silent member is dead */
    {.name = "node", .type = CS_OPT_STRING, .flags = F_NONEMPTY},
    {.name = "lease", .type = CS_OPT_DURATION, .def = "15s", .min = 3000, .max = 600000},
    {.name = NULL}};
static const struct schema state_schema = {state_fields, 0, state_post};

static const char *const admin_roles[] = {"operator", "viewer", NULL};
static const struct field admin_token_fields[] = {
    {.name = "token_file", .type = CS_OPT_STRING, .flags = CS_OPT_REQUIRED | F_NONEMPTY | F_PATH},
    {.name = "role", .type = CS_OPT_STRING, .flags = CS_OPT_REQUIRED, .choices = admin_roles},
    {.name = NULL}};
static const struct schema admin_token_schema = {admin_token_fields, 0, NULL};
static const struct field admin_token_item = {.type = T_OBJECT, .schema = &admin_token_schema};

static const struct field admin_fields[] = {
    {.name = "listen", .type = CS_OPT_STRING, .flags = F_NONEMPTY, .def = "127.0.0.1:8470"},
    {.name = "token_file", .type = CS_OPT_STRING, .flags = F_NONEMPTY | F_PATH},
    {.name = "tokens", .type = CS_OPT_LIST, .def = "[]", .item = &admin_token_item},
    {.name = "tls_cert_file", .type = CS_OPT_STRING, .flags = F_NONEMPTY | F_PATH},
    {.name = "tls_key_file", .type = CS_OPT_STRING, .flags = F_NONEMPTY | F_PATH},
    {.name = "web_dir", .type = CS_OPT_STRING, .flags = F_NONEMPTY | F_PATH, .def = CS_DEFAULT_WEB_DIR},
    {.name = "allowed_hosts", .type = CS_OPT_LIST, .def = "[]", .item = &cs_cfg_nonempty_string},
    {.name = "metadata_ttl", .type = CS_OPT_DURATION, .def = "60s"},
    {.name = "remote_requests_per_minute", .type = CS_OPT_INT, .def = "20", .min = 1, .max = 100000},
    {.name = "max_connections", .type = CS_OPT_INT, .def = "256", .min = 1, .max = 10000},
    {.name = "max_connections_per_ip", .type = CS_OPT_INT, .def = "64", .min = 1, .max = 10000},
    {.name = "request_head_timeout", .type = CS_OPT_DURATION, .def = "5s"},
    {.name = NULL}};
static const struct schema admin_schema = {admin_fields, 0, admin_post};

/* A connection, an entity or a stage: one core member, the rest are the plugin's options. */
static const struct field connection_fields[] = {
    {.name = "connector", .type = CS_OPT_STRING, .flags = CS_OPT_REQUIRED | F_NONEMPTY}, {.name = NULL}};
static const struct schema connection_schema = {connection_fields, 1, NULL};
static const struct field connection_item = {.type = T_OBJECT, .schema = &connection_schema};

static const struct field plugin_ref_fields[] = {
    {.name = "name", .type = CS_OPT_STRING, .flags = CS_OPT_REQUIRED | F_NONEMPTY}, {.name = NULL}};
static const struct schema plugin_ref_schema = {plugin_ref_fields, 1, NULL};
static const struct field plugin_ref_item = {.type = T_OBJECT, .schema = &plugin_ref_schema};

/* The table-mapping form (mapping.h): key, fields, replacements, filters and the advanced settings. */
static const struct field key_fields[] = {
    {.name = "source", .type = CS_OPT_STRING, .flags = CS_OPT_REQUIRED | F_NONEMPTY},
    {.name = "target", .type = CS_OPT_STRING, .flags = CS_OPT_REQUIRED | F_NONEMPTY},
    {.name = NULL}};
static const struct schema key_schema = {key_fields, 0, NULL};

static const char *const convert_types[] = {CS_CONVERT_TYPES(CS_VOCABULARY_NAME) NULL};
static const struct field field_mapping_fields[] = {
    {.name = "source", .type = CS_OPT_STRING, .flags = CS_OPT_REQUIRED | F_NONEMPTY},
    {.name = "target", .type = CS_OPT_STRING, .flags = CS_OPT_REQUIRED | F_NONEMPTY},
    {.name = "apply_updates", .type = CS_OPT_BOOL, .def = "true"},
    {.name = "type", .type = CS_OPT_STRING, .choices = convert_types},
    {.name = NULL}};
static const struct schema field_mapping_schema = {field_mapping_fields, 0, NULL};
static const struct field field_mapping_item = {.type = T_OBJECT, .schema = &field_mapping_schema};

static const struct field replacement_fields[] = {
    {.name = "field", .type = CS_OPT_STRING, .flags = CS_OPT_REQUIRED | F_NONEMPTY},
    {.name = "from", .type = CS_OPT_JSON, .flags = CS_OPT_REQUIRED},
    {.name = "to", .type = CS_OPT_JSON, .flags = CS_OPT_REQUIRED},
    {.name = NULL}};
static const struct schema replacement_schema = {replacement_fields, 0, NULL};
static const struct field replacement_item = {.type = T_OBJECT, .schema = &replacement_schema};

static const char *const filter_ops[] = {CS_FILTER_OPERATORS(CS_VOCABULARY_NAME) NULL};
static const struct field filter_rule_fields[] = {
    {.name = "field", .type = CS_OPT_STRING, .flags = CS_OPT_REQUIRED | F_NONEMPTY},
    {.name = "op", .type = CS_OPT_STRING, .flags = CS_OPT_REQUIRED, .choices = filter_ops},
    {.name = "value", .type = CS_OPT_JSON},
    {.name = NULL}};
static const struct schema filter_rule_schema = {filter_rule_fields, 0, NULL};
static const struct field filter_rule_item = {.type = T_OBJECT, .schema = &filter_rule_schema};

static const char *const filter_matches[] = {CS_FILTER_MATCHES(CS_VOCABULARY_NAME) NULL};
static const struct field filters_fields[] = {
    {.name = "match", .type = CS_OPT_STRING, .def = "all", .choices = filter_matches},
    {.name = "delete_filtered", .type = CS_OPT_BOOL, .def = "false"},
    {.name = "rules", .type = CS_OPT_LIST, .def = "[]", .item = &filter_rule_item},
    {.name = NULL}};
static const struct schema filters_schema = {filters_fields, 0, NULL};

static const char *const picklist_modes[] = {"technical", "label", NULL};

static const struct field mapping_fields[] = {
    {.name = "stream", .type = CS_OPT_STRING, .flags = CS_OPT_REQUIRED | F_NONEMPTY},
    {.name = "target", .type = CS_OPT_STRING, .flags = F_NONEMPTY, .same_as = "stream"},
    {.name = "entity", .type = T_OBJECT, .schema = &plugin_ref_schema},
    {.name = "stages", .type = CS_OPT_LIST, .def = "[]", .item = &plugin_ref_item},
    {.name = "key", .type = T_OBJECT, .schema = &key_schema},
    {.name = "fields", .type = CS_OPT_LIST, .item = &field_mapping_item},
    {.name = "replacements", .type = CS_OPT_LIST, .def = "[]", .item = &replacement_item},
    {.name = "filters", .type = T_OBJECT, .def = "{}", .schema = &filters_schema},
    {.name = "apply_deletes", .type = CS_OPT_BOOL, .def = "true"},
    {.name = "picklists", .type = CS_OPT_STRING, .def = "technical", .choices = picklist_modes},
    {.name = NULL}};

struct mapping_report {
    struct checker *c;
    const char *path;
};

static void mapping_problem(void *arg, const char *member, const char *message)
{
    struct mapping_report *r = arg;
    char *where = cs_cfg_child_path(r->path, member);
    cs_cfg_report(r->c, where, "%s", message);
    free(where);
}

static void mapping_post(struct checker *c, const char *path, json_t *mapping)
{
    struct mapping_report r = {c, path};
    cs_mapping_compile(mapping, mapping_problem, &r);
}
static const struct schema mapping_schema = {mapping_fields, 0, mapping_post};
static const struct field mapping_item = {.type = T_OBJECT, .schema = &mapping_schema};

static const struct field backlog_fields[] = {
    {.name = "high_water", .type = CS_OPT_INT, .def = "100000", .min = 1, .max = INT64_MAX}, {.name = NULL}};
static const struct schema backlog_schema = {backlog_fields, 0, NULL};

static const struct field retry_fields[] = {
    {.name = "base", .type = CS_OPT_DURATION, .def = "1s"},
    {.name = "cap", .type = CS_OPT_DURATION, .def = "30m"},
    {.name = "max_attempts", .type = CS_OPT_INT, .def = "-1"},
    {.name = "max_age", .type = CS_OPT_DURATION, .flags = F_NULLABLE, .def = "null"},
    {.name = "redrive_not_found", .type = CS_OPT_DURATION, .flags = F_NULLABLE, .def = "null"},
    {.name = "redrive_not_found_for", .type = CS_OPT_DURATION, .def = "7d"},
    {.name = NULL}};
static const struct schema retry_schema = {retry_fields, 0, retry_post};

static const struct field limits_fields[] = {
    {.name = "custom_entities", .type = CS_OPT_INT, .def = "20", .min = 1, .max = 100000},
    {.name = "columns", .type = CS_OPT_INT, .def = "50", .min = 1, .max = 100000},
    {.name = "replay_max_records", .type = CS_OPT_INT, .def = "2000000", .min = 1, .max = INT64_MAX},
    {.name = NULL}};
static const struct schema limits_schema = {limits_fields, 0, NULL};

/* One way of a workflow with legs (legs.h). */
static const struct field leg_fields[] = {
    {.name = "source", .type = CS_OPT_STRING, .flags = CS_OPT_REQUIRED | F_NONEMPTY},
    {.name = "sink", .type = CS_OPT_STRING, .flags = CS_OPT_REQUIRED | F_NONEMPTY},
    {.name = "mappings", .type = CS_OPT_LIST, .flags = CS_OPT_REQUIRED | F_NONEMPTY, .item = &mapping_item},
    {.name = NULL}};
static const struct schema leg_schema = {leg_fields, 0, NULL};
static const struct field leg_item = {.type = T_OBJECT, .schema = &leg_schema};

static const struct field workflow_fields[] = {
    {.name = "id", .type = CS_OPT_STRING, .flags = CS_OPT_REQUIRED},
    {.name = "title", .type = CS_OPT_STRING, .flags = F_NONEMPTY, .same_as = "id"},
    {.name = "autostart", .type = CS_OPT_BOOL, .def = "true"},
    {.name = "source", .type = CS_OPT_STRING, .flags = CS_OPT_REQUIRED | F_NONEMPTY, .unless = "legs"},
    {.name = "sink", .type = CS_OPT_STRING, .flags = CS_OPT_REQUIRED | F_NONEMPTY, .unless = "legs"},
    {.name = "direction", .type = CS_OPT_STRING, .flags = F_NONEMPTY},
    {.name = "legs", .type = T_MAP, .item = &leg_item},
    {.name = "writers", .type = CS_OPT_INT, .def = "4", .min = 1, .max = 64},
    {.name = "batch_size", .type = CS_OPT_INT, .def = "250", .min = 1, .max = 1000},
    {.name = "read_batch", .type = CS_OPT_INT, .def = "1000", .min = 1, .max = 100000},
    {.name = "poll_interval", .type = CS_OPT_DURATION, .def = "5s"},
    {.name = "stall_after", .type = CS_OPT_DURATION, .def = "10m"},
    {.name = "backlog", .type = T_OBJECT, .def = "{}", .schema = &backlog_schema},
    {.name = "retry", .type = T_OBJECT, .def = "{}", .schema = &retry_schema},
    {.name = "limits", .type = T_OBJECT, .def = "{}", .schema = &limits_schema},
    {.name = "mappings",
     .type = CS_OPT_LIST,
     .flags = CS_OPT_REQUIRED | F_NONEMPTY,
     .item = &mapping_item,
     .unless = "legs"},
    {.name = NULL}};
const struct schema cs_cfg_workflow_schema = {workflow_fields, 0, workflow_post};
static const struct field workflow_item = {.type = T_OBJECT, .schema = &cs_cfg_workflow_schema};

static const struct field root_fields[] = {
    {.name = "state_dir", .type = CS_OPT_STRING, .flags = F_NONEMPTY | F_PATH, .def = CS_DEFAULT_STATE_DIR},
    {.name = "state", .type = T_OBJECT, .def = "{}", .schema = &state_schema},
    {.name = "plugin_dir", .type = CS_OPT_STRING, .flags = F_NONEMPTY | F_PATH},
    {.name = "log_level", .type = CS_OPT_STRING, .def = "info", .choices = log_levels},
    {.name = "stop_timeout", .type = CS_OPT_DURATION, .def = "30s", .min = 1000, .max = 600000},
    {.name = "admin", .type = T_OBJECT, .def = "{}", .schema = &admin_schema},
    {.name = "plugins", .type = CS_OPT_LIST, .flags = CS_OPT_REQUIRED, .item = &cs_cfg_nonempty_string},
    {.name = "connections", .type = T_MAP, .def = "{}", .item = &connection_item},
    {.name = "workflows", .type = CS_OPT_LIST, .def = "[]", .item = &workflow_item},
    {.name = NULL}};
const struct schema cs_cfg_root_schema = {root_fields, 0, root_post};
