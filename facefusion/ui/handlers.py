"""What the page's events do: read the widgets' values into options, refresh the preview, run, stop, map faces,
and the two documented API endpoints. The layout (layout.py) only places widgets and wires them to these."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import gradio as gr
import numpy as np

from ..options import Options, make_options, option_specs
from ..processors import MISSING_SOURCE, needs_source
from ..safety.consent import require_consent
from . import actions
from .controls import values_to_options

LOCKED_LOOK = ("output_label_size", "output_label_opacity")
"""How large and how opaque the label is: fixed with it (an opacity of 0 would hide it)."""
PROGRESS_BAR = ('<div style="height:10px;border-radius:5px;background:#e5e7eb;overflow:hidden">'
                '<div style="height:100%;width:{percent:.1f}%;background:#f97316"></div></div>')
NO_FACE_MAP = "Face map: none (the source photos go to the selected faces)."

PageValues = tuple[list[str], str | None, Options, int, list[str], bool]
"""The page's inputs as a run reads them: source paths, target path, options, preview frame, face map, whether
the preview shows before and after side by side."""


def pick_face(event: gr.SelectData) -> tuple[int, int]:
    """A click on a found face: it becomes the reference (and the face a face-map entry is for)."""
    return event.index, event.index


def describe_map(entries: list[str]) -> str:
    if not entries:
        return NO_FACE_MAP
    parts = [f"face {entry.split('=', 1)[0]} ← {len(entry.split('=', 1)[1].split(','))} photo(s)" for entry in entries]
    return "Face map: " + "; ".join(parts)


class Handlers:
    """The page's event handlers for one app (``engine``), reading the option widgets named ``option_names``."""

    def __init__(self, engine: actions.Engine, option_names: list[str]) -> None:
        self.engine = engine
        self.option_names = option_names

    def current_options(self, values: list[Any], chosen: list[str], position: Any, start_frame: Any,
                        end_frame: Any, length: int) -> Options:
        engine = self.engine
        fixed: dict[str, Any] = {"processors": chosen or ["face_swapper"],
                                 "reference_face_position": int(position or 0)}
        if engine.marks_locked:
            fixed.update(output_label=engine.output_label, output_watermark=True,
                         **{name: getattr(Options(), name) for name in LOCKED_LOOK})
        if length > 1:
            fixed["trim_frame_start"] = int(start_frame) if start_frame else None
            fixed["trim_frame_end"] = int(end_frame) if end_frame and int(end_frame) < length else None
        return values_to_options(self.option_names, values, engine.marks_locked, **fixed)

    def unpack(self, values: tuple[Any, ...]) -> PageValues:
        """The page's inputs (layout.Page.inputs, in that order) as a run reads them."""
        (source_files, target_file, chosen, position, start_frame, end_frame, frame_number, side_by_side,
         mapping, *option_values) = values
        target_path = actions.file_path(target_file)
        length = actions.video_length(target_path) if target_path else 1
        options = self.current_options(option_values, chosen, position, start_frame, end_frame, length)
        return (actions.source_paths(source_files), target_path, options, int(frame_number or 0), mapping,
                bool(side_by_side))

    @actions.user_errors
    def refresh_preview(self, *values: Any) -> tuple[Any, Any]:
        sources_list, target_path, options, frame_number, mapping, side_by_side = self.unpack(values)
        if not target_path:
            return None, []
        actions.check_target(target_path)
        return actions.preview(self.engine, options, sources_list, target_path, frame_number, mapping, side_by_side)

    @actions.user_errors
    def target_changed(self, target_file: Any) -> tuple[Any, Any, Any]:
        """A new target: the preview frame's and the trim's sliders fit its length."""
        path = actions.file_path(target_file)
        if path:
            actions.check_target(path)
        length = actions.video_length(path) if path else 1
        return (gr.update(maximum=max(length - 1, 1), value=0, visible=length > 1),
                gr.update(maximum=max(length - 1, 1), value=0),
                gr.update(maximum=max(length, 1), value=length))

    def show_sources(self, files: Any) -> list[tuple[Any, str]]:
        return actions.source_thumbnails(self.engine, actions.source_paths(files))

    @staticmethod
    def neural_only_state(choice: str) -> list[Any]:
        """Options the embedded engine ignores are shown disabled, saying why, while it runs."""
        embedded = actions.embedded_swapper_runs(str(choice))
        return [gr.update(interactive=not embedded,
                          info=(actions.NEURAL_ONLY_NOTE + " " if embedded else "") + option_specs()[name].help)
                for name in actions.NEURAL_ONLY_OPTIONS]

    @staticmethod
    @actions.user_errors
    def add_mapping(mapping: list[str], position: Any, files: Any) -> tuple[list[str], str]:
        """The clicked face gets the uploaded photos as its own source."""
        paths = actions.source_paths(files)
        if position is None:
            raise gr.Error("click a face in 'Faces found' first", print_exception=False)
        if not paths:
            raise gr.Error("upload a source photo for that face first", print_exception=False)
        entries = [entry for entry in mapping if not entry.startswith(f"{position}=")]
        entries.append(f"{position}={','.join(paths)}")
        return entries, describe_map(entries)

    @actions.user_errors_stream
    def start_run(self, session: str, agreed: bool, *values: Any) -> Iterator[tuple[Any, ...]]:
        """A run: its live frames, status, progress bar, result (image or video), download and report."""
        if not agreed:
            yield (gr.update(), actions.CONSENT_NEEDED, PROGRESS_BAR.format(percent=0), gr.update(), gr.update(),
                   gr.update(), "")
            return
        sources_list, target_path, options, frame_number, mapping, _ = self.unpack(values)
        target_path = actions.check_target(target_path)
        is_video = actions.video_length(target_path) > 1
        if not sources_list and not mapping and needs_source(options.processors):
            raise gr.Error(MISSING_SOURCE, print_exception=False)
        yield (gr.update(), "starting…", PROGRESS_BAR.format(percent=0), gr.update(value=None, visible=not is_video),
               gr.update(value=None, visible=is_video), None, "")
        for update in actions.start(self.engine, session, options, sources_list, target_path, mapping, frame_number):
            yield (update.live if update.live is not None else gr.update(), update.status,
                   PROGRESS_BAR.format(percent=update.fraction * 100),
                   gr.update(value=update.image) if update.image else gr.update(),
                   gr.update(value=update.video) if update.video else gr.update(),
                   update.download if update.download else gr.update(), update.report or gr.update())

    def stop_run(self, session: str) -> None:
        self.engine.stop_flag(session).set()

    def _api_request(self, files: Any, target_file: Any, mode: str, morph: float, agreed: bool, video: bool) -> str:
        engine = self.engine
        require_consent(agreed, "pass consent=True, the fifth argument")
        options = make_options(face_selector_mode=mode, face_swapper_morph=int(morph), output_label=engine.output_label)
        inputs = [*actions.source_paths(files), actions.file_path(target_file) or ""]
        engine.uploads.hold(inputs)
        try:
            return actions.api_swap(engine, inputs[:-1], inputs[-1], options, video)
        finally:
            engine.uploads.release(inputs)  # the request is over, whatever its end

    @actions.user_errors
    def api_swap_image(self, files: Any, target_file: Any, mode: str, morph: float, agreed: bool) -> str:
        return self._api_request(files, target_file, mode, morph, agreed, video=False)

    @actions.user_errors
    def api_swap_video(self, files: Any, target_file: Any, mode: str, morph: float, agreed: bool) -> str:
        return self._api_request(files, target_file, mode, morph, agreed, video=True)

    def fetch_models(self, names: list[str], progress: gr.Progress = gr.Progress()) -> str:
        return _fetch_models(self.engine, names, progress)

    def remember_uploads(self, known: list[str], value: Any) -> list[str]:
        new = sorted(set(actions.source_paths(value)) - set(known))
        self.engine.uploads.hold(new)
        return known + new


