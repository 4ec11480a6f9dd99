/*
 * acs_filters.c - a resource's filter listing (the answer to the metadata's filters.href) read in each
 * form Adobe's pages show: an object keyed by filter name (the Filtering page: {"byText": {"data":
 * ".../byText?text=$value", "metadata": {...}, ...}}), or a list of filters that name themselves
 * ("name"), bare or under "content". Each filter's parameters come from its data URL template
 * (<param>=$value), else its "parameters" or the keys of its "metadata" node. The connector works on the
 * normalised list [{"name", "params": [...]}] this file makes, and describes what it found when a
 * filter it needs is not there.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "campaign.h"

/* The names before "=$value" in the query of a data URL template, appended to `params`. */
static void params_from_data(const char *data, json_t *params)
{
    const char *p = data ? strchr(data, '?') : NULL;
    while (p && *p) {
        const char *name = p + 1, *end = name + strcspn(name, "&"), *eq = memchr(name, '=', (size_t)(end - name));
        if (eq && eq > name && (size_t)(end - eq - 1) == strlen("$value") && !strncmp(eq + 1, "$value", 6))
            json_array_append_new(params, json_stringn(name, (size_t)(eq - name)));
        p = *end ? end : NULL;
    }
}

/* The parameters of one filter entry, in order (new array). */
static json_t *entry_params(const json_t *entry)
{
    json_t *params = json_array(), *p, *meta = json_object_get(entry, "metadata");
    const char *k;
    size_t i;
    params_from_data(json_string_value(json_object_get(entry, "data")), params);
    if (!json_array_size(params))
        json_array_foreach (json_object_get(entry, "parameters"), i, p) {
            const char *s = json_is_string(p) ? json_string_value(p) : json_string_value(json_object_get(p, "name"));
            if (s)
                json_array_append_new(params, json_string(s));
        }
    if (!json_array_size(params) && json_is_object(meta))
        json_object_foreach (meta, k, p)
            json_array_append_new(params, json_string(k));
    return params;
}

/* A member of a keyed listing that describes a filter (not a link such as "href" or "next"). */
static int is_filter(const json_t *v)
{
    return json_is_object(v) && (json_is_string(json_object_get(v, "data")) || json_object_get(v, "metadata") ||
                                 json_object_get(v, "parameters") || json_object_get(v, "condition"));
}

/* Append the entry named `name` (its own "name" member wins over the key it is listed under). */
static void add(json_t *out, const char *name, const json_t *entry)
{
    if (json_is_string(json_object_get(entry, "name")))
        name = json_string_value(json_object_get(entry, "name"));
    if (name && *name)
        json_array_append_new(out, json_pack("{s:s, s:o}", "name", name, "params", entry_params(entry)));
}

json_t *acs_filters_list(const json_t *doc)
{
    const json_t *body = json_object_get(doc, "content") ? json_object_get(doc, "content") : doc;
    json_t *out = json_array(), *e;
    const char *k;
    size_t i;
    if (json_is_array(body))
        json_array_foreach (body, i, e)
            add(out, NULL, e);
    else
        json_object_foreach ((json_t *)body, k, e)
            if (is_filter(e))
                add(out, k, e);
    return out;
}

const char *acs_filter_param(const json_t *entry)
{
    return json_string_value(json_array_get(json_object_get(entry, "params"), 0));
}

int acs_filter_resolves(const json_t *entry, const char *field)
{
    const char *param = acs_filter_param(entry);
    char kp[256];
    snprintf(kp, sizeof kp, "%s_parameter", field);
    return param && (strcmp(param, field) == 0 || strcmp(param, kp) == 0);
}

void acs_filters_found(const json_t *doc, const json_t *list, char *out, size_t len)
{
    size_t i, used = 0;
    json_t *e;
    const char *k;
    if (!json_array_size(list)) { /* say what the answer held instead */
        const json_t *body = json_object_get(doc, "content") ? json_object_get(doc, "content") : doc;
        used = (size_t)snprintf(out, len,
                                "no filter in a form crmsync reads (an object keyed by filter name, or a "
                                "list of filters with a name); the answer is %s",
                                json_is_array(body) ? "a list without names" : "an object with members:");
        json_object_foreach ((json_t *)body, k, e)
            if (used < len)
                used += (size_t)snprintf(out + used, len - used, " %s", k);
        return;
    }
    used = (size_t)snprintf(out, len, "its filters:");
    json_array_foreach (list, i, e) {
        const char *p = acs_filter_param(e);
        if (used < len)
            used += (size_t)snprintf(out + used, len - used, "%s %s(%s)", i ? "," : "",
                                     json_string_value(json_object_get(e, "name")), p ? p : "no parameter");
    }
}
