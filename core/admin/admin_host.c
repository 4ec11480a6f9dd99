/*
 * admin_host.c - which Host and Origin headers the admin API answers (see admin_host.h).
 *
 * DNS rebinding: a web page the operator opens can point its own DNS name at 127.0.0.1 and then call
 * the admin API as a same-origin page, with "Host: evil.example". Only names that no web page can point
 * elsewhere are answered: an IP address (an address cannot be rebound), "localhost", the configured
 * listen host, and admin.allowed_hosts. A browser sends Origin with every cross-origin call and with
 * every POST/PUT: it must be this listener's own origin, the Workflows page's.
 */
#include "admin_host.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/util.h"

struct cs_hosts {
    char *listen_host; /* the configured host */
    int tls;
    char **allowed; /* admin.allowed_hosts */
    size_t n_allowed;
};

struct cs_hosts *cs_hosts_new(const char *listen, int tls, const json_t *allowed)
{
    struct cs_hosts *h = cs_xcalloc(1, sizeof *h);
    h->listen_host = cs_host_name(listen); /* admin.c checked it */
    h->tls = tls;
    h->allowed = cs_xcalloc(json_array_size(allowed) + 1, sizeof *h->allowed);
    for (size_t i = 0; i < json_array_size(allowed); i++)
        if (json_is_string(json_array_get(allowed, i)))
            h->allowed[h->n_allowed++] = cs_xstrdup(json_string_value(json_array_get(allowed, i)));
    return h;
}

void cs_hosts_free(struct cs_hosts *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->n_allowed; i++)
        free(h->allowed[i]);
    free(h->allowed);
    free(h->listen_host);
    free(h);
}

char *cs_host_name(const char *hostport)
{
    const char *end = hostport[0] == '[' ? strchr(hostport, ']') : strrchr(hostport, ':');
    const char *port = end && hostport[0] == '[' ? end + 1 : end;
    size_t name_len = !end                 ? strlen(hostport)
                      : hostport[0] == '[' ? (size_t)(end - hostport - 1)
                                           : (size_t)(end - hostport);

    if (hostport[0] == '[' && !end)
        return NULL;
    if (port && *port && (*port != ':' || strspn(port + 1, "0123456789") != strlen(port + 1)))
        return NULL; /* anything but ":digits" after the host */
    return cs_xasprintf("%.*s", (int)name_len, hostport + (hostport[0] == '['));
}

/* An address literal: "127.0.0.1", or "[::1]" as written in a Host header. */
static int is_address(const char *host, const char *name)
{
    unsigned char buf[sizeof(struct in6_addr)];
    if (host[0] == '[')
        return inet_pton(AF_INET6, name, buf) == 1;
    return inet_pton(AF_INET, name, buf) == 1;
}

static int is_listener_name(const struct cs_hosts *h, const char *host)
{
    char *name = cs_host_name(host);
    int ok =
        name && (is_address(host, name) || strcasecmp(name, "localhost") == 0 || strcasecmp(name, h->listen_host) == 0);
    for (size_t i = 0; ok == 0 && name && i < h->n_allowed; i++)
        ok = strcasecmp(name, h->allowed[i]) == 0;
    free(name);
    return ok;
}

int cs_hosts_check(const struct cs_hosts *h, const char *host, const char *origin, struct cs_reply *rep)
{
    const char *scheme = h->tls ? "https://" : "http://";
    size_t n = strlen(scheme);

    if (host && !is_listener_name(h, host)) {
        cs_reply_error(rep, 421, "misdirected_request",
                       "Host \"%.200s\" is not a name of this listener (a web page that pointed its own name at this "
                       "address?): call it by its address, localhost or %s, or add the name to admin.allowed_hosts",
                       host, h->listen_host);
        return -1;
    }
    if (origin && !(host && strncasecmp(origin, scheme, n) == 0 && strcasecmp(origin + n, host) == 0)) {
        cs_reply_error(rep, 403, "cross_origin",
                       "a page at %.200s may not call the admin API: only the Workflows page served by this listener "
                       "(%s%.200s) may call it from a browser",
                       origin, scheme, host ? host : "?");
        return -1;
    }
    return 0;
}
