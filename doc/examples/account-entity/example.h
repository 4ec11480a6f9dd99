/*
 * example.h - what the example plugin's files share: the stage defined in email_case.c, listed by the
 * plugin descriptor in account.c.
 */
#ifndef EXAMPLE_H
#define EXAMPLE_H

#include <crmsync/plugin.h>

extern const cs_stage example_email_case;

#endif
