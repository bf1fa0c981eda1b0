"""Check the built Sphinx site in a real browser, as a reader would see it.

Serves ``docs/_build/html`` on 127.0.0.1 (a free port), opens every page in
headless Chromium (Selenium, Debian's ``chromium`` and ``chromium-driver``) at
1400 px and at 420 px wide, and checks on each page:

``console``   no error in the browser console (a missing script, style or font,
              a JavaScript exception);
``overflow``  no visible element sticks out past the viewport's edges, unless a
              box that scrolls sideways holds it (a wide table or code line must
              scroll inside its box, not be cut off or widen the page);
``math``      every formula typeset by MathJax, no raw ``\\[`` / ``\\(`` left in
              the text (MathJax is served by the site itself: no network);
``images``    every image loaded (decoded, non-zero size);
``paths``     no absolute path of the build machine in the page (the checkout,
              the interpreter's prefix, a temporary directory);
``copy``      every code block has a copy button, and what it copies has no
              ``>>>`` / ``...`` prompts.

Screenshots of a few pages at both widths go to ``docs/_build/browser/``, with
a summary (``summary.json``).  First, a self-test: a small site with one defect
per check (and one clean page) must give exactly those failures, so that a
checker that stopped seeing something cannot pass a broken site.  Exit status 1 if any check failed on any page,
each failure printed as ``width page check: detail``.

    python tools/check_site.py [--html docs/_build/html] [--out docs/_build/browser]
                               [--pages 'api/*'] [--jobs 2]

(``make docs-browser`` runs it after ``make docs``.)
"""
from __future__ import annotations

import argparse
import fnmatch
import functools
import http.server
import json
import os
import re
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

ROOT = Path(__file__).resolve().parent.parent
WIDTHS = (1400, 420)
HEIGHT = 900
CHECKS = ("console", "overflow", "math", "images", "paths", "copy")
#: pages shot at both widths (full length): the landing page, a loss page, the gallery
SCREENSHOTS = {
    "index.html": "landing",
    "api/generated/pylossfn.CrossEntropyLoss.html": "loss-page",
    "examples/index.html": "gallery",
}
#: pages that are not documents: Sphinx's search and index machinery
SKIP = ("search.html", "genindex.html", "py-modindex.html", "_static/*", "_images/*",
        "_sources/*", "_downloads/*", "_example_run/*")

# Waits for MathJax and the copy buttons and forces lazy images to load (the
# page as a reader sees it).  A page that loads MathJax or the copy-button
# script gets up to 10 s each for them to start (a loaded machine can run a
# page's deferred scripts seconds after its load event); a page without them
# is measured at once, so a missing script is still found.
_SETTLE = r"""
  const pause = ms => new Promise(r => setTimeout(r, ms));
  const src = s => Array.from(document.scripts).some(e => (e.src || "").toLowerCase().includes(s));
  for (let i = 0; src("mathjax") && !(window.MathJax && MathJax.startup &&
                                       MathJax.startup.promise) && i < 100; i++) {
    await pause(100);
  }
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  const wantsCopy = src("copybutton") && document.querySelector("div.highlight pre");
  for (let i = 0; wantsCopy && !document.querySelector("button.copybtn") && i < 100; i++) {
    await pause(100);
  }
  const imgs = Array.from(document.images);
  imgs.forEach(img => { img.loading = "eager"; });
  await Promise.all(imgs.map(img => img.decode().catch(() => null)));
"""
SETTLE_JS = ("const done = arguments[arguments.length - 1];\n(async () => {" + _SETTLE
             + "})().then(() => done(null), () => done(null));")

