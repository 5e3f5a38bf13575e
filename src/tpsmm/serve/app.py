"""The Gradio page of ``tpsmm serve``.

The page leads with the image upload, then the video upload, then the ``Animate``
button; "Use the sample" fills both uploads with the bundled sample in one click. Below:
the model (by name; the first is the default), the mode (avd only for models with an AVD
network), the fit, side by side, and find best frame when the eval extra is installed.
Progress is shown frame by frame; the result plays in the page with its audio and can be
downloaded. A request over a bound, unreadable or of the wrong kind gets a message in the
status line and starts no work.

Gradio is imported here only: ``import tpsmm.serve`` works without the ``web`` extra.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from tpsmm.errors import TPSMMError, first_line
from tpsmm.extras import installed
from tpsmm.media import FIT_MODES
from tpsmm.serve.service import (
    CLEANUP_INTERVAL_S,
    RESULT_LIFETIME_S,
    AnimationRequest,
    AnimationService,
)

if TYPE_CHECKING:
    from tpsmm.serve.compute import ComputeThread
    from tpsmm.serve.live import LiveServer

T = TypeVar("T")

#: The message when the ``web`` extra is missing.
WEB_EXTRA_MISSING = "tpsmm serve needs the web extra: pip install 'tpsmm[web]'"
#: Requests waiting beyond the running one; more are refused with "the queue is full".
QUEUE_SIZE = 16

TITLE = "tpsmm: animate a photo"
INTRO = (
    "Upload a still image (a face works best) and a driving video: the image moves the "
    "way the video moves, with the video's sound and frame rate."
)
INPUT_HEIGHT, RESULT_HEIGHT = 320, 420  # pixels
STAGES = {"best frame": "finding the best frame", "animate": "animating"}
#: The page's resolution choices: (label, value); None is the model's own size.
RESOLUTIONS = [
    ("the model's size", None),
    ("256 x 256", 256),
    ("512 x 512", 512),
    ("1024 x 1024", 1024),
]


def check_web_extra() -> None:
    """A one-line TPSMMError saying how to install Gradio when it is missing (without
    importing it)."""
    if not installed("gradio"):
        raise TPSMMError(WEB_EXTRA_MISSING)


def import_gradio(uploads: Path) -> Any:
    """The gradio module, set to keep its files in ``uploads`` and to send nothing
    anywhere (analytics off); a one-line TPSMMError saying how to install it when
    missing. Gradio reads these settings from the environment, some when imported."""
    os.environ["GRADIO_TEMP_DIR"] = str(uploads)
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        import gradio
    except ImportError:
        raise TPSMMError(WEB_EXTRA_MISSING) from None
    return gradio


def build_app(
    service: AnimationService,
    sample: tuple[Path, Path] | None = None,
    live: LiveServer | None = None,
    compute: ComputeThread | None = None,
) -> Any:
    """The page as a ``gradio.Blocks``, its queue running one animation at a time.

    Args:
        service: checks and runs the requests.
        sample: (image, video) that "Use the sample" puts in the uploads; None: no button.
        live: the Live tab's sessions (:mod:`tpsmm.serve.live`); None: no Live tab.
        compute: the thread that loaded the models, which then runs the animations too
            (:mod:`tpsmm.serve.compute`: on Gradio's threads they took 1.6x as long);
            None: Gradio's threads.

    Files the page handles live in ``service.workspace.uploads`` (see
    :func:`import_gradio`).
    """
    gr = import_gradio(service.workspace.uploads)
    models = service.models
    tracker = gr.Progress()  # gradio finds it among the defaults of the function
    with (
        gr.Blocks(
            title=TITLE,
            analytics_enabled=False,
            delete_cache=(CLEANUP_INTERVAL_S, RESULT_LIFETIME_S),
        ) as app,
        gr.Tabs(elem_id="tabs") as tabs,
        gr.Tab("Animate", id="animate-tab", elem_id="animate-tab"),
    ):
        gr.Markdown(f"# {TITLE}\n{INTRO}")
        with gr.Row(equal_height=True):
            image = gr.Image(
                label="Source image",
                type="filepath",
                sources=["upload", "clipboard"],
                height=INPUT_HEIGHT,
                elem_id="source-image",
            )
            _hand_over_undecoded(image)
            video = gr.Video(
                label="Driving video",
                sources=["upload"],
                height=INPUT_HEIGHT,
                elem_id="driving-video",
            )
        with gr.Row():
            animate = gr.Button("Animate", variant="primary", elem_id="animate", scale=3)
            use_sample = gr.Button(
                "Use the sample", elem_id="use-sample", visible=sample is not None, scale=1
            )
        with gr.Accordion("Options", open=True):
            with gr.Row():
                model = gr.Dropdown(
                    choices=models.names,
                    value=models.default.name,
                    label="Model",
                    interactive=len(models) > 1,
                    elem_id="model",
                )
                mode = gr.Radio(
                    choices=service.modes_for(models.default.name),
                    value="relative",
                    label="Mode",
                    info="relative: the video's motion since its first frame; standard: the "
                    "video's keypoints as they are; avd: the pose, by the AVD network",
                    elem_id="mode",
                )
                fit = gr.Radio(
                    choices=list(FIT_MODES),
                    value="crop",
                    label="Fit",
                    info="how frames reach the model's square: crop the centre, pad with "
                    "black, or stretch",
                    elem_id="fit",
                )
            with gr.Row():
                resolution = gr.Dropdown(
                    choices=RESOLUTIONS,
                    value=None,
                    label="Resolution",
                    info="the result's side in pixels: above the model's size, rendered from "
                    "the source image at its own resolution, moved by the model's motion",
                    elem_id="resolution",
                )
                side_by_side = gr.Checkbox(
                    label="Side by side (source | driving | result)", elem_id="side-by-side"
                )
                best_frame = gr.Checkbox(
                    label="Find the best frame (faces: the driving frame most like the source "
                    "is the motion's reference)",
                    visible=service.find_best_frame_available,
                    elem_id="find-best-frame",
                )
        status = gr.Markdown(_limits_line(service), elem_id="status")
        result = gr.Video(
            label="Result",
            interactive=False,
            autoplay=False,
            buttons=["download"],
            height=RESULT_HEIGHT,
            elem_id="result",
        )
        download = gr.DownloadButton(
            "Download the result", visible=False, elem_id="download", variant="secondary"
        )

        def on_model(name: str) -> Any:
            modes = service.modes_for(name)
            return gr.update(choices=modes, value="relative")

        model.change(on_model, inputs=model, outputs=mode, queue=False)

        def run(
            source: str | None,
            driving: str | None,
            model_name: str,
            mode_name: str,
            fit_name: str,
            side: bool,
            best: bool,
            size: int | None = None,
            request: Any = None,
            progress: Any = tracker,
        ) -> Iterator[tuple[Any, Any, Any]]:
            asked = AnimationRequest(
                source=Path(source) if source else None,
                driving=Path(driving) if driving else None,
                model=model_name,
                mode=mode_name,
                fit=fit_name,
                side_by_side=bool(side),
                find_best_frame=bool(best),
                resolution=size,
            )
            try:
                checked = service.check(asked)
            except TPSMMError as error:
                yield None, f"**Not started:** {first_line(error, None)}", gr.update(visible=False)
                return
            with service.request_folder() as folder:

                def on_progress(stage: str, done: int, total: int | None) -> None:
                    label = STAGES.get(stage, stage)
                    progress((done, total), desc=label, unit="frames")

                try:
                    summary = (compute.call if compute is not None else _call)(
                        service.animate, checked, folder, on_progress, session=_session(request)
                    )
                except TPSMMError as error:
                    yield None, f"**Failed:** {first_line(error, None)}", gr.update(visible=False)
                    return
                path = str(summary.output)
                yield (
                    path,
                    f"**Done:** {summary.details()} ({summary.seconds:.1f} s)",
                    gr.update(value=path, visible=True),
                )

        def on_close(request: Any = None) -> None:
            service.cancel(_session(request))

        # Gradio passes the page's request to a parameter annotated gr.Request; the
        # annotation is set here, where gradio is imported.
        run.__annotations__["request"] = on_close.__annotations__["request"] = gr.Request
        app.unload(on_close)  # the page was closed or reloaded: its request stops

        inputs = [image, video, model, mode, fit, side_by_side, best_frame, resolution]
        animate.click(
            run,
            inputs=inputs,
            outputs=[result, status, download],
            concurrency_limit=1,
            concurrency_id="animation",
            show_progress="full",
            api_name="animate",
        )
        if sample is not None:
            sample_image, sample_video = (str(path) for path in sample)
            use_sample.click(
                lambda: (sample_image, sample_video),
                outputs=[image, video],
                queue=False,
                api_name=False,
            )
    if live is not None:
        from tpsmm.serve.live_page import build_live_tab

        with app, tabs, gr.Tab("Live", id="live-tab", elem_id="live-tab"):
            build_live_tab(gr, live, sample[0] if sample is not None else None)
    app.queue(default_concurrency_limit=1, max_size=QUEUE_SIZE)
    return app


def launch(
    app: Any,
    service: AnimationService,
    *,
    host: str = "127.0.0.1",
    port: int = 7860,
    block: bool = True,
    allowed_paths: list[str] | None = None,
    live: LiveServer | None = None,
) -> Any:
    """Start serving ``app`` (uploads bounded by ``service.limits``); returns the app.
    ``live``: the Live tab's sessions, whose WebSocket and script the server adds.

    With ``block`` the call returns when the server stops (Ctrl-C or SIGTERM).
    """
    live_options: dict[str, Any] = {}
    if live is not None:
        from tpsmm.serve.live_page import head

        live_options = {"app_kwargs": {"routes": live.routes()}, "head": head()}
    return app.launch(
        server_name=host,
        server_port=port,
        max_file_size=service.limits.max_upload_bytes,
        allowed_paths=[str(service.workspace.root), *(allowed_paths or [])],
        prevent_thread_lock=not block,
        show_error=True,
        quiet=True,
        ssr_mode=False,
        pwa=False,
        mcp_server=False,
        inbrowser=False,
        share=False,
        footer_links=[],
        **live_options,
    )


def _call(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    return function(*args, **kwargs)


def _session(request: Any) -> str | None:
    """The page (browser tab) a request came from, as Gradio names it."""
    return getattr(request, "session_hash", None)


def _limits_line(service: AnimationService) -> str:
    return f"This server takes {service.limits.describe()}."


def _hand_over_undecoded(image: Any) -> None:
    """Make a ``gr.Image`` with ``type="filepath"`` hand the upload to the app as it is,
    unopened (the app reads the pixels from the header before decoding and words the
    message). Set on the instance: a subclass of a Gradio component would make Gradio
    write a ``.pyi`` file next to this module."""
    preprocess = image.preprocess

    def undecoded(payload: Any) -> Any:
        if payload is None or getattr(payload, "path", None) is None:
            return preprocess(payload)
        return str(payload.path)

    image.preprocess = undecoded
