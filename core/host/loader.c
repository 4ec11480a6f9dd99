/*
 * loader.c - finds, opens and validates plugins; keeps the registry of their connectors, entity
 * handlers and stages (see loader.h). The only module that touches libltdl (and dlopen, only to tell
 * the operator why libltdl could not load a file).
 *
 * Checks, in order, each refusal naming the file and the cause: the file exists and is not
 * world-writable; it opens (its libraries resolve); it exports cs_plugin_entry; the entry accepts this
 * core; every descriptor has the magic, our ABI major, a minor no newer than ours and a struct_size
 * covering ABI 1.0; names are unique across all loaded plugins; required callbacks are present; the
 * option table is sound (loader_options.c).
 */
#include "loader.h"

#include <dlfcn.h>
#include <errno.h>
#include <ltdl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "loader_options.h"
#include "shared.h"
#include "util/util.h"

/* Sizes of the descriptors as ABI 1.0 defined them, up to the end of their last 1.0 member: smaller
 * ones are refused. Members appended later do not move them. */
#define END_OF(type, member) (offsetof(type, member) + sizeof(((type *)0)->member))
#define SIZE_1_0_PLUGIN      END_OF(cs_plugin, stages)
#define SIZE_1_0_CONNECTOR   END_OF(cs_connector, destroy)
#define SIZE_1_0_ENTITY      END_OF(cs_entity, destroy)
#define SIZE_1_0_STAGE       END_OF(cs_stage, destroy)

/* Pinned: plugins already built were measured against these sizes, so a change of plugin.h that moves
 * one (a member inserted, removed or retyped before the end) fails the build. LP64 and ILP32 values. */
#if UINTPTR_MAX > UINT32_MAX
#define PINNED(lp64, ilp32) (lp64)
#else
#define PINNED(lp64, ilp32) (ilp32)
#endif
_Static_assert(SIZE_1_0_PLUGIN == PINNED(56, 32), "cs_plugin's ABI 1.0 layout changed: that is a major bump");
_Static_assert(SIZE_1_0_CONNECTOR == PINNED(112, 60), "cs_connector's ABI 1.0 layout changed: a major bump");
_Static_assert(SIZE_1_0_ENTITY == PINNED(80, 44), "cs_entity's ABI 1.0 layout changed: that is a major bump");
_Static_assert(SIZE_1_0_STAGE == PINNED(72, 40), "cs_stage's ABI 1.0 layout changed: that is a major bump");
_Static_assert(CS_SETTING_SIZE_1_4 == PINNED(64, 44), "cs_setting's ABI 1.4 layout changed: a major bump");

struct head {
    CS_HEAD_FIELDS;
};

static const char *const kind_names[] = {"connector", "entity handler", "stage"};

struct cs_registry *cs_registry_new(void)
{
    struct cs_registry *reg = cs_xcalloc(1, sizeof *reg);
    reg->ltdl_ready = lt_dlinit() == 0;
    return reg;
}

static void component_free(struct cs_component *c)
{
    if (c)
        free(c->settings);
    free(c);
}

void cs_registry_free(struct cs_registry *reg)
{
    if (!reg)
        return;
    cs_shared_flush(); /* what the plugins' connections share lingers: released while their code is loaded */
    for (size_t i = 0; i < reg->n_components; i++)
        component_free(reg->components[i]);
    for (size_t i = 0; i < reg->n_plugins; i++) {
        lt_dlclose(reg->plugins[i]->handle);
        free(reg->plugins[i]->path);
        free(reg->plugins[i]);
    }
    if (reg->ltdl_ready)
        lt_dlexit();
    free(reg->components);
    free(reg->plugins);
    free(reg);
}

const char *cs_component_name(const struct cs_component *c)
{
    switch (c->kind) {
    case CS_KIND_CONNECTOR:
        return c->u.connector.name;
    case CS_KIND_ENTITY:
        return c->u.entity.name;
    default:
        return c->u.stage.name;
    }
}

const cs_setting *cs_component_options(const struct cs_component *c)
{
    return c->settings;
}

/* The option table of `c` into c->settings: the ABI 1.0 `options` or the 1.4 `settings` it gives. */
static char *read_options(const char *path, struct cs_component *c)
{
    const cs_option *options = c->kind == CS_KIND_CONNECTOR ? c->u.connector.options
                               : c->kind == CS_KIND_ENTITY  ? c->u.entity.options
                                                            : c->u.stage.options;
    const cs_setting *settings = c->kind == CS_KIND_CONNECTOR ? c->u.connector.settings
                                 : c->kind == CS_KIND_ENTITY  ? c->u.entity.settings
                                                              : c->u.stage.settings;
    char *err = NULL;
    c->settings = cs_loader_options(path, kind_names[c->kind], cs_component_name(c), options, settings, &err);
    return err;
}

