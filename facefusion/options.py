"""Every user-facing option, defined once.

Each field of :class:`Options` carries an :class:`OptionSpec` in its metadata: the CLI builds its
flags from it, the web UI its widgets, and :func:`validate` checks values from any front end against
it. Choices are ``Literal`` types read with ``get_args``, so a choice list is never written twice.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from .errors import InvalidInputError
from .media.video import PRESETS, available_encoders

FaceSelectorMode = Literal["many", "one", "reference"]
FaceSelectorOrder = Literal[
    "left-right", "right-left", "top-bottom", "bottom-top",
    "small-large", "large-small", "best-worst", "worst-best",
]
FaceMaskRegion = Literal["brows-to-chin", "face-oval", "inner-face"]
FaceBlendMethod = Literal["multiband", "poisson", "feather"]
FaceMaskType = Literal["box", "occlusion", "region"]
FaceMaskRegionName = Literal["skin", "left-eyebrow", "right-eyebrow", "left-eye", "right-eye", "glasses", "nose",
                             "mouth", "upper-lip", "lower-lip"]
FaceDetectorModel = Literal["auto", "mediapipe", "yolo_face", "retinaface", "scrfd", "many"]
FaceDetectorSize = Literal[160, 320, 480, 512, 640]
FaceDetectorAngle = Literal[0, 90, 180, 270]
FaceRecogniserModel = Literal["auto", "dlib", "arcface_w600k_r50"]
FaceOccluderModel = Literal["xseg_1", "xseg_2", "xseg_3"]
FaceParserModel = Literal["bisenet_resnet_34", "bisenet_resnet_18"]
FaceSwapperModel = Literal["auto", "landmark", "inswapper_128", "inswapper_128_fp16", "hyperswap_1a_256", "simswap_256"]
FaceSwapperPixelBoost = Literal[128, 256, 384, 512, 768, 1024]
ExecutionProvider = Literal["cuda", "tensorrt", "rocm", "coreml", "directml", "openvino", "cpu"]
FaceDebuggerItem = Literal["bounding-box", "face-landmark-5", "face-mesh", "face-mask", "score"]
ProcessorName = Literal["face_swapper", "face_enhancer", "frame_enhancer", "face_debugger", "background_remover",
                        "age_modifier", "face_editor", "expression_restorer"]
ExpressionRestorerArea = Literal["upper-face", "lower-face"]
FaceEditorModel = Literal["auto", "landmark", "live_portrait"]
AgeModifierModel = Literal["fran", "styleganex_age"]
FaceEnhancerModel = Literal["auto", "gfpgan_1.4", "codeformer", "gpen_bfr_512", "restoreformer_plus_plus"]
FrameEnhancerModel = Literal["auto", "real_esrgan_x4_embedded", "real_esrgan_x2_embedded",
                             "realesr_animevideo_x4_embedded", "realesr_animevideo_x2_embedded", "real_esrgan_x2",
                             "real_esrgan_x2_fp16", "real_esrgan_x4", "real_esrgan_x4_fp16"]

BackgroundRemoverModel = Literal["auto", "mediapipe", "modnet", "rmbg_2.0", "rmbg_1.4", "birefnet_general",
                                 "birefnet_portrait", "ben_2", "isnet_general", "ormbg", "u2net_human", "u2net_general",
                                 "u2netp", "silueta", "u2net_cloth"]

FACE_SELECTOR_MODES: tuple[str, ...] = get_args(FaceSelectorMode)
FACE_SELECTOR_ORDERS: tuple[str, ...] = get_args(FaceSelectorOrder)
FACE_MASK_REGIONS: tuple[str, ...] = get_args(FaceMaskRegion)
FACE_BLEND_METHODS: tuple[str, ...] = get_args(FaceBlendMethod)
FACE_MASK_TYPES: tuple[str, ...] = get_args(FaceMaskType)
FACE_MASK_REGION_NAMES: tuple[str, ...] = get_args(FaceMaskRegionName)
FACE_DETECTOR_MODELS: tuple[str, ...] = get_args(FaceDetectorModel)
FACE_DETECTOR_SIZES: tuple[int, ...] = get_args(FaceDetectorSize)
FACE_DETECTOR_ANGLES: tuple[int, ...] = get_args(FaceDetectorAngle)
FACE_RECOGNISER_MODELS: tuple[str, ...] = get_args(FaceRecogniserModel)
FACE_OCCLUDER_MODELS: tuple[str, ...] = get_args(FaceOccluderModel)
FACE_PARSER_MODELS: tuple[str, ...] = get_args(FaceParserModel)
FACE_SWAPPER_MODELS: tuple[str, ...] = get_args(FaceSwapperModel)
FACE_SWAPPER_PIXEL_BOOSTS: tuple[int, ...] = get_args(FaceSwapperPixelBoost)
EXECUTION_PROVIDERS: tuple[str, ...] = get_args(ExecutionProvider)
FACE_DEBUGGER_ITEMS: tuple[str, ...] = get_args(FaceDebuggerItem)
PROCESSOR_NAMES: tuple[str, ...] = get_args(ProcessorName)
FACE_ENHANCER_MODELS: tuple[str, ...] = get_args(FaceEnhancerModel)
FRAME_ENHANCER_MODELS: tuple[str, ...] = get_args(FrameEnhancerModel)
BACKGROUND_REMOVER_MODELS: tuple[str, ...] = get_args(BackgroundRemoverModel)
AGE_MODIFIER_MODELS: tuple[str, ...] = get_args(AgeModifierModel)
FACE_EDITOR_MODELS: tuple[str, ...] = get_args(FaceEditorModel)
EXPRESSION_RESTORER_AREAS: tuple[str, ...] = get_args(ExpressionRestorerArea)
OutputLabelPosition = Literal["bottom-right", "bottom-left", "top-right", "top-left"]
OUTPUT_LABEL_POSITIONS: tuple[str, ...] = get_args(OutputLabelPosition)
MAX_LABEL_LENGTH = 60


@dataclass(frozen=True)
class OptionSpec:
    """How one option is shown and checked, whatever the front end."""

    flag: str
    help: str
    group: str
    choices: tuple[Any, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    multiple: bool = False
    """The option takes a list of values (``nargs='+'`` on the CLI, a multi-select in the UI)."""
    accepts_onnx_path: bool = False
    """Besides its choices, the option takes the path of a user's own .onnx file."""
    max_items: int | None = None


