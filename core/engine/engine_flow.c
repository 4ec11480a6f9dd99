/*
 * engine_flow.c - one workflow as the operator sees it (struct cs_flow, engine_private.h): a one-way
 * workflow is one internal workflow under its own id; one with legs (legs.h) is an internal workflow
 * per leg under "<id>/<leg>", started for the legs its direction selects, all with the revision the
 * start read. What the operator sees is one of them: the worst status of the legs (FAILED, then
 * STARTING, then RUNNING; STOPPED only when every leg is), the backlog, dead letters and counters
 * summed, and each leg's own figures under "legs".
 */
#include <stdlib.h>
#include <string.h>

#include "engine_private.h"
#include "util/util.h"

struct cs_flow *cs_flow_new(const json_t *def, const struct cs_workflow_env *env)
{
    struct cs_flow *f = cs_xcalloc(1, sizeof *f);
    const char *id = json_string_value(json_object_get(def, "id")), *leg;
    json_t *v;
    f->id = cs_xstrdup(id);
    if (!cs_legs_has(def)) {
        f->legs[f->n_legs++] = cs_workflow_new(id, env);
        return f;
    }
    json_object_foreach (json_object_get(def, "legs"), leg, v) {
        char *state_id = cs_legs_state_id(id, leg);
        if (f->n_legs == CS_LEGS_MAX)
            break;
        f->leg_names[f->n_legs] = cs_xstrdup(leg);
        f->legs[f->n_legs++] = cs_workflow_new(state_id, env);
        free(state_id);
    }
    return f;
}

void cs_flow_free(struct cs_flow *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n_legs; i++) {
        cs_workflow_free(f->legs[i]);
        free(f->leg_names[i]);
    }
    free(f->id);
    free(f);
}

int cs_flow_same_shape(const struct cs_flow *f, const json_t *def)
{
    const json_t *legs = json_object_get(def, "legs");
    if (!f->leg_names[0])
        return !legs;
    if (json_object_size(legs) != f->n_legs)
        return 0;
    for (size_t i = 0; i < f->n_legs; i++)
        if (!json_object_get(legs, f->leg_names[i]))
            return 0;
    return 1;
}

/* FAILED > STARTING > RUNNING > STOPPED */
static int severity(enum cs_wf_status s)
{
    return s == CS_WF_FAILED ? 3 : s == CS_WF_STARTING ? 2 : s == CS_WF_RUNNING ? 1 : 0;
}

enum cs_wf_status cs_flow_status(struct cs_flow *f)
{
    enum cs_wf_status worst = CS_WF_STOPPED;
    for (size_t i = 0; i < f->n_legs; i++) {
        enum cs_wf_status s = cs_workflow_status(f->legs[i]);
        if (severity(s) > severity(worst))
            worst = s;
    }
    return worst;
}

int cs_flow_active(struct cs_flow *f)
{
    for (size_t i = 0; i < f->n_legs; i++) {
        enum cs_wf_status s = cs_workflow_status(f->legs[i]);
        if (s == CS_WF_STARTING || s == CS_WF_RUNNING)
            return 1;
    }
    return 0;
}

void cs_flow_stop(struct cs_flow *f)
{
    for (size_t i = 0; i < f->n_legs; i++)
        cs_workflow_stop(f->legs[i]);
}

int cs_flow_start(struct cs_flow *f, const json_t *def, int64_t rev, char **err)
{
    int rc = 0, started = 0;
    *err = NULL;
    if (!f->leg_names[0])
        return cs_workflow_start(f->legs[0], def, rev);
    if (!cs_flow_same_shape(f, def)) {
        *err = cs_xasprintf("workflow %s: its legs changed in the definition; reload the configuration", f->id);
        return CS_E_INVAL;
    }
    cs_flow_stop(f); /* a leg left RUNNING beside a FAILED one restarts with the same revision as the other */
    for (size_t i = 0; rc == 0 && i < f->n_legs; i++) {
        json_t *legdef;
        if (!cs_legs_runs(def, f->leg_names[i]))
            continue;
        legdef = cs_legs_definition(def, f->leg_names[i]);
        rc = cs_workflow_start(f->legs[i], legdef, rev);
        started += rc == 0;
        json_decref(legdef);
    }
    if (rc != 0)
        cs_flow_stop(f);
    else if (!started) {
        *err = cs_xasprintf("workflow %s has direction disabled: nothing runs; set its direction (%s%s%s or "
                            "bidirectional) and start it",
                            f->id, f->leg_names[0], f->n_legs > 1 ? ", " : "", f->n_legs > 1 ? f->leg_names[1] : "");
        rc = CS_E_STATE;
    }
    return rc;
}

/* Add what `from` counts to `into`: numbers summed, objects member by member, lists of numbers of one
 * length element by element (the latency buckets), other lists joined (the staged replays). */
