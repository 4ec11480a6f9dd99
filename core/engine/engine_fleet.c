/*
 * engine_fleet.c - this daemon in the fleet of crmsyncd sharing its state database (engine.h): it joins
 * under its node name, and a thread of its own, every lease/3, renews its heartbeat and reader leases
 * (publishing its writers per workflow), sweeps dead members, follows every workflow's desired state and
 * revision as any member set them (a Stop made through another daemon stops this one's reader and
 * writers too; a Start applies the same revision here), and keeps the fleet as last seen for the
 * workflows' status. With a store of one process (sqlite) the fleet is this daemon alone: no thread.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine_private.h"
#include "state/backlog.h"
#include "util/log.h"
#include "util/util.h"

struct cs_fleet {
    char *node, *host, *admin;
    int64_t lease_ms;
    pthread_t thread;
    atomic_int running; /* the thread was started: read by the admin API's threads */
    pthread_mutex_t mu; /* guards view, quit and the heartbeat's outcomes; cond's mutex */
    pthread_cond_t cond;
    int quit;
    json_t *view;         /* cs_backlog_fleet() as last seen, or NULL */
    int64_t beat_at;      /* the last heartbeat that succeeded (mono ms), 0: none yet */
    int64_t beats_failed; /* heartbeats that failed since the join */
};

/* ---- what this daemon runs ------------------------------------------------------------------------ */

/* {internal workflow id: writer threads} of the RUNNING workflows of this daemon (new). */
static json_t *local_writers(struct cs_engine *e)
{
    json_t *writers = json_object();
    pthread_rwlock_rdlock(&e->ops);
    for (size_t i = 0; i < e->n_flows; i++)
        for (size_t j = 0; j < e->flows[i]->n_legs; j++) {
            int n = cs_workflow_writers(e->flows[i]->legs[j]);
            if (n)
                json_object_set_new(writers, cs_workflow_id(e->flows[i]->legs[j]), json_integer(n));
        }
    pthread_rwlock_unlock(&e->ops);
    return writers;
}

/* The revision the flow runs (0: none). */
static int64_t running_rev(struct cs_flow *f)
{
    int64_t rev = 0;
    for (size_t j = 0; j < f->n_legs && !rev; j++)
        rev = cs_workflow_running_rev(f->legs[j]);
    return rev;
}

/* ---- following the fleet ------------------------------------------------------------------------- */

/* Make flow `f` what the fleet wants (`want`: {desired, revision}); `operating` held. */
static void follow_flow(struct cs_engine *e, struct cs_flow *f, const json_t *want)
{
    const char *desired = json_string_value(json_object_get(want, "desired"));
    int64_t rev = json_integer_value(json_object_get(want, "revision")), runs = running_rev(f);
    enum cs_wf_status status = cs_flow_status(f);
    char *err = NULL;

    if (!desired || atomic_load(&e->closing))
        return;
    if (strcmp(desired, "stopped") == 0 && cs_flow_active(f)) {
        cs_log(CS_LOG_NOTICE, f->id, "stopping: the fleet's desired state is stopped (set through another member)");
        cs_flow_stop(f);
        return;
    }
    if (strcmp(desired, "running") != 0 || rev <= 0 || status == CS_WF_FAILED || (cs_flow_active(f) && runs == rev))
        return;
    cs_log(CS_LOG_NOTICE, f->id, "starting revision %lld: started through another member of the fleet%s",
           (long long)rev, cs_flow_active(f) ? " (this one ran another revision: restarted)" : "");
    if (cs_flow_active(f))
        cs_flow_stop(f);
    if (cs_engine_start_flow_at(e, f, rev, &err) != 0)
        cs_log(CS_LOG_ERROR, f->id, "cannot start as the fleet wants: %s", err ? err : "no reason given");
    free(err);
}

static void follow_desired(struct cs_engine *e)
{
    json_t *all = NULL;
    if (cs_backlog_fleet_desired(e->backlog, &all) != 0) {
        cs_log(CS_LOG_ERROR, "fleet", "cannot read the fleet's desired states: %s", cs_backlog_errmsg(e->backlog));
        return;
    }
    pthread_rwlock_rdlock(&e->ops);
    pthread_mutex_lock(&e->operating);
    for (size_t i = 0; i < e->n_flows; i++)
        follow_flow(e, e->flows[i], json_object_get(all, e->flows[i]->id));
    pthread_mutex_unlock(&e->operating);
    pthread_rwlock_unlock(&e->ops);
    json_decref(all);
}

static void heartbeat(struct cs_engine *e)
{
    json_t *writers = local_writers(e), *swept = NULL, *dead;
    size_t i;
    int rc = cs_backlog_heartbeat(e->backlog, writers, &swept);
    if (rc != 0)
        cs_log(CS_LOG_ERROR, "fleet", "heartbeat of node %s failed: %s", e->fleet->node, cs_backlog_errmsg(e->backlog));
    pthread_mutex_lock(&e->fleet->mu);
    if (rc == 0)
        e->fleet->beat_at = cs_mono_ms();
    else
        e->fleet->beats_failed++;
    pthread_mutex_unlock(&e->fleet->mu);
    json_array_foreach (swept, i, dead)
        cs_log(CS_LOG_WARNING, "fleet",
               "member %s is dead (no heartbeat for its lease): removed from the fleet, %lld row(s) it had in "
               "flight are claimable again",
               json_string_value(json_object_get(dead, "node")),
               (long long)json_integer_value(json_object_get(dead, "claims")));
    json_decref(swept);
    json_decref(writers);
}

