"""Report pages opened in a real browser (headless Chromium): every picture loads, every audio player has a source
the browser can play, relative links point at files that exist, buttons work, and nothing is logged as an error.

Needs the Debian packages `chromium` and `chromium-driver` (`make test` installs them where it runs as root with
apt-get, as in CI) and the `selenium` package (`vqaudio[dev]`); skipped, saying so, where either is absent.

`page_problems(path)` checks any page, so other report pages can be checked from a test or by hand:

    python tests/test_report_browser.py runs/NAME/report.html benchmarks/results/codec-report/index.html
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

REPO = Path(__file__).resolve().parents[1]
BROWSERS = ("chromium", "chromium-browser")  # Debian's package, and its name on some other systems
DRIVER = "chromedriver"  # Debian: chromium-driver
INSTALL = "apt-get install chromium chromium-driver"
LOAD_TIMEOUT_S = 15.0
WINDOW = (1280, 1000)
MAX_SCREENSHOT_HEIGHT = 12000  # px; a longer page is cut there

# Runs in the page before any of its own scripts: keeps uncaught errors and rejected promises.
CATCH_ERRORS = """
window.__problems = [];
window.addEventListener('error', e => {
  if (e.target && e.target !== window) return;  // a resource that failed: reported by the checks themselves
  window.__problems.push((e.message || 'uncaught ' + e.type) + ' at ' + (e.filename || '?') + ':' + (e.lineno || 0));
}, true);
window.addEventListener('unhandledrejection', e => {
  window.__problems.push('unhandled promise rejection: ' + String(e.reason));
});
"""

# Starts every picture and player loading (lazy pictures too), then reports, once all have settled, what failed.
# Returns null while something is still loading.
LOADED = """
const problems = [];
let pending = 0;
for (const img of document.images) {
  if (img.loading === 'lazy') img.loading = 'eager';
  if (!img.complete) { pending++; continue; }
  const src = img.getAttribute('src');
  if (!src && !img.srcset) problems.push('<img> without a src');
  else if (!(img.naturalWidth > 0)) problems.push('<img src="' + src + '"> did not load');
}
for (const media of document.querySelectorAll('audio, video')) {
  const tag = media.tagName.toLowerCase();
  const sources = [...media.querySelectorAll('source')];
  const name = media.getAttribute('src') || sources.map(s => s.getAttribute('src')).join(' | ') || '(none)';
  if (!media.getAttribute('src') && !sources.some(s => s.getAttribute('src'))) {
    problems.push('<' + tag + '> without a source'); continue;
  }
  for (const s of sources) {
    const type = s.getAttribute('type');
    if (type && media.canPlayType(type) === '') {
      const src = s.getAttribute('src');
      problems.push('<' + tag + '> <source src="' + src + '" type="' + type + '">: cannot play ' + type);
    }
  }
  if (!media.__loadStarted) {
    media.__loadStarted = true;
    if (media.preload === 'none') media.preload = 'metadata';
    media.load();
    pending++; continue;
  }
  if (media.error) {
    problems.push('<' + tag + ' src="' + name + '">: error ' + media.error.code + ' ' + (media.error.message || ''));
  } else if (media.networkState === HTMLMediaElement.NETWORK_NO_SOURCE) {
    problems.push('<' + tag + ' src="' + name + '">: no source the browser can play');
  } else if (media.readyState < HTMLMediaElement.HAVE_METADATA) {
    pending++;
  } else if (!(media.duration > 0)) {
    problems.push('<' + tag + ' src="' + name + '">: duration ' + media.duration);
  }
}
return pending ? null : problems;
"""

# Every element attribute that names another file, as written: [tag, attribute, value].
REFERENCES = """
const refs = [];
for (const a of document.querySelectorAll('a[href]')) refs.push(['a', 'href', a.getAttribute('href')]);
for (const e of document.querySelectorAll('img[src], audio[src], video[src], source[src], iframe[src], script[src]'))
  refs.push([e.tagName.toLowerCase(), 'src', e.getAttribute('src')]);
