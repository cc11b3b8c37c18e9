"""A direct NumPy evaluation of the ncnn layers Real-ESRGAN's files use, written apart from the
converter (its own reading of the files, float64 arithmetic), as the reference the converted ONNX
graphs are checked against."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def _value(text: str) -> float | int:
    return float(text) if ("." in text or "e" in text) else int(text)


def _layers(param: Path) -> list[tuple[str, list[str], list[str], dict[int, object]]]:
    rows = [line.split() for line in param.read_text().splitlines()[2:] if line.strip()]
    layers = []
    for row in rows:
        count_in, count_out = int(row[2]), int(row[3])
        blobs = row[4:4 + count_in + count_out]
        options: dict[int, object] = {}
        for pair in row[4 + count_in + count_out:]:
            key, value = pair.split("=")
            if int(key) <= -23300:
                options[-23300 - int(key)] = [_value(item) for item in value.split(",")[1:]]
            else:
                options[int(key)] = _value(value)
        layers.append((row[0], blobs[:count_in], blobs[count_in:], options))
    return layers


def _conv(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray | None, pad: int) -> np.ndarray:
    out_channels, in_channels, size, _ = kernel.shape
    padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    height, width = padded.shape[1] - size + 1, padded.shape[2] - size + 1
    columns = np.empty((in_channels, size, size, height, width))
    for dy in range(size):
        for dx in range(size):
            columns[:, dy, dx] = padded[:, dy:dy + height, dx:dx + width]
    result = kernel.reshape(out_channels, -1) @ columns.reshape(-1, height * width)
    if bias is not None:
        result += bias[:, None]
    return result.reshape(out_channels, height, width)


def run(param: Path, weights: Path, image: np.ndarray) -> np.ndarray:
    """``image``: channels x height x width in 0..1; the network's output, the same way round."""
    data = weights.read_bytes()
    offset = 0

    def take(count: int, tagged: bool) -> np.ndarray:
        nonlocal offset
        dtype = "<f4"
        if tagged:
            tag = int.from_bytes(data[offset:offset + 4], "little")
            offset += 4
            dtype = "<f2" if tag == 0x01306B47 else "<f4"
        values = np.frombuffer(data, dtype, count, offset).astype(np.float64)
        offset += count * np.dtype(dtype).itemsize
        offset += (-offset) % 4
        return values

    blobs: dict[str, np.ndarray] = {}
    for kind, inputs, outputs, options in _layers(param):
        values = [blobs[name] for name in inputs]
        if kind == "Input":
            result = image.astype(np.float64)
        elif kind == "Split":
            for name in outputs:
                blobs[name] = values[0]
            continue
        elif kind == "Convolution":
            count, size = int(options[0]), int(options[1])
            kernel = take(int(options[6]), True).reshape(count, -1, size, size)
            bias = take(count, False) if options.get(5) else None
            result = _conv(values[0], kernel, bias, int(options.get(4, 0)))
            if options.get(9) == 1:
                result = np.maximum(result, 0)
            elif options.get(9) == 2:
                result = np.where(result > 0, result, result * options[10][0])
        elif kind == "PReLU":
            slope = take(int(options[0]), False)[:, None, None]
            result = np.where(values[0] > 0, values[0], values[0] * slope)
        elif kind == "Eltwise":
            coefficients = options.get(1, [1.0] * len(values))
            result = sum(value * coefficient for value, coefficient in zip(values, coefficients))
        elif kind == "BinaryOp":
            result = values[0] + values[1]
        elif kind == "Concat":
            result = np.concatenate(values, axis=0)
        elif kind == "Interp":
            factor = int(round(options[1]))
            result = values[0].repeat(factor, axis=1).repeat(factor, axis=2)
        elif kind == "PixelShuffle":
            r = int(options[0])
            channels, height, width = values[0].shape
            result = values[0].reshape(channels // (r * r), r, r, height, width).transpose(0, 3, 1, 4, 2)
            result = result.reshape(channels // (r * r), height * r, width * r)
        else:
            raise ValueError(f"the reference does not evaluate {kind}")
        blobs[outputs[0]] = result
    return blobs["output"]
