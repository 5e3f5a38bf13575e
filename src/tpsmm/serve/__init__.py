"""``tpsmm serve``: the web app, on the animation job of ``tpsmm animate``.

- :mod:`tpsmm.serve.limits`: bounds on uploads, video length and image pixels,
- :mod:`tpsmm.serve.models`: the models a server offers, loaded once,
- :mod:`tpsmm.serve.service`: checking and running requests, each in a folder of its
  own (no web framework needed),
- :mod:`tpsmm.serve.app`: the Gradio page (the ``web`` extra).
"""

from tpsmm.serve.limits import Limits
from tpsmm.serve.models import ModelRegistry, ServedModel
from tpsmm.serve.service import AnimationRequest, AnimationService, Workspace, make_workspace

__all__ = [
    "AnimationRequest",
    "AnimationService",
    "Limits",
    "ModelRegistry",
    "ServedModel",
    "Workspace",
    "make_workspace",
]
