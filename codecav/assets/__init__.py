"""Avatar packages (format v1): typed contents (package), loading with full checks (loader.load_avatar),
writing (writer.write_avatar, also re-exported by loader), decoder test runs (verify.verify_avatar),
CLI views (inspect.describe_avatar, inspect.verify_summary), errors (errors.AvatarFormatError and its
subclasses) and random-weight plumbing avatars (synthetic.build_synthetic_avatar).

This module imports nothing so that `codecav.assets.package` stays cheap for the decoders that use it.
"""
