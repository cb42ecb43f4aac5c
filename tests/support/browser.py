"""Headless Chromium for the console's browser tests: Debian's `chromium` driven through its
`chromedriver` by Selenium (never a downloaded browser), screenshots a person can look at,
and the checks every page must pass (labels on controls, headings in order, a phone's width).
"""

import os
import shutil
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as seen
from selenium.webdriver.support.ui import WebDriverWait

from tests.support.server import ROOT

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
SCREENSHOTS = Path(os.environ.get("BROWSER_SCREENSHOTS", ROOT / "screenshots"))
WAIT_SECONDS = 60  # a turn of the real CLI on a busy two-core machine
DESKTOP = (1280, 900)
PHONE = (390, 844)


def bearer(key: str) -> dict:
    """The header a test's own API calls send beside the browser."""
    return {"Authorization": f"Bearer {key}"}


def chromium() -> webdriver.Chrome:
    """A headless Chromium at a desktop's size; fails with a clear message when not installed."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not shutil.which(path):
            raise RuntimeError(f"{path} is missing: run `scripts/install-system-packages --tests`")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--disable-gpu", f"--window-size={DESKTOP[0]},{DESKTOP[1]}"):
        options.add_argument(argument)
    return webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))


def wait(driver, seconds: float = WAIT_SECONDS) -> WebDriverWait:
    return WebDriverWait(driver, seconds)


def visible(driver, css: str):
    """The element once it is shown."""
    return wait(driver).until(seen.visibility_of_element_located((By.CSS_SELECTOR, css)))


def sign_in(driver, url: str, key: str) -> None:
    """Open a page and paste the key into its sign-in form."""
    driver.get(url)
    field = visible(driver, "#key-input")
    field.send_keys(key)
    driver.find_element(By.CSS_SELECTOR, "#sign-in button[type=submit]").click()
    visible(driver, "#content")


def screenshot(driver, name: str) -> Path:
    """Save what the page looks like now, for a person to look at (never committed)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


# Controls without a name a screen reader can say, and headings that skip a level.
A11Y_PROBLEMS = """
const problems = [];
for (const control of document.querySelectorAll("input, select, textarea, button")) {
  if (control.type === "hidden" || control.closest("[hidden]")) continue;
  const labelled = (control.id && document.querySelector(`label[for="${control.id}"]`))
    || control.closest("label") || control.getAttribute("aria-label")
    || control.getAttribute("aria-labelledby")
    || (control.tagName === "BUTTON" && control.textContent.trim());
  if (!labelled) problems.push("unlabelled " + control.outerHTML.slice(0, 80));
}
const levels = [...document.querySelectorAll("h1, h2, h3, h4, h5, h6")]
  .filter((h) => !h.closest("[hidden]")).map((h) => Number(h.tagName[1]));
if (levels[0] !== 1) problems.push("the first heading is not an h1: " + levels);
if (levels.filter((l) => l === 1).length !== 1) problems.push("not exactly one h1: " + levels);
levels.forEach((level, i) => {
  if (i && level > levels[i - 1] + 1) problems.push("heading skips a level: " + levels);
});
if (!document.documentElement.lang) problems.push("no lang on <html>");
return problems;
"""


def accessibility_problems(driver) -> list[str]:
    return driver.execute_script(A11Y_PROBLEMS)


def overflows_sideways(driver) -> bool:
    """Whether the page is wider than the window (a phone would scroll sideways)."""
    return driver.execute_script(
        "return document.documentElement.scrollWidth > window.innerWidth + 1")
