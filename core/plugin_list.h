/*
 * plugin_list.h - the text of `crmsyncd --list-plugins`, generated from the loaded descriptors and
 * their option tables (secrets are marked, never shown).
 */
#ifndef CS_PLUGIN_LIST_H
#define CS_PLUGIN_LIST_H

#include <stdio.h>

struct cs_registry;

void cs_plugin_list_print(const struct cs_registry *reg, FILE *out);

#endif