# Run in the page once it has loaded: settles it, then measures.  Returns
# {check: [problems]} for the in-page checks.
PAGE_JS = r"""
const done = arguments[arguments.length - 1];
(async () => {
""" + _SETTLE + r"""
  const out = {overflow: [], math: [], images: []};
  const vw = document.documentElement.clientWidth;
  // a box that scrolls sideways: a table's, a code block's, a formula's; not the theme's
  // page columns (bd-*), whose sideways scroll a reader never finds: what they clip is cut off
  const scrollsX = el => {
    const s = getComputedStyle(el);
    return (s.overflowX === "auto" || s.overflowX === "scroll") &&
        !Array.from(el.classList).some(c => c.startsWith("bd-")) &&
        !["MAIN", "ARTICLE", "BODY", "HTML"].includes(el.tagName);
  };
  const hidden = el => {
    for (let e = el; e; e = e.parentElement) {
      const s = getComputedStyle(e);
      if (s.display === "none" || s.visibility === "hidden" || s.opacity === "0") return true;
      if (e.tagName === "DIALOG" && !e.open) return true;
    }
    return false;
  };
  const name = el => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
      (el.classList.length ? "." + Array.from(el.classList).slice(0, 2).join(".") : "");
  // the page itself must not scroll sideways
  if (document.documentElement.scrollWidth > vw + 1) {
    out.overflow.push(`the page is ${document.documentElement.scrollWidth}px wide in a ${vw}px viewport`);
  }
  const reported = new Set();
  for (const el of document.body.querySelectorAll("*")) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    if (r.right <= vw + 1 && r.left >= -1) continue;
    if (hidden(el)) continue;
    // held by a box that scrolls sideways and is itself inside the viewport: fine
    let held = false;
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      if (scrollsX(a)) {
        const ar = a.getBoundingClientRect();
        held = ar.right <= vw + 1 && ar.left >= -1;
        break;
      }
    }
    if (held) continue;
    // report the outermost offender only (what it holds sticks out with it)
    let inside = false;
    for (let a = el.parentElement; a && !inside; a = a.parentElement) inside = reported.has(a);
    if (inside) continue;
    reported.add(el);
    out.overflow.push(`${name(el)} spans ${Math.round(r.left)}..${Math.round(r.right)}px` +
        ` of ${vw}px: "${(el.innerText || el.alt || "").trim().replace(/\s+/g, " ").slice(0, 60)}"`);
  }
  // MathJax replaces each .math element's TeX by an mjx-container
  for (const m of document.querySelectorAll(".math")) {
    if (!m.querySelector("mjx-container")) {
      out.math.push(`not typeset: ${m.textContent.trim().slice(0, 60)}`);
    }
  }
  const text = document.body.innerText;
  for (const raw of ["\\[", "\\(", "\\frac", "\\begin{"]) {
    const i = text.indexOf(raw);
    if (i >= 0) out.math.push(`raw TeX in the text: ...${text.slice(Math.max(0, i - 20), i + 40)}...`);
  }
  // every code block has a copy button, and what it copies has no ">>> " / "... " prompt:
  // click each button and catch what it hands to the clipboard (clipboard.js copies the
  // text of a hidden, selected textarea with execCommand; a headless page has no clipboard)
  out.copy = [];
  if (document.querySelector("div.highlight pre")) {
    const buttons = Array.from(document.querySelectorAll("button.copybtn"));
    if (!buttons.length) out.copy.push("code blocks without copy buttons");
    let copied = null;
    const execCommand = document.execCommand;
    document.execCommand = cmd => {
      if (cmd !== "copy") return execCommand.call(document, cmd);
      const el = document.activeElement;
      copied = el && el.value !== undefined ? el.value : String(getSelection());
      return true;
    };
    for (const b of buttons) {
      copied = null;
      b.click();
      if (copied === null) out.copy.push("a copy button copies nothing");
      else if (/^(>>>|\.\.\.) /m.test(copied)) out.copy.push(`a prompt is copied: ${copied.slice(0, 60)}`);
    }
    document.execCommand = execCommand;
  }
  for (const img of imgs) {
    if (!img.complete || img.naturalWidth === 0) out.images.push(`not loaded: ${img.getAttribute("src")}`);
  }
  return out;
})().then(done, e => done({error: String(e)}));
"""


def _build_paths() -> list[str]:
    """Absolute paths of this machine that a page must never show."""
    paths = {str(ROOT), sys.prefix, sys.base_prefix, tempfile.gettempdir(), os.path.expanduser("~")}
    return sorted((p for p in paths if p not in ("", "/")), key=len, reverse=True)


