/*
 * replay.h - replays staged until the next start. A replay of a mapping re-reads its source table
 * from the beginning as a full load; as Adobe's app does, it is requested while the workflow runs and
 * begins at the next stop and start. The staged streams are kept in the state database, so a restart
 * of the daemon does not forget them.
 */
#ifndef CS_REPLAY_H
#define CS_REPLAY_H

#include <jansson.h>

struct cs_backlog;

/* Stage a replay of `stream` (once: staging it again changes nothing). 0 or the backlog's error. */
int cs_replay_stage(struct cs_backlog *b, const char *wf, const char *stream);
/* The staged streams, as a new array (empty when none). */
json_t *cs_replay_staged(struct cs_backlog *b, const char *wf);
/* At start: forget the cursor of every staged stream, so the reader reads it from the beginning, and
 * clear the list. */
void cs_replay_apply_staged(struct cs_backlog *b, const char *wf);

#endif
