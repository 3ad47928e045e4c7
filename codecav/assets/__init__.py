"""Avatar packages (format v1): typed contents (package), loading with full checks (loader.load_avatar),
writing (writer.write_avatar, also re-exported by loader), static cost bounds of package models
(graph_bounds), trial runs in a limited child process (trial, verify.verify_avatar), onnxruntime session
options with its logging off (ort_options), CLI views (inspect.describe_avatar, inspect.verify_summary),
errors (errors.AvatarFormatError and its subclasses, each with a reason key) and random-weight plumbing
avatars (synthetic.build_synthetic_avatar).

This module imports nothing so that `codecav.assets.package` stays cheap for the decoders that use it.
"""
