/*
 * test_loader.c - every refusal of the plugin loader, each with a deliberately broken fixture plugin
 * (tests/fixtures/plugins/broken.c), a successful load of the test plugin with its components, and the
 * option tables: an ABI 1.4 table's ranges and choices enforced by the core, an ABI 1.0 table still read
 * and checked as before.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "core_options.h"
#include "host/loader.h"
#include "host/loader_options.h"
#include "host/plugin_list.h"

static const char *fixture_dir, *testplug_dir;

/* Load `name` into a fresh registry (after `first`, when given) and return the refusal (new). */
static char *refusal(const char *first_dir, const char *first, const char *dir, const char *name)
{
    struct cs_registry *reg = cs_registry_new();
    char *err = NULL;
    if (first) {
        CHECK(cs_loader_load(reg, first_dir, first, &err) == 0);
        free(err);
        err = NULL;
    }
    if (cs_loader_load(reg, dir, name, &err) == 0) {
        fprintf(stderr, "loading %s unexpectedly succeeded\n", name);
        check_failures++;
    }
    CHECK(reg->n_plugins == (first ? 1u : 0u));
    cs_registry_free(reg);
    return err;
}

static void expect(const char *name, const char *want1, const char *want2)
{
    char *err = refusal(NULL, NULL, fixture_dir, name);
    CHECK_CONTAINS(err, want1);
    if (want2)
        CHECK_CONTAINS(err, want2);
    free(err);
}

static void test_valid(void)
{
    struct cs_registry *reg = cs_registry_new();
    char *err = NULL;
    const struct cs_component *c;
    CHECK(cs_loader_load(reg, testplug_dir, "testplug", &err) == 0);
    CHECK(err == NULL);
    CHECK_INT(reg->n_plugins, 1);
    c = cs_registry_find(reg, CS_KIND_CONNECTOR, "memory-source");
    CHECK(c && (c->u.connector.caps & CS_CAP_SOURCE) && c->u.connector.read);
    c = cs_registry_find(reg, CS_KIND_CONNECTOR, "capture-sink");
    CHECK(c && (c->u.connector.caps & CS_CAP_SINK) && c->u.connector.write);
    CHECK(cs_registry_find(reg, CS_KIND_STAGE, "reject-every") != NULL);
    CHECK(cs_registry_find(reg, CS_KIND_STAGE, "memory-source") == NULL);
    err = cs_registry_names(reg, CS_KIND_CONNECTOR);
    CHECK_STR(err, "memory-source, capture-sink");
    free(err);
    cs_registry_free(reg);
}

/* The core's check of component `c`'s options: `bad` refused with both `want` texts, `good` accepted. */
static void expect_option_check(const struct cs_component *c, const char *bad, const char *want1, const char *want2,
                                const char *good)
{
    char *err;
    if (!c)
        return;
    err = core_option_errors(c, bad);
    CHECK_CONTAINS(err, want1);
    CHECK_CONTAINS(err, want2);
    free(err);
    err = core_option_errors(c, good);
    CHECK(err == NULL);
    free(err);
}

/* Load the fixture `plugin` into `reg`: its connector "fixture-sink" (NULL when it did not load). */
static const struct cs_component *fixture_sink(struct cs_registry *reg, const char *plugin)
{
    char *err = NULL;
    CHECK(cs_loader_load(reg, fixture_dir, plugin, &err) == 0);
    CHECK(err == NULL);
    free(err);
    return cs_registry_find(reg, CS_KIND_CONNECTOR, "fixture-sink");
}

/* An ABI 1.4 table: the loader keeps its range and choices, and the core refuses a value outside them at
 * its file:line:col. */
