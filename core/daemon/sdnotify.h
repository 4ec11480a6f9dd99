/*
 * sdnotify.h - service-manager notifications (systemd's sd_notify datagram protocol, spoken directly:
 * no libsystemd). Under Type=notify, systemd sets $NOTIFY_SOCKET; elsewhere every call is a no-op.
 */
#ifndef CS_SDNOTIFY_H
#define CS_SDNOTIFY_H

/* Send `state` (newline-separated VAR=VALUE lines, e.g. "READY=1") to $NOTIFY_SOCKET.
 * Returns 1 when sent, 0 when no service manager listens, -1 (with errno) when sending failed. */
int cs_sd_notify(const char *state);

/* "READY=1" with a STATUS= line: start-up or a reload is complete. */
int cs_sd_notify_ready(const char *status);
/* "RELOADING=1" with MONOTONIC_USEC= (what Type=notify-reload also requires): a reload begins. */
int cs_sd_notify_reloading(void);
/* "STOPPING=1": a graceful stop begins. */
int cs_sd_notify_stopping(void);

#endif
