"""``tpsmm serve`` options: help, one-line errors before anything starts, the missing
web extra."""

from __future__ import annotations

import sys

import pytest

import tpsmm.cli


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    status = tpsmm.cli.main(["serve", *args])
    return status, capsys.readouterr().err


def test_help_documents_the_options_and_defaults(capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit):
        tpsmm.cli.main(["serve", "--help"])
    text = capsys.readouterr().out
    for expected in (
        "--host", "127.0.0.1", "--port", "7860", "--checkpoint", "[NAME=]FILE",
        "--max-upload-mb", "default 50", "--max-frames", "default 1000",
        "--max-image-pixels", "40,000,000", "One animation runs at a time",
        "--live-sessions", "--live-idle", "0: no Live tab",
    ):  # fmt: skip
        assert expected in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--max-upload-mb", "0"], "--max-upload-mb must be positive"),
        (["--max-frames", "0"], "--max-frames must be a positive whole number"),
        (["--max-image-pixels", "-5"], "--max-image-pixels must be a positive whole number"),
        (["--port", "70000"], "--port must be 1..65535"),
        (["--device", "tpu"], "unknown device 'tpu'"),
        (["--live-sessions", "-1"], "--live-sessions must be 0 or more"),
        (["--live-idle", "0"], "--live-idle must be positive"),
    ],
)
def test_bad_options_end_in_one_line(capsys: pytest.CaptureFixture[str], args, message):
    status, err = run(capsys, *args)
    assert status == 2
    assert err.strip().splitlines() == [f"tpsmm serve: error: {err.split('error: ', 1)[1].strip()}"]
    assert message in err


def test_missing_web_extra_says_how_to_install(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setitem(sys.modules, "gradio", None)
    status, err = run(capsys)
    assert status == 2
    assert err == "tpsmm serve: error: tpsmm serve needs the web extra: pip install 'tpsmm[web]'\n"


def test_unreadable_checkpoint_ends_in_one_line(capsys: pytest.CaptureFixture[str], tmp_path):
    pytest.importorskip("gradio", reason="the web extra (gradio) is not installed")
    status, err = run(capsys, "--checkpoint", str(tmp_path / "missing.pth.tar"))
    assert status == 2
    assert len(err.strip().splitlines()) == 1
    assert "missing.pth.tar" in err
