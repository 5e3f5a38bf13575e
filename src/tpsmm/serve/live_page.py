"""The Live tab of ``tpsmm serve``: the browser's camera animates a photo in real time.

The tab holds the source upload and "Use the sample" (as the Animate tab), the model,
face following (with the eval extra) and the motion scale; the camera's picture and
the animated frame side by side, with the frames per second and the median latency
from capture to display (``#live-fps``, ``#live-latency``, updated every second). The
camera, the WebSocket and the drawing are the page's own JavaScript
(``static/live.js``, in the page's head); the Gradio components hand it their values
through JavaScript-only events (no request to the server). The server side is
:mod:`tpsmm.serve.live`.
"""

from __future__ import annotations

import html
import json
from importlib import resources
from pathlib import Path
from typing import Any

from tpsmm.serve.live import LIVE_PATH, LiveServer

INTRO = (
    "Your camera moves the photo, live: the camera's picture goes to this server, the "
    "animated photo comes back. Press **Start camera**, look straight ahead, and move; "
    "**Reset** takes your current pose as the new rest pose."
)
INPUT_HEIGHT = 260  # pixels


def head() -> str:
    """The page's head: the Live tab's script."""
    script = resources.files("tpsmm.serve").joinpath("static/live.js").read_text()
    return f"<script>\n{script}\n</script>"


def view_html(live: LiveServer, follow: bool, model: str) -> str:
    """The camera's picture, the animated frame, the figures and the status line."""
    settings = html.escape(
        json.dumps(
            {
                "path": LIVE_PATH,
                "maxInFlight": live.max_in_flight,
                "follow": follow,
                "model": model,
            }
        )
    )
    return f"""
<div id="live-view" data-settings="{settings}">
  <div class="live-pictures">
    <figure><div class="live-box"><video id="live-camera" autoplay muted playsinline></video>
      <canvas id="live-overlay"></canvas></div><figcaption>Camera</figcaption></figure>
    <figure><div class="live-box"><canvas id="live-result" width="256" height="256"></canvas>
      </div><figcaption>Animated</figcaption></figure>
  </div>
  <p class="live-figures"><span id="live-fps">0.0</span> frames per second &middot; median
    latency <span id="live-latency">-</span> ms (capture to display) &middot;
    <span id="live-dropped">0</span> frames dropped by the server</p>
  <p id="live-status">Pick a source image, then press Start camera.</p>
</div>
<style>
#live-view .live-pictures {{ display: flex; gap: 12px; flex-wrap: wrap; }}
#live-view figure {{ margin: 0; }}
#live-view .live-box {{ position: relative; width: 320px; height: 320px; background: #111; }}
#live-view video, #live-view canvas {{ position: absolute; inset: 0; width: 100%;
  height: 100%; object-fit: contain; }}
#live-view figcaption {{ text-align: center; font-size: 0.9em; }}
#live-view .live-figures {{ font-variant-numeric: tabular-nums; }}
</style>
"""


def build_live_tab(gr: Any, live: LiveServer, sample: Path | None) -> None:
    """The Live tab's components, inside the tab's context of the page."""
    service = live.service
    models = service.models
    follow = live.follow_face_available
    gr.Markdown(INTRO)
    with gr.Row():
        with gr.Column(scale=1, min_width=280):
            source = gr.Image(
                label="Source image",
                type="filepath",
                sources=["upload", "clipboard"],
                height=INPUT_HEIGHT,
                elem_id="live-source",
            )
            use_sample = gr.Button(
                "Use the sample", elem_id="live-use-sample", visible=sample is not None
            )
            model = gr.Dropdown(
                choices=models.names,
                value=models.default.name,
                label="Model",
                interactive=len(models) > 1,
                elem_id="live-model",
            )
            follow_face = gr.Checkbox(
                value=follow,
                visible=follow,
                label="Follow the face (crop the camera's picture around it)",
                elem_id="live-follow",
            )
            scale = gr.Slider(
                minimum=0,
                maximum=2,
                value=1,
                step=0.05,
                label="Motion scale",
                info="0 still, 1 as you move, above 1 exaggerated",
                elem_id="live-motion-scale",
            )
        with gr.Column(scale=2):
            gr.HTML(view_html(live, follow, models.default.name))
            with gr.Row():
                start = gr.Button("Start camera", variant="primary", elem_id="live-start")
                reset = gr.Button("Reset", elem_id="live-reset")
                stop = gr.Button("Stop", elem_id="live-stop")

    def js_only(event: Any, inputs: list[Any], script: str) -> None:
        event(None, inputs=inputs, outputs=None, js=script, queue=False, api_name=False)

    configure = "(source, model, follow) => { tpsmmLive.configure(source, model, follow); }"
    for component in (source, model, follow_face):
        js_only(component.change, [source, model, follow_face], configure)
    js_only(scale.change, [scale], "(value) => { tpsmmLive.setMotionScale(value); }")
    js_only(start.click, [], "() => { tpsmmLive.start(); }")
    js_only(reset.click, [], "() => { tpsmmLive.reset(); }")
    js_only(stop.click, [], "() => { tpsmmLive.stop(); }")
    if sample is not None:
        sample_image = str(sample)
        use_sample.click(lambda: sample_image, outputs=source, queue=False, api_name=False)
