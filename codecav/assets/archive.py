"""Reading the raw members of a package (a directory or a .cavatar zip) under size limits, with no path
escaping the package: absolute and '..' paths, backslashes, drives and symlinks are refused, and zip
members are checked by their declared sizes before anything is decompressed (zip-bomb guard)."""

from __future__ import annotations

import os
import stat
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from codecav.assets.errors import (
    AvatarNotFoundError,
    CorruptArchiveError,
    NotAnAvatarPackageError,
    PackageTooLargeError,
    UnsafeMemberPathError,
)
from codecav.assets.graph_bounds import GraphLimits

MiB = 1024 * 1024

ZIP_SUFFIX = ".cavatar"
"""File suffix of zipped packages."""

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_ZIP_OVERHEAD_BYTES = 1 * MiB
"""Headers and directory a zip may add on top of its members' sizes."""
_READ_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, zlib.error, OSError, NotImplementedError,
                RuntimeError, ValueError)


@dataclass(frozen=True)
class PackageLimits:
    """Size limits applied before and while reading a package; the defaults fit any sensible avatar."""

    max_total_bytes: int = 64 * MiB
    """Most bytes all members may hold together (uncompressed)."""
    max_member_bytes: int = 48 * MiB
    """Most bytes one member may hold (uncompressed)."""
    max_members: int = 64
    """Most files a package may contain."""
    graph: GraphLimits = field(default_factory=GraphLimits)
    """Static bounds on every ONNX member's operators, tensor sizes and work (codecav.assets.graph_bounds)."""


@dataclass(frozen=True)
class RawPackage:
    """Every member of a package as bytes, read but not yet checked against the manifest."""

    source: str
    """The path as given, for messages."""
    is_zip: bool
    """True for a .cavatar zip, False for a directory."""
    members: dict[str, bytes]
    """Member path (POSIX, relative) -> content, including avatar.json."""

    @property
    def total_bytes(self) -> int:
        """Sum of member sizes."""
        return sum(len(b) for b in self.members.values())


def unsafe_path_reason(name: str) -> str | None:
    """Why `name` cannot be a member path (absolute, '..', backslash, drive, empty part), or None if fine."""
    if not name:
        return "has an empty path"
    if "\\" in name or "\x00" in name:
        return "contains a backslash or NUL"
    if name.startswith("/"):
        return "is an absolute path"
    parts = PurePosixPath(name).parts
    if ":" in parts[0]:
        return "names a drive"
    if any(p in ("..", ".") for p in name.split("/")):
        return "contains '..' or '.'"
    return None


def read_package(path: Path, limits: PackageLimits) -> RawPackage:
    """Read every member of the package at `path`; the errors of archive checks (see module docstring)."""
    source = str(path)
    if not os.path.lexists(path):
        raise AvatarNotFoundError(source, None, "does not exist",
                                  "check the path (a package directory or a .cavatar file)")
    if path.is_dir():
        return _read_directory(path, source, limits)
    if not path.is_file():
        raise NotAnAvatarPackageError(source, None, "is not a regular file or directory",
                                      "point at a package directory or a .cavatar file")
    return _read_zip(path, source, limits)


def _too_large(source: str, member: str | None, size: int, limit: int, what: str) -> PackageTooLargeError:
    return PackageTooLargeError(source, member, f"{what} is {size} bytes, over the limit of {limit} bytes",
                                "use a smaller avatar or raise the limit (max_total_bytes/max_member_bytes)")


def _read_directory(root: Path, source: str, limits: PackageLimits) -> RawPackage:
    sizes: dict[str, int] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in sorted(dirnames) + sorted(filenames):
            full = Path(dirpath) / name
            rel = full.relative_to(root).as_posix()
            mode = os.lstat(full).st_mode
            if stat.S_ISLNK(mode):
                raise UnsafeMemberPathError(source, rel, "is a symbolic link",
                                            "replace it with the file itself; links may point outside the package")
            if stat.S_ISDIR(mode):
                continue
            if not stat.S_ISREG(mode):
                raise UnsafeMemberPathError(source, rel, "is not a regular file", "remove it from the package")
            sizes[rel] = os.lstat(full).st_size
            _check_sizes(source, sizes, limits)
    if not sizes:
        raise NotAnAvatarPackageError(source, None, "is an empty directory",
                                      "point at a package directory holding avatar.json")
    members: dict[str, bytes] = {}
    for rel in sorted(sizes):
        with open(root / rel, "rb") as fh:
            data = fh.read(limits.max_member_bytes + 1)
        if len(data) > limits.max_member_bytes:
            raise _too_large(source, rel, len(data), limits.max_member_bytes, "size")
        members[rel] = data
    _check_total(source, sum(len(d) for d in members.values()), limits)
    return RawPackage(source, False, members)


