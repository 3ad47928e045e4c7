"""Errors of avatar packages: one class per problem, each message one line naming the package, the member
and the fix (e.g. "a.cavatar: member decoder.onnx sha256 mismatch (...); re-export the avatar ...")."""

from __future__ import annotations

from codecav.errors import CodecavError


class AvatarFormatError(CodecavError):
    """An avatar package cannot be used; `source`, `member` and `fix` say where and what to do."""

    def __init__(self, source: str, member: str | None, problem: str, fix: str) -> None:
        """Build the one-line message '<source>: [member <m>] <problem>; <fix>'."""
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


class NotAnAvatarPackageError(AvatarFormatError):
    """The path exists but is neither a package directory (with avatar.json) nor a zip archive."""


class CorruptArchiveError(AvatarFormatError):
    """The .cavatar zip is truncated or damaged (unreadable central directory, CRC error)."""


class UnsafeMemberPathError(AvatarFormatError):
    """A member path is absolute, contains '..', a backslash or a drive, or is a symlink."""


class PackageTooLargeError(AvatarFormatError):
    """A member or the whole package is over the size limit (declared or actual size): zip-bomb guard."""


class ManifestError(AvatarFormatError):
    """avatar.json is not valid JSON or does not follow the schema; the message names the field path."""


class UnsupportedVersionError(AvatarFormatError):
    """avatar.json declares a format_version this code does not read."""


class MissingMemberError(AvatarFormatError):
    """A member the format requires or the manifest declares is absent."""


class UndeclaredMemberError(AvatarFormatError):
    """The package holds a file that the manifest does not declare."""


class HashMismatchError(AvatarFormatError):
    """A member's sha256 differs from the one in the manifest."""


class InvalidMemberError(AvatarFormatError):
    """A member cannot be parsed (not an .npz or ONNX file, ONNX checker failure, unsafe ONNX features),
    or the decoder fails when run."""


class TensorShapeError(AvatarFormatError):
    """An array or ONNX input/output has the wrong names, dtype, rank or shape for the manifest, or an
    index array points out of range."""


class NonFiniteWeightsError(AvatarFormatError):
    """An array, an ONNX initializer or a decoder output holds NaN or infinity."""


class AvatarWriteError(CodecavError):
    """An avatar package cannot be written where asked (not a format problem of the package itself)."""
