"""The metrics on real footage: the bundled sample video and photo, with dlib (faces) and
MediaPipe (bodies). A few frames each, to keep the default suite fast.

Error bound of the shift test (faces): a copy shifted by whole pixels (dx, dy) would give
``akd = (|dx| + |dy|) / 2`` and ``akd_euclidean = sqrt(dx^2 + dy^2)`` exactly if the
landmarks moved with the image. dlib's landmarks are whole pixels, which an integer
shift keeps, but its shape predictor starts from the detector's box, and the HOG
detector places boxes on its cell grid (8 pixels of the pyramid level that matched:
about 13 pixels of a 256-pixel frame for these faces), so the shifted face's box moves
by a different amount and the regression trees make up for most, not all, of it. On the
sample the mean over 8 frames stays within 0.5 pixel of the exact value (one frame
alone: up to 2 pixels); the tests allow 0.75. MediaPipe's landmarks are sub-pixel but
its landmark network sees a crop placed by its person detector, and at this scale they
move 1 to 2 pixels with a shift: the body test allows 2 pixels (2.5 Euclidean).
"""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tpsmm import cli
from tpsmm.evaluation import METRICS, Evaluator
from tpsmm.faces import FaceAnalyzer
from tpsmm.media import fit_frame, fit_frames, load_image, read_video

ASSETS = Path(__file__).resolve().parents[2] / "src" / "tpsmm" / "assets"
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("dlib") is None, reason="needs the eval extra (dlib-bin)"
)
needs_mediapipe = pytest.mark.skipif(
    importlib.util.find_spec("mediapipe") is None, reason="needs the body extra (mediapipe)"
)
FACE_TOLERANCE = 0.75  # pixels, see the module doc
BODY_TOLERANCE = 2.0
BODY_TOLERANCE_EUCLIDEAN = 2.5


@pytest.fixture(scope="module")
def video() -> np.ndarray:
    """8 frames spread over the sample video (different head poses), 256 x 256."""
    frames = fit_frames(read_video(ASSETS / "driving.mp4"), 256)
    return frames[::21][:8]


@pytest.fixture(scope="module")
def source() -> np.ndarray:
    return fit_frame(load_image(ASSETS / "source.png"), 256)


@pytest.fixture(scope="module")
def faces() -> Evaluator:
    return Evaluator("face", "akd,mkr")


