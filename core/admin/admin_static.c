/*
 * admin_static.c - the Workflows page: the static HTML, CSS and JavaScript under admin.web_dir, served
 * at "/" by the admin API's server (admin.c). GET and HEAD only, no token (the files are the same for
 * everyone and hold no data; the page sends the token with its API calls). Only regular files inside the
 * directory are served, by plain relative names (letters, digits, ".", "_", "-"; no "..", no hidden
 * file, no symbolic link leading out); a directory is never listed. Every answer carries
 * Content-Security-Policy (default-src 'self'), X-Content-Type-Options: nosniff and X-Frame-Options: DENY.
 */
#include "admin_static.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/log.h"
#include "util/util.h"

#define MAX_URL 512

struct cs_static {
    char *root; /* the directory's real path, NULL when it cannot be served */
    char *why;  /* why not, for the 404 answers */
};

struct cs_static *cs_static_new(const char *dir)
{
    struct cs_static *s = cs_xcalloc(1, sizeof *s);
    struct stat st;
    char *real = dir ? realpath(dir, NULL) : NULL;
    if (real && stat(real, &st) == 0 && S_ISDIR(st.st_mode)) {
        s->root = real;
        cs_log(CS_LOG_INFO, "admin", "serving the Workflows page from %s", real);
        return s;
    }
    s->why = cs_xasprintf("the Workflows page is not installed: admin.web_dir %s: %s", dir ? dir : "(unset)",
                          real ? "not a directory" : strerror(errno));
    cs_log(CS_LOG_WARNING, "admin", "%s; the API is served without it", s->why);
    free(real);
    return s;
}

void cs_static_free(struct cs_static *s)
{
    if (!s)
        return;
    free(s->root);
    free(s->why);
    free(s);
}

int cs_static_claims(const char *method, const char *url)
{
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return 0;
    if (strcmp(url, "/metrics") == 0 || strcmp(url, "/healthz") == 0 || strcmp(url, "/readyz") == 0)
        return 0;
    return !(strncmp(url, "/api", 4) == 0 && (url[4] == '/' || url[4] == '\0'));
}

/* The Content-Type of a file name by its extension. */
static const char *content_type(const char *name)
{
    static const char *const types[][2] = {
        {".html", "text/html; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".json", "application/json"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
        {".txt", "text/plain; charset=utf-8"},
        {".woff2", "font/woff2"},
    };
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof types / sizeof *types; i++)
        if (strcmp(dot, types[i][0]) == 0)
            return types[i][1];
    return "application/octet-stream";
}

/* A URL path made only of plain names: "/", or "/a/b.js" with each segment of [A-Za-z0-9._-], not
 * starting with ".". The relative file name (new; "index.html" for "/"), or NULL. */
static char *relative_name(const char *url)
{
    static const char allowed[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/";
    size_t len = strlen(url);
    if (url[0] != '/' || len > MAX_URL || strspn(url, allowed) != len)
        return NULL;
    if (strcmp(url, "/") == 0)
        return cs_xstrdup("index.html");
    for (const char *p = url; *p; p++)
        if (*p == '/' && (p[1] == '/' || p[1] == '.' || p[1] == '\0'))
            return NULL; /* empty segment, hidden name, "..", or a trailing "/" (a directory) */
    return cs_xstrdup(url + 1);
}

static void security_headers(struct MHD_Response *resp)
{
    MHD_add_response_header(resp, "Content-Security-Policy",
                            "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
}

static enum MHD_Result not_found(const struct cs_static *s, struct MHD_Connection *conn)
{
    char *text = cs_xasprintf("%s\n", s->why ? s->why : "not found");
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    enum MHD_Result ok;
    MHD_add_response_header(resp, "Content-Type", "text/plain; charset=utf-8");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    security_headers(resp);
    ok = MHD_queue_response(conn, MHD_HTTP_NOT_FOUND, resp);
    MHD_destroy_response(resp);
    return ok;
}

/* An open regular file of the served directory for `rel`, or -1. *size is its length. */
static int open_inside(const struct cs_static *s, const char *rel, uint64_t *size)
{
    char *path = cs_xasprintf("%s/%s", s->root, rel), *real = realpath(path, NULL);
    size_t n = strlen(s->root);
    struct stat st;
    int fd = -1;
    if (real && strncmp(real, s->root, n) == 0 && real[n] == '/')
        fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd >= 0 && (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))) {
        close(fd);
        fd = -1;
    }
    if (fd >= 0)
        *size = (uint64_t)st.st_size;
    free(real);
    free(path);
    return fd;
}

enum MHD_Result cs_static_serve(const struct cs_static *s, struct MHD_Connection *conn, const char *url)
{
    char *rel = s->root ? relative_name(url) : NULL;
    struct MHD_Response *resp;
    enum MHD_Result ok;
    uint64_t size = 0;
    int fd = rel ? open_inside(s, rel, &size) : -1;

    if (fd < 0) {
        free(rel);
        return not_found(s, conn);
    }
    resp = MHD_create_response_from_fd(size, fd); /* closes fd when destroyed */
    if (!resp) {
        close(fd);
        free(rel);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", content_type(rel));
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    security_headers(resp);
    ok = MHD_queue_response(conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    free(rel);
    return ok;
}
