"""The page: one column of inputs and options, one of preview and results, then the events wired to their
handlers (handlers.py)."""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr

from ..live.outputs import virtual_camera_installed
from ..options import PROCESSOR_NAMES, Options, option_specs
from ..system import report as system_report
from . import actions
from .controls import PROCESSOR_GROUPS, default_widget, grouped_option_names, widget
from .handlers import LOCKED_LOOK, NO_FACE_MAP, PROGRESS_BAR, Handlers, LiveHandlers, describe_map, pick_face

TITLE = "facefusion-studio"
INTRO = ("Swap a face into photos and videos, offline. Add one or more photos of the source person, a target "
         "image or video, check the preview, then **Start**.")


PAGE_CSS = """
#faces .grid-wrap, #source_faces .grid-wrap { height: auto !important; min-height: 0 !important; }
#faces .grid-container, #source_faces .grid-container {
    grid-template-columns: repeat(auto-fill, 132px) !important; justify-content: start; padding-top: 28px;
}
#faces .thumbnail-item, #source_faces .thumbnail-item { width: 132px; height: auto; aspect-ratio: auto; }
#faces .thumbnail-item img, #source_faces .thumbnail-item img { width: 132px; height: 132px; object-fit: contain; }
#faces .caption-label, #source_faces .caption-label {
    position: static; white-space: normal; max-width: none; font-size: 12px; line-height: 1.25; padding: 2px 4px;
}
"""
"""Face galleries as rows of small square thumbnails, however few faces there are (the gallery would
otherwise stretch a single face across the column). Passed to ``launch``, which takes a page's css."""


WEBRTC_PAGE_SCRIPT = Path(__file__).with_name("webrtc_page.js")
"""The page's side of the low-latency mode (run by the Start and Stop buttons)."""
LIVE_EVERY = 0.05
"""Seconds between the camera frames the browser sends, when the last one is back (it waits for it)."""
LIVE_TIME_LIMIT = 600
"""Seconds of drawing one live stream may take before the browser must start it again (a page left open with
the camera on does not hold the server for ever)."""

MARK_OPTIONS = ("output_label", "output_watermark", "output_label_size", "output_label_opacity")
LOCKED_NOTE = "set by this server's operator, so that everyone who sees a result made here knows how it was made"


def mark_widget(engine: actions.Engine, name: str) -> gr.components.Component:
    """The label's text box and the watermark's checkbox: the operator's, fixed on an app others can reach."""
    if name == "output_label" and not engine.marks_locked:
        return widget(name, option_specs()[name], engine.output_label)
    if name == "output_label":
        return gr.Textbox(value=engine.output_label or "", label="Output label", interactive=False,
                          info=f"burnt visibly into every result; {LOCKED_NOTE}")
    if not engine.marks_locked:
        return default_widget(name)
    if name in LOCKED_LOOK:
        spec = option_specs()[name]
        return gr.Slider(minimum=spec.minimum or 0, maximum=spec.maximum or 100, step=spec.step, value=getattr(Options(), name),
                         label=name.replace("_", " ").capitalize(), interactive=False, info=f"{spec.help}; {LOCKED_NOTE}")
    return gr.Checkbox(value=True, label="Output watermark", interactive=False,
                       info=f"an invisible watermark in every result; {LOCKED_NOTE}")


@dataclass
class Page:
    """Every widget an event reads or writes."""

    face_map: Any
    session_id: Any
    selected_face: Any
    session_uploads: Any
    sources: Any = None
    source_gallery: Any = None
    target: Any = None
    processors: Any = None
    option_names: list[str] = field(default_factory=list)
    # Gradio adds each component class's events (change, release) at run time: the type checker cannot see them.
    option_inputs: list[Any] = field(default_factory=list)
    processor_boxes: dict[str, Any] = field(default_factory=dict)
    models_info: Any = None
    model_choice: Any = None
    model_button: Any = None
    trim: Any = None
    trim_end: Any = None
    before_after: Any = None
    preview: Any = None
    frame_slider: Any = None
    faces: Any = None
    face_source: Any = None
    map_button: Any = None
    clear_map: Any = None
    map_text: Any = None
    reference_position: Any = None
    consent: Any = None
    live_consent: Any = None
    live_virtual: Any = None
    webrtc_start: Any = None
    webrtc_stop: Any = None
    webrtc_token: Any = None
    camera: Any = None
    live_result: Any = None
    live_speed: Any = None
    start_button: Any = None
    stop_button: Any = None
    results: list[Any] = field(default_factory=list)
    """Status, progress bar, result image, result video, download, report (what a run writes after the preview)."""
    api: dict[str, Any] = field(default_factory=dict)

    @property
    def inputs(self) -> list[Any]:
        """What every preview and run reads, in Handlers.unpack's order."""
        return [self.sources, self.target, self.processors, self.reference_position, self.trim, self.trim_end,
                self.frame_slider, self.before_after, self.face_map, *self.option_inputs]


