"""Every example in README.md works when pasted as a block.

Each ```sh block runs in bash (``-e -o pipefail``) and each ```python block in this interpreter,
in a temp directory with its own cache and config directories (so the sandbox starts empty),
against the sandbox on loopback only: every proxy variable points at a closed loopback port,
so a request for any other host fails at once instead of leaving the machine.

The rules, stated here and in the README:

- A block whose first line starts with ``# With a Klaviyo account`` or ``# With a Klaviyo app``
  needs a real one; it is not run.
- ``python3 -m venv .venv && . .venv/bin/activate && pip install -e ...`` is how the environment
  this test runs in was made; the test runs the rest of that line in it.
- A block that runs this test suite (``python -m pytest``) is not run inside it: its commands must
  be the ones CI runs (``.ci/run``).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
NEEDS_KLAVIYO = ("# With a Klaviyo account", "# With a Klaviyo app")
SETUP = re.compile(
    r'^python3 -m venv \.venv && \. \.venv/bin/activate && pip install -e (?:\.|"\.\[\w+\]") && '
)
BLOCK = re.compile(r"^```(sh|python)\n(.*?)^```", re.M | re.S)
BIN = Path(sys.executable).parent  # the environment's scripts: klaviyo-connector, ruff


def blocks() -> list[tuple[str, str, int]]:
    """(language, code, line number) of every sh and python block in the README."""
    text = README.read_text(encoding="utf-8")
    return [(m[1], m[2], text.count("\n", 0, m.start()) + 1) for m in BLOCK.finditer(text)]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def place(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A working directory and an environment for one block: loopback only, fresh state."""
    work = tmp_path / "work"
    work.mkdir()
    nowhere = f"http://127.0.0.1:{closed_port()}"
    env = {
        "PATH": os.pathsep.join([str(BIN), "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": str(tmp_path / "home"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "LANG": "C.UTF-8",
        "PYTHONIOENCODING": "utf-8",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        env[name] = nowhere
    return work, env


EXAMPLES = blocks()


def test_the_readme_has_examples_of_both_kinds():
    kinds = [lang for lang, _, _ in EXAMPLES]
    assert kinds.count("sh") >= 5 and kinds.count("python") >= 2


@pytest.mark.parametrize(("lang", "code", "line"), EXAMPLES, ids=[f"{k}-line{n}" for k, _, n in EXAMPLES])
def test_readme_example_works_when_pasted(lang: str, code: str, line: int, place) -> None:
    work, env = place
    if code.lstrip().startswith(NEEDS_KLAVIYO):
        pytest.skip("needs a real Klaviyo account (its first line says so)")
    if lang == "python":
        proc = subprocess.run(
            [sys.executable, "-c", code], cwd=work, env=env, capture_output=True, text=True, timeout=60
        )
    else:
        script = SETUP.sub("", code)
        if "python -m pytest" in script:
            ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
            for command in script.strip().split(" && "):
                assert any(command in ci_line for ci_line in ci), f"{command!r} is not what .ci/run runs"
            return
        proc = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", script],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 0, (
        f"README line {line}:\n{code}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    )
    assert "Traceback" not in proc.stderr and '"error"' not in proc.stderr, proc.stderr
    if lang == "sh":  # every command example shows its output
        assert proc.stdout.strip(), f"README line {line} printed nothing"


@pytest.mark.skipif(shutil.which("ruff", path=str(BIN)) is None, reason="ruff is not installed here")
def test_readme_python_is_formatted_as_ruff_formats_it(tmp_path: Path) -> None:
    for n, (lang, code, _) in enumerate(EXAMPLES):
        if lang == "python":
            (tmp_path / f"block_{n}.py").write_text(code, encoding="utf-8")
    ruff = shutil.which("ruff", path=str(BIN))
    proc = subprocess.run(
        [str(ruff), "format", "--check", "--config", str(ROOT / "pyproject.toml"), str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
