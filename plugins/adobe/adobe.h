/*
 * adobe.h - adobe.so, the entity handlers that give the Campaign <-> Dynamics 365 records the shape
 * Adobe's integration gives them: "email-activity" (a Campaign email event as a Dynamics 365 timeline
 * activity) and "opt-in-out" (deny-list flags between contact and profile, its modes and field pairs).
 * Written only against the public entity ABI; each instance keeps its own validated options.
 */
#ifndef ADOBE_H
#define ADOBE_H

#include <crmsync/plugin.h>

extern const cs_entity adobe_email_activity;
extern const cs_entity adobe_opt_in_out;

/* An option's string, or NULL when absent, null or empty. */
const char *adobe_opt_str(const json_t *options, const char *name);

#endif
