/*
 * legs.h - a workflow that runs both ways (Adobe's "Opt In/Out"): one definition with `direction` and
 * `legs`, each leg a one-way {source, sink, mappings}. The operator sees one workflow (one status, one
 * backlog, one Start/Stop, one revision history); the engine runs each leg the direction selects as an
 * internal workflow of its own, with its own reader, writers, backlog rows, cursors and dead letters
 * kept under the state id "<workflow id>/<leg>". `direction` is "disabled", "bidirectional" (every
 * leg) or the name of the one leg that runs.
 */
#ifndef CS_LEGS_H
#define CS_LEGS_H

#include <jansson.h>

#define CS_LEGS_MAX 2

/* Nonzero when the definition has legs. */
int cs_legs_has(const json_t *def);
/* Nonzero when leg `leg` runs under the definition's direction. */
int cs_legs_runs(const json_t *def, const char *leg);
/* "<id>/<leg>": where a leg's backlog, cursors and dead letters are kept. New. */
char *cs_legs_state_id(const char *id, const char *leg);
/* Leg `leg` of a normalized definition as a one-way definition (new): the workflow's settings with the
 * leg's source, sink and mappings, id set to its state id, and `direction` (the entity handlers that
 * take a `mode` receive it): the workflow's when the leg runs under it, else the leg's own name, the way
 * it would run alone (so a leg that does not run is checked all the same). NULL when there is no such
 * leg. */
json_t *cs_legs_definition(const json_t *def, const char *leg);
/* Nonzero when the two one-way definitions go over the same connections the same way with the same
 * streams: a leg and the workflow it was before legs existed. */
int cs_legs_same_way(const json_t *a, const json_t *b);

/*
 * The former two-workflow form of Opt In/Out: two one-way workflows in `workflows` (as written) whose
 * every mapping has the entity handler opt-in-out, going opposite ways between the same connections.
 * Returns the index of the second one and sets *first, or -1. *merged (new) is the one workflow to
 * write instead: the first one's id, title and settings, direction from the handlers' mode, a leg
 * per workflow named after the way it goes, and no mode.
 */
long cs_legs_former_pair(const json_t *workflows, size_t *first, json_t **merged);

#endif