def serve(html: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(_QuietHandler, directory=str(html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base's name
        pass


def browser(width: int) -> webdriver.Chrome:
    opts = Options()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={width},{HEIGHT}", "--hide-scrollbars",
                # no network but loopback (always bypasses the proxy): a page that needs a CDN fails
                "--proxy-server=127.0.0.1:9"):
        opts.add_argument(arg)
    opts.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
    driver = webdriver.Chrome(options=opts, service=service)
    driver.set_script_timeout(30)
    driver.set_page_load_timeout(30)
    # the layout viewport exactly ``width`` px wide, whatever the window decorations
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": width < 600})
    return driver


def check_page(driver: webdriver.Chrome, base: str, page: str, paths: list[str],
               source: str) -> dict[str, list[str]]:
    """The page's problems; a page with any is loaded and checked once more, and
    only what it shows again counts.  A defect of the site shows every time; a
    page whose scripts (MathJax, the copy buttons) had not run yet when a
    loaded machine let the checks in does not (a CI run met that once: 62
    failures over 7 pages, with the other lane's compilers on both cores; and
    once one page failed twice, 11 checks, with the sanitized C harness on
    both: now up to two more loads, 1 s and 5 s apart)."""
    found = _check_page_once(driver, base, page, paths, source)
    for pause in (1.0, 5.0):  # twice more at most, the machine given time to calm
        if not any(found[check] for check in CHECKS):
            break
        time.sleep(pause)
        found = _check_page_once(driver, base, page, paths, source)
    return found


def _check_page_once(driver: webdriver.Chrome, base: str, page: str, paths: list[str],
                     source: str) -> dict[str, list[str]]:
    driver.get(base + page)
    found = driver.execute_async_script(PAGE_JS)
    if "error" in found:
        found = {"overflow": [], "math": [], "copy": [],
                 "images": [f"the page script failed: {found['error']}"]}
    found["console"] = [
        entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"
    ]
    found["paths"] = [f"{p!r} in the page" for p in paths if p in source]
    return found


def screenshot(driver: webdriver.Chrome, path: Path) -> None:
    """The whole length of the page (not only the viewport) as a PNG."""
    import base64

    height = driver.execute_script("return document.documentElement.scrollHeight")
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "captureBeyondViewport": True, "format": "png",
        "clip": {"x": 0, "y": 0, "width": driver.execute_script(
            "return document.documentElement.clientWidth"), "height": height, "scale": 1}})
    path.write_bytes(base64.b64decode(shot["data"]))


def site_pages(html: Path) -> list[str]:
    """The documents of a built site, relative to its root."""
    rel = (p.relative_to(html).as_posix() for p in html.rglob("*.html"))
    return sorted(r for r in rel if not any(fnmatch.fnmatch(r, s) for s in SKIP))


