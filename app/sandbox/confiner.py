"""How this gateway starts each CLI process: in a bubblewrap sandbox (or, where the operator
opted out, unconfined), with an environment from the allowlist and a proxy pass.

Both ways the CLI gets the same clean environment and reaches the API only through
the proxy; only the sandbox also hides the rest of the host. Where bubblewrap cannot
build a sandbox, every launch is refused with the reason (fail closed): the operator
fixes it or sets SANDBOX=off knowingly.
"""

import os
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from app.claude.command import RunSpec
from app.claude.run import Command
from app.errors import ServiceUnavailable
from app.proxy.server import ApiProxy
from app.sandbox import jail
from app.sandbox.environment import SEARCH_PATH, cli_environment

PROBE_SECONDS = 10.0
FILES = "/run/gateway/files"  # where the files named on the CLI's command line appear inside


@dataclass(frozen=True)
class SandboxPlan:
    """The operator's sandbox settings."""
    mode: str  # "bwrap" or "off"
    network: str  # jail.ISOLATED or jail.HOST
    read_only: tuple[Path, ...]
    passthrough: tuple[str, ...]  # SANDBOX_ENV


class Confiner:
    """Starts CLI processes the way the operator's sandbox settings say."""

    def __init__(self, plan: SandboxPlan, proxy: ApiProxy,
                 server_env: Mapping[str, str] = os.environ):
        self.plan = plan
        self.proxy = proxy
        self.server_env = server_env
        self._problem: list[str | None] = []  # the probe's verdict, once made
        self._cli = ""  # the CLI on the host, as `executable` last found it
        self._probe_lock = threading.Lock()

    @property
    def confined(self) -> bool:
        return self.plan.mode == "bwrap"

    def problem(self) -> str | None:
        """Why no sandbox can be built here (None: it can, or the operator opted out)."""
        if not self.confined:
            return None
        with self._probe_lock:
            if not self._problem:
                self._problem.append(_probe(self.plan.network))
        return self._problem[0]

    def cli_path(self, host_path: Path | str) -> str:
        """Where the CLI finds a file named on its command line."""
        if not self.confined:
            return str(host_path)
        return f"{FILES}/{Path(host_path).name}"

    def executable(self, found: str) -> str:
        """The CLI as the sandbox shows it (remembering where it is on the host)."""
        if not self.confined:
            return found
        self._cli = found
        return jail.inside_cli(found)

    def command(self, argv: list[str], spec: RunSpec, files: tuple[Path, ...]) -> Command:
        """The process to start for `argv`: confined with its files and a fresh pass."""
        problem = self.problem()
        if problem is not None:
            raise ServiceUnavailable(f"Turns cannot be confined on this server: {problem}",
                                     code="sandbox_unavailable")
        home = spec.home
        issued = self.proxy.passes.issue()
        revoke = lambda: self.proxy.passes.revoke(issued)  # noqa: E731
        if not self.confined:
            env = cli_environment(self.server_env, self.plan.passthrough, str(home),
                                  f"http://127.0.0.1:{self.proxy.port}", issued.token)
            return Command(argv, str(spec.cwd), env, api_pass=issued, on_stop=(revoke,))
        env = cli_environment(self.server_env, self.plan.passthrough, jail.HOME,
                              jail.inside_api_url(self.plan.network, self.proxy.port),
                              issued.token)
        assert home is not None, "a turn's spec names its key's home"
        cell = jail.Cell(spec.cwd, home, spec.workspace_name)
        read_only = {**jail.cli_binds(self._cli), **{str(p): p for p in self.plan.read_only}}
        wrapped = jail.bwrap_argv(shutil.which("bwrap") or "bwrap", cell, read_only,
                                  self.plan.network, self.proxy.socket_path, argv,
                                  {self.cli_path(path): path for path in files})
        return Command(wrapped, "/", env, api_pass=issued, on_stop=(revoke,),
                       cli_pid=jail.cli_pid)


def _probe(network: str) -> str | None:
    """Start a trivial sandbox, as turns will be started; the reason it fails, if it does."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return ("bubblewrap is not installed (Debian and Ubuntu: apt-get install bubblewrap); "
                "or set SANDBOX=off to run turns unconfined")
    if network == jail.ISOLATED and not shutil.which("socat", path="/usr/bin:/bin"):
        return ("socat is not installed in /usr/bin, which SANDBOX_NETWORK=isolated needs "
                "(apt-get install socat); or set SANDBOX_NETWORK=host")
    with tempfile.TemporaryDirectory(prefix="ccg-probe-") as empty:
        argv = jail.bwrap_argv(bwrap, jail.Cell(Path(empty), Path(empty)), {}, network, None,
                               ["/bin/true"], {})
        try:
            done = subprocess.run(argv, capture_output=True, timeout=PROBE_SECONDS,
                                  stdin=subprocess.DEVNULL, env={"PATH": SEARCH_PATH})
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"bubblewrap could not start a sandbox: {exc}"
    if done.returncode != 0:
        why = done.stderr.decode(errors="replace").strip()[-300:]
        return (f"bubblewrap could not start a sandbox ({why}); in a container, allow user "
                "namespaces (see README, Docker) or set SANDBOX=off to run turns unconfined")
    return None
