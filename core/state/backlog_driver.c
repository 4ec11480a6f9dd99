/*
 * backlog_driver.c - backlog.h dispatched to the driver a state store was opened with (state_driver.h):
 * the choice of driver by name at open, and one forwarding function per operation; the fleet calls of a
 * store of one process (no fleet table) answer as a fleet of one.
 */
#include <string.h>

#include "state_driver.h"
#include "util/util.h"

/* The driver of an open store: the first member of its struct cs_backlog, whichever driver completes it. */
static const struct cs_state_driver *driver_of(struct cs_backlog *b)
{
    return *(const struct cs_state_driver *const *)(void *)b;
}

static const struct cs_state_driver *const drivers[] = {&cs_state_sqlite, &cs_state_postgresql, NULL};

int cs_backlog_open_driver(const char *driver, const char *target, struct cs_backlog **out, char **err)
{
    for (size_t i = 0; drivers[i]; i++)
        if (strcmp(drivers[i]->name, driver) == 0)
            return drivers[i]->open(target, out, err);
    *out = NULL;
    *err = cs_xasprintf("unknown state driver \"%s\": use sqlite or postgresql", driver);
    return CS_E_INVAL;
}

int cs_backlog_open(const char *path, struct cs_backlog **out, char **err)
{
    return cs_state_sqlite.open(path, out, err);
}

void cs_backlog_close(struct cs_backlog *b)
{
    if (b)
        driver_of(b)->close(b);
}

const char *cs_backlog_path(const struct cs_backlog *b)
{
    return driver_of((struct cs_backlog *)b)->path(b);
}

const char *cs_backlog_errmsg(struct cs_backlog *b)
{
    return driver_of(b)->errmsg(b);
}

int cs_backlog_db_error(struct cs_backlog *b, int64_t since_ms, char **msg, int64_t *at_ms)
{
    return driver_of(b)->db_error(b, since_ms, msg, at_ms);
}

int cs_backlog_silent(struct cs_backlog *b, int64_t patience_ms, char **why)
{
    *why = NULL;
    return driver_of(b)->silent ? driver_of(b)->silent(b, patience_ms, why) : 0;
}

static _Thread_local int64_t patience_ms;

void cs_backlog_patience(int64_t ms)
{
    patience_ms = ms;
}

int64_t cs_backlog_patience_ms(void)
{
    return patience_ms;
}

int cs_backlog_workflow_init(struct cs_backlog *b, const char *wf, const char *initial_desired)
{
    return driver_of(b)->workflow_init(b, wf, initial_desired);
}

int cs_backlog_workflow_ids(struct cs_backlog *b, json_t **ids)
{
    return driver_of(b)->workflow_ids(b, ids);
}

int cs_backlog_workflow_adopt(struct cs_backlog *b, const char *from, const char *to)
{
    return driver_of(b)->workflow_adopt(b, from, to);
}

int cs_backlog_desired_get(struct cs_backlog *b, const char *wf, char **desired)
{
    return driver_of(b)->desired_get(b, wf, desired);
}

int cs_backlog_desired_set(struct cs_backlog *b, const char *wf, const char *desired)
{
    return driver_of(b)->desired_set(b, wf, desired);
}

int cs_backlog_status_set(struct cs_backlog *b, const char *wf, const char *state, const char *substate,
                          const char *reason, int64_t running_rev)
{
    return driver_of(b)->status_set(b, wf, state, substate, reason, running_rev);
}

int cs_backlog_revision_add(struct cs_backlog *b, const char *wf, const char *source, const char *author,
                            const char *definition, int64_t *rev)
{
    return driver_of(b)->revision_add(b, wf, source, author, definition, rev);
}

int cs_backlog_revision_latest(struct cs_backlog *b, const char *wf, const char *source, int64_t *rev,
                               char **definition)
{
    return driver_of(b)->revision_latest(b, wf, source, rev, definition);
}

int cs_backlog_revision_get(struct cs_backlog *b, const char *wf, int64_t rev, char **definition, char **source,
                            int64_t *created_at)
{
    return driver_of(b)->revision_get(b, wf, rev, definition, source, created_at);
}

int cs_backlog_revision_list(struct cs_backlog *b, const char *wf, json_t **out)
{
    return driver_of(b)->revision_list(b, wf, out);
}

int cs_backlog_cursor_get(struct cs_backlog *b, const char *wf, const char *stream, json_t **cursor)
{
    return driver_of(b)->cursor_get(b, wf, stream, cursor);
}

int cs_backlog_cursor_reset(struct cs_backlog *b, const char *wf, const char *stream)
{
    return driver_of(b)->cursor_reset(b, wf, stream);
}

