"""Errors of avatar packages: one class per problem, each message one line naming the package, the member
and the fix (e.g. "a.cavatar: member decoder.onnx sha256 mismatch (...); re-export the avatar ...")."""

from __future__ import annotations

from codecav.errors import CodecavError


class AvatarFormatError(CodecavError):
    """An avatar package cannot be used; `source`, `member` and `fix` say where and what to do, `reason` is a
    short stable key for counters (call stats count refusals by it)."""

    REASON = "invalid_package"
    """The reason key of this class; a raise may give a more precise one (see REASON_KEYS)."""

    def __init__(self, source: str, member: str | None, problem: str, fix: str, *, reason: str | None = None) -> None:
        """Build the one-line message '<source>: [member <m>] <problem>; <fix>'."""
        self.reason = reason or self.REASON
        """Stable key of the refusal, e.g. 'hash_mismatch' or 'model_op_not_allowed'."""
        self.source = source
        """The package path (directory or .cavatar) as given."""
        self.member = member
        """The member concerned (e.g. 'decoder.onnx'), or None for the package as a whole."""
        self.problem = _one_line(problem)
        """What is wrong."""
        self.fix = _one_line(fix)
        """What to do about it."""
        where = f"member {member} " if member else ""
        super().__init__(f"{source}: {where}{self.problem}; {self.fix}")


def _one_line(text: str) -> str:
    """Collapse whitespace (including newlines from third-party messages) so messages stay one line."""
    return " ".join(str(text).split())


class AvatarNotFoundError(AvatarFormatError):
    """The path does not exist."""

    REASON = "not_found"


class NotAnAvatarPackageError(AvatarFormatError):
    """The path exists but is neither a package directory (with avatar.json) nor a zip archive."""

    REASON = "not_a_package"


class CorruptArchiveError(AvatarFormatError):
    """The .cavatar zip is truncated or damaged (unreadable central directory, CRC error)."""

    REASON = "corrupt_archive"


class UnsafeMemberPathError(AvatarFormatError):
    """A member path is absolute, contains '..', a backslash or a drive, or is a symlink."""

    REASON = "unsafe_path"


class PackageTooLargeError(AvatarFormatError):
    """A member or the whole package is over the size limit (declared or actual size): zip-bomb guard."""

    REASON = "package_too_large"


class ManifestError(AvatarFormatError):
    """avatar.json is not valid JSON or does not follow the schema; the message names the field path."""

    REASON = "manifest_invalid"


class UnsupportedVersionError(AvatarFormatError):
    """avatar.json declares a format_version this code does not read."""

    REASON = "unsupported_version"


class MissingMemberError(AvatarFormatError):
    """A member the format requires or the manifest declares is absent."""

    REASON = "missing_member"


class UndeclaredMemberError(AvatarFormatError):
    """The package holds a file that the manifest does not declare."""

    REASON = "undeclared_member"


class HashMismatchError(AvatarFormatError):
    """A member's sha256 differs from the one in the manifest."""

    REASON = "hash_mismatch"


class InvalidMemberError(AvatarFormatError):
    """A member cannot be parsed (not an .npz or ONNX file, ONNX checker failure, unsafe ONNX features),
    or the decoder fails when run."""

    REASON = "invalid_member"


class TensorShapeError(AvatarFormatError):
    """An array or ONNX input/output has the wrong names, dtype, rank or shape for the manifest, or an
    index array points out of range."""

    REASON = "tensor_shape"


class NonFiniteWeightsError(AvatarFormatError):
    """An array, an ONNX initializer or a decoder output holds NaN or infinity."""

    REASON = "non_finite"


class UnboundedModelError(AvatarFormatError):
    """An ONNX member's cost cannot be bounded or is over the limits before anything runs: an operator outside
    the allowlist (control flow, data-dependent output sizes), an intermediate tensor whose shape does not
    follow from the manifest, or a tensor, memory or compute estimate over codecav.assets.graph_bounds'
    limits. `reason` says which (model_op_not_allowed, model_shape_unbounded, ...)."""

    REASON = "model_unbounded"


class TrialRunError(AvatarFormatError):
    """The trial run of a package model in a limited child process failed: over its wall-clock deadline,
    CPU time or address space, or it crashed or raised. `reason` says which (trial_timeout, ...)."""

    REASON = "trial_failed"


class AvatarWriteError(CodecavError):
    """An avatar package cannot be written where asked (not a format problem of the package itself)."""
