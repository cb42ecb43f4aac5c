"""Managed keys end to end: made with `flask keys`, used by the openai SDK through two
gunicorn workers and the real CLI; a dollar budget holds per API call, at the gateway's
proxy."""

import subprocess
import sys

import openai
import pytest
import requests
from openai import OpenAI

from tests.support.anthropic_standin import Text, ToolUse

FLASK = [sys.executable, "-m", "flask", "--app", "app", "keys"]


def keys_command(gateway, *args) -> subprocess.CompletedProcess:
    """Run `flask --app app keys ...` against the gateway's STATE_DIR, as an operator would."""
    return subprocess.run([*FLASK, *args], cwd=gateway.workdir, env=gateway.env,
                          capture_output=True, text=True, timeout=60)


def sdk(gateway, key: str) -> OpenAI:
    return OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0, timeout=120)


def ask(client: OpenAI, text: str = "Hi"):
    return client.chat.completions.create(model="claude-code",
                                          messages=[{"role": "user", "content": text}])


def test_a_key_made_with_flask_keys_works_until_rotated(gateway, standin):
    made = keys_command(gateway, "create", "team-a")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    standin.script(Text("Hello, team"))
    with sdk(gateway, key) as client:
        assert ask(client).choices[0].message.content.endswith("Hello, team")
    rotated = keys_command(gateway, "rotate", "team-a").stdout.strip()
    with sdk(gateway, key) as old, pytest.raises(openai.AuthenticationError):
        ask(old)
    standin.script(Text("Still here"))
    with sdk(gateway, rotated) as client:
        assert ask(client).choices[0].message.content.endswith("Still here")
    listed = keys_command(gateway, "list").stdout
    assert "team-a\tactive" in listed and key not in listed and rotated not in listed


def test_requests_per_minute_are_counted_across_workers(gateway):
    key = keys_command(gateway, "create", "limited", "--rpm", "4").stdout.strip()
    answers = [requests.get(gateway.url + "/v1/models", timeout=30,
                            headers={"Authorization": f"Bearer {key}"}) for _ in range(6)]
    assert [a.status_code for a in answers] == [200, 200, 200, 200, 429, 429]
    assert int(answers[-1].headers["Retry-After"]) >= 1


def test_a_dollar_budget_is_charged_per_call_and_stops_the_key(gateway, standin):
    key = keys_command(gateway, "create", "frugal", "--daily-usd", "0.000001").stdout.strip()
    standin.script(ToolUse("Bash", {"command": "echo one"}), Text("never reached"))
    with sdk(gateway, key) as client:
        with pytest.raises(openai.RateLimitError, match="daily budget ran out"):
            ask(client, "Run it")  # its second call is refused
        assert len(standin.requests) == 1
        usage = requests.get(gateway.url + "/api/usage", timeout=30,
                             headers={"Authorization": f"Bearer {key}"}).json()
        assert usage["today"]["turns"] == 1 and usage["today"]["cost_usd"] > 0.000001
        with pytest.raises(openai.RateLimitError, match="has spent its \\$1e-06"):
            ask(client)
    assert len(standin.requests) == 1  # refused before any process ran
