"""Face analysis: detection, landmarks, identity, selection, and the geometry of a swap."""
