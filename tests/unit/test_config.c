/*
 * test_config.c - unit tests of core/config/: reading YAML and JSON with positions, the core schema and
 * its exact messages, defaults and durations, and plugin option tables with secrets. Each case writes
 * its file into a private temporary directory (the test runs there, so messages name short relative
 * paths); the YAML/JSON twins and the documented example live in tests/fixtures/config/.
 */
#include "config/config.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "util/util.h"

#ifndef CS_DEFAULT_STATE_DIR
#define CS_DEFAULT_STATE_DIR "/var/lib/crmsync"
#endif

/* Two connections and the plugins list: lines 1-6 of most cases. */
#define CONNECTIONS                                                                                                    \
    "plugins: [dynamics365, campaign]\n"                                                                               \
    "connections:\n"                                                                                                   \
    "  d365:\n"                                                                                                        \
    "    connector: dynamics365\n"                                                                                     \
    "  acs:\n"                                                                                                         \
    "    connector: campaign\n"

static char srcdir[PATH_MAX];
static char tmpdir[PATH_MAX];

static void write_file(const char *name, const char *text, mode_t mode)
{
    FILE *f = fopen(name, "w");
    CHECK(f != NULL);
    if (!f)
        return;
    fputs(text, f);
    fclose(f);
    CHECK(chmod(name, mode) == 0);
}

/* The whole file at `path` (new), or NULL. */
static char *read_text(const char *path)
{
    FILE *f = fopen(path, "r");
    char *text = NULL;
    size_t size = 0;

    if (!f)
        return NULL;
    if (getdelim(&text, &size, '\0', f) < 0) {
        free(text);
        text = NULL;
    }
    fclose(f);
    return text;
}

/* The value at "a.b.0.c" (numbers index lists), or NULL. */
static json_t *get(json_t *v, const char *path)
{
    char *copy = cs_xstrdup(path), *save = NULL;

    for (char *part = strtok_r(copy, ".", &save); part && v; part = strtok_r(NULL, ".", &save))
        v = json_is_array(v) ? json_array_get(v, strtoul(part, NULL, 10)) : json_object_get(v, part);
    free(copy);
    return v;
}

static struct cs_config *load_ok(const char *name, const char *text)
{
    struct cs_config *cfg = NULL;
    char *err = NULL;

    write_file(name, text, 0600);
    CHECK_INT(cs_config_load(name, &cfg, &err), 0);
    if (err)
        fprintf(stderr, "unexpected errors in %s:\n%s\n", name, err);
    CHECK(err == NULL);
    free(err);
    return cfg;
}

/* Loading `text` as `name` fails with exactly `want`. */
static void expect_error(const char *name, const char *text, const char *want)
{
    struct cs_config *cfg = NULL;
    char *err = NULL;

    write_file(name, text, 0600);
    CHECK_INT(cs_config_load(name, &cfg, &err), CS_E_INVAL);
    CHECK(cfg == NULL);
    CHECK_STR(err, want);
    cs_config_free(cfg);
    free(err);
}

static void test_defaults(void)
{
    struct cs_config *cfg = load_ok("min.conf", CONNECTIONS "workflows:\n"
                                                            "  - id: sync\n"
                                                            "    source: d365\n"
                                                            "    sink: acs\n"
                                                            "    mappings:\n"
                                                            "      - stream: contacts\n");
    json_t *r = cfg ? cfg->root : NULL;
    char *where;

    CHECK_STR(json_string_value(get(r, "state_dir")), CS_DEFAULT_STATE_DIR);
    CHECK_STR(json_string_value(get(r, "log_level")), "info");
    CHECK_STR(json_string_value(get(r, "admin.listen")), "127.0.0.1:8470");
    CHECK(get(r, "admin") && !get(r, "admin.token_file"));
    CHECK(r && !get(r, "plugin_dir"));
    CHECK_STR(json_string_value(get(r, "connections.acs.connector")), "campaign");
    CHECK_STR(json_string_value(get(r, "workflows.0.title")), "sync");
    CHECK(json_is_true(get(r, "workflows.0.autostart")));
    CHECK_INT(json_integer_value(get(r, "workflows.0.writers")), 4);
    CHECK_INT(json_integer_value(get(r, "workflows.0.batch_size")), 250);
    CHECK_INT(json_integer_value(get(r, "workflows.0.read_batch")), 1000);
    CHECK_INT(json_integer_value(get(r, "workflows.0.poll_interval")), 5000);
    CHECK_INT(json_integer_value(get(r, "workflows.0.backlog.high_water")), 100000);
    CHECK_INT(json_integer_value(get(r, "workflows.0.retry.base")), 1000);
    CHECK_INT(json_integer_value(get(r, "workflows.0.retry.cap")), 30 * 60 * 1000);
    CHECK_INT(json_integer_value(get(r, "workflows.0.retry.max_attempts")), -1);
    CHECK(json_is_null(get(r, "workflows.0.retry.max_age")));
    CHECK_STR(json_string_value(get(r, "workflows.0.mappings.0.target")), "contacts");
    CHECK(json_is_array(get(r, "workflows.0.mappings.0.stages")) &&
          json_array_size(get(r, "workflows.0.mappings.0.stages")) == 0);
    CHECK(get(r, "workflows.0.mappings.0") && !get(r, "workflows.0.mappings.0.entity"));

    if (cfg) {
        where = cs_config_where(cfg, "workflows[0].mappings[0].stream");
        CHECK_STR(where, "min.conf:12:9: workflows[0].mappings[0].stream");
        free(where);
        where = cs_config_where(cfg, "workflows[0].writers"); /* defaulted: the workflow's position */
        CHECK_STR(where, "min.conf:8:5: workflows[0].writers");
        free(where);
        where = cs_config_where(cfg, "");
        CHECK_STR(where, "min.conf:1:1");
        free(where);
    }
    cs_config_free(cfg);
}

