/*
 * shutdown.c - the watchdog of a stop (shutdown.h). A graceful stop waits for the workflows' in-flight
 * batches and for the admin API's requests in progress; either can be held up far longer than a service
 * manager waits (a write or a connectivity check on a service that does not answer runs to its request
 * timeout). At stop_timeout the process exits at once: the state database is safe at any instant (WAL,
 * synchronous=FULL, a record and its cursor committed together), so nothing queued is lost; a batch
 * whose write was cut short is still in the backlog and is written again at the next start.
 */
#include "shutdown.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"
#include "util/util.h"

struct cs_shutdown {
    pthread_t thread;
    pthread_mutex_t lock; /* guards done and waiting_for */
    pthread_cond_t cond;  /* signalled when done */
    int done, status;
    const char *waiting_for;
    int64_t timeout_ms;
    struct timespec deadline; /* CLOCK_MONOTONIC */
};

static void *watch(void *arg)
{
    struct cs_shutdown *s = arg;
    int expired = 0;
    pthread_mutex_lock(&s->lock);
    while (!s->done && !expired)
        expired = pthread_cond_timedwait(&s->cond, &s->lock, &s->deadline) != 0 && !s->done;
    if (expired) {
        cs_log(CS_LOG_WARNING, "core",
               "the stop took longer than stop_timeout (%lld ms) while waiting for %s: exiting now. Nothing "
               "queued is lost: records whose write was cut short are written again at the next start",
               (long long)s->timeout_ms, s->waiting_for);
        /* other threads may be anywhere, holding any lock: nothing more runs here. Not _exit(): a
         * sanitizer's runtime intercepts it and reports the threads left running, as they are by design */
        syscall(SYS_exit_group, s->status);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

struct cs_shutdown *cs_shutdown_arm(int64_t timeout_ms, int status)
{
    struct cs_shutdown *s = cs_xcalloc(1, sizeof *s);
    pthread_condattr_t attr;

    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cond, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&s->lock, NULL);
    s->status = status;
    s->timeout_ms = timeout_ms;
    s->waiting_for = "the stop to begin";
    clock_gettime(CLOCK_MONOTONIC, &s->deadline);
    s->deadline.tv_sec += timeout_ms / 1000;
    s->deadline.tv_nsec += (timeout_ms % 1000) * 1000000;
    if (s->deadline.tv_nsec >= 1000000000) {
        s->deadline.tv_sec++;
        s->deadline.tv_nsec -= 1000000000;
    }
    if (pthread_create(&s->thread, NULL, watch, s) != 0) {
        fputs("crmsyncd: cannot create the stop's watchdog thread\n", stderr);
        abort();
    }
    return s;
}

void cs_shutdown_step(struct cs_shutdown *s, const char *waiting_for)
{
    pthread_mutex_lock(&s->lock);
    s->waiting_for = waiting_for;
    pthread_mutex_unlock(&s->lock);
}

void cs_shutdown_done(struct cs_shutdown *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    s->done = 1;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
