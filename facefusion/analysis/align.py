"""Five-point alignment for neural face models: templates, warps, and pasting a crop back.

The templates are the unit-square 5-point layouts the models were trained with (values as documented
for FaceFusion's models): image-left eye, image-right eye, nose tip, left and right mouth corners.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..types import FrameBGR, Mask, Points

TEMPLATES: dict[str, np.ndarray] = {
    "arcface_112_v1": np.array([[0.3547, 0.4566], [0.6453, 0.4566], [0.5, 0.6115], [0.3791, 0.7769], [0.6209, 0.7769]]),
    "arcface_112_v2": np.array([[0.3419, 0.4616], [0.6565, 0.4598], [0.5002, 0.6405], [0.3710, 0.8247],
                                [0.6315, 0.8233]]),
    "arcface_128": np.array([[0.3617, 0.4039], [0.6370, 0.4024], [0.5002, 0.5604], [0.3871, 0.7216], [0.6151, 0.7203]]),
    "ffhq_512": np.array([[0.3769, 0.4686], [0.6229, 0.4691], [0.5012, 0.6133], [0.3931, 0.7254], [0.6115, 0.7249]]),
    # ffhq_512 drawn together by 0.625 about its nose point: the wider crop with background of StyleGANEX.
    "styleganex_384": np.array([[0.4235, 0.5229], [0.5773, 0.5232], [0.5012, 0.6133], [0.4336, 0.6834],
                                [0.5702, 0.6831]]),
}


def alignment_matrix(landmarks_5: Points, template: str, size: int) -> np.ndarray:
    """2x3 similarity transform taking the face's 5 points onto the template at ``size`` pixels."""
    matrix, _ = cv2.estimateAffinePartial2D(landmarks_5.astype(np.float32),
                                            (TEMPLATES[template] * size).astype(np.float32),
                                            method=cv2.RANSAC, ransacReprojThreshold=100)
    return matrix


def warp_face(frame: FrameBGR, landmarks_5: Points, template: str, size: int) -> tuple[FrameBGR, np.ndarray]:
    matrix = alignment_matrix(landmarks_5, template, size)
    crop = cv2.warpAffine(frame, matrix, (size, size), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_AREA)
    return crop, matrix


def box_mask(size: int, blur: float, padding: tuple[int, int, int, int] = (0, 0, 0, 0)) -> Mask:
    """A crop-sized mask with soft edges: ``blur`` 0..1, ``padding`` percent per side (top, right, bottom, left)."""
    blur_amount = int(size * 0.5 * blur)
    blur_area = max(blur_amount // 2, 1)
    mask = np.ones((size, size), np.float32)
    top, right, bottom, left = (max(blur_area, int(size * value / 100)) for value in padding)
    mask[:top, :] = 0
    mask[size - bottom:, :] = 0
    mask[:, :left] = 0
    mask[:, size - right:] = 0
    if blur_amount > 0:
        mask = cv2.GaussianBlur(mask, (0, 0), blur_amount * 0.25)
    return mask


def paste_back(frame: FrameBGR, crop: FrameBGR, mask: Mask, matrix: np.ndarray) -> FrameBGR:
    """Blend ``crop`` (aligned by ``matrix``) into ``frame`` under ``mask``, touching only the box the
    crop covers; returns the frame, changed in place."""
    size = crop.shape[0]
    inverse = cv2.invertAffineTransform(matrix)
    corners = np.array([[0, 0], [size, 0], [size, size], [0, size]], np.float32)
    placed = corners @ inverse[:, :2].T + inverse[:, 2]
    x1, y1 = np.floor(placed.min(axis=0)).astype(int)
    x2, y2 = np.ceil(placed.max(axis=0)).astype(int)
    x1, y1 = max(x1, 0), max(y1, 0)
    x2, y2 = min(x2, frame.shape[1]), min(y2, frame.shape[0])
    if x2 <= x1 or y2 <= y1:
        return frame
    shifted = inverse.copy()
    shifted[:, 2] -= (x1, y1)
    width, height = x2 - x1, y2 - y1
    region_mask = cv2.warpAffine(mask, shifted, (width, height), flags=cv2.INTER_LINEAR).clip(0, 1)[..., None]
    region_crop = cv2.warpAffine(crop, shifted, (width, height), flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_REPLICATE)
    region = frame[y1:y2, x1:x2].astype(np.float32)
    frame[y1:y2, x1:x2] = (region * (1 - region_mask) + region_crop.astype(np.float32) * region_mask + 0.5
                           ).astype(np.uint8)
    return frame


def space_to_depth(crop: np.ndarray, model_size: int) -> list[np.ndarray]:
    """Split a ``total * model_size`` crop into total² interleaved sub-crops of the model's size
    (pixel boost): sub-crop (a, b) holds every total-th pixel starting at row a, column b."""
    total = crop.shape[0] // model_size
    return [crop[a::total, b::total] for a in range(total) for b in range(total)]


def depth_to_space(parts: list[np.ndarray], total: int) -> np.ndarray:
    """The inverse of space_to_depth."""
    size = parts[0].shape[0]
    whole = np.empty((size * total, size * total) + parts[0].shape[2:], parts[0].dtype)
    for index, part in enumerate(parts):
        a, b = divmod(index, total)
        whole[a::total, b::total] = part
    return whole


def to_blob(crop: FrameBGR, mean: tuple[float, ...], std: tuple[float, ...], scale: float = 1 / 255) -> np.ndarray:
    """An aligned crop as a model input: RGB, scaled, normalised, 1 x 3 x H x W float32."""
    rgb = crop[:, :, ::-1].astype(np.float32) * scale
    rgb = (rgb - np.array(mean, np.float32)) / np.array(std, np.float32)
    return np.ascontiguousarray(rgb.transpose(2, 0, 1)[None])
