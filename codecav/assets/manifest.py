"""avatar.json <-> AvatarManifest: strict schema checks with the JSON path of the offending field."""

from __future__ import annotations

import json
import re
from typing import Any

from codecav.assets.errors import ManifestError, UnsupportedVersionError
from codecav.assets.package import (
    ACTIVATIONS,
    FORMAT_VERSION,
    READABLE_VERSIONS,
    AvatarManifest,
    FeatureMapInfo,
    LatentLayout,
    LatentSegment,
    MeshInfo,
    PixelMlpInfo,
)
from codecav.bounded_json import JsonBoundsError, loads_bounded

MANIFEST_MEMBER = "avatar.json"
"""The manifest's member path; it is the one member not listed in `members`."""
DECODER_MEMBER = "decoder.onnx"
"""The ONNX decoder (latent, view_dir) -> (geometry, features)."""
MESH_MEMBER = "mesh.npz"
"""Mesh topology arrays: faces, uv, vertex_index."""
MLP_MEMBER = "pixel_mlp.npz"
"""Per-pixel MLP arrays: w0, b0, w1, b1, ..."""
REQUIRED_MEMBERS = (DECODER_MEMBER, MESH_MEMBER, MLP_MEMBER)
"""Members every v1 package has besides avatar.json."""
QUANT_TABLE_MEMBER = "quant_table.npz"
"""Format v2, optional: the per-entry code quantization of wire format v2 (step, center)."""
ENCODER_MEMBER_RE = re.compile(r"encoders/[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\.onnx")
"""Optional encoder models."""

AVATAR_ID_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
"""avatar_id: lower-case letters, digits, '.', '_', '-'; at most 64 characters."""
SEGMENT_NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,31}")
"""Latent segment names: identifiers such as 'face', 'eyes', 'mouth'."""
SHA256_RE = re.compile(r"[0-9a-f]{64}")
"""A member hash: lower-case hex sha256."""

MAX_NAME_CHARS = 200
"""Longest human-readable name."""
MAX_LATENT_DIM = 4096
"""Largest latent code (total of all segments)."""
MAX_VERTICES = 1_000_000
"""Most geometry or render vertices, and most triangles."""
MAX_FEATURE_SIZE = 4096
"""Largest feature-map side."""
MAX_FEATURE_CHANNELS = 16
"""Most feature channels (four RGBA texture layers)."""
MAX_HIDDEN_LAYERS = 8
"""Most hidden layers of the pixel MLP."""
MAX_HIDDEN_WIDTH = 256
"""Widest hidden layer of the pixel MLP."""
MAX_UV_FREQUENCIES = 10
"""Most UV positional-encoding frequencies L."""
MAX_MANIFEST_BYTES = 1024 * 1024
"""Largest avatar.json (provenance included); checked before parsing."""
MAX_MANIFEST_DEPTH = 16
"""Deepest nesting of arrays and objects in avatar.json (the schema needs 3, provenance a few more); checked
before the parser recurses, so a deeply nested file is one line, not a RecursionError."""

_TOP_KEYS = ("format_version", "avatar_id", "name", "latent", "mesh", "feature_map", "pixel_mlp", "members",
             "provenance")


def is_known_member_name(name: str, version: int = FORMAT_VERSION) -> bool:
    """True for the member paths format `version` allows besides avatar.json (v2 adds quant_table.npz)."""
    if name == QUANT_TABLE_MEMBER:
        return version >= 2
    return name in REQUIRED_MEMBERS or ENCODER_MEMBER_RE.fullmatch(name) is not None


def manifest_to_dict(manifest: AvatarManifest) -> dict[str, Any]:
    """The JSON object of `manifest`, keys in schema order, members sorted by path."""
    return {
        "format_version": manifest.format_version,
        "avatar_id": manifest.avatar_id,
        "name": manifest.name,
        "latent": {"segments": [{"name": s.name, "size": s.size} for s in manifest.latent.segments]},
        "mesh": {
            "num_vertices": manifest.mesh.num_vertices,
            "num_render_vertices": manifest.mesh.num_render_vertices,
            "num_triangles": manifest.mesh.num_triangles,
        },
        "feature_map": {
            "channels": manifest.feature_map.channels,
            "height": manifest.feature_map.height,
            "width": manifest.feature_map.width,
        },
        "pixel_mlp": {
            "hidden": list(manifest.pixel_mlp.hidden),
            "activation": manifest.pixel_mlp.activation,
            "uv_frequencies": manifest.pixel_mlp.uv_frequencies,
        },
        "members": {k: manifest.members[k] for k in sorted(manifest.members)},
        "provenance": manifest.provenance,
    }


