/*
 * ce.h - internals shared by the files of custom-entity.so: the handler instance (its links and
 * guardrails, the workflow's mappings), the link chain of the workflow's mappings (ce_chain.c) and
 * the checks against both sides' live metadata (ce_meta.c). Nothing here crosses the plugin boundary.
 */
#ifndef CE_H
#define CE_H

#include <stddef.h>

#include <crmsync/plugin.h>

#define CE_NAME "custom-entity"

/* The string member `name` of `o` (borrowed), or NULL. */
static inline const char *ce_str(const json_t *o, const char *name)
{
    return json_string_value(json_object_get(o, name));
}

/* One entry of option `links`. */
struct ce_link {
    char *column; /* as configured: _new_contact_value or new_contact */
    char *lookup; /* the lookup's logical name (new_contact) */
    char *value;  /* the payload member the source writes (_new_contact_value) */
    char *parent; /* the stream of the parent mapping */
    char *link;   /* the Campaign link name on this mapping's target resource */
};

struct ce {
    const cs_host *host;
    cs_ctx *ctx;
    struct ce_link *links;
    size_t nlinks;
    long max_links, max_depth, max_columns;
    json_t *maps; /* the workflow's mappings (host->mapping_streams), for order() */
};

/* ---- ce_chain.c: the mappings of the workflow and their link chains ------------------------------ */

/* The custom-entity links of a mapping_streams element (borrowed; NULL when it has none). */
const json_t *ce_element_links(const json_t *element);
/* The element whose stream is `stream` (borrowed), or NULL. */
const json_t *ce_element_of(const json_t *maps, const char *stream);
/* The elements whose mapping invokes this handler with these options (new array): normally one; all of
 * them when several mappings carry the very same custom-entity options (`table`: this handler's option
 * table, whose defaults stand for options the definition leaves out). */
json_t *ce_self_elements(const json_t *maps, const json_t *options, const cs_setting *table);
/* "mapping <stream> -> <target>" of an element, for messages (new string). */
char *ce_mapping_name(const json_t *element);
/* Tables in the longest link chain that ends at `element` (1: no parent), following each parent's own
 * custom-entity links; *chain (new) spells it "grandparent -> parent -> stream". -1 on a cycle (the
 * cycle is in *chain). */
int ce_chain_depth(const json_t *maps, const json_t *element, char **chain);
/* The number of columns a mapping maps: its "columns", else the fields of its map stages; -1 unknown. */
long ce_mapped_columns(const json_t *element);

/* ---- ce_meta.c: links checked against the live metadata of both sides ---------------------------- */

/* Each link column is a lookup of the source table to the parent mapping's table; each link is one of
 * the target resource's, pointing at the parent mapping's target resource. Checks a side only when its
 * connector can describe it. CS_FATAL (reason set) naming the mapping, the option and the fix. */
cs_status ce_check_metadata(struct ce *ce, const json_t *element);

#endif
