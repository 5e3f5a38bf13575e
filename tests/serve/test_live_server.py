"""The Live tab's WebSocket without a browser (Starlette's test client): the protocol,
a source named by its path on the server, the reference and Reset, sessions bounded
in number and idle time, other sites refused."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from live.live_footage import SAMPLE_IMAGE, camera_frames
from tiny_model import tiny_model
from tpsmm.serve import Limits, ModelRegistry, ServedModel, make_workspace
from tpsmm.serve.limits import LiveLimits
from tpsmm.serve.live import LIVE_PATH, LiveServer, encode_jpeg, pack, unpack
from tpsmm.serve.service import AnimationService

pytest.importorskip("starlette", reason="the web extra (gradio) is not installed")


@pytest.fixture(scope="module")
def registry() -> ModelRegistry:
    return ModelRegistry([ServedModel("tiny", tiny_model(), "test")])


def make_client(
    registry: ModelRegistry,
    tmp_path: Path,
    limits: LiveLimits | None = None,
    frame_workers: int = 1,
):
    """A test client of an app with the Live WebSocket; the sample is ``SAMPLE_IMAGE``."""
    from starlette.applications import Starlette
    from starlette.testclient import TestClient

    service = AnimationService(registry, Limits(), make_workspace(tmp_path), find_best_frame=False)
    live = LiveServer(
        service, limits, sample=SAMPLE_IMAGE, follow_face=False, frame_workers=frame_workers
    )
    return TestClient(Starlette(routes=live.routes())), live


def configure(socket, path: Path = SAMPLE_IMAGE, **fields) -> dict:
    socket.send_text(
        json.dumps({"type": "configure", "source": {"path": str(path)}, "model": "tiny", **fields})
    )
    return json.loads(socket.receive_text())


def send_frame(socket, seq: int, frame: np.ndarray) -> tuple[dict, np.ndarray]:
    socket.send_bytes(pack({"seq": seq}, encode_jpeg(frame)))
    header, payload = unpack(socket.receive_bytes())
    with Image.open(io.BytesIO(payload)) as image:
        return header, np.asarray(image.convert("RGB"))


@pytest.mark.parametrize("frame_workers", [1, 2])
def test_frames_animated_against_a_reference_taken_again_by_reset(
    registry, tmp_path, frame_workers
):
    threads = torch.get_num_threads()
    client, live = make_client(registry, tmp_path, frame_workers=frame_workers)
    pictures = camera_frames(4)
    with client, client.websocket_connect(LIVE_PATH) as socket:
        assert json.loads(socket.receive_text()) == {"type": "hello", "session": 1}
        ready = configure(socket)
        assert ready == {
            "type": "ready",
            "size": 64,
            "input_side": 64,
            "follow_face": False,
            "source_face": False,
            "workers": frame_workers,
        }
        if frame_workers > 1:  # one PyTorch thread each; the others' count unchanged
            assert live._renderers.submit(torch.get_num_threads).result() == 1
        assert torch.get_num_threads() == threads
        headers = []
        for seq, picture in enumerate(pictures[:3], 1):
            header, image = send_frame(socket, seq, picture)
            headers.append(header)
            assert image.shape == (64, 64, 3)
        assert [header["seq"] for header in headers] == [1, 2, 3]
        assert [header["reference"] for header in headers] == [True, False, False]
        assert headers[0]["box"] == [40.0, 0.0, 280.0, 240.0]
        assert headers[0]["face"] is None and headers[0]["dropped"] == 0
        stages = {"wait", "decode", "face", "crop", "model", "encode"}
        assert set(headers[0]["times"]) == stages | {"reference"}
        assert set(headers[1]["times"]) == stages
        socket.send_text(json.dumps({"type": "reset"}))
        header, reference = send_frame(socket, 4, pictures[3])
        assert header["reference"]
        socket.send_text(json.dumps({"type": "settings", "motion_scale": 0}))
        _, still = send_frame(socket, 5, pictures[0])  # motion scale 0: the reference pose
        np.testing.assert_array_equal(still, reference)
    live.close()
    assert live.sessions == {}
    assert torch.get_num_threads() == threads


@pytest.mark.parametrize("frame_workers", [1, 2])
def test_every_frame_is_answered_or_said_dropped(registry, tmp_path, frame_workers):
    """Frames sent faster than they are animated: the newest wins, and the answers name
    the frames that were replaced unanimated (with several workers answers may come out
    of order, so the page cannot infer them)."""
    client, live = make_client(registry, tmp_path, frame_workers=frame_workers)
    pictures = camera_frames(12)
    with client, client.websocket_connect(LIVE_PATH) as socket:
        socket.receive_text()
        configure(socket)
        for seq, picture in enumerate(pictures, 1):
            socket.send_bytes(pack({"seq": seq}, encode_jpeg(picture)))
        answered, dropped = [], []
        while len(answered) + len(dropped) < len(pictures):
            header, _ = unpack(socket.receive_bytes())
            answered.append(header["seq"])
            dropped += header["dropped_seqs"]
        assert sorted(answered + dropped) == list(range(1, len(pictures) + 1))
        assert len(pictures) in answered  # the newest is never dropped
        assert header["dropped"] == len(dropped)
    live.close()


def test_sources_are_uploads_or_the_sample(registry, tmp_path):
    client, live = make_client(registry, tmp_path)
    upload = live.service.workspace.uploads / "abc" / "photo.png"
    upload.parent.mkdir()
    shutil.copy(SAMPLE_IMAGE, upload)
    elsewhere = tmp_path / "photo.png"
    shutil.copy(SAMPLE_IMAGE, elsewhere)
    notes = live.service.workspace.uploads / "notes.png"
    notes.write_text("not an image")
    with client, client.websocket_connect(LIVE_PATH) as socket:
        socket.receive_text()
        assert configure(socket, upload)["type"] == "ready"
        assert configure(socket, elsewhere) == {
            "type": "error",
            "message": "the source must be an image uploaded to this page",
            "closed": False,
        }
        error = configure(socket, notes)
        assert error["type"] == "error" and "notes.png: is not an image" in error["message"]
        socket.send_text("{not json")
        assert "does not understand" in json.loads(socket.receive_text())["message"]
        socket.send_bytes(pack({"seq": 1}, b"garbage"))
        assert json.loads(socket.receive_text())["message"] == "a camera frame that is not an image"
    live.close()


def test_sessions_are_bounded_in_number_and_idle_time(registry, tmp_path):
    client, live = make_client(registry, tmp_path, LiveLimits(max_sessions=1, idle_seconds=0.5))
    with client, client.websocket_connect(LIVE_PATH) as first:
        first.receive_text()
        with client.websocket_connect(LIVE_PATH) as second:
            refused = json.loads(second.receive_text())
            assert refused["closed"] and "runs 1 live sessions at a time" in refused["message"]
        closed = json.loads(first.receive_text())  # nothing sent for half a second
        assert closed == {
            "type": "error",
            "message": "session closed after 0.5 s without frames",
            "closed": True,
        }
    assert live.sessions == {}
    live.close()


def test_pages_of_other_sites_are_refused(registry, tmp_path):
    from starlette.websockets import WebSocketDisconnect

    client, live = make_client(registry, tmp_path)
    with client:
        with pytest.raises(WebSocketDisconnect) as closed:  # noqa: SIM117
            with client.websocket_connect(
                LIVE_PATH, headers={"origin": "http://evil.example", "host": "testserver"}
            ) as socket:
                socket.receive_text()
        assert closed.value.code == 1008
        with client.websocket_connect(
            LIVE_PATH, headers={"origin": "http://testserver", "host": "testserver"}
        ) as socket:
            assert json.loads(socket.receive_text())["type"] == "hello"
    live.close()
