/*
 * loader_options.c - reads a component's option table into the core's shape (see loader_options.h).
 * A cs_setting table is walked by the size its first element states, each element copied up to that
 * size into a zeroed cs_setting of this core; a 1.0 cs_option table keeps its fixed layout.
 */
#include "loader_options.h"

#include <stdlib.h>
#include <string.h>

#include "util/util.h"

static const char *const type_words[] = {"string", "int", "bool", "duration", "list", "json"};

const char *cs_option_type_name(cs_option_type type)
{
    return (unsigned)type < sizeof type_words / sizeof *type_words ? type_words[type] : "?";
}

/* Element i of a table whose elements are `stride` bytes. */
static const cs_setting *element(const cs_setting *table, size_t stride, size_t i)
{
    return (const cs_setting *)(const void *)((const char *)table + i * stride);
}

/* What is wrong with option `s` (new), or NULL. */
static char *option_defect(const cs_setting *s)
{
    int ranged = s->min != 0 || s->max != 0;
    if ((unsigned)s->type > CS_OPT_JSON)
        return cs_xasprintf("has the unknown type %d", (int)s->type);
    if (ranged && s->min >= s->max)
        return cs_xasprintf("has min %lld not below its max %lld", (long long)s->min, (long long)s->max);
    if (ranged && s->type != CS_OPT_INT && s->type != CS_OPT_DURATION)
        return cs_xasprintf("has type %s and states a range: only int and duration options have one",
                            cs_option_type_name(s->type));
    if (s->choices && s->type != CS_OPT_STRING)
        return cs_xasprintf("has type %s and lists choices: only string options have them",
                            cs_option_type_name(s->type));
    if (s->choices && !s->choices[0])
        return cs_xstrdup("lists no choices (NULL choices accepts any string)");
    return NULL;
}

static cs_setting *from_settings(const char *where, const cs_setting *table, char **err)
{
    size_t stride = table[0].struct_size, n = 0;
    cs_setting *out;

    if (!table[0].name)
        return cs_xcalloc(1, sizeof *out);
    if (stride < CS_SETTING_SIZE_1_4) {
        *err = cs_xasprintf("%s: its settings are %zu bytes each, shorter than ABI %d.4's %zu: begin every element "
                            "with CS_SETTING_HEAD",
                            where, stride, CS_ABI_MAJOR, (size_t)CS_SETTING_SIZE_1_4);
        return NULL;
    }
    if (stride % _Alignof(cs_setting)) {
        *err = cs_xasprintf("%s: its settings are %zu bytes each, not a size a cs_setting can have: begin every "
                            "element with CS_SETTING_HEAD",
                            where, stride);
        return NULL;
    }
    while (element(table, stride, n)->name)
        n++;
    out = cs_xcalloc(n + 1, sizeof *out);
    for (size_t i = 0; i < n; i++) {
        const cs_setting *s = element(table, stride, i);
        char *defect = s->struct_size != stride
                           ? cs_xasprintf("is %u bytes, the first option %zu: begin every element with "
                                          "CS_SETTING_HEAD",
                                          (unsigned)s->struct_size, stride)
                           : NULL;
        memcpy(&out[i], s, stride < sizeof *out ? stride : sizeof *out);
        out[i].struct_size = sizeof *out;
        if (defect || (defect = option_defect(&out[i]))) {
            *err = cs_xasprintf("%s: option \"%s\" %s", where, s->name, defect);
            free(defect);
            free(out);
            return NULL;
        }
    }
    return out;
}

static cs_setting *from_options(const cs_option *table)
{
    size_t n = 0;
    cs_setting *out;

    while (table && table[n].name)
        n++;
    out = cs_xcalloc(n + 1, sizeof *out);
    for (size_t i = 0; i < n; i++)
        out[i] = (cs_setting){.struct_size = sizeof *out,
                              .name = table[i].name,
                              .type = table[i].type,
                              .flags = table[i].flags,
                              .default_value = table[i].default_value,
                              .help = table[i].help};
    return out;
}

cs_setting *cs_loader_options(const char *path, const char *what, const char *name, const cs_option *options,
                              const cs_setting *settings, char **err)
{
    char *where = cs_xasprintf("%s: %s \"%s\"", path, what, name);
    cs_setting *out = NULL;

    *err = NULL;
    if (options && settings)
        *err = cs_xasprintf("%s gives both options (ABI 1.0) and settings (ABI 1.4): keep settings, set options to "
                            "NULL",
                            where);
    else
        out = settings ? from_settings(where, settings, err) : from_options(options);
    free(where);
    return out;
}