static void test_scalar_types(void)
{
    struct cs_config *cfg = load_ok("types.conf", "plugins: []\n"
                                                  "connections:\n"
                                                  "  c:\n"
                                                  "    connector: x\n"
                                                  "    quoted_true: \"true\"\n"
                                                  "    plain_yes: Yes\n"
                                                  "    plain_off: OFF\n"
                                                  "    int: 42\n"
                                                  "    neg: -7\n"
                                                  "    quoted_int: '42'\n"
                                                  "    real: 1.5\n"
                                                  "    exp: 2e3\n"
                                                  "    tilde: ~\n"
                                                  "    empty:\n"
                                                  "    null_word: NULL\n"
                                                  "    quoted_null: \"null\"\n"
                                                  "    word: hello\n"
                                                  "    version: 1.2.3\n");
    json_t *c = get(cfg ? cfg->root : NULL, "connections.c");

    CHECK_STR(json_string_value(get(c, "quoted_true")), "true");
    CHECK(json_is_true(get(c, "plain_yes")));
    CHECK(json_is_false(get(c, "plain_off")));
    CHECK(json_is_integer(get(c, "int")) && json_integer_value(get(c, "int")) == 42);
    CHECK_INT(json_integer_value(get(c, "neg")), -7);
    CHECK_STR(json_string_value(get(c, "quoted_int")), "42");
    CHECK(json_is_real(get(c, "real")) && json_real_value(get(c, "real")) == 1.5);
    CHECK(json_is_real(get(c, "exp")) && json_real_value(get(c, "exp")) == 2000.0);
    CHECK(json_is_null(get(c, "tilde")));
    CHECK(json_is_null(get(c, "empty")));
    CHECK(json_is_null(get(c, "null_word")));
    CHECK_STR(json_string_value(get(c, "quoted_null")), "null");
    CHECK_STR(json_string_value(get(c, "word")), "hello");
    CHECK_STR(json_string_value(get(c, "version")), "1.2.3");
    cs_config_free(cfg);

    expect_error("big.conf", "plugins: []\nconnections: {c: {connector: x, n: 99999999999999999999}}\n",
                 "big.conf:2:36: connections.c.n: number out of range");
}

static void test_syntax(void)
{
    expect_error("syntax.conf", "state_dir: /x\nplugins: [a, b\nworkflows: []\n",
                 "syntax.conf:3:10: did not find expected ',' or ']' while parsing a flow sequence");
    expect_error("indent.conf", "plugins: []\nadmin:\n  listen: x\n token_file: y\n",
                 "indent.conf:4:2: did not find expected key while parsing a block mapping: this line is indented "
                 "less (1 spaces) than line 3 above it (2): keys of one mapping line up, and a value with \": \" in "
                 "it needs quotes");
    expect_error("anchor.conf", "plugins: []\nconnections:\n  a: &base\n    connector: x\n  b: *base\n",
                 "anchor.conf:3:6: connections.a: anchors and aliases are not supported");
    expect_error("tag.conf", "plugins: []\nstate_dir: !!str /x\n", "tag.conf:2:12: state_dir: tags are not supported");
    expect_error("multi.conf", "plugins: []\n---\nplugins: []\n",
                 "multi.conf:2:1: multiple documents are not supported");
    expect_error("list.conf", "- plugins\n", "list.conf:1:1: the top level must be a mapping, got a list");
    expect_error("empty.conf", "# nothing\n", "empty.conf:2:1: the top level must be a mapping, got null");
    expect_error("key.conf", "{[a]: b}\n", "key.conf:1:2: mapping keys must be scalars");
    expect_error("dup.conf", "plugins: []\nstate_dir: /a\nstate_dir: /b\n",
                 "dup.conf:3:1: state_dir: duplicate key (first at line 2)");
}

static void test_unknown_keys(void)
{
    expect_error("top.conf", "plugins: []\nstat_dir: /var/lib/x\n",
                 "top.conf:2:1: stat_dir: unknown key (did you mean \"state_dir\"?)");
    expect_error("far.conf", "plugins: []\ncolour: red\n",
                 "far.conf:2:1: colour: unknown key (allowed: state_dir, state, plugin_dir, log_level, stop_timeout, "
                 "admin, plugins, connections, workflows)");
    expect_error("stop.conf", "plugins: []\nstop_timeout: 0\n",
                 "stop.conf:2:1: stop_timeout: must be between 1s and 10m, got 0ms");
    expect_error("deep.conf",
                 CONNECTIONS "workflows:\n"
                             "  - id: sync\n"
                             "    source: d365\n"
                             "    sink: acs\n"
                             "    mappings:\n"
                             "      - stream: contacts\n"
                             "        targte: profiles\n",
                 "deep.conf:13:9: workflows[0].mappings[0].targte: unknown key (did you mean \"target\"?)");
}

