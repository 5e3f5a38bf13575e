"""``tpsmm prepare-videos`` on a folder of clips made here from the bundled video and
photo: the layout, the report, ``tpsmm dataset check``, and one training step."""

from __future__ import annotations

import csv
import importlib.util
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import yaml
from PIL import Image

import tpsmm
import tpsmm.cli
from footage import SAMPLE_DRIVING, SAMPLE_SOURCE
from tpsmm.data.check import check_dataset
from tpsmm.data.prepare import PrepareOptions, plan_box_clips, plan_face_clips, prepare_videos
from tpsmm.errors import TPSMMError
from tpsmm.media import load_image, read_video

needs_dlib = pytest.mark.skipif(
    importlib.util.find_spec("dlib") is None, reason="needs the eval extra (dlib-bin)"
)


def write_clip(path: Path, frames) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25, time_base=Fraction(1, 25))
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt, stream.options = "yuv420p", {"preset": "ultrafast", "crf": "14"}
        for index, frame in enumerate(frames):
            video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
            video_frame.pts, video_frame.time_base = index, Fraction(1, 25)
            container.mux(stream.encode(video_frame))
        container.mux(stream.encode(None))
    return path


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> Path:
    """talk.mp4 (20 frames), people/cut.mp4 (16 frames of the video, then 16 of the photo:
    a shot change), wall.mp4 (no face), short.mp4 (6 frames)."""
    folder = tmp_path_factory.mktemp("raw")
    (folder / "people").mkdir()
    video = read_video(SAMPLE_DRIVING, max_frames=20)
    photo = np.asarray(Image.fromarray(load_image(SAMPLE_SOURCE)).resize((410, 412)))
    write_clip(folder / "talk.mp4", list(video))
    write_clip(folder / "people" / "cut.mp4", list(video[:16]) + [photo] * 16)
    write_clip(folder / "wall.mp4", [np.full((120, 160, 3), 100, np.uint8)] * 12)
    write_clip(folder / "short.mp4", list(video[:6]))
    (folder / "notes.txt").write_text("not a video")
    return folder


@pytest.fixture(scope="module")
def prepared(raw, tmp_path_factory):
    out = tmp_path_factory.mktemp("dataset") / "faces"
    report = prepare_videos(raw, out, PrepareOptions(size=64, min_frames=10), jobs=2)
    return out, report


