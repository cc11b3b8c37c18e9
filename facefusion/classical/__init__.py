"""The embedded engine's drawing: the landmark swap (mesh warp, colour and light, masks, blending)
on a working grid sized to the face. Works offline with the models mediapipe and dlib ship."""
