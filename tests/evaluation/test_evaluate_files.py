"""tpsmm evaluate from files: matching, still images, unequal lengths, resizing, the JSON
report and the command line, with a fake keypoint extractor (fast; no dlib)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tpsmm import cli
from tpsmm.errors import TPSMMError
from tpsmm.evaluation import METRICS, Evaluator, FramePoints, evaluate, format_table
from tpsmm.evaluation.keypoints import BODY_EXTRA_MISSING
from tpsmm.faces import extra_missing
from tpsmm.media import VideoWriter

SIZE = 48


class SquareKeypoints:
    """One keypoint: the centroid of the bright pixels; embedding: the mean colour."""

    kind = "face"
    num_keypoints = 1
    has_identity = True
    description = "bright-square centroid (test)"

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, frame: np.ndarray, *, embedding: bool = False) -> FramePoints:
        self.calls += 1
        ys, xs = np.nonzero(frame.min(axis=2) > 200)
        if xs.size == 0:
            return FramePoints.nothing(1)
        point = np.array([[xs.mean(), ys.mean()]])
        vector = frame.reshape(-1, 3).mean(axis=0) / 255 if embedding else None
        return FramePoints(point, np.ones(1, bool), vector)


def square_frame(t: int, size: int = SIZE, scale: int = 1) -> np.ndarray:
    frame = np.full((size * scale, size * scale, 3), 40, np.uint8)
    top, left = (8 + t) * scale, (10 + 2 * t) * scale
    frame[top : top + 8 * scale, left : left + 8 * scale] = 250
    return frame


def write_frames(folder: Path, frames) -> Path:
    folder.mkdir(parents=True)
    for index, frame in enumerate(frames):
        Image.fromarray(frame).save(folder / f"{index:03d}.png")
    return folder


@pytest.fixture
def fake() -> Evaluator:
    return Evaluator("face", extractor=SquareKeypoints())


def test_folders_of_videos_are_matched_by_name(tmp_path, fake):
    for side, offset in (("gen", 1), ("ref", 0)):
        write_frames(tmp_path / side / "a", [square_frame(t + offset) for t in range(4)])
        write_frames(tmp_path / side / "b", [square_frame(t) for t in range(3)])
    write_frames(tmp_path / "ref" / "c", [square_frame(0)])  # no generated video
    report = evaluate(tmp_path / "gen", tmp_path / "ref", evaluator=fake, out=tmp_path / "r.json")
    assert list(report["videos"]) == ["a", "b"] and report["unmatched_reference"] == ["c"]
    a, b, overall = report["videos"]["a"], report["videos"]["b"], report["overall"]
    # a: the square moved by (2, 1) pixels in every frame; b: identical
    assert a["akd"] == pytest.approx(1.5) and a["akd_euclidean"] == pytest.approx(5**0.5)
    assert b["akd"] == 0 and b["l1"] == 0 and b["aed"] == 0
    assert overall["frames"] == 7 and overall["videos"] == 2
    assert overall["akd"] == pytest.approx(1.5 * 4 / 7)  # every frame weighs the same
    assert (a["generated_frames"], a["reference_frames"]) == (4, 4)
    on_disk = json.loads((tmp_path / "r.json").read_text())
    assert on_disk == json.loads(json.dumps(report))
    for entry in (*on_disk["videos"].values(), on_disk["overall"]):
        assert set(METRICS) <= set(entry)


def test_missing_reference_and_shape_errors(tmp_path, fake):
    write_frames(tmp_path / "gen" / "a", [square_frame(0)])
    write_frames(tmp_path / "gen" / "z", [square_frame(0)])
    write_frames(tmp_path / "ref" / "a", [square_frame(0)])
    with pytest.raises(TPSMMError, match="no reference video for 1 generated: z"):
        evaluate(tmp_path / "gen", tmp_path / "ref", evaluator=fake)
    with pytest.raises(TPSMMError, match="is one video but"):
        evaluate(tmp_path / "gen" / "a", tmp_path / "ref", evaluator=fake)
    (tmp_path / "empty").mkdir()
    with pytest.raises(TPSMMError, match="holds no frames and no videos"):
        evaluate(tmp_path / "empty", tmp_path / "ref", evaluator=fake)
    with pytest.raises(TPSMMError, match="no such file"):
        evaluate(tmp_path / "nothing", tmp_path / "ref", evaluator=fake)


def test_duplicate_names_are_refused(tmp_path, fake):
    write_frames(tmp_path / "gen" / "a", [square_frame(0)])
    with VideoWriter(tmp_path / "gen" / "a.gif", fps=10) as writer:
        writer.write(square_frame(0))
    with pytest.raises(TPSMMError, match="two videos are named 'a'"):
        evaluate(tmp_path / "gen", tmp_path / "gen", evaluator=fake)


def test_a_still_image_against_a_video_is_analysed_once(tmp_path):
    still = tmp_path / "still.png"
    Image.fromarray(square_frame(0)).save(still)
    video = write_frames(tmp_path / "video", [square_frame(t) for t in range(5)])
    extractor = SquareKeypoints()
    report = evaluate(still, video, evaluator=Evaluator("face", extractor=extractor))
    entry = report["videos"]["still"]
    assert entry["frames"] == 5 and entry["generated_frames"] == 1
    assert extractor.calls == 1 + 5  # the still once, each reference frame once
    assert entry["akd"] == pytest.approx(np.mean([abs(2 * t) + abs(t) for t in range(5)]) / 2)


def test_unequal_lengths_compare_the_shorter_and_keep_both_counts(tmp_path, fake):
    gen = write_frames(tmp_path / "gen", [square_frame(t) for t in range(7)])
    ref = write_frames(tmp_path / "ref", [square_frame(t) for t in range(20)])
    entry = evaluate(gen, ref, evaluator=fake)["videos"]["gen"]
    assert (entry["frames"], entry["generated_frames"], entry["reference_frames"]) == (7, 7, 20)
    entry = evaluate(ref, gen, evaluator=fake)["videos"]["ref"]
    assert (entry["frames"], entry["generated_frames"], entry["reference_frames"]) == (7, 20, 7)
    entry = evaluate(ref, gen, evaluator=fake, max_frames=3)["videos"]["ref"]
    assert entry["frames"] == 3 and entry["generated_frames"] is None


def test_generated_frames_are_resized_to_the_reference(tmp_path, fake):
    gen = write_frames(tmp_path / "gen", [square_frame(t, scale=2) for t in range(3)])
    ref = write_frames(tmp_path / "ref", [square_frame(t) for t in range(3)])
    entry = evaluate(gen, ref, evaluator=fake)["videos"]["gen"]
    assert entry["resized_from"] == [2 * SIZE, 2 * SIZE]
    assert entry["akd"] < 0.3  # keypoints in pixels of the reference frame
    assert entry["l1"] < 0.02


def test_only_the_chosen_metrics(tmp_path):
    video = write_frames(tmp_path / "v", [square_frame(t) for t in range(2)])
    extractor = SquareKeypoints()
    report = evaluate(video, video, evaluator=Evaluator("face", "l1", extractor=extractor))
    entry = report["overall"]
    assert entry["l1"] == 0 and entry["akd"] is None and entry["aed"] is None
    assert extractor.calls == 0 and report["metrics"] == ["l1"]
    table = format_table(report)
    titles = ["video", "frames", "L1", "AKD", "AKD", "eucl", "MKR", "AED", "AED", "sq"]
    assert table.splitlines()[0].split() == titles
    assert "-" in table.splitlines()[1].split()


def run(*args, capsys) -> tuple[int, str, str]:
    status = cli.main([str(a) for a in args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_cli_l1_only_writes_the_report(tmp_path, capsys):
    video = write_frames(tmp_path / "v", [square_frame(t) for t in range(3)])
    out = tmp_path / "deep" / "report.json"
    status, stdout, _ = run(
        "evaluate", "--generated", video, "--reference", video, "--metrics", "l1", "--out", out,
        capsys=capsys,
    )  # fmt: skip
    assert status == 0
    assert stdout.splitlines()[1].split()[:3] == ["v", "3", "0.0000"]
    assert json.loads(out.read_text())["overall"]["l1"] == 0


def test_cli_says_which_extra_is_missing(tmp_path, capsys, monkeypatch):
    video = write_frames(tmp_path / "v", [square_frame(0)])
    monkeypatch.setitem(sys.modules, "dlib", None)
    monkeypatch.setitem(sys.modules, "mediapipe", None)
    status, _, err = run("evaluate", "--generated", video, "--reference", video, capsys=capsys)
    assert (status, err.strip()) == (
        2,
        f"tpsmm evaluate: error: {extra_missing('the face metrics')}",
    )
    status, _, err = run(
        "evaluate", "--generated", video, "--reference", video, "--kind", "body", capsys=capsys
    )
    assert (status, err.strip()) == (2, f"tpsmm evaluate: error: {BODY_EXTRA_MISSING}")
    status, _, err = run(
        "evaluate", "--generated", video, "--reference", video, "--kind", "body",
        "--metrics", "aed", capsys=capsys,
    )  # fmt: skip
    assert status == 2 and "faces only" in err