def _option(default: Any, spec: OptionSpec) -> Any:
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"spec": spec})
    return field(default=default, metadata={"spec": spec})


@dataclass(frozen=True)
class Options:
    """The settings of one run. Immutable: make a changed copy with :meth:`replace`."""

    processors: list[ProcessorName] = _option(["face_swapper"], OptionSpec(
        "--processors", "processors to run on each frame, in this order", "processors",
        choices=PROCESSOR_NAMES, multiple=True))
    face_detector_model: str = _option("auto", OptionSpec(
        "--face-detector-model", "face detector: auto (a neural detector in the models folder, yolo_face then "
        "retinaface then scrfd, else the embedded one), mediapipe (embedded, offline), yolo_face (GPL-3.0), "
        "retinaface / scrfd (NON-COMMERCIAL), many (every detector present, merged: finds the most faces), or "
        "the path of your own .onnx detector shaped like SCRFD or YOLOv8-face", "face detector",
        choices=FACE_DETECTOR_MODELS, accepts_onnx_path=True))
    face_detector_size: FaceDetectorSize = _option(640, OptionSpec(
        "--face-detector-size", "side of the square a neural detector sees the frame in: larger finds smaller "
        "faces, slower (yolo_face always 640)", "face detector", choices=FACE_DETECTOR_SIZES))
    face_detector_angles: list[FaceDetectorAngle] = _option([0, 90, 270, 180], OptionSpec(
        "--face-detector-angles", "turns of the picture (degrees, clockwise) the detector tries, in this order, "
        "until one finds faces: a photo or clip lying on its side or upside down is still swapped; give only 0 "
        "to look at pictures as they are (faster on videos with long stretches without a face). Tilted heads "
        "need no angle: each face's mesh is fitted upright", "face detector", choices=FACE_DETECTOR_ANGLES,
        multiple=True, max_items=4))
    face_detector_score: float = _option(0.5, OptionSpec(
        "--face-detector-score", "minimum detector confidence for a face to count", "face detector",
        minimum=0.0, maximum=1.0, step=0.05))
    face_detector_min_size: int = _option(40, OptionSpec(
        "--face-detector-min-size",
        "smallest face to look for, in pixels of the image; smaller values search more tiles (slower)",
        "face detector", minimum=16, maximum=1024, step=1))
    face_selector_mode: FaceSelectorMode = _option("reference", OptionSpec(
        "--face-selector-mode",
        "which target faces to process: all (many), the first in order (one), or those that look like "
        "the reference face (reference)", "face selector", choices=FACE_SELECTOR_MODES))
    face_selector_order: FaceSelectorOrder = _option("large-small", OptionSpec(
        "--face-selector-order", "how target faces are ordered (positions in --reference-face-position "
        "and --face-map count in this order)", "face selector", choices=FACE_SELECTOR_ORDERS))
    reference_face_position: int = _option(0, OptionSpec(
        "--reference-face-position", "position, in the chosen order, of the reference face in the "
        "reference image", "face selector", minimum=0, maximum=1000, step=1))
    reference_face_distance: float = _option(0.6, OptionSpec(
        "--reference-face-distance", "largest identity distance at which a target face counts as the reference "
        "person; 0.6 is the usual threshold of both recognisers (dlib: Euclidean; ArcFace: 1 - cosine)",
        "face selector", minimum=0.0, maximum=1.5, step=0.05))
    face_recogniser_model: str = _option("auto", OptionSpec(
        "--face-recogniser-model", "what tells people apart for reference matching and face maps: auto "
        "(arcface_w600k_r50 when its file is in the models folder, else dlib), dlib (embedded, offline), "
        "arcface_w600k_r50 (NON-COMMERCIAL), or your own .onnx file with ArcFace's input and output",
        "face selector", choices=FACE_RECOGNISER_MODELS, accepts_onnx_path=True))
    face_mask_region: FaceMaskRegion = _option("face-oval", OptionSpec(
        "--face-mask-region", "part of the face that is replaced", "face mask", choices=FACE_MASK_REGIONS))
    face_mask_padding: list[int] = _option([0, 0, 0, 0], OptionSpec(
        "--face-mask-padding", "shrink the mask from the top, right, bottom and left, in percent of the "
        "face (1 to 4 values, as in CSS)", "face mask", minimum=0, maximum=100, step=1, multiple=True,
        max_items=4))
    face_mask_blur: float = _option(0.3, OptionSpec(
        "--face-mask-blur", "feathering of the mask edge", "face mask", minimum=0.0, maximum=1.0, step=0.05))
    face_mask_types: list[FaceMaskType] = _option(["box"], OptionSpec(
        "--face-mask-types", "neural engine: masks combined with the box: occlusion (--face-occluder-model: keeps "
        "hands, hair, microphones in front) and region (--face-parser-model: only the chosen face regions)",
        "face mask", choices=FACE_MASK_TYPES, multiple=True))
    face_occluder_model: str = _option("xseg_1", OptionSpec(
        "--face-occluder-model", "occlusion mask model (XSeg, GPL-3.0) or your own .onnx file of its shape",
        "face mask", choices=FACE_OCCLUDER_MODELS, accepts_onnx_path=True))
    face_parser_model: str = _option("bisenet_resnet_34", OptionSpec(
        "--face-parser-model", "region mask model (BiSeNet face parsing, MIT) or your own .onnx file of its shape",
        "face mask", choices=FACE_PARSER_MODELS, accepts_onnx_path=True))
    face_mask_regions: list[str] = _option(list(get_args(FaceMaskRegionName)), OptionSpec(
        "--face-mask-regions", "face regions the region mask keeps", "face mask", choices=FACE_MASK_REGION_NAMES,
        multiple=True))
    face_swapper_model: str = _option("auto", OptionSpec(
        "--face-swapper-model", "swapping engine: auto (the best model present in the models folder, else the "
        "offline engine), landmark (offline classical swapper), inswapper_128 / inswapper_128_fp16 / "
        "hyperswap_1a_256 / simswap_256 (neural, all NON-COMMERCIAL licences), or the path of your own .onnx file "
        "with inswapper's inputs and outputs",
        "face swapper", choices=FACE_SWAPPER_MODELS, accepts_onnx_path=True))
    face_swapper_weight: float = _option(0.5, OptionSpec(
        "--face-swapper-weight", "neural swappers: 0.5 uses the source identity as it is; lower keeps some of "
        "the target's, higher pushes away from it", "face swapper", minimum=0.0, maximum=1.0, step=0.05))
    face_swapper_pixel_boost: FaceSwapperPixelBoost = _option(128, OptionSpec(
        "--face-swapper-pixel-boost", "resolution the neural swapper works at (the model runs on interleaved "
        "parts of a larger crop): higher is sharper and slower", "face swapper", choices=FACE_SWAPPER_PIXEL_BOOSTS))
    face_swapper_morph: int = _option(80, OptionSpec(
        "--face-swapper-morph", "how far the face's shape moves from the target's toward the source's "
        "(pose and expression kept): 100 carries the most identity, 0 is the safest",
        "face swapper", minimum=0, maximum=100, step=1))
    face_swapper_blend_method: FaceBlendMethod = _option("multiband", OptionSpec(
        "--face-swapper-blend-method", "how the new face is blended into the image", "face swapper",
        choices=FACE_BLEND_METHODS))
    face_enhancer_model: str = _option("auto", OptionSpec(
        "--face-enhancer-model", "face restoration model (needs its file in the models folder: `facefusion models "
        "download`): gfpgan_1.4 (Apache-2.0), codeformer (NON-COMMERCIAL), gpen_bfr_512 (NON-COMMERCIAL), "
        "restoreformer_plus_plus (Apache-2.0), or your own .onnx file", "face enhancer",
        choices=FACE_ENHANCER_MODELS, accepts_onnx_path=True))
    face_enhancer_blend: int = _option(80, OptionSpec(
        "--face-enhancer-blend", "how much of the restored face is kept (percent)", "face enhancer",
        minimum=0, maximum=100, step=1))
    face_enhancer_weight: float = _option(0.5, OptionSpec(
        "--face-enhancer-weight", "CodeFormer only: 0 restores more, 1 stays closer to the input", "face enhancer",
        minimum=0.0, maximum=1.0, step=0.05))
    frame_enhancer_model: str = _option("auto", OptionSpec(
        "--frame-enhancer-model", "upscaling model, all Real-ESRGAN (BSD-3-Clause): the *_embedded ones need no "
        "download (real_esrgan_* for photos, slow on a CPU; realesr_animevideo_* fast but cartoon-looking on photos), "
        "the others need their file in the models folder; or your own .onnx file; auto: a downloaded file when "
        "there is one, else real_esrgan_x4_embedded", "frame enhancer", choices=FRAME_ENHANCER_MODELS,
        accepts_onnx_path=True))
    frame_enhancer_blend: int = _option(80, OptionSpec(
        "--frame-enhancer-blend", "how much of the upscaled picture is kept over a plain resize (percent)",
        "frame enhancer", minimum=0, maximum=100, step=1))
    face_debugger_items: list[FaceDebuggerItem] = _option(["bounding-box", "face-landmark-5", "face-mask"], OptionSpec(
        "--face-debugger-items", "what face_debugger draws", "face debugger",
        choices=FACE_DEBUGGER_ITEMS, multiple=True))
    age_modifier_model: str = _option("fran", OptionSpec(
        "--age-modifier-model", "age model (needs its file in the models folder): fran (MIT), styleganex_age "
        "(NON-COMMERCIAL, S-Lab License 1.0), or your own .onnx file with fran's inputs", "age modifier",
        choices=AGE_MODIFIER_MODELS, accepts_onnx_path=True))
    age_modifier_direction: int = _option(0, OptionSpec(
        "--age-modifier-direction", "how much older (up to 100) or younger (down to -100); fran reads it as years",
        "age modifier", minimum=-100, maximum=100, step=1))
    age_modifier_current_age: int | None = _option(None, OptionSpec(
        "--age-modifier-current-age", "the faces' present age in years, for fran; by default FairFace estimates "
        "it when its file is in the models folder, else 30 is taken (and said)", "age modifier", minimum=1,
        maximum=100, step=1))
    expression_restorer_model: Literal["live_portrait"] = _option("live_portrait", OptionSpec(
        "--expression-restorer-model", "expression restorer: live_portrait (MIT; its feature extractor, motion "
        "extractor and generator files in the models folder)", "expression restorer", choices=("live_portrait",)))
    expression_restorer_factor: int = _option(80, OptionSpec(
        "--expression-restorer-factor", "how much of the target's own expression comes back (100 a little more than "
        "all of it)", "expression restorer", minimum=0, maximum=100, step=1))
    expression_restorer_areas: list[ExpressionRestorerArea] = _option(["upper-face", "lower-face"], OptionSpec(
        "--expression-restorer-areas", "where the target's expression comes back: upper-face (brows, eyes), "
        "lower-face (mouth)", "expression restorer", choices=EXPRESSION_RESTORER_AREAS, multiple=True))
    face_editor_model: str = _option("auto", OptionSpec(
        "--face-editor-model", "face editor: landmark (embedded, offline: the face's own mesh warped; every slider "
        "but the head's), live_portrait (MIT; its six files in the models folder; every slider), auto: "
        "live_portrait when its files are there, else landmark", "face editor", choices=FACE_EDITOR_MODELS))
    face_editor_eyebrow_direction: float = _option(0.0, OptionSpec(
        "--face-editor-eyebrow-direction",
        "brows raised (positive) or lowered; -1 to 1",
        "face editor", minimum=-1.0, maximum=1.0, step=0.05))
    face_editor_eye_gaze_horizontal: float = _option(0.0, OptionSpec(
        "--face-editor-eye-gaze-horizontal",
        "eyes looking to the picture's right (positive) or left; -1 to 1",
        "face editor", minimum=-1.0, maximum=1.0, step=0.05))
    face_editor_eye_gaze_vertical: float = _option(0.0, OptionSpec(
        "--face-editor-eye-gaze-vertical",
        "eyes looking down (positive) or up; -1 to 1",
        "face editor", minimum=-1.0, maximum=1.0, step=0.05))
    face_editor_eye_open_ratio: float = _option(0.0, OptionSpec(
        "--face-editor-eye-open-ratio",
        "eyes opened wider (positive) or closed (-1 shuts them); -1 to 1",
        "face editor", minimum=-1.0, maximum=1.0, step=0.05))
    face_editor_lip_open_ratio: float = _option(0.0, OptionSpec(
        "--face-editor-lip-open-ratio",
        "lips opened (positive; a mouth's inside is drawn between them) or closed (-1 shuts them); -1 to 1",
        "face editor", minimum=-1.0, maximum=1.0, step=0.05))
    face_editor_mouth_grim: float = _option(0.0, OptionSpec(
        "--face-editor-mouth-grim",
        "mouth corners pulled out and down (positive); -1 to 1",
        "face editor", minimum=-1.0, maximum=1.0, step=0.05))
    face_editor_mouth_pout: float = _option(0.0, OptionSpec(
        "--face-editor-mouth-pout",
        "lips pushed forward, narrower and fuller (positive); -1 to 1",
        "face editor", minimum=-1.0, maximum=1.0, step=0.05))
    face_editor_mouth_purse: float = _option(0.0, OptionSpec(
        "--face-editor-mouth-purse",
        "lips pressed narrow (positive); -1 to 1",
        "face editor", minimum=-1.0, maximum=1.0, step=0.05))
    face_editor_mouth_smile: float = _option(0.0, OptionSpec(
        "--face-editor-mouth-smile",
        "mouth corners lifted into a smile (positive) or dropped; -1 to 1",
        "face editor", minimum=-1.0, maximum=1.0, step=0.05))
    face_editor_mouth_position_horizontal: float = _option(0.0, OptionSpec(
        "--face-editor-mouth-position-horizontal",
        "mouth moved to the picture's right (positive) or left; -1 to 1",
        "face editor", minimum=-1.0, maximum=1.0, step=0.05))
    face_editor_mouth_position_vertical: float = _option(0.0, OptionSpec(
        "--face-editor-mouth-position-vertical",
        "mouth moved down (positive) or up; -1 to 1",
        "face editor", minimum=-1.0, maximum=1.0, step=0.05))
    face_editor_head_pitch: float = _option(0.0, OptionSpec(
        "--face-editor-head-pitch",
        "head tilted up or down; live_portrait only (the embedded editor leaves the head as it is); -1 to 1",
        "face editor", minimum=-1.0, maximum=1.0, step=0.05))
    face_editor_head_yaw: float = _option(0.0, OptionSpec(
        "--face-editor-head-yaw",
        "head turned to one side or the other; live_portrait only (the embedded editor leaves the head as it "
        "is); -1 to 1",
        "face editor", minimum=-1.0, maximum=1.0, step=0.05))
    face_editor_head_roll: float = _option(0.0, OptionSpec(
        "--face-editor-head-roll",
        "head rolled; live_portrait only (the embedded editor leaves the head as it is); -1 to 1",
        "face editor", minimum=-1.0, maximum=1.0, step=0.05))
    background_remover_model: str = _option("auto", OptionSpec(
        "--background-remover-model", "what finds the people to keep: mediapipe (embedded selfie segmentation, "
        "offline), a catalogue model (needs its file: modnet, birefnet_*, u2net_*, isnet_general, ormbg, ben_2 "
        "free; rmbg_1.4 / rmbg_2.0 NON-COMMERCIAL), or your own .onnx file; auto: a downloaded one when there is "
        "one, else mediapipe", "background remover", choices=BACKGROUND_REMOVER_MODELS, accepts_onnx_path=True))
    background_remover_fill_color: list[int] = _option([0, 0, 0, 0], OptionSpec(
        "--background-remover-fill-color", "colour the background becomes, R G B A (0-255; one value is a grey, "
        "three are opaque): with A 0 the background is made transparent (png, webp) and its pixels kept, with A "
        "255 it is painted over and the picture stays opaque", "background remover", minimum=0, maximum=255,
        step=1, multiple=True, max_items=4))
    background_remover_despill_color: list[int] = _option([0, 0, 0, 0], OptionSpec(
        "--background-remover-despill-color", "the screen colour to take out of the person's edges (a green "
        "screen: 0 255 0 255), R G B A; A is how strongly (0: off)", "background remover", minimum=0, maximum=255,
        step=1, multiple=True, max_items=4))
    execution_providers: list[str] = _option(["cpu"], OptionSpec(
        "--execution-providers", "ONNX Runtime providers for neural models, in order of preference (those this "
        "onnxruntime build offers; cuda needs requirements-gpu.txt)", "execution", choices=EXECUTION_PROVIDERS,
        multiple=True))
    execution_device_id: int = _option(0, OptionSpec(
        "--execution-device-id", "GPU to use", "execution", minimum=0, maximum=64, step=1))
    execution_thread_count: int = _option(0, OptionSpec(
        "--execution-thread-count", "video frames drawn at once on worker threads; what they send to a neural "
        "model at the same time shares one batched run (0: 2 on the CPU, 8 with a GPU provider)", "execution",
        minimum=0, maximum=64, step=1))
    execution_gpu_memory_fraction: float = _option(0.0, OptionSpec(
        "--execution-gpu-memory-fraction", "share of the GPU's memory the CUDA arena may take (0: no cap)",
        "execution", minimum=0.0, maximum=1.0, step=0.05))
    output_watermark: bool = _option(True, OptionSpec(
        "--output-watermark", "hide an invisible watermark in every output image and video frame (the "
        "product's mark and an output id the run logs; `facefusion inspect FILE` reads it after JPEG, resizing, "
        "cropping and re-encoding); --no-output-watermark leaves it out", "output"))
    output_label: str | None = _option(None, OptionSpec(
        "--output-label", "burn this text (e.g. AI-generated) visibly into a corner of every output image and "
        "video frame; none by default on this computer, on by default in a web app others can reach", "output"))
    output_label_position: OutputLabelPosition = _option("bottom-right", OptionSpec(
        "--output-label-position", "corner of the visible label", "output", choices=OUTPUT_LABEL_POSITIONS))
    output_label_size: float = _option(3.0, OptionSpec(
        "--output-label-size", "height of the visible label's text, in percent of the picture's height", "output",
        minimum=1, maximum=20, step=0.5))
    output_label_opacity: int = _option(80, OptionSpec(
        "--output-label-opacity", "opacity of the visible label, 0 (invisible) to 100", "output",
        minimum=0, maximum=100, step=1))
    output_image_quality: int = _option(90, OptionSpec(
        "--output-image-quality", "JPEG and WebP quality of the output image", "output",
        minimum=0, maximum=100, step=1))
    trim_frame_start: int | None = _option(None, OptionSpec(
        "--trim-frame-start", "first frame of the video to process (counted from 0)", "video",
        minimum=0, maximum=10**9, step=1))
    trim_frame_end: int | None = _option(None, OptionSpec(
        "--trim-frame-end", "frame at which processing stops (not included)", "video",
        minimum=1, maximum=10**9, step=1))
    output_video_encoder: str = _option("libx264", OptionSpec(
        "--output-video-encoder", "video encoder (those this build of FFmpeg carries; webm outputs use "
        "libvpx-vp9)", "video", choices=available_encoders()))
    output_video_preset: str = _option("veryfast", OptionSpec(
        "--output-video-preset", "encoder speed: faster presets make bigger files", "video", choices=PRESETS))
    output_video_quality: int = _option(80, OptionSpec(
        "--output-video-quality", "video quality 0-100 (mapped to the encoder's CRF: 80 is CRF 10 for x264)",
        "video", minimum=0, maximum=100, step=1))
    output_video_scale: float = _option(1.0, OptionSpec(
        "--output-video-scale", "size of the output video relative to the target", "video",
        minimum=0.25, maximum=4.0, step=0.25))
    output_video_fps: float | None = _option(None, OptionSpec(
        "--output-video-fps", "frame rate of the output video (default: keep the target's own timestamps, "
        "variable frame rate included)", "video", minimum=1.0, maximum=240.0, step=0.01))
    output_audio_volume: int = _option(100, OptionSpec(
        "--output-audio-volume", "loudness of the target's audio in the output video (percent; 0 leaves the "
        "audio out; 100 copies it untouched where the container allows)", "video", minimum=0, maximum=100,
        step=1))

    def replace(self, **changes: Any) -> Options:
        """A validated copy with some values changed."""
        return validate(dataclasses.replace(self, **changes))


