"""The model catalogue: one typed row per model file. Adding a model is adding a row.

Files are published by FaceFusion's asset releases (GitHub, then Hugging Face and its mirror, in that
order). Each file there has a sibling ``<file>.hash`` with its CRC32, which the downloader fetches and
checks; a row may also pin a SHA-256 when one is known. Sizes are read from the server when not known.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

Role = Literal["detector", "recogniser", "swapper", "embedding_converter", "face_enhancer", "frame_enhancer",
               "occlusion_mask", "region_mask", "age_modifier", "face_classifier", "live_portrait",
               "background_remover"]

MIRRORS = (
    "https://github.com/facefusion/facefusion-assets/releases/download/{release}/{file}",
    "https://huggingface.co/facefusion/{release}/resolve/main/{file}",
    "https://hf-mirror.com/facefusion/{release}/resolve/main/{file}",
)


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple[int | str, ...]
    """Dimensions; a string is a free (dynamic) dimension such as the batch."""


@dataclass(frozen=True)
class Contract:
    """What a model slot expects of an ONNX file: its tensors and how images are prepared for it."""

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    template: str | None = None
    """5-point alignment template (see facefusion.analysis.align) for face models."""
    size: int | None = None
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    scale: int = 1
    """Upscaling factor of frame enhancers."""
    normalised_output: bool = False
    """The output is in the input's normalised range (undo mean/std); otherwise it is RGB in 0..1."""


@dataclass(frozen=True)
class ModelEntry:
    name: str
    role: Role
    file: str
    release: str
    licence: str
    non_commercial: bool
    contract: Contract
    size: int | None = None
    sha256: str | None = None
    crc32: str | None = None
    """Known checksum; when None the published ``.hash`` sibling (CRC32) is fetched and used."""
    companions: tuple[str, ...] = field(default=())
    """Other catalogue entries this model needs (e.g. an embedding converter)."""

    @property
    def licence_label(self) -> str:
        """The licence as every list and report names it: a non-commercial one says so in capitals."""
        return f"{self.licence}, NON-COMMERCIAL" if self.non_commercial else self.licence

    @property
    def urls(self) -> tuple[str, ...]:
        return tuple(mirror.format(release=self.release, file=self.file) for mirror in MIRRORS)


def _face(size: int, template: str, mean: float = 0.0, std: float = 1.0, input_name: str = "input",
          output_name: str = "output") -> Contract:
    return Contract(inputs=(TensorSpec(input_name, ("batch", 3, size, size)),),
                    outputs=(TensorSpec(output_name, ("batch", 3, size, size)),), template=template, size=size,
                    mean=(mean,) * 3, std=(std,) * 3)


def _swapper(size: int, template: str, mean: tuple[float, float, float] = (0.0, 0.0, 0.0),
             std: tuple[float, float, float] = (1.0, 1.0, 1.0), normalised_output: bool = False) -> Contract:
    """Embedding-driven swapper: an aligned ``target`` crop and a 512-d ``source`` in, the new crop out."""
    return Contract(inputs=(TensorSpec("target", (1, 3, size, size)), TensorSpec("source", (1, 512))),
                    outputs=(TensorSpec("output", (1, 3, size, size)),), template=template, size=size, mean=mean,
                    std=std, normalised_output=normalised_output)


INSWAPPER = _swapper(128, "arcface_128")
ARCFACE = Contract(inputs=(TensorSpec("input", ("batch", 3, 112, 112)),), outputs=(TensorSpec("output", ("batch", 512)),),
                   template="arcface_112_v2", size=112, mean=(127.5,) * 3, std=(127.5,) * 3)
DETECTOR = Contract(inputs=(TensorSpec("input", (1, 3, "height", "width")),), outputs=())
"""Any detector slot: one image input; the output layout is told apart by facefusion.analysis.neural_detect."""
SCRFD = Contract(inputs=DETECTOR.inputs, outputs=(), size=640, mean=(127.5,) * 3, std=(128.0,) * 3)
ESRGAN_X2 = Contract(inputs=(TensorSpec("input", ("batch", 3, "height", "width")),),
                     outputs=(TensorSpec("output", ("batch", 3, "height", "width")),), scale=2)
