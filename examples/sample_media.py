"""Sample photos the project may use freely: they ship inside installed packages.

- ``astronaut.png`` from scikit-image: NASA portrait of astronaut Eileen Collins (public domain).
- ``grace_hopper.jpg`` from matplotlib: portrait of Rear Admiral Grace Hopper (US Navy, public domain).
"""
from __future__ import annotations

import importlib.util
from pathlib import Path


def _package_folder(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {name} is not installed; run the README's setup command")
    return Path(list(spec.submodule_search_locations)[0])


def astronaut() -> Path:
    return _package_folder("skimage") / "data" / "astronaut.png"


def grace_hopper() -> Path:
    return _package_folder("matplotlib") / "mpl-data" / "sample_data" / "grace_hopper.jpg"


def make_clip(path: Path, frames: int = 90, fps: int = 30, size: tuple[int, int] = (1280, 720),
              audio: bool = True, rotation: int = 0, variable_rate: bool = False, face_width: int = 220) -> Path:
    """Write a short clip of the astronaut's portrait drifting and nodding over a textured
    background, with a tone as its audio: a video the project may ship and test on.

    ``rotation`` stores display-rotation metadata (as phones do); ``variable_rate`` spaces the frames
    unevenly (alternately 1 and 2 ticks of 1/(2*fps)) as screen recordings and phones do."""
    from fractions import Fraction

    import av
    import cv2
    import numpy as np

    from facefusion.media.image import read_image

    portrait = read_image(astronaut()).frame
    # astronaut.png: the face spans about 105 px of its 512 px width.
    scale = face_width / 105
    portrait = cv2.resize(portrait, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    width, height = size
    rng = np.random.default_rng(5)
    background = cv2.GaussianBlur(rng.integers(30, 220, (height, width, 3), dtype=np.uint8), (0, 0), 8)
    time_base = Fraction(1, 2 * fps)
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps, options={"crf": "18", "preset": "veryfast", "bf": "0"})
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.time_base = time_base
        video.codec_context.time_base = time_base
        if rotation:
            video.set_display_rotation(rotation)
        tone = container.add_stream("aac", rate=44100) if audio else None
        tick = 0
        for index in range(frames):
            t = index / fps
            frame = background.copy()
            dx = int(80 * np.sin(2 * np.pi * t / 3))
            dy = int(20 * np.sin(2 * np.pi * t / 1.7))
            angle = 6 * np.sin(2 * np.pi * t / 2.3)
            matrix = cv2.getRotationMatrix2D((225 * scale, 120 * scale), angle, 1.0)
            turned = cv2.warpAffine(portrait, matrix, (portrait.shape[1], portrait.shape[0]),
                                    borderMode=cv2.BORDER_REFLECT)
            # The window of the portrait shown keeps the face (about x 225, y 120 of the 512 px photo) in it.
            crop_h, crop_w = min(turned.shape[0], height - 40), min(turned.shape[1], width // 2)
            top = int(np.clip(120 * scale - crop_h * 0.35, 0, turned.shape[0] - crop_h))
            left = int(np.clip(225 * scale - crop_w / 2, 0, turned.shape[1] - crop_w))
            crop = turned[top:top + crop_h, left:left + crop_w]
            x = width // 2 - crop.shape[1] // 2 + dx
            y = 20 + dy
            frame[y:y + crop.shape[0], x:x + crop.shape[1]] = crop
            picture = av.VideoFrame.from_ndarray(frame, format="bgr24")
            picture.pts = tick
            tick += (1 + index % 2) if variable_rate else 2
            for packet in video.encode(picture):
                container.mux(packet)
        for packet in video.encode(None):
            container.mux(packet)
        if tone is not None:
            duration = tick / (2 * fps)
            samples = int(duration * 44100)
            wave = (0.2 * np.sin(2 * np.pi * 440 * np.arange(samples) / 44100)).astype(np.float32)
            for start in range(0, samples, 1024):
                chunk = wave[start:start + 1024]
                piece = av.AudioFrame.from_ndarray(np.stack([chunk, chunk]), format="fltp", layout="stereo")
                piece.sample_rate = 44100
                piece.pts = start
                for packet in tone.encode(piece):
                    container.mux(packet)
            for packet in tone.encode(None):
                container.mux(packet)
    return path
