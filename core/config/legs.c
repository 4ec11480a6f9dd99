/*
 * legs.c - a workflow that runs both ways: which legs a direction runs, a leg as a one-way definition,
 * and the former two-workflow form of Opt In/Out recognised and rewritten as one workflow (see legs.h).
 */
#include "legs.h"

#include <string.h>

#include "util/util.h"

/* The members of a workflow that belong to the whole and not to one leg. */
static const char *const WHOLE_ONLY[] = {"title", "autostart", "legs", NULL};
/* The members a leg has of its own. */
static const char *const LEG_OWN[] = {"source", "sink", "mappings", NULL};

static int one_of(const char *s, const char *const *list)
{
    for (size_t i = 0; s && list[i]; i++)
        if (strcmp(s, list[i]) == 0)
            return 1;
    return 0;
}

int cs_legs_has(const json_t *def)
{
    return json_object_get(def, "legs") != NULL;
}

int cs_legs_runs(const json_t *def, const char *leg)
{
    const char *direction = json_string_value(json_object_get(def, "direction"));
    if (!direction || !json_object_get(json_object_get(def, "legs"), leg))
        return 0;
    return strcmp(direction, "bidirectional") == 0 || strcmp(direction, leg) == 0;
}

char *cs_legs_state_id(const char *id, const char *leg)
{
    return cs_xasprintf("%s/%s", id, leg);
}

json_t *cs_legs_definition(const json_t *def, const char *leg)
{
    const json_t *legdef = json_object_get(json_object_get(def, "legs"), leg);
    json_t *v;
    const char *key;
    json_t *out;
    char *id;
    if (!json_is_object(legdef))
        return NULL;
    out = json_object();
    json_object_foreach ((json_t *)def, key, v)
        if (!one_of(key, WHOLE_ONLY))
            json_object_set(out, key, v);
    json_object_foreach ((json_t *)legdef, key, v)
        if (one_of(key, LEG_OWN))
            json_object_set_new(out, key, json_deep_copy(v));
    id = cs_legs_state_id(json_string_value(json_object_get(def, "id")), leg);
    json_object_set_new(out, "id", json_string(id));
    free(id);
    if (!cs_legs_runs(def, leg)) /* checked as it would run alone */
        json_object_set_new(out, "direction", json_string(leg));
    return out;
}

/* The sorted streams of a definition's mappings, as one string. New. */
static char *streams_of(const json_t *def)
{
    const json_t *mappings = json_object_get(def, "mappings");
    json_t *names = json_array();
    char *text;
    for (size_t i = 0; i < json_array_size(mappings); i++) {
        const json_t *s = json_object_get(json_array_get(mappings, i), "stream");
        size_t at = 0;
        while (at < json_array_size(names) && strcmp(json_string_value(json_array_get(names, at)),
                                                     json_string_value(s) ? json_string_value(s) : "") < 0)
            at++;
        json_array_insert_new(names, at, json_string(json_string_value(s) ? json_string_value(s) : ""));
    }
    text = json_dumps(names, JSON_COMPACT);
    json_decref(names);
    return text;
}

/* Member ka of a and member kb of b are the same string. */
static int crossed(const json_t *a, const json_t *b, const char *ka, const char *kb)
{
    const char *x = json_string_value(json_object_get(a, ka)), *y = json_string_value(json_object_get(b, kb));
    return x && y && strcmp(x, y) == 0;
}

static int same_member(const json_t *a, const json_t *b, const char *key)
{
    return crossed(a, b, key, key);
}

int cs_legs_same_way(const json_t *a, const json_t *b)
{
    char *sa, *sb;
    int same;
    if (cs_legs_has(a) || cs_legs_has(b) || !same_member(a, b, "source") || !same_member(a, b, "sink"))
        return 0;
    sa = streams_of(a);
    sb = streams_of(b);
    same = strcmp(sa, sb) == 0;
    free(sa);
    free(sb);
    return same;
}

/* ---- the former form of Opt In/Out ----------------------------------------------------------------- */

#define OPT_IN_OUT "opt-in-out"

/* The mode of a one-way workflow whose every mapping has the entity handler opt-in-out (borrowed; "" when
 * not written), or NULL when it is not such a workflow. */
static const char *former_mode(const json_t *wf)
{
    const json_t *mappings = json_object_get(wf, "mappings");
    const char *mode = NULL;
    if (!json_is_object(wf) || cs_legs_has(wf) || !json_is_array(mappings) || json_array_size(mappings) == 0)
        return NULL;
    for (size_t i = 0; i < json_array_size(mappings); i++) {
        const json_t *entity = json_object_get(json_array_get(mappings, i), "entity");
        const char *name = json_string_value(json_object_get(entity, "name"));
        if (!name || strcmp(name, OPT_IN_OUT) != 0)
            return NULL;
        if (!mode)
            mode = json_string_value(json_object_get(entity, "mode"));
    }
    return mode ? mode : "";
}

/* Campaign's opt-out streams (as the opt-in-out handler tells its directions): the leg's name. */
static const char *way_of(const json_t *wf)
{
    const char *stream =
        json_string_value(json_object_get(json_array_get(json_object_get(wf, "mappings"), 0), "stream"));
    int from_campaign = stream && (strcmp(stream, "opt-outs") == 0 || strcmp(stream, "opt-outs-poll") == 0);
    return from_campaign ? "campaign-to-d365" : "d365-to-campaign";
}

/* The leg a former workflow becomes: its source, sink and mappings, without the handler's mode. */
static json_t *leg_of(const json_t *wf)
{
    json_t *mappings = json_deep_copy(json_object_get(wf, "mappings")), *m;
    size_t i;
    json_array_foreach (mappings, i, m)
        json_object_del(json_object_get(m, "entity"), "mode");
    return json_pack("{s:O, s:O, s:o}", "source", json_object_get(wf, "source"), "sink", json_object_get(wf, "sink"),
                     "mappings", mappings);
}

static json_t *merge(const json_t *a, const json_t *b, const char *mode)
{
    json_t *out = json_object(), *v;
    const char *key;
    json_object_foreach ((json_t *)a, key, v)
        if (!one_of(key, LEG_OWN))
            json_object_set(out, key, v);
    json_object_set_new(out, "direction", json_string(*mode ? mode : "bidirectional"));
    json_object_set_new(out, "legs", json_pack("{s:o, s:o}", way_of(a), leg_of(a), way_of(b), leg_of(b)));
    return out;
}

long cs_legs_former_pair(const json_t *workflows, size_t *first, json_t **merged)
{
    *merged = NULL;
    for (size_t i = 0; i < json_array_size(workflows); i++) {
        const json_t *a = json_array_get(workflows, i);
        const char *mode = former_mode(a);
        for (size_t j = i + 1; mode && j < json_array_size(workflows); j++) {
            const json_t *b = json_array_get(workflows, j);
            if (former_mode(b) && crossed(a, b, "source", "sink") && crossed(a, b, "sink", "source") &&
                strcmp(way_of(a), way_of(b)) != 0) {
                *first = i;
                *merged = merge(a, b, mode);
                return (long)j;
            }
        }
    }
    return -1;
}
