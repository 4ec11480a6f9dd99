/*
 * sdnotify.c - service-manager notifications (see sdnotify.h): one AF_UNIX datagram per state change
 * to the socket named by $NOTIFY_SOCKET, a filesystem path or, with a leading '@', an abstract name.
 */
#include "sdnotify.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

int cs_sd_notify(const char *state)
{
    const char *name = getenv("NOTIFY_SOCKET");
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    size_t len;
    socklen_t addr_len;
    ssize_t sent;
    int fd, saved;

    if (!name || !*name)
        return 0;
    len = strlen(name);
    if ((name[0] != '/' && name[0] != '@') || len >= sizeof addr.sun_path) {
        errno = EINVAL;
        return -1;
    }
    memcpy(addr.sun_path, name, len);
    if (name[0] == '@')
        addr.sun_path[0] = '\0'; /* abstract namespace: the length, not a NUL, ends the name */
    addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (name[0] == '/'));
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    do
        sent = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (const struct sockaddr *)&addr, addr_len);
    while (sent < 0 && errno == EINTR);
    saved = errno;
    close(fd);
    errno = saved;
    return sent < 0 ? -1 : 1;
}

int cs_sd_notify_ready(const char *status)
{
    char msg[256];
    snprintf(msg, sizeof msg, "READY=1\nSTATUS=%s", status ? status : "running");
    return cs_sd_notify(msg);
}

int cs_sd_notify_reloading(void)
{
    struct timespec now;
    char msg[96];
    clock_gettime(CLOCK_MONOTONIC, &now);
    snprintf(msg, sizeof msg, "RELOADING=1\nMONOTONIC_USEC=%llu",
             (unsigned long long)now.tv_sec * 1000000ULL + (unsigned long long)now.tv_nsec / 1000ULL);
    return cs_sd_notify(msg);
}

int cs_sd_notify_stopping(void)
{
    return cs_sd_notify("STOPPING=1\nSTATUS=stopping workflows");
}
