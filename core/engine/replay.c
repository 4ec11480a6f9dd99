/*
 * replay.c - the staged replays of each workflow, as a JSON list in the state database's key/value
 * store (namespace "core/replay", key = workflow id). See replay.h.
 */
#include "replay.h"

#include <stdlib.h>
#include <string.h>

#include "state/backlog.h"
#include "util/log.h"

#define REPLAY_NS "core/replay"

json_t *cs_replay_staged(struct cs_backlog *b, const char *wf)
{
    char *text = NULL;
    json_t *list = NULL;
    if (cs_backlog_kv_get(b, REPLAY_NS, wf, &text) == 0 && text)
        list = json_loads(text, 0, NULL);
    free(text);
    if (!json_is_array(list)) {
        json_decref(list);
        list = json_array();
    }
    return list;
}

static int store(struct cs_backlog *b, const char *wf, const json_t *list)
{
    char *text = json_array_size(list) ? json_dumps(list, JSON_COMPACT) : NULL;
    int rc = cs_backlog_kv_put(b, REPLAY_NS, wf, text);
    free(text);
    return rc;
}

int cs_replay_stage(struct cs_backlog *b, const char *wf, const char *stream)
{
    json_t *list = cs_replay_staged(b, wf), *s;
    size_t i;
    int rc = 0;
    json_array_foreach (list, i, s) {
        if (strcmp(json_string_value(s), stream) == 0) {
            json_decref(list);
            return 0;
        }
    }
    json_array_append_new(list, json_string(stream));
    rc = store(b, wf, list);
    json_decref(list);
    if (rc == 0)
        cs_log(CS_LOG_NOTICE, wf, "replay of %s staged: it begins at the next stop and start", stream);
    return rc;
}

void cs_replay_apply_staged(struct cs_backlog *b, const char *wf)
{
    json_t *list = cs_replay_staged(b, wf), *left = json_array(), *s;
    size_t i;
    json_array_foreach (list, i, s) {
        if (cs_backlog_cursor_reset(b, wf, json_string_value(s)) == 0) {
            cs_log(CS_LOG_NOTICE, wf, "replay of %s begins: the table is read again from the beginning",
                   json_string_value(s));
        } else {
            cs_log(CS_LOG_ERROR, wf, "replay of %s: cannot forget its cursor (%s); it stays staged",
                   json_string_value(s), cs_backlog_errmsg(b));
            json_array_append(left, s);
        }
    }
    if (json_array_size(list))
        store(b, wf, left);
    json_decref(left);
    json_decref(list);
}
