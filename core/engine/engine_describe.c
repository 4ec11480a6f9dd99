/*
 * engine_describe.c - what the admin API asks of a connection outside any workflow (see engine.h): the
 * tables it can see and one table's live metadata (the connector's describe()), a connectivity check,
 * and replacing a secret kept in a file. Each question runs on a fresh instance of the connection's
 * connector (create, start, ask, stop, destroy) with a context of its own: no key/value store, no
 * metrics, no workflow, so nothing a running workflow keeps is touched; it does share the
 * connection's shared objects (host->connection_shared: a token, metadata) with the workflows.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine_private.h"
#include "host/host.h"
#include "util/log.h"
#include "util/util.h"

#define SECRET_MAX (64u << 10) /* the configuration reader's limit too */

/* The connector and a reference to the resolved options of connection `name`, or CS_E_NOTFOUND. */
static int endpoint_of(struct cs_engine *e, const char *name, const cs_connector **c, json_t **options)
{
    const struct cs_endpoint *ep;
    pthread_mutex_lock(&e->lock);
    if ((ep = cs_engine_find_endpoint(e->endpoints, e->n_endpoints, name))) {
        *c = &ep->connector->u.connector;
        *options = json_incref(ep->options);
    }
    pthread_mutex_unlock(&e->lock);
    return ep ? 0 : CS_E_NOTFOUND;
}

void cs_probe_close(struct cs_probe *p)
{
    if (p->inst) {
        if (p->started && p->c->stop)
            p->c->stop(p->inst);
        p->c->destroy(p->inst);
    }
    cs_ctx_free(p->ctx);
}

int cs_probe_create(struct cs_engine *e, const char *name, struct cs_probe *p, cs_status *st, char **err)
{
    json_t *options = NULL;
    char *scope;
    *err = NULL;
    *st = CS_OK;
    memset(p, 0, sizeof *p);
    if (endpoint_of(e, name, &p->c, &options) != 0) {
        *err = cs_xasprintf("no connection \"%s\"", name);
        return CS_E_NOTFOUND;
    }
    scope = cs_xasprintf("admin/%s", name);
    p->ctx = cs_ctx_new(scope, name, NULL, NULL, NULL);
    cs_ctx_set_connection(p->ctx, p->c, name, options);
    free(scope);
    *st = p->c->create(&cs_host_table, p->ctx, options, &p->inst);
    json_decref(options);
    if (*st != CS_OK) {
        p->inst = NULL;
        *err = cs_xasprintf("the %s connector could not be created: %s", p->c->name,
                            cs_ctx_reason(p->ctx, "no reason given"));
        return CS_E_IO;
    }
    cs_ctx_clear_reason(p->ctx);
    return 0;
}

/* Create and start an instance of connection `name`. 0; CS_E_NOTFOUND; or CS_E_IO with *err (new)
 * saying which step failed and the connector's reason, *st the connector's status. */
static int probe_open(struct cs_engine *e, const char *name, struct cs_probe *p, cs_status *st, char **err)
{
    int rc = cs_probe_create(e, name, p, st, err);
    if (rc != 0)
        return rc;
    if (p->c->start && (*st = p->c->start(p->inst)) != CS_OK) {
        *err = cs_xasprintf("%s", cs_ctx_reason(p->ctx, "the connector did not start and gave no reason"));
        return CS_E_IO;
    }
    p->started = 1;
    return 0;
}

int cs_engine_conn_exists(struct cs_engine *e, const char *conn)
{
    const cs_connector *c;
    json_t *options = NULL;
    int found = endpoint_of(e, conn, &c, &options) == 0;
    json_decref(options);
    return found;
}