static void test_settings_enforced(void)
{
    struct cs_registry *reg = cs_registry_new();
    const struct cs_component *c = fixture_sink(reg, "fixture-ok");
    const cs_setting *o = c ? cs_component_options(c) : NULL;
    CHECK(o && o[0].name && !strcmp(o[0].name, "limit") && o[0].min == 1 && o[0].max == 100);
    CHECK(o && o[1].name && !strcmp(o[1].name, "mode") && o[1].choices && !strcmp(o[1].choices[1], "safe"));
    CHECK(o && !o[2].name);
    expect_option_check(
        c, "limit: 101, mode: turbo", ":3:21: connections.c.limit: must be between 1 and 100, got 101\n",
        ":3:33: connections.c.mode: unknown value \"turbo\" (expected one of: fast, safe)", "limit: 100, mode: fast");
    cs_registry_free(reg);
}

/* What cs_loader_options refuses in a settings table (each text after "F: connector \"c\": "). */
static void expect_table_defect(const cs_setting *table, const char *want)
{
    char *err = NULL;
    cs_setting *out = cs_loader_options("F", "connector", "c", NULL, table, &err);
    CHECK(out == NULL);
    CHECK_CONTAINS(err, want);
    free(err);
    free(out);
}

static void test_option_table_defects(void)
{
    static const char *const none[] = {NULL}, *const some[] = {"a", NULL};
    static const cs_setting odd[] = {{.struct_size = sizeof(cs_setting) + 1, .name = "x"}, {.name = NULL}};
    static const cs_setting mixed[] = {{CS_SETTING_HEAD, "a", CS_OPT_INT},
                                       {.struct_size = sizeof(cs_setting) + 8, .name = "b"},
                                       {CS_SETTING_HEAD, NULL}};
    static const cs_setting inverted[] = {{CS_SETTING_HEAD, "n", CS_OPT_INT, .min = 5, .max = 5},
                                          {CS_SETTING_HEAD, NULL}};
    static const cs_setting listed[] = {{CS_SETTING_HEAD, "n", CS_OPT_INT, .choices = some}, {CS_SETTING_HEAD, NULL}};
    static const cs_setting empty[] = {{CS_SETTING_HEAD, "s", CS_OPT_STRING, .choices = none}, {CS_SETTING_HEAD, NULL}};
    static const cs_setting unknown[] = {{CS_SETTING_HEAD, "u", (cs_option_type)42}, {CS_SETTING_HEAD, NULL}};
    static const cs_setting fine[] = {{CS_SETTING_HEAD, "d", CS_OPT_DURATION, .min = 1000, .max = INT64_MAX},
                                      {CS_SETTING_HEAD, NULL}};
    char *err = NULL, text[200];
    cs_setting *out;

    snprintf(text, sizeof text, "F: connector \"c\": its settings are %zu bytes each, not a size a cs_setting can have",
             sizeof(cs_setting) + 1);
    expect_table_defect(odd, text);
    snprintf(text, sizeof text, "F: connector \"c\": option \"b\" is %zu bytes, the first option %zu",
             sizeof(cs_setting) + 8, sizeof(cs_setting));
    expect_table_defect(mixed, text);
    expect_table_defect(inverted, "option \"n\" has min 5 not below its max 5");
    expect_table_defect(listed, "option \"n\" has type int and lists choices: only string options have them");
    expect_table_defect(empty, "option \"s\" lists no choices");
    expect_table_defect(unknown, "option \"u\" has the unknown type 42");
    out = cs_loader_options("F", "connector", "c", NULL, fine, &err);
    CHECK(err == NULL && out && out[0].min == 1000 && out[0].max == INT64_MAX && !out[1].name);
    free(err);
    free(out);
}

/* The compatibility policy: a plugin built against ABI 1.0 (a shorter connector, a cs_option table)
 * loads into this core, and its options are checked as before: types, required, defaults, no range. */
