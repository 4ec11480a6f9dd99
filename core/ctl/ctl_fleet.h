/*
 * ctl_fleet.h - crmsyncctl's fleet command (ctl_fleet.c) and the one line a workflow's `show` gives of
 * where it runs.
 */
#ifndef CS_CTL_FLEET_H
#define CS_CTL_FLEET_H

#include <jansson.h>

#include "ctl_client.h"

/* fleet: the daemons sharing the state database, then each workflow's reader and writers per node. */
int ctl_fleet(struct ctl_client *c, int json);
/* "reader on node a; writers: a 4, b 4" of a workflow's status answer, as a new string. */
char *ctl_fleet_placement(const json_t *workflow);

#endif
