"""load_avatar: read a package (directory or .cavatar), check everything - sizes, paths, manifest schema,
declared members, sha256, array shapes and finiteness, ONNX graph statically - and only then return it.
Nothing in the package is executed here (see codecav.assets.verify for a decoder test run)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from codecav.assets.archive import PackageLimits, RawPackage, read_package
from codecav.assets.errors import HashMismatchError, MissingMemberError, NotAnAvatarPackageError, UndeclaredMemberError
from codecav.assets.manifest import (
    DECODER_MEMBER,
    MANIFEST_MEMBER,
    MESH_MEMBER,
    MLP_MEMBER,
    QUANT_TABLE_MEMBER,
    parse_manifest,
)
from codecav.assets.onnx_checks import check_package_models
from codecav.assets.package import AvatarPackage
from codecav.assets.tensors import check_mesh, check_pixel_mlp, check_quant_table, read_npz
from codecav.assets.writer import sha256_hex, write_avatar

__all__ = ["LoadedAvatar", "PackageLimits", "load_avatar", "open_avatar", "write_avatar"]

DEFAULT_LIMITS = PackageLimits()
"""Limits load_avatar applies unless told otherwise."""


@dataclass(frozen=True)
class LoadedAvatar:
    """A checked package plus facts about its files, for `codecav avatar info` and verify reports."""

    package: AvatarPackage
    """The checked package."""
    member_sizes: dict[str, int]
    """Member path -> bytes, avatar.json included, sorted by path."""
    is_zip: bool
    """True when read from a .cavatar zip."""

    @property
    def total_bytes(self) -> int:
        """Sum of member sizes."""
        return sum(self.member_sizes.values())


def load_avatar(
    path: Path | str,
    *,
    max_total_bytes: int = DEFAULT_LIMITS.max_total_bytes,
    max_member_bytes: int = DEFAULT_LIMITS.max_member_bytes,
    check_onnx: bool = True,
) -> AvatarPackage:
    """Load and check the package at `path`; an AvatarFormatError subclass (one-line message) if anything is
    wrong. `check_onnx=False` skips the static ONNX checks, operator allowlist and shape bounds included
    (hashes are still verified): for packages this process made itself, never for received ones."""
    limits = PackageLimits(max_total_bytes=max_total_bytes, max_member_bytes=max_member_bytes)
    return open_avatar(path, limits=limits, check_onnx=check_onnx).package


def open_avatar(path: Path | str, *, limits: PackageLimits = DEFAULT_LIMITS, check_onnx: bool = True) -> LoadedAvatar:
    """load_avatar that also returns the member sizes."""
    raw = read_package(Path(path), limits)
    return LoadedAvatar(_check(raw, limits, check_onnx), {n: len(raw.members[n]) for n in sorted(raw.members)},
                        raw.is_zip)


def _check(raw: RawPackage, limits: PackageLimits, check_onnx: bool) -> AvatarPackage:
    source = raw.source
    if MANIFEST_MEMBER not in raw.members:
        raise NotAnAvatarPackageError(source, None, f"has no {MANIFEST_MEMBER}",
                                      "point at an avatar package (a directory or .cavatar holding avatar.json)")
    manifest = parse_manifest(raw.members[MANIFEST_MEMBER], source)
    present = set(raw.members) - {MANIFEST_MEMBER}
    missing = sorted(set(manifest.members) - present)
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise MissingMemberError(source, missing[0], f"is declared in avatar.json but absent{more}",
                                 "restore the file or re-export the avatar")
    undeclared = sorted(present - set(manifest.members))
    if undeclared:
        raise UndeclaredMemberError(source, undeclared[0], "is in the package but not declared in avatar.json",
                                    "remove the file or re-export the avatar")
    for name in sorted(manifest.members):
        actual = sha256_hex(raw.members[name])
        if actual != manifest.members[name]:
            raise HashMismatchError(source, name, f"sha256 mismatch (manifest {manifest.members[name][:12]}..., "
                                                  f"file {actual[:12]}...)", "re-export the avatar or restore the file")
    mesh = check_mesh(read_npz(raw.members[MESH_MEMBER], source, MESH_MEMBER, limits.max_member_bytes),
                      manifest, source)
    mlp = check_pixel_mlp(read_npz(raw.members[MLP_MEMBER], source, MLP_MEMBER, limits.max_member_bytes),
                          manifest, source)
    table = None
    if QUANT_TABLE_MEMBER in manifest.members:
        table = check_quant_table(read_npz(raw.members[QUANT_TABLE_MEMBER], source, QUANT_TABLE_MEMBER,
                                           limits.max_member_bytes), manifest, source)
    encoders = {n: raw.members[n] for n in sorted(manifest.members) if n.startswith("encoders/")}
    if check_onnx:
        check_package_models(raw.members[DECODER_MEMBER], encoders, manifest, source, DECODER_MEMBER, limits.graph)
    return AvatarPackage(manifest=manifest, mesh=mesh, pixel_mlp=mlp, decoder_onnx=raw.members[DECODER_MEMBER],
                         encoders_onnx=encoders, source=source, quant_table=table)