for (const e of document.querySelectorAll('link[href]')) refs.push(['link', 'href', e.getAttribute('href')]);
return refs;
"""

BUTTONS = "button, input[type=button], input[type=submit], [role=button]"


def find_chromium() -> tuple[str, str] | None:
    """(browser, driver) paths, or None where either is not installed."""
    browser = next((found for name in BROWSERS if (found := shutil.which(name))), None)
    driver = shutil.which(DRIVER) or (
        "/usr/lib/chromium/chromedriver" if Path("/usr/lib/chromium/chromedriver").is_file() else None
    )
    return (browser, driver) if browser and driver else None


@contextlib.contextmanager
def headless_chromium() -> Iterator[Any]:
    """A headless Chromium driven by Selenium, closed on exit. Skips (pytest) where Chromium or Selenium is absent."""
    webdriver = pytest.importorskip(
        "selenium.webdriver", reason="needs selenium for the browser test: pip install -e '.[dev]'"
    )
    from selenium.webdriver.chrome.service import Service

    found = find_chromium()
    if found is None:
        pytest.skip(f"headless Chromium not found (needs `chromium` and `{DRIVER}` on PATH): {INSTALL}")
    browser, driver_path = found
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--mute-audio"):
        options.add_argument(flag)
    options.add_argument("--window-size={},{}".format(*WINDOW))
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # An explicit driver path: Selenium never runs its manager (which would download a driver).
    try:
        driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    except Exception as err:  # installed but unusable (version mismatch, missing libraries): a real failure
        pytest.fail(f"Chromium ({browser}, {driver_path}) is installed but would not start: {err}")
    try:
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": CATCH_ERRORS})
        yield driver
    finally:
        driver.quit()


def _console_errors(driver: Any) -> list[str]:
    """Errors logged since the last call: console.error, uncaught exceptions, files that failed to load."""
    problems = [f"console: {e['message']}" for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
    caught = driver.execute_script("const p = window.__problems || []; window.__problems = []; return p;")
    # Chromium logs uncaught errors on its console too; the page's own record only counts where the log has nothing
    return problems or [f"page: {p}" for p in caught]


def _loaded(driver: Any) -> list[str]:
    """Waits until every picture and player has loaded or failed; what failed (or is still loading at the timeout)."""
    deadline = time.monotonic() + LOAD_TIMEOUT_S
    while (result := driver.execute_script(LOADED)) is None:
        if time.monotonic() > deadline:
            return [f"pictures or players still loading after {LOAD_TIMEOUT_S:.0f} s"]
        time.sleep(0.05)
    return list(result)


def _references(driver: Any, page: Path) -> list[str]:
    """Relative references to files that do not exist, and in-page anchors (#id) to no element."""
    problems = []
    for tag, attribute, value in driver.execute_script(REFERENCES):
        parts = urlsplit(value)
        if parts.scheme or parts.netloc or value.startswith("//"):
            if parts.scheme == "file":
                problems.append(f'<{tag} {attribute}="{value}">: an absolute file:// path (not movable)')
            continue  # http(s), mailto:, data:, javascript: ...
        if not parts.path:
            target = unquote(parts.fragment)
            found = driver.execute_script(
                "return !!(document.getElementById(arguments[0]) || document.getElementsByName(arguments[0]).length)",
                target,
            )
            if target and not found:
                problems.append(f'<{tag} {attribute}="{value}">: no element with that id on the page')
            continue
        if parts.path.startswith("/"):
            problems.append(f'<{tag} {attribute}="{value}">: an absolute path (not movable)')
            continue
        if not (page.parent / unquote(parts.path)).exists():
            problems.append(f'<{tag} {attribute}="{value}">: no such file ({page.parent / unquote(parts.path)})')
    return problems


def _screenshot(driver: Any, path: Path) -> None:
    """The whole page (up to MAX_SCREENSHOT_HEIGHT px) as a PNG."""
    import base64

    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    clip = {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], MAX_SCREENSHOT_HEIGHT), "scale": 1}
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(base64.b64decode(shot["data"]))


