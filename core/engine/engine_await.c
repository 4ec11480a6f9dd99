/*
 * engine_await.c - the engine before its state store is open (engine.h: cs_engine_await_state): while
 * crmsyncd waits for a state database it cannot reach, the admin API already answers, and shows every
 * configured workflow STARTING with the reason; nothing can be changed until the store is open.
 */
#include <stdlib.h>
#include <string.h>

#include "engine_private.h"
#include "util/util.h"

/* Every workflow of `list` STARTING with reason `why` (under awaiting_mu). */
static void set_awaiting(struct cs_engine *e, json_t *list, const char *why)
{
    json_t *w;
    size_t i;
    json_array_foreach (list, i, w)
        json_object_set_new(w, "reason", json_string(why));
    json_decref(e->awaiting);
    e->awaiting = list;
    free(e->awaiting_why);
    e->awaiting_why = list ? cs_xstrdup(why) : NULL;
}

void cs_engine_await_state(struct cs_engine *e, const struct cs_config *cfg, const char *why)
{
    const json_t *defs = json_object_get(cfg->root, "workflows"), *def;
    json_t *list = json_array();
    size_t i;
    json_array_foreach (defs, i, def)
        json_array_append_new(list, json_pack("{s:O, s:O, s:s}", "id", json_object_get(def, "id"), "title",
                                              json_object_get(def, json_object_get(def, "title") ? "title" : "id"),
                                              "status", "STARTING"));
    pthread_mutex_lock(&e->awaiting_mu);
    set_awaiting(e, list, why);
    pthread_mutex_unlock(&e->awaiting_mu);
}

void cs_engine_state_opened(struct cs_engine *e, struct cs_backlog *backlog)
{
    pthread_mutex_lock(&e->awaiting_mu);
    e->backlog = backlog;
    if (e->awaiting)
        set_awaiting(e, json_incref(e->awaiting), "the state database is open: the configuration is being applied");
    pthread_mutex_unlock(&e->awaiting_mu);
}

void cs_engine_await_done(struct cs_engine *e)
{
    pthread_mutex_lock(&e->awaiting_mu);
    set_awaiting(e, NULL, NULL);
    pthread_mutex_unlock(&e->awaiting_mu);
}

char *cs_engine_awaited(struct cs_engine *e)
{
    char *why = NULL;
    pthread_mutex_lock(&e->awaiting_mu);
    if (e->awaiting_why)
        why = cs_xstrdup(e->awaiting_why);
    pthread_mutex_unlock(&e->awaiting_mu);
    return why;
}

int cs_engine_awaiting(struct cs_engine *e, const char *id, json_t **out)
{
    json_t *w;
    size_t i;
    int awaiting;
    *out = NULL;
    pthread_mutex_lock(&e->awaiting_mu);
    awaiting = e->awaiting != NULL;
    if (awaiting && !id)
        *out = json_deep_copy(e->awaiting);
    json_array_foreach (awaiting &&id ? e->awaiting : NULL, i, w)
        if (!*out && strcmp(json_string_value(json_object_get(w, "id")), id) == 0)
            *out = json_deep_copy(w);
    pthread_mutex_unlock(&e->awaiting_mu);
    return awaiting;
}
