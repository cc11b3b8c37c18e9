"""Converting an ncnn model (``.param`` text graph + ``.bin`` weights) into an equivalent ONNX graph.

The embedded frame enhancers are Real-ESRGAN's own networks as a registry package ships them, in
ncnn's format; onnxruntime runs them once they are ONNX. Only the layer types those networks use are
understood (convolutions with a fused ReLU/LeakyReLU, PReLU, element-wise sums and products, concat,
split, nearest/bilinear/bicubic resize, pixel shuffle); any other type is refused by name, so a file
this converter does not fully understand never turns into a model that computes something else.

Layouts, as ncnn defines them: blobs are C x H x W (the ONNX graph adds a batch axis in front), a
convolution's weights are stored output x input x kernel height x kernel width, and each weight array
starts with a 4-byte tag telling float32 from float16 storage (biases and PReLU slopes are plain
float32).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import onnx

MAGIC = 7767517
FLOAT32_TAG = 0
FLOAT16_TAG = 0x01306B47


class ConversionError(ValueError):
    """The ncnn files cannot be converted (a layer type or option this converter does not know)."""


Param = int | float | list[int | float]
"""A layer parameter as the .param file writes it: a number, or an array of numbers."""


@dataclass
class Layer:
    kind: str
    name: str
    inputs: list[str]
    outputs: list[str]
    params: dict[int, Param] = field(default_factory=dict)

    def param(self, key: int, default: Param) -> Param:
        return self.params.get(key, default)

    def integer(self, key: int, default: int) -> int:
        """A whole-number parameter (ncnn writes them without a decimal point)."""
        value = self.param(key, default)
        if isinstance(value, list):
            raise ConversionError(f"layer {self.name}: parameter {key} is an array where a number belongs")
        return int(value)

    def number(self, key: int, default: float) -> float:
        value = self.param(key, default)
        if isinstance(value, list):
            raise ConversionError(f"layer {self.name}: parameter {key} is an array where a number belongs")
        return float(value)

    def numbers(self, key: int) -> list[float]:
        value = self.param(key, [])
        return [float(item) for item in value] if isinstance(value, list) else [float(value)]


def _number(text: str) -> int | float:
    return float(text) if any(mark in text for mark in ".eE") else int(text)


def parse_param(text: str) -> list[Layer]:
    """The layers of an ncnn ``.param`` file, in file order (which is also the ``.bin`` order)."""
    lines = [line.split() for line in text.splitlines() if line.strip()]
    if not lines or lines[0] != [str(MAGIC)]:
        raise ConversionError("not an ncnn .param file (its first line is not the magic number 7767517)")
    layer_count = int(lines[1][0])
    layers = []
    for fields in lines[2:2 + layer_count]:
        kind, name, input_count, output_count = fields[0], fields[1], int(fields[2]), int(fields[3])
        blobs = fields[4:4 + input_count + output_count]
        params: dict[int, Param] = {}
        for item in fields[4 + input_count + output_count:]:
            key_text, value_text = item.split("=", 1)
            key = int(key_text)
            if key <= -23300:  # an array: -23300 - key, then "count,value,value..."
                values = value_text.split(",")
                params[-23300 - key] = [_number(value) for value in values[1:]]
            else:
                params[key] = _number(value_text)
        layers.append(Layer(kind, name, blobs[:input_count], blobs[input_count:], params))
    return layers


class _Weights:
    """Sequential reader of an ncnn ``.bin`` file."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.offset = 0

    def _take(self, count: int, dtype: str) -> np.ndarray:
        size = count * np.dtype(dtype).itemsize
        if self.offset + size > len(self.data):
            raise ConversionError("the .bin file is shorter than its .param file says")
        values = np.frombuffer(self.data, dtype, count, self.offset)
        self.offset += size
        return values

    def tagged(self, count: int, layer: str) -> np.ndarray:
        tag = int(self._take(1, "<u4")[0])
        if tag == FLOAT32_TAG:
            return self._take(count, "<f4").astype(np.float32)
        if tag == FLOAT16_TAG:
            values = self._take(count, "<f2").astype(np.float32)
            self.offset += (-count * 2) % 4  # float16 arrays are padded to 4 bytes
            return values
        raise ConversionError(f"layer {layer}: quantised weights (tag {tag:#x}) are not supported")

    def plain(self, count: int) -> np.ndarray:
        return self._take(count, "<f4").astype(np.float32)


Constant = Callable[[str, np.ndarray], str]
"""Adds a named weight array to the graph being built and gives back its name."""

SUPPORTED = ("Input", "Split", "Convolution", "PReLU", "ReLU", "Eltwise", "BinaryOp", "Concat", "Interp",
             "PixelShuffle")


