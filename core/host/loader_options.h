/*
 * loader_options.h - a component's option table as the core keeps it: whichever table the plugin gave
 * (cs_option of ABI 1.0 or cs_setting of ABI 1.4), checked and copied into cs_setting elements of this
 * core's size, so that the rest of the core reads one shape (ranges and choices zero for 1.0 tables).
 */
#ifndef CS_LOADER_OPTIONS_H
#define CS_LOADER_OPTIONS_H

#include <crmsync/plugin.h>

/* The size of a cs_setting element as ABI 1.4 defined it: shorter ones are refused. */
#define CS_SETTING_SIZE_1_4 (offsetof(cs_setting, choices) + sizeof(((cs_setting *)0)->choices))

/*
 * The table of component `name` (a `what`: "connector", ...) of the plugin file `path`: from `settings`
 * when given, else from `options`; neither means no options. A new array ending with a NULL name, or
 * NULL with *err (new) naming the file, the component, the option and the defect.
 */
/* "string", "int", "bool", "duration", "list", "json"; "?" for a type this core does not know. */
const char *cs_option_type_name(cs_option_type type);

cs_setting *cs_loader_options(const char *path, const char *what, const char *name, const cs_option *options,
                              const cs_setting *settings, char **err);

#endif
