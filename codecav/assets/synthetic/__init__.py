"""Random-weight plumbing avatars (untrained): a procedural head, an ONNX decoder and a pixel MLP."""
