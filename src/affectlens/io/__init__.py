"""Reading inputs: images (and, later, video and audio)."""
