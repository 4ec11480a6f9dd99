#!/usr/bin/env python3
"""egress_redrive.py - an event of a contact that does not exist yet is written once it does, with no
operator action: the egress workflow runs with retry.redrive_not_found: 1s. The open event of a profile
whose externalId names no Dataverse contact is refused by Dataverse (404) and dead-lettered; while the
contact is missing it stays one dead letter (put back and refused again); once the contact is created
in Dataverse, the next automatic redrive writes the activity regarding it and no dead letter is left.
"""
import uuid

import egresslib as E
import wflib as W
from wflib import check


def main():
    env = W.Env("egress-redrive", seed=3)
    try:
        known = sorted(env.contacts())[:2]
        ghost = str(uuid.uuid4())
        E.profiles_for(env, known + [ghost])
        E.events(env, count=4, types=["open"], profiles=known)
        ghost_ev = E.events(env, count=1, types=["open"], profiles=[ghost])[0]
        conf = E.config(env, ["open"], name="redrive.conf", retry={"redrive_not_found": "1s"})
        d = W.Daemon(conf, env.s.path("daemon.log"))
        try:
            d.wait_port()
            W.wait_until(lambda: E.workflow(d)["dead_letters"] == 1, 30, "the unknown contact's event is a dead letter",
                         lambda: (E.workflow(d), d.read_log()[-2000:]))
            letter = E.dead_letters(d)[0]
            check(letter["key"] == ghost_ev["event_id"] and letter["http_status"] == 404,
                  "the dead letter is the event of the missing contact, refused with 404", letter)
            W.wait_until(lambda: "put back into the backlog" in d.read_log(), 10,
                         "the 404 dead letter is put back automatically", lambda: d.read_log()[-2000:])
            W.wait_until(lambda: E.workflow(d)["dead_letters"] == 1 and E.workflow(d)["backlog"] == 0, 10,
                         "refused again while the contact is missing: still one dead letter", lambda: E.workflow(d))
            check(ghost_ev["event_id"] not in E.activities(env, "open"), "no activity without its contact")
            env.crm("POST", "tables/contacts", {"contactid": ghost, "lastname": "Latecomer"})
            W.wait_until(lambda: ghost_ev["event_id"] in E.activities(env, "open"), 30,
                         "the activity is written once the contact exists, without a redrive by hand",
                         lambda: (E.workflow(d), d.read_log()[-2000:]))
            check(E.activities(env, "open")[ghost_ev["event_id"]]["_regardingobjectid_value"] == ghost,
                  "the activity regards the new contact")
            W.wait_until(lambda: E.workflow(d)["dead_letters"] == 0, 10, "no dead letter left", lambda: E.workflow(d))
        finally:
            check(d.stop() == 0, "crmsyncd stops cleanly")
        print("egress_redrive: ok")
    finally:
        env.close()


if __name__ == "__main__":
    main()
