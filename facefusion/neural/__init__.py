"""The neural engine's drawing: ONNX swappers (inswapper, hyperswap, simswap), face and frame
enhancers, and the model masks (occlusion, face parsing) they paste back under."""
