/*
 * admin_reply.c - the error answers every part of the admin API gives (see admin_http.h): one JSON shape,
 * {"error": {"code", "message"}}, and one mapping from the engine's failure codes to HTTP statuses.
 */
#include <stdarg.h>
#include <stdlib.h>
#include "admin_http.h"
#include "engine/engine.h"
#include "util/util.h"

void cs_reply_error(struct cs_reply *rep, int status, const char *code, const char *fmt, ...)
{
    va_list ap;
    char *msg;
    va_start(ap, fmt);
    msg = cs_xvasprintf(fmt, ap);
    va_end(ap);
    json_decref(rep->body);
    rep->status = status;
    rep->body = json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", msg);
    free(msg);
}

void cs_reply_failed(struct cs_reply *rep, int rc, const char *msg, int other)
{
    switch (rc) {
    case CS_E_NOTFOUND:
        cs_reply_error(rep, 404, "not_found", "%s", msg ? msg : "not found");
        break;
    case CS_E_STATE:
        cs_reply_error(rep, 409, "conflict", "%s", msg ? msg : "not allowed in the current state");
        break;
    case CS_E_INVAL:
        cs_reply_error(rep, 400, "bad_request", "%s", msg ? msg : "invalid request");
        break;
    default:
        cs_reply_error(rep, other, other == 502 ? "remote_failed" : "internal", "%s",
                       msg            ? msg
                       : other == 502 ? "the remote system failed"
                                      : "internal error");
    }
}
