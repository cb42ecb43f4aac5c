"""The Runs page with the runs API: a running run appears, its events stream into the page,
and Cancel ends it (headless Chromium, gunicorn, the real CLI)."""

import json

import requests
from selenium.webdriver.common.by import By

from tests.support.anthropic_standin import WAIT_FOREVER, Text, ToolUse
from tests.support.browser import bearer, screenshot, sign_in, visible, wait


def start_waiting_run(gateway, standin, key: str) -> str:
    """A run whose Bash tool waits until it is stopped, left going without its client; its
    id."""
    standin.script([Text("Starting the long wait."), ToolUse("Bash", WAIT_FOREVER)])
    with requests.post(gateway.url + "/api/claude", headers=bearer(key), stream=True, timeout=120,
                       json={"prompt": "Wait a long while", "workspace": "runs",
                             "allowed-tools": ["Bash"], "on-disconnect": "continue"}) as answer:
        assert answer.status_code == 200, answer.text
        for line in answer.iter_lines(decode_unicode=True):
            if line.startswith("data: ") and json.loads(line[6:])["type"] == "assistant":
                break  # Claude asked for the Bash tool: the sleep runs now
        return answer.headers["X-Run-Id"]


def test_a_running_run_appears_streams_and_cancel_ends_it(gateway, standin, operator, page):
    run_id = start_waiting_run(gateway, standin, operator)
    sign_in(page, gateway.url + "/", operator)
    card = visible(page, f'#runs li.run[data-run-id="{run_id}"][data-status="running"]')
    card.find_element(By.XPATH, ".//button[text()='Watch']").click()
    wait(page).until(lambda d: "Starting the long wait."
                     in d.find_element(By.ID, "watch-events").text)
    assert "Tool call: Bash" in page.find_element(By.ID, "watch-events").text
    screenshot(page, "runs-running")
    card = visible(page, f'#runs li.run[data-run-id="{run_id}"]')
    card.find_element(By.XPATH, ".//button[text()='Cancel']").click()
    visible(page, f'#recent li.run[data-run-id="{run_id}"][data-status="cancelled"]')
    wait(page).until(lambda d: d.find_element(By.ID, "watch-status").text == "ended")
    run = requests.get(f"{gateway.url}/api/claude/runs/{run_id}", headers=bearer(operator),
                       timeout=30).json()
    assert run["status"] == "cancelled" and run["ended_at"] - run["started_at"] < 30
    screenshot(page, "runs-cancelled")
