"""The OpenXR render target (pyopenxr): sessions, GL bindings, timing, eye and face tracking."""
