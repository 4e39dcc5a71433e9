"""The simulator's web stack (fastapi, uvicorn, httptools) is the vmop[sim] extra: the operator
imports none of it, and `vmop sim` without it says what to install."""

from __future__ import annotations

import subprocess
import sys

WITHOUT_SIM = (
    "import sys\nfor name in ('fastapi', 'uvicorn', 'httptools', 'starlette'):\n    sys.modules[name] = None\n"
)


def python_without_the_sim_extra(code: str) -> subprocess.CompletedProcess[str]:
    """Python with fastapi, uvicorn, httptools and starlette unimportable, as in the operator's image."""
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_SIM + code], capture_output=True, text=True, timeout=60, check=False
    )


def test_the_operator_needs_no_simulator_dependencies() -> None:
    done = python_without_the_sim_extra(
        "from vmop.cli import build_parser\nimport vmop.run, vmop.handlers.registry\n"
        "build_parser().parse_args(['run', '--compute-url', 'https://hci.example.com'])"
    )
    assert done.returncode == 0, done.stderr


def test_vmop_sim_without_them_says_what_to_install() -> None:
    done = python_without_the_sim_extra("from vmop.cli import main\nmain(['sim', '--port', '0'])")
    assert done.returncode == 1
    assert "pip install 'vmop[sim]'" in done.stderr, done.stderr
