/*
 * core_options.h - for unit tests of a plugin loaded through the real loader: check options against a
 * component's option table with the core's checker, as `crmsyncd --check-config` does. The options
 * (YAML flow members) go into a scratch configuration file holding one connection "c", so errors read
 * "<file>:3:<col>: connections.c.<option>: ...". Include it once per test program.
 */
#ifndef CS_TEST_CORE_OPTIONS_H
#define CS_TEST_CORE_OPTIONS_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "config/config.h"
#include "host/loader.h"
#include "util/util.h"

/* The errors (new), one per line, or NULL when the options pass. */
static char *core_option_errors(const struct cs_component *c, const char *members)
{
    static const char *const skip[] = {"connector", NULL};
    char file[] = "/tmp/crmsync-options-XXXXXX";
    int fd = mkstemp(file);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    struct cs_config *cfg = NULL;
    json_t *resolved = NULL;
    char *err = NULL;

    if (!f)
        return cs_xstrdup("cannot write a scratch configuration in /tmp");
    fprintf(f, "plugins: []\nconnections:\n  c: {connector: x, %s}\n", members);
    fclose(f);
    if (cs_config_load(file, &cfg, &err) == 0)
        cs_config_plugin_options(cfg, "connections.c", cs_component_options(c), skip, &resolved, &err);
    json_decref(resolved);
    cs_config_free(cfg);
    unlink(file);
    return err;
}

#endif
