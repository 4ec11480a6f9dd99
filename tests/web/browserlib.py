"""browserlib.py - a real browser for the tests of the Workflows page: Debian's chromium, headless, driven
through chromium-driver by Debian's python3-selenium. When selenium is not importable by this Python but
Debian's /usr/bin/python3 has it, the test re-runs itself there (the emulators need only the standard
library); when chromium, its driver or selenium is not installed, the test is skipped (exit 77) saying
which, never passed. Screenshots go to one folder the test prints (under the build tree).
"""
import base64
import json
import os
import shutil
import subprocess
import sys
import time

SKIP = 77
DEBIAN_PYTHON = "/usr/bin/python3"


def skip(reason):
    print("SKIP: " + reason)
    sys.exit(SKIP)


def ensure_selenium():
    """Import selenium here, or re-run this test with Debian's Python, or skip."""
    try:
        import selenium  # noqa: F401
        return
    except ImportError:
        pass
    if (os.path.exists(DEBIAN_PYTHON) and os.environ.get("CRMSYNC_WEB_REEXEC") != "1" and
            subprocess.call([DEBIAN_PYTHON, "-c", "import selenium"], stderr=subprocess.DEVNULL) == 0):
        os.environ["CRMSYNC_WEB_REEXEC"] = "1"
        sys.stdout.flush()
        os.execv(DEBIAN_PYTHON, [DEBIAN_PYTHON] + sys.argv)
    skip("selenium is not installed for %s nor %s: apt-get install python3-selenium (tests/deps.sh does)"
         % (sys.executable, DEBIAN_PYTHON))


def screenshots_dir(name):
    """The folder of this test's screenshots: $WEB_SCREENSHOTS, else tests/web/screenshots/<name> in the build
    tree (beside crmsyncd). Emptied, created and printed."""
    base = os.environ.get("WEB_SCREENSHOTS") or os.path.join(os.path.dirname(os.environ["CRMSYNCD"]), "tests", "web",
                                                             "screenshots")
    path = os.path.join(base, name)
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    print("screenshots: " + path)
    return path


def find_browser():
    """(chromium, chromedriver) paths, or skip saying which is missing."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver") or ("/usr/bin/chromedriver" if os.path.exists("/usr/bin/chromedriver") else None)
    if not chromium:
        skip("chromium is not installed: apt-get install chromium (tests/deps.sh does)")
    if not driver:
        skip("chromedriver is not installed: apt-get install chromium-driver (tests/deps.sh does)")
    return chromium, driver


class Browser:
    """Headless chromium with its console and network logged; shot(name) saves a full-page PNG."""

    def __init__(self, shots, width=1280, height=900):
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
        chromium, driver = find_browser()
        opts = Options()
        opts.binary_location = chromium
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--window-size=%d,%d" % (width, height), "--no-first-run", "--disable-extensions",
                    "--disable-background-networking", "--lang=en-US"):
            opts.add_argument(arg)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
        self.shots, self.n = shots, 0
        self.d = webdriver.Chrome(service=Service(driver), options=opts)
        self.d.set_window_size(width, height)
        self.responses = []  # (url, status, body) of every API answer the page received, see collect()

    def quit(self):
        self.d.quit()

    def shot(self, name):
        """A PNG of the whole page (beyond the window's height) as NN-name.png."""
        self.n += 1
        m = self.d.execute_cdp_cmd("Page.getLayoutMetrics", {})
        size = m.get("cssContentSize") or m["contentSize"]
        png = self.d.execute_cdp_cmd("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}})
        path = os.path.join(self.shots, "%02d-%s.png" % (self.n, name))
        with open(path, "wb") as f:
            f.write(base64.b64decode(png["data"]))
        return path

    def collect(self):
        """Read the network log: every response since the last call, with its body when Chromium still has it."""
        for entry in self.d.get_log("performance"):
            msg = json.loads(entry["message"])["message"]
            if msg.get("method") != "Network.responseReceived":
                continue
            resp = msg["params"]["response"]
            try:
                body = self.d.execute_cdp_cmd("Network.getResponseBody", {"requestId": msg["params"]["requestId"]})
                text = base64.b64decode(body["body"]).decode("utf-8", "replace") if body.get("base64Encoded") \
                    else body["body"]
            except Exception:  # noqa: BLE001 (a body Chromium no longer holds)
                text = None
            self.responses.append((resp["url"], resp["status"], text))
        return self.responses

    def console_errors(self):
        """Console errors other than the failed API calls a test provokes (4xx answers are logged too)."""
        return [e["message"] for e in self.d.get_log("browser")
                if e["level"] == "SEVERE" and "Failed to load resource" not in e["message"]]

    # ---- finding and waiting -------------------------------------------------------------------------
    def css(self, selector, within=None):
        from selenium.webdriver.common.by import By
        return (within or self.d).find_elements(By.CSS_SELECTOR, selector)

    def one(self, selector, within=None, timeout=15):
        """The first element matching `selector`, waiting for it."""
        return wait(lambda: (self.css(selector, within) or [None])[0], timeout, "an element %s" % selector,
                    lambda: self.d.current_url)

    def go(self, hash_):
        self.d.execute_script("location.hash = arguments[0]", hash_)

    def select(self, element, value):
        from selenium.webdriver.support.ui import Select
        Select(element).select_by_value(value)


def wait(pred, timeout, what, detail=lambda: None, step=0.1):
    """pred()'s first truthy value within `timeout` s; fails the test naming `what` otherwise."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        try:
            v = pred()
        except Exception:  # noqa: BLE001 (an element replaced while read: try again)
            v = None
        if v:
            return v
        time.sleep(step)
    print("FAIL: %s (within %ss)" % (what, timeout))
    d = detail()
    if d is not None:
        print("  detail: %s" % (d,))
    sys.exit(1)
