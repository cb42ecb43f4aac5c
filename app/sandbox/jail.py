"""The bubblewrap command line that confines one CLI process, and the way to reach the CLI
inside it with a signal.

Inside, the process sees: the system's read-only parts (/usr and a short list of /etc),
the CLI's own folder, the operator's extra read-only folders, the turn's workspace at
/workspace[/<name>] (read-write), the key's home at /home/claude (read-write; its .claude
is the CLI's config folder), a private /tmp, /dev, and a /proc of its own PID namespace.
With the isolated network it has only its own loopback, where a socat bridge forwards
one port to the gateway's proxy socket, mounted at /run/gateway/api.sock.
"""

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

HOME = "/home/claude"
WORKSPACE = "/workspace"
CLI_FOLDER = "/opt/claude-code"  # the CLI's own folder, wherever it is on the host
API_SOCKET = "/run/gateway/api.sock"
BRIDGE_PORT = 8765  # inside an isolated sandbox's own loopback: nothing else listens there
# The parts of /etc that programs need to run, resolve names and check certificates;
# not shadow files, not the host's own configuration.
ETC = ("passwd", "group", "hosts", "resolv.conf", "nsswitch.conf", "host.conf", "gai.conf",
       "ssl", "ca-certificates", "ca-certificates.conf", "localtime", "timezone",
       "alternatives", "os-release", "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "mime.types",
       "protocols", "services", "bash.bashrc", "profile", "inputrc", "gitconfig", "magic")
SYSTEM_LINKS = (("usr/bin", "/bin"), ("usr/sbin", "/sbin"), ("usr/lib", "/lib"),
                ("usr/lib64", "/lib64"), ("usr/lib32", "/lib32"))
ISOLATED, HOST = "isolated", "host"


@dataclass(frozen=True)
class Cell:
    """What one process may write: the turn's workspace and the key's home, on the host."""
    workspace: Path
    home: Path
    workspace_name: str = ""  # the client's name for it ("" for the default workspace)

    @property
    def inside_cwd(self) -> str:
        return f"{WORKSPACE}/{self.workspace_name}" if self.workspace_name else WORKSPACE


def bwrap_argv(bwrap: str, cell: Cell, read_only: Mapping[str, Path], network: str,
               api_socket: Path | None, command: list[str],
               files: Mapping[str, Path]) -> list[str]:
    """The full command line: bwrap, its options, then `command` (the CLI and its argv).

    The environment is not set here but given to bwrap itself, already clean: the
    sandbox's init is bwrap, and its /proc/1/environ is readable from inside.
    """
    argv = [bwrap, "--unshare-all", "--die-with-parent", "--ro-bind", "/usr", "/usr"]
    if network == HOST:
        argv.append("--share-net")
    for target, link in SYSTEM_LINKS:
        if os.path.islink(link) or not os.path.exists(link):
            argv += ["--symlink", target, link]
        else:  # a system without the merged /usr keeps them as folders
            argv += ["--ro-bind", link, link]
    for name in ETC:
        if os.path.lexists(f"/etc/{name}"):
            argv += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    argv += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--tmpfs", "/run"]
    for inside, host in files.items():  # the system prompt and MCP files named on its argv
        argv += ["--ro-bind", str(host), inside]
    for inside, host in read_only.items():
        argv += ["--ro-bind", str(host), inside]
    argv += ["--bind", str(cell.home), HOME, "--bind", str(cell.workspace), cell.inside_cwd,
             "--chdir", cell.inside_cwd]
    if api_socket is not None and network == ISOLATED:
        argv += ["--bind", str(api_socket), API_SOCKET]
        command = bridged(command)
    return [*argv, "--", *command]


def bridged(command: list[str]) -> list[str]:
    """Start the socat bridge from the sandbox's loopback to the proxy socket, wait until it
    listens, then become the CLI (so the CLI stays the one child of the sandbox's init)."""
    script = ('socat TCP-LISTEN:{port},bind=127.0.0.1,fork,reuseaddr UNIX-CONNECT:{sock} & '
              'until grep -q ":{hex} 00000000:0000 0A" /proc/net/tcp; do '
              'kill -0 $! 2>/dev/null || exit 70; done; exec "$@"'
              ).format(port=BRIDGE_PORT, sock=API_SOCKET, hex=f"{BRIDGE_PORT:04X}")
    return ["/bin/sh", "-c", script, "sh", *command]


def inside_api_url(network: str, proxy_port: int | None) -> str:
    """Where the CLI inside finds the proxy."""
    port = BRIDGE_PORT if network == ISOLATED else proxy_port
    return f"http://127.0.0.1:{port}"


def cli_pid(sandbox_pid: int) -> int | None:
    """The host pid of the CLI in a sandbox: bwrap's child is the sandbox's init, whose one
    child is the CLI. Signals for the CLI alone go there: bwrap itself dies of SIGINT, and
    with it every process of the sandbox, before the CLI could save its session."""
    pid = sandbox_pid
    for _ in range(2):
        children = _children(pid)
        if not children:
            return None
        pid = children[0]
    return pid


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as handle:
            return [int(child) for child in handle.read().split()]
    except (OSError, ValueError):
        return []


def inside_cli(executable: str) -> str:
    """Where the sandbox shows the CLI: its real file, in a folder that names no host path."""
    return f"{CLI_FOLDER}/{Path(executable).resolve().name}"


def cli_binds(executable: str) -> dict[str, Path]:
    """What must be visible for the CLI to run, inside path to host folder: the folder of the
    resolved executable, and the prefix of a script's interpreter when it lies outside /usr
    (nvm's node), where it was installed (interpreters find their libraries from there)."""
    real = Path(executable).resolve()
    binds = {CLI_FOLDER: real.parent}
    interpreter = _interpreter(real)
    if interpreter is not None and not str(interpreter).startswith("/usr/"):
        prefix = interpreter.parent.parent
        binds[str(prefix)] = prefix
    return binds


def _interpreter(script: Path) -> Path | None:
    """The resolved interpreter of a `#!` script (`#!/usr/bin/env node` looked up in PATH)."""
    try:
        with open(script, "rb") as handle:
            first = handle.readline(256)
    except OSError:
        return None
    if not first.startswith(b"#!"):
        return None
    words = first[2:].decode(errors="replace").split()
    if not words:
        return None
    program = words[1] if Path(words[0]).name == "env" and len(words) > 1 else words[0]
    found = shutil.which(program)
    return Path(found).resolve() if found else None
