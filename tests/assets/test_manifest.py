"""avatar.json schema: round trip and the field path in every schema error."""

from __future__ import annotations

import json
from typing import Any

import pytest

from codecav.assets.errors import ManifestError, UnsupportedVersionError
from codecav.assets.manifest import manifest_to_dict, manifest_to_json, parse_manifest
from codecav.assets.package import AvatarPackage


def test_round_trip(synthetic: AvatarPackage) -> None:
    data = manifest_to_json(synthetic.manifest)
    assert parse_manifest(data, "x") == synthetic.manifest
    assert data.endswith(b"\n") and manifest_to_json(parse_manifest(data, "x")) == data


def mutated(synthetic: AvatarPackage, path: str, value: Any) -> bytes:
    obj = manifest_to_dict(synthetic.manifest)
    *parents, last = path.split(".")
    node: Any = obj
    for key in parents:
        node = node[int(key)] if key.isdigit() else node[key]
    if value is _DELETE:
        del node[last]
    elif last.isdigit():
        node[int(last)] = value
    else:
        node[last] = value
    return json.dumps(obj).encode()


_DELETE = object()


@pytest.mark.parametrize(("path", "value", "expected"), [
    ("avatar_id", "Has Spaces", "field $.avatar_id is 'Has Spaces', which does not match"),
    ("name", "", "field $.name must be 1..200 printable characters"),
    ("name", _DELETE, "field $.name is missing"),
    ("extra", 1, "field $.extra is not a v1 field"),
    ("latent.segments", [], "field $.latent.segments has 0 entries"),
    ("latent.segments.1.size", 0, "field $.latent.segments[1].size is 0, outside 1..4096"),
    ("latent.segments.1.name", "face", "field $.latent.segments[1].name repeats segment name 'face'"),
    ("mesh.num_vertices", "12", "field $.mesh.num_vertices must be an integer, got a string"),
    ("mesh.num_render_vertices", 10, "field $.mesh.num_render_vertices is 10, fewer than num_vertices"),
    ("feature_map.channels", 20, "field $.feature_map.channels is 20, outside 4..16"),
    ("feature_map.width", True, "field $.feature_map.width must be an integer, got a boolean"),
    ("pixel_mlp.activation", "tanh", "field $.pixel_mlp.activation is 'tanh', not one of relu, sine"),
    ("pixel_mlp.hidden.0", 0, "field $.pixel_mlp.hidden[0] is 0, outside 1..256"),
    ("members.extra.bin", "0" * 64, "is not a v1 member path"),
    ("members.mesh.npz", "XYZ", "field $.members['mesh.npz'] must be a lower-case hex sha256"),
    ("provenance", [], "field $.provenance must be an object"),
])
def test_schema_errors_name_the_field(synthetic: AvatarPackage, path: str, value: Any, expected: str) -> None:
    if path.startswith("members."):
        obj = manifest_to_dict(synthetic.manifest)
        obj["members"][path.removeprefix("members.")] = value
        data = json.dumps(obj).encode()
    else:
        data = mutated(synthetic, path, value)
    with pytest.raises(ManifestError) as info:
        parse_manifest(data, "pkg")
    message = str(info.value)
    assert expected in message, message
    assert message.startswith("pkg: member avatar.json field ") and "\n" not in message


def test_required_member_missing_from_manifest(synthetic: AvatarPackage) -> None:
    obj = manifest_to_dict(synthetic.manifest)
    del obj["members"]["decoder.onnx"]
    with pytest.raises(ManifestError, match=r"\$.members\['decoder.onnx'\] is missing"):
        parse_manifest(json.dumps(obj).encode(), "pkg")


@pytest.mark.parametrize("text", ['{"a": 1, "a": 2}', '{"format_version": NaN}', "[1, 2]", "\xff"])
def test_bad_json(text: str) -> None:
    with pytest.raises(ManifestError):
        parse_manifest(text.encode("latin-1"), "pkg")


def test_version_checked_first() -> None:
    with pytest.raises(UnsupportedVersionError, match="format_version 7"):
        parse_manifest(b'{"format_version": 7, "something": "else"}', "pkg")
