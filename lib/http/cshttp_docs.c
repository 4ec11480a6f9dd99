/*
 * cshttp_docs.c - the JSON answers (metadata documents) one instance of a connection read, kept 30 s
 * for the connection's other instances: the writers of a workflow start one after the other and each
 * would read the same documents again (one round trip each, at the service's latency), and a workflow
 * stopped and started again (the core keeps a connection's shared state a minute) would read them all
 * once more (21 restarts in 80 s spent Dataverse's 6,000 requests per 5 minutes). A document older
 * than the time to live is read again, so a schema change is seen by a start 30 s later at the most;
 * describe() always reads live, and a change made through the API (setup) forgets every document. One
 * mutex guards the set.
 */
#include <pthread.h>
#include <stdlib.h>

#include "cshttp.h"

#define DOC_TTL_MS 30000

struct cshttp_docs {
    pthread_mutex_t lock; /* guards docs */
    json_t *docs;         /* url -> {"at": monotonic ms, "doc": the answer} */
};

struct cshttp_docs *cshttp_docs_new(void)
{
    struct cshttp_docs *dc = calloc(1, sizeof *dc);
    if (!dc)
        return NULL;
    pthread_mutex_init(&dc->lock, NULL);
    if (!(dc->docs = json_object())) {
        cshttp_docs_free(dc);
        return NULL;
    }
    return dc;
}

void cshttp_docs_free(struct cshttp_docs *dc)
{
    if (!dc)
        return;
    json_decref(dc->docs);
    pthread_mutex_destroy(&dc->lock);
    free(dc);
}

json_t *cshttp_docs_find(struct cshttp_docs *dc, const char *url)
{
    json_t *entry, *doc = NULL;
    pthread_mutex_lock(&dc->lock);
    entry = json_object_get(dc->docs, url);
    if (entry && cshttp_mono_ms() - json_integer_value(json_object_get(entry, "at")) < DOC_TTL_MS)
        doc = json_incref(json_object_get(entry, "doc"));
    pthread_mutex_unlock(&dc->lock);
    return doc;
}

void cshttp_docs_keep(struct cshttp_docs *dc, const char *url, json_t *doc)
{
    const char *k;
    json_t *entry;
    void *tmp;
    int64_t now = cshttp_mono_ms();
    pthread_mutex_lock(&dc->lock);
    json_object_foreach_safe (dc->docs, tmp, k, entry) {
        if (now - json_integer_value(json_object_get(entry, "at")) >= DOC_TTL_MS)
            json_object_del(dc->docs, k);
    }
    json_object_set_new(dc->docs, url, json_pack("{s:I,s:O}", "at", (json_int_t)now, "doc", doc));
    pthread_mutex_unlock(&dc->lock);
}

void cshttp_docs_forget(struct cshttp_docs *dc)
{
    pthread_mutex_lock(&dc->lock);
    json_object_clear(dc->docs);
    pthread_mutex_unlock(&dc->lock);
}
