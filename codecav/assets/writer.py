"""write_avatar: an AvatarPackage to a directory or a deterministic .cavatar zip, checked before writing so
codecav never writes a package it would refuse to load."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import zipfile
from dataclasses import replace
from pathlib import Path

from codecav.assets.archive import ZIP_SUFFIX
from codecav.assets.errors import AvatarWriteError, ManifestError
from codecav.assets.graph_bounds import GraphLimits
from codecav.assets.manifest import (
    DECODER_MEMBER,
    ENCODER_MEMBER_RE,
    MANIFEST_MEMBER,
    MESH_MEMBER,
    MLP_MEMBER,
    QUANT_TABLE_MEMBER,
    manifest_to_json,
    parse_manifest,
)
from codecav.assets.onnx_checks import check_package_models
from codecav.assets.package import AvatarManifest, AvatarPackage
from codecav.assets.tensors import (
    FIXED_ZIP_TIME,
    check_mesh,
    check_pixel_mlp,
    check_quant_table,
    mesh_arrays,
    mlp_arrays,
    npz_bytes,
    quant_table_arrays,
)


def sha256_hex(data: bytes) -> str:
    """Lower-case hex sha256 of `data`, as recorded in the manifest's `members`."""
    return hashlib.sha256(data).hexdigest()


def package_member_bytes(package: AvatarPackage) -> dict[str, bytes]:
    """Every member except avatar.json, serialized (npz deterministic), keyed by member path."""
    members = {
        DECODER_MEMBER: package.decoder_onnx,
        MESH_MEMBER: npz_bytes(mesh_arrays(package.mesh)),
        MLP_MEMBER: npz_bytes(mlp_arrays(package.pixel_mlp)),
    }
    for name, data in package.encoders_onnx.items():
        members[name] = data
    if package.quant_table is not None:
        members[QUANT_TABLE_MEMBER] = npz_bytes(quant_table_arrays(package.quant_table))
    return members


def sealed_manifest(package: AvatarPackage, members: dict[str, bytes]) -> AvatarManifest:
    """The package's manifest at the lowest format version that holds `members` (2 with a quant table, else 1, so
    packages without one stay readable by v1 readers) with `members` set to the sha256 of `members`."""
    return replace(package.manifest, format_version=2 if QUANT_TABLE_MEMBER in members else 1,
                   members={name: sha256_hex(members[name]) for name in sorted(members)})


def avatar_files(package: AvatarPackage, source: str = "<package>") -> dict[str, bytes]:
    """All member files of `package` (avatar.json included), checked as load_avatar would check them."""
    members = package_member_bytes(package)
    for name in members:
        if name not in (DECODER_MEMBER, MESH_MEMBER, MLP_MEMBER, QUANT_TABLE_MEMBER) \
                and not ENCODER_MEMBER_RE.fullmatch(name):
            raise ManifestError(source, name, "is not a valid encoder member path",
                                "name encoders as 'encoders/NAME.onnx'")
    manifest_json = manifest_to_json(sealed_manifest(package, members))
    manifest = parse_manifest(manifest_json, source)  # the schema checks of loading
    check_mesh(mesh_arrays(package.mesh), manifest, source)
    check_pixel_mlp(mlp_arrays(package.pixel_mlp), manifest, source)
    if package.quant_table is not None:
        check_quant_table(quant_table_arrays(package.quant_table), manifest, source)
    encoders = {name: data for name, data in members.items() if name.startswith("encoders/")}
    check_package_models(package.decoder_onnx, encoders, manifest, source, DECODER_MEMBER, GraphLimits())
    return {MANIFEST_MEMBER: manifest_json, **members}


def zip_bytes(files: dict[str, bytes]) -> bytes:
    """A .cavatar: deflated entries in sorted order, fixed timestamps and permissions (byte-reproducible)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=FIXED_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            info.external_attr = 0o644 << 16
            zf.writestr(info, files[name], compresslevel=6)
    return buf.getvalue()


def write_avatar(package: AvatarPackage, path: Path | str) -> Path:
    """Write `package` to `path`: a .cavatar zip if the name ends in .cavatar, else a directory (replacing
    an existing package there). Hashes are computed here; output is deterministic. Returns the path."""
    path = Path(path)
    files = avatar_files(package, str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    if path.suffix == ZIP_SUFFIX:
        if path.is_dir():
            raise AvatarWriteError(f"{path}: is a directory; choose a file path ending in {ZIP_SUFFIX}")
        tmp.write_bytes(zip_bytes(files))
        os.replace(tmp, path)
        return path
    if path.exists() and not path.is_dir():
        raise AvatarWriteError(f"{path}: exists and is not a directory; remove it or end the path in {ZIP_SUFFIX}")
    if path.is_dir() and any(path.iterdir()) and not (path / MANIFEST_MEMBER).is_file():
        raise AvatarWriteError(f"{path}: is a non-empty directory that is not an avatar package; choose another path")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        for name in sorted(files):
            target = tmp / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(files[name])
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path