def check_pages(html: Path, pages: list[str], out: Path | None = None,
                jobs: int = 2) -> list[str]:
    """Every check on every page at every width: the failures, as printed lines.
    With ``out``, the pages of :data:`SCREENSHOTS` are shot into it."""
    paths = _build_paths()
    sources = {p: (html / p).read_text(encoding="utf-8") for p in pages}
    server, base = serve(html)
    failures: list[str] = []

    def one_width(width: int, chunk: list[str]) -> None:
        driver = browser(width)
        try:
            for page in chunk:
                found = check_page(driver, base, page, paths, sources[page])
                for check in CHECKS:
                    failures.extend(f"{width}px {page} {check}: {msg}" for msg in found[check])
                if out is not None and page in SCREENSHOTS:
                    # afresh: the checks clicked the copy buttons (their icons show it)
                    driver.get(base + page)
                    driver.execute_async_script(SETTLE_JS)
                    screenshot(driver, out / f"{SCREENSHOTS[page]}-{width}.png")
        finally:
            driver.quit()

    # one browser per (width, share of the pages); ``jobs`` browsers at a time
    per_width = max(1, jobs // len(WIDTHS))
    tasks = [(w, pages[i::per_width]) for w in WIDTHS for i in range(per_width)]
    try:
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            for f in [pool.submit(one_width, w, chunk) for w, chunk in tasks]:
                f.result()
    finally:
        server.shutdown()
    return sorted(failures)


# The self-test: a site with one defect per check (and a clean page), each of which must
# be found, and nothing else: a checker that passes everything would pass a broken site.
_PAGE = ("<!DOCTYPE html><html><head><meta name='viewport' content='width=device-width'>"
         "<title>{name}</title><link rel='icon' href='data:,'></head><body style='margin:8px'>{body}</body></html>")
_PIXEL = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
          "+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
SELF_TEST = {
    "clean.html": ("", f"<p>Text.</p><img src='{_PIXEL}' alt='a pixel'>"
                       "<div style='overflow-x:auto'><table><tr><td style='min-width:3000px'>"
                       "a wide table that scrolls in its box</td></tr></table></div>"),
    "overflow.html": ("overflow", "<table><tr><td style='min-width:3000px'>too wide</td></tr></table>"),
    # cut off by a box that clips (the page itself does not get wider)
    "clipped.html": ("overflow", "<div style='overflow:hidden'><pre style='width:3000px'>"
                                 "a code line cut off at the edge</pre></div>"),
    "math.html": ("math", "<p>\\[ x^2 \\]</p>"),
    "image.html": ("images", "<img src='missing.png' alt='missing' width='10' height='10'>"),
    "console.html": ("console", "<script>throw new Error('broken script')</script>"),
    "paths.html": ("paths", f"<p>Figure: {ROOT}/docs/_build/html/figure.png</p>"),
    "copy.html": ("copy", "<div class='highlight'><pre>&gt;&gt;&gt; 1 + 1\n2</pre></div>"),
}


def self_test() -> list[str]:
    """The problems of the checker itself on :data:`SELF_TEST` (none when it works)."""
    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp)
        for name, (_, body) in SELF_TEST.items():
            (site / name).write_text(_PAGE.format(name=name, body=body), encoding="utf-8")
        failures = check_pages(site, sorted(SELF_TEST), jobs=2)
    problems = []
    for name, (check, _) in SELF_TEST.items():
        for width in WIDTHS:
            got = {f.split(" ")[2].rstrip(":") for f in failures if f.split(" ")[:2] == [f"{width}px", name]}
            # a missing image also logs a 404 in the console
            want = {check} | ({"console"} if check == "images" else set()) if check else set()
            if got != want:
                problems.append(f"self-test {width}px {name}: expected {sorted(want)}, got {sorted(got)}")
    return problems


def run(html: Path, out: Path, patterns: list[str], jobs: int) -> int:
    problems = self_test()
    for line in problems:
        print(line)
    if problems:
        print("check_site: the checker failed its self-test")
        return 1
    pages = site_pages(html)
    if patterns:
        pages = [p for p in pages if any(fnmatch.fnmatch(p, pat) for pat in patterns)]
    if not pages:
        print(f"check_site: no pages under {html}", file=sys.stderr)
        return 1
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("*.png"):  # the screenshots listed are this run's
        stale.unlink()
    t0 = time.perf_counter()
    failures = check_pages(html, pages, out, jobs)
    seconds = time.perf_counter() - t0
    n_checks = len(pages) * len(WIDTHS) * len(CHECKS)
    for line in failures:
        print(line)
    shots = sorted(str(p.relative_to(ROOT) if p.is_relative_to(ROOT) else p)
                   for p in out.glob("*.png"))
    summary = {"pages": len(pages), "widths": list(WIDTHS), "checks": n_checks,
               "failures": len(failures), "seconds": round(seconds, 1), "screenshots": shots,
               "self_test": f"{len(SELF_TEST)} pages, each defect found"}
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(f"check_site: self-test passed ({len(SELF_TEST)} pages, one defect each); "
          f"{len(pages)} pages x {len(WIDTHS)} widths x {len(CHECKS)} checks = "
          f"{n_checks} checks, {len(failures)} failures, {seconds:.0f} s; screenshots: "
          f"{', '.join(shots)}")
    missing = sorted(set(SCREENSHOTS) - set(pages))
    if missing and not patterns:
        print(f"check_site: pages to screenshot are missing from the site: {missing}")
        return 1
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--html", type=Path, default=ROOT / "docs" / "_build" / "html")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "_build" / "browser")
    parser.add_argument("--pages", action="append", default=[],
                        help="only the pages matching this glob (repeatable)")
    parser.add_argument("--jobs", type=int, default=2, help="browsers at a time")
    args = parser.parse_args(argv)
    return run(args.html.resolve(), args.out.resolve(), args.pages, args.jobs)


if __name__ == "__main__":
    sys.exit(main())
