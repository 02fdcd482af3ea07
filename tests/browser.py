"""A real browser for the tests: Debian's headless `chromium`, driven by Playwright, offline.

Nothing downloads a browser: Playwright is pointed at the system's chromium. With no
chromium (or no Playwright) the browser tests skip, saying why; with TIE_REQUIRE_BROWSER=1
(CI, `.ci/run`) that is a failure instead. The page reaches nothing but `file:` URLs and,
where a test serves one, its own loopback origin: every other request is aborted, and
recorded in `BrowserPage.blocked` so that a test can assert none was made.
"""

import io
import os
import shutil
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest

LOCAL_SCHEMES = ("file:", "data:", "blob:")  # what a page may load with no network
TIMEOUT_MS = 60_000  # any one wait for the page
# As Debian's chromium runs headless on a machine with no network: nothing in the background.
CHROMIUM_ARGS = [
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]


def _unavailable(reason: str):
    if os.environ.get("TIE_REQUIRE_BROWSER") == "1" or os.environ.get("TIE_REQUIRE_ALL") == "1":
        pytest.fail(f"{reason}, and TIE_REQUIRE_BROWSER=1 (or TIE_REQUIRE_ALL=1) requires it")
    pytest.skip(f"{reason} (set TIE_REQUIRE_BROWSER=1 to make this a failure)")


def chromium_executable() -> str:
    """The system's chromium, or the test skips (fails with TIE_REQUIRE_BROWSER=1)."""
    for name in ("chromium", "chromium-browser"):
        if path := shutil.which(name):
            return path
    _unavailable(
        "no headless browser: `chromium` is not on PATH (Debian: apt-get install chromium)"
    )


@dataclass
class BrowserPage:
    page: object  # playwright.sync_api.Page
    blocked: list[str] = field(default_factory=list)


@contextmanager
def offline_page(allowed_origin: str | None = None, viewport=(1280, 900)):
    """One browser session, one page; requests other than to `allowed_origin` are aborted."""
    executable = chromium_executable()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright is not installed (pip install playwright)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(
                viewport={"width": viewport[0], "height": viewport[1]}, service_workers="block"
            )
            context.set_default_timeout(TIMEOUT_MS)
            result = BrowserPage(context.new_page())

            def only_allowed(route):
                url = route.request.url
                local = url.startswith(LOCAL_SCHEMES)
                if local or (allowed_origin and url.startswith(allowed_origin + "/")):
                    route.continue_()
                else:
                    result.blocked.append(url)
                    route.abort("internetdisconnected")

            context.route("**/*", only_allowed)
            yield result
        finally:
            browser.close()


def coloured_pixels(png: bytes) -> int:
    """Pixels of a screenshot in a colour (not white, grey or black: axes, labels)."""
    import numpy as np
    from PIL import Image

    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=int)
    return int(((pixels.max(axis=2) - pixels.min(axis=2)) > 40).sum())
