/*
 * cshttp_loop.c - the event loop of a client (cshttp_loop.h): libcurl tells which sockets to watch
 * for what (on_socket) and when to call it back (on_timer); epoll waits for them, and each ready
 * socket is handed to curl_multi_socket_action alone.
 */
#include "cshttp_loop.h"
#include "cshttp.h"

#include <sys/epoll.h>
#include <unistd.h>

#define MAX_EVENTS 64

/* CURLMOPT_SOCKETFUNCTION: watch `s` for `what`; socketp is non-NULL once it is in the epoll set. */
static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct cshttp_loop *loop = userp;
    struct epoll_event ev = {.data.fd = s};
    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(loop->epfd, EPOLL_CTL_DEL, s, NULL); /* fails harmlessly if libcurl closed it already */
        curl_multi_assign(loop->multi, s, NULL);
        return 0;
    }
    ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0u) | (what & CURL_POLL_OUT ? EPOLLOUT : 0u);
    if (socketp) {
        epoll_ctl(loop->epfd, EPOLL_CTL_MOD, s, &ev);
    } else if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, s, &ev) == 0) {
        curl_multi_assign(loop->multi, s, loop);
    }
    return 0;
}

/* CURLMOPT_TIMERFUNCTION: call back in timeout_ms (-1: no timer). */
static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    struct cshttp_loop *loop = userp;
    (void)multi;
    loop->deadline_ms = timeout_ms < 0 ? -1 : cshttp_mono_ms() + timeout_ms;
    return 0;
}

int cshttp_loop_init(struct cshttp_loop *loop, CURLM *multi)
{
    loop->multi = multi;
    loop->deadline_ms = -1;
    if ((loop->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
        return -1;
    curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, loop);
    curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(multi, CURLMOPT_TIMERDATA, loop);
    return 0;
}

void cshttp_loop_free(struct cshttp_loop *loop)
{
    if (loop->epfd >= 0)
        close(loop->epfd);
    loop->epfd = -1;
}

void cshttp_loop_run(struct cshttp_loop *loop, int wait_ms)
{
    struct epoll_event ev[MAX_EVENTS];
    int running, n, wait = wait_ms;
    if (loop->deadline_ms >= 0) {
        int64_t left = loop->deadline_ms - cshttp_mono_ms();
        wait = left <= 0 ? 0 : left < wait_ms ? (int)left : wait_ms;
    }
    n = epoll_wait(loop->epfd, ev, MAX_EVENTS, wait);
    for (int i = 0; i < n; i++) {
        int flags = (ev[i].events & EPOLLIN ? CURL_CSELECT_IN : 0) | (ev[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                    (ev[i].events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
        curl_multi_socket_action(loop->multi, ev[i].data.fd, flags, &running);
    }
    if (loop->deadline_ms >= 0 && cshttp_mono_ms() >= loop->deadline_ms) {
        loop->deadline_ms = -1; /* libcurl sets it again if it wants another */
        curl_multi_socket_action(loop->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    }
}
