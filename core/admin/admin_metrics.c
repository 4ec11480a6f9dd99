/*
 * admin_metrics.c - /metrics in the Prometheus text format: per workflow the backlog, dead letters,
 * status, record counters, the write-latency histogram, and every counter plugins keep through
 * host->metric_add (remote calls by kind and outcome, 429s...); on a shared state database, the fleet's:
 * which reader leases this node holds, the live members, this node's heartbeat, whether the database
 * answers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_http.h"
#include "engine/engine.h"
#include "engine/workflow.h"

/* A label value with \, " and newlines escaped. New. */
static char *label(const char *s)
{
    size_t n = strlen(s);
    char *out = malloc(2 * n + 1), *o = out;
    if (!out)
        abort();
    for (; *s; s++) {
        if (*s == '\\' || *s == '"' || *s == '\n')
            *o++ = '\\';
        *o++ = *s == '\n' ? 'n' : *s;
    }
    *o = '\0';
    return out;
}

static void family(FILE *out, const char *name, const char *type, const char *help)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static const struct {
    const char *metric, *field, *type, *help;
} simple[] = {
    {"crmsync_backlog", "backlog", "gauge", "Records queued, not yet written."},
    {"crmsync_dead_letters", "dead_letters", "gauge", "Dead letters not redriven."},
    {"crmsync_records_read_total", "records_read", "counter", "Records read from the source."},
    {"crmsync_records_written_total", "records_written", "counter", "Records written to the sink."},
    {"crmsync_records_rejected_total", "records_rejected", "counter", "Records dead-lettered."},
    {"crmsync_write_retries_total", "write_retries", "counter", "Record writes to be retried."},
};

static void write_histogram(FILE *out, const char *wf, const json_t *latency)
{
    const json_t *buckets = json_object_get(latency, "buckets");
    long long cumulative = 0;
    for (size_t i = 0; i < json_array_size(buckets); i++) {
        cumulative += json_integer_value(json_array_get(buckets, i));
        if (i < CS_LATENCY_BUCKETS)
            fprintf(out, "crmsync_write_duration_seconds_bucket{workflow=\"%s\",le=\"%g\"} %lld\n", wf,
                    cs_latency_bounds_ms[i] / 1000.0, cumulative);
        else
            fprintf(out, "crmsync_write_duration_seconds_bucket{workflow=\"%s\",le=\"+Inf\"} %lld\n", wf, cumulative);
    }
    fprintf(out, "crmsync_write_duration_seconds_sum{workflow=\"%s\"} %g\n", wf,
            json_integer_value(json_object_get(latency, "sum_ms")) / 1000.0);
    fprintf(out, "crmsync_write_duration_seconds_count{workflow=\"%s\"} %lld\n", wf, cumulative);
}

/* What plugins report, per workflow: remote calls ("http_<outcome>@<connection>" counters), their other
 * counters, or their gauges. */
enum plugin_values { REMOTE_CALLS, EVENTS, GAUGES };

static void write_plugin_values(FILE *out, const json_t *list, enum plugin_values kind)
{
    const json_t *w;
    size_t i;
    json_array_foreach (list, i, w) {
        char *wf = label(json_string_value(json_object_get(w, "id")));
        const char *name;
        json_t *v;
        json_object_foreach (json_object_get(w, kind == GAUGES ? "gauges" : "metrics"), name, v) {
            const char *at = strchr(name, '@');
            int is_remote = strncmp(name, "http_", 5) == 0 && at;
            if (kind != GAUGES && is_remote != (kind == REMOTE_CALLS))
                continue;
            if (kind == REMOTE_CALLS) {
                char *outcome = strndup(name + 5, (size_t)(at - name - 5)), *conn = label(at + 1);
                fprintf(out, "crmsync_remote_calls_total{workflow=\"%s\",connection=\"%s\",outcome=\"%s\"} %lld\n", wf,
                        conn, outcome ? outcome : "", (long long)json_integer_value(v));
                free(outcome);
                free(conn);
            } else {
                char *n = label(name);
                fprintf(out, "%s{workflow=\"%s\",name=\"%s\"} %lld\n",
                        kind == GAUGES ? "crmsync_plugin_gauge" : "crmsync_plugin_events_total", wf, n,
                        (long long)json_integer_value(v));
                free(n);
            }
        }
        free(wf);
    }
}

