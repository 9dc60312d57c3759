"""Every command the README's "Using it" section shows exists, with the options it shows."""

from __future__ import annotations

import re
import shlex

from tests.conftest import REPO
from tests.unit.cli.cli_support import Zc


def _readme_commands() -> list[list[str]]:
    text = (REPO / "README.md").read_text()
    section = text[text.index("## Using it") : text.index("## Architecture")]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    commands = []
    for block in blocks:
        for line in block.replace("\\\n", " ").splitlines():
            for part in line.split("#", 1)[0].split(";"):
                words = shlex.split(part.split(">", 1)[0])
                if words[:1] == ["$zc"]:
                    commands.append(words[1:])
    return commands


def test_every_readme_command_parses(zc: Zc) -> None:
    """Each command, with ``--help`` added: click resolves the command path and rejects
    unknown options before the eager ``--help`` prints the usage (values are not checked:
    the README's files do not exist here)."""
    commands = _readme_commands()
    assert len(commands) >= 30
    shown = set()
    for argv in commands:
        result = zc.raw([*argv, "--help"])
        assert result.code == 0, (argv, result)
        usage = result.out.splitlines()[0]
        assert usage.startswith("Usage: zcompute "), (argv, usage)
        shown.add(usage.split()[2])
    for needed in ("testimage", "image", "boot", "console-log", "console", "delete", "demo"):
        assert needed in shown
