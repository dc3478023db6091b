"""The README stays true to the code: every setting documented, the example namespace shown."""

from __future__ import annotations

import subprocess
import sys

import pytest

from helpers.server import REPO_ROOT
from playwire.config import env_name, settings

README = (REPO_ROOT / "README.md").read_text()


@pytest.mark.parametrize("name", [name for name, _, _ in settings()])
def test_every_setting_is_in_the_readme_table(name):
    flag = "--" + name.replace("_", "-")
    assert f"| `{flag}` | `{env_name(name)}` |" in README


def test_cli_help_lists_every_setting():
    result = subprocess.run(
        [sys.executable, "-m", "playwire", "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    for name, _, _ in settings():
        assert "--" + name.replace("_", "-") in result.stdout


def test_readme_shows_the_real_example_namespace():
    source = (REPO_ROOT / "src/playwire/socketio/ping.py").read_text()
    method = source[source.index("class PingNamespace") :].strip()
    assert method in README