def build_ui(engine: actions.Engine, examples: list[list[Any]] | None = None) -> gr.Blocks:
    with gr.Blocks(title=TITLE, delete_cache=(900, 6 * 3600)) as demo:
        # Each browser session gets its own id, used for its stop button. Every file a page session uploaded
        # is let go when the session ends (the tab is closed or reloaded) and deleted soon after unless another
        # session or request holds the same file, not a day later, so a busy server's disk holds what its open
        # pages use.
        # A page session that ends lets its live camera's tracker and models go.
        page = Page(face_map=gr.State([]),
                    session_id=gr.State(lambda: uuid.uuid4().hex, delete_callback=engine.live.end),
                    selected_face=gr.State(None),
                    session_uploads=gr.State([], delete_callback=engine.uploads.release))
        gr.Markdown(f"# {TITLE}\n{INTRO}")
        with gr.Tabs():
            with gr.Tab("Studio", elem_id="studio-tab"):
                with gr.Row():
                    with gr.Column(scale=1):
                        _inputs_column(engine, page)
                    with gr.Column(scale=1):
                        _results_column(page)
                if examples:
                    gr.Examples(examples=examples, inputs=[page.sources, page.target],
                                label="Examples: click one, then Start")
            with gr.Tab("Live", elem_id="live-tab"):
                _live_tab(engine, page)
        _api_inputs(page)
        _wire(demo, page, Handlers(engine, page.option_names))
    return demo


def processors_info() -> str:
    """The processors' help, and which of them need a model file that the models folder lacks."""
    from ..processors import missing_models

    missing = "; ".join(f"{name} needs {models}" for name, models in missing_models().items())
    help_text = option_specs()["processors"].help
    return help_text if not missing else f"{help_text}. Not ready until a model is added (Models panel): {missing}"


def warn_missing_models(chosen: list[str]) -> None:
    """A processor checked whose model file is not in the models folder: said at once, not at Start."""
    from ..processors import missing_models

    missing = missing_models()
    for name in chosen:
        if name in missing:
            gr.Warning(f"{name} cannot run yet: it needs {missing[name]} in the models folder (Models panel below)")


def _inputs_column(engine: actions.Engine, page: Page) -> None:
    page.sources = gr.File(label="Source photos (several photos of one person make one identity)",
                           file_count="multiple", file_types=["image"], elem_id="sources")
    page.source_gallery = gr.Gallery(label="Sources (the face found in each photo)", columns=5, height="auto",
                                     object_fit="contain", interactive=False, allow_preview=False,
                                     elem_id="source_faces")
    page.target = gr.File(label="Target image or video", file_types=["image", "video"], elem_id="target")
    page.processors = gr.CheckboxGroup(choices=list(PROCESSOR_NAMES), value=list(Options().processors),
                                       label="Processors", info=processors_info())
    for group, names in grouped_option_names().items():
        processor = PROCESSOR_GROUPS.get(group)
        visible = processor is None or processor in Options().processors
        with gr.Accordion(group.capitalize(), open=group in ("face selector", "face swapper"),
                          visible=visible) as box:
            for name in names:
                page.option_names.append(name)
                page.option_inputs.append(mark_widget(engine, name) if name in MARK_OPTIONS
                                          else default_widget(name, engine.marks_locked))
        if processor is not None:
            page.processor_boxes[processor] = box
    with gr.Accordion("Models (neural engine)", open=False):
        page.models_info = gr.Markdown(actions.model_table(engine.marks_locked))
        from ..inference.catalogue import CATALOGUE

        if engine.allow_downloads:
            labels = [(f"{entry.name} ({entry.licence_label})", entry.name) for entry in CATALOGUE]
            page.model_choice = gr.Dropdown(choices=labels, multiselect=True, label="Download models")
            page.model_button = gr.Button("Download", size="sm")
        else:
            # Not even registered as an event: no client can make this server download.
            gr.Markdown("Downloads from this page are off on this server: its operator adds models "
                        "with `facefusion models download NAME` (or starts the app with "
                        "`--allow-model-downloads`).")
    with gr.Accordion("Video trim", open=False):
        page.trim = gr.Slider(0, 1, value=0, step=1, label="Trim start frame")
        page.trim_end = gr.Slider(0, 1, value=1, step=1, label="Trim end frame (not included)")


