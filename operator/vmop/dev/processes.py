"""Detached child processes that outlive the command which started them, found again by pid.

``vmop dev up`` exits while etcd and the rest keep running, so later commands only have the
recorded pids. A pid alone may have been reused since, so each process is recorded with its
start time from ``/proc`` and is only signalled while both still match.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from ssl import SSLContext
from typing import Any

POLL_INTERVAL = 0.1


class StartupError(RuntimeError):
    """A component did not come up; the message names it and its log file."""


@dataclass(frozen=True)
class Process:
    """A started component: enough to find it, check it and stop it from another command."""

    name: str
    pid: int
    start_time: int | None
    log: Path
    cmd: tuple[str, ...] = ()  # how it was started, so that it can be started again (restart)

    def alive(self) -> bool:
        return _alive(self.pid, self.start_time)

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "pid": self.pid,
            "start_time": self.start_time,
            "log": str(self.log),
            "cmd": list(self.cmd),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Process:
        return cls(
            name=data["name"],
            pid=data["pid"],
            start_time=data["start_time"],
            log=Path(data["log"]),
            cmd=tuple(data.get("cmd") or ()),
        )


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (which may itself hold spaces)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2 :].split()


def _start_time(pid: int) -> int | None:
    fields = _stat_fields(pid)
    # Field 22 of stat(5) is the start time; fields here begin at field 3 (the state).
    return int(fields[19]) if fields else None


def _alive(pid: int, start_time: int | None) -> bool:
    _reap(pid)
    if not Path("/proc").is_dir():  # not Linux: no start time to compare, trust the pid
        return _signal_reaches(pid)
    fields = _stat_fields(pid)
    # A zombie is dead for our purposes: once `vmop dev up` has exited, its children are
    # reparented, and a container's pid 1 may never reap them.
    if fields is None or fields[0] == "Z":
        return False
    return start_time is None or int(fields[19]) == start_time


def _signal_reaches(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, just not ours to signal
        pass
    return True


def _reap(pid: int) -> None:
    """Collect the exit status if the process is our own child (when started in-process)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def spawn(name: str, cmd: Sequence[str], log: Path, *, append: bool = False) -> Process:
    """Start ``cmd`` in its own session, output to ``log`` (after what is there with ``append``), so
    it survives our exit and Ctrl-C."""
    with log.open("ab" if append else "wb") as out:
        proc = subprocess.Popen(
            list(cmd),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Process(name=name, pid=proc.pid, start_time=_start_time(proc.pid), log=log, cmd=tuple(cmd))


def stop(process: Process, timeout: float) -> None:
    """SIGTERM the process's group, SIGKILL it if it is still there after ``timeout``."""
    for sig, grace in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        if not process.alive():
            return
        try:
            # The component leads its own session (spawn), so its group is its pid; this also
            # ends anything it started itself.
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while process.alive() and time.monotonic() < deadline:
            time.sleep(POLL_INTERVAL)
    if process.alive():
        raise RuntimeError(f"{process.name} (pid {process.pid}) survived SIGKILL")


def free_ports(count: int) -> list[int]:
    """Distinct ports free right now on 127.0.0.1 (all held open together so none repeats)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def http_ok(url: str, *, context: SSLContext | None = None, token: str | None = None) -> bool:
    """True when ``url`` answers 200; connection errors and other statuses are just "not yet"."""
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    # Everything polled is on loopback: never through an HTTP(S)_PROXY from the environment.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context))
    try:
        with opener.open(request, timeout=2) as response:
            return int(response.status) == 200
    except (OSError, http.client.HTTPException):  # URLError and HTTPError are OSErrors
        return False


def log_tail(log: Path, lines: int = 15) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def wait_ready(process: Process, ready: Callable[[], bool], deadline: float) -> None:
    """Poll ``ready`` until it holds; fail early if the process exits, or at ``deadline``."""
    while not ready():
        if not process.alive():
            raise StartupError(f"{process.name} exited during start-up; log: {process.log}\n{log_tail(process.log)}")
        if time.monotonic() >= deadline:
            raise StartupError(f"{process.name} not ready in time; log: {process.log}\n{log_tail(process.log)}")
        time.sleep(POLL_INTERVAL)
