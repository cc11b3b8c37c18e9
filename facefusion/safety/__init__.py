"""Every output's marks and checks: the invisible watermark, and ``facefusion inspect`` that reads it."""
