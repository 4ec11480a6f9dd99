/*
 * state_driver.h - private to core/state: the table of operations a state-store driver implements, one
 * member per function of backlog.h with the same contract. backlog_driver.c dispatches backlog.h to the
 * driver the handle was opened with: the SQLite driver (backlog.c, the default) or the PostgreSQL driver
 * (pg_backlog.c).
 *
 * Each driver completes struct cs_backlog in its own file, and its first member must be
 * `const struct cs_state_driver *driver`: backlog_driver.c never sees the rest, only that member.
 */
#ifndef CS_STATE_DRIVER_H
#define CS_STATE_DRIVER_H

#include "backlog.h"

struct cs_fleet_ops;

struct cs_state_driver {
    const char *name; /* as in the configuration: state.driver */
    /* `target`: the SQLite file's path, or the PostgreSQL connection string (a secret: never logged) */
    int (*open)(const char *target, struct cs_backlog **out, char **err);
    void (*close)(struct cs_backlog *b);
    const char *(*errmsg)(struct cs_backlog *b);
    const char *(*path)(const struct cs_backlog *b); /* the database file, or NULL: the store is no file */
    int (*db_error)(struct cs_backlog *b, int64_t since_ms, char **msg, int64_t *at_ms);
    int (*silent)(struct cs_backlog *b, int64_t patience_ms, char **why); /* NULL: the store always answers */
    int (*workflow_init)(struct cs_backlog *b, const char *wf, const char *initial_desired);
    int (*workflow_ids)(struct cs_backlog *b, json_t **ids);
    int (*workflow_adopt)(struct cs_backlog *b, const char *from, const char *to);
    int (*desired_get)(struct cs_backlog *b, const char *wf, char **desired);
    int (*desired_set)(struct cs_backlog *b, const char *wf, const char *desired);
    int (*status_set)(struct cs_backlog *b, const char *wf, const char *state, const char *substate, const char *reason,
                      int64_t running_rev);
    int (*revision_add)(struct cs_backlog *b, const char *wf, const char *source, const char *author,
                        const char *definition, int64_t *rev);
    int (*revision_latest)(struct cs_backlog *b, const char *wf, const char *source, int64_t *rev, char **definition);
    int (*revision_get)(struct cs_backlog *b, const char *wf, int64_t rev, char **definition, char **source,
                        int64_t *created_at);
    int (*revision_list)(struct cs_backlog *b, const char *wf, json_t **out);
    int (*cursor_get)(struct cs_backlog *b, const char *wf, const char *stream, json_t **cursor);
    int (*cursor_reset)(struct cs_backlog *b, const char *wf, const char *stream);
    int (*enqueue)(struct cs_backlog *b, const char *wf, const struct cs_enqueue *e);
    int (*claim)(struct cs_backlog *b, const char *wf, int64_t now_ms, size_t max, struct cs_claim *out, size_t *n);
    int (*complete)(struct cs_backlog *b, const char *wf, const struct cs_outcome *o, size_t n,
                    const struct cs_kv_writes *kv);
    int (*release)(struct cs_backlog *b, const char *wf, const int64_t *seqs, size_t n);
    int (*counts)(struct cs_backlog *b, const char *wf, int64_t *backlog, int64_t *dead);
    int (*next_due)(struct cs_backlog *b, const char *wf, int64_t *next_at);
    int (*dead_list)(struct cs_backlog *b, const char *wf, int64_t before_id, size_t limit, int include_payload,
                     json_t **out);
    int (*dead_redrive)(struct cs_backlog *b, const char *wf, int64_t id, size_t *n);
    int (*dead_redrive_matching)(struct cs_backlog *b, const char *wf, const struct cs_redrive_filter *f, size_t *n);
    int (*kv_get)(struct cs_backlog *b, const char *ns, const char *key, char **value);
    int (*kv_put)(struct cs_backlog *b, const char *ns, const char *key, const char *value);
    int (*kv_put_all)(struct cs_backlog *b, const struct cs_kv_writes *kv);
    void (*stats)(struct cs_backlog *b, struct cs_backlog_stats *out);
    const struct cs_fleet_ops *fleet; /* NULL: a store of one process (backlog.h's fleet of one) */
};

/* The fleet calls of backlog.h, same contracts, of a driver whose store several daemons share. */
struct cs_fleet_ops {
    int (*join)(struct cs_backlog *b, const struct cs_member *me, char **err);
    void (*leave)(struct cs_backlog *b);
    int (*heartbeat)(struct cs_backlog *b, const json_t *writers, json_t **swept);
    int (*lease_take)(struct cs_backlog *b, const char *wf, char **holder);
    int (*lease_held)(struct cs_backlog *b, const char *wf);
    int (*lease_drop)(struct cs_backlog *b, const char *wf);
    int (*fleet)(struct cs_backlog *b, json_t **out);
    int (*desired)(struct cs_backlog *b, json_t **out);
    int (*started)(struct cs_backlog *b, const char *wf, int64_t rev);
};

/* The calling thread's patience (cs_backlog_patience): 0, wait as long as a call takes. */
int64_t cs_backlog_patience_ms(void);

extern const struct cs_state_driver cs_state_sqlite;
extern const struct cs_state_driver cs_state_postgresql;

#endif
