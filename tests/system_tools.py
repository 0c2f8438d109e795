"""System programs some tests drive (promtool, and others as tests need them), which `.ci/run`
installs from Debian's packages. In CI (`CI` set, as `.ci/run` does) a missing program fails its
test: the run must not pass without it. On a developer's machine the test is skipped, saying how
to install the program."""

from __future__ import annotations

import os
import shutil

import pytest


def require(program: str, install: str) -> str:
    """The program's path; else fail (in CI) or skip with `install`, the command that gets it."""
    path = shutil.which(program)
    if path is not None:
        return path
    message = f"`{program}` is not installed; install it with `{install}` (.ci/run does)"
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)
