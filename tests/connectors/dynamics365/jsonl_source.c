/*
 * jsonl_source.c - test plugin "d365test" with one source connector, "jsonl-source": the records of a
 * JSON-lines file (each line {"key", "op", "payload"}; the stream is the mapping's), read in file order
 * with cursor {"line": next line}, so the dynamics365 sink tests can write any payload they need
 * (activities with @odata.bind, invalid rows, deletes). Caught up (CS_NODATA) at the end of the file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <crmsync/plugin.h>

struct jsonl {
    const cs_host *host;
    cs_ctx *ctx;
    char *file;
};

static const cs_setting settings[] = {
    {CS_SETTING_HEAD, "file", CS_OPT_STRING, CS_OPT_REQUIRED, NULL, "JSON-lines file of {key, op, payload} records"},
    {CS_SETTING_HEAD, NULL},
};

static cs_status jsonl_create(const cs_host *host, cs_ctx *ctx, const json_t *o, void **inst)
{
    struct jsonl *j = calloc(1, sizeof *j);
    if (!j || !(j->file = strdup(json_string_value(json_object_get(o, "file"))))) {
        free(j);
        return CS_FATAL;
    }
    j->host = host;
    j->ctx = ctx;
    *inst = j;
    return CS_OK;
}

static cs_status jsonl_read(void *inst, const char *stream, const json_t *cursor, size_t max_records)
{
    struct jsonl *j = inst;
    long start = cursor ? (long)json_integer_value(json_object_get(cursor, "line")) : 0, line = 0;
    size_t emitted = 0, cap = 0;
    char *buf = NULL;
    cs_status st = CS_OK;
    FILE *f = fopen(j->file, "r");

    if (!f) {
        j->host->set_reason(j->ctx, 0, 0, "cannot open %s", j->file);
        return CS_FATAL;
    }
    while (emitted < max_records && st == CS_OK && getline(&buf, &cap, f) > 0) {
        json_t *doc;
        const char *op;
        if (line++ < start)
            continue;
        doc = json_loads(buf, 0, NULL);
        op = json_string_value(json_object_get(doc, "op"));
        st = j->host->emit(j->ctx, cs_record_new(stream, json_string_value(json_object_get(doc, "key")),
                                                 op && !strcmp(op, "delete") ? CS_OP_DELETE : CS_OP_UPSERT,
                                                 json_incref(json_object_get(doc, "payload")), 0));
        json_decref(doc);
        emitted++;
    }
    free(buf);
    fclose(f);
    if (st == CS_OK && emitted)
        st = j->host->checkpoint(j->ctx, stream, json_pack("{s:I}", "line", (json_int_t)line));
    if (st != CS_OK)
        return st;
    return emitted == max_records ? CS_OK : CS_NODATA;
}

static void jsonl_destroy(void *inst)
{
    struct jsonl *j = inst;
    free(j->file);
    free(j);
}

static const cs_connector jsonl_source = {
    CS_HEAD(cs_connector),    .name = "jsonl-source",
    .version = "1.0",         .description = "test source: the records of a JSON-lines file",
    .caps = CS_CAP_SOURCE,    .settings = settings,
    .create = jsonl_create,   .read = jsonl_read,
    .destroy = jsonl_destroy,
};

static const cs_connector *const connectors[] = {&jsonl_source, NULL};

static const cs_plugin plugin = {
    CS_HEAD(cs_plugin),
    .name = "d365test",
    .version = "1.0",
    .connectors = connectors,
};

CS_PLUGIN_ENTRY(plugin)
