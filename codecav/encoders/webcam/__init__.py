"""Webcam driver: MediaPipe face tracking of a camera or video file -> ARKit-52 weights."""