def option_specs() -> dict[str, OptionSpec]:
    """Field name -> spec, in declaration order."""
    return {f.name: f.metadata["spec"] for f in dataclasses.fields(Options)}


OptionKind = Literal["boolean", "string", "number", "integer"]


def option_kind(name: str) -> OptionKind:
    """What each value of an option is (an option with ``multiple`` takes several), read once from its field's
    type (a Literal's values, the item of a list, the value of an Optional): the CLI's argument types, the checks,
    the service's capabilities and the page's widgets all ask here."""
    return _kinds()[name]


@functools.cache
def _kinds() -> dict[str, OptionKind]:
    kinds: dict[str, OptionKind] = {}
    for name, hint in typing.get_type_hints(Options).items():
        while typing.get_origin(hint) in (list, typing.Union, types.UnionType):
            hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
        if typing.get_origin(hint) is Literal:
            hint = type(typing.get_args(hint)[0])
        kinds[name] = ("boolean" if hint is bool else "string" if hint is str else "number" if hint is float
                       else "integer")
    return kinds


def is_text_option(name: str) -> bool:
    """Whether the option takes free text (none by default), not a number or a choice."""
    return Options.__dataclass_fields__[name].default is None and option_kind(name) == "string"


def expand_padding(values: list[int]) -> list[int]:
    """CSS-style expansion of 1-4 values to top, right, bottom, left."""
    if len(values) == 1:
        return [values[0]] * 4
    if len(values) == 2:
        return [values[0], values[1], values[0], values[1]]
    if len(values) == 3:
        return [values[0], values[1], values[2], values[1]]
    return list(values)


