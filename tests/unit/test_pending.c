/*
 * test_pending.c - cshttp against a loopback HTTP/1.1 server of its own: a call started with cshttp_start
 * keeps copies of its URL, header lines and body (the caller's strings are wiped and freed at once, so
 * a use of them sends garbage, or shows under ASan), and still has them after its answer for a resend;
 * answer headers are read by lower-case name with repeated ones joined; and an easy handle kept from a
 * POST with a body sends a later DELETE and HEAD of the same client without one.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http/cshttp.h"
#include "check.h"

#define REQUESTS 4

struct server {
    int fd, port;
    char seen[REQUESTS][2048]; /* each request as received: head and body */
};

/* Read one request (head, then Content-Length bytes of body) into out; 0 when the peer closed. */
static size_t read_request(int c, char *out, size_t cap)
{
    size_t len = 0, want = 0;
    char *end = NULL;
    ssize_t n;
    while (len < cap - 1 && (n = recv(c, out + len, cap - 1 - len, 0)) > 0) {
        out[len += (size_t)n] = '\0';
        if (!end && (end = strstr(out, "\r\n\r\n"))) {
            char *cl = strcasestr(out, "\r\nContent-Length:");
            want = (size_t)(end + 4 - out) + (cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0);
        }
        if (end && len >= want)
            break;
    }
    return len;
}

/* Answer REQUESTS requests on one kept-alive connection after another, each with a 401, two Link lines
 * and a value with spaces around it. */
static void *serve(void *arg)
{
    static const char answer[] = "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nLink: <a>\r\n"
                                 "Link: <b>\r\nX-Spaced:   value  \r\nContent-Length: 2\r\n\r\n{}";
    struct server *s = arg;
    int c = -1;
    for (int i = 0; i < REQUESTS; i++) {
        if (c < 0 && (c = accept(s->fd, NULL, NULL)) < 0)
            return NULL;
        if (!read_request(c, s->seen[i], sizeof s->seen[i])) {
            close(c);
            c = -1;
            i--;
            continue;
        }
        /* a HEAD's answer has no body: the client must not wait for one */
        if (send(c, answer, strncmp(s->seen[i], "HEAD ", 5) == 0 ? sizeof answer - 3 : sizeof answer - 1, 0) < 0)
            break;
    }
    if (c >= 0)
        close(c);
    return NULL;
}

static char *wiped_dup(const char *s)
{
    char *d = strdup(s);
    CHECK(d != NULL);
    return d;
}

static void wipe_free(char *s)
{
    memset(s, 'X', strlen(s));
    free(s);
}

int main(void)
{
    struct server s = {0};
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof addr;
    pthread_t th;
    struct cshttp_client *c;
    struct cshttp_pending *p;
    struct cshttp_response r = {0};
    char url[128], *url_copy, *auth, *prefer, *body;
    const char *lines[3];
    const char *const *kept;

    s.fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(s.fd >= 0 && bind(s.fd, (struct sockaddr *)&addr, sizeof addr) == 0 && listen(s.fd, 4) == 0);
    CHECK(getsockname(s.fd, (struct sockaddr *)&addr, &alen) == 0);
    s.port = ntohs(addr.sin_port);
    CHECK(pthread_create(&th, NULL, serve, &s) == 0);
    CHECK((c = cshttp_client_new(&(struct cshttp_options){.timeout_ms = 10000})) != NULL);

    /* 1. the caller's strings go as soon as the call is started */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api/page?n=2", s.port);
    url_copy = wiped_dup(url);
    auth = wiped_dup("Authorization: Bearer secret-token-1");
    prefer = wiped_dup("Prefer: odata.maxpagesize=5000");
    body = wiped_dup("{\"ahead\":true}");
    lines[0] = auth;
    lines[1] = prefer;
    lines[2] = NULL;
    p = cshttp_start(c,
                     &(struct cshttp_call){
                         .method = "POST", .url = url_copy, .headers = lines, .body = body, .body_len = strlen(body)});
    CHECK(p != NULL);
    wipe_free(url_copy);
    wipe_free(auth);
    wipe_free(prefer);
    wipe_free(body);
    cshttp_finish(p, &r);
    CHECK(r.status == 401);
    CHECK(strncmp(s.seen[0], "POST /api/page?n=2 HTTP/1.1\r\n", 29) == 0);
    CHECK(strstr(s.seen[0], "\r\nAuthorization: Bearer secret-token-1\r\n") != NULL);
    CHECK(strstr(s.seen[0], "\r\nPrefer: odata.maxpagesize=5000\r\n") != NULL);
    CHECK(strstr(s.seen[0], "\r\n\r\n{\"ahead\":true}") != NULL);

    /* 2. after the answer, the request is still there to be sent again */
    CHECK(strcmp(cshttp_pending_url(p), url) == 0);
    kept = cshttp_pending_headers(p);
    CHECK(kept[0] && strcmp(kept[0], "Authorization: Bearer secret-token-1") == 0);
    CHECK(kept[1] && strcmp(kept[1], "Prefer: odata.maxpagesize=5000") == 0);
    CHECK(kept[2] == NULL);

    /* 3. the answer's headers, by lower-case name; repeated ones joined; values trimmed */
    CHECK(cshttp_response_header(&r, "link") && strcmp(cshttp_response_header(&r, "link"), "<a>, <b>") == 0);
    CHECK(cshttp_response_header(&r, "content-type") &&
          strcmp(cshttp_response_header(&r, "content-type"), "application/json") == 0);
    CHECK(cshttp_response_header(&r, "x-spaced") && strcmp(cshttp_response_header(&r, "x-spaced"), "value") == 0);
    CHECK(cshttp_response_header(&r, "Link") == NULL);
    CHECK(cshttp_response_header(&r, "retry-after") == NULL);
    cshttp_pending_free(p);

    /* 4. the handle kept from the POST sends a DELETE, then a HEAD, without its body */
    CHECK(cshttp_request(c, "DELETE", url, NULL, NULL, 0, &r) == 0 && r.status == 401);
    CHECK(strncmp(s.seen[1], "DELETE /api/page?n=2 HTTP/1.1\r\n", 31) == 0);
    CHECK(strstr(s.seen[1], "ahead") == NULL && strcasestr(s.seen[1], "Content-Length") == NULL);
    CHECK(cshttp_request(c, "HEAD", url, NULL, NULL, 0, &r) == 0 && r.status == 401);
    CHECK(strncmp(s.seen[2], "HEAD /api/page?n=2 HTTP/1.1\r\n", 29) == 0);
    CHECK(strstr(s.seen[2], "ahead") == NULL);
    CHECK(cshttp_request(c, "GET", url, NULL, NULL, 0, &r) == 0 && r.status == 401);
    CHECK(strncmp(s.seen[3], "GET /api/page?n=2 HTTP/1.1\r\n", 28) == 0);
    CHECK(r.body_len == 2 && strcmp(r.body, "{}") == 0);

    cshttp_response_clear(&r);
    cshttp_client_free(c);
    pthread_join(th, NULL);
    close(s.fd);
    return check_exit();
}