ESRGAN_X4 = Contract(inputs=ESRGAN_X2.inputs, outputs=ESRGAN_X2.outputs, scale=4)
XSEG = Contract(inputs=(TensorSpec("input", (1, 256, 256, 3)),), outputs=(TensorSpec("output", (1, 256, 256, 1)),),
                size=256)
BISENET = Contract(inputs=(TensorSpec("input", (1, 3, 512, 512)),), outputs=(TensorSpec("output", (1, 19, 512, 512)),),
                   size=512, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))

FRAN = Contract(inputs=(TensorSpec("target", (1, 3, 1024, 1024)), TensorSpec("direction", (2,))),
                outputs=(TensorSpec("output", (1, 3, 1024, 1024)),), template="ffhq_512", size=1024)
"""Age modifier: the aligned face and [its age, the age wanted] / 100 in; the face at that age out. A file may
also declare ``target_with_background`` (it gets the same crop)."""
STYLEGANEX_AGE = Contract(inputs=(TensorSpec("target", (1, 3, 256, 256)),
                                  TensorSpec("target_with_background", (1, 3, 384, 384)),
                                  TensorSpec("direction", ())),
                          outputs=(TensorSpec("output", (1, 3, "height", "width")),), template="ffhq_512", size=256,
                          mean=(0.5,) * 3, std=(0.5,) * 3, normalised_output=True)
