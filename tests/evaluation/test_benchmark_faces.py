"""`tpsmm benchmark-faces` end to end, on clips of the bundled driving video and the
bundled photo, with the tiny seeded model (frames of 64 x 64, analysed at 128 x 128)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from itertools import islice

import numpy as np
import pytest
import torch
from PIL import Image

import tpsmm
from footage import SAMPLE_DRIVING, SAMPLE_SOURCE
from tiny_model import TINY_FRAME_SIZE, tiny_model
from tpsmm import geometry
from tpsmm.cli import main
from tpsmm.evaluation import face_benchmark
from tpsmm.evaluation.compare import Evaluator
from tpsmm.evaluation.face_benchmark import Settings, analyse_driver
from tpsmm.evaluation.face_extractor import CropFaceKeypoints
from tpsmm.evaluation.face_inputs import read_driving
from tpsmm.evaluation.face_report import benchmark_faces
from tpsmm.evaluation.face_signals import SIGNALS
from tpsmm.evaluation.folding import jacobian_determinant
from tpsmm.media import VideoReader, load_image

pytest.importorskip("dlib")

ANALYSIS = 128
FRAMES = 14
#: The clips: (name, first frame of the bundled video).
CLIPS = (("talk-a", 0), ("talk-b", 80))


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """Two folders of 14 frames cut from the bundled video (410 x 412: not square)."""
    root = tmp_path_factory.mktemp("faces") / "videos"
    with VideoReader(SAMPLE_DRIVING) as reader:
        frames = list(islice(reader, 0, 100))
    for name, start in CLIPS:
        folder = root / name
        folder.mkdir(parents=True)
        for index, frame in enumerate(frames[start : start + FRAMES]):
            Image.fromarray(frame).save(folder / f"{index:06d}.png")
    return root


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """The bundled photo (shrunk) and an image without a face."""
    root = tmp_path_factory.mktemp("faces") / "sources"
    root.mkdir()
    Image.fromarray(load_image(SAMPLE_SOURCE)).resize((340, 340)).save(root / "photo.jpg")
    ramp = np.broadcast_to(np.linspace(0, 255, 200, dtype=np.uint8)[:, None, None], (200, 150, 3))
    Image.fromarray(np.ascontiguousarray(ramp)).save(root / "blank.png")
    return root


@pytest.fixture(scope="module")
def evaluator():
    return Evaluator("face", extractor=CropFaceKeypoints(ANALYSIS))


def settings(**changes) -> Settings:
    return Settings(analysis_size=ANALYSIS, batch_size=4, identity_frames=2, **changes)


def _identity_run(animator, driver, background, batch_size):
    """A perfect animator: the driving frames themselves, deformed by nothing."""
    frames = driver.video.frames.astype(np.float32) / 255
    grids = geometry.coordinate_grid(9, 9, dtype=torch.float64).expand(len(frames), -1, -1, -1)
    return frames, [jacobian_determinant(grids)]


def test_a_perfect_animator_reaches_the_ceiling(videos, sources, evaluator, monkeypatch):
    monkeypatch.setattr(face_benchmark, "_run", _identity_run)
    model = tiny_model()
    notes = []
    report, grid = benchmark_faces(
        model, videos, sources, settings(), evaluator=evaluator, note=notes.append
    )
    assert len(notes) == 1 and "blank.png: no face found; source skipped" in notes[0]
    assert report["notes"] == notes
    cross = report["cross_identity"]
    assert [(p["source"], p["video"]) for p in cross["pairs"]] == [
        ("photo", "talk-a"),
        ("photo", "talk-b"),
    ]
    for pair in cross["pairs"]:
        ceiling = report["ceiling"]["videos"][pair["video"]]["r_all"]
        assert pair["r"] == ceiling
        assert pair["frames"] == FRAMES and pair["face_found"] == 1.0
        assert pair["folding"]["mean"] == 0.0 and pair["folding"]["frames"] == FRAMES
        assert pair["identity_frames"] == 2 and pair["identity_distance"] > 0.3
    reconstruction = report["reconstruction"]["overall"]
    assert reconstruction["l1"] == 0.0 and reconstruction["l1_ratio"] == 0.0
    assert reconstruction["face_found"] == 1.0
    assert grid.size == (7 * TINY_FRAME_SIZE, 4 * (14 + 2 * TINY_FRAME_SIZE))  # 2 pairs, 2 videos


def test_the_results_are_tpsmm_animate_s(videos, evaluator):
    """Relative mode, reference = the first driving frame: frame for frame what
    ``tpsmm.animate`` gives with the same batches."""
    model = tiny_model(bg=True)
    video = read_driving(videos / "talk-b", TINY_FRAME_SIZE, ANALYSIS)
    driver = analyse_driver(model, video, evaluator, settings())
    source = load_image(SAMPLE_SOURCE)[::10, ::10][:TINY_FRAME_SIZE, :TINY_FRAME_SIZE]
    source = np.ascontiguousarray(source)
    animator = tpsmm.Animator(model, source, "relative")
    frames, determinants = face_benchmark._run(animator, driver, False, 4)
    expected = tpsmm.animate(model, source, video.frames, "relative", batch_size=4)
    np.testing.assert_array_equal(frames, expected)
    assert sum(len(batch) for batch in determinants) == FRAMES


def test_the_report_s_averages(videos, evaluator):
    """Without sources each first frame drives by the other video; a face-free result
    (the tiny model's noise) gives no r and counts as not found."""
    model = tiny_model(bg=True)
    report, grid = benchmark_faces(model, videos, None, settings(), evaluator=evaluator)
    cross = report["cross_identity"]
    assert [(p["source"], p["video"]) for p in cross["pairs"]] == [
        ("talk-a", "talk-b"),
        ("talk-b", "talk-a"),
    ]
    overall = cross["overall"]
    assert overall["face_found"] == np.mean([p["face_found"] for p in cross["pairs"]])
    for pair in cross["pairs"]:
        if pair["face_found"] == 0:
            assert all(value is None for value in pair["r"].values())
            assert pair["identity_distance"] is None
    reconstruction = report["reconstruction"]
    assert set(reconstruction["videos"]) == {"talk-a", "talk-b"}
    for name in SIGNALS:
        assert report["ceiling"]["videos"]["talk-a"]["r"][name] is not None
    assert report["reconstruction"]["overall"]["frames"] == 2 * FRAMES
    assert grid is not None


def test_the_command(videos, sources, tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "eval" / "faces.json"
    status = main(
        ["benchmark-faces", "--checkpoint", str(tiny_checkpoint), "--videos", str(videos),
         "--sources", str(sources), "--out", str(out), "--max-frames", "6", "--frame-step", "2",
         "--identity-frames", "1", "--analysis-size", str(ANALYSIS), "--dtype", "float32",
         "--grid-pairs", "2"]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert "blank.png: no face found; source skipped" in captured.err
    report = json.loads(out.read_text())
    assert report["checkpoint"] == str(tiny_checkpoint)
    assert report["settings"]["frame_step"] == 2 and report["settings"]["max_frames"] == 6
    assert report["settings"]["precision"] == "float32 on cpu"
    assert [pair["frames"] for pair in report["cross_identity"]["pairs"]] == [6, 6]
    assert Image.open(out.with_suffix(".png")).size[0] == 7 * TINY_FRAME_SIZE
    for heading in ("reconstruction", "cross-identity", "ceiling", "talk-a", "source photo"):
        assert heading in captured.out
    assert sorted(path.name for path in out.parent.iterdir()) == ["faces.json", "faces.png"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"--videos": "missing"}, "missing: --videos needs a folder of videos"),
        ({"--out": "grid.png"}, "--out names the JSON report"),
        ({"--sources": "empty"}, "empty: no images in it"),
    ],
)
def test_mistakes_are_one_line(videos, tiny_checkpoint, tmp_path, capsys, change, message):
    (tmp_path / "empty").mkdir()
    options = {"--videos": str(videos), "--out": str(tmp_path / "r.json")}
    options |= {key: str(tmp_path / value) for key, value in change.items()}
    arguments = [item for pair in options.items() for item in pair]
    status = main(["benchmark-faces", "--checkpoint", str(tiny_checkpoint), *arguments])
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "r.json").exists()


def test_a_signal_leaves_nothing_behind(videos, sources, tiny_checkpoint, tmp_path):
    out = tmp_path / "faces.json"
    command = [sys.executable, "-c", "import sys, tpsmm.cli as c; sys.exit(c.main())",
               "benchmark-faces", "--checkpoint", str(tiny_checkpoint), "--videos", str(videos),
               "--sources", str(sources), "--out", str(out), "--analysis-size", str(ANALYSIS)]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    line = process.stderr.readline()  # the note on blank.png: the run has begun
    assert "note:" in line, line + process.stderr.read()
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=600)
    assert process.returncode == 143, err
    assert err == "tpsmm benchmark-faces: terminated (SIGTERM)\n"
    assert list(tmp_path.iterdir()) == []