def _check_value(name: str, spec: OptionSpec, value: Any) -> None:
    if value is None:
        return
    if option_kind(name) == "boolean":
        if not isinstance(value, bool):
            raise InvalidInputError(f"{spec.flag}: give true or false, not '{value}'")
        return
    if spec.accepts_onnx_path and isinstance(value, str) and value.lower().endswith(".onnx"):
        return
    if spec.minimum is not None:
        _check_number(name, spec, value)
    elif not isinstance(value, (str, int, float)) or isinstance(value, bool) and spec.choices is not None:
        raise InvalidInputError(f"{spec.flag}: give a single value, not '{value}'")
    if spec.choices is not None and value not in spec.choices:
        raise InvalidInputError(
            f"{spec.flag}: '{value}' is not a choice; use one of: {', '.join(map(str, spec.choices))}")
    if spec.minimum is not None and value < spec.minimum or spec.maximum is not None and value > spec.maximum:
        raise InvalidInputError(f"{spec.flag}: {value} is out of range; use {spec.minimum:g} to {spec.maximum:g}")


def _check_number(name: str, spec: OptionSpec, value: Any) -> None:
    """A number of the option's kind: not a boolean, not NaN or infinite, whole where the option counts."""
    whole = option_kind(name) == "integer"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or \
            (whole and not float(value).is_integer()):
        kind = "a whole number" if whole else "a number"
        raise InvalidInputError(f"{spec.flag}: give {kind} from {spec.minimum:g} to {spec.maximum:g}, not '{value}'")


