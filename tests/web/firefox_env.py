#!/usr/bin/env python3
"""firefox_env.py - what the Firefox test (firefox.mjs) drives: both emulators, the three workflows of
weblib.config and the real crmsyncd, the egress workflow running with one dead letter (an email event of a
contact Dynamics 365 does not have). Prints "screenshots: <folder>", then one line "ready <json>" (the page's
URL, the token file's path, the workflow ids, the dead letter's contact), and keeps it all running until its
standard input closes; then stops crmsyncd (exit 1 when it does not stop cleanly or logged the token).
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import browserlib as B  # noqa: E402
import weblib as WL  # noqa: E402

W = WL.W


def main():
    shots = B.screenshots_dir("firefox")
    env = WL.Env("firefox", seed=300)
    try:
        WL.egress_events(env, sorted(env.contacts())[:20])
        d = W.Daemon(WL.config(env, autostart={WL.EGRESS: True}), env.s.path("daemon.log"))
        try:
            d.wait_port()
            W.wait_until(lambda: d.api("GET", "/workflows/" + WL.EGRESS)[1].get("dead_letters") == 1, 60,
                         "the egress workflow runs and holds the dead letter", lambda: d.read_log()[-2000:])
            print("ready " + json.dumps({"url": "http://127.0.0.1:%d/" % d.port, "token_file": env.token_file,
                                         "workflows": [WL.INGRESS, WL.EGRESS, WL.OPTINOUT], "ghost": WL.GHOST,
                                         "screenshots": shots}), flush=True)
            sys.stdin.read()
        finally:
            rc = d.stop()
        W.check(rc == 0, "crmsyncd stops cleanly", rc)
        W.check(W.ADMIN_TOKEN not in d.read_log(), "the admin token is not in the daemon's log")
    finally:
        env.close()


if __name__ == "__main__":
    main()
