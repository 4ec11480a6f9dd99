/*
 * acs_ahead.c - the journal page after the one just read, requested while that one is emitted and
 * committed, so that the streams of email events wait for the journal's latency once per page instead
 * of twice. The journal's Link rel="next" of the last few pages read is kept with the position each
 * page ended at: a stream whose cursor stands there continues from the link, as Adobe recommends (so
 * the streams, which take turns one page apart, ask for the same URLs and share the pages), and the
 * request started for the newest link is answered from the read ahead. One page ahead per instance,
 * on a client of its own; best effort (a page that could not be read ahead is read when it is needed).
 */
#include <stdlib.h>
#include <string.h>

#include "campaign.h"

static void forget_link(struct acs_link *l)
{
    free(l->since);
    free(l->url);
    l->since = l->url = NULL;
}

char *acs_ahead_link(const struct acs *a, const char *since)
{
    for (size_t i = 0; since && i < ACS_AHEAD_LINKS; i++)
        if (a->ahead.links[i].since && strcmp(a->ahead.links[i].since, since) == 0)
            return strdup(a->ahead.links[i].url);
    return NULL;
}

void acs_ahead_start(struct acs *a, const char *since, const char *url)
{
    struct acs_ahead *h = &a->ahead;
    struct acs_link *l = &h->links[h->newest = (h->newest + 1) % ACS_AHEAD_LINKS];
    cshttp_pending_free(h->call);
    h->call = NULL;
    forget_link(l);
    if (!since || !url || (!h->http && !(h->http = cshttp_client_new(&a->http_opts))))
        return;
    if (!(l->since = strdup(since)) || !(l->url = strdup(url))) {
        forget_link(l);
        return;
    }
    h->call = acs_call_start(a, h->http, l->url);
}

int acs_ahead_take(struct acs *a, const char *url, struct cshttp_response *r, cs_status *st)
{
    struct acs_ahead *h = &a->ahead;
    if (!h->call || strcmp(h->links[h->newest].url, url) != 0)
        return 0;
    *st = acs_call_finish(a, h->call, r);
    h->call = NULL;
    a->host->metric_add(a->ctx, "acs_journal_pages_read_ahead", 1);
    return 1;
}

void acs_ahead_free(struct acs_ahead *h)
{
    cshttp_pending_free(h->call);
    h->call = NULL;
    for (size_t i = 0; i < ACS_AHEAD_LINKS; i++)
        forget_link(&h->links[i]);
    cshttp_client_free(h->http);
    h->http = NULL;
}