def manifest_to_json(manifest: AvatarManifest) -> bytes:
    """UTF-8 avatar.json bytes: 2-space indent, trailing newline, deterministic for equal manifests."""
    text = json.dumps(manifest_to_dict(manifest), indent=2, ensure_ascii=False, allow_nan=False)
    return (text + "\n").encode("utf-8")


def parse_manifest(data: bytes, source: str) -> AvatarManifest:
    """Parse and check avatar.json bytes; ManifestError naming the field path, UnsupportedVersionError."""
    try:
        obj = loads_bounded(data, max_bytes=MAX_MANIFEST_BYTES, max_depth=MAX_MANIFEST_DEPTH,
                            object_pairs_hook=_no_duplicates)
    except JsonBoundsError as exc:
        if exc.reason == "json_invalid":
            raise ManifestError(source, MANIFEST_MEMBER, f"is not valid UTF-8 JSON: it {exc}",
                                "re-export the avatar or fix the JSON syntax") from None
        raise ManifestError(source, MANIFEST_MEMBER, str(exc), "re-export the avatar (provenance is meant to be "
                            f"small and shallow: at most {MAX_MANIFEST_DEPTH} levels, {MAX_MANIFEST_BYTES} bytes)",
                            reason="manifest_too_deep" if exc.reason == "json_too_deep" else "manifest_too_large"
                            ) from None
    return _Checker(source).manifest(obj)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