static void test_schema_errors(void)
{
    expect_error("required.conf",
                 CONNECTIONS "workflows:\n"
                             "  - id: sync\n"
                             "    source: d365\n"
                             "    sink: acs\n"
                             "    mappings:\n"
                             "      - stream: contacts\n"
                             "      - target: profiles\n",
                 "required.conf:13:9: workflows[0].mappings[1].stream: required");
    expect_error("type.conf",
                 CONNECTIONS "workflows:\n"
                             "  - id: sync\n"
                             "    source: d365\n"
                             "    sink: acs\n"
                             "    writers: \"4\"\n"
                             "    mappings: [{stream: contacts}]\n",
                 "type.conf:11:5: workflows[0].writers: expected an integer, got a string");
    expect_error("range.conf",
                 CONNECTIONS "workflows:\n"
                             "  - id: sync\n"
                             "    source: d365\n"
                             "    sink: acs\n"
                             "    writers: 0\n"
                             "    backlog: {high_water: 0}\n"
                             "    retry: {max_attempts: 0}\n"
                             "    mappings: [{stream: contacts}]\n",
                 "range.conf:11:5: workflows[0].writers: must be between 1 and 64, got 0\n"
                 "range.conf:12:15: workflows[0].backlog.high_water: must be at least 1, got 0\n"
                 "range.conf:13:13: workflows[0].retry.max_attempts: must be -1 (retry forever) or at least 1, got 0");
    expect_error("duration.conf",
                 CONNECTIONS "workflows:\n"
                             "  - id: sync\n"
                             "    source: d365\n"
                             "    sink: acs\n"
                             "    poll_interval: 5x\n"
                             "    retry: {base: -1s, cap: true}\n"
                             "    mappings: [{stream: contacts}]\n",
                 "duration.conf:11:5: workflows[0].poll_interval: expected a duration such as \"5s\" or \"30m\", "
                 "got \"5x\"\n"
                 "duration.conf:12:13: workflows[0].retry.base: expected a duration such as \"5s\" or \"30m\", "
                 "got \"-1s\"\n"
                 "duration.conf:12:24: workflows[0].retry.cap: expected a duration such as \"5s\" or \"30m\", "
                 "got a boolean");
    expect_error("dupid.conf",
                 CONNECTIONS "workflows:\n"
                             "  - id: sync\n"
                             "    source: d365\n"
                             "    sink: acs\n"
                             "    mappings: [{stream: contacts}, {stream: contacts}]\n"
                             "  - id: sync\n"
                             "    source: acs\n"
                             "    sink: d365\n"
                             "    mappings: [{stream: profiles}]\n",
                 "dupid.conf:11:37: workflows[0].mappings[1].stream: duplicate stream \"contacts\" (first at line 11)\n"
                 "dupid.conf:12:5: workflows[1].id: duplicate workflow id \"sync\" (first at line 8)");
    expect_error("conn.conf",
                 CONNECTIONS "workflows:\n"
                             "  - id: sync\n"
                             "    source: d356\n"
                             "    sink: elsewhere\n"
                             "    mappings: [{stream: contacts}]\n",
                 "conn.conf:9:5: workflows[0].source: unknown connection \"d356\" (did you mean \"d365\"?)\n"
                 "conn.conf:10:5: workflows[0].sink: unknown connection \"elsewhere\" (defined: d365, acs)");
    expect_error("misc.conf",
                 "plugins: [a]\n"
                 "log_level: verbose\n"
                 "admin: {tls_cert_file: /etc/crmsync/cert.pem}\n"
                 "connections:\n"
                 "  bad name: {connector: x}\n"
                 "  nothing: {url: x}\n",
                 "misc.conf:2:1: log_level: unknown value \"verbose\" (expected one of: error, warning, notice, info, "
                 "debug)\n"
                 "misc.conf:3:1: admin.tls_key_file: required when tls_cert_file is set\n"
                 "misc.conf:5:3: connections.bad name: names may contain only letters, digits, \"_\" and \"-\"\n"
                 "misc.conf:6:3: connections.nothing.connector: required");
}

/* Several errors of different kinds in one file are all reported, in document order. */
static void test_many_errors(void)
{
    expect_error("many.conf",
                 "plugins: [a, a]\n"
                 "admin: []\n"
                 "workflows:\n"
                 "  - id: Sync\n"
                 "    source: d365\n"
                 "    writers: 65\n"
                 "    mappings: []\n",
                 "many.conf:2:1: admin: expected a mapping, got a list\n"
                 "many.conf:6:5: workflows[0].writers: must be between 1 and 64, got 65\n"
                 "many.conf:7:5: workflows[0].mappings: must not be empty\n"
                 "many.conf:4:5: workflows[0].sink: required\n"
                 "many.conf:4:5: workflows[0].id: must be lowercase letters, digits and \"-\", not starting with "
                 "\"-\"; got \"Sync\"\n"
                 "many.conf:1:14: plugins[1]: duplicate plugin \"a\" (first at line 1)\n"
                 "many.conf:5:5: workflows[0].source: unknown connection \"d365\"");
}

static void test_io_errors(void)
{
    struct cs_config *cfg = NULL;
    char *err = NULL;

    CHECK_INT(cs_config_load("absent.conf", &cfg, &err), CS_E_IO);
    CHECK(cfg == NULL);
    CHECK_STR(err, "absent.conf: No such file or directory");
    free(err);
    CHECK_INT(cs_config_load(".", &cfg, &err), CS_E_IO);
    CHECK_STR(err, ".: Is a directory");
    free(err);
}

static void test_durations(void)
{
    static const struct {
        const char *text;
        int64_t ms; /* -1: rejected */
    } cases[] = {{"250ms", 250},
                 {"5s", 5000},
                 {"30m", 1800000},
                 {"1h", 3600000},
                 {"2d", 172800000},
                 {"7", 7000},
                 {"0", 0},
                 {"-5s", -1},
                 {"5x", -1},
                 {"", -1},
                 {"s", -1},
                 {" 5s", -1},
                 {"1.5h", -1},
                 {"5 s", -1},
                 {"99999999999999999999", -1},
                 {"9223372036854775807ms", INT64_MAX},
                 {"9223372036854775807s", -1}};

    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int64_t ms = -1;
        int rc = cs_config_parse_duration(cases[i].text, &ms);
        if (cases[i].ms < 0) {
            CHECK_INT(rc, CS_E_INVAL);
        } else {
            CHECK_INT(rc, 0);
            CHECK_INT(ms, cases[i].ms);
        }
    }
}

/* The JSON twin of the YAML example gives the same document; JSON errors have positions too. */
static void test_json(void)
{
    char *yaml_path = cs_xasprintf("%s/tests/fixtures/config/example.yaml", srcdir);
    char *json_path = cs_xasprintf("%s/tests/fixtures/config/example.json", srcdir);
    struct cs_config *yaml = NULL, *json = NULL;
    char *err = NULL;

    CHECK_INT(cs_config_load(yaml_path, &yaml, &err), 0);
    CHECK(err == NULL);
    free(err);
    CHECK_INT(cs_config_load(json_path, &json, &err), 0);
    CHECK(err == NULL);
    free(err);
    CHECK(yaml && json && json_equal(yaml->root, json->root));
    CHECK_INT(json_integer_value(get(json ? json->root : NULL, "workflows.0.poll_interval")), 30000);
    CHECK_INT(json_integer_value(get(yaml ? yaml->root : NULL, "workflows.0.retry.max_age")), 2 * 86400000);
    cs_config_free(yaml);
    cs_config_free(json);
    free(yaml_path);
    free(json_path);

    expect_error("bad.json",
                 "{\n"
                 "  \"plugins\": [],\n"
                 "  \"connections\": {\"a\": {\"connector\": \"x\"}},\n"
                 "  \"workflows\": [\n"
                 "    {\"id\": \"w\", \"source\": \"a\", \"sink\": \"a\", \"writers\": 0,\n"
                 "     \"mappings\": [{\"stream\": \"s\"}]}\n"
                 "  ]\n"
                 "}\n",
                 "bad.json:5:45: workflows[0].writers: must be between 1 and 64, got 0");
}

