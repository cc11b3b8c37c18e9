"""Widgets built from the option definitions, and their values turned back into Options.

Every choice list, range, default and help text comes from facefusion.options: nothing is written
twice."""
from __future__ import annotations

from typing import Any

import gradio as gr

from ..errors import InvalidInputError
from ..inference.resolve import served_model_option
from ..options import PROCESSOR_NAMES, Options, OptionSpec, is_text_option, make_options, option_specs

# Options the page shows elsewhere or sets itself.
HANDLED_ELSEWHERE = {"processors", "reference_face_position", "trim_frame_start", "trim_frame_end"}
PROCESSOR_GROUPS = {name.replace("_", " "): name for name in PROCESSOR_NAMES}
"""Option groups shown only while their processor is checked (each processor's options are grouped by its name)."""


def choice_label(choice: object, name: str) -> str:
    """How a choice is shown: catalogue models carry their licence mark; execution providers this
    installation lacks say so (choosing one is refused with what to install)."""
    from ..inference.catalogue import CATALOGUE

    if name == "execution_providers":
        from ..inference.runtime import available_providers

        return str(choice) if choice in available_providers() else f"{choice} (not in this installation)"

    from ..inference.catalogue import DETECTOR_ALIASES
    from ..inference.embedded import find_embedded

    embedded = find_embedded(str(choice))
    if embedded is not None:
        return f"{choice} (no download; {embedded.note})"

    name = DETECTOR_ALIASES.get(str(choice), str(choice))
    for entry in CATALOGUE:
        if entry.name == name and entry.non_commercial:
            return f"{choice} ({entry.licence_label})"
    return str(choice)


def _label(name: str) -> str:
    return name.replace("_", " ").capitalize()


def widget(name: str, spec: OptionSpec, default: Any, exposed: bool = False) -> gr.components.Component:
    """The option's widget; on an app others reach, model choices take no typed path (see
    served_model_option)."""
    label, info = _label(name), spec.help
    if isinstance(default, bool):
        return gr.Checkbox(value=default, label=label, info=info)
    if spec.choices is not None and spec.multiple:
        return gr.CheckboxGroup(choices=[(choice_label(choice, name), choice) for choice in spec.choices],
                                value=list(default), label=label, info=info)
    if spec.choices is not None:
        return gr.Dropdown(choices=[(choice_label(choice, name), choice) for choice in spec.choices], value=default,
                           label=label, info=info + ("; or type the path of an .onnx file on this machine"
                                                     if spec.accepts_onnx_path and not exposed else ""),
                           allow_custom_value=spec.accepts_onnx_path and not exposed)
    if spec.multiple:
        return gr.Textbox(value=" ".join(map(str, default)), label=label, info=f"{info} (e.g. 0 or 10 0 5 0)")
    if is_text_option(name):
        return gr.Textbox(value=default or "", label=label, info=f"{info}; leave empty for none")
    if default is None:
        return gr.Number(value=None, label=label, info=f"{info}; leave empty for the default",
                         minimum=spec.minimum, maximum=spec.maximum)
    return gr.Slider(minimum=spec.minimum or 0, maximum=spec.maximum or 100, step=spec.step, value=default,
                     label=label, info=info)


def grouped_option_names() -> dict[str, list[str]]:
    """Option names by group (as the CLI groups them), without those the page handles itself."""
    groups: dict[str, list[str]] = {}
    for name, spec in option_specs().items():
        if name not in HANDLED_ELSEWHERE:
            groups.setdefault(spec.group, []).append(name)
    return groups


def default_widget(name: str, exposed: bool = False) -> gr.components.Component:
    return widget(name, option_specs()[name], getattr(Options(), name), exposed)


def values_to_options(names: list[str], values: list[Any], exposed: bool = False, **fixed: Any) -> Options:
    """Options from widget values (in the order of ``names``) plus values the page sets itself; ``exposed``:
    model files only from the models folder."""
    specs = option_specs()
    converted: dict[str, Any] = {}
    for name, value in zip(names, values):
        spec = specs[name]
        if spec.multiple and spec.choices is None:
            try:
                value = [int(part) for part in str(value).replace(",", " ").split()]
            except ValueError as error:
                raise InvalidInputError(f"{_label(name)}: give whole numbers separated by spaces") from error
        elif is_text_option(name):
            value = str(value).strip() or None if value is not None else None
        elif spec.choices is None and value is not None and not spec.multiple:
            default = getattr(Options(), name)
            if isinstance(default, bool):
                value = bool(value)
            elif isinstance(default, int):
                value = int(round(value))
            elif isinstance(default, float) or default is None:
                value = float(value) if value not in ("", None) else None
        converted[name] = served_model_option(name, value) if exposed else value
    converted.update(fixed)
    return make_options(**converted)
