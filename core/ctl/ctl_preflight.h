/*
 * ctl_preflight.h - crmsyncctl's preflight and setup commands (ctl_preflight.c).
 */
#ifndef CS_CTL_PREFLIGHT_H
#define CS_CTL_PREFLIGHT_H

#include "ctl_client.h"

/* preflight [WORKFLOW...]: one line per check; CTL_OK only when every check passed, else CTL_NOT_READY. */
int ctl_preflight(struct ctl_client *c, int json, int n_ids, char **ids);
/* setup CONNECTOR [--dry-run]: one line per step (or "nothing to do"). */
int ctl_setup(struct ctl_client *c, int json, const char *connector, int dry_run);

#endif