static void test_older_minor_loads(void)
{
    struct cs_registry *reg = cs_registry_new();
    const struct cs_component *c = fixture_sink(reg, "older-minor");
    const cs_setting *o = c ? cs_component_options(c) : NULL;
    CHECK(c && c->u.connector.abi_minor == 0 && c->u.connector.write && !c->u.connector.describe);
    CHECK(o && o[0].name && !strcmp(o[0].name, "label") && o[0].type == CS_OPT_STRING &&
          o[0].flags == CS_OPT_REQUIRED && !strcmp(o[0].help, "a name"));
    CHECK(o && o[1].name && !strcmp(o[1].name, "batch") && o[1].type == CS_OPT_INT &&
          !strcmp(o[1].default_value, "10") && o[1].min == 0 && o[1].max == 0 && !o[1].choices);
    CHECK(o && !o[2].name);
    expect_option_check(c, "batch: many", ":3:21: connections.c.batch: expected an integer, got a string\n",
                        ":3:3: connections.c.label: required", "label: x, batch: -5");
    cs_registry_free(reg);
}

static void test_missing_file(void)
{
    char *err = refusal(NULL, NULL, fixture_dir, "no-such-plugin");
    CHECK_CONTAINS(err, "plugin \"no-such-plugin\": not found in plugin_dir");
    CHECK_CONTAINS(err, "no-such-plugin.la");
    CHECK_CONTAINS(err, "no-such-plugin.so");
    free(err);
    err = refusal(NULL, NULL, fixture_dir, "/nonexistent/dir/x.so");
    CHECK_STR(err, "plugin /nonexistent/dir/x.so: no such file");
    free(err);
    err = refusal(NULL, NULL, fixture_dir, "relative/x.so");
    CHECK_CONTAINS(err, "must be absolute");
    free(err);
}

static void test_world_writable(void)
{
    char *so = NULL, *err;
    if (asprintf(&so, "%s/.libs/fixture-ok.so", fixture_dir) < 0)
        return;
    CHECK(chmod(so, 0757) == 0);
    err = refusal(NULL, NULL, fixture_dir, "fixture-ok");
    CHECK_CONTAINS(err, "writable by anyone (mode 0757)");
    CHECK_CONTAINS(err, "chmod o-w");
    free(err);
    CHECK(chmod(so, 0755) == 0);
    free(so);
}

static void test_duplicates(void)
{
    char *err = refusal(testplug_dir, "testplug", fixture_dir, "dup-plugin");
    CHECK_CONTAINS(err, "a plugin named \"testplug\" is already loaded from");
    free(err);
    err = refusal(testplug_dir, "testplug", fixture_dir, "dup-connector");
    CHECK_CONTAINS(err, "connector \"capture-sink\" is already provided by");
    free(err);
    err = refusal(testplug_dir, "testplug", testplug_dir, "testplug");
    CHECK_CONTAINS(err, "already loaded");
    free(err);
}