/* The fleet's metrics (cs_engine_fleet_health), when the state database is shared. */
static void write_fleet(FILE *out, const json_t *health)
{
    const char *id;
    json_t *held;
    if (!health)
        return;
    family(out, "crmsync_reader_lease", "gauge",
           "1 when this node holds the workflow's reader lease (reads its source).");
    json_object_foreach ((json_t *)json_object_get(health, "leases"), id, held) {
        char *wf = label(id);
        fprintf(out, "crmsync_reader_lease{workflow=\"%s\"} %lld\n", wf, (long long)json_integer_value(held));
        free(wf);
    }
    family(out, "crmsync_fleet_members", "gauge", "Live members of the fleet, as this node last saw it.");
    fprintf(out, "crmsync_fleet_members %lld\n", (long long)json_integer_value(json_object_get(health, "members")));
    family(out, "crmsync_fleet_heartbeat_age_seconds", "gauge",
           "Seconds since this node's last heartbeat that succeeded (-1: none yet); past the lease, the others "
           "count it dead.");
    fprintf(out, "crmsync_fleet_heartbeat_age_seconds %g\n",
            json_integer_value(json_object_get(health, "heartbeat_age_ms")) < 0
                ? -1.0
                : json_integer_value(json_object_get(health, "heartbeat_age_ms")) / 1000.0);
    family(out, "crmsync_fleet_heartbeat_failures_total", "counter", "Heartbeats of this node that failed.");
    fprintf(out, "crmsync_fleet_heartbeat_failures_total %lld\n",
            (long long)json_integer_value(json_object_get(health, "heartbeats_failed")));
    family(out, "crmsync_state_database_answering", "gauge",
           "1 while the state database answers, 0 while a call waits on it (a partition) or it cannot be reached.");
    fprintf(out, "crmsync_state_database_answering %d\n", json_is_true(json_object_get(health, "state_db_answering")));
}

char *cs_admin_metrics(struct cs_engine *e)
{
    static const char *const statuses[] = {"STOPPED", "STARTING", "RUNNING", "FAILED"};
    json_t *list = cs_engine_list(e), *w, *fleet;
    char *text = NULL;
    size_t len = 0, i;
    FILE *out = open_memstream(&text, &len);

    if (!out)
        abort();
    for (size_t m = 0; m < sizeof simple / sizeof simple[0]; m++) {
        family(out, simple[m].metric, simple[m].type, simple[m].help);
        json_array_foreach (list, i, w) {
            char *wf = label(json_string_value(json_object_get(w, "id")));
            fprintf(out, "%s{workflow=\"%s\"} %lld\n", simple[m].metric, wf,
                    (long long)json_integer_value(json_object_get(w, simple[m].field)));
            free(wf);
        }
    }
    family(out, "crmsync_workflow_status", "gauge", "1 for the workflow's current status.");
    json_array_foreach (list, i, w) {
        char *wf = label(json_string_value(json_object_get(w, "id")));
        for (size_t s = 0; s < 4; s++)
            fprintf(out, "crmsync_workflow_status{workflow=\"%s\",status=\"%s\"} %d\n", wf, statuses[s],
                    strcmp(json_string_value(json_object_get(w, "status")), statuses[s]) == 0);
        free(wf);
    }
    family(out, "crmsync_write_duration_seconds", "histogram", "Time a sink's write() of one batch took.");
    json_array_foreach (list, i, w) {
        char *wf = label(json_string_value(json_object_get(w, "id")));
        write_histogram(out, wf, json_object_get(w, "write_latency"));
        free(wf);
    }
    family(out, "crmsync_remote_calls_total", "counter",
           "Requests connectors sent, by connection and outcome (HTTP status, or error for no answer).");
    write_plugin_values(out, list, REMOTE_CALLS);
    family(out, "crmsync_plugin_events_total", "counter", "Other counters plugins keep (lookups, cache hits...).");
    write_plugin_values(out, list, EVENTS);
    family(out, "crmsync_plugin_gauge", "gauge", "Values plugins report as they are now (e.g. the age of a file).");
    write_plugin_values(out, list, GAUGES);
    fleet = cs_engine_fleet_health(e);
    write_fleet(out, fleet);
    json_decref(fleet);
    fclose(out);
    json_decref(list);
    return text;
}