/* The fleet as it is now; as last seen while the database does not answer. */
static void refresh_view(struct cs_engine *e)
{
    json_t *view = NULL;
    if (cs_backlog_fleet(e->backlog, &view) != 0)
        return;
    pthread_mutex_lock(&e->fleet->mu);
    json_decref(e->fleet->view);
    e->fleet->view = view;
    pthread_mutex_unlock(&e->fleet->mu);
}

static void *follow(void *arg)
{
    struct cs_engine *e = arg;
    struct cs_fleet *fl = e->fleet;
    int quit = 0;
    while (!quit) {
        struct timespec until;
        int64_t at = cs_now_ms() + fl->lease_ms / 3;
        heartbeat(e);
        follow_desired(e);
        refresh_view(e);
        until = (struct timespec){.tv_sec = at / 1000, .tv_nsec = (at % 1000) * 1000000};
        pthread_mutex_lock(&fl->mu);
        while (!fl->quit && pthread_cond_timedwait(&fl->cond, &fl->mu, &until) == 0)
            ;
        quit = fl->quit;
        pthread_mutex_unlock(&fl->mu);
    }
    return NULL;
}

/* ---- joining and leaving -------------------------------------------------------------------------- */

static void fleet_free(struct cs_fleet *fl)
{
    pthread_mutex_destroy(&fl->mu);
    pthread_cond_destroy(&fl->cond);
    json_decref(fl->view);
    free(fl->node);
    free(fl->host);
    free(fl->admin);
    free(fl);
}

int cs_engine_join_fleet(struct cs_engine *e, const char *node, int64_t lease_ms, const char *admin, char **err)
{
    struct cs_fleet *fl = cs_xcalloc(1, sizeof *fl);
    char host[256] = "";
    pthread_condattr_t attr;
    int rc;

    gethostname(host, sizeof host - 1);
    fl->host = cs_xstrdup(host);
    fl->node = cs_xstrdup(node ? node : host);
    fl->admin = admin ? cs_xstrdup(admin) : NULL;
    fl->lease_ms = lease_ms;
    pthread_mutex_init(&fl->mu, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_REALTIME);
    pthread_cond_init(&fl->cond, &attr);
    pthread_condattr_destroy(&attr);
    rc = cs_backlog_join(e->backlog, &(struct cs_member){fl->node, fl->host, fl->admin, lease_ms}, err);
    if (rc != 0) {
        fleet_free(fl);
        return rc;
    }
    e->fleet = fl;
    if (cs_backlog_shared(e->backlog)) {
        cs_log(CS_LOG_NOTICE, "fleet", "joined the fleet as node %s (reader lease %.1f s)", fl->node,
               lease_ms / 1000.0);
        refresh_view(e);
        fl->running = pthread_create(&fl->thread, NULL, follow, e) == 0;
        if (!fl->running)
            cs_log(CS_LOG_ERROR, "fleet", "cannot create the fleet's thread: this node's leases will expire");
    }
    return 0;
}

void cs_engine_leave_fleet(struct cs_engine *e)
{
    struct cs_fleet *fl = e->fleet;
    if (!fl)
        return;
    pthread_mutex_lock(&fl->mu);
    fl->quit = 1;
    pthread_cond_broadcast(&fl->cond);
    pthread_mutex_unlock(&fl->mu);
    if (fl->running)
        pthread_join(fl->thread, NULL);
    cs_backlog_leave(e->backlog);
    e->fleet = NULL;
    fleet_free(fl);
}

/* ---- what the fleet looks like --------------------------------------------------------------------- */

/* This daemon alone, as the fleet of a store of one process. New. */
static json_t *fleet_of_one(struct cs_engine *e)
{
    struct cs_fleet *fl = e->fleet;
    json_t *writers = local_writers(e), *readers = json_object(), *w;
    const char *id;
    json_object_foreach (writers, id, w)
        json_object_set_new(readers, id, json_string(fl->node));
    return json_pack("{s:[{s:s, s:s, s:I, s:o, s:I, s:b, s:o, s:b}], s:o}", "members", "node", fl->node, "host",
                     fl->host, "pid", (json_int_t)getpid(), "admin", fl->admin ? json_string(fl->admin) : json_null(),
                     "heartbeat_age_ms", (json_int_t)0, "alive", 1, "writers", writers, "self", 1, "readers", readers);
}

/* The fleet's members and leases turned per workflow: {id: {reader, writers: {node: n}}} by internal
 * workflow id (a leg's "<id>/<leg>" included), live members only. New. */