def validate(options: Options) -> Options:
    """Check every value against its spec; raise InvalidInputError with the flag's name if one is off."""
    for name, spec in option_specs().items():
        value = getattr(options, name)
        if spec.multiple:
            if not isinstance(value, (list, tuple)) or not value:
                raise InvalidInputError(f"{spec.flag}: give at least one value")
            if spec.max_items is not None and len(value) > spec.max_items:
                raise InvalidInputError(f"{spec.flag}: give at most {spec.max_items} values")
            for item in value:
                _check_value(name, spec, item)
        else:
            _check_value(name, spec, value)
    if options.output_label is not None and len(options.output_label) > MAX_LABEL_LENGTH:
        raise InvalidInputError(f"--output-label: give at most {MAX_LABEL_LENGTH} characters (a label, not a text)")
    for name in ("background_remover_fill_color", "background_remover_despill_color"):
        if len(getattr(options, name)) == 2:
            raise InvalidInputError(f"{option_specs()[name].flag}: give one value (a grey), three (R G B) or four "
                                    "(R G B A)")
    if len(set(options.processors)) != len(options.processors):
        raise InvalidInputError("--processors: name each processor once")
    if options.trim_frame_start is not None and options.trim_frame_end is not None \
            and options.trim_frame_end <= options.trim_frame_start:
        raise InvalidInputError("--trim-frame-end must be greater than --trim-frame-start")
    return options


def make_options(**values: Any) -> Options:
    """Options from keyword values (unknown names are refused with the list of known ones)."""
    known = option_specs()
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise InvalidInputError(f"unknown option(s): {', '.join(unknown)}; known: {', '.join(known)}")
    return validate(Options(**values))