def shifted(frame: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """``frame`` moved right by dx and down by dy pixels, edges repeated."""
    height, width = frame.shape[:2]
    pad = ((max(dy, 0), max(-dy, 0)), (max(dx, 0), max(-dx, 0)), (0, 0))
    padded = np.pad(frame, pad, mode="edge")
    top, left = max(-dy, 0), max(-dx, 0)
    return np.ascontiguousarray(padded[top : top + height, left : left + width])


def write_frames(folder: Path, frames) -> Path:
    folder.mkdir(parents=True)
    for index, frame in enumerate(frames):
        Image.fromarray(frame).save(folder / f"{index:03d}.png")
    return folder


def test_cli_report_itself_zero_shifted_close_every_video(tmp_path, video, capsys):
    """The video against itself gives 0 for every metric; the JSON report holds every
    video and the overall figures (all frames pooled)."""
    frames = video[:3]
    write_frames(tmp_path / "gen" / "same", frames)
    write_frames(tmp_path / "gen" / "moved", [shifted(f, 3, -4) for f in frames])
    for name in ("same", "moved"):
        write_frames(tmp_path / "ref" / name, frames)
    out = tmp_path / "report.json"
    args = ["evaluate", "--generated", tmp_path / "gen", "--reference", tmp_path / "ref"]
    status = cli.main([str(a) for a in [*args, "--out", out, "--no-progress"]])
    printed = capsys.readouterr().out
    assert status == 0
    report = json.loads(out.read_text())
    assert report["kind"] == "face" and report["metrics"] == ["l1", "akd", "mkr", "aed"]
    assert sorted(report["videos"]) == ["moved", "same"]
    same, moved, overall = report["videos"]["same"], report["videos"]["moved"], report["overall"]
    assert {name: same[name] for name in METRICS} == dict.fromkeys(METRICS, 0.0)
    assert same["keypoint_frames"] == same["identity_frames"] == 3
    assert abs(moved["akd"] - 3.5) <= FACE_TOLERANCE
    assert abs(moved["akd_euclidean"] - 5.0) <= FACE_TOLERANCE
    assert moved["mkr"] == 0 and 0 < moved["aed"] < 0.3  # still the same person
    assert overall["frames"] == 6 and overall["videos"] == 2
    assert overall["akd"] == pytest.approx((moved["akd"] + same["akd"]) / 2)
    assert overall["l1"] == pytest.approx(moved["l1"] / 2)
    assert [line.split()[0] for line in printed.splitlines()] == [
        "video", "moved", "same", "-" * len(printed.splitlines()[0]), "overall", "report"
    ]  # fmt: skip


@pytest.mark.parametrize(("dx", "dy"), [(3, -4), (-6, 2)])
def test_shifted_copy_akd(faces, video, dx, dy):
    summary = faces.compare([shifted(f, dx, dy) for f in video], list(video))
    assert summary["keypoint_frames"] == len(video) and summary["mkr"] == 0
    assert abs(summary["akd"] - (abs(dx) + abs(dy)) / 2) <= FACE_TOLERANCE
    assert abs(summary["akd_euclidean"] - math.hypot(dx, dy)) <= FACE_TOLERANCE


def test_a_covered_face_counts_as_missing(video):
    frames = [frame.copy() for frame in video[:3]]
    box = FaceAnalyzer().detect(frames[2])[0]
    grow = 0.25 * box.width
    top, bottom = int(box.top - grow), int(box.bottom + grow)
    left, right = int(box.left - grow), int(box.right + grow)
    frames[2][max(top, 0) : bottom, max(left, 0) : right] = 128
    keypoints = Evaluator("face", "akd,mkr")
    summary = keypoints.compare(frames, list(video[:3]))
    assert summary["generated_missing_frames"] == 1 and summary["reference_missing_frames"] == 0
    assert summary["mkr"] == pytest.approx(1 / 3)  # 68 of 3 x 68 reference landmarks
    assert summary["missing_keypoints"] == 68 and summary["keypoint_frames"] == 2
    assert summary["akd"] == 0
    # and the other way round: no face in the reference leaves the frame out
    summary = keypoints.compare(list(video[:3]), frames)
    assert summary["reference_missing_frames"] == 1 and summary["mkr"] == 0
    assert summary["keypoint_frames"] == 2 and summary["frames"] == 3


def test_the_source_face_has_a_larger_aed_than_the_video(video, source):
    identity = Evaluator("face", "aed")
    against_source = identity.compare([source] * 3, list(video[:3]))
    other_frames = identity.compare(list(video[4:7]), list(video[:3]))  # same person, moved
    itself = identity.compare(list(video[:3]), list(video[:3]))
    assert itself["aed"] == 0
    # dlib's rule of thumb: one person within 0.6, different people beyond
    assert itself["aed"] < other_frames["aed"] < 0.6 < against_source["aed"]
    assert against_source["aed_squared"] == pytest.approx(against_source["aed"] ** 2, rel=0.1)


@needs_mediapipe
def test_body_keypoints_on_the_sample(video):
    bodies = Evaluator("body")
    assert bodies.metrics == ("l1", "akd", "mkr")
    frames = list(video[:4])
    itself = bodies.compare(frames, frames)
    assert itself["reference_missing_frames"] == 0  # head and shoulders are found
    assert itself["reference_keypoints"] >= 4 * 9  # face points and shoulders, visible
    assert (itself["l1"], itself["akd"], itself["akd_euclidean"], itself["mkr"]) == (0, 0, 0, 0)
    assert itself["aed"] is None
    moved = bodies.compare([shifted(f, 3, -4) for f in frames], frames)
    assert abs(moved["akd"] - 3.5) <= BODY_TOLERANCE
    assert abs(moved["akd_euclidean"] - 5.0) <= BODY_TOLERANCE_EUCLIDEAN
    assert bodies.compare([np.full_like(frames[0], 90)], frames[:1])["mkr"] == 1