def _results_column(page: Page) -> None:
    page.before_after = gr.Checkbox(value=False, label="Show before / after side by side")
    page.preview = gr.Image(label="Preview", interactive=False, elem_id="preview", format="jpeg")
    page.frame_slider = gr.Slider(0, 1, value=0, step=1, label="Preview frame (video)", visible=False)
    page.faces = gr.Gallery(label="Faces found (click one to make it the reference)", columns=5,
                            height="auto", object_fit="contain", allow_preview=False, elem_id="faces")
    with gr.Row():
        page.face_source = gr.File(label="Own source for the clicked face", file_types=["image"],
                                   file_count="multiple")
        with gr.Column():
            page.map_button = gr.Button("Give the clicked face this source")
            page.clear_map = gr.Button("Clear face map", size="sm")
    page.map_text = gr.Markdown(NO_FACE_MAP)
    page.reference_position = gr.Number(value=0, precision=0, label="Reference face position", minimum=0)
    # Asked once per page session: the box stays ticked until the page is closed or reloaded.
    page.consent = gr.Checkbox(value=False, label=actions.CONSENT_QUESTION, elem_id="consent")
    with gr.Row():
        page.start_button = gr.Button("Start", variant="primary", elem_id="start")
        page.stop_button = gr.Button("Stop", variant="stop", elem_id="stop")
    page.results = [gr.Markdown("", elem_id="status"), gr.HTML(PROGRESS_BAR.format(percent=0)),
                    gr.Image(label="Result", interactive=False, elem_id="result-image", visible=True),
                    gr.Video(label="Result video", interactive=False, visible=False),
                    gr.File(label="Download", interactive=False), gr.Markdown("")]


LIVE_INTRO = ("Your camera with the source face, live. It uses the source photos and the options of the Studio "
              "tab; the reference face is the first face the camera shows. Frames are drawn one at a time: when the "
              "drawing is slow, the browser sends fewer. Every frame carries the invisible watermark (and the label, "
              "when one is set). For a virtual camera or a stream to OBS, use `facefusion live` on the command line.")


def _live_tab(engine: actions.Engine, page: Page) -> None:
    gr.Markdown(LIVE_INTRO)
    page.live_consent = gr.Checkbox(value=False, label=actions.CONSENT_QUESTION, elem_id="live-consent")
    # Only where the page runs on the user's own machine: a visitor must not drive the server's cameras.
    local = not engine.marks_locked
    page.live_virtual = gr.Checkbox(value=False, label="Also send the live picture to this machine's virtual camera "
                                    "(Zoom, Meet, OBS pick it as a camera)", elem_id="live-virtual",
                                    visible=local and virtual_camera_installed())
    with gr.Row():
        page.camera = gr.Image(sources=["webcam"], streaming=True, label="Camera", elem_id="live-camera",
                               webcam_options=gr.WebcamOptions(mirror=False, constraints={
                                   "video": {"width": {"ideal": 640}, "height": {"ideal": 480}}}))
        page.live_result = gr.Image(label="Live result", interactive=False, elem_id="live-result", format="jpeg")
    page.live_speed = gr.Markdown("", elem_id="live-speed")
    with gr.Accordion("Low-latency mode (WebRTC): on this machine or a LAN", open=False):
        gr.Markdown("The camera goes to the server as a video stream and comes back drawn, with no picture "
                    "uploads in between; frames that arrive while one is drawn are dropped.")
        with gr.Row():
            page.webrtc_start = gr.Button("Start low-latency camera", elem_id="live-webrtc-start")
            page.webrtc_stop = gr.Button("Stop", elem_id="live-webrtc-stop", variant="stop")
        page.webrtc_token = gr.Textbox(visible=False)
        gr.HTML('<video id="live-webrtc-video" autoplay playsinline muted style="width:100%;max-width:640px">'
                '</video><div id="live-webrtc-status"></div>')
    if local:
        with gr.Accordion("This machine: cameras, virtual camera, providers, versions (for a report)", open=False):
            gr.Markdown("\n".join(f"- {line}" for line in system_report()), elem_id="live-system")


