"""Reading inputs: images, video, audio and transcripts."""