class _Checker:
    """Schema checks; every failure is a ManifestError whose problem starts with the JSON field path."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.version = FORMAT_VERSION

    def fail(self, path: str, problem: str) -> ManifestError:
        return ManifestError(self.source, MANIFEST_MEMBER, f"field {path} {problem}",
                             "re-export the avatar or fix avatar.json (see docs/avatar-format.md)")

    def obj(self, value: Any, path: str, keys: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(path, f"must be an object, got {_kind(value)}")
        for key in keys:
            if key not in value and key not in optional:
                raise self.fail(f"{path}.{key}", "is missing")
        extra = sorted(set(value) - set(keys))
        if extra:
            raise self.fail(f"{path}.{extra[0]}", f"is not a v{self.version} field (allowed: {', '.join(keys)})")
        return value

    def int_(self, value: Any, path: str, lo: int, hi: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(path, f"must be an integer, got {_kind(value)}")
        if not lo <= value <= hi:
            raise self.fail(path, f"is {value}, outside {lo}..{hi}")
        return value

    def str_(self, value: Any, path: str, pattern: re.Pattern[str] | None = None, max_len: int = 200) -> str:
        if not isinstance(value, str):
            raise self.fail(path, f"must be a string, got {_kind(value)}")
        if not value.strip() or len(value) > max_len or any(ord(ch) < 32 for ch in value):
            raise self.fail(path, f"must be 1..{max_len} printable characters, got {value[:40]!r}")
        if pattern is not None and not pattern.fullmatch(value):
            raise self.fail(path, f"is {value[:40]!r}, which does not match {pattern.pattern}")
        return value

    def list_(self, value: Any, path: str, lo: int, hi: int) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(path, f"must be a list, got {_kind(value)}")
        if not lo <= len(value) <= hi:
            raise self.fail(path, f"has {len(value)} entries, expected {lo}..{hi}")
        return value

    def manifest(self, obj: Any) -> AvatarManifest:
        if not isinstance(obj, dict):
            raise self.fail("$", f"must be an object, got {_kind(obj)}")
        # The version decides the schema, so it is checked before anything else.
        if "format_version" not in obj:
            raise self.fail("$.format_version", "is missing")
        version = obj["format_version"]
        if isinstance(version, bool) or not isinstance(version, int):
            raise self.fail("$.format_version", f"must be an integer, got {_kind(version)}")
        if version not in READABLE_VERSIONS:
            raise UnsupportedVersionError(
                self.source, MANIFEST_MEMBER,
                f"has format_version {version}, this codecav reads versions "
                f"{', '.join(str(v) for v in READABLE_VERSIONS)}",
                "upgrade codecav" if version > FORMAT_VERSION else "re-export the avatar with this codecav",
            )
        self.version = version
        top = self.obj(obj, "$", _TOP_KEYS, optional=("provenance",))
        provenance = top.get("provenance", {})
        if not isinstance(provenance, dict):
            raise self.fail("$.provenance", f"must be an object, got {_kind(provenance)}")
        return AvatarManifest(
            format_version=version,
            avatar_id=self.str_(top["avatar_id"], "$.avatar_id", AVATAR_ID_RE, 64),
            name=self.str_(top["name"], "$.name", None, MAX_NAME_CHARS),
            latent=self.latent(top["latent"], "$.latent"),
            mesh=self.mesh(top["mesh"], "$.mesh"),
            feature_map=self.feature_map(top["feature_map"], "$.feature_map"),
            pixel_mlp=self.pixel_mlp(top["pixel_mlp"], "$.pixel_mlp"),
            members=self.members(top["members"], "$.members", version),
            provenance=provenance,
        )

    def latent(self, value: Any, path: str) -> LatentLayout:
        obj = self.obj(value, path, ("segments",))
        items = self.list_(obj["segments"], f"{path}.segments", 1, 64)
        segments: list[LatentSegment] = []
        for i, item in enumerate(items):
            p = f"{path}.segments[{i}]"
            seg = self.obj(item, p, ("name", "size"))
            name = self.str_(seg["name"], f"{p}.name", SEGMENT_NAME_RE, 32)
            if any(s.name == name for s in segments):
                raise self.fail(f"{p}.name", f"repeats segment name {name!r}; names must be unique")
            segments.append(LatentSegment(name, self.int_(seg["size"], f"{p}.size", 1, MAX_LATENT_DIM)))
        layout = LatentLayout(tuple(segments))
        if layout.dim > MAX_LATENT_DIM:
            raise self.fail(f"{path}.segments", f"total {layout.dim} entries, over the limit {MAX_LATENT_DIM}")
        return layout

    def mesh(self, value: Any, path: str) -> MeshInfo:
        obj = self.obj(value, path, ("num_vertices", "num_render_vertices", "num_triangles"))
        v = self.int_(obj["num_vertices"], f"{path}.num_vertices", 3, MAX_VERTICES)
        r = self.int_(obj["num_render_vertices"], f"{path}.num_render_vertices", 3, MAX_VERTICES)
        if r < v:
            raise self.fail(f"{path}.num_render_vertices", f"is {r}, fewer than num_vertices {v}")
        f = self.int_(obj["num_triangles"], f"{path}.num_triangles", 1, MAX_VERTICES)
        return MeshInfo(v, r, f)

    def feature_map(self, value: Any, path: str) -> FeatureMapInfo:
        obj = self.obj(value, path, ("channels", "height", "width"))
        c = self.int_(obj["channels"], f"{path}.channels", 4, MAX_FEATURE_CHANNELS)
        if c % 4:
            raise self.fail(f"{path}.channels", f"is {c}, not a multiple of 4")
        h = self.int_(obj["height"], f"{path}.height", 1, MAX_FEATURE_SIZE)
        w = self.int_(obj["width"], f"{path}.width", 1, MAX_FEATURE_SIZE)
        return FeatureMapInfo(c, h, w)

    def pixel_mlp(self, value: Any, path: str) -> PixelMlpInfo:
        obj = self.obj(value, path, ("hidden", "activation", "uv_frequencies"))
        hidden = self.list_(obj["hidden"], f"{path}.hidden", 0, MAX_HIDDEN_LAYERS)
        widths = tuple(self.int_(h, f"{path}.hidden[{i}]", 1, MAX_HIDDEN_WIDTH) for i, h in enumerate(hidden))
        activation = obj["activation"]
        if activation not in ACTIVATIONS:
            raise self.fail(f"{path}.activation", f"is {activation!r}, not one of {', '.join(ACTIVATIONS)}")
        freqs = self.int_(obj["uv_frequencies"], f"{path}.uv_frequencies", 0, MAX_UV_FREQUENCIES)
        return PixelMlpInfo(widths, str(activation), freqs)

    def members(self, value: Any, path: str, version: int) -> dict[str, str]:
        if not isinstance(value, dict):
            raise self.fail(path, f"must be an object, got {_kind(value)}")
        out: dict[str, str] = {}
        for name, digest in value.items():
            p = f"{path}[{name[:80]!r}]"
            if not is_known_member_name(name, version):
                extra = f", {QUANT_TABLE_MEMBER}" if version >= 2 else f"; {QUANT_TABLE_MEMBER} needs format v2"
                raise self.fail(p, f"is not a v{version} member path (decoder.onnx, mesh.npz, "
                                   f"pixel_mlp.npz, encoders/NAME.onnx{extra})")
            if not isinstance(digest, str) or not SHA256_RE.fullmatch(digest):
                raise self.fail(p, "must be a lower-case hex sha256 (64 characters)")
            out[name] = digest
        for name in REQUIRED_MEMBERS:
            if name not in out:
                raise self.fail(f"{path}[{name!r}]", "is missing; every package declares its decoder, mesh and MLP")
        return out


def _kind(value: Any) -> str:
    """JSON type name of a parsed value, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return {int: "an integer", float: "a number", str: "a string", list: "a list", dict: "an object"}.get(
        type(value), type(value).__name__)