def _api_inputs(page: Page) -> None:
    """Hidden inputs of the API endpoints: swap_image and swap_video."""
    with gr.Row(visible=False):
        page.api = {
            "inputs": [gr.File(file_count="multiple", label="sources"), gr.File(label="target"),
                       gr.Dropdown(choices=list(option_specs()["face_selector_mode"].choices or ()), value="many",
                                   label="face_selector_mode"),
                       gr.Slider(0, 100, value=Options().face_swapper_morph, label="face_swapper_morph"),
                       gr.Checkbox(value=False, label="consent")],
            "output": gr.File(label="output"),
            "image": gr.Button("swap_image"),
            "video": gr.Button("swap_video"),
        }


def _wire(demo: gr.Blocks, page: Page, handlers: Handlers) -> None:
    """Every event: which handler runs, what it reads and writes, and who may call it (only the two API
    endpoints are public; the rest are the page's own)."""
    neural_only = [page.option_inputs[page.option_names.index(name)] for name in actions.NEURAL_ONLY_OPTIONS]
    swapper_model = page.option_inputs[page.option_names.index("face_swapper_model")]
    private: dict[str, Any] = {"api_visibility": "private"}
    if page.model_button is not None:
        page.model_button.click(handlers.fetch_models, page.model_choice, page.models_info, **private) \
            .then(handlers.neural_only_state, swapper_model, neural_only, **private)
    swapper_model.change(handlers.neural_only_state, swapper_model, neural_only, **private)
    demo.load(handlers.neural_only_state, swapper_model, neural_only, **private)
    boxes = page.processor_boxes
    page.processors.change(lambda chosen: [gr.update(visible=name in chosen) for name in boxes],
                           page.processors, list(boxes.values()), **private)
    page.processors.change(warn_missing_models, page.processors, None, **private)
    page.sources.change(handlers.show_sources, page.sources, page.source_gallery, **private)
    for upload in (page.sources, page.target):
        upload.change(handlers.remember_uploads, [page.session_uploads, upload], page.session_uploads, queue=False,
                      **private)
    common: dict[str, Any] = dict(inputs=page.inputs, outputs=[page.preview, page.faces], concurrency_id="engine",
                                  trigger_mode="always_last", show_progress="minimal", **private)
    refresh = handlers.refresh_preview
    page.target.change(handlers.target_changed, page.target, [page.frame_slider, page.trim, page.trim_end],
                       **private).then(refresh, **common)
    page.sources.change(refresh, **common)
    for component in [page.processors, page.before_after, *page.option_inputs]:
        if isinstance(component, gr.Slider):
            component.release(refresh, **common)
        else:
            component.change(refresh, **common)
    page.frame_slider.release(refresh, **common)
    page.faces.select(pick_face, None, [page.reference_position, page.selected_face], **private) \
        .then(refresh, **common)
    page.map_button.click(handlers.add_mapping, [page.face_map, page.selected_face, page.face_source],
                          [page.face_map, page.map_text], **private).then(refresh, **common)
    page.clear_map.click(lambda: ([], describe_map([])), None, [page.face_map, page.map_text], **private) \
        .then(refresh, **common)
    page.start_button.click(actions.on_gpu(handlers.start_run), [page.session_id, page.consent, *page.inputs],
                            [page.preview, *page.results], concurrency_id="engine", **private)
    # The run itself says "stopped" (at the next frame): a "stopping…" reply from here could reach the
    # page after it and cover it.
    page.stop_button.click(handlers.stop_run, page.session_id, None, queue=False, **private)
    # The browser sends the next camera frame only once this one is back: at most one frame per session in flight.
    live = LiveHandlers(handlers)
    live_inputs = [page.session_id, page.live_consent, page.live_virtual, page.camera, *page.inputs]
    page.camera.stream(live.frame, live_inputs, [page.live_result, page.live_speed], stream_every=LIVE_EVERY, time_limit=LIVE_TIME_LIMIT,
                       concurrency_id="live", concurrency_limit=1, show_progress="hidden", **private)
    webrtc = WEBRTC_PAGE_SCRIPT.read_text()
    page.webrtc_start.click(live.start_webrtc, [page.session_id, page.live_consent, *page.inputs],
                            page.webrtc_token, **private).then(None, page.webrtc_token, None, js=webrtc, **private)
    page.webrtc_stop.click(None, None, None, js=f"() => ({webrtc})('')", **private)
    api = page.api
    api["image"].click(actions.on_gpu(handlers.api_swap_image), api["inputs"], api["output"], api_name="swap_image",
                       concurrency_id="engine")
    api["video"].click(actions.on_gpu(handlers.api_swap_video), api["inputs"], api["output"], api_name="swap_video",
                       concurrency_id="engine")
