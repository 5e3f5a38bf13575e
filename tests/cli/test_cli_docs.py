"""The README and ``--help`` say the same things: commands, output types, the run
folder, options and their defaults, how commands end."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import tpsmm.cli
from tpsmm.media.writer import VIDEO_FORMATS

README = Path(__file__).resolve().parents[2] / "README.md"


def help_text(*command: str) -> str:
    parser = tpsmm.cli.build_parser()
    for action in parser._subparsers._group_actions:  # the sub-command parsers
        if command:
            parser = action.choices[command[0]]
    return " ".join(parser.format_help().split())


@pytest.fixture(scope="module")
def readme() -> str:
    return " ".join(README.read_text().split())


def test_every_command_is_in_the_readme(readme):
    commands = [name.replace("_", "-") for name in tpsmm.cli.SUBCOMMAND_MODULES]
    for command in commands:
        assert f"tpsmm {command}" in readme, command
        assert command in help_text()


def test_output_types(readme):
    animate, demo = help_text("animate"), help_text("demo")
    for suffix in [*VIDEO_FORMATS, ".gif"]:
        assert f"`{suffix}`" in readme, suffix
        assert suffix in animate and suffix in demo, suffix
    for text in (readme, animate):
        assert "PNG frames 000000.png" in text.replace("`", "").replace(" (", " ")
        assert (
            "each frame at its driving frame's time" in text
            or "keeps its driving frame's timestamp" in text
        )


def test_run_folder_contents(readme):
    train = help_text("train")
    for entry in ("checkpoint.pth.tar", "config.yaml", "log.csv", "vis/epoch_NNNN.png",
                  "checkpoints/NNNNNNNN.pth.tar"):  # fmt: skip
        assert entry in readme, entry
        assert entry in train, entry
    assert "exactly where it stopped" not in readme and "exactly where it stopped" not in train
    assert "from its last checkpoint" in readme and "from its last checkpoint" in train


def test_options_and_defaults(readme):
    animate = help_text("animate")
    for option in ("--mode", "--config", "--fit", "--side-by-side", "--find-best-frame",
                   "--batch-size", "--device", "--dtype", "--pairs", "--out-dir", "--fps",
                   "--resolution"):  # fmt: skip
        assert option in readme, option
        assert option in animate, option
    assert re.search(r"--fps RATE .*\(default 25\)", animate)
    assert "`--fps` (default 25" in readme
    assert "transparent parts are put on white" in animate and "composited over white" in readme
    assert "at most the CPU cores" in help_text("train") and "capped to the CPU cores" in readme


def test_how_commands_end(readme):
    animate = help_text("animate")
    for text in (readme, animate):
        assert "130" in text and "143" in text
        assert "SIGTERM" in text
    assert "exit status 2" in readme