def _check_sizes(source: str, sizes: dict[str, int], limits: PackageLimits) -> None:
    """Check member count and declared sizes (the last entry added and the running total)."""
    if len(sizes) > limits.max_members:
        raise PackageTooLargeError(source, None, f"has more than {limits.max_members} files",
                                   "remove the files that are not avatar members")
    name, size = next(reversed(sizes.items()))
    if size > limits.max_member_bytes:
        raise _too_large(source, name, size, limits.max_member_bytes, "size")
    _check_total(source, sum(sizes.values()), limits)


def _check_total(source: str, total: int, limits: PackageLimits) -> None:
    if total > limits.max_total_bytes:
        raise _too_large(source, None, total, limits.max_total_bytes, "total member size")


def _read_zip(path: Path, source: str, limits: PackageLimits) -> RawPackage:
    with open(path, "rb") as fh:
        magic = fh.read(4)
    archive_size = path.stat().st_size
    if archive_size > limits.max_total_bytes + _ZIP_OVERHEAD_BYTES:
        raise _too_large(source, None, archive_size, limits.max_total_bytes + _ZIP_OVERHEAD_BYTES, "archive")
    try:
        zf = zipfile.ZipFile(path)
    except _READ_ERRORS as exc:
        if magic in _ZIP_MAGIC:
            raise CorruptArchiveError(source, None, f"is a damaged or truncated zip ({exc})",
                                      "download or copy the .cavatar again") from None
        raise NotAnAvatarPackageError(source, None, "is neither a package directory nor a zip archive",
                                      "point at a package directory or a .cavatar file") from None
    with zf:
        infos = _checked_infos(zf, source, limits)
        members: dict[str, bytes] = {}
        for info in infos:
            try:
                with zf.open(info) as member:
                    data = member.read(min(info.file_size, limits.max_member_bytes) + 1)
            except _READ_ERRORS as exc:
                raise CorruptArchiveError(source, info.filename, f"cannot be read ({exc})",
                                          "download or copy the .cavatar again") from None
            if len(data) != info.file_size:
                raise CorruptArchiveError(source, info.filename,
                                          f"holds {len(data)} bytes but its header declares {info.file_size}",
                                          "download or copy the .cavatar again")
            members[info.filename] = data
    return RawPackage(source, True, members)


def _checked_infos(zf: zipfile.ZipFile, source: str, limits: PackageLimits) -> list[zipfile.ZipInfo]:
    """The file entries of `zf` after path, duplicate, encryption and declared-size checks."""
    sizes: dict[str, int] = {}
    infos = []
    for info in zf.infolist():
        name = info.filename
        reason = unsafe_path_reason(name.rstrip("/") if info.is_dir() else name)
        if reason:
            raise UnsafeMemberPathError(source, repr(name[:80]), reason,
                                        "re-create the .cavatar with relative member paths (write_avatar)")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise UnsafeMemberPathError(source, name, "is a symbolic link", "store the file itself")
        if info.is_dir():
            continue
        if name in sizes:
            raise UnsafeMemberPathError(source, name, "appears twice in the zip", "re-create the .cavatar")
        if info.flag_bits & 0x1:
            raise CorruptArchiveError(source, name, "is encrypted", "store avatar members unencrypted")
        sizes[name] = info.file_size
        _check_sizes(source, sizes, limits)
        infos.append(info)
    if not infos:
        raise NotAnAvatarPackageError(source, None, "is an empty zip", "point at a .cavatar holding avatar.json")
    return infos