@needs_dlib
def test_layout_and_report(raw, prepared):
    out, report = prepared
    clips = sorted(p.relative_to(out).as_posix() for p in out.glob("*/*.mp4"))
    names = sorted(Path(c).name for c in clips)
    assert names == ["people_cut#000000.mp4", "people_cut#000016.mp4", "talk#000000.mp4"]
    # the two clips of one raw video share its split; both splits are used
    splits = {Path(c).name: Path(c).parent.name for c in clips}
    assert splits["people_cut#000000.mp4"] == splits["people_cut#000016.mp4"]
    assert set(splits.values()) == {"train", "test"}
    skipped = {Path(e.video).name: e.reason for e in report.skipped}
    assert skipped == {
        "wall.mp4": "no face found",
        "short.mp4": "clip of 6 frames, shorter than --min-frames 10",
    }
    text = report.format()
    assert "wrote 3 clips (52 frames" in text and "skipped 2" in text
    with (out / "prepare-report.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(row["status"] for row in rows) == ["skipped"] * 2 + ["written"] * 3
    for clip in out.glob("*/*.mp4"):
        frames = read_video(clip)
        assert frames.shape[1:] == (64, 64, 3)
        assert len(frames) in (16, 20)


@needs_dlib
def test_result_passes_dataset_check_and_trains(prepared, tmp_path):
    out, _ = prepared
    report = check_dataset(out)
    assert report.ok, report.format()
    config = tpsmm.load_config("vox-256").replace(**{
        "model_params.common_params.num_tps": 2,
        "model_params.generator_params.block_expansion": 8,
        "model_params.generator_params.max_features": 32,
        "model_params.dense_motion_params.block_expansion": 8,
        "model_params.dense_motion_params.max_features": 32,
        "model_params.dense_motion_params.num_blocks": 3,
        "dataset_params.frame_shape": [64, 64],
        "train_params.num_repeats": 4,
        "train_params.dataloader_workers": 0,
        "train_params.scales": [1, 0.5],
    })  # fmt: skip
    config_path = tmp_path / "tiny-64.yaml"
    config_path.write_text(yaml.safe_dump(config.to_dict()))
    status = tpsmm.cli.main(
        ["train", "--config", str(config_path), "--data", str(out), "--out", str(tmp_path / "run"),
         "--max-steps", "1", "--batch-size", "2", "--no-pretrained-vgg", "--device", "cpu",
         "--no-progress"]
    )  # fmt: skip
    assert status == 0
    assert (tmp_path / "run" / "checkpoint.pth.tar").is_file()


@needs_dlib
def test_rerun_keeps_what_exists(raw, prepared):
    out, _ = prepared
    again = prepare_videos(raw, out, PrepareOptions(size=64, min_frames=10), jobs=1)
    assert not again.written
    assert sorted(e.reason for e in again.skipped).count("exists") == 3


def test_box_kind_cuts_at_shot_changes(raw, tmp_path):
    out = tmp_path / "box"
    options = PrepareOptions(kind="box", box=(100, 80, 200, 200), size=32, min_frames=10)
    report = prepare_videos(raw / "people", out, options, jobs=1)
    assert sorted(e.clip for e in report.written) == ["cut#000000.mp4", "cut#000016.mp4"]
    assert report.written[0].box == "100.0,80.0,200.0,200.0"


def test_planning():
    poses = np.array([[50, 50, 5]] * 10 + [[np.nan] * 3] * 3 + [[52, 50, 5]] * 10, float)
    plans = plan_face_clips(poses, np.zeros(23, int), (200, 200), max_gap=2)
    assert [(p.start, p.end) for p, *_ in plans] == [(0, 10), (13, 23)]
    plans = plan_face_clips(poses, np.zeros(23, int), (200, 200), max_gap=5)
    assert [(p.start, p.end) for p, *_ in plans] == [(0, 23)]
    nothing = plan_face_clips(np.full((4, 3), np.nan), np.zeros(4, int), (9, 9), 2)
    assert nothing == [(None, 0, 4, "no face found")]
    boxes = plan_box_clips([5], 9, (1, 2, 3, 4))
    assert [(p.start, p.end, p.box) for p, *_ in boxes] == [
        (0, 5, (1, 2, 4, 6)),
        (5, 9, (1, 2, 4, 6)),
    ]


def test_bad_options(raw, tmp_path):
    with pytest.raises(TPSMMError, match="needs --box"):
        prepare_videos(raw, tmp_path / "x", PrepareOptions(kind="box"))
    with pytest.raises(TPSMMError, match="no video files"):
        prepare_videos(tmp_path, tmp_path / "y", PrepareOptions())
    with pytest.raises(SystemExit):
        tpsmm.cli.main(["prepare-videos", str(raw), str(tmp_path / "z"), "--box", "1,2"])


def test_named_test_videos(raw, tmp_path):
    """--test-videos puts the named raw videos in test/ and every other in train/; an
    unknown name is refused before any work."""
    out = tmp_path / "named"
    options = PrepareOptions(
        kind="box", box=(100, 80, 200, 200), size=32, min_frames=10, test_videos=("talk",)
    )
    report = prepare_videos(raw, out, options, jobs=1)
    splits = {entry.clip: entry.split for entry in report.written}
    assert splits["talk#000000.mp4"] == "test"
    assert {split for clip, split in splits.items() if not clip.startswith("talk")} == {"train"}
    with pytest.raises(TPSMMError, match="names no video here: nobody"):
        prepare_videos(raw, tmp_path / "bad", PrepareOptions(test_videos=("talk", "nobody")))
    assert (
        tpsmm.cli.main(
            [
                "prepare-videos",
                str(raw / "people"),
                str(tmp_path / "cli"),
                "--kind",
                "box",
                "--box",
                "100,80,200,200",
                "--size",
                "32",
                "--min-frames",
                "10",
                "--test-videos",
                "cut",
                "--jobs",
                "1",
            ]
        )
        == 0
    )
    assert sorted(p.name for p in (tmp_path / "cli" / "test").iterdir()) == [
        "cut#000000.mp4",
        "cut#000016.mp4",
    ]


@needs_dlib
def test_stills_become_one_frame_clips(tmp_path):
    """--stills: a portrait becomes a clip of one frame cut around its face (kept although
    it is shorter than --min-frames); an image without a face is skipped with the reason;
    without --stills images are not looked at."""
    raw = tmp_path / "raw"
    raw.mkdir()
    Image.fromarray(load_image(SAMPLE_SOURCE)).save(raw / "portrait.jpg")
    Image.fromarray(np.full((90, 120, 3), 120, np.uint8)).save(raw / "wall.png")
    out = tmp_path / "out"
    options = PrepareOptions(size=48, min_frames=10, format="png", stills=True, test_fraction=0)
    report = prepare_videos(raw, out, options, jobs=1)
    assert [(e.clip, e.start, e.end) for e in report.written] == [("portrait#000000", 0, 1)]
    assert [e.reason for e in report.skipped] == ["no face found"]
    frames = sorted((out / "train" / "portrait#000000").iterdir())
    assert len(frames) == 1 and load_image(frames[0]).shape == (48, 48, 3)
    with pytest.raises(TPSMMError, match="no video files"):
        prepare_videos(raw, tmp_path / "none", PrepareOptions(size=48))


def test_one_raw_video_leaves_test_empty_and_says_so(raw, tmp_path):
    """One raw video: its clips all go to train/; a note says test/ is empty, and the
    result still passes `dataset check` (a warning: evaluation needs test clips)."""
    from tpsmm.errors import TPSMMNotice

    out = tmp_path / "one"
    options = PrepareOptions(kind="box", box=(100, 80, 200, 200), size=32, min_frames=10)
    with pytest.warns(TPSMMNotice, match=r"test: no clips: the clips of 1 raw video all went"):
        report = prepare_videos(raw / "people", out, options, jobs=1)
    assert {entry.split for entry in report.written} == {"train"}
    assert list((out / "test").iterdir()) == []
    check = check_dataset(out)
    assert check.ok, check.format()
    assert [(f.severity, f.message) for f in check.findings] == [
        ("warning", "no test videos: training works; tpsmm evaluate and reconstruct need them")
    ]


def test_a_rerun_removes_the_partial_clips_of_a_killed_run(raw, tmp_path):
    """A run killed by SIGKILL (or a power cut) leaves its staging folder; the next run
    removes it (its process no longer runs) and keeps another running run's."""
    import os
    import subprocess
    import warnings

    out = tmp_path / "again"
    dead = subprocess.Popen(["true"])
    dead.wait()  # a process id that no longer runs
    stale = out / f".prepare-partial-{dead.pid}" / "cut#000000.mp4"
    stale.mkdir(parents=True)
    running = out / f".prepare-partial-{os.getppid()}"  # a process that runs
    running.mkdir()
    options = PrepareOptions(kind="box", box=(100, 80, 200, 200), size=32, min_frames=10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the note on test/
        prepare_videos(raw / "people", out, options, jobs=1)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["train", "test", "prepare-report.csv", running.name]
    )
