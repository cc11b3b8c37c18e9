"""The neural engine: the model catalogue, verified downloads, ONNX Runtime sessions."""
