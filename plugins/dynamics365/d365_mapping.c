/*
 * d365_mapping.c - what the workflow's mappings tell a dynamics365 connection (plugin ABI 1.2
 * mapping_streams): the core gives each mapping's element {"stream", "target", "mapping", "columns":
 * the source columns the mapping reads, "labels": choice columns as labels}. A mapped stream needs no
 * `tables` entry: when tables.<stream>.columns is absent and the connection does not write the
 * mapping's target (tables.<target>), the element's columns are the ones read, and "labels": true
 * reads every choice column as its label unless tables.<stream>.labels says otherwise. The columns
 * are checked against the table when start() describes it, like configured ones. The ABI does not say
 * which side of the workflow an instance serves: a mapping whose target the connection writes is not
 * read, and describe() answers for a mapping's stream or target only on the side this connection has.
 */
#include <stdlib.h>
#include <string.h>

#include "d365.h"

static int has_mapping_streams(const struct d365 *d)
{
    return d->host->struct_size >= offsetof(cs_host, mapping_streams) + sizeof d->host->mapping_streams &&
           d->host->mapping_streams;
}

/* The non-empty strings of `columns`, each once (new array; NULL when none). */
static json_t *column_list(const json_t *columns)
{
    json_t *out = json_array(), *c;
    size_t i;
    json_array_foreach (columns, i, c) {
        const char *name = json_string_value(c);
        int seen = 0;
        for (size_t j = 0; name && !seen && j < json_array_size(out); j++)
            seen = !strcmp(name, json_string_value(json_array_get(out, j)));
        if (name && *name && !seen)
            json_array_append(out, c);
    }
    if (json_array_size(out) == 0) {
        json_decref(out);
        return NULL;
    }
    return out;
}

cs_status d365_mapped_tables(struct d365 *d)
{
    json_t *maps, *m;
    size_t i;
    cs_status st = CS_OK;
    if (!has_mapping_streams(d))
        return CS_OK;
    maps = d->host->mapping_streams(d->ctx);
    json_array_foreach (maps, i, m) {
        const char *stream = json_string_value(json_object_get(m, "stream"));
        const char *target = json_string_value(json_object_get(m, "target"));
        json_t *columns = column_list(json_object_get(m, "columns"));
        struct d365_table *t = NULL;
        if (!stream || !columns || (target && strcmp(target, stream) && d365_table_for(d, target, 0)) ||
            ((t = d365_table_for(d, stream, 0)) && t->columns)) {
            json_decref(columns);
            continue; /* not a mapping this connection reads, or `tables` says what to read */
        }
        if (!t && !(t = d365_table_for(d, stream, 1))) {
            json_decref(columns);
            d->host->set_reason(d->ctx, 0, -1, "out of memory");
            st = CS_RETRY;
            break;
        }
        t->columns = columns;
        t->mapped = 1;
        if (!t->labels && json_is_true(json_object_get(m, "labels")))
            t->labels = json_true();
    }
    json_decref(maps);
    return st;
}

int d365_mapping_names(struct d365 *d, const char *stream)
{
    json_t *maps, *m;
    size_t i;
    int found = 0;
    if (!has_mapping_streams(d))
        return 0;
    maps = d->host->mapping_streams(d->ctx);
    json_array_foreach (maps, i, m) {
        const char *s = json_string_value(json_object_get(m, "stream")),
                   *t = json_string_value(json_object_get(m, "target"));
        const struct d365_table *read = s ? d365_table_for(d, s, 0) : NULL;
        if (s && !strcmp(s, stream) && !(t && d365_table_for(d, t, 0)))
            found = 1; /* the mapping's source, unless this connection writes its target */
        if (t && !strcmp(t, stream) && !(read && read->columns))
            found = 1; /* the mapping's destination, unless this connection reads its source */
    }
    json_decref(maps);
    return found;
}