const struct cs_component *cs_registry_find(const struct cs_registry *reg, enum cs_component_kind kind,
                                            const char *name)
{
    for (size_t i = 0; name && i < reg->n_components; i++) {
        const struct cs_component *c = reg->components[i];
        if (c->kind == kind && strcmp(cs_component_name(c), name) == 0)
            return c;
    }
    return NULL;
}

char *cs_registry_names(const struct cs_registry *reg, enum cs_component_kind kind)
{
    char *out = cs_xstrdup("");
    for (size_t i = 0; i < reg->n_components; i++) {
        char *next;
        if (reg->components[i]->kind != kind)
            continue;
        next = cs_xasprintf("%s%s%s", out, *out ? ", " : "", cs_component_name(reg->components[i]));
        free(out);
        out = next;
    }
    return out;
}

/* ---- finding the file ------------------------------------------------------------------------- */

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* The file to open for `name` (new), or NULL with *err set. */
static char *resolve(const char *plugin_dir, const char *name, char **err)
{
    static const char *const exts[] = {".la", ".so", ""};
    char *tried = cs_xstrdup("");
    if (strchr(name, '/')) {
        if (name[0] != '/') {
            *err = cs_xasprintf("plugin \"%s\": a plugin path must be absolute, or a short name found in "
                                "plugin_dir",
                                name);
            free(tried);
            return NULL;
        }
        if (file_exists(name)) {
            free(tried);
            return cs_xstrdup(name);
        }
        *err = cs_xasprintf("plugin %s: no such file", name);
        free(tried);
        return NULL;
    }
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
        char *path = cs_xasprintf("%s/%s%s", plugin_dir, name, exts[i]), *next;
        if (file_exists(path)) {
            free(tried);
            return path;
        }
        if (*exts[i]) {
            next = cs_xasprintf("%s%s%s", tried, *tried ? ", " : "", path);
            free(tried);
            tried = next;
        }
        free(path);
    }
    *err = cs_xasprintf("plugin \"%s\": not found in plugin_dir %s (tried %s); is the plugin package "
                        "installed?",
                        name, plugin_dir, tried);
    free(tried);
    return NULL;
}

/* The shared object a libtool archive points at, for permission checks: ".libs/x.so" beside x.la,
 * or the path itself. New string. */
static char *shared_object_of(const char *path)
{
    size_t len = strlen(path);
    const char *slash;
    if (len < 3 || strcmp(path + len - 3, ".la") != 0)
        return cs_xstrdup(path);
    slash = strrchr(path, '/');
    return cs_xasprintf("%.*s.libs/%.*s.so", (int)(slash ? slash - path + 1 : 0), path,
                        (int)(len - 3 - (slash ? (size_t)(slash - path + 1) : 0)), slash ? slash + 1 : path);
}

static char *check_permissions(const char *path)
{
    struct stat st;
    char *so = shared_object_of(path), *err = NULL;
    if (stat(so, &st) == 0 && (st.st_mode & S_IWOTH))
        err = cs_xasprintf("%s: refused: the file is writable by anyone (mode %04o); run: chmod o-w %s", so,
                           (unsigned)(st.st_mode & 07777), so);
    free(so);
    return err;
}

/* ---- validating descriptors -------------------------------------------------------------------- */

static char *check_head(const char *path, const char *what, const void *desc, size_t size_1_0)
{
    const struct head *h = desc;
    if (!desc)
        return cs_xasprintf("%s: the %s descriptor is NULL", path, what);
    if (h->magic != CS_MAGIC)
        return cs_xasprintf("%s: the %s descriptor has a bad magic number (0x%08x): not a crmsync plugin, "
                            "or built against a garbled header",
                            path, what, (unsigned)h->magic);
    if (h->abi_major != CS_ABI_MAJOR)
        return cs_xasprintf("%s: the %s was built for crmsync plugin ABI %u.%u, this crmsyncd speaks ABI "
                            "%d.x; rebuild the plugin against this version's SDK",
                            path, what, h->abi_major, h->abi_minor, CS_ABI_MAJOR);
    if (h->abi_minor > CS_ABI_MINOR)
        return cs_xasprintf("%s: the %s needs crmsync plugin ABI %u.%u, newer than this crmsyncd's %d.%d; "
                            "upgrade crmsyncd or use a plugin built for %d.%d",
                            path, what, h->abi_major, h->abi_minor, CS_ABI_MAJOR, CS_ABI_MINOR, CS_ABI_MAJOR,
                            CS_ABI_MINOR);
    if (h->struct_size < size_1_0)
        return cs_xasprintf("%s: the %s descriptor is %u bytes, shorter than ABI %d.0's %zu: a truncated "
                            "or mismatched header",
                            path, what, (unsigned)h->struct_size, CS_ABI_MAJOR, size_1_0);
    return NULL;
}

