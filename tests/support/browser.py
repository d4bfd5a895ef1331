"""Drives headless Chromium over W3C WebDriver to check an HTML report.

Input: a report.html path, and optionally where to save a screenshot.
Output: one JSON object on stdout with what the page showed (element counts,
summary texts, colours before and after switching, rect counts before and
after zooming, the page's own timings). tests/report.rs asserts on it; the
same command makes docs/report-reference-unit.png.

Standard library only: chromedriver speaks JSON over HTTP.

    python3 tests/support/browser.py REPORT.html [--screenshot PNG]
        [--size 1400,900] [--interact]

Exit codes: 0 done; 3 chromium or chromedriver missing (the message says what
to install); 1 anything else.
"""

import argparse
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

CHROME_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # W3C's key for element ids


def find_binary(names):
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class WebDriver:
    """One chromedriver process with one Chromium session."""

    def __init__(self, chromium, chromedriver, size, profile):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [chromedriver, f"--port={self.port}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.session = None
        self.wait_ready()
        args = CHROME_FLAGS + [f"--user-data-dir={profile}", f"--window-size={size}"]
        caps = {"browserName": "chrome", "goog:chromeOptions": {"binary": chromium, "args": args}}
        value = self.call("POST", "/session", {"capabilities": {"alwaysMatch": caps}})
        self.session = value["sessionId"]

    def wait_ready(self, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                if self.call("GET", "/status").get("ready"):
                    return
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"chromedriver did not start on port {self.port}")

    def call(self, method, path, body=None, timeout=120):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return json.loads(response.read())["value"]
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"{method} {path}: {e.read().decode(errors='replace')}") from None

    def session_call(self, method, path, body=None):
        return self.call(method, f"/session/{self.session}{path}", body)

    def open(self, url):
        self.session_call("POST", "/url", {"url": url})

    def js(self, script, *args):
        return self.session_call("POST", "/execute/sync", {"script": script, "args": list(args)})

    def wait_for(self, script, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            value = self.js(script)
            if value:
                return value
            time.sleep(0.05)
        raise RuntimeError(f"timed out waiting for: {script}")

    def click(self, css):
        """A real pointer click at the centre of the first element matching css."""
        found = self.session_call("POST", "/element", {"using": "css selector", "value": css})
        self.session_call("POST", f"/element/{found[ELEMENT]}/click", {})

    def hover(self, css):
        """Moves the pointer onto the centre of the first element matching css."""
        found = self.session_call("POST", "/element", {"using": "css selector", "value": css})
        move = {"type": "pointerMove", "duration": 0, "origin": {ELEMENT: found[ELEMENT]}, "x": 0, "y": 0}
        pointer = {"type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"}, "actions": [move]}
        self.session_call("POST", "/actions", {"actions": [pointer]})

    def set_viewport(self, width, height):
        """--window-size sizes the window; make the page itself width x height."""
        dx, dy = self.js("return [outerWidth - innerWidth, outerHeight - innerHeight]")
        self.session_call("POST", "/window/rect", {"width": width + dx, "height": height + dy})
        self.wait_for(f"return innerWidth === {width} && innerHeight === {height}", timeout=10)

    def screenshot(self, path):
        png = base64.b64decode(self.session_call("GET", "/screenshot"))
        Path(path).write_bytes(png)

    def quit(self):
        try:
            if self.session:
                self.session_call("DELETE", "")
        finally:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


# Waits for the page's first painted draw, then reports what it shows.
READY = "return window.caiosReport && window.caiosReport.timings.paint_ms !== undefined"
OBSERVE = """
const r = window.caiosReport;
const rects = document.querySelectorAll('#map [data-path]');
const text = (id) => document.getElementById(id).textContent;
return {
  report: r,
  elements: rects.length,
  paths: Array.from(rects, (e) => e.dataset.path),
  colours: Array.from(rects, (e) => getComputedStyle(e).backgroundColor).slice(0, 200),
  summary: {zip_unzipped: text('zip-unzipped'), cold_start: text('cold-start'),
            cold_budget: text('cold-budget'), total_usd: text('total-usd')},
  crumbs: text('crumbs'),
  legend: text('legend'),
};
"""
# Marks the largest file rectangle so WebDriver can click it by selector.
MARK_BIGGEST = """
let best = null, area = -1;
for (const e of document.querySelectorAll('#map [data-path]')) {
  const r = e.getBoundingClientRect();
  if (r.width * r.height > area) { area = r.width * r.height; best = e; }
}
best.id = 'biggest';
return best.dataset.path;
"""


def observe(driver):
    driver.wait_for(READY)
    return driver.js(OBSERVE)


def interact(driver, result):
    """Colour by usage, hover over the biggest file, zoom by clicking it, go up."""
    driver.click("label:has(> #colour-usage)")  # the radio itself is hidden
    result["usage"] = observe(driver)
    result["clicked"] = driver.js(MARK_BIGGEST)
    driver.hover("#biggest")
    result["tooltip"] = driver.wait_for("const t = document.getElementById('tip'); "
                                        "return t.style.display === 'block' && t.textContent")
    driver.click("#biggest")
    driver.wait_for("return window.caiosReport.zoom.length > 1")
    result["zoomed"] = observe(driver)
    driver.click("#up")
    driver.wait_for("return window.caiosReport.zoom.length === 1")
    result["up"] = observe(driver)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report")
    parser.add_argument("--screenshot")
    parser.add_argument("--size", default="1400,900")
    parser.add_argument("--interact", action="store_true")
    args = parser.parse_args()

    chromium = find_binary(["chromium", "chromium-browser", "google-chrome"])
    chromedriver = find_binary(["chromedriver"])
    if not chromium or not chromedriver:
        print(
            "chromium and chromedriver are needed for the report test: "
            "apt-get install chromium chromium-driver",
            file=sys.stderr,
        )
        return 3

    with tempfile.TemporaryDirectory(prefix="caios-chromium-") as profile:
        driver = WebDriver(chromium, chromedriver, args.size, profile)
        try:
            # Sized before the report loads, so its first draw is the one shown.
            driver.set_viewport(*(int(v) for v in args.size.split(",")))
            driver.open(Path(args.report).resolve().as_uri())
            result = {"initial": observe(driver)}
            if args.screenshot:
                driver.screenshot(args.screenshot)
            if args.interact:
                interact(driver, result)
        finally:
            driver.quit()
    json.dump(result, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
