"""System programs some tests drive (promtool, chromium, node, and others as tests need them), which
`.ci/run` installs (Debian's packages; tests/node's npm modules). In CI (`CI` set, as `.ci/run` does) a missing program fails its
test: the run must not pass without it. On a developer's machine the test is skipped, saying how
to install the program."""

from __future__ import annotations

import os
import shutil

import pytest


def require(program: str, install: str) -> str:
    """The program's path; else fail (in CI) or skip with `install`, the command that gets it."""
    path = shutil.which(program)
    if path is None:
        missing(f"`{program}` is not installed; install it with `{install}` (.ci/run does)")
    return path


def require_path(path: str, what: str, install: str) -> str:
    """A file or directory installed for tests (node modules, …); else fail (in CI) or skip."""
    if not os.path.exists(path):
        missing(f"{what} is not installed ({path}); install it with `{install}` (.ci/run does)")
    return path


def missing(message: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)
