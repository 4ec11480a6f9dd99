/*
 * config_text.c - key paths ("workflows[0].mappings[1].key") and their file:line:col, the error texts
 * every part of the configuration builds, and relative paths taken from the configuration's directory.
 */
#include "config_internal.h"

#include <stdlib.h>
#include <string.h>

#include "util/util.h"

/* "file:line:col: path", or "file:line:col" for the root. New string. */
char *cs_cfg_format_at(const char *file, long long line, long long col, const char *path)
{
    return *path ? cs_xasprintf("%s:%lld:%lld: %s", file, line, col, path)
                 : cs_xasprintf("%s:%lld:%lld", file, line, col);
}

/* The key path of member `key` of the object at `path`. New string. */
char *cs_cfg_child_path(const char *path, const char *key)
{
    return *path ? cs_xasprintf("%s.%s", path, key) : cs_xstrdup(key);
}

/* Line recorded for exactly `path`, 0 when none. */
long long cs_cfg_line_at(const json_t *positions, const char *path)
{
    return json_integer_value(json_array_get(json_object_get(positions, path), 0));
}

/* Append `line` (steals) to the newline-separated `*text`. */
void cs_cfg_add_line(char **text, char *line)
{
    char *joined;
    if (!*text) {
        *text = line;
        return;
    }
    joined = cs_xasprintf("%s\n%s", *text, line);
    free(*text);
    free(line);
    *text = joined;
}

int cs_cfg_listed(const char *const *list, const char *key)
{
    for (; list && *list; list++)
        if (strcmp(*list, key) == 0)
            return 1;
    return 0;
}

/* The file a position belongs to: its third element (a conf.d file), else the main file. */
const char *cs_cfg_position_file(const struct cs_config *cfg, const json_t *pos)
{
    const char *file = json_string_value(json_array_get(pos, 2));
    return file ? file : cfg->path;
}

char *cs_config_path(const struct cs_config *cfg, const char *p)
{
    if (!p || p[0] == '/' || !cfg->dir)
        return cs_xstrdup(p ? p : "");
    return cs_xasprintf("%s%s%s", cfg->dir, strcmp(cfg->dir, "/") == 0 ? "" : "/", p);
}

char *cs_config_where(const struct cs_config *cfg, const char *path)
{
    char *p = cs_xstrdup(path);
    const json_t *pos;

    /* the nearest ancestor with a position: "a.b[2].c" -> "a.b[2]" -> "a.b" -> "a" -> "" */
    while (!(pos = json_object_get(cfg->positions, p)) && *p) {
        size_t n = strlen(p);
        while (n > 0 && p[n - 1] != '.' && p[n - 1] != '[')
            n--;
        p[n ? n - 1 : 0] = '\0';
    }
    free(p);
    if (!pos)
        return *path ? cs_xasprintf("%s: %s", cfg->path, path) : cs_xstrdup(cfg->path);
    return cs_cfg_format_at(cs_cfg_position_file(cfg, pos), json_integer_value(json_array_get(pos, 0)),
                            json_integer_value(json_array_get(pos, 1)), path);
}