def _click_buttons(driver: Any, page: Path, known: list[str]) -> list[str]:
    """Clicks each visible, enabled button once; errors any click causes, pictures or players it breaks (those not
    among the `known` problems already)."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By

    url = page.resolve().as_uri()
    problems, seen = [], set(known)
    count = len(driver.find_elements(By.CSS_SELECTOR, BUTTONS))
    for i in range(count):
        buttons = driver.find_elements(By.CSS_SELECTOR, BUTTONS)
        if i >= len(buttons):
            break  # a click removed buttons
        button = buttons[i]
        if not (button.is_displayed() and button.is_enabled()):
            continue
        label = (button.text or button.get_attribute("value") or button.get_attribute("id") or f"#{i}").strip()
        try:
            driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
            button.click()
        except WebDriverException as err:
            problems.append(f'button "{label}": could not be clicked: {err.msg}')
            continue
        after = _console_errors(driver) + _loaded(driver)
        problems += [f'after clicking "{label}": {p}' for p in after if p not in seen]
        seen.update(after)
        if driver.current_url.split("#")[0] != url:  # the button opened another page: come back
            driver.get(url)
            _loaded(driver)
            _console_errors(driver)
    return problems


def page_problems(page: str | Path, driver: Any = None, screenshot: str | Path | None = None) -> list[str]:
    """What is wrong with an HTML page opened from disk in headless Chromium (an empty list: nothing found).

    Checks that every <img> loads (naturalWidth > 0); every <audio>/<video> has a source, that each <source>'s type
    is one the browser can play, and that loading it gives metadata and no error; relative links and sources point
    at files that exist; no error reaches the console (uncaught exceptions, console.error, failed loads); and that
    clicking each button once logs no error and leaves the pictures and players loading. Writes a screenshot of
    the page as first shown to `screenshot` when given. Starts its own browser unless given a Selenium `driver`.
    """
    page = Path(page)
    if not page.is_file():
        return [f"no such page: {page}"]
    if driver is None:
        with headless_chromium() as own:
            return page_problems(page, own, screenshot)
    driver.get_log("browser")  # drop whatever an earlier page left
    driver.get(page.resolve().as_uri())
    problems = _loaded(driver) + _references(driver, page) + _console_errors(driver)
    if screenshot is not None:
        _screenshot(driver, Path(screenshot))
    problems += _click_buttons(driver, page, problems)
    return problems


def keep_screenshot(shot: Path) -> None:
    """Prints where the screenshot lies; copies it to $VQAUDIO_BROWSER_SCREENSHOT_DIR when that is set."""
    print(f"screenshot: {shot}")
    if out := os.environ.get("VQAUDIO_BROWSER_SCREENSHOT_DIR"):
        Path(out).mkdir(parents=True, exist_ok=True)
        copy = shutil.copy(shot, Path(out) / shot.name)
        print(f"screenshot copied to {copy}")


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with headless_chromium() as driver:
        yield driver


def _png(path: Path) -> None:
    import numpy as np
    from matplotlib import image

    image.imsave(path, np.linspace(0, 1, 12 * 16).reshape(12, 16))


def _wav(path: Path) -> None:
    import numpy as np
    import soundfile as sf

    t = np.arange(1600) / 8000
    sf.write(path, 0.3 * np.sin(2 * np.pi * 440 * t), 8000)


def test_run_report_opens_in_a_browser(chromium: Any, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from tests.test_report import write_run
    from vqaudio.report import write_run_report

    page = write_run_report(write_run(tmp_path))
    shot = tmp_path / "report-screenshot.png"
    problems = page_problems(page, chromium, screenshot=shot)
    keep_screenshot(shot)
    assert problems == []
    assert chromium.execute_script("return document.images.length") >= 3  # loss, learning rate, codebook
    assert shot.stat().st_size > 1000


def test_envelope_report_with_players_and_pager_opens_in_a_browser(chromium: Any, tmp_path: Path) -> None:
    """The model sections in a real browser: the latent figure, spectrograms, FLAC players that load, and the
    frame pager's buttons (clicked by page_problems) drawing without an error."""
    pytest.importorskip("matplotlib")
    from tests.helpers import make_fsdd_folder
    from tests.test_report_pages import ENVELOPE, make_run
    from vqaudio.report import write_run_report

    speech = make_fsdd_folder(tmp_path / "speech", seconds=0.6).parent
    run = make_run(tmp_path, "envelope-vqvae", dict(ENVELOPE), "envelope", {"root": str(speech)})
    page = write_run_report(run, examples=1)
    shot = tmp_path / "envelope-report-screenshot.png"
    problems = page_problems(page, chromium, screenshot=shot)
    keep_screenshot(shot)
    assert problems == []
    assert chromium.execute_script("return document.querySelectorAll('audio').length") == 2
    assert chromium.execute_script("return document.querySelectorAll('canvas').length") >= 1
    assert chromium.execute_script("return document.querySelectorAll('button').length") >= 2