/* The example in doc/configuration.md is the tested fixture, word for word. */
static void test_documented_example(void)
{
    char *doc_path = cs_xasprintf("%s/doc/configuration.md", srcdir);
    char *example_path = cs_xasprintf("%s/tests/fixtures/config/example.yaml", srcdir);
    char *doc = read_text(doc_path), *example = read_text(example_path);
    char *block = example ? cs_xasprintf("```yaml\n%s```\n", example) : NULL;

    CHECK(example != NULL);
    CHECK_CONTAINS(doc, block ? block : "(no example)");
    free(block);
    free(doc);
    free(example);
    free(doc_path);
    free(example_path);
}

/* ---- plugin options ------------------------------------------------------------------------------ */

static const cs_setting table[] = {
    {CS_SETTING_HEAD, "url", CS_OPT_STRING, CS_OPT_REQUIRED, NULL, "base URL"},
    {CS_SETTING_HEAD, "timeout", CS_OPT_DURATION, 0, "30s", "request timeout"},
    {CS_SETTING_HEAD, "page_size", CS_OPT_INT, 0, "500", "records per page"},
    {CS_SETTING_HEAD, "verify_tls", CS_OPT_BOOL, 0, "true", "check the server certificate"},
    {CS_SETTING_HEAD, "entities", CS_OPT_LIST, 0, "[contact, account]", "entity sets to read"},
    {CS_SETTING_HEAD, "extra", CS_OPT_JSON, 0, NULL, "anything"},
    {CS_SETTING_HEAD, "note", CS_OPT_STRING, 0, NULL, "free text"},
    {CS_SETTING_HEAD, "key_file", CS_OPT_STRING, CS_OPT_PATH, NULL, "a file"},
    {CS_SETTING_HEAD, "export", CS_OPT_STRING, CS_OPT_PATH, NULL, "a directory or a URL"},
    {CS_SETTING_HEAD, "client_secret", CS_OPT_STRING, CS_OPT_REQUIRED | CS_OPT_SECRET, NULL, "OAuth client secret"},
    {CS_SETTING_HEAD, NULL}};
static const char *const skip_connector[] = {"connector", NULL};

/* A table that states ranges and choices (ABI 1.4). */
static const char *const modes[] = {"fast", "safe", "bidirectional", NULL};
static const cs_setting limited[] = {
    {CS_SETTING_HEAD, "max_in_flight", CS_OPT_INT, 0, "8", "requests at once", .min = 1, .max = 1024},
    {CS_SETTING_HEAD, "page_size", CS_OPT_INT, 0, "100", "rows per page", .min = 1, .max = INT64_MAX},
    {CS_SETTING_HEAD, "timeout", CS_OPT_DURATION, 0, "60s", "request timeout", .min = 1000, .max = 3600 * 1000},
    {CS_SETTING_HEAD, "connect_timeout", CS_OPT_DURATION, 0, "10s", "TCP timeout", .min = 1, .max = INT64_MAX},
    {CS_SETTING_HEAD, "mode", CS_OPT_STRING, 0, "safe", "how to write", .choices = modes},
    {CS_SETTING_HEAD, NULL}};

#define SECRET "s3cr3t-Value"

/* Load a config whose only connection "c" has the members `members` (YAML flow), then check its
 * plugin options against `options`. Returns the resolved object (new) or NULL with *err set. */
static json_t *options_in(const cs_setting *options, const char *name, const char *members, char **err)
{
    char *text = cs_xasprintf("plugins: []\nconnections:\n  c: {connector: x, %s}\n", members);
    struct cs_config *cfg = load_ok(name, text);
    json_t *resolved = NULL;
    int rc;

    *err = NULL;
    if (cfg) {
        rc = cs_config_plugin_options(cfg, "connections.c", options, skip_connector, &resolved, err);
        CHECK_INT(rc, resolved ? 0 : CS_E_INVAL);
        CHECK(!resolved != !*err);
    }
    cs_config_free(cfg);
    free(text);
    return resolved;
}

static json_t *plugin_options(const char *name, const char *members, char **err)
{
    return options_in(table, name, members, err);
}

static void expect_errors_in(const cs_setting *options, const char *name, const char *members, const char *want)
{
    char *err = NULL;
    json_t *resolved = options_in(options, name, members, &err);

    CHECK(resolved == NULL);
    CHECK_STR(err, want);
    if (err)
        CHECK(!strstr(err, SECRET) && !strstr(err, "hunter2"));
    json_decref(resolved);
    free(err);
}

static void expect_option_error(const char *name, const char *members, const char *want)
{
    expect_errors_in(table, name, members, want);
}

