"""Live animation: a source image animated by camera frames as they come.

- :mod:`tpsmm.live.engine`: :class:`LiveAnimator` (the source prepared once, then one
  frame at a time against a reference frame that can be taken again) and
  :class:`FrameStats` (frames per second, latency);
- :mod:`tpsmm.live.follow`: the driver's face followed cheaply, frame by frame;
- :mod:`tpsmm.live.camera`: frames from a camera device, a stream or a file, the newest
  first (``tpsmm live``);
- :mod:`tpsmm.live.outputs`: a virtual camera and a recording with real times.

The web app's Live tab is :mod:`tpsmm.serve.live`.
"""

from tpsmm.live.engine import FrameStats, LiveAnimator, LiveFrame, PreparedFrame

__all__ = ["FrameStats", "LiveAnimator", "LiveFrame", "PreparedFrame"]
