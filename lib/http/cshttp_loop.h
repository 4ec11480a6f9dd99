/*
 * cshttp_loop.h - private to cshttp: the event loop of one client's libcurl multi handle, on libcurl's
 * socket interface and epoll, so that libcurl acts only on the transfers whose socket is ready instead
 * of visiting every transfer in flight on each wake-up (which made the cost of a request grow with the
 * number of requests in flight).
 */
#ifndef CSHTTP_LOOP_H
#define CSHTTP_LOOP_H

#include <curl/curl.h>
#include <stdint.h>

struct cshttp_loop {
    CURLM *multi;
    int epfd;
    int64_t deadline_ms; /* libcurl's timer: act on it at this monotonic time; -1: none */
};

/* Set `loop` up around `multi` (borrowed). -1 when no epoll instance could be made. */
int cshttp_loop_init(struct cshttp_loop *loop, CURLM *multi);
void cshttp_loop_free(struct cshttp_loop *loop);
/* Wait at most wait_ms for a socket to be ready or libcurl's timer to fire (not at all when its timer
 * is due, as after a transfer was added), then let libcurl act: finished transfers are then in
 * curl_multi_info_read. */
void cshttp_loop_run(struct cshttp_loop *loop, int wait_ms);

#endif