int cs_engine_conn_describe(struct cs_engine *e, const char *conn, const char *table, json_t **out, char **err)
{
    struct cs_probe p;
    cs_status st;
    int rc = probe_open(e, conn, &p, &st, err);
    *out = NULL;
    if (rc == 0 && !p.c->describe) {
        *err = cs_xasprintf("the %s connector of connection %s cannot describe its tables", p.c->name, conn);
        rc = CS_E_STATE;
    } else if (rc == 0) {
        cs_ctx_clear_reason(p.ctx);
        st = p.c->describe(p.inst, table, out);
        if (st == CS_NODATA)
            *err = table ? cs_xasprintf("connection %s has no table \"%s\"", conn, table)
                         : cs_xasprintf("connection %s lists no tables", conn);
        else if (st != CS_OK)
            *err = cs_xasprintf("%s", cs_ctx_reason(p.ctx, "the connector did not describe and gave no reason"));
        rc = st == CS_OK ? 0 : st == CS_NODATA ? CS_E_NOTFOUND : CS_E_IO;
        if (rc != 0) {
            json_decref(*out);
            *out = NULL;
        }
    }
    cs_probe_close(&p);
    return rc;
}

int cs_engine_conn_check(struct cs_engine *e, const char *conn, json_t **out, char **err)
{
    struct cs_probe p;
    cs_status st;
    int64_t t0 = cs_mono_ms(), ms;
    char *why = NULL, *result;
    json_t *tables = NULL;
    int rc = probe_open(e, conn, &p, &st, &why);
    *out = NULL;
    *err = NULL;
    if (rc == CS_E_NOTFOUND) {
        *err = why;
        return rc;
    }
    if (rc == 0 && p.c->describe) { /* listing the tables proves the API itself answers, not only the login */
        cs_ctx_clear_reason(p.ctx);
        if ((st = p.c->describe(p.inst, NULL, &tables)) != CS_OK && st != CS_NODATA) {
            why = cs_xasprintf("%s", cs_ctx_reason(p.ctx, "listing the tables failed and gave no reason"));
            rc = CS_E_IO;
        }
    }
    ms = cs_mono_ms() - t0;
    if (rc == 0 && tables)
        result = cs_xasprintf("connected: the credentials were accepted and %zu tables are visible (%.1f s)",
                              json_array_size(json_object_get(tables, "tables")), (double)ms / 1000.0);
    else if (rc == 0)
        result = cs_xasprintf("connected: the %s connector started, the credentials were accepted (%.1f s)", p.c->name,
                              (double)ms / 1000.0);
    else if (st == CS_RETRY)
        result = cs_xasprintf("cannot reach it right now (a transient failure, %.1f s): %s", (double)ms / 1000.0, why);
    else
        result = cs_xasprintf("refused (%.1f s): %s", (double)ms / 1000.0, why);
    *out = json_pack("{s:s, s:s, s:b, s:s, s:I}", "connection", conn, "connector", p.c->name, "ok", rc == 0, "result",
                     result, "elapsed_ms", (json_int_t)ms);
    cs_log(rc == 0 ? CS_LOG_INFO : CS_LOG_NOTICE, "admin", "connectivity check of connection %s: %s", conn, result);
    free(result);
    free(why);
    json_decref(tables);
    cs_probe_close(&p);
    return 0;
}

/* ---- secrets ----------------------------------------------------------------------------------- */

