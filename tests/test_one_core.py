"""One frame path: a video's segments drawn one by one, as Ray's actors draw them, give the local threaded run's
frames exactly (in one process the embedded engine's mediapipe inference is deterministic; between processes it
is not bit-exact, see test_ray.py)."""
from __future__ import annotations

import av
import numpy as np

from facefusion import Options
from facefusion.engine import Studio
from facefusion.media.opencv_threads import single_threaded_opencv
from facefusion.pipeline import Job, run_to_end
from facefusion.video_job import render_segment
from facefusion.video_plan import plan_video, video_layout


def _frames(path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="bgr24") for frame in container.decode(video=0)]


def test_segments_drawn_alone_give_the_local_runs_frames_exactly(tmp_path):
    from sample_media import grace_hopper, make_clip

    clip = make_clip(tmp_path / "clip.mp4", frames=24, size=(320, 180), face_width=90)
    options = Options(face_selector_mode="many")
    job = Job(sources=(str(grace_hopper()),), target=str(clip), output=str(tmp_path / "local.mp4"),
              segment_frames=10, watermark_id=77, resume=False)
    with Studio(options) as studio:
        local = run_to_end(job, options, studio=studio)
        video = plan_video(studio, job, video_layout(job, options))
        apart = []
        with single_threaded_opencv():
            for number in range(3):
                path = tmp_path / f"segment_{number}.mkv"
                done = render_segment(studio, video, job, number, path, 77)
                assert done.frames == (10 if number < 2 else 4)
                apart += _frames(path)
    together = _frames(tmp_path / "local.mp4")
    assert local.frames == len(together) == len(apart) == 24 and local.faces_swapped >= 20
    for index, (one, other) in enumerate(zip(apart, together)):
        assert np.array_equal(one, other), f"frame {index} differs"
