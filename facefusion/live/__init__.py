"""Live: a camera's frames swapped as they come and sent to a stream, a virtual camera or a recording.

``camera`` reads the frames (a device, or a file or URL played as one), ``outputs`` sends them, ``session``
draws them with the same frame path as a video run, dropping frames rather than queueing them when behind.
"""
from .camera import open_camera
from .outputs import open_output
from .session import LiveRun, LiveStats, live_studio

__all__ = ["LiveRun", "LiveStats", "live_studio", "open_camera", "open_output"]
