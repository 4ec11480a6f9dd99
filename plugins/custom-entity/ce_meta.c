/*
 * ce_meta.c - custom-entity's links checked against the live metadata of both sides (host->describe,
 * plugin ABI 1.2, only inside create()): each link column must be a lookup of the mapping's source
 * table to the parent mapping's table, and each link one of the target resource's links, pointing at
 * the resource the parent mapping writes. A side whose connector cannot describe (CS_NODATA) is not
 * checked; a describe that fails otherwise fails create() with the connector's reason.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ce.h"

/* CS_OK with *out (new), CS_NODATA when the side cannot say, or the describer's failure. */
static cs_status describe(struct ce *ce, const char *side, const char *stream, json_t **out)
{
    *out = NULL;
    if (ce->host->struct_size < offsetof(cs_host, describe) + sizeof ce->host->describe || !ce->host->describe ||
        !stream)
        return CS_NODATA;
    return ce->host->describe(ce->ctx, side, stream, out);
}

/* The names of the fields of `desc` carrying `member` (a link or a lookup), comma separated, for hints. */
static void names_with(const json_t *desc, const char *member, char *buf, size_t len)
{
    const char *name;
    json_t *f;
    size_t n = 0;
    buf[0] = '\0';
    json_object_foreach (json_object_get(desc, "fields"), name, f)
        if (json_object_get(f, member) && n + strlen(name) + 3 < len)
            n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? ", " : "", name);
    if (!n)
        snprintf(buf, len, "none");
}

/* Does the lookup field `f` point at `table`? */
static int looks_up(const json_t *f, const char *table)
{
    size_t i;
    json_t *t;
    if (ce_str(f, "lookup") && !strcmp(ce_str(f, "lookup"), table))
        return 1;
    json_array_foreach (json_object_get(f, "targets"), i, t)
        if (!strcmp(json_string_value(t), table))
            return 1;
    return 0;
}

static cs_status check_column(struct ce *ce, const char *name, size_t i, const struct ce_link *l, const json_t *src,
                              const json_t *parent)
{
    const json_t *fields = json_object_get(src, "fields");
    const json_t *f =
        json_object_get(fields, l->lookup) ? json_object_get(fields, l->lookup) : json_object_get(fields, l->column);
    char *pname = ce_mapping_name(parent), hint[512];
    json_t *pdesc = NULL;
    cs_status st = CS_OK;

    names_with(src, "lookup", hint, sizeof hint);
    if (!f) {
        ce->host->set_reason(ce->ctx, 0, -1,
                             "%s: links[%zu].column '%s' is not a column of Dynamics 365 table '%s'; name "
                             "one of its lookup columns (%s) in the custom-entity option links",
                             name, i, l->column, ce_str(src, "name"), hint);
        st = CS_FATAL;
    } else if (!ce_str(f, "lookup")) {
        ce->host->set_reason(ce->ctx, 0, -1,
                             "%s: links[%zu].column '%s' is a %s column of '%s', not a lookup; name the "
                             "lookup column that points at the parent's table (lookups: %s)",
                             name, i, l->column, ce_str(f, "native") ? ce_str(f, "native") : ce_str(f, "type"),
                             ce_str(src, "name"), hint);
        st = CS_FATAL;
    } else if ((st = describe(ce, "source", l->parent, &pdesc)) == CS_OK && ce_str(pdesc, "name") &&
               !looks_up(f, ce_str(pdesc, "name"))) {
        ce->host->set_reason(ce->ctx, 0, -1,
                             "%s: links[%zu].column '%s' looks up table '%s', but the parent %s reads "
                             "table '%s'; name the lookup column that points at '%s', or fix links[%zu].parent",
                             name, i, l->column, ce_str(f, "lookup"), pname ? pname : l->parent, ce_str(pdesc, "name"),
                             ce_str(pdesc, "name"), i);
        st = CS_FATAL;
    }
    json_decref(pdesc);
    free(pname);
    return st == CS_NODATA ? CS_OK : st;
}

static cs_status check_link(struct ce *ce, const char *name, size_t i, const struct ce_link *l, const json_t *tgt,
                            const json_t *parent)
{
    const json_t *f = json_object_get(json_object_get(tgt, "fields"), l->link);
    char *pname = ce_mapping_name(parent), hint[512];
    json_t *pdesc = NULL;
    cs_status st = CS_OK;

    names_with(tgt, "link", hint, sizeof hint);
    if (!ce_str(f, "link")) {
        ce->host->set_reason(ce->ctx, 0, -1,
                             "%s: links[%zu].link '%s' is not a link of Campaign resource '%s' (its links: "
                             "%s); name one of them, or add the link to the custom resource in Campaign and publish it",
                             name, i, l->link, ce_str(tgt, "name"), hint);
        st = CS_FATAL;
    } else if ((st = describe(ce, "target", ce_str(parent, "target"), &pdesc)) == CS_OK && ce_str(pdesc, "name") &&
               strcmp(ce_str(f, "link"), ce_str(pdesc, "name"))) {
        ce->host->set_reason(ce->ctx, 0, -1,
                             "%s: links[%zu].link '%s' points to Campaign resource '%s', but the parent %s "
                             "writes '%s'; name the link of '%s' to '%s', or fix links[%zu].parent",
                             name, i, l->link, ce_str(f, "link"), pname ? pname : l->parent, ce_str(pdesc, "name"),
                             ce_str(tgt, "name"), ce_str(pdesc, "name"), i);
        st = CS_FATAL;
    }
    json_decref(pdesc);
    free(pname);
    return st == CS_NODATA ? CS_OK : st;
}

cs_status ce_check_metadata(struct ce *ce, const json_t *element)
{
    char *name = ce_mapping_name(element);
    json_t *src = NULL, *tgt = NULL;
    cs_status st = describe(ce, "source", ce_str(element, "stream"), &src);

    if (st == CS_OK || st == CS_NODATA)
        st = describe(ce, "target", ce_str(element, "target"), &tgt);
    if (st == CS_NODATA)
        st = CS_OK;
    for (size_t i = 0; st == CS_OK && i < ce->nlinks; i++) {
        const json_t *parent = ce_element_of(ce->maps, ce->links[i].parent);
        if (src)
            st = check_column(ce, name ? name : "mapping", i, &ce->links[i], src, parent);
        if (st == CS_OK && tgt)
            st = check_link(ce, name ? name : "mapping", i, &ce->links[i], tgt, parent);
    }
    json_decref(src);
    json_decref(tgt);
    free(name);
    return st;
}