static void test_plugin_options(void)
{
    char *err = NULL;
    json_t *r;

    write_file("ok.secret", SECRET "\n", 0600);
    r = plugin_options("opts.conf", "url: https://x, client_secret_file: ok.secret, page_size: 50, extra: {a: [1]}",
                       &err);
    CHECK(err == NULL);
    free(err);
    CHECK_STR(json_string_value(get(r, "url")), "https://x");
    CHECK_INT(json_integer_value(get(r, "timeout")), 30000);
    CHECK_INT(json_integer_value(get(r, "page_size")), 50);
    CHECK(json_is_true(get(r, "verify_tls")));
    CHECK_STR(json_string_value(get(r, "entities.0")), "contact");
    CHECK_STR(json_string_value(get(r, "entities.1")), "account");
    CHECK_INT(json_integer_value(get(r, "extra.a.0")), 1);
    CHECK(get(r, "note") && json_is_null(get(r, "note")));
    CHECK_STR(json_string_value(get(r, "client_secret")), SECRET); /* one trailing newline stripped */
    CHECK(r && !get(r, "client_secret_file") && !get(r, "connector"));
    CHECK_INT(json_object_size(r), 10);
    json_decref(r);

    expect_option_error("unknown.conf", "url: https://x, client_secret_env: HOME, pagesize: 5, clientsecret_file: f",
                        "unknown.conf:3:62: connections.c.pagesize: unknown key (did you mean \"page_size\"?)\n"
                        "unknown.conf:3:75: connections.c.clientsecret_file: unknown key (did you mean "
                        "\"client_secret_file\"?)");
    expect_option_error("types.conf",
                        "page_size: many, verify_tls: 1, timeout: soon, entities: [1, b], client_secret: hunter2",
                        "types.conf:3:21: connections.c.page_size: expected an integer, got a string\n"
                        "types.conf:3:38: connections.c.verify_tls: expected a boolean, got an integer\n"
                        "types.conf:3:53: connections.c.timeout: expected a duration such as \"5s\" or \"30m\", got "
                        "\"soon\"\n"
                        "types.conf:3:79: connections.c.entities[0]: expected a string, got an integer\n"
                        "types.conf:3:3: connections.c.url: required\n"
                        "types.conf:3:86: connections.c.client_secret: secrets are not accepted inline; use "
                        "client_secret_file (a file only its owner can read) or client_secret_env");
    expect_option_error("nosecret.conf", "url: https://x",
                        "nosecret.conf:3:3: connections.c.client_secret: required: give client_secret_file or "
                        "client_secret_env");
}

/* Ranges and choices of an ABI 1.4 table: both ends accepted, each refusal at its file:line:col naming the
 * range (durations as durations) or the choices. */
static void test_option_limits(void)
{
    char *err = NULL;
    json_t *r = options_in(limited, "edges.conf",
                           "max_in_flight: 1024, page_size: 1, timeout: 1h, "
                           "connect_timeout: 1ms, mode: bidirectional",
                           &err);

    CHECK(err == NULL);
    free(err);
    CHECK_INT(json_integer_value(get(r, "max_in_flight")), 1024);
    CHECK_INT(json_integer_value(get(r, "page_size")), 1);
    CHECK_INT(json_integer_value(get(r, "timeout")), 3600 * 1000);
    CHECK_INT(json_integer_value(get(r, "connect_timeout")), 1);
    CHECK_STR(json_string_value(get(r, "mode")), "bidirectional");
    json_decref(r);
    r = options_in(limited, "defaults.conf", "max_in_flight: 1", &err);
    CHECK(err == NULL);
    free(err);
    CHECK_INT(json_integer_value(get(r, "timeout")), 60000);
    CHECK_STR(json_string_value(get(r, "mode")), "safe");
    json_decref(r);

    expect_errors_in(limited, "limits.conf",
                     "max_in_flight: 0, page_size: 0, timeout: 90m, connect_timeout: 0s, mode: turbo",
                     "limits.conf:3:21: connections.c.max_in_flight: must be between 1 and 1024, got 0\n"
                     "limits.conf:3:39: connections.c.page_size: must be at least 1, got 0\n"
                     "limits.conf:3:53: connections.c.timeout: must be between 1s and 1h, got 90m\n"
                     "limits.conf:3:67: connections.c.connect_timeout: must be at least 1ms, got 0ms\n"
                     "limits.conf:3:88: connections.c.mode: unknown value \"turbo\" (expected one of: fast, safe, "
                     "bidirectional)");
    expect_errors_in(limited, "high.conf", "max_in_flight: 1025, timeout: 3601s, mode: saf",
                     "high.conf:3:21: connections.c.max_in_flight: must be between 1 and 1024, got 1025\n"
                     "high.conf:3:42: connections.c.timeout: must be between 1s and 1h, got 3601s\n"
                     "high.conf:3:58: connections.c.mode: unknown value \"saf\" (did you mean \"safe\"?)");
}

static void test_secrets(void)
{
    char *err = NULL;
    json_t *r;

    /* a relative secret file is taken from the configuration file's directory, and named in full */
    char here[4096], *want;
    CHECK(getcwd(here, sizeof here) != NULL);
    write_file("open.secret", SECRET "\n", 0644);
    want = cs_xasprintf("mode.conf:3:37: connections.c.client_secret_file: %s/open.secret is readable by group or "
                        "others (mode 0644); run: chmod 600 %s/open.secret",
                        here, here);
    expect_option_error("mode.conf", "url: https://x, client_secret_file: open.secret", want);
    free(want);
    write_file("group.secret", SECRET, 0640);
    want = cs_xasprintf("group.conf:3:37: connections.c.client_secret_file: %s/group.secret is readable by group or "
                        "others (mode 0640); run: chmod 600 %s/group.secret",
                        here, here);
    expect_option_error("group.conf", "url: https://x, client_secret_file: group.secret", want);
    free(want);
    want = cs_xasprintf("missing.conf:3:37: connections.c.client_secret_file: cannot read %s/missing.secret: No such "
                        "file or directory",
                        here);
    expect_option_error("missing.conf", "url: https://x, client_secret_file: missing.secret", want);
    free(want);
    write_file("empty.secret", "\n", 0600);
    want = cs_xasprintf("emptyfile.conf:3:37: connections.c.client_secret_file: %s/empty.secret is empty", here);
    expect_option_error("emptyfile.conf", "url: https://x, client_secret_file: empty.secret", want);
    free(want);
    expect_option_error("both.conf", "url: https://x, client_secret_file: ok.secret, client_secret_env: CS_TEST_SECRET",
                        "both.conf:3:68: connections.c.client_secret_env: give either client_secret_file or "
                        "client_secret_env, not both");

    CHECK(setenv("CS_TEST_SECRET", SECRET, 1) == 0);
    r = plugin_options("env.conf", "url: https://x, client_secret_env: CS_TEST_SECRET", &err);
    CHECK(err == NULL);
    free(err);
    CHECK_STR(json_string_value(get(r, "client_secret")), SECRET);
    CHECK(r && !get(r, "client_secret_env"));
    json_decref(r);
    CHECK(setenv("CS_TEST_SECRET", "", 1) == 0);
    expect_option_error("envempty.conf", "url: https://x, client_secret_env: CS_TEST_SECRET",
                        "envempty.conf:3:37: connections.c.client_secret_env: environment variable CS_TEST_SECRET "
                        "is empty");
    CHECK(unsetenv("CS_TEST_SECRET") == 0);
    expect_option_error("envunset.conf", "url: https://x, client_secret_env: CS_TEST_SECRET",
                        "envunset.conf:3:37: connections.c.client_secret_env: environment variable CS_TEST_SECRET "
                        "is not set");
}

