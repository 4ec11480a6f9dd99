/*
 * dropins.c - conf.d: the drop-in files beside the configuration, merged into it in name order, each
 * position keeping the file it came from.
 */
#include "config_internal.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

/* Move the positions of a drop-in document into the main ones: "workflows[i]..." becomes
 * "workflows[i + offset]...", every position names the drop-in file. */
static void merge_positions(json_t *into, const json_t *from, const char *file, size_t workflow_offset)
{
    const char *key;
    json_t *pos;
    json_object_foreach ((json_t *)from, key, pos) {
        char *moved;
        size_t i;
        int n = 0;
        if (sscanf(key, "workflows[%zu]%n", &i, &n) == 1 && n > 0)
            moved = cs_xasprintf("workflows[%zu]%s", i + workflow_offset, key + n);
        else
            moved = cs_xstrdup(key);
        /* what the main file has already (the top-level keys, its plugins[i]) keeps the main file's position */
        if (!json_object_get(into, moved))
            json_object_set_new(into, moved,
                                json_pack("[O, O, s]", json_array_get(pos, 0), json_array_get(pos, 1), file));
        free(moved);
    }
}

/* Add one drop-in document to the main one: its plugins (once each), connections (a name defined twice
 * is an error) and workflows (appended); nothing else may be in it. */
static void merge_dropin(struct checker *c, json_t *doc, const json_t *drop, const json_t *positions, const char *file)
{
    static const char *const allowed[] = {"plugins", "connections", "workflows", NULL};
    const char *key;
    json_t *v;
    size_t offset = json_array_size(json_object_get(doc, "workflows"));
    json_object_foreach ((json_t *)drop, key, v) {
        if (!cs_cfg_listed(allowed, key)) {
            char *at = cs_cfg_format_at(file, cs_cfg_line_at(positions, key), 1, key);
            cs_cfg_add_line(&c->errors, cs_xasprintf("%s: a conf.d file holds only plugins, connections and workflows; "
                                                     "move this to %s",
                                                     at, c->cfg->path));
            free(at);
            return;
        }
    }
    json_object_foreach ((json_t *)drop, key, v) {
        json_t *mine = json_object_get(doc, key);
        if (!mine) {
            json_object_set(doc, key, v);
            continue;
        }
        if (json_is_array(mine) && json_is_array(v) && strcmp(key, "plugins") == 0) {
            size_t i;
            json_t *p;
            json_array_foreach (v, i, p) {
                int seen = 0;
                for (size_t j = 0; j < json_array_size(mine); j++)
                    seen |= json_equal(json_array_get(mine, j), p);
                if (!seen)
                    json_array_append(mine, p);
            }
        } else if (json_is_array(mine) && json_is_array(v)) {
            json_array_extend(mine, v);
        } else if (json_is_object(mine) && json_is_object(v)) {
            const char *name;
            json_t *conn;
            json_object_foreach (v, name, conn) {
                char *child = cs_xasprintf("%s.%s", key, name);
                if (json_object_get(mine, name)) {
                    char *at = cs_cfg_format_at(file, cs_cfg_line_at(positions, child), 3, child),
                         *first = cs_cfg_first_at(c->cfg, child);
                    cs_cfg_add_line(&c->errors, cs_xasprintf("%s: defined already (first at %s)", at, first));
                    free(at);
                    free(first);
                } else {
                    json_object_set(mine, name, conn);
                }
                free(child);
            }
        } else {
            char *at = cs_cfg_format_at(file, cs_cfg_line_at(positions, key), 1, key);
            cs_cfg_add_line(&c->errors, cs_xasprintf("%s: must be a %s, as in %s", at,
                                                     json_is_array(mine) ? "list" : "mapping", c->cfg->path));
            free(at);
        }
    }
    merge_positions(c->cfg->positions, positions, file, offset);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The *.conf files of the conf.d directory beside the configuration file, in name order, merged into
 * `doc`. A missing directory is no error. 0, or the number of problems (reported). */
int cs_cfg_merge_dropins(struct checker *c, const char *path, json_t *doc)
{
    char *dir = cs_xasprintf("%.*s%sconf.d", (int)(strrchr(path, '/') ? strrchr(path, '/') - path + 1 : 0), path,
                             strrchr(path, '/') ? "" : "./");
    DIR *d = opendir(dir);
    struct dirent *e;
    char **names = NULL;
    size_t n = 0, cap = 0;
    int problems = 0;
    while (d && (e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.' || len < 6 || strcmp(e->d_name + len - 5, ".conf") != 0)
            continue;
        if (n == cap && !(names = realloc(names, (cap = cap ? cap * 2 : 8) * sizeof *names)))
            abort();
        names[n++] = cs_xasprintf("%s/%s", dir, e->d_name);
    }
    if (d)
        closedir(d);
    if (n)
        qsort(names, n, sizeof *names, by_name);
    for (size_t i = 0; i < n; i++) {
        size_t len;
        char *err = NULL, *text = cs_read_file(names[i], CONFIG_MAX, &len, &err);
        json_t *positions = json_object(),
               *drop = text ? cs_cfg_parse_text(text, len, names[i], positions, &err) : NULL;
        if (drop && !json_is_object(drop))
            err = cs_xasprintf("%s: the top level must be a mapping", names[i]);
        if (err) {
            cs_cfg_add_line(&c->errors, err);
            problems++;
        } else if (drop) {
            merge_dropin(c, doc, drop, positions, names[i]);
        }
        json_decref(drop);
        json_decref(positions);
        free(text);
        free(names[i]);
    }
    free(names);
    free(dir);
    return problems + (c->errors != NULL);
}
