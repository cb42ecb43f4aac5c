"""The console at work in headless Chromium: signing in, a session's transcript, another key's
sessions kept out, the usage chart, an approval answered from the page, the health page and
the API viewer; every page checked for labels, heading order and a phone's width."""

import threading

import pytest
import requests
from selenium.webdriver.common.by import By

from tests.support.anthropic_standin import Text, Thinking, ToolUse
from tests.support.browser import (PHONE, accessibility_problems, bearer, overflows_sideways,
                                   screenshot, sign_in, visible, wait)
from tests.support.sandbox_paths import inside


def run_turn(gateway, key: str, prompt: str, **fields) -> dict:
    """One turn through the API, as a client would run it; its result."""
    answer = requests.post(gateway.url + "/api/claude", headers=bearer(key), timeout=120,
                           json={"prompt": prompt, "stream": False, **fields})
    assert answer.status_code == 200, answer.text
    return answer.json()


def texts(driver, css: str) -> list[str]:
    return [element.text for element in driver.find_elements(By.CSS_SELECTOR, css)]


def test_a_key_signs_in_and_a_wrong_one_is_told_so(gateway, viewer, page):
    page.get(gateway.url + "/")
    visible(page, "#key-input").send_keys("not-a-key")
    page.find_element(By.CSS_SELECTOR, "#sign-in button[type=submit]").click()
    wait(page).until(lambda d: "Invalid API key" in d.find_element(By.ID, "sign-in-error").text)
    assert page.execute_script("return sessionStorage.length") == 0
    sign_in(page, gateway.url + "/", viewer)
    assert visible(page, "#who-name").text == "Signed in as viewer"
    assert page.get_cookies() == []  # the key lives in session storage only
    screenshot(page, "runs")
    page.find_element(By.ID, "sign-out").click()
    visible(page, "#key-input")
    assert page.execute_script("return sessionStorage.length") == 0


def test_a_session_s_transcript_shows_its_turns(gateway, standin, viewer, page):
    standin.script([Thinking("Weighing the question."), Text("First answer.")])
    first = run_turn(gateway, viewer, "First question")
    standin.script(ToolUse("Glob", {"pattern": "*.txt"}), Text("Second answer."))
    run_turn(gateway, viewer, "Second question", session_id=first["session_id"])
    sign_in(page, gateway.url + "/sessions", viewer)
    link = visible(page, f'tr[data-session-id="{first["session_id"]}"] a')
    screenshot(page, "sessions")
    page.find_element(By.ID, "title-search").send_keys("no such title")
    wait(page).until(lambda d: not d.find_elements(By.CSS_SELECTOR, "#sessions tbody tr"))
    page.find_element(By.ID, "title-search").clear()
    page.find_element(By.ID, "title-search").send_keys("first QUESTION")
    wait(page).until(lambda d: texts(d, "#sessions tbody tr td:first-child") == ["First question"])
    link = visible(page, f'tr[data-session-id="{first["session_id"]}"] a')
    link.click()
    wait(page).until(lambda d: len(texts(d, "#transcript .turn")) == 2)
    turns = texts(page, "#transcript .turn")
    assert "First question" in turns[0] and "First answer." in turns[0]
    assert "Second question" in turns[1] and "Second answer." in turns[1]
    thinking = page.find_element(By.CSS_SELECTOR, "#transcript details.thinking")
    assert thinking.get_attribute("open") is None  # folded until a reader opens it
    assert "Tool call: Glob" in texts(page, "#transcript details.tool-use summary")
    assert texts(page, "#transcript details.tool-result summary")
    screenshot(page, "session")


def test_a_session_is_continued_forked_and_deleted_from_its_page(gateway, standin, viewer,
                                                                  page):
    session = run_turn(gateway, viewer, "Begin here")["session_id"]
    sign_in(page, gateway.url + f"/sessions/{session}", viewer)
    wait(page).until(lambda d: len(texts(d, "#transcript .turn")) == 1)
    standin.script(Text("Continued from the page."))
    page.find_element(By.ID, "prompt").send_keys("Go on")
    page.find_element(By.ID, "send").click()
    wait(page).until(lambda d: "Continued from the page."
                     in d.find_element(By.ID, "live-reply").text)
    wait(page).until(lambda d: len(texts(d, "#transcript .turn")) == 2)
    assert "Go on" in texts(page, "#transcript .turn")[1]
    run = page.find_element(By.CSS_SELECTOR, "#live-run a").get_attribute("href")
    assert "/?run=run_" in run  # the turn is a run, watchable from the Runs page
    screenshot(page, "session-continued")
    page.find_element(By.ID, "fork").click()
    wait(page).until(lambda d: session not in d.current_url)
    fork = page.current_url.rsplit("/", 1)[1]
    wait(page).until(lambda d: len(texts(d, "#transcript .turn")) == 2)  # the fork's history
    page.find_element(By.ID, "delete").click()
    page.switch_to.alert.accept()
    wait(page).until(lambda d: d.current_url.endswith("/sessions"))
    visible(page, f'tr[data-session-id="{session}"]')
    assert page.find_elements(By.CSS_SELECTOR, f'tr[data-session-id="{fork}"]') == []


