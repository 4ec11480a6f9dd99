/*
 * plugin_list.h - the text of `crmsyncd --list-plugins` and its JSON form (`--list-plugins=json`, read by
 * the crmsync.conf(5) drift check), generated from the loaded descriptors and their option tables
 * (secrets are marked, never shown).
 */
#ifndef CS_PLUGIN_LIST_H
#define CS_PLUGIN_LIST_H

#include <stdio.h>

struct cs_registry;

void cs_plugin_list_print(const struct cs_registry *reg, FILE *out);
/* {"plugins": [{name, version, abi, path, components: [{kind, name, caps, description,
 *   options: [{name, type, required, secret, default, help}]}]}]}, one document. */
void cs_plugin_list_print_json(const struct cs_registry *reg, FILE *out);

#endif