FAIRFACE = Contract(inputs=(TensorSpec("input", (1, 3, 224, 224)),), outputs=(), template="arcface_112_v2", size=224,
                    mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
"""Face classifier: race, gender and age-bucket ids out (FaceFusion's order)."""


def _live_portrait(part: str, inputs: tuple[TensorSpec, ...], outputs: tuple[TensorSpec, ...] = ()) -> ModelEntry:
    """One of LivePortrait's six networks (expression restorer and face editor)."""
    return ModelEntry(f"live_portrait_{part}", "live_portrait", f"live_portrait_{part}.onnx", "models-3.0.0",
                      "MIT (KwaiVGI LivePortrait)", False, Contract(inputs=inputs, outputs=outputs, size=256))


def _background(name: str, size: int, mean: float | tuple[float, float, float], std: float | tuple[float, float, float],
                licence: str, release: str = "models-3.5.0", non_commercial: bool = False) -> ModelEntry:
    """A background remover: the whole frame at ``size`` x ``size`` in, one matte (0..1) out."""
    means = mean if isinstance(mean, tuple) else (mean,) * 3
    stds = std if isinstance(std, tuple) else (std,) * 3
    return ModelEntry(name, "background_remover", f"{name}.onnx", release, licence, non_commercial,
                      Contract(inputs=(TensorSpec("input", (1, 3, size, size)),), outputs=(), size=size, mean=means,
                               std=stds))


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

CATALOGUE: tuple[ModelEntry, ...] = (
    ModelEntry("inswapper_128", "swapper", "inswapper_128.onnx", "models-3.0.0", "InsightFace (non-commercial research)",
               True, INSWAPPER),
    ModelEntry("inswapper_128_fp16", "swapper", "inswapper_128_fp16.onnx", "models-3.0.0",
               "InsightFace (non-commercial research)", True, INSWAPPER),
    ModelEntry("simswap_256", "swapper", "simswap_256.onnx", "models-3.0.0", "SimSwap (non-commercial)", True,
               _swapper(256, "arcface_112_v1", (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
               companions=("crossface_simswap",)),
    ModelEntry("crossface_simswap", "embedding_converter", "crossface_simswap.onnx", "models-3.4.0",
               "FaceFusion (OpenRAIL-M)", False,
               Contract(inputs=(TensorSpec("input", (1, 512)),), outputs=(TensorSpec("output", (1, 512)),))),
    ModelEntry("hyperswap_1a_256", "swapper", "hyperswap_1a_256.onnx", "models-3.3.0", "FaceFusion (ResearchRAIL)",
               True, _swapper(256, "arcface_128", (0.5,) * 3, (0.5,) * 3, normalised_output=True)),
    ModelEntry("arcface_w600k_r50", "recogniser", "arcface_w600k_r50.onnx", "models-3.0.0",
               "InsightFace (non-commercial research)", True, ARCFACE),
    ModelEntry("yoloface_8n", "detector", "yoloface_8n.onnx", "models-3.0.0", "GPL-3.0 (YOLOv8-face)", False,
               Contract(inputs=(TensorSpec("input", (1, 3, 640, 640)),), outputs=(TensorSpec("output", (1, 20, 8400)),),
                        size=640, std=(255.0,) * 3)),
    ModelEntry("retinaface_10g", "detector", "retinaface_10g.onnx", "models-3.0.0",
               "InsightFace (non-commercial research)", True, SCRFD),
    ModelEntry("scrfd_2.5g", "detector", "scrfd_2.5g.onnx", "models-3.0.0", "InsightFace (non-commercial research)",
               True, SCRFD),
    ModelEntry("gfpgan_1.4", "face_enhancer", "gfpgan_1.4.onnx", "models-3.0.0", "Apache-2.0 (TencentARC)", False,
               _face(512, "ffhq_512", 0.5, 0.5)),
    ModelEntry("codeformer", "face_enhancer", "codeformer.onnx", "models-3.0.0", "S-Lab License 1.0 (non-commercial)",
               True, dataclasses.replace(_face(512, "ffhq_512", 0.5, 0.5),
                                         inputs=(TensorSpec("input", (1, 3, 512, 512)), TensorSpec("weight", (1,))))),
    ModelEntry("gpen_bfr_512", "face_enhancer", "gpen_bfr_512.onnx", "models-3.0.0", "GPEN (non-commercial)", True,
               _face(512, "ffhq_512", 0.5, 0.5)),
    ModelEntry("restoreformer_plus_plus", "face_enhancer", "restoreformer_plus_plus.onnx", "models-3.0.0",
               "Apache-2.0", False, _face(512, "ffhq_512", 0.5, 0.5)),
    ModelEntry("real_esrgan_x2", "frame_enhancer", "real_esrgan_x2.onnx", "models-3.0.0", "BSD-3-Clause (xinntao)",
               False, ESRGAN_X2),
    ModelEntry("real_esrgan_x2_fp16", "frame_enhancer", "real_esrgan_x2_fp16.onnx", "models-3.0.0",
               "BSD-3-Clause (xinntao)", False, ESRGAN_X2),
    ModelEntry("real_esrgan_x4", "frame_enhancer", "real_esrgan_x4.onnx", "models-3.0.0", "BSD-3-Clause (xinntao)",
               False, ESRGAN_X4),
    ModelEntry("real_esrgan_x4_fp16", "frame_enhancer", "real_esrgan_x4_fp16.onnx", "models-3.0.0",
               "BSD-3-Clause (xinntao)", False, ESRGAN_X4),
    ModelEntry("xseg_1", "occlusion_mask", "xseg_1.onnx", "models-3.1.0", "GPL-3.0 (DeepFaceLab)", False, XSEG),
    ModelEntry("xseg_2", "occlusion_mask", "xseg_2.onnx", "models-3.1.0", "GPL-3.0 (DeepFaceLab)", False, XSEG),
    ModelEntry("xseg_3", "occlusion_mask", "xseg_3.onnx", "models-3.2.0", "GPL-3.0 (DeepFaceLab)", False, XSEG),
    ModelEntry("bisenet_resnet_34", "region_mask", "bisenet_resnet_34.onnx", "models-3.0.0", "MIT (yakhyo)", False,
               BISENET),
    ModelEntry("bisenet_resnet_18", "region_mask", "bisenet_resnet_18.onnx", "models-3.1.0", "MIT (yakhyo)", False,
               BISENET),
    ModelEntry("fran", "age_modifier", "fran.onnx", "models-3.6.0", "MIT (ry-lu)", False, FRAN),
    ModelEntry("styleganex_age", "age_modifier", "styleganex_age.onnx", "models-3.1.0", "S-Lab License 1.0", True,
               STYLEGANEX_AGE),
    ModelEntry("fairface", "face_classifier", "fairface.onnx", "models-3.0.0", "CC-BY-4.0 (FairFace)", False, FAIRFACE,
               size=85_170_772),
    _live_portrait("feature_extractor", (TensorSpec("input", (1, 3, 256, 256)),),
                   (TensorSpec("output", (1, 32, 16, 64, 64)),)),
    _live_portrait("motion_extractor", (TensorSpec("input", (1, 3, 256, 256)),)),
    _live_portrait("generator", (TensorSpec("feature_volume", (1, 32, 16, 64, 64)), TensorSpec("source", (1, 21, 3)),
                                 TensorSpec("target", (1, 21, 3))), (TensorSpec("output", (1, 3, 512, 512)),)),
    _live_portrait("eye_retargeter", ()),
    _live_portrait("lip_retargeter", ()),
    _live_portrait("stitcher", ()),
    _background("modnet", 512, 0.5, 0.5, "Apache-2.0 (MODNet)"),
    _background("rmbg_2.0", 1024, IMAGENET_MEAN, IMAGENET_STD, "CC-BY-NC-4.0 (BRIA RMBG-2.0)", non_commercial=True),
    _background("rmbg_1.4", 1024, 0.5, 1.0, "BRIA RMBG-1.4 licence", non_commercial=True),
    _background("birefnet_general", 1024, 0.0, 1.0, "MIT (BiRefNet)"),
    _background("birefnet_portrait", 1024, 0.0, 1.0, "MIT (BiRefNet)"),
    _background("ben_2", 1024, 0.0, 1.0, "MIT (BEN2)"),
    _background("isnet_general", 1024, 0.5, 1.0, "Apache-2.0 (DIS IS-Net)"),
    _background("ormbg", 1024, 0.0, 1.0, "Apache-2.0 (ormbg)"),
    _background("u2net_human", 320, IMAGENET_MEAN, IMAGENET_STD, "Apache-2.0 (U-2-Net)"),
    _background("u2net_general", 320, IMAGENET_MEAN, IMAGENET_STD, "Apache-2.0 (U-2-Net)"),
    _background("u2netp", 320, IMAGENET_MEAN, IMAGENET_STD, "Apache-2.0 (U-2-Net)"),
    _background("silueta", 320, IMAGENET_MEAN, IMAGENET_STD, "MIT (silueta)"),
    _background("u2net_cloth", 768, IMAGENET_MEAN, IMAGENET_STD, "MIT (cloth segmentation)"),
)

DEFAULTS = ("inswapper_128", "arcface_w600k_r50", "gfpgan_1.4", "real_esrgan_x4")
"""What `models download --all-defaults` fetches."""


def with_companions(names: list[str]) -> list[ModelEntry]:
    """The named entries and the entries they need (a swapper's embedding converter), each once."""
    entries: dict[str, ModelEntry] = {}
    for name in names:
        entry = find(name)
        for needed in (entry.name, *entry.companions):
            entries.setdefault(needed, find(needed))
    return list(entries.values())


DETECTOR_ALIASES = {"yolo_face": "yoloface_8n", "retinaface": "retinaface_10g", "scrfd": "scrfd_2.5g"}
"""--face-detector-model names (as FaceFusion users know them) -> catalogue names, best first."""


def find(name: str) -> ModelEntry:
    name = DETECTOR_ALIASES.get(name, name)
    for entry in CATALOGUE:
        if entry.name == name:
            return entry
    from ..errors import InvalidInputError

    raise InvalidInputError(f"unknown model '{name}'; `facefusion models list` shows the catalogue")
