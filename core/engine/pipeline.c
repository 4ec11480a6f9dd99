/*
 * pipeline.c - runs one stream's entity handler and stages over each source record (see pipeline.h).
 */
#include "pipeline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/host.h"
#include "host/loader.h"
#include "util/util.h"

struct step {
    const struct cs_component *component;
    struct cs_ctx *ctx;
    void *inst;
};

struct cs_pipeline {
    char *stream, *target;
    struct step *steps;
    size_t n_steps;
};

static cs_status step_call(struct step *s, cs_record **rec)
{
    if (s->component->kind == CS_KIND_ENTITY)
        return s->component->u.entity.prepare(s->inst, rec);
    return s->component->u.stage.apply(s->inst, rec);
}

static cs_status step_create(struct step *s, const json_t *options)
{
    if (s->component->kind == CS_KIND_ENTITY)
        return s->component->u.entity.create(&cs_host_table, s->ctx, options, &s->inst);
    return s->component->u.stage.create(&cs_host_table, s->ctx, options, &s->inst);
}

static void step_destroy(struct step *s)
{
    if (s->inst) {
        if (s->component->kind == CS_KIND_ENTITY)
            s->component->u.entity.destroy(s->inst);
        else
            s->component->u.stage.destroy(s->inst);
    }
    cs_ctx_free(s->ctx);
}

json_t *cs_pipeline_invocations(const json_t *mapping)
{
    json_t *list = json_array(), *entity = json_object_get(mapping, "entity"), *stages;
    if (json_is_object(entity))
        json_array_append_new(list, json_pack("{s:s, s:b, s:O}", "at", "entity", "entity", 1, "spec", entity));
    /* a table mapping's built-in stages (mapping.h), then the mapping's own stages */
    for (int own = 0; own < 2; own++) {
        const char *member = own ? "stages" : "compiled";
        stages = json_object_get(mapping, member);
        for (size_t i = 0; i < json_array_size(stages); i++) {
            char at[32];
            snprintf(at, sizeof at, "%s[%zu]", member, i);
            json_array_append_new(
                list, json_pack("{s:s, s:b, s:O}", "at", at, "entity", 0, "spec", json_array_get(stages, i)));
        }
    }
    return list;
}

/* A copy of mapping_streams with "self": true on the element of `stream` (the one the handler serves). */
static json_t *streams_marking(const json_t *streams, const char *stream)
{
    json_t *copy = json_deep_copy(streams), *e;
    size_t i;
    json_array_foreach (copy, i, e) {
        if (strcmp(json_string_value(json_object_get(e, "stream")), stream) == 0)
            json_object_set_new(e, "self", json_true());
    }
    return copy;
}

int cs_pipeline_new(const struct cs_pipeline_env *env, const json_t *mapping, const json_t *resolved_options,
                    struct cs_pipeline **out, char **err)
{
    struct cs_pipeline *p = cs_xcalloc(1, sizeof *p);
    json_t *list = cs_pipeline_invocations(mapping);
    const char *target = json_string_value(json_object_get(mapping, "target"));
    int rc = 0;

    *out = NULL;
    *err = NULL;
    p->stream = cs_xstrdup(json_string_value(json_object_get(mapping, "stream")));
    p->target = cs_xstrdup(target ? target : p->stream);
    p->steps = cs_xcalloc(json_array_size(list), sizeof *p->steps);
    for (size_t i = 0; i < json_array_size(list); i++) {
        const json_t *inv = json_array_get(list, i);
        enum cs_component_kind kind = json_is_true(json_object_get(inv, "entity")) ? CS_KIND_ENTITY : CS_KIND_STAGE;
        const char *name = json_string_value(json_object_get(json_object_get(inv, "spec"), "name"));
        struct step *s = &p->steps[p->n_steps];
        char *scope, *ns;
        cs_status st;

        s->component = cs_registry_find(env->registry, kind, name);
        if (!s->component) {
            *err = cs_xasprintf("%s: no loaded plugin provides the %s \"%s\"", p->stream,
                                kind == CS_KIND_ENTITY ? "entity handler" : "stage", name ? name : "?");
            rc = CS_E_NOTFOUND;
            goto out;
        }
        scope = cs_xasprintf("%s/%s", env->workflow, name);
        ns = cs_xasprintf("%s/%s/%s/%zu", env->workflow, p->stream, name, i);
        s->ctx = cs_ctx_new(scope, ns, env->backlog, NULL, env->metrics);
        free(scope);
        free(ns);
        p->n_steps++;
        cs_ctx_clear_reason(s->ctx);
        if (kind == CS_KIND_ENTITY && env->streams)
            cs_ctx_set_streams(s->ctx, streams_marking(env->streams, p->stream));
        cs_ctx_set_describer(s->ctx, env->describe, env->describe_arg);
        st = step_create(s, json_array_get(resolved_options, i));
        cs_ctx_set_describer(s->ctx, NULL, NULL); /* describe() is for create() only */
        if (st != CS_OK) {
            *err = cs_xasprintf("%s: %s \"%s\" could not be created: %s", p->stream,
                                kind == CS_KIND_ENTITY ? "entity handler" : "stage", name,
                                cs_ctx_reason(s->ctx, "no reason given"));
            s->inst = NULL;
            rc = st == CS_RETRY ? CS_E_AGAIN : CS_E_INVAL;
            goto out;
        }
    }
out:
    json_decref(list);
    if (rc) {
        cs_pipeline_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

void cs_pipeline_free(struct cs_pipeline *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_steps; i++)
        step_destroy(&p->steps[i]);
    free(p->steps);
    free(p->stream);
    free(p->target);
    free(p);
}

const char *cs_pipeline_stream(const struct cs_pipeline *p)
{
    return p->stream;
}

int cs_pipeline_rank(const struct cs_pipeline *p)
{
    for (size_t i = 0; i < p->n_steps; i++) {
        const struct cs_component *c = p->steps[i].component;
        if (c->kind == CS_KIND_ENTITY && c->u.entity.order)
            return c->u.entity.order(p->steps[i].inst, p->stream);
    }
    return 0;
}

json_t *cs_pipeline_needs(const struct cs_pipeline *p)
{
    for (size_t i = 0; i < p->n_steps; i++) {
        const struct cs_component *c = p->steps[i].component;
        if (c->kind == CS_KIND_ENTITY && c->u.entity.needs)
            return c->u.entity.needs(p->steps[i].inst);
    }
    return NULL;
}

cs_status cs_pipeline_apply(struct cs_pipeline *p, cs_record **rec, struct cs_map_failure *fail)
{
    fail->failed_in = NULL;
    fail->detail = NULL;
    for (size_t i = 0; i < p->n_steps && *rec; i++) {
        struct step *s = &p->steps[i];
        cs_status st;
        cs_ctx_clear_reason(s->ctx);
        st = step_call(s, rec);
        if (st == CS_OK && *rec && !cs_record_is_valid(*rec)) {
            st = CS_REJECT;
            cs_ctx_clear_reason(s->ctx);
            fail->detail = cs_xstrdup("the stage produced a malformed record (stream, key, op and payload "
                                      "are required)");
        }
        if (st != CS_OK) {
            fail->failed_in = cs_component_name(s->component);
            if (!fail->detail)
                fail->detail = cs_xstrdup(cs_ctx_reason(s->ctx, "no reason given"));
            return st == CS_FATAL || st == CS_RETRY ? st : CS_REJECT;
        }
    }
    if (*rec)
        cs_record_set_stream(*rec, p->target);
    return CS_OK;
}
