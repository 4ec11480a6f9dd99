/*
 * admin_guard.c - the admin API's connections against slow and stalled clients (see admin_guard.h).
 *
 * libmicrohttpd's own timeout is an idle timeout: a client that sends one header byte now and then
 * keeps its connection for ever, and a few hundred such clients fill the connection limit. So every
 * connection is tracked from the moment it is accepted (MHD_OPTION_NOTIFY_CONNECTION):
 *   - while it waits for a request head (new, or kept alive after an answer) it has head_ms to finish
 *     one; then a thread of this file closes it (admin.c extends the wait to the whole body for a client
 *     without an operator token: such a client has no use for a body);
 *   - when a new connection brings its address over per_ip (loopback clients share only the total: all
 *     local users have the same address), or the total over max, the connection that has waited longest
 *     for a head — a slow or stalled client, never one being served — is closed to make room; when none
 *     waits, the new connection itself is.
 * A connection is closed by shutdown() of its socket, under the lock: libmicrohttpd then reads the end
 * of the stream and closes it as usual, and tells NOTIFY_CLOSED (which takes the lock) before it closes
 * the descriptor, so a descriptor in the list is always the connection's own.
 */
#include "admin_guard.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "util/log.h"
#include "util/util.h"

#define TICK_MS   200   /* how often deadlines are looked at */
#define REPORT_MS 10000 /* at most one log line about closed connections this often */

struct slot {
    struct cs_guard *g;
    struct slot *prev, *next;
    int fd;
    struct sockaddr_storage peer;
    int local;     /* a loopback peer: only the total limit applies */
    int waiting;   /* for a request head */
    int closing;   /* shut down by the guard: no longer counted */
    int64_t since; /* when it began waiting */
};

enum reason { CLOSED_SLOW, CLOSED_FOR_ROOM, CLOSED_OVER_IP, N_REASONS };
static const char *const reason_names[N_REASONS] = {"head_timeout", "connection_limit", "address_limit"};

struct cs_guard {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t thread;
    int stopping;
    struct slot *head, *tail;
    unsigned live; /* slots not closing */
    unsigned max, per_ip;
    int64_t head_ms;
    uint64_t closed[N_REASONS];   /* since the start */
    uint64_t reported[N_REASONS]; /* as of the last log line */
    int64_t reported_at;
};

/* ---- the list ----------------------------------------------------------------------------------- */

static int same_address(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return 0;
    if (a->ss_family == AF_INET)
        return ((const struct sockaddr_in *)a)->sin_addr.s_addr == ((const struct sockaddr_in *)b)->sin_addr.s_addr;
    return a->ss_family == AF_INET6 &&
           memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr, &((const struct sockaddr_in6 *)b)->sin6_addr,
                  sizeof(struct in6_addr)) == 0;
}

static int is_local(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
    if (ss->ss_family != AF_INET6)
        return 0;
    {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
    }
}

/* Close slot s for `why`. Lock held. */
static void close_slot(struct cs_guard *g, struct slot *s, enum reason why)
{
    shutdown(s->fd, SHUT_RDWR);
    s->closing = 1;
    g->live--;
    g->closed[why]++;
}

/* The live slot that has waited longest for a head, from `peer` when it is not NULL. Lock held. */
static struct slot *longest_waiting(struct cs_guard *g, const struct sockaddr_storage *peer)
{
    struct slot *best = NULL;
    for (struct slot *s = g->head; s; s = s->next)
        if (s->waiting && !s->closing && (!peer || same_address(&s->peer, peer)) && (!best || s->since < best->since))
            best = s;
    return best;
}

static unsigned live_from(const struct cs_guard *g, const struct sockaddr_storage *peer)
{
    unsigned n = 0;
    for (const struct slot *s = g->head; s; s = s->next)
        n += !s->closing && same_address(&s->peer, peer);
    return n;
}

/* A new connection: counted, and the limits kept by closing who waited longest. */
static struct slot *admit(struct cs_guard *g, struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *fd = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    const union MHD_ConnectionInfo *addr = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    struct slot *s = cs_xcalloc(1, sizeof *s);
    struct slot *victim;

    s->g = g;
    s->fd = fd ? fd->connect_fd : -1;
    if (addr && addr->client_addr)
        memcpy(&s->peer, addr->client_addr,
               addr->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
    s->local = is_local(&s->peer);
    s->waiting = 1;
    s->since = cs_mono_ms();
    pthread_mutex_lock(&g->lock);
    s->prev = g->tail;
    if (g->tail)
        g->tail->next = s;
    else
        g->head = s;
    g->tail = s;
    g->live++;
    if (!s->local && live_from(g, &s->peer) > g->per_ip && (victim = longest_waiting(g, &s->peer)))
        close_slot(g, victim, CLOSED_OVER_IP);
    if (g->live > g->max && (victim = longest_waiting(g, NULL)))
        close_slot(g, victim, CLOSED_FOR_ROOM);
    if (g->live > g->max && !s->closing) /* every other connection is being served */
        close_slot(g, s, CLOSED_FOR_ROOM);
    pthread_mutex_unlock(&g->lock);
    return s;
}

static void forget(struct cs_guard *g, struct slot *s)
{
    pthread_mutex_lock(&g->lock);
    if (s->prev)
        s->prev->next = s->next;
    else
        g->head = s->next;
    if (s->next)
        s->next->prev = s->prev;
    else
        g->tail = s->prev;
    if (!s->closing)
        g->live--;
    pthread_mutex_unlock(&g->lock);
    free(s);
}

void cs_guard_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                     enum MHD_ConnectionNotificationCode code)
{
    struct cs_guard *g = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        *socket_context = admit(g, conn);
    } else if (*socket_context) {
        forget(g, *socket_context);
        *socket_context = NULL;
    }
}

