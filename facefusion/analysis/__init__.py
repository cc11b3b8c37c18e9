"""Where faces are found and followed: detection (mediapipe's BlazeFace, neural detectors), landmarks
(Face Mesh), identity (dlib, ArcFace), selection, five-point alignment and video tracking. Both engines
draw on what this package finds; it knows nothing of drawing."""