class LiveHandlers:
    """The Live tab's events: each frame of the webcam stream, and the token of a low-latency (WebRTC) connection.
    Both draw with the Studio tab's sources and options (read by ``page``)."""

    def __init__(self, page: Handlers) -> None:
        self.page = page
        self.engine = page.engine

    def _inputs(self, agreed: bool, values: tuple[Any, ...]) -> tuple[list[str], Options, list[str]]:
        """Source paths, options and face map, once consent is given and a source is there."""
        require_consent(agreed, "tick the box above the camera")
        sources_list, _, options, _, mapping, _ = self.page.unpack(values)
        if not sources_list and not mapping and needs_source(options.processors):
            raise gr.Error(f"{MISSING_SOURCE}, on the Studio tab", print_exception=False)
        return sources_list, options, mapping

    @actions.user_errors
    def frame(self, session: str, agreed: bool, virtual: bool, picture: Any, *values: Any) -> tuple[Any, str]:
        """One camera frame (RGB), drawn and sent back (and to the virtual camera when ``virtual``)."""
        if picture is None:
            return None, ""
        sources_list, options, mapping = self._inputs(agreed, values)
        frame = np.ascontiguousarray(np.asarray(picture, np.uint8)[:, :, ::-1])
        engine = self.engine
        # The switch is hidden on an app others reach, and refused here too: no visitor drives the server's cameras.
        drawn, speed = engine.live.draw(session, options, sources_list, mapping, frame, engine.safety,
                                        engine.pools.for_options(options),
                                        virtual=bool(virtual) and not engine.marks_locked)
        return np.ascontiguousarray(drawn[:, :, ::-1]), speed

    @actions.user_errors
    def start_webrtc(self, session: str, agreed: bool, *values: Any) -> str:
        """A token for one low-latency connection."""
        sources_list, options, mapping = self._inputs(agreed, values)
        engine = self.engine
        pool = engine.pools.for_options(options)
        key = f"{session}-webrtc"
        engine.live.end(key)  # a new connection starts its faces afresh

        def draw(frame: np.ndarray) -> np.ndarray:
            return engine.live.draw(key, options, sources_list, mapping, frame, engine.safety, pool)[0]
        return engine.live_tokens.issue(draw, lambda: engine.live.end(key))


@actions.user_errors
def _fetch_models(engine: actions.Engine, names: list[str], progress: Callable[..., Any]) -> str:
    table = actions.download_models(names, lambda fraction, text: progress(fraction, desc=text))
    engine.forget_analysers()
    return table