int cs_backlog_enqueue(struct cs_backlog *b, const char *wf, const struct cs_enqueue *e)
{
    return driver_of(b)->enqueue(b, wf, e);
}

int cs_backlog_claim(struct cs_backlog *b, const char *wf, int64_t now_ms, size_t max, struct cs_claim *out, size_t *n)
{
    return driver_of(b)->claim(b, wf, now_ms, max, out, n);
}

int cs_backlog_complete(struct cs_backlog *b, const char *wf, const struct cs_outcome *o, size_t n,
                        const struct cs_kv_writes *kv)
{
    return driver_of(b)->complete(b, wf, o, n, kv);
}

int cs_backlog_release(struct cs_backlog *b, const char *wf, const int64_t *seqs, size_t n)
{
    return driver_of(b)->release(b, wf, seqs, n);
}

int cs_backlog_counts(struct cs_backlog *b, const char *wf, int64_t *backlog, int64_t *dead)
{
    return driver_of(b)->counts(b, wf, backlog, dead);
}

int cs_backlog_next_due(struct cs_backlog *b, const char *wf, int64_t *next_at)
{
    return driver_of(b)->next_due(b, wf, next_at);
}

int cs_backlog_dead_list(struct cs_backlog *b, const char *wf, int64_t before_id, size_t limit, int include_payload,
                         json_t **out)
{
    return driver_of(b)->dead_list(b, wf, before_id, limit, include_payload, out);
}

int cs_backlog_dead_redrive(struct cs_backlog *b, const char *wf, int64_t id, size_t *n)
{
    return driver_of(b)->dead_redrive(b, wf, id, n);
}

int cs_backlog_dead_redrive_matching(struct cs_backlog *b, const char *wf, const struct cs_redrive_filter *f, size_t *n)
{
    return driver_of(b)->dead_redrive_matching(b, wf, f, n);
}

int cs_backlog_kv_get(struct cs_backlog *b, const char *ns, const char *key, char **value)
{
    return driver_of(b)->kv_get(b, ns, key, value);
}

int cs_backlog_kv_put(struct cs_backlog *b, const char *ns, const char *key, const char *value)
{
    return driver_of(b)->kv_put(b, ns, key, value);
}

int cs_backlog_kv_put_all(struct cs_backlog *b, const struct cs_kv_writes *kv)
{
    return driver_of(b)->kv_put_all(b, kv);
}

void cs_backlog_stats(struct cs_backlog *b, struct cs_backlog_stats *out)
{
    driver_of(b)->stats(b, out);
}

/* ---- the fleet ---------------------------------------------------------------------------------- */

static const struct cs_fleet_ops *fleet_of(struct cs_backlog *b)
{
    return driver_of(b)->fleet;
}

int cs_backlog_shared(struct cs_backlog *b)
{
    return fleet_of(b) != NULL;
}

int cs_backlog_join(struct cs_backlog *b, const struct cs_member *me, char **err)
{
    *err = NULL;
    return fleet_of(b) ? fleet_of(b)->join(b, me, err) : 0;
}

void cs_backlog_leave(struct cs_backlog *b)
{
    if (fleet_of(b))
        fleet_of(b)->leave(b);
}

int cs_backlog_heartbeat(struct cs_backlog *b, const json_t *writers, json_t **swept)
{
    if (fleet_of(b))
        return fleet_of(b)->heartbeat(b, writers, swept);
    *swept = json_array();
    return 0;
}

int cs_backlog_lease_take(struct cs_backlog *b, const char *wf, char **holder)
{
    *holder = NULL;
    return fleet_of(b) ? fleet_of(b)->lease_take(b, wf, holder) : 1;
}

int cs_backlog_lease_held(struct cs_backlog *b, const char *wf)
{
    return fleet_of(b) ? fleet_of(b)->lease_held(b, wf) : 1;
}

int cs_backlog_lease_drop(struct cs_backlog *b, const char *wf)
{
    return fleet_of(b) ? fleet_of(b)->lease_drop(b, wf) : 0;
}

int cs_backlog_fleet(struct cs_backlog *b, json_t **out)
{
    *out = NULL;
    return fleet_of(b) ? fleet_of(b)->fleet(b, out) : CS_E_STATE;
}

int cs_backlog_fleet_desired(struct cs_backlog *b, json_t **out)
{
    *out = NULL;
    return fleet_of(b) ? fleet_of(b)->desired(b, out) : CS_E_STATE;
}

int cs_backlog_fleet_started(struct cs_backlog *b, const char *wf, int64_t rev)
{
    return fleet_of(b) ? fleet_of(b)->started(b, wf, rev) : 0;
}
