"""Sizes, pixel counts and durations as people write them in flags and key files: ``500mb``, ``40mp``, ``24h``."""
from __future__ import annotations

import re

SIZE_UNITS = {"b": 1, "kb": 1000, "mb": 1000 ** 2, "gb": 1000 ** 3, "tb": 1000 ** 4}
TIME_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_size(text: str) -> int:
    """``20gb``, ``500mb``, ``1024`` (bytes) as a number of bytes."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?b)?\s*", text.lower())
    if not match:
        raise ValueError(f"'{text}' is not a size such as 500mb or 20gb")
    return int(float(match.group(1)) * SIZE_UNITS[match.group(2) or "b"])


def parse_pixels(text: str) -> int:
    """``40mp`` (megapixels) or a number of pixels."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(mp)?\s*", text.lower())
    pixels = float(match.group(1)) * (1e6 if match.group(2) else 1) if match else 0.0
    if pixels < 1:
        raise ValueError(f"'{text}' is not a size such as 40mp or 8294400")
    return int(pixels)


def parse_duration(text: str) -> float:
    """``90s``, ``30m``, ``24h``, ``7d`` (or bare seconds) as seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text.lower())
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"'{text}' is not a duration such as 24h, 30m or 7d")
    return float(match.group(1)) * TIME_UNITS[match.group(2) or "s"]
