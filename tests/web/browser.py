#!/usr/bin/env python3
"""browser.py - the Workflows page in a real browser (headless chromium) against the real crmsyncd, both
emulators and the real plugins, with the three workflows of weblib.config. What the page shows is read
from its DOM; what it did is checked in the Campaign emulator, the Dataverse emulator and the daemon.

1. The list shows three workflows with backlog and status; Start -> STARTING -> RUNNING; the initial load
   fills the backlog, which the page shows draining (with its pace and time to empty) down to 0, and
   every active contact is then a Campaign profile.
2. Editing a field mapping (Apply Updates of birthdate, off -> on) puts the warning mark on Stop, with its
   tooltip; while it waits, the running revision still leaves birthDate to full loads; Stop (by
   keyboard) and Start clear the mark, and a contact's new birthdate then reaches its profile. On the way: a replay past the guardrail
   is refused with the reason, and Add New Mapping hides the mapped tables and shows remote labels as
   text (a label that is markup runs nothing).
3. A validation error (two Dynamics 365 fields onto one Campaign field) is shown beside its field, and
   nothing is stored. Settings: the prerequisites checklist lists both systems' checks, each failure with
   its fix. A secret replaced with a wrong value makes the connectivity check fail,
   the right one makes it pass; no secret is ever in the DOM or in any response the page received.
4. A dead letter (an email event of a contact Dynamics 365 does not have) is redriven from the page
   once the contact exists, and its activity is written.
Then the history of revisions with the diff of the edit, the phone-width layout, and Add New Mapping end to
end (tables chosen, the Campaign key chosen once among the identification keys, a field, saved). On the way:
the Opt In/Out editor (its direction, Adobe's four) saves a pair moved onto another deny-list attribute and a new
direction (pending until a start);
5. the egress editor's Save (Opens off) marks Stop; after Stop and Start sends are still written as
   activities in Dynamics 365 and opens no longer are;
6. a Replay of a mapping is shown pending (on the mapping and in the list) until Stop and Start.
The console must hold no script error and no Content-Security-Policy refusal.
A screenshot of each page goes to the folder printed first.
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import browserlib as B  # noqa: E402

B.ensure_selenium()
B.find_browser()

import weblib as WL  # noqa: E402

W, E = WL.W, WL.E
check = W.check
N = 2000


def row(b, wid):
    return b.one('tr[data-workflow="%s"]' % wid)


def cell(b, wid, css):
    return b.css(css, row(b, wid))[0].text.strip()


def workflows_page(b):
    b.go("#/workflows")
    b.one('tr[data-workflow="%s"] .status-word' % WL.INGRESS)


def api_workflow(d, wid):
    code, doc = d.api("GET", "/workflows/" + wid)
    check(code == 200, "GET /api/v1/workflows/%s" % wid, (code, doc))
    return doc


# ---- 1. the list, Start -> STARTING -> RUNNING, the backlog drains to 0 -----------------------------------
def list_start_drain(b, env, d, active):
    workflows_page(b)
    ids = B.wait(lambda: [r.get_attribute("data-workflow") for r in b.css("tr[data-workflow]")] if
                 len(b.css("tr[data-workflow]")) == 3 else None, 15, "three workflow rows")
    check(ids == [WL.INGRESS, WL.EGRESS, WL.OPTINOUT], "the list shows the three workflows", ids)
    for wid in ids:
        check(cell(b, wid, ".backlog-count") == "0" and cell(b, wid, ".status-word") == "STOPPED" and
              cell(b, wid, ".toggle-label") == "Start", "%s: backlog 0, STOPPED, Start offered" % wid,
              (cell(b, wid, ".backlog-count"), cell(b, wid, ".status-word")))
    check(b.css(".dot.stopped", row(b, WL.INGRESS)), "STOPPED has its coloured dot")
    b.shot("workflows-stopped")
    # the start takes a while (its metadata answers slowly) and for 30 s the writes are far slower than the
    # reads (each create takes 250 ms and the connection keeps at most 8 in flight: 32/s at most, while the
    # 2,000 contacts are read in a few seconds even on a loaded machine), so that STARTING, and a backlog
    # draining for many seconds, can be seen however slowly the page is polled
    W.L.control(env.dv_url, "POST", "faults", {"kind": "slow", "path": "EntityDefinitions", "count": 1, "delay": 2.5})
    code, _ = env.acs.ctl("POST", "faults", {"kind": "slow", "method": "POST", "path": "/campaign/", "seconds": 30,
                                             "delay": 0.25})
    check(code == 200, "the Campaign emulator slows its writes for a while")
    row(b, WL.INGRESS).find_element("css selector", "button.toggle").click()
    seen, backlogs, trends, every, shot = [], [], [], set(), False
    t0 = time.time()
    while time.time() - t0 < 180:
        status, backlog, trend = (cell(b, WL.INGRESS, ".status-word"), cell(b, WL.INGRESS, ".backlog-count"),
                                  cell(b, WL.INGRESS, ".trend"))
        if not seen or seen[-1] != status:
            seen.append(status)
        n = int(backlog.replace(",", "")) if backlog.replace(",", "").isdigit() else None
        if n is not None:
            backlogs.append(n)
        every.add(trend)
        if "draining" in trend:
            trends.append(trend)
            if not shot:
                b.shot("workflows-draining")
                shot = True
        if status == "RUNNING" and n == 0 and backlogs and max(backlogs) > 0 and env.count() >= len(active):
            break
        time.sleep(0.1)
    check(seen[:1] == ["STOPPED"] or seen[0] == "STARTING", "the row leaves STOPPED", seen)
    check("STARTING" in seen and "RUNNING" in seen and seen.index("STARTING") < seen.index("RUNNING"),
          "Start -> STARTING -> RUNNING on the page", seen)
    check(max(backlogs) > 0 and backlogs[-1] == 0, "the page showed the backlog growing and draining to 0 "
          "(max %d)" % max(backlogs), backlogs[-5:])
    check(any("empty in about" in t for t in trends), "while draining, the page showed the pace and the time to "
          "empty", sorted(every))
    check(cell(b, WL.INGRESS, ".toggle-label") == "Stop" and b.css(".dot.running", row(b, WL.INGRESS)),
          "RUNNING: the toggle offers Stop and the dot is the running one")
    W.wait_until(lambda: api_workflow(d, WL.INGRESS)["backlog"] == 0, 30, "the daemon's backlog is empty")
    profiles = env.profiles()
    check(set(profiles) == set(active) | {WL.GHOST} and all(len(v) == 1 for v in profiles.values()),
          "every active contact is one Campaign profile (%d; and the profile of the contact Dynamics 365 does not "
          "have yet)" % len(active), (len(profiles), len(active)))
    b.shot("workflows-running")
    print("scenario 1: ok (statuses %s, backlog up to %d, drained)" % (" -> ".join(seen), max(backlogs)))


# ---- 2. edit a field mapping: warning on Stop, Stop + Start, in effect -----------------------------------
def add_mapping_dialog(b):
    b.one("main .buttons button.primary").click()
    dialog = b.one("dialog[open]", timeout=30)
    d365 = [o.text for o in b.css("#new-d365-table option", dialog)]
    acs = [o.text for o in b.css("#new-acs-table option", dialog)]
    check(not any(t.endswith("(contacts)") for t in d365), "Add New Mapping hides the mapped Dynamics 365 table",
          d365)
    check(not any(t.endswith("(profile)") or t.endswith("(profiles)") for t in acs),
          "Add New Mapping hides the mapped Campaign resource (profile, as the target profiles)", acs)
    check(any(WL.BAIT in t for t in d365) and any(WL.BAIT in t for t in acs),
          "remote labels that are markup are shown as text on both sides", (d365[-3:], acs[-3:]))
    check(not b.css("img") and b.d.title != "pwned", "no element was made from a remote label")
    check(any("(new_memberships)" in t for t in d365) and any("(cusMembership)" in t for t in acs),
          "other tables of both systems are offered", (d365, acs))
    b.shot("add-mapping")
    b.css("button", dialog)[-1].click()  # Cancel
    B.wait(lambda: not b.css("dialog[open]"), 5, "the dialog closes on Cancel")


def edit_mapping(b, env, d, rows):
    ingress = row(b, WL.INGRESS)
    ingress.find_element("css selector", "a.edit").click()
    b.one('tr[data-stream="contacts"]')
    b.shot("table-mappings")
    # the guardrail: the table holds more rows than limits.replay_max_records (1,000)
    b.one('tr[data-stream="contacts"] button.replay').click()
    msg = B.wait(lambda: b.one('tr[data-stream="contacts"] .row-message').text, 15, "the replay's answer")
    check("replay refused" in msg and "replay_max_records" in msg, "a replay past the guardrail is refused with "
          "the reason", msg)
    check(api_workflow(d, WL.INGRESS)["replay_pending"] == [], "nothing was staged")
    add_mapping_dialog(b)
    b.one('tr[data-stream="contacts"] a.edit').click()
    b.one("table.fields tbody tr[data-index]")
    b.shot("mapping-editor")
    # the birthdate row: Apply Updates from off (the reference mapping) to on
    i = [e.get_attribute("value") for e in b.css('table.fields select[data-path$=".source"]')].index("birthdate")
    switch = b.one('input[data-path="mappings[0].fields[%d].apply_updates"]' % i)
    check(not switch.is_selected() and switch.get_attribute("role") == "switch", "birthdate's Apply Updates is off")
    text = b.css("table.fields tbody tr[data-index]")[i].text
    check("type: datetime" in text and "type: date" in text, "each side shows its type", text)
    switch.send_keys(" ")  # by keyboard
    check(switch.is_selected(), "the switch turns on")
    b.one("form.editor button[type=submit]").click()
    status = B.wait(lambda: b.one("form.editor > .status-text").text, 20, "the save's answer",
                    lambda: b.one("form.editor .error-summary").text)
    check("Saved as revision 2" in status and "next stop and start" in status,
          "saved: the page says the change applies at the next stop and start", status)
    # the warning mark on Stop
    workflows_page(b)
    toggle = B.wait(lambda: (b.css('tr[data-workflow="%s"] button.toggle.pending' % WL.INGRESS) or [None])[0], 10,
                    "the Stop button carries the warning mark")
    mark = b.css(".pending-mark", toggle)[0]
    check(mark.is_displayed() and "stop and start" in toggle.get_attribute("title") and
          toggle.get_attribute("aria-describedby"), "the mark is shown, with a tooltip saying it waits for a stop "
          "and start", toggle.get_attribute("title"))
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys
    ActionChains(b.d).move_to_element(toggle).perform()
    B.wait(lambda: b.css(".tip", toggle)[0].is_displayed(), 5, "the tooltip shows on hover")
    b.shot("stop-with-pending-edit")
    # the running revision still leaves birthDate to full loads
    a, c = rows[0], rows[1]
    env.crm("PATCH", "tables/contacts/" + a, {"firstname": "Pending", "birthdate": "1999-09-09"})
    W.wait_until(lambda: (env.profile(a) or {}).get("firstName") == "Pending", 30, "a change reaches Campaign")
    check((env.profile(a) or {}).get("birthDate") != "1999-09-09", "while the edit waits, the running mapping does "
          "not update birthDate", env.profile(a))
    # Stop by keyboard, Start by click
    toggle.send_keys(Keys.ENTER)
    B.wait(lambda: cell(b, WL.INGRESS, ".status-word") == "STOPPED", 30, "Stop (Enter on the focused button)")
    check(not b.css('tr[data-workflow="%s"] button.toggle.pending' % WL.INGRESS), "no mark on a stopped workflow")
    row(b, WL.INGRESS).find_element("css selector", "button.toggle").click()
    B.wait(lambda: cell(b, WL.INGRESS, ".status-word") == "RUNNING", 60, "Start again")
    time.sleep(1.2)  # a poll or more
    check(not b.css('tr[data-workflow="%s"] button.toggle.pending' % WL.INGRESS) and
          not b.css('tr[data-workflow="%s"] .pending-mark' % WL.INGRESS)[0].is_displayed(),
          "after Stop and Start the mark is gone")
    w = api_workflow(d, WL.INGRESS)
    check(not w["pending"] and w["running_revision"] == w["latest_revision"] == 2, "the daemon runs revision 2", w)
    env.crm("PATCH", "tables/contacts/" + c, {"birthdate": "1988-08-08"})
    W.wait_until(lambda: (env.profile(c) or {}).get("birthDate") == "1988-08-08", 30,
                 "the new mapping is in effect: an update of birthdate reaches the profile", lambda: env.profile(c))
    b.shot("workflows-after-restart")
    check(api_workflow(d, WL.INGRESS)["dead_letters"] == 0, "no dead letter in the ingress workflow",
          d.api("GET", "/workflows/%s/dead-letters" % WL.INGRESS))
    print("scenario 2: ok (edit, warning mark, stop and start, birthDate updated in Campaign)")


# ---- 3. a validation error beside its field; secrets never shown -------------------------------------------
def validation_error(b, d):
    b.go("#/workflows/%s/edit/mapping/0" % WL.INGRESS)
    b.one("table.fields tbody tr[data-index]")
    n = len(b.css("table.fields tbody tr[data-index]"))
    b.one("section[aria-labelledby=h-fields] > button").click()
    b.select(b.one('select[data-path="mappings[0].fields[%d].source"]' % n), "lastname")
    target = b.one('select[data-path="mappings[0].fields[%d].target"]' % n)
    b.select(target, "firstName")
    b.one("form.editor button[type=submit]").click()
    err = b.one(".field-error", timeout=20)
    path = "mappings[0].fields[%d].target" % n
    beside = b.d.execute_script("return arguments[0].previousElementSibling", err)
    check(err.get_attribute("data-error-path") == path and beside == target and "already the target" in err.text,
          "the error is shown beside the Campaign field it concerns", (err.get_attribute("data-error-path"), err.text))
    check(target.get_attribute("aria-invalid") == "true" and err.get_attribute("id") in
          target.get_attribute("aria-describedby"), "the field is marked invalid and described by the error")
    b.shot("validation-error")
    code, doc = d.api("GET", "/workflows/%s/revisions" % WL.INGRESS)
    check(len(doc["revisions"]) == 2, "nothing was stored", doc)


def other_editors(b, d):
    b.go("#/workflows/%s/edit" % WL.EGRESS)
    groups = B.wait(lambda: b.css("fieldset.event-type") if len(b.css("fieldset.event-type")) == 4 else None, 15,
                    "the four event types")
    on = {g.get_attribute("data-type"): b.css("input[value=true]", g)[0].is_selected() for g in groups}
    check(on == {"send": True, "open": True, "click": True, "bounce": False},
          "the egress editor shows Sends, Opens and Clicks on, Bounces off", on)
    b.shot("egress-editor")
    b.go("#/workflows/%s/edit" % WL.OPTINOUT)
    sel = b.one('select[data-path="direction"]')
    check(sel.get_attribute("value") == "campaign-to-d365", "the opt-in/out direction is shown")
    check([o.text for o in b.css("option", sel)] == ["Disabled", "Campaign → Microsoft Dynamics 365",
                                                     "Microsoft Dynamics 365 → Campaign", "Bidirectional"],
          "the four directions of Adobe's page are offered", [o.text for o in b.css("option", sel)])
    pairs = B.wait(lambda: b.css("table.pairs-table tbody tr") if len(b.css("table.pairs-table tbody tr")) == 2 else None,
                   15, "the two field pairs")
    left = [o.get_attribute("value") for o in b.css("select option", pairs[0])]
    check("donotbulkemail" in left and "firstname" not in left, "only boolean Dynamics 365 fields are offered", left)
    b.one("table.pairs-table + button").click()  # Add New Mapping: a third pair onto a Campaign field in use
    free = [v for v in left if v and v not in ("donotbulkemail", "donotemail")][0]
    b.select(b.one('select[data-path="pairs[2].d365"]'), free)
    acs = b.one('select[data-path="pairs[2].acs"]')
    b.select(acs, "blackList")
    b.one("form.editor button[type=submit]").click()
    err = b.one(".field-error")
    check(b.d.execute_script("return arguments[0].previousElementSibling", err) == acs and
          "already mapped" in err.text, "a Campaign field mapped twice is shown beside the second one", err.text)
    b.shot("optinout-editor")
    code, doc = d.api("GET", "/workflows/%s/revisions" % WL.OPTINOUT)
    check(len(doc["revisions"]) == 1, "nothing was stored", doc)
    # the third pair deleted, the first one onto another allowed attribute: saved, pending
    b.one('button.delete[aria-label="Delete pair 3"]').click()
    B.wait(lambda: len(b.css("table.pairs-table tbody tr")) == 2, 5, "the third pair is deleted")
    b.select(b.one('select[data-path="pairs[0].acs"]'), "blackListPhone")
    b.select(b.one('select[data-path="direction"]'), "bidirectional")
    b.one("form.editor button[type=submit]").click()
    status = B.wait(lambda: b.one("form.editor > .status-text").text, 20, "the opt-in/out save's answer",
                    lambda: b.one("form.editor .error-summary").text)
    check("Saved as revision 2" in status and "next stop and start" in status and not b.css(".field-error"),
          "the opt-in/out pairs are saved, applying at the next stop and start", status)
    stored = d.api("GET", "/workflows/%s/definition" % WL.OPTINOUT)[1]["definition"]
    fields = [leg["mappings"][0]["entity"]["fields"] for leg in stored["legs"].values()]
    check(fields == [{"donotbulkemail": "blackListPhone", "donotemail": "blackList"}] * 2 and
          stored["direction"] == "bidirectional" and "mode" not in json.dumps(stored),
          "the daemon stored the new pair in both legs and the new direction", stored)
    w = api_workflow(d, WL.OPTINOUT)
    check(w["latest_revision"] == 2 and w["running_revision"] != 2, "revision 2 waits for a start", w)
    b.shot("optinout-saved")


def secrets(b, env, d):
    b.go("#/settings")
    card = b.one('section[data-connection="acs"]')
    check(b.css(".secret-state", card)[0].text == "set", "the Campaign client secret shows as set")

    def replace(value):
        form = b.css("form.secret", card)[0]
        field = b.css("input[type=password]", form)[0]
        field.send_keys(value)
        b.css("button", form)[0].click()
        B.wait(lambda: "replaced" in b.css(".status-text", form)[0].text, 15, "the secret is replaced",
               lambda: b.css(".status-text", form)[0].text)
        check(field.get_attribute("value") == "", "the secret field is emptied once sent")

    def check_conn(ok):
        b.css(".buttons button", card)[0].click()
        text = B.wait(lambda: (lambda t: t if t and t != "Checking…" else None)(b.css(".check-result", card)[0].text),
                      30, "the connectivity check's result")
        check(text.startswith("OK – connected") if ok else (text.startswith("Failed") and "refused" in text),
              "the check says in words that the connection %s" % ("works" if ok else "is refused"), text)
        return text

    wrong = "not-the-campaign-secret-4711"
    replace(wrong)
    check_conn(False)
    with open(env.acs.secret) as f:
        check(f.read() == wrong + "\n", "the daemon wrote the new secret into client_secret_file")
    check(os.stat(env.acs.secret).st_mode & 0o777 == 0o600, "owner-only")
    replace(W.acstest.SECRET)
    check_conn(True)
    b.css(".buttons button", b.one('section[data-connection="d365"]'))[0].click()
    B.wait(lambda: b.css('section[data-connection="d365"] .check-result')[0].text.startswith("OK"), 30,
           "the Dynamics 365 check passes")
    b.css("section.preflight .buttons button")[0].click()  # the prerequisites checklist (POST /api/v1/preflight)
    B.wait(lambda: b.css("section.preflight .checklist li"), 60, "the preflight checklist",
           lambda: b.css("section.preflight .check-result")[0].text)
    items = b.css("section.preflight .checklist li")
    texts = [li.text for li in items]
    check(any(t.startswith("OK d365") for t in texts) and any(t.startswith("OK acs") for t in texts) and
          all(("Fix: " in t) == t.startswith("FAIL") for t in texts) and
          b.css("section.preflight .check-result")[0].text.strip(),
          "Settings lists every prerequisite of both systems, a failed one with its fix", texts[:12])
    b.shot("settings")
    secrets_ = [W.acstest.SECRET, W.L.SECRET, W.ADMIN_TOKEN, wrong]
    dom = b.d.page_source + "".join(b.d.execute_script(
        "return Array.from(document.querySelectorAll('input')).map(i => i.value)"))
    check(not any(s in dom for s in secrets_), "no secret and not the admin token in the DOM")
    responses = b.collect()
    bodies = [(u, body) for u, _, body in responses if body is not None]
    check(len(bodies) >= 20 and any(u.endswith("/api/v1/connections") for u, _ in bodies),
          "the page's responses were read (%d, the connections among them)" % len(bodies))
    leaks = [u for u, body in bodies if any(s in body for s in secrets_)]
    check(not leaks, "no response the page received holds a secret or the token", leaks)
    print("scenario 3: ok (validation error beside its field, %d responses without a secret)" % len(bodies))


# ---- 4. a dead letter redriven from the page ---------------------------------------------------------------
def dead_letter(b, env, d, ghost_event):
    workflows_page(b)
    row(b, WL.EGRESS).find_element("css selector", "button.toggle").click()
    B.wait(lambda: cell(b, WL.EGRESS, ".status-word") == "RUNNING" and
           cell(b, WL.EGRESS, ".dead-link") == "1 dead letter", 60, "the egress workflow runs and shows 1 dead letter",
           lambda: (cell(b, WL.EGRESS, ".status-word"), cell(b, WL.EGRESS, ".dead-link"), api_workflow(d, WL.EGRESS)))
    row(b, WL.EGRESS).find_element("css selector", "a.dead-link").click()
    tr = b.one("tr[data-dead-letter]")
    reason = b.css("td.reason", tr)[0].text
    check(WL.GHOST in reason and "does not exist in Dynamics 365" in reason and "404" in tr.text,
          "the dead letter shows its reason and HTTP status", tr.text)
    b.shot("dead-letters")
    check(ghost_event["event_id"] not in E.activities(env, "send"), "no activity for it yet")
    env.crm("POST", "tables/contacts", {"contactid": WL.GHOST, "lastname": "Latecomer", "gendercode": 2})
    b.css("button.redrive", tr)[0].click()
    B.wait(lambda: "back in the backlog" in b.one("main .status-text").text, 15, "the page says it is redriven")
    W.wait_until(lambda: ghost_event["event_id"] in E.activities(env, "send"), 60,
                 "the redriven event's activity is written", lambda: api_workflow(d, WL.EGRESS))
    act = E.activities(env, "send")[ghost_event["event_id"]]
    check(act["_regardingobjectid_value"] == WL.GHOST, "the activity regards the contact that now exists", act)
    check("redriven" in b.css("tr[data-dead-letter] .redriven")[0].text, "the row says it was redriven")
    b.shot("dead-letter-redriven")
    print("scenario 4: ok (dead letter redriven, activity written)")


def stop_start(b, d, wid):
    """Stop and Start from the Workflows page; -> the workflow once RUNNING again, with no mark on Stop."""
    workflows_page(b)
    row(b, wid).find_element("css selector", "button.toggle").click()
    B.wait(lambda: cell(b, wid, ".status-word") == "STOPPED", 30, "%s stops" % wid)
    row(b, wid).find_element("css selector", "button.toggle").click()
    B.wait(lambda: cell(b, wid, ".status-word") == "RUNNING", 60, "%s starts again" % wid)
    time.sleep(1.2)  # a poll or more
    check(not b.css('tr[data-workflow="%s"] button.toggle.pending' % wid), "%s: no mark on Stop after the restart" % wid)
    return api_workflow(d, wid)


# ---- 5. the egress editor's Save: Opens off, in effect after stop and start ------------------------------
def egress_save(b, env, d, known):
    W.wait_until(lambda: E.activities(env, "open"), 60, "while Opens is on, open activities are written")
    opens_before = set(E.activities(env, "open"))
    b.go("#/workflows/%s/edit" % WL.EGRESS)
    b.css("input[value=false]", b.one('fieldset.event-type[data-type="open"]'))[0].click()
    b.one("form.editor button[type=submit]").click()
    status = B.wait(lambda: b.one("form.editor > .status-text").text, 20, "the egress save's answer",
                    lambda: b.one("form.editor .error-summary").text)
    check("Saved as revision 2" in status, "the egress edit is saved", status)
    streams = [m["stream"] for m in d.api("GET", "/workflows/%s/definition" % WL.EGRESS)[1]["definition"]["mappings"]]
    check(streams == ["email-events.send", "email-events.click"], "the daemon stored Sends and Clicks only", streams)
    workflows_page(b)
    B.wait(lambda: b.css('tr[data-workflow="%s"] button.toggle.pending' % WL.EGRESS), 10,
           "the egress Stop button carries the warning mark")
    b.shot("egress-saved-pending")
    w = stop_start(b, d, WL.EGRESS)
    check(not w["pending"] and w["running_revision"] == 2, "the egress workflow runs revision 2", w)
    sends = [e["event_id"] for e in E.events(env, count=5, types=["send"], profiles=known)]
    opens = [e["event_id"] for e in E.events(env, count=5, types=["open"], profiles=known)]
    sends += [e["event_id"] for e in E.events(env, count=5, types=["send"], profiles=known)]
    W.wait_until(lambda: set(sends) <= set(E.activities(env, "send")), 60, "the new sends are written as activities",
                 lambda: api_workflow(d, WL.EGRESS))
    E.idle(d)
    after = set(E.activities(env, "open"))
    check(after == opens_before and not set(opens) & after, "no open activity is written once Opens is off "
          "(%d before, %d after)" % (len(opens_before), len(after)))
    b.shot("workflows-egress-restarted")
    print("scenario 5: ok (Opens off saved, stop and start, %d sends written, no opens)" % len(sends))


# ---- 6. a replay shown pending until the next stop and start -------------------------------------------------
def replay_pending(b, d):
    b.go("#/workflows/%s/edit" % WL.INGRESS)
    sel = 'tr[data-stream="new_memberships"] button.replay'
    b.one(sel).click()
    msg = B.wait(lambda: b.one('tr[data-stream="new_memberships"] .row-message').text, 15, "the replay's answer")
    button = b.one(sel)
    check(not button.is_enabled() and "pending" in button.get_attribute("title"),
          "the replay is shown pending on its mapping (%s)" % msg, button.get_attribute("title"))
    check(api_workflow(d, WL.INGRESS)["replay_pending"] == ["new_memberships"], "the daemon staged it")
    workflows_page(b)
    detail = B.wait(lambda: (lambda t: t if "replay of new_memberships pending" in t else None)(
        cell(b, WL.INGRESS, ".status-detail")), 10, "the Workflows page shows the replay pending")
    b.shot("replay-pending")
    w = stop_start(b, d, WL.INGRESS)
    check(w["replay_pending"] == [] and w["running_revision"] == 3, "after Stop and Start nothing is pending", w)
    check("replay" not in cell(b, WL.INGRESS, ".status-detail"), "the page no longer shows the replay",
          cell(b, WL.INGRESS, ".status-detail"))
    b.go("#/workflows/%s/edit" % WL.INGRESS)
    check(b.one(sel).is_enabled(), "Replay is offered again on the mapping")
    b.shot("replay-done")
    print("scenario 6: ok (replay pending: %s; gone after stop and start)" % detail)


def history_and_phone(b):
    b.go("#/workflows/%s/history" % WL.INGRESS)
    items = B.wait(lambda: b.css("ol.revisions li") if len(b.css("ol.revisions li")) == 2 else None, 15,
                   "two revisions")
    check("admin API" in items[0].text and "Workflows page" in items[0].text and "configuration file" in items[1].text,
          "the revisions with their source and author", [i.text for i in items])
    diff = b.one("table.diff tbody").text
    check("mappings[0].fields[5].apply_updates" in diff, "revision 2's diff shows the edited field", diff)
    b.shot("history")
    b.d.set_window_size(390, 844)
    workflows_page(b)
    time.sleep(1)
    wide = b.d.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
    check(wide <= 1, "the Workflows page fits a phone-width screen (no sideways scroll)", wide)
    b.shot("workflows-phone")
    b.go("#/workflows/%s/edit/mapping/0" % WL.INGRESS)
    b.one("table.fields tbody tr[data-index]")
    b.shot("mapping-editor-phone")
    b.d.set_window_size(1280, 900)


def new_mapping(b, d):
    """Add New Mapping end to end: the tables chosen, the Campaign key chosen once, a field, saved."""
    b.go("#/workflows/%s/edit" % WL.INGRESS)
    b.one('tr[data-stream="contacts"]')
    b.one("main .buttons button.primary").click()
    dialog = b.one("dialog[open]", timeout=30)
    b.select(b.one("#new-d365-table"), "new_memberships")
    b.select(b.one("#new-acs-table"), "cusMembership")
    b.css("button[type=submit]", dialog)[0].click()
    key = b.one('select[data-path="mappings[1].key.target"]', timeout=30)
    choices = [o.get_attribute("value") for o in b.css("option", key)]
    check(choices == ["", "externalId", "membershipNumber"] and key.is_enabled(),
          "the Campaign key is chosen among the resource's identification keys", choices)
    check("new_membershipid" in b.one("tr.key-row").text, "the Dynamics 365 key is the table's primary key")
    b.select(key, "externalId")
    b.one("section[aria-labelledby=h-fields] > button").click()
    b.select(b.one('select[data-path="mappings[1].fields[0].source"]'), "new_name")
    b.select(b.one('select[data-path="mappings[1].fields[0].target"]'), "name")
    b.one("form.editor button[type=submit]").click()
    B.wait(lambda: "Saved as revision 3" in b.one("form.editor > .status-text").text, 20, "the new mapping is saved",
           lambda: b.one("form.editor .error-summary").text)
    check(not b.one('select[data-path="mappings[1].key.target"]').is_enabled(), "once saved, the key is read-only")
    b.shot("new-mapping-saved")
    m = d.api("GET", "/workflows/%s/definition" % WL.INGRESS)[1]["definition"]["mappings"][1]
    check(m == {"stream": "new_memberships", "target": "cusMembership", "fields": [{"source": "new_name",
                                                                                      "target": "name"}],
                "key": {"source": "new_membershipid", "target": "externalId"}}, "the daemon stored the mapping", m)


def main():
    shots = B.screenshots_dir("browser")
    env = WL.Env("web", seed=N)
    try:
        rows = env.contacts()
        active = sorted(k for k, r in rows.items() if r.get("statecode") == 0)
        known = sorted(rows)[:20]
        ghost_event = WL.egress_events(env, known, types=["send", "open"])
        conf = WL.config(env, egress_types=("send", "open", "click"), ingress_limits={"replay_max_records": 1000})
        d = W.Daemon(conf, env.s.path("daemon.log"))
        b = None
        try:
            d.wait_port()
            b = B.Browser(shots)
            b.d.get("http://127.0.0.1:%d/" % d.port)
            token = b.one("#token")
            b.shot("login")
            from selenium.webdriver.common.keys import Keys
            token.send_keys(W.ADMIN_TOKEN + Keys.ENTER)
            b.one("table.workflows")
            check(b.d.execute_script("return sessionStorage.length") == 1 and
                  b.d.execute_script("return localStorage.length + document.cookie.length") == 0,
                  "the token is kept in session storage only")
            list_start_drain(b, env, d, active)
            edit_mapping(b, env, d, active)
            validation_error(b, d)
            other_editors(b, d)
            secrets(b, env, d)
            dead_letter(b, env, d, ghost_event)
            egress_save(b, env, d, known)
            history_and_phone(b)
            new_mapping(b, d)
            replay_pending(b, d)
            check(api_workflow(d, WL.INGRESS)["dead_letters"] == 0, "still no dead letter in the ingress workflow",
                  d.api("GET", "/workflows/%s/dead-letters" % WL.INGRESS))
            errors = b.console_errors()
            check(not errors, "no script error and no Content-Security-Policy refusal in the console", errors)
        finally:
            if b:
                b.quit()
            rc = d.stop()
        check(rc == 0, "crmsyncd stops cleanly", rc)
        log = d.read_log()
        check(W.acstest.SECRET not in log and W.L.SECRET not in log and W.ADMIN_TOKEN not in log and
              "not-the-campaign-secret" not in log, "no secret in the daemon's log")
        print("browser: ok (6 scenarios); screenshots in " + shots)
    finally:
        env.close()


if __name__ == "__main__":
    main()