def test_the_checks_find_broken_pages(chromium: Any, tmp_path: Path) -> None:
    """A good page passes; each kind of breakage on a bad page is found (the test can fail)."""
    pytest.importorskip("matplotlib")
    _png(tmp_path / "a.png")
    _png(tmp_path / "b.png")
    _wav(tmp_path / "clip.wav")
    pager = """<img id="frame" src="a.png">
<button onclick="document.getElementById('frame').src = 'b.png'">next</button>
<button onclick="document.getElementById('frame').src = 'a.png'">previous</button>"""
    good = tmp_path / "good.html"
    good.write_text(f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>good</title></head><body>
<h1 id="top">good</h1>{pager}
<audio controls src="clip.wav"></audio>
<audio controls preload="none"><source src="clip.wav" type="audio/wav"></audio>
<a href="clip.wav">clip</a> <a href="#top">top</a> <a href="https://example.org/">elsewhere</a>
</body></html>""")
    assert page_problems(good, chromium) == []

    bad = tmp_path / "bad.html"
    bad.write_text("""<!DOCTYPE html><html><head><meta charset="utf-8"><title>bad</title></head><body>
<img src="missing.png" alt="missing">
<img id="frame" src="a.png">
<button onclick="document.getElementById('frame').src = 'gone.png'">next</button>
<button onclick="undefinedFunction()">broken</button>
<audio controls src="missing.wav"></audio>
<audio controls><source src="clip.wav" type="audio/x-no-such-format"></audio>
<audio controls></audio>
<a href="nowhere.html">nowhere</a> <a href="#nothing">nothing</a>
<script>null.x;</script>
</body></html>""")
    problems = page_problems(bad, chromium)
    text = "\n".join(problems)
    assert '<img src="missing.png"> did not load' in text
    assert 'after clicking "next": <img src="gone.png"> did not load' in text
    assert 'after clicking "broken": console:' in text and "undefinedFunction" in text
    assert "missing.wav" in text and "cannot play audio/x-no-such-format" in text and "without a source" in text
    assert "nowhere.html" in text and "#nothing" in text
    assert "Uncaught TypeError" in text and "reading 'x'" in text


def test_benchmark_report_pages_open_in_a_browser(
    chromium: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every page that `vqaudio report benchmarks/results/codec.json` writes (on a copy of the results folder)."""
    pytest.importorskip("matplotlib")
    from vqaudio.cli import main

    results = REPO / "benchmarks" / "results"
    if not (results / "codec.json").is_file():
        pytest.skip(f"no {results / 'codec.json'}")
    copy = tmp_path / "results"
    shutil.copytree(results, copy, ignore=shutil.ignore_patterns("*-report"))
    before = set(tmp_path.rglob("*.html"))
    code = main(["report", str(copy / "codec.json")])
    out, err = capsys.readouterr()
    if code != 0 and "run folder" in err:
        pytest.skip(f"`vqaudio report` does not take a benchmark's JSON yet: {err.strip()}")
    assert code == 0, err
    pages = sorted(set(tmp_path.rglob("*.html")) - before)
    assert pages, f"`vqaudio report codec.json` wrote no HTML page: {out}"
    problems = {}
    for i, page in enumerate(pages):
        shot = tmp_path / f"benchmark-screenshot-{i}.png"
        if found := page_problems(page, chromium, screenshot=shot):
            problems[str(page.relative_to(tmp_path))] = found
        keep_screenshot(shot)
    assert problems == {}


def test_committed_report_pages_open_in_a_browser(chromium: Any) -> None:
    """Report pages kept in the repository (benchmarks/results/*-report/), if any."""
    pages = sorted((REPO / "benchmarks" / "results").glob("*-report/**/*.html"))
    if not pages:
        pytest.skip("no report pages under benchmarks/results/*-report/")
    problems = {str(p.relative_to(REPO)): found for p in pages if (found := page_problems(p, chromium))}
    assert problems == {}


if __name__ == "__main__":  # python tests/test_report_browser.py PAGE.html ...: the problems of each page
    failed = False
    with headless_chromium() as browser:
        for arg in sys.argv[1:]:
            found = page_problems(arg, browser)
            failed |= bool(found)
            print(f"{arg}: " + ("ok" if not found else "\n  " + "\n  ".join(found)))
    sys.exit(1 if failed else 0)