/* Copy what the plugin's struct_size covers into a zeroed core-side struct. */
static void copy_desc(void *dst, size_t dst_size, const void *src)
{
    const struct head *h = src;
    memset(dst, 0, dst_size);
    memcpy(dst, src, h->struct_size < dst_size ? h->struct_size : dst_size);
}

static char *missing_callback(const char *path, const char *what, const char *name, const char *callback)
{
    return cs_xasprintf("%s: %s \"%s\" lacks the required callback %s()", path, what, name ? name : "?", callback);
}

static char *check_callbacks(const char *path, const struct cs_component *c)
{
    const char *what = kind_names[c->kind], *name = cs_component_name(c);
    if (!name || !*name)
        return cs_xasprintf("%s: a %s has no name", path, what);
    switch (c->kind) {
    case CS_KIND_CONNECTOR: {
        const cs_connector *k = &c->u.connector;
        if (!(k->caps & (CS_CAP_SOURCE | CS_CAP_SINK)))
            return cs_xasprintf("%s: connector \"%s\" declares neither CS_CAP_SOURCE nor CS_CAP_SINK", path, name);
        if (!k->create)
            return missing_callback(path, what, name, "create");
        if (!k->destroy)
            return missing_callback(path, what, name, "destroy");
        if ((k->caps & CS_CAP_SOURCE) && !k->read)
            return missing_callback(path, what, name, "read");
        if ((k->caps & CS_CAP_SINK) && !k->write)
            return missing_callback(path, what, name, "write");
        return NULL;
    }
    case CS_KIND_ENTITY:
        if (!c->u.entity.create)
            return missing_callback(path, what, name, "create");
        if (!c->u.entity.prepare)
            return missing_callback(path, what, name, "prepare");
        if (!c->u.entity.destroy)
            return missing_callback(path, what, name, "destroy");
        return NULL;
    default:
        if (!c->u.stage.create)
            return missing_callback(path, what, name, "create");
        if (!c->u.stage.apply)
            return missing_callback(path, what, name, "apply");
        if (!c->u.stage.destroy)
            return missing_callback(path, what, name, "destroy");
        return NULL;
    }
}

/* Validate and copy the components of one kind into `out` (appended at *n). */
static char *collect(const char *path, const struct cs_loaded_plugin *lp, enum cs_component_kind kind,
                     const void *const *list, size_t size_1_0, struct cs_component **out, size_t *n)
{
    for (size_t i = 0; list && list[i]; i++) {
        struct cs_component *c = cs_xcalloc(1, sizeof *c);
        char *err = check_head(path, kind_names[kind], list[i], size_1_0);
        c->kind = kind;
        c->plugin = lp;
        out[(*n)++] = c;
        if (err)
            return err;
        copy_desc(&c->u,
                  kind == CS_KIND_CONNECTOR ? sizeof(cs_connector)
                  : kind == CS_KIND_ENTITY  ? sizeof(cs_entity)
                                            : sizeof(cs_stage),
                  list[i]);
        if ((err = check_callbacks(path, c)) || (err = read_options(path, c)))
            return err;
    }
    return NULL;
}

static size_t list_length(const void *const *list)
{
    size_t n = 0;
    while (list && list[n])
        n++;
    return n;
}

static char *check_unique(const struct cs_registry *reg, const char *path, const struct cs_loaded_plugin *lp,
                          struct cs_component *const *fresh, size_t n)
{
    for (size_t i = 0; i < reg->n_plugins; i++)
        if (strcmp(reg->plugins[i]->desc.name, lp->desc.name) == 0)
            return cs_xasprintf("%s: a plugin named \"%s\" is already loaded from %s; list each plugin once", path,
                                lp->desc.name, reg->plugins[i]->path);
    for (size_t i = 0; i < n; i++) {
        const struct cs_component *dup = cs_registry_find(reg, fresh[i]->kind, cs_component_name(fresh[i]));
        for (size_t j = 0; !dup && j < i; j++)
            if (fresh[j]->kind == fresh[i]->kind &&
                strcmp(cs_component_name(fresh[j]), cs_component_name(fresh[i])) == 0)
                dup = fresh[j];
        if (dup)
            return cs_xasprintf("%s: %s \"%s\" is already provided by %s", path, kind_names[fresh[i]->kind],
                                cs_component_name(fresh[i]), dup->plugin->path);
    }
    return NULL;
}

/* ---- loading ---------------------------------------------------------------------------------- */

/* libltdl reports only its last loader's error ("file not found"); the dynamic linker's own message
 * names the missing library or symbol. New string. */