/* state: the sqlite driver by default; postgresql with an owner-only dsn_file; mistakes at their place. */
static void test_state(void)
{
    struct cs_config *cfg = load_ok("state-default.conf", "plugins: []\n");
    char *path, *want;
    CHECK_STR(json_string_value(get(cfg ? cfg->root : NULL, "state.driver")), "sqlite");
    CHECK(cfg && !get(cfg->root, "state.dsn_file"));
    cs_config_free(cfg);

    write_file("state.dsn", "host=db1 dbname=crmsync user=crmsync password=" SECRET "\n", 0600);
    cfg = load_ok("state-pg.conf", "plugins: []\nstate:\n  driver: postgresql\n  dsn_file: state.dsn\n");
    CHECK_STR(json_string_value(get(cfg ? cfg->root : NULL, "state.driver")), "postgresql");
    /* a relative dsn_file is taken from the configuration file's directory, like every path */
    path = cs_xasprintf("%s/state.dsn", tmpdir);
    CHECK_STR(json_string_value(get(cfg ? cfg->root : NULL, "state.dsn_file")), path);
    free(path);
    cs_config_free(cfg);

    expect_error("state-typo.conf", "plugins: []\nstate: {driver: postgres}\n",
                 "state-typo.conf:2:9: state.driver: unknown value \"postgres\" (did you mean \"postgresql\"?)");
    expect_error("state-sqlite.conf", "plugins: []\nstate: {dsn_file: state.dsn}\n",
                 "state-sqlite.conf:2:9: state.dsn_file: is read by the postgresql driver only; remove it, or set "
                 "driver: postgresql");
    write_file("open.dsn", "host=db1 password=" SECRET "\n", 0644);
    want = cs_xasprintf("state-open.conf:2:29: state.dsn_file: %s/open.dsn is readable by group or others (mode "
                        "0644); run: chmod 600 %s/open.dsn",
                        tmpdir, tmpdir);
    expect_error("state-open.conf", "plugins: []\nstate: {driver: postgresql, dsn_file: open.dsn}\n", want);
    free(want);
}

/* Options of a stage deep in a workflow, and of an entity that is absent (defaults only). */
static void test_nested_options(void)
{
    static const cs_setting stage_table[] = {{CS_SETTING_HEAD, "fields", CS_OPT_JSON, CS_OPT_REQUIRED, NULL, "renames"},
                                             {CS_SETTING_HEAD, "strict", CS_OPT_BOOL, 0, "no", "reject unknown fields"},
                                             {CS_SETTING_HEAD, NULL}};
    static const char *const skip_name[] = {"name", NULL};
    struct cs_config *cfg = load_ok("stage.conf", CONNECTIONS "workflows:\n"
                                                              "  - id: sync\n"
                                                              "    source: d365\n"
                                                              "    sink: acs\n"
                                                              "    mappings:\n"
                                                              "      - stream: contacts\n"
                                                              "        stages:\n"
                                                              "          - name: rename\n"
                                                              "            fieldz: {a: b}\n");
    json_t *r = NULL;
    char *err = NULL;

    if (!cfg)
        return;
    CHECK_INT(cs_config_plugin_options(cfg, "workflows[0].mappings[0].stages[0]", stage_table, skip_name, &r, &err),
              CS_E_INVAL);
    CHECK_STR(err, "stage.conf:15:13: workflows[0].mappings[0].stages[0].fieldz: unknown key (did you mean "
                   "\"fields\"?)\n"
                   "stage.conf:14:13: workflows[0].mappings[0].stages[0].fields: required");
    CHECK(r == NULL);
    free(err);
    err = NULL;
    CHECK_INT(cs_config_plugin_options(cfg, "workflows[0].mappings[0].entity", stage_table + 1, skip_name, &r, &err),
              0);
    CHECK(err == NULL);
    CHECK(json_is_false(get(r, "strict")));
    CHECK_INT(json_object_size(r), 1);
    json_decref(r);
    free(err);
    cs_config_free(cfg);
}

/* The conf.d files (*.conf) beside the file add plugins, connections and workflows, in name order; positions and
 * errors name the drop-in file. In a subdirectory of its own (the temporary directory stays flat). */