/* --list-plugins: name, type and flags stand in columns however long an option's name is. */
static void test_list_columns(void)
{
    static cs_setting opts[] = {
        {CS_SETTING_HEAD, "a", CS_OPT_STRING, CS_OPT_REQUIRED, NULL, "help of a"},
        {CS_SETTING_HEAD, "an_option_whose_name_is_longer_than_any_column_was", CS_OPT_DURATION, CS_OPT_SECRET, NULL,
         "help of long"},
        {CS_SETTING_HEAD, "dir", CS_OPT_LIST, CS_OPT_REQUIRED | CS_OPT_PATH, NULL, "help of dir"},
        {CS_SETTING_HEAD, "plain", CS_OPT_INT, 0, "5", "help of plain"},
        {CS_SETTING_HEAD, NULL}};
    struct cs_loaded_plugin lp = {.path = "/p/x.so", .desc = {.name = "x", .version = "1", .abi_major = 1}};
    struct cs_component c = {.kind = CS_KIND_CONNECTOR, .plugin = &lp};
    struct cs_loaded_plugin *plugins[] = {&lp};
    struct cs_component *components[] = {&c};
    struct cs_registry reg = {plugins, 1, components, 1, 0};
    char *text = NULL, *line, *save = NULL;
    size_t len = 0;
    long type_at = -1, flags_at = -1, help_at = -1;
    int lines = 0;
    FILE *out = open_memstream(&text, &len);

    c.u.connector.name = "conn";
    c.u.connector.caps = CS_CAP_SOURCE;
    c.settings = opts;
    cs_plugin_list_print(&reg, out);
    fclose(out);
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        const cs_setting *o = NULL;
        for (size_t i = 0; opts[i].name && !o; i++)
            if (strncmp(line + 6, opts[i].name, strlen(opts[i].name)) == 0 && line[6 + strlen(opts[i].name)] == ' ')
                o = &opts[i];
        if (strncmp(line, "      ", 6) != 0 || !o)
            continue;
        lines++;
        if (type_at < 0) { /* the first option line sets the columns */
            type_at = strstr(line, "string") - line;
            flags_at = strstr(line, "required") - line;
            help_at = strstr(line, "help of") - line;
        }
        CHECK(strstr(line, "help of") - line == help_at);
        CHECK(line[type_at - 1] == ' ' && line[type_at - 2] == ' ' && line[type_at] != ' ');
        CHECK(line[flags_at - 1] == ' ' && line[flags_at - 2] == ' ');
        if (o->flags)
            CHECK(line[flags_at] != ' ');
        if (o->flags & CS_OPT_SECRET)
            CHECK(strstr(line, "secret") == line + flags_at && strstr(line, "(set "));
        if (o->flags & CS_OPT_PATH)
            CHECK(strstr(line, "required, path") == line + flags_at);
        if (o->default_value)
            CHECK(strstr(line, "help of plain (default 5)") != NULL);
    }
    CHECK_INT(lines, 4);
    free(text);
}

int main(void)
{
    char text[200];

    fixture_dir = getenv("FIXTURE_PLUGIN_DIR");
    testplug_dir = getenv("TESTPLUG_DIR");
    if (!fixture_dir || !testplug_dir) {
        fputs("FIXTURE_PLUGIN_DIR and TESTPLUG_DIR must be set (make check sets them)\n", stderr);
        return 99;
    }
    test_list_columns();
    test_valid();
    test_settings_enforced();
    test_option_table_defects();
    test_older_minor_loads();
    test_missing_file();
    test_world_writable();
    test_duplicates();
    expect("bad-magic", "bad magic number (0xdeadbeef)", "not a crmsync plugin");
    expect("other-major", "built for crmsync plugin ABI 2.0", "rebuild the plugin");
    snprintf(text, sizeof text, "needs crmsync plugin ABI %d.%d, newer than this crmsyncd's %d.%d", CS_ABI_MAJOR,
             CS_ABI_MINOR + 1, CS_ABI_MAJOR, CS_ABI_MINOR);
    expect("newer-minor", text, NULL);
    expect("short-struct", "descriptor is 24 bytes, shorter than ABI 1.0's", NULL);
    expect("no-entry", "does not export cs_plugin_entry()", NULL);
    snprintf(text, sizeof text, "cs_plugin_entry() refused this crmsyncd (plugin ABI %d.%d)", CS_ABI_MAJOR,
             CS_ABI_MINOR);
    expect("refuses", text, NULL);
    expect("missing-callback", "connector \"fixture-sink\" lacks the required callback write()", NULL);
    expect("missing-symbol", "cannot be loaded", "crmsync_fixture_symbol_no_library_provides");
    expect("both-tables",
           "connector \"fixture-sink\" gives both options (ABI 1.0) and settings (ABI 1.4): keep "
           "settings, set options to NULL",
           NULL);
    snprintf(text, sizeof text,
             "connector \"fixture-sink\": its settings are 16 bytes each, shorter than ABI 1.4's "
             "%zu: begin every element with CS_SETTING_HEAD",
             (size_t)CS_SETTING_SIZE_1_4);
    expect("short-setting", text, NULL);
    expect("setting-range",
           "connector \"fixture-sink\": option \"strict\" has type bool and states a range: only int "
           "and duration options have one",
           NULL);
    return check_exit();
}