/* Mark the slot of `conn` waiting for a head (since now) or not. */
static void set_waiting(struct MHD_Connection *conn, int waiting)
{
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct slot *s = info ? info->socket_context : NULL;
    if (!s)
        return;
    pthread_mutex_lock(&s->g->lock);
    s->waiting = waiting;
    s->since = cs_mono_ms();
    pthread_mutex_unlock(&s->g->lock);
}

void cs_guard_serving(struct MHD_Connection *conn)
{
    set_waiting(conn, 0);
}

void cs_guard_request_done(struct MHD_Connection *conn)
{
    set_waiting(conn, 1);
}

/* ---- the deadline thread ---------------------------------------------------------------------------- */

/* One line about the connections closed since the last one, at most every REPORT_MS. Lock held. */
static void report(struct cs_guard *g, int64_t now)
{
    uint64_t n[N_REASONS];
    int any = 0;
    if (now - g->reported_at < REPORT_MS)
        return;
    for (int i = 0; i < N_REASONS; i++) {
        n[i] = g->closed[i] - g->reported[i];
        any |= n[i] != 0;
        g->reported[i] = g->closed[i];
    }
    g->reported_at = now;
    if (any)
        cs_log(CS_LOG_NOTICE, "admin",
               "closed %llu connection(s) that sent no complete request head within %.1f s, and %llu to make room "
               "(%llu at the limit of %u connections, %llu at %u per address): slow or stalled clients",
               (unsigned long long)n[CLOSED_SLOW], (double)g->head_ms / 1000.0,
               (unsigned long long)(n[CLOSED_FOR_ROOM] + n[CLOSED_OVER_IP]), (unsigned long long)n[CLOSED_FOR_ROOM],
               g->max, (unsigned long long)n[CLOSED_OVER_IP], g->per_ip);
}

static void *deadlines(void *arg)
{
    struct cs_guard *g = arg;
    pthread_mutex_lock(&g->lock);
    while (!g->stopping) {
        int64_t now = cs_mono_ms();
        struct timespec until;
        for (struct slot *s = g->head; s; s = s->next)
            if (s->waiting && !s->closing && now - s->since >= g->head_ms)
                close_slot(g, s, CLOSED_SLOW);
        report(g, now);
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += TICK_MS * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        while (!g->stopping && pthread_cond_timedwait(&g->wake, &g->lock, &until) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&g->lock);
    return NULL;
}

struct cs_guard *cs_guard_new(unsigned max, unsigned per_ip, int64_t head_ms)
{
    struct cs_guard *g = cs_xcalloc(1, sizeof *g);
    pthread_condattr_t attr;
    pthread_mutex_init(&g->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&g->wake, &attr);
    pthread_condattr_destroy(&attr);
    g->max = max;
    g->per_ip = per_ip;
    g->head_ms = head_ms;
    g->reported_at = cs_mono_ms();
    if (pthread_create(&g->thread, NULL, deadlines, g) != 0)
        abort();
    return g;
}

void cs_guard_free(struct cs_guard *g)
{
    if (!g)
        return;
    pthread_mutex_lock(&g->lock);
    g->stopping = 1;
    pthread_cond_signal(&g->wake);
    pthread_mutex_unlock(&g->lock);
    pthread_join(g->thread, NULL);
    while (g->head) /* none when the server has stopped; kept safe anyway */
        forget(g, g->head);
    pthread_cond_destroy(&g->wake);
    pthread_mutex_destroy(&g->lock);
    free(g);
}

char *cs_guard_metrics(struct cs_guard *g)
{
    char *text;
    pthread_mutex_lock(&g->lock);
    text = cs_xasprintf("# HELP crmsync_admin_connections Connections to the admin API.\n"
                        "# TYPE crmsync_admin_connections gauge\n"
                        "crmsync_admin_connections %u\n"
                        "# HELP crmsync_admin_connections_closed_total Admin API connections closed by crmsyncd: slow "
                        "request heads, and room made at the connection limits.\n"
                        "# TYPE crmsync_admin_connections_closed_total counter\n"
                        "crmsync_admin_connections_closed_total{reason=\"%s\"} %llu\n"
                        "crmsync_admin_connections_closed_total{reason=\"%s\"} %llu\n"
                        "crmsync_admin_connections_closed_total{reason=\"%s\"} %llu\n",
                        g->live, reason_names[CLOSED_SLOW], (unsigned long long)g->closed[CLOSED_SLOW],
                        reason_names[CLOSED_FOR_ROOM], (unsigned long long)g->closed[CLOSED_FOR_ROOM],
                        reason_names[CLOSED_OVER_IP], (unsigned long long)g->closed[CLOSED_OVER_IP]);
    pthread_mutex_unlock(&g->lock);
    return text;
}
