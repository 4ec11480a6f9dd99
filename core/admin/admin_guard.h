/*
 * admin_guard.h - private to the admin API: its connections against slow and stalled clients
 * (admin_guard.c). A deadline for each request head, a limit of connections per client address and in
 * all, and at a limit the connection that has waited longest for a request head gives way first.
 */
#ifndef CS_ADMIN_GUARD_H
#define CS_ADMIN_GUARD_H

#include <stdint.h>

#include <microhttpd.h>

struct cs_guard;

/* At most `max` connections, `per_ip` of them from one address other than loopback, and `head_ms` to
 * send a request head (counted from the connection, or from the end of the previous request on a kept-
 * alive connection). Starts its own thread. New; never NULL. */
struct cs_guard *cs_guard_new(unsigned max, unsigned per_ip, int64_t head_ms);
/* Stop the thread and free: after the server has stopped (its connections are closed). */
void cs_guard_free(struct cs_guard *g);

/* MHD_OPTION_NOTIFY_CONNECTION, with the guard as its closure. */
void cs_guard_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                     enum MHD_ConnectionNotificationCode code);
/* `conn` is being served: its request is in (the head, and the body of a client trusted to send it
 * slowly); no deadline and no eviction until cs_guard_request_done(). */
void cs_guard_serving(struct MHD_Connection *conn);
/* The request of `conn` is over: it waits for the next head. */
void cs_guard_request_done(struct MHD_Connection *conn);

/* The guard's counters in Prometheus text (new). */
char *cs_guard_metrics(struct cs_guard *g);

#endif