static void add_figures(json_t *into, const json_t *from)
{
    const char *key;
    json_t *v;
    json_object_foreach ((json_t *)from, key, v) {
        json_t *have = json_object_get(into, key);
        if (!have || json_is_null(have))
            json_object_set_new(into, key, json_deep_copy(v));
        else if (json_is_integer(have) && json_is_integer(v))
            json_object_set_new(into, key, json_integer(json_integer_value(have) + json_integer_value(v)));
        else if (json_is_number(have) && json_is_number(v))
            json_object_set_new(into, key, json_real(json_number_value(have) + json_number_value(v)));
        else if (json_is_object(have) && json_is_object(v))
            add_figures(have, v);
        else if (json_is_array(have) && json_is_array(v) && json_array_size(have) == json_array_size(v) &&
                 json_is_number(json_array_get(v, 0))) {
            for (size_t i = 0; i < json_array_size(v); i++)
                json_array_set_new(have, i,
                                   json_integer(json_integer_value(json_array_get(have, i)) +
                                                json_integer_value(json_array_get(v, i))));
        } else if (json_is_array(have) && json_is_array(v))
            json_array_extend(have, v);
    }
}

/* The newest of member `key` (a time or a revision) over the legs. */
static json_t *newest(json_t *legs, const char *key)
{
    json_int_t best = 0;
    size_t i;
    json_t *leg;
    json_array_foreach (legs, i, leg)
        if (json_integer_value(json_object_get(leg, key)) > best)
            best = json_integer_value(json_object_get(leg, key));
    return best ? json_integer(best) : json_null();
}

/* The first leg's `key` that is set, as "<leg>: <text>" (new), or null. */
static json_t *first_text(json_t *legs, const char *key)
{
    size_t i;
    json_t *leg;
    json_array_foreach (legs, i, leg) {
        const char *text = json_string_value(json_object_get(leg, key));
        if (text)
            return json_sprintf("%s: %s", json_string_value(json_object_get(leg, "leg")), text);
    }
    return json_null();
}

/* The worst status among the legs' snapshots (new string), so that the whole and its legs are one moment's:
 * a leg read STARTING is not shown RUNNING beside it because it came up while the others were read. */
static json_t *worst_status(const json_t *legs)
{
    static const enum cs_wf_status all[] = {CS_WF_STOPPED, CS_WF_RUNNING, CS_WF_STARTING, CS_WF_FAILED};
    enum cs_wf_status worst = CS_WF_STOPPED;
    size_t i;
    const json_t *leg;
    json_array_foreach (legs, i, leg) {
        const char *name = json_string_value(json_object_get(leg, "status"));
        for (size_t k = 0; name && k < sizeof all / sizeof *all; k++)
            if (strcmp(name, cs_wf_status_name(all[k])) == 0 && severity(all[k]) > severity(worst))
                worst = all[k];
    }
    return json_string(cs_wf_status_name(worst));
}

json_t *cs_flow_snapshot(struct cs_flow *f)
{
    json_t *snap, *legs;
    static const char *const own[] = {"id", "status", "substate", "reason", "running_revision", "last_success_at"};
    if (!f->leg_names[0])
        return cs_workflow_snapshot(f->legs[0]);
    snap = json_object();
    legs = json_array();
    for (size_t i = 0; i < f->n_legs; i++) {
        json_t *leg = cs_workflow_snapshot(f->legs[i]);
        json_object_set_new(leg, "leg", json_string(f->leg_names[i]));
        json_array_append_new(legs, leg);
        add_figures(snap, leg);
    }
    for (size_t i = 0; i < sizeof own / sizeof *own; i++)
        json_object_del(snap, own[i]);
    json_object_del(snap, "leg");
    json_object_set_new(snap, "id", json_string(f->id));
    json_object_set_new(snap, "status", worst_status(legs));
    json_object_set_new(snap, "substate", first_text(legs, "substate"));
    json_object_set_new(snap, "reason", first_text(legs, "reason"));
    json_object_set_new(snap, "running_revision", newest(legs, "running_revision"));
    if (json_is_null(json_object_get(snap, "running_revision")))
        json_object_set_new(snap, "running_revision", json_integer(0));
    json_object_set_new(snap, "last_success_at", newest(legs, "last_success_at"));
    json_object_set_new(snap, "legs", legs);
    return snap;
}

char *cs_flow_stalled(struct cs_flow *f)
{
    for (size_t i = 0; i < f->n_legs; i++) {
        char *why = cs_workflow_stalled(f->legs[i]), *named;
        if (!why)
            continue;
        if (!f->leg_names[0])
            return why;
        named = cs_xasprintf("%s: %s", f->leg_names[i], why);
        free(why);
        return named;
    }
    return NULL;
}

struct cs_workflow *cs_flow_leg_of_stream(struct cs_flow *f, const json_t *def, const char *stream)
{
    for (size_t i = 0; stream && i < f->n_legs; i++) {
        json_t *legdef = f->leg_names[0] ? cs_legs_definition(def, f->leg_names[i]) : json_incref((json_t *)def), *m;
        size_t j;
        int found = 0;
        json_array_foreach (json_object_get(legdef, "mappings"), j, m)
            found |= strcmp(json_string_value(json_object_get(m, "stream")), stream) == 0;
        json_decref(legdef);
        if (found)
            return f->legs[i];
    }
    return NULL;
}
