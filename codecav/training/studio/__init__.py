"""Capture studio: renders synthetic multi-view captures of MakeHuman heads driven by ARKit-52
expressions, written in the Multiface layout (see docs/capture-studio.md)."""