static char *dynamic_linker_error(const char *so, const char *fallback)
{
    void *h = dlopen(so, RTLD_NOW | RTLD_LOCAL);
    const char *msg;
    if (h) {
        dlclose(h);
        return cs_xstrdup(fallback ? fallback : "unknown error");
    }
    msg = dlerror();
    return cs_xstrdup(msg ? msg : fallback ? fallback : "unknown error");
}

static lt_dlhandle open_module(const char *path, char **err)
{
    lt_dladvise advise;
    lt_dlhandle h = NULL;
    if (lt_dladvise_init(&advise) || lt_dladvise_local(&advise)) {
        *err = cs_xasprintf("%s: libltdl: %s", path, lt_dlerror());
        return NULL;
    }
    h = lt_dlopenadvise(path, advise);
    lt_dladvise_destroy(&advise);
    if (!h) {
        char *so = shared_object_of(path), *why = dynamic_linker_error(so, lt_dlerror());
        *err = cs_xasprintf("%s: cannot be loaded: %s; a library it needs may be missing or too old "
                            "(check with: ldd -r %s)",
                            path, why, so);
        free(why);
        free(so);
    }
    return h;
}

int cs_loader_load(struct cs_registry *reg, const char *plugin_dir, const char *name, char **err)
{
    struct cs_loaded_plugin *lp = NULL;
    struct cs_component **fresh = NULL;
    size_t n_fresh = 0;
    cs_plugin_entry_fn entry;
    const cs_plugin *desc;
    char *path;
    int rc = CS_E_INVAL;

    *err = NULL;
    if (!(path = resolve(plugin_dir, name, err)))
        return CS_E_NOTFOUND;
    if ((*err = check_permissions(path)))
        goto out;
    if (!reg->ltdl_ready) {
        *err = cs_xasprintf("%s: libltdl failed to initialise", path);
        goto out;
    }
    lp = cs_xcalloc(1, sizeof *lp);
    lp->path = path;
    path = NULL;
    if (!(lp->handle = open_module(lp->path, err)))
        goto out;
    *(void **)&entry = lt_dlsym(lp->handle, CS_PLUGIN_ENTRY_SYMBOL);
    if (!entry) {
        *err = cs_xasprintf("%s: does not export %s(): not a crmsync plugin", lp->path, CS_PLUGIN_ENTRY_SYMBOL);
        goto out;
    }
    if (!(desc = entry(CS_ABI_MAJOR, CS_ABI_MINOR))) {
        *err = cs_xasprintf("%s: %s() refused this crmsyncd (plugin ABI %d.%d)", lp->path, CS_PLUGIN_ENTRY_SYMBOL,
                            CS_ABI_MAJOR, CS_ABI_MINOR);
        goto out;
    }
    if ((*err = check_head(lp->path, "plugin", desc, SIZE_1_0_PLUGIN)))
        goto out;
    copy_desc(&lp->desc, sizeof lp->desc, desc);
    if (!lp->desc.name || !*lp->desc.name) {
        *err = cs_xasprintf("%s: the plugin descriptor has no name", lp->path);
        goto out;
    }
    fresh = cs_xcalloc(list_length((const void *const *)lp->desc.connectors) +
                           list_length((const void *const *)lp->desc.entities) +
                           list_length((const void *const *)lp->desc.stages) + 1,
                       sizeof *fresh);
    if ((*err = collect(lp->path, lp, CS_KIND_CONNECTOR, (const void *const *)lp->desc.connectors, SIZE_1_0_CONNECTOR,
                        fresh, &n_fresh)) ||
        (*err = collect(lp->path, lp, CS_KIND_ENTITY, (const void *const *)lp->desc.entities, SIZE_1_0_ENTITY, fresh,
                        &n_fresh)) ||
        (*err = collect(lp->path, lp, CS_KIND_STAGE, (const void *const *)lp->desc.stages, SIZE_1_0_STAGE, fresh,
                        &n_fresh)) ||
        (*err = check_unique(reg, lp->path, lp, fresh, n_fresh)))
        goto out;

    reg->plugins = realloc(reg->plugins, (reg->n_plugins + 1) * sizeof *reg->plugins);
    reg->components = realloc(reg->components, (reg->n_components + n_fresh) * sizeof *reg->components);
    if (!reg->plugins || !reg->components)
        abort();
    reg->plugins[reg->n_plugins++] = lp;
    memcpy(reg->components + reg->n_components, fresh, n_fresh * sizeof *fresh);
    reg->n_components += n_fresh;
    lp = NULL;
    n_fresh = 0;
    rc = 0;
out:
    for (size_t i = 0; i < n_fresh; i++)
        component_free(fresh[i]);
    free(fresh);
    if (lp) {
        /* a refused plugin is not kept; closing it now is safe because nothing else references it */
        if (lp->handle)
            lt_dlclose(lp->handle);
        free(lp->path);
        free(lp);
    }
    free(path);
    return rc;
}