static void test_conf_d(void)
{
    static const char *const files[] = {"sub/conf.d/10-second.conf", "sub/conf.d/notes.txt", "sub/conf.d/20-dup.conf",
                                        "sub/main.conf"};
    struct cs_config *cfg = NULL;
    char *err = NULL;
    CHECK(mkdir("sub", 0700) == 0 && mkdir("sub/conf.d", 0700) == 0);
    write_file("sub/main.conf",
               CONNECTIONS "workflows:\n"
                           "  - id: sync\n"
                           "    source: d365\n"
                           "    sink: acs\n"
                           "    mappings: [{stream: contacts}]\n",
               0600);
    write_file("sub/conf.d/10-second.conf",
               "plugins: [campaign, adobe]\n"
               "connections:\n"
               "  acs2: {connector: campaign}\n"
               "workflows:\n"
               "  - id: second\n"
               "    source: d365\n"
               "    sink: acs2\n"
               "    writers: 0\n"
               "    mappings: [{stream: contacts}]\n",
               0600);
    write_file("sub/conf.d/notes.txt", "not: [a config\n", 0600);
    CHECK_INT(cs_config_load("sub/main.conf", &cfg, &err), CS_E_INVAL);
    CHECK_STR(err, "sub/conf.d/10-second.conf:8:5: workflows[1].writers: must be between 1 and 64, got 0");
    free(err);
    write_file("sub/conf.d/10-second.conf",
               "plugins: [campaign, adobe]\n"
               "connections:\n"
               "  acs2: {connector: campaign}\n"
               "workflows:\n"
               "  - id: second\n"
               "    source: d365\n"
               "    sink: acs2\n"
               "    mappings: [{stream: contacts}]\n",
               0600);
    CHECK_INT(cs_config_load("sub/main.conf", &cfg, &err), 0);
    CHECK(err == NULL);
    free(err);
    CHECK(cfg && json_array_size(get(cfg->root, "workflows")) == 2);
    CHECK_STR(json_string_value(get(cfg ? cfg->root : NULL, "workflows.1.sink")), "acs2");
    CHECK_STR(json_string_value(get(cfg ? cfg->root : NULL, "connections.acs2.connector")), "campaign");
    CHECK(cfg && json_array_size(get(cfg->root, "plugins")) == 3);  /* campaign once */
    CHECK(cfg && json_array_size(get(cfg->raw, "workflows")) == 2); /* revisions see the drop-in's workflow */
    cs_config_free(cfg);

    write_file("sub/conf.d/20-dup.conf",
               "connections:\n"
               "  acs: {connector: campaign}\n"
               "workflows:\n"
               "  - {id: second, source: d365, sink: acs, mappings: [{stream: contacts}]}\n",
               0600);
    write_file("sub/conf.d/30-key.conf", "state_dir: /tmp\n", 0600);
    CHECK_INT(cs_config_load("sub/main.conf", &cfg, &err), CS_E_INVAL);
    CHECK_CONTAINS(err, "sub/conf.d/20-dup.conf:2:3: connections.acs: defined already (first at line 5)");
    CHECK_CONTAINS(err, "sub/conf.d/30-key.conf:1:1: state_dir: a conf.d file holds only plugins, connections and "
                        "workflows; move this to sub/main.conf");
    free(err);
    CHECK(unlink("sub/conf.d/30-key.conf") == 0);
    write_file("sub/conf.d/20-dup.conf",
               "workflows:\n"
               "  - {id: second, source: d365, sink: acs, mappings: [{stream: contacts}]}\n",
               0600);
    CHECK_INT(cs_config_load("sub/main.conf", &cfg, &err), CS_E_INVAL);
    CHECK_CONTAINS(err, "sub/conf.d/20-dup.conf:2:6: workflows[2].id: duplicate workflow id \"second\" (first at "
                        "sub/conf.d/10-second.conf:5)");
    free(err);
    for (size_t i = 0; i < sizeof files / sizeof *files; i++)
        CHECK(unlink(files[i]) == 0);
    CHECK(rmdir("sub/conf.d") == 0 && rmdir("sub") == 0);
}

/* Remove the (flat) temporary directory. */
static void remove_tmpdir(void)
{
    DIR *dir = opendir(".");
    struct dirent *de;

    CHECK(dir != NULL);
    while (dir && (de = readdir(dir)))
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            CHECK(unlink(de->d_name) == 0);
    if (dir)
        closedir(dir);
    CHECK(chdir("/") == 0);
    CHECK(rmdir(tmpdir) == 0);
}

/* Relative paths are taken from the configuration file's directory, whatever the working directory; absolute
 * paths, URLs and plain strings stay as written. */
static void test_relative_paths(void)
{
    struct cs_config *cfg;
    char here[4096], *want, *err = NULL;
    json_t *r = NULL;

    CHECK(getcwd(here, sizeof here) != NULL);
    CHECK(mkdir("etc", 0700) == 0);
    write_file("etc/c.secret", SECRET "\n", 0600);
    cfg = load_ok("etc/rel.conf", "state_dir: state\n"
                                  "plugin_dir: ../lib/plugins\n"
                                  "plugins: [dynamics365, ./own/x.so, /opt/y.so]\n"
                                  "admin: {token_file: admin.token, web_dir: /usr/share/crmsync/web, "
                                  "tokens: [{token_file: viewer.token, role: viewer}]}\n"
                                  "connections:\n"
                                  "  c: {connector: x, url: u, client_secret_file: c.secret, key_file: keys/id, "
                                  "export: sftp://h/dir/, note: not/a/path}\n");
    want = cs_xasprintf("%s/etc", here);
    CHECK_STR(cfg ? cfg->dir : NULL, want);
    free(want);
#define CHECK_IN(key, rel)                                                                                             \
    do {                                                                                                               \
        char *full = cs_xasprintf("%s/%s", here, rel);                                                                 \
        CHECK_STR(cfg ? json_string_value(get(cfg->root, key)) : NULL, full);                                          \
        free(full);                                                                                                    \
    } while (0)
    CHECK_IN("state_dir", "etc/state");
    CHECK_IN("plugin_dir", "etc/../lib/plugins");
    CHECK_IN("plugins.1", "etc/./own/x.so");
    CHECK_IN("admin.token_file", "etc/admin.token");
    CHECK_IN("admin.tokens.0.token_file", "etc/viewer.token");
#undef CHECK_IN
    CHECK_STR(cfg ? json_string_value(get(cfg->root, "plugins.0")) : NULL, "dynamics365");
    CHECK_STR(cfg ? json_string_value(get(cfg->root, "plugins.2")) : NULL, "/opt/y.so");
    CHECK_STR(cfg ? json_string_value(get(cfg->root, "admin.web_dir")) : NULL, "/usr/share/crmsync/web");
    if (cfg && cs_config_plugin_options(cfg, "connections.c", table, skip_connector, &r, &err) == 0) {
        want = cs_xasprintf("%s/etc/keys/id", here);
        CHECK_STR(json_string_value(get(r, "key_file")), want);
        free(want);
        CHECK_STR(json_string_value(get(r, "export")), "sftp://h/dir/");
        CHECK_STR(json_string_value(get(r, "note")), "not/a/path");
        CHECK_STR(json_string_value(get(r, "client_secret")), SECRET); /* read from etc/c.secret */
    } else {
        CHECK(!"the options of a configuration in another directory resolve");
    }
    want = cs_config_path(cfg, "x/y");
    CHECK(cfg && strcmp(want, "") != 0 && strstr(want, "/etc/x/y"));
    free(want);
    json_decref(r);
    free(err);
    cs_config_free(cfg);
    CHECK(unlink("etc/c.secret") == 0 && unlink("etc/rel.conf") == 0 && rmdir("etc") == 0);
}