static json_t *per_workflow(const json_t *view)
{
    json_t *out = json_object(), *m, *n;
    const char *id;
    size_t i;
    json_array_foreach (json_object_get(view, "members"), i, m) {
        if (!json_is_true(json_object_get(m, "alive")))
            continue;
        json_object_foreach (json_object_get(m, "writers"), id, n) {
            json_t *wf = json_object_get(out, id);
            if (!wf)
                json_object_set_new(out, id, wf = json_pack("{s:n, s:{}}", "reader", "writers"));
            json_object_set(json_object_get(wf, "writers"), json_string_value(json_object_get(m, "node")), n);
        }
    }
    json_object_foreach (json_object_get(view, "readers"), id, n) {
        json_t *wf = json_object_get(out, id);
        if (!wf)
            json_object_set_new(out, id, wf = json_pack("{s:n, s:{}}", "reader", "writers"));
        json_object_set(wf, "reader", n);
    }
    return out;
}

void cs_fleet_describe(struct cs_engine *e, struct cs_flow *f, json_t *snap)
{
    json_t *view = NULL, *all, *writers, *reader = json_null(), *n;
    const char *node;
    if (!e->fleet)
        return;
    writers = json_object();
    if (e->fleet->running) {
        pthread_mutex_lock(&e->fleet->mu);
        view = json_incref(e->fleet->view);
        pthread_mutex_unlock(&e->fleet->mu);
    } else {
        view = fleet_of_one(e);
    }
    all = per_workflow(view);
    for (size_t j = 0; j < f->n_legs; j++) {
        json_t *leg = json_object_get(all, cs_workflow_id(f->legs[j]));
        if (json_is_null(reader) && json_is_string(json_object_get(leg, "reader")))
            reader = json_object_get(leg, "reader");
        json_object_foreach (json_object_get(leg, "writers"), node, n)
            json_object_set_new(
                writers, node,
                json_integer(json_integer_value(json_object_get(writers, node)) + json_integer_value(n)));
    }
    json_object_set(snap, "reader", reader);
    json_object_set_new(snap, "writers", writers);
    json_decref(all);
    json_decref(view);
}

int cs_engine_fleet(struct cs_engine *e, json_t **out, char **err)
{
    json_t *view = NULL;
    int rc = 0;
    *out = NULL;
    *err = NULL;
    if (!e->fleet)
        return CS_E_STATE;
    if (cs_backlog_shared(e->backlog))
        rc = cs_backlog_fleet(e->backlog, &view);
    else
        view = fleet_of_one(e);
    if (rc != 0 && e->fleet->running) { /* the fleet as this node's thread last saw it */
        pthread_mutex_lock(&e->fleet->mu);
        view = json_incref(e->fleet->view);
        pthread_mutex_unlock(&e->fleet->mu);
    }
    if (!view) {
        *err = cs_xasprintf("the fleet cannot be read from the state database: %s", cs_backlog_errmsg(e->backlog));
        return rc;
    }
    *out = json_pack("{s:s, s:I, s:O, s:o}", "node", e->fleet->node, "lease_ms", (json_int_t)e->fleet->lease_ms,
                     "members", json_object_get(view, "members"), "workflows", per_workflow(view));
    if (rc != 0) {
        json_object_set_new(*out, "stale", json_true());
        json_object_set_new(*out, "state_db", json_string(cs_backlog_errmsg(e->backlog)));
    }
    json_decref(view);
    return 0;
}

json_t *cs_engine_fleet_health(struct cs_engine *e)
{
    struct cs_fleet *fl = e->fleet;
    json_t *leases, *m, *out;
    int64_t members = 0, age;
    char *silent = NULL;
    size_t i;
    int answering;
    if (!fl || !fl->running)
        return NULL;
    answering = !cs_backlog_silent(e->backlog, CS_BACKLOG_ADMIN_PATIENCE_MS, &silent);
    free(silent);
    leases = json_object();
    pthread_rwlock_rdlock(&e->ops);
    for (size_t f = 0; f < e->n_flows; f++) {
        int held = 0;
        for (size_t j = 0; j < e->flows[f]->n_legs; j++)
            held |= cs_flow_status(e->flows[f]) == CS_WF_RUNNING &&
                    cs_backlog_lease_held(e->backlog, cs_workflow_id(e->flows[f]->legs[j]));
        json_object_set_new(leases, e->flows[f]->id, json_integer(held));
    }
    pthread_rwlock_unlock(&e->ops);
    pthread_mutex_lock(&fl->mu);
    json_array_foreach (json_object_get(fl->view, "members"), i, m)
        members += json_is_true(json_object_get(m, "alive"));
    age = fl->beat_at ? cs_mono_ms() - fl->beat_at : -1;
    out =
        json_pack("{s:I, s:I, s:I, s:b, s:o}", "members", (json_int_t)members, "heartbeat_age_ms", (json_int_t)age,
                  "heartbeats_failed", (json_int_t)fl->beats_failed, "state_db_answering", answering, "leases", leases);
    pthread_mutex_unlock(&fl->mu);
    return out;
}
