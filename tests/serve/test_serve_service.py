"""The web app's work without the web framework: limits, checks with messages for the
page, one folder per request, progress frame by frame, models by name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import tpsmm
from cli.cli_helpers import SAMPLE_DRIVING, SAMPLE_SOURCE, pattern_frame, write_video
from tiny_model import tiny_model
from tpsmm.errors import MediaError, TPSMMError
from tpsmm.media import VideoReader
from tpsmm.serve import AnimationRequest, AnimationService, Limits, ModelRegistry, make_workspace
from tpsmm.serve.limits import check_driving_video, check_source_image
from tpsmm.serve.models import ServedModel, model_name, split_checkpoint_argument
from tpsmm.serve.service import result_name


@pytest.fixture(scope="module")
def registry() -> ModelRegistry:
    with_avd = tiny_model()
    return ModelRegistry([ServedModel("tiny", with_avd, "test")])


@pytest.fixture
def service(registry: ModelRegistry, tmp_path: Path) -> AnimationService:
    return AnimationService(registry, Limits(), make_workspace(tmp_path), find_best_frame=False)


def short_video(path: Path, frames: int, *, audio: bool = True) -> Path:
    return write_video(
        path, (pattern_frame(index, (80, 60)) for index in range(frames)), audio=audio
    )


# Limits ---------------------------------------------------------------------------------


def test_limits_from_the_command_line_units():
    limits = Limits.from_options(2, 300, 1_000_000)
    assert limits.max_upload_bytes == 2 * 2**20
    assert (
        limits.describe()
        == "uploads up to 2 MB, videos up to 300 frames, images up to 1 megapixels"
    )
    with pytest.raises(ValueError, match="max_frames"):
        Limits(max_frames=0)


def test_image_over_the_pixel_bound_is_refused_from_its_header(tmp_path: Path):
    path = tmp_path / "wide.png"
    Image.new("RGB", (400, 300)).save(path)
    with pytest.raises(MediaError, match=r"photo.png: the image is 400x300 \(0.12 megapixels\)"):
        check_source_image(path, Limits(max_image_pixels=100_000), "photo.png")
    assert check_source_image(path, Limits(max_image_pixels=120_000), "photo.png").shape == (
        300,
        400,
        3,
    )


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (b"hello\n", "notes.png", "notes.png: is not an image file that can be read"),
        (None, "clip.mp4", "clip.mp4: is a video; give a still image"),
    ],
)
def test_source_of_the_wrong_kind_is_refused(tmp_path: Path, content, name, message):
    path = tmp_path / name
    if content is None:
        short_video(path, 3)
    else:
        path.write_bytes(content)
    with pytest.raises(MediaError) as error:
        check_source_image(path, Limits(), name)
    assert message in str(error.value).replace(str(path), name)


def test_upload_over_the_size_bound_is_refused(tmp_path: Path):
    path = tmp_path / "big.png"
    path.write_bytes(b"\0" * (2**20 + 1))
    with pytest.raises(
        MediaError, match=r"big.png: the file is 1 MB; this server takes uploads up to 1 MB"
    ):
        check_source_image(path, Limits(max_upload_bytes=2**20), "big.png")


def test_video_over_the_frame_bound_is_refused(tmp_path: Path):
    path = short_video(tmp_path / "long.mp4", 12)
    assert check_driving_video(path, Limits(max_frames=12), "long.mp4") == 12
    with pytest.raises(
        MediaError,
        match=r"long.mp4: the video has 12 frames; this server animates videos up to 11 frames",
    ):
        check_driving_video(path, Limits(max_frames=11), "long.mp4")


def test_video_frames_are_counted_when_the_container_does_not_say(tmp_path: Path):
    """WebM states no frame count: the packets are counted instead."""
    import av

    path = tmp_path / "clip.webm"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libvpx", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for index in range(7):
            frame = av.VideoFrame.from_ndarray(pattern_frame(index, (64, 48)), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    with VideoReader(path) as reader:
        assert reader.num_frames is None
    assert check_driving_video(path, Limits(max_frames=7), "clip.webm") == 7
    with pytest.raises(MediaError, match="has 7 frames"):
        check_driving_video(path, Limits(max_frames=6), "clip.webm")


# Checking requests ----------------------------------------------------------------------


def test_check_names_uploads_by_their_own_names(service: AnimationService, tmp_path: Path):
    fake = tmp_path / "upload-123" / "talk.mp4"
    fake.parent.mkdir()
    fake.write_text("not a video")
    request = AnimationRequest(SAMPLE_SOURCE, fake, "tiny")
    with pytest.raises(MediaError) as error:
        service.check(request)
    assert str(error.value).startswith("talk.mp4: cannot be read as a video")
    assert str(tmp_path) not in str(error.value)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"source": None}, "upload a source image"),
        ({"driving": None}, "upload a driving video"),
        ({"model": "vox"}, "unknown model 'vox'; this server has tiny"),
        ({"mode": "sideways"}, "sideways"),
        ({"fit": "zoom"}, "zoom"),
        ({"find_best_frame": True}, "needs the eval extra"),
        ({"resolution": 2048}, "up to 1024 on this server"),
        ({"resolution": "auto"}, "up to 1024 on this server"),
        ({"resolution": 0}, "resolution must be a whole number"),
    ],
)
def test_bad_requests_are_refused_before_any_work(service: AnimationService, changes, message):
    fields = {"source": SAMPLE_SOURCE, "driving": SAMPLE_DRIVING, "model": "tiny", **changes}
    with pytest.raises(TPSMMError, match=message):
        service.check(AnimationRequest(**fields))
    assert list(service.workspace.requests.iterdir()) == []


def test_avd_mode_only_for_models_with_an_avd_network(tmp_path: Path):
    model = tiny_model()
    model.avd_network = None
    service = AnimationService(
        ModelRegistry([ServedModel("plain", model, "test")]), Limits(), make_workspace(tmp_path)
    )
    assert service.modes_for("plain") == ["relative", "standard"]
    with pytest.raises(TPSMMError, match="model plain has no AVD network"):
        service.check(AnimationRequest(SAMPLE_SOURCE, SAMPLE_DRIVING, "plain", mode="avd"))


# Running requests -----------------------------------------------------------------------


def test_request_runs_in_its_own_folder_with_progress_per_frame(
    service: AnimationService, tmp_path: Path
):
    driving = short_video(tmp_path / "talk.mp4", 5)
    checked = service.check(AnimationRequest(SAMPLE_SOURCE, driving, "tiny", side_by_side=True))
    assert checked.frames == 5
    updates: list[tuple[str, int, int | None]] = []
    with service.request_folder() as folder:
        assert folder.parent == service.workspace.requests
        summary = service.animate(checked, folder, lambda *update: updates.append(update))
        assert summary.output.parent == folder
        assert summary.output.name == "tpsmm-source-talk.mp4"
        with VideoReader(summary.output) as reader:
            assert reader.has_audio and reader.size == (3 * 64, 64)
            assert sum(1 for _ in reader) == 5
    assert not folder.exists()
    assert updates == [("animate", done, 5) for done in range(6)]


def test_request_at_a_resolution(service: AnimationService, tmp_path: Path):
    driving = short_video(tmp_path / "talk.mp4", 2)
    checked = service.check(AnimationRequest(SAMPLE_SOURCE, driving, "tiny", resolution=96))
    with service.request_folder() as folder:
        summary = service.animate(checked, folder)
        assert summary.size == (96, 96)


def test_request_folder_is_removed_when_the_request_fails(service: AnimationService):
    with pytest.raises(RuntimeError), service.request_folder() as folder:
        (folder / "partial.mp4").write_bytes(b"...")
        raise RuntimeError("stopped")
    assert list(service.workspace.requests.iterdir()) == []


def test_progress_callback_can_stop_the_job(service: AnimationService, tmp_path: Path):
    """An exception from the callback (a closed page) stops the job; no output is left."""
    checked = service.check(AnimationRequest(SAMPLE_SOURCE, SAMPLE_DRIVING, "tiny"))

    def stop_after_two(stage: str, done: int, total: int | None) -> None:
        if done >= 2:
            raise KeyboardInterrupt

    with service.request_folder() as folder:
        with pytest.raises(KeyboardInterrupt):
            service.animate(checked, folder, stop_after_two)
        assert list(folder.iterdir()) == []


def test_result_names_are_safe():
    assert (
        result_name(Path("/x/My Photo (1).JPG"), Path("/y/talk.mp4")) == "tpsmm-My_Photo_1-talk.mp4"
    )
    assert result_name(Path("/x/....png"), Path("/y/ü.mp4")) == "tpsmm-upload-upload.mp4"


# Models ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("vox.pth.tar", "vox"),
        ("models/taichi-256.safetensors", "taichi-256"),
        ("runs/my-run/checkpoint.pth.tar", "my-run"),
        ("weights.pt", "weights"),
    ],
)
def test_models_are_named_after_their_files(path: str, name: str):
    assert model_name(path) == name


def test_checkpoint_argument_may_name_the_model(tmp_path: Path):
    assert split_checkpoint_argument("faces=vox.pth.tar") == ("faces", "vox.pth.tar")
    assert split_checkpoint_argument("vox.pth.tar") == ("vox", "vox.pth.tar")
    odd = tmp_path / "a=b.pth.tar"
    odd.write_bytes(b"")
    assert split_checkpoint_argument(str(odd)) == ("a=b", str(odd))


def test_registry_loads_each_checkpoint_once_and_refuses_clashes(
    serve_checkpoint: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr("tpsmm.serve.models.load_demo_model", lambda **kwargs: None)
    registry = ModelRegistry.load(
        [str(serve_checkpoint), f"other={serve_checkpoint}"], device="cpu"
    )
    assert registry.names == ["tiny", "other"]
    assert registry.default.name == "tiny"
    assert registry["other"].model is not registry["tiny"].model
    assert "tiny: 64x64, 2 TPS, avd" in registry["tiny"].describe()
    with pytest.raises(TPSMMError, match="two models are named 'tiny'"):
        ModelRegistry.load([str(serve_checkpoint), str(serve_checkpoint)], device="cpu")
    with pytest.raises(
        TPSMMError, match="no model to serve: this install has no bundled demo model"
    ):
        ModelRegistry.load([], device="cpu")


def test_pipeline_reports_both_passes_of_find_best_frame(tiny_landmarks_model, tmp_path: Path):
    """The progress seam of the animation job: the best-frame pass, then the animation."""
    model, landmarks = tiny_landmarks_model
    driving = short_video(tmp_path / "talk.mp4", 3, audio=False)
    updates: list[tuple[str, int, int | None]] = []
    tpsmm.animate_video(
        model,
        np.zeros((64, 64, 3), np.uint8),
        driving,
        tmp_path / "out.mp4",
        find_best_frame=True,
        landmarks=landmarks,
        on_progress=lambda *update: updates.append(update),
    )
    assert updates == [
        *[("best frame", done, 3) for done in range(4)],
        *[("animate", done, 3) for done in range(4)],
    ]


@pytest.fixture
def tiny_landmarks_model():
    """The tiny model and a landmark function that finds the same 'face' everywhere."""
    points = np.random.default_rng(0).uniform(10, 50, (68, 2))
    return tiny_model(), lambda image: points