/* Opt In/Out as one workflow: direction and legs (core/legs.h). */
static void test_legs(void)
{
    static const char conns[] = "plugins: [p]\n"
                                "connections:\n"
                                "  acs: {connector: c}\n"
                                "  d365: {connector: c}\n"
                                "workflows:\n";
    static const char legs[] = "    legs:\n"
                               "      campaign-to-d365:\n"
                               "        source: acs\n"
                               "        sink: d365\n"
                               "        mappings: [{stream: opt-outs, entity: {name: opt-in-out}}]\n"
                               "      d365-to-campaign:\n"
                               "        source: d365\n"
                               "        sink: acs\n"
                               "        mappings: [{stream: contact-optouts, entity: {name: opt-in-out, mode: x}}]\n";
    struct cs_config *cfg;
    char *text, *err = NULL;

    text = cs_xasprintf("%s  - id: opt-in-out\n    direction: d365-to-campaign\n%.*s}}]\n", conns,
                        (int)(strstr(legs, ", mode: x") - legs), legs); /* without the second leg's mode */
    cfg = load_ok("legs.conf", text);
    CHECK_STR(json_string_value(get(cfg->root, "workflows.0.direction")), "d365-to-campaign");
    CHECK_STR(json_string_value(get(cfg->root, "workflows.0.legs.d365-to-campaign.source")), "d365");
    CHECK(get(cfg->root, "workflows.0.source") == NULL);
    CHECK_INT(json_integer_value(get(cfg->root, "workflows.0.poll_interval")), 5000);
    cs_config_free(cfg);
    free(text);

    text = cs_xasprintf("%s  - id: opt-in-out\n    direction: both\n    source: acs\n%s", conns, legs);
    expect_error("legs_bad.conf", text,
                 "legs_bad.conf:8:5: workflows[0].source: a workflow with legs has its source in each leg; move it "
                 "there\n"
                 "legs_bad.conf:17:73: workflows[0].legs.d365-to-campaign.mappings[0].entity.mode: set by the "
                 "workflow's direction in a workflow with legs; remove it\n"
                 "legs_bad.conf:7:5: workflows[0].direction: \"both\" is not a direction of this workflow: use "
                 "disabled, campaign-to-d365, d365-to-campaign or bidirectional");
    free(text);
    expect_error("direction.conf",
                 "plugins: [p]\nconnections: {a: {connector: c}}\nworkflows:\n"
                 "  - {id: w, direction: bidirectional, source: a, sink: a, mappings: [{stream: s}]}\n",
                 "direction.conf:4:13: workflows[0].direction: only a workflow with legs has a direction; add legs or "
                 "remove it");

    /* the former two workflows: refused, the message shows the one workflow to write */
    write_file("former.conf",
               "plugins: [p]\n"
               "connections: {acs: {connector: c}, d365: {connector: c}}\n"
               "workflows:\n"
               "  - id: opt-in-out\n"
               "    source: acs\n"
               "    sink: d365\n"
               "    poll_interval: 1s\n"
               "    mappings: [{stream: opt-outs, target: t, entity: {name: opt-in-out, mode: "
               "campaign-to-d365, fields: {a: blackList}}}]\n"
               "  - id: opt-in-out-to-campaign\n"
               "    source: d365\n"
               "    sink: acs\n"
               "    mappings: [{stream: t, target: opt-outs, entity: {name: opt-in-out, mode: "
               "campaign-to-d365, fields: {a: blackList}}}]\n",
               0600);
    CHECK_INT(cs_config_load("former.conf", &cfg, &err), CS_E_INVAL);
    CHECK(err && strncmp(err,
                         "former.conf:9:5: workflows[1]: this workflow and workflows[0] (line 4) are the two "
                         "directions of Opt In/Out",
                         99) == 0);
    CHECK(err && strstr(err, "\n- id: opt-in-out\n  poll_interval: \"1s\"\n  direction: campaign-to-d365\n  legs:\n"
                             "    campaign-to-d365:\n      source: acs\n      sink: d365\n"));
    CHECK(err && strstr(err, "    d365-to-campaign:\n      source: d365\n      sink: acs\n      mappings:\n"
                             "      - stream: t\n"));
    CHECK(err && !strstr(err, "mode:"));
    free(err);
}

int main(void)
{
    const char *top = getenv("srcdir"), *tmp = getenv("TMPDIR");

    if (!realpath(top ? top : ".", srcdir)) {
        perror("srcdir");
        return 99;
    }
    snprintf(tmpdir, sizeof tmpdir, "%s/test_config.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(tmpdir) || chdir(tmpdir) != 0) {
        perror(tmpdir);
        return 99;
    }
    test_defaults();
    test_scalar_types();
    test_syntax();
    test_unknown_keys();
    test_schema_errors();
    test_many_errors();
    test_io_errors();
    test_durations();
    test_json();
    test_documented_example();
    test_plugin_options();
    test_option_limits();
    test_secrets();
    test_state();
    test_nested_options();
    test_conf_d();
    test_legs();
    test_relative_paths();
    remove_tmpdir();
    return check_exit();
}