def convert(param_path: Path, bin_path: Path, input_name: str = "input", output_name: str = "output") -> bytes:
    """The serialised ONNX model equivalent to the ncnn model, with one input ``input_name`` (batch x
    channels x height x width, float32) and one output ``output_name``."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    layers = parse_param(param_path.read_text())
    for layer in layers:  # ncnn's blob names get a prefix so they never meet the graph's own names
        layer.inputs = [f"ncnn:{blob}" for blob in layer.inputs]
        layer.outputs = [f"ncnn:{blob}" for blob in layer.outputs]
    unknown = [layer for layer in layers if layer.kind not in SUPPORTED]
    if unknown:
        named = ", ".join(f"{layer.name} ({layer.kind})" for layer in unknown[:5])
        raise ConversionError(f"{param_path.name}: layer {named} of a type the converter does not support"
                              f"{f' (and {len(unknown) - 5} more)' if len(unknown) > 5 else ''}")
    weights = _Weights(bin_path.read_bytes())
    nodes: list[onnx.NodeProto] = []
    initialisers: list[onnx.TensorProto] = []
    alias: dict[str, str] = {}
    consumed: set[str] = set()
    produced: list[str] = []
    channels = 3

    def constant(name: str, values: np.ndarray) -> str:
        initialisers.append(numpy_helper.from_array(np.ascontiguousarray(values), name))
        return name

    def source(blob: str) -> str:
        consumed.add(blob)
        return alias.get(blob, blob)

    for layer in layers:
        inputs = [source(blob) for blob in layer.inputs]
        out = layer.outputs[0] if layer.outputs else ""
        produced.extend(layer.outputs)
        kind = layer.kind
        if kind == "Input":
            alias[out] = input_name
            channels = layer.integer(2, 3) or 3
        elif kind == "Split":
            for blob in layer.outputs:
                alias[blob] = inputs[0]
        else:
            nodes.extend(_layer_nodes(layer, inputs, weights, constant))
    if weights.offset != len(weights.data):
        raise ConversionError(f"{bin_path.name}: {len(weights.data) - weights.offset} bytes left over after the last "
                              "layer (the .param and .bin files do not belong together)")
    finals = [blob for blob in produced if blob not in consumed and blob not in alias]
    if len(finals) != 1:
        raise ConversionError(f"{param_path.name}: expected one output blob, found {finals}")
    nodes.append(helper.make_node("Identity", [finals[0]], [output_name], name="output_identity"))
    graph = helper.make_graph(
        nodes, param_path.stem,
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["batch", channels, "height", "width"])],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["batch", channels, "height", "width"])],
        initialisers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="facefusion-studio ncnn converter")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def _layer_nodes(layer: Layer, inputs: list[str], weights: _Weights, constant: Constant) -> list[onnx.NodeProto]:
    """The ONNX nodes computing one ncnn layer (any but the graph's input and its splits)."""
    from onnx import helper

    kind, name = layer.kind, layer.name
    out = layer.outputs[0]
    if kind == "Convolution":
        return _convolution(layer, inputs[0], weights, constant)
    if kind == "PReLU":
        count = layer.integer(0, 0)
        slopes = weights.plain(count)
        shape = (count, 1, 1) if count > 1 else (1,)
        return [helper.make_node("PRelu", [inputs[0], constant(f"{name}.slope", slopes.reshape(shape))], [out],
                                 name=name)]
    if kind == "ReLU":
        slope = layer.number(0, 0.0)
        return [helper.make_node("LeakyRelu", inputs, [out], name=name, alpha=slope) if slope
                else helper.make_node("Relu", inputs, [out], name=name)]
    if kind == "Eltwise":
        return _eltwise(layer, inputs, constant)
    if kind == "BinaryOp":
        return _binary(layer, inputs, constant)
    if kind == "Concat":
        # ncnn's axis counts from the channel axis of a C x H x W blob; ONNX has the batch first.
        return [helper.make_node("Concat", inputs, [out], name=name, axis=layer.integer(0, 0) + 1)]
    if kind == "Interp":
        return [_interp(layer, inputs[0], constant)]
    # PixelShuffle, the last kind SUPPORTED names.
    mode = {0: "CRD", 1: "DCR"}.get(layer.integer(1, 0))
    if mode is None:
        raise ConversionError(f"layer {name}: PixelShuffle mode {layer.param(1, 0)} not supported")
    return [helper.make_node("DepthToSpace", inputs, [out], name=name, blocksize=layer.integer(0, 1), mode=mode)]


def _convolution(layer: Layer, blob: str, weights: _Weights, constant: Constant) -> list[onnx.NodeProto]:
    from onnx import helper

    name, out = layer.name, layer.outputs[0]
    outputs = layer.integer(0, 0)
    kernel_w = layer.integer(1, 0)
    kernel_h = layer.integer(11, kernel_w)
    dilation_w = layer.integer(2, 1)
    stride_w = layer.integer(3, 1)
    pad_left = layer.integer(4, 0)
    pad_top = layer.integer(14, pad_left)
    pad_right = layer.integer(15, pad_left)
    pad_bottom = layer.integer(16, pad_top)
    if min(pad_left, pad_top, pad_right, pad_bottom) < 0:
        raise ConversionError(f"layer {name}: automatic ('same') convolution padding not supported")
    if layer.integer(8, 0):
        raise ConversionError(f"layer {name}: int8 convolutions not supported")
    if layer.number(18, 0.0):
        raise ConversionError(f"layer {name}: padding with a value other than 0 not supported")
    size = layer.integer(6, 0)
    inputs = size // max(1, outputs * kernel_h * kernel_w)
    kernel = weights.tagged(size, name).reshape(outputs, inputs, kernel_h, kernel_w)
    operands = [blob, constant(f"{name}.weight", kernel)]
    if layer.integer(5, 0):
        operands.append(constant(f"{name}.bias", weights.plain(outputs)))
    activation = layer.integer(9, 0)
    if activation not in (0, 1, 2):
        raise ConversionError(f"layer {name}: fused activation type {activation} not supported")
    convolved = out if activation == 0 else f"{name}.convolved"
    nodes = [helper.make_node("Conv", operands, [convolved], name=name, kernel_shape=[kernel_h, kernel_w],
                              dilations=[layer.integer(12, dilation_w), dilation_w],
                              strides=[layer.integer(13, stride_w), stride_w],
                              pads=[pad_top, pad_left, pad_bottom, pad_right])]
    if activation == 1:
        nodes.append(helper.make_node("Relu", [convolved], [out], name=f"{name}.relu"))
    elif activation == 2:
        slope = layer.numbers(10) or [0.0]
        nodes.append(helper.make_node("LeakyRelu", [convolved], [out], name=f"{name}.leaky", alpha=slope[0]))
    return nodes


def _eltwise(layer: Layer, inputs: list[str], constant: Constant) -> list[onnx.NodeProto]:
    from onnx import helper

    name, out = layer.name, layer.outputs[0]
    operation = layer.integer(0, 1)
    coefficients = layer.numbers(1) if 1 in layer.params else []
    if operation == 1 and coefficients:
        # A weighted sum (the residual scaling of Real-ESRGAN's dense blocks: 0.2 x a + b).
        nodes, terms = [], []
        for index, (blob, coefficient) in enumerate(zip(inputs, coefficients)):
            if coefficient == 1.0:
                terms.append(blob)
                continue
            factor = constant(f"{name}.coefficient{index}", np.array(coefficient, np.float32))
            terms.append(f"{name}.term{index}")
            nodes.append(helper.make_node("Mul", [blob, factor], [terms[-1]], name=f"{name}.scale{index}"))
        nodes.append(helper.make_node("Sum", terms, [out], name=name))
        return nodes
    operator = {0: "Mul", 1: "Sum", 2: "Max"}.get(operation)
    if operator is None:
        raise ConversionError(f"layer {name}: Eltwise operation {operation} not supported")
    return [helper.make_node(operator, inputs, [out], name=name)]


def _binary(layer: Layer, inputs: list[str], constant: Constant) -> list[onnx.NodeProto]:
    from onnx import helper

    name, out = layer.name, layer.outputs[0]
    operation = layer.integer(0, 0)
    operator = {0: "Add", 1: "Sub", 2: "Mul", 3: "Div", 4: "Max", 5: "Min"}.get(operation)
    if operator is None:
        raise ConversionError(f"layer {name}: BinaryOp operation {operation} not supported")
    if layer.integer(1, 0):
        inputs = [inputs[0], constant(f"{name}.scalar", np.array(layer.number(2, 0.0), np.float32))]
    return [helper.make_node(operator, inputs, [out], name=name)]


def _interp(layer: Layer, blob: str, constant: Constant) -> onnx.NodeProto:
    from onnx import helper

    name, out = layer.name, layer.outputs[0]
    kind = layer.integer(0, 0)
    if layer.integer(3, 0) or layer.integer(4, 0):
        raise ConversionError(f"layer {name}: Interp to a fixed output size not supported")
    scales = constant(f"{name}.scales", np.array([1.0, 1.0, layer.number(1, 1.0), layer.number(2, 1.0)],
                                                 np.float32))
    if kind == 1:
        # ncnn's nearest takes source pixel floor(x / scale).
        attributes: dict[str, Any] = {"mode": "nearest", "coordinate_transformation_mode": "asymmetric",
                                      "nearest_mode": "floor"}
    elif kind in (2, 3):
        attributes = {"mode": "linear" if kind == 2 else "cubic",
                      "coordinate_transformation_mode": "align_corners" if layer.integer(6, 0) else "half_pixel"}
        if kind == 3:
            attributes["cubic_coeff_a"] = -0.75
    else:
        raise ConversionError(f"layer {name}: Interp type {kind} not supported")
    return helper.make_node("Resize", [blob, "", scales], [out], name=name, **attributes)
