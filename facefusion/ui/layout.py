"""The page: one column of inputs and options, one of preview and results. Events after layout."""

import uuid
from collections.abc import Iterator
from typing import Any

import gradio as gr

from ..options import PROCESSOR_NAMES, Options, option_specs
from ..processors import MISSING_SOURCE, needs_source
from ..safety.consent import require_consent
from . import actions
from .controls import PROCESSOR_GROUPS, default_widget, grouped_option_names, values_to_options, widget

TITLE = "facefusion-studio"
INTRO = ("Swap a face into photos and videos, offline. Add one or more photos of the source person, a target "
         "image or video, check the preview, then **Start**.")
PROGRESS_BAR = ('<div style="height:10px;border-radius:5px;background:#e5e7eb;overflow:hidden">'
                '<div style="height:100%;width:{percent:.1f}%;background:#f97316"></div></div>')


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


MARK_OPTIONS = ("output_label", "output_watermark", "output_label_size", "output_label_opacity")
LOCKED_LOOK = ("output_label_size", "output_label_opacity")
"""How large and how opaque the label is: fixed with it (an opacity of 0 would hide it)."""
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


def build_ui(engine: actions.Engine, examples: list[list[Any]] | None = None) -> gr.Blocks:
    groups = grouped_option_names()
    option_names: list[str] = []
    # Gradio adds each component class's events (change, release) at run time: the type checker cannot see them.
    option_inputs: list[Any] = []
    processor_boxes: dict[str, gr.Group] = {}

    with gr.Blocks(title=TITLE, delete_cache=(900, 6 * 3600)) as demo:
        face_map = gr.State([])
        # Each browser session gets its own id, used for its stop button.
        session_id = gr.State(lambda: uuid.uuid4().hex)
        selected_face = gr.State(None)
        # Every file this page session uploaded: let go when the session ends (the tab is closed or
        # reloaded) and deleted soon after unless another session or request holds the same file, not a
        # day later, so a busy server's disk holds what its open pages use.
        session_uploads = gr.State([], delete_callback=engine.uploads.release)
        gr.Markdown(f"# {TITLE}\n{INTRO}")
        with gr.Row():
            with gr.Column(scale=1):
                sources = gr.File(label="Source photos (several photos of one person make one identity)",
                                  file_count="multiple", file_types=["image"], elem_id="sources")
                source_gallery = gr.Gallery(label="Sources (the face found in each photo)", columns=5, height="auto",
                                            object_fit="contain", interactive=False, allow_preview=False,
                                            elem_id="source_faces")
                target = gr.File(label="Target image or video", file_types=["image", "video"], elem_id="target")
                processors = gr.CheckboxGroup(choices=list(PROCESSOR_NAMES), value=list(Options().processors),
                                              label="Processors", info=option_specs()["processors"].help)
                for group, names in groups.items():
                    processor = PROCESSOR_GROUPS.get(group)
                    visible = processor is None or processor in Options().processors
                    with gr.Accordion(group.capitalize(), open=group in ("face selector", "face swapper"),
                                      visible=visible) as box:
                        for name in names:
                            option_names.append(name)
                            option_inputs.append(mark_widget(engine, name) if name in MARK_OPTIONS
                                                 else default_widget(name, engine.marks_locked))
                    if processor is not None:
                        processor_boxes[processor] = box
                with gr.Accordion("Models (neural engine)", open=False):
                    models_info = gr.Markdown(actions.model_table(engine.marks_locked))
                    from ..inference.catalogue import CATALOGUE

                    model_button = None
                    if engine.allow_downloads:
                        labels = [(f"{entry.name}{' (non-commercial)' if entry.non_commercial else ''}", entry.name)
                                  for entry in CATALOGUE]
                        model_choice = gr.Dropdown(choices=labels, multiselect=True, label="Download models")
                        model_button = gr.Button("Download", size="sm")
                    else:
                        # Not even registered as an event: no client can make this server download.
                        gr.Markdown("Downloads from this page are off on this server: its operator adds models "
                                    "with `facefusion models download NAME` (or starts the app with "
                                    "`--allow-model-downloads`).")
                with gr.Accordion("Video trim", open=False):
                    trim = gr.Slider(0, 1, value=0, step=1, label="Trim start frame")
                    trim_end = gr.Slider(0, 1, value=1, step=1, label="Trim end frame (not included)")
            with gr.Column(scale=1):
                before_after = gr.Checkbox(value=False, label="Show before / after side by side")
                preview = gr.Image(label="Preview", interactive=False, elem_id="preview", format="jpeg")
                frame_slider = gr.Slider(0, 1, value=0, step=1, label="Preview frame (video)", visible=False)
                faces = gr.Gallery(label="Faces found (click one to make it the reference)", columns=5,
                                   height="auto", object_fit="contain", allow_preview=False, elem_id="faces")
                with gr.Row():
                    face_source = gr.File(label="Own source for the clicked face", file_types=["image"],
                                          file_count="multiple")
                    with gr.Column():
                        map_button = gr.Button("Give the clicked face this source")
                        clear_map = gr.Button("Clear face map", size="sm")
                map_text = gr.Markdown("Face map: none (the source photos go to the selected faces).")
                reference_position = gr.Number(value=0, precision=0, label="Reference face position", minimum=0)
                # Asked once per page session: the box stays ticked until the page is closed or reloaded.
                consent = gr.Checkbox(value=False, label=actions.CONSENT_QUESTION, elem_id="consent")
                with gr.Row():
                    start_button = gr.Button("Start", variant="primary", elem_id="start")
                    stop_button = gr.Button("Stop", variant="stop", elem_id="stop")
                status = gr.Markdown("", elem_id="status")
                bar = gr.HTML(PROGRESS_BAR.format(percent=0))
                result_image = gr.Image(label="Result", interactive=False, elem_id="result-image", visible=True)
                result_video = gr.Video(label="Result video", interactive=False, visible=False)
                download = gr.File(label="Download", interactive=False)
                report = gr.Markdown("")
        if examples:
            gr.Examples(examples=examples, inputs=[sources, target], label="Examples: click one, then Start")

        # Hidden inputs of the API endpoints: swap_image and swap_video.
        with gr.Row(visible=False):
            api_sources = gr.File(file_count="multiple", label="sources")
            api_target = gr.File(label="target")
            api_mode = gr.Dropdown(choices=list(option_specs()["face_selector_mode"].choices or ()), value="many",
                                   label="face_selector_mode")
            api_morph = gr.Slider(0, 100, value=Options().face_swapper_morph, label="face_swapper_morph")
            api_consent = gr.Checkbox(value=False, label="consent")
            api_output = gr.File(label="output")
            api_image_button = gr.Button("swap_image")
            api_video_button = gr.Button("swap_video")

        def current_options(values: list[Any], chosen: list[str], position: Any, start_frame: Any,
                            end_frame: Any, length: int) -> Options:
            fixed: dict[str, Any] = {"processors": chosen or ["face_swapper"],
                                     "reference_face_position": int(position or 0)}
            if engine.marks_locked:
                fixed.update(output_label=engine.output_label, output_watermark=True,
                             **{name: getattr(Options(), name) for name in LOCKED_LOOK})
            if length > 1:
                fixed["trim_frame_start"] = int(start_frame) if start_frame else None
                fixed["trim_frame_end"] = int(end_frame) if end_frame and int(end_frame) < length else None
            return values_to_options(option_names, values, engine.marks_locked, **fixed)

        page_inputs = [sources, target, processors, reference_position, trim, trim_end, frame_slider, before_after,
                       face_map, *option_inputs]

        def unpack(values: tuple[Any, ...]) -> tuple[list[str], str | None, Options, int, list[str], bool]:
            (source_files, target_file, chosen, position, start_frame, end_frame, frame_number, side_by_side,
             mapping, *option_values) = values
            target_path = actions.file_path(target_file)
            length = actions.video_length(target_path) if target_path else 1
            options = current_options(option_values, chosen, position, start_frame, end_frame, length)
            return actions.source_paths(source_files), target_path, options, int(frame_number or 0), mapping, \
                bool(side_by_side)

        @actions.user_errors
        def refresh_preview(*values: Any) -> tuple[Any, Any]:
            sources_list, target_path, options, frame_number, mapping, side_by_side = unpack(values)
            if not target_path:
                return None, []
            actions.check_target(target_path)
            image, gallery = actions.preview(engine, options, sources_list, target_path, frame_number, mapping,
                                             side_by_side)
            return image, gallery

        @actions.user_errors
        def target_changed(target_file: Any) -> tuple[Any, Any, Any]:
            path = actions.file_path(target_file)
            if path:
                actions.check_target(path)
            length = actions.video_length(path) if path else 1
            return (gr.update(maximum=max(length - 1, 1), value=0, visible=length > 1),
                    gr.update(maximum=max(length - 1, 1), value=0),
                    gr.update(maximum=max(length, 1), value=length))

        def show_sources(files: Any) -> list[tuple[Any, str]]:
            return actions.source_thumbnails(engine, actions.source_paths(files))

        neural_only = [option_inputs[option_names.index(name)] for name in actions.NEURAL_ONLY_OPTIONS]
        swapper_model = option_inputs[option_names.index("face_swapper_model")]

        def neural_only_state(choice: str) -> list[Any]:
            """Options the embedded engine ignores are shown disabled, saying why, while it runs."""
            embedded = actions.embedded_swapper_runs(str(choice))
            return [gr.update(interactive=not embedded,
                              info=(actions.NEURAL_ONLY_NOTE + " " if embedded else "") + option_specs()[name].help)
                    for name in actions.NEURAL_ONLY_OPTIONS]

        def pick_face(event: gr.SelectData) -> tuple[int, int]:
            return event.index, event.index

        @actions.user_errors
        def add_mapping(mapping: list[str], position: Any, files: Any) -> tuple[list[str], str]:
            paths = actions.source_paths(files)
            if position is None:
                raise gr.Error("click a face in 'Faces found' first", print_exception=False)
            if not paths:
                raise gr.Error("upload a source photo for that face first", print_exception=False)
            entries = [entry for entry in mapping if not entry.startswith(f"{position}=")]
            entries.append(f"{position}={','.join(paths)}")
            return entries, describe_map(entries)

        def describe_map(entries: list[str]) -> str:
            if not entries:
                return "Face map: none (the source photos go to the selected faces)."
            parts = [f"face {entry.split('=', 1)[0]} ← {len(entry.split('=', 1)[1].split(','))} photo(s)" for entry in entries]
            return "Face map: " + "; ".join(parts)

        @actions.on_gpu
        @actions.user_errors_stream
        def start_run(session: str, agreed: bool, *values: Any) -> Iterator[tuple[Any, ...]]:
            if not agreed:
                yield (gr.update(), actions.CONSENT_NEEDED, PROGRESS_BAR.format(percent=0), gr.update(), gr.update(),
                       gr.update(), "")
                return
            sources_list, target_path, options, frame_number, mapping, _ = unpack(values)
            target_path = actions.check_target(target_path)
            is_video = actions.video_length(target_path) > 1
            if not sources_list and not mapping and needs_source(options.processors):
                raise gr.Error(MISSING_SOURCE, print_exception=False)
            yield (gr.update(), "starting…", PROGRESS_BAR.format(percent=0), gr.update(value=None, visible=not is_video),
                   gr.update(value=None, visible=is_video), None, "")
            for update in actions.start(engine, session, options, sources_list,
                                        target_path, mapping, frame_number):
                yield (update.live if update.live is not None else gr.update(), update.status,
                       PROGRESS_BAR.format(percent=update.fraction * 100),
                       gr.update(value=update.image) if update.image else gr.update(),
                       gr.update(value=update.video) if update.video else gr.update(),
                       update.download if update.download else gr.update(), update.report or gr.update())

        def stop_run(session: str) -> None:
            engine.stop_flag(session).set()

        def api_request(files: Any, target_file: Any, mode: str, morph: float, agreed: bool, video: bool) -> str:
            require_consent(agreed, "pass consent=True, the fifth argument")
            options = Options(face_selector_mode=mode, face_swapper_morph=int(morph), output_label=engine.output_label)
            inputs = [*actions.source_paths(files), actions.file_path(target_file) or ""]
            engine.uploads.hold(inputs)
            try:
                return actions.api_swap(engine, inputs[:-1], inputs[-1], options, video)
            finally:
                engine.uploads.release(inputs)  # the request is over, whatever its end

        @actions.on_gpu
        @actions.user_errors
        def api_swap_image(files: Any, target_file: Any, mode: str, morph: float, agreed: bool) -> str:
            return api_request(files, target_file, mode, morph, agreed, video=False)

        @actions.on_gpu
        @actions.user_errors
        def api_swap_video(files: Any, target_file: Any, mode: str, morph: float, agreed: bool) -> str:
            return api_request(files, target_file, mode, morph, agreed, video=True)

        @actions.user_errors
        def fetch_models(names: list[str], progress: gr.Progress = gr.Progress()) -> str:
            table = actions.download_models(names, lambda fraction, text: progress(fraction, desc=text))
            engine.forget_analysers()
            return table

        def remember_uploads(known: list[str], value: Any) -> list[str]:
            new = sorted(set(actions.source_paths(value)) - set(known))
            engine.uploads.hold(new)
            return known + new

        # Events.
        if model_button is not None:
            model_button.click(fetch_models, model_choice, models_info, api_visibility="private") \
                .then(neural_only_state, swapper_model, neural_only, api_visibility="private")
        swapper_model.change(neural_only_state, swapper_model, neural_only, api_visibility="private")
        demo.load(neural_only_state, swapper_model, neural_only, api_visibility="private")
        processors.change(lambda chosen: [gr.update(visible=name in chosen) for name in processor_boxes],
                          processors, list(processor_boxes.values()), api_visibility="private")
        sources.change(show_sources, sources, source_gallery, api_visibility="private")
        for upload in (sources, target):
            upload.change(remember_uploads, [session_uploads, upload], session_uploads, api_visibility="private",
                          queue=False)
        preview_outputs = [preview, faces]
        common: dict[str, Any] = dict(inputs=page_inputs, outputs=preview_outputs, api_visibility="private",
                      concurrency_id="engine", trigger_mode="always_last", show_progress="minimal")
        target.change(target_changed, target, [frame_slider, trim, trim_end], api_visibility="private") \
            .then(refresh_preview, **common)
        sources.change(refresh_preview, **common)
        for component in [processors, before_after, *option_inputs]:
            if isinstance(component, gr.Slider):
                component.release(refresh_preview, **common)
            else:
                component.change(refresh_preview, **common)
        frame_slider.release(refresh_preview, **common)
        faces.select(pick_face, None, [reference_position, selected_face], api_visibility="private") \
            .then(refresh_preview, **common)
        map_button.click(add_mapping, [face_map, selected_face, face_source], [face_map, map_text],
                         api_visibility="private").then(refresh_preview, **common)
        clear_map.click(lambda: ([], describe_map([])), None, [face_map, map_text], api_visibility="private") \
            .then(refresh_preview, **common)
        start_button.click(start_run, [session_id, consent, *page_inputs], [preview, status, bar, result_image, result_video, download, report],
                           api_visibility="private", concurrency_id="engine")
        # The run itself says "stopped" (at the next frame): a "stopping…" reply from here could reach the
        # page after it and cover it.
        stop_button.click(stop_run, session_id, None, api_visibility="private", queue=False)
        api_image_button.click(api_swap_image, [api_sources, api_target, api_mode, api_morph, api_consent],
                               api_output, api_name="swap_image", concurrency_id="engine")
        api_video_button.click(api_swap_video, [api_sources, api_target, api_mode, api_morph, api_consent],
                               api_output, api_name="swap_video", concurrency_id="engine")
    return demo