/* Write `value` and a newline to `path` atomically: a new owner-only file beside it, renamed over it. */
static int write_secret_file(const char *path, const char *value, char **err)
{
    char *tmp = cs_xasprintf("%s.XXXXXX", path), *text = cs_xasprintf("%s\n", value);
    size_t len = strlen(text), done = 0;
    int fd = mkstemp(tmp), rc = -1; /* mkstemp creates it 0600 */

    if (fd < 0) {
        *err = cs_xasprintf("cannot create a file beside %s: %s (the daemon's user needs write access to its "
                            "directory)",
                            path, strerror(errno));
        goto out;
    }
    while (done < len) {
        ssize_t n = write(fd, text + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    if (done != len || fchmod(fd, 0600) != 0 || fsync(fd) != 0) {
        *err = cs_xasprintf("cannot write %s: %s", tmp, strerror(errno));
        goto out;
    }
    if (rename(tmp, path) != 0) {
        *err = cs_xasprintf("cannot replace %s: %s", path, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    if (rc != 0 && fd >= 0)
        unlink(tmp);
    explicit_bzero(text, len);
    free(text);
    free(tmp);
    return rc;
}

/* Is `option` a secret option of the connector? */
static int is_secret_option(const struct cs_component *c, const char *option)
{
    for (const cs_setting *o = cs_component_options(c); o->name; o++)
        if (strcmp(o->name, option) == 0)
            return (o->flags & CS_OPT_SECRET) != 0;
    return 0;
}

/* The file connection `conn` reads secret `option` from (new; a relative one from the configuration
 * file's directory), or NULL with *err. */
static char *secret_file(struct cs_engine *e, const char *conn, const char *option, char **err)
{
    const json_t *c = json_object_get(json_object_get(e->cfg->raw, "connections"), conn);
    char *file_key = cs_xasprintf("%s_file", option), *env_key = cs_xasprintf("%s_env", option);
    const char *file = json_string_value(json_object_get(c, file_key));
    const json_t *env = json_object_get(c, env_key);
    if (env)
        *err = cs_xasprintf("connection %s takes %s from the environment variable %s (%s): set the variable and "
                            "restart crmsyncd; only a secret kept in a file (%s) can be replaced here",
                            conn, option, json_is_string(env) ? json_string_value(env) : "?", env_key, file_key);
    else if (!file)
        *err = cs_xasprintf("connection %s has no %s in the configuration: add it (a file only its owner can read) "
                            "to let the admin API write %s",
                            conn, file_key, option);
    free(file_key);
    free(env_key);
    return *err ? NULL : cs_config_path(e->cfg, file);
}

/* The connection's resolved options with `option` replaced: a new object swapped in, so that instances
 * being created from the old one keep a consistent copy. Lock held. */
static void replace_resolved(struct cs_endpoint *ep, const char *option, const char *value)
{
    json_t *copy = json_deep_copy(ep->options);
    json_object_set_new(copy, option, json_string(value));
    json_decref(ep->options);
    ep->options = copy;
}

int cs_engine_conn_put_secret(struct cs_engine *e, const char *conn, const char *option, const char *value, char **err)
{
    struct cs_endpoint *ep;
    char *file = NULL, *back = NULL;
    int rc = CS_E_NOTFOUND;

    *err = NULL;
    if (!*value || strlen(value) > SECRET_MAX) {
        *err = cs_xasprintf("a secret is 1 to %u bytes of text", SECRET_MAX);
        return CS_E_INVAL;
    }
    pthread_mutex_lock(&e->lock);
    ep = (struct cs_endpoint *)cs_engine_find_endpoint(e->endpoints, e->n_endpoints, conn);
    if (!ep) {
        *err = cs_xasprintf("no connection \"%s\"", conn);
    } else if (!is_secret_option(ep->connector, option)) {
        *err = cs_xasprintf("%s is not a secret option of the %s connector (connection %s)", option,
                            ep->connector->u.connector.name, conn);
    } else if (!(file = secret_file(e, conn, option, err))) {
        rc = CS_E_STATE;
    } else if (write_secret_file(file, value, err) != 0) {
        rc = CS_E_IO;
    } else if (cs_config_read_secret(file, &back, err) != 0) { /* as the next configuration load will */
        rc = CS_E_IO;
    } else {
        replace_resolved(ep, option, back);
        cs_log(CS_LOG_NOTICE, "admin",
               "connection %s: %s replaced through the admin API (written to %s); "
               "workflows use it from their next start",
               conn, option, file);
        rc = 0;
    }
    pthread_mutex_unlock(&e->lock);
    if (back)
        explicit_bzero(back, strlen(back));
    free(back);
    free(file);
    return rc;
}
