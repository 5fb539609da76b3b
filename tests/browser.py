"""Open an HTML file in a real headless Chromium (Debian's package, driven by Playwright) and
report what a person would notice: console errors, failed requests, images that do not show."""

import os
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM = Path(os.environ.get("TRIAGE_CHROMIUM", "/usr/bin/chromium"))
# Headless and quiet: without the background-networking flags Chromium keeps calling home.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
_IMAGES = """async () => Promise.all(Array.from(document.images).map(async (img) => {
  let decoded = true;
  try { await img.decode(); } catch (e) { decoded = false; }
  return {name: img.dataset.matrix || img.dataset.plot || img.alt, decoded: decoded,
          width: img.naturalWidth, shown: img.getBoundingClientRect().width};
}))"""


@dataclass
class PageCheck:
    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    images: list[dict] = field(default_factory=list)

    @property
    def broken_images(self) -> list[dict]:
        return [i for i in self.images if not i["decoded"] or i["width"] == 0 or i["shown"] == 0]


def check_page(html: Path, profile: Path, screenshot: Path | None = None) -> PageCheck:
    """Load `html` from disk with a fresh browser profile (`profile`, a new folder); optionally
    save a screenshot of the top of the page."""
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: `make test` installs Debian's chromium"
    result = PageCheck()
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=FLAGS,
            viewport={"width": 1400, "height": 1800},
        )
        try:
            page = context.new_page()
            page.on("console", lambda m: m.type == "error" and result.console_errors.append(m.text))
            page.on("pageerror", lambda e: result.console_errors.append(f"uncaught: {e}"))
            page.on("requestfailed", lambda r: result.failed_requests.append(r.url[:120]))
            page.goto(html.resolve().as_uri(), wait_until="load")
            result.images = page.evaluate(_IMAGES)
            if screenshot is not None:
                page.screenshot(path=str(screenshot))
        finally:
            context.close()
    return result