def test_another_key_s_session_never_appears(gateway, standin, viewer, other, page):
    theirs = run_turn(gateway, other, "Private question")["session_id"]
    mine = run_turn(gateway, viewer, "My question")["session_id"]
    sign_in(page, gateway.url + "/sessions", viewer)
    visible(page, f'tr[data-session-id="{mine}"]')
    assert page.find_elements(By.CSS_SELECTOR, f'tr[data-session-id="{theirs}"]') == []
    page.get(gateway.url + f"/sessions/{theirs}")
    wait(page).until(lambda d: "was not found" in d.find_element(By.ID, "page-error").text)
    assert texts(page, "#transcript .turn") == []


def test_the_usage_chart_shows_the_day_s_figures_against_the_limits(gateway, viewer, page):
    run_turn(gateway, viewer, "Count this")
    usage = requests.get(gateway.url + "/api/usage", headers=bearer(viewer), timeout=30).json()
    assert usage["today"]["total_tokens"] > 0
    sign_in(page, gateway.url + "/usage", viewer)
    bar = visible(page, f'#chart-tokens rect.bar[data-label="{usage["day"]}"]')
    wait(page).until(lambda d: int(bar.get_attribute("data-value")) >= usage["today"]
                     ["total_tokens"])
    assert page.find_elements(By.CSS_SELECTOR, "#chart-tokens line.limit")  # daily_tokens
    assert page.find_elements(By.CSS_SELECTOR, "#chart-cost line.limit")  # daily_usd
    label = page.find_element(By.CSS_SELECTOR, "#chart-tokens svg").get_attribute("aria-label")
    assert usage["day"] in label and "daily limit 400,000" in label
    assert "lacks the metrics scope" in visible(page, "#processes-note").text
    screenshot(page, "usage")


def test_the_operator_sees_every_key_and_the_process_budget(gateway, viewer, operator, page):
    run_turn(gateway, viewer, "Count this too")
    sign_in(page, gateway.url + "/usage", operator)
    wait(page).until(lambda d: "viewer" in texts(d, "#keys tbody th"))
    wait(page).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#chart-processes polyline"))
    assert "Running processes" in page.find_element(By.ID, "processes").text
    screenshot(page, "usage-operator")


def test_allow_on_a_waiting_approval_lets_the_write_happen(gateway, standin, operator, page):
    folder = gateway.workdir / "ws" / "workspace" / "approve"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "allowed.txt"
    standin.script(ToolUse("Write", {"file_path": inside(target, target.parents[2]),
                                     "content": "from the console"}), Text("Written."))
    results = []
    turn = threading.Thread(target=lambda: results.append(run_turn(
        gateway, operator, "write the file", workspace="approve", approvals=True)))
    turn.start()
    try:
        sign_in(page, gateway.url + "/", operator)
        card = visible(page, "#approvals li.approval")
        assert "Write" in card.text and "allowed.txt" in card.text
        screenshot(page, "runs-approval")
        card.find_element(By.XPATH, ".//button[text()='Allow']").click()
    finally:
        turn.join(timeout=120)
    assert results and results[0]["result"] == "Written."
    assert target.read_text() == "from the console"
    wait(page).until(lambda d: not d.find_elements(By.CSS_SELECTOR, "#approvals li"))


def test_the_health_page_places_the_cli_in_its_supported_range(gateway, viewer, page):
    sign_in(page, gateway.url + "/status", viewer)
    wait(page).until(lambda d: "Version" in d.find_element(By.ID, "cli").text)
    assert "supported from" in page.find_element(By.ID, "cli").text
    assert {"cli", "sandbox", "state"} <= set(texts(page, "#checks tbody th"))
    screenshot(page, "health")


def test_the_api_viewer_renders_the_openapi_document(gateway, page):
    page.get(gateway.url + "/docs")
    wait(page).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".opblock"))
    assert any("/api/claude" in text for text in texts(page, ".opblock-summary-path"))
    screenshot(page, "docs")


PAGES = ["/", "/sessions", "/usage", "/status"]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_has_labels_ordered_headings_and_fits_a_phone(gateway, viewer, page, path):
    sign_in(page, gateway.url + path, viewer)
    wait(page).until(lambda d: d.execute_script("return document.readyState") == "complete")
    assert accessibility_problems(page) == []
    page.set_window_size(*PHONE)
    wait(page).until(lambda d: d.execute_script("return window.innerWidth") <= PHONE[0])
    assert not overflows_sideways(page)
    screenshot(page, "phone" + (path.replace("/", "-") if path != "/" else "-runs"))


def test_a_session_page_passes_the_same_checks(gateway, viewer, page):
    session = run_turn(gateway, viewer, "Check me")["session_id"]
    sign_in(page, gateway.url + f"/sessions/{session}", viewer)
    wait(page).until(lambda d: texts(d, "#transcript .turn"))
    assert accessibility_problems(page) == []
    page.set_window_size(*PHONE)
    wait(page).until(lambda d: d.execute_script("return window.innerWidth") <= PHONE[0])
    assert not overflows_sideways(page)
    screenshot(page, "phone-session")
