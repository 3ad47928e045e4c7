"""Human-readable views of a package for the CLI: `codecav avatar info` (describe_avatar) and
`codecav avatar verify` (verify_summary). Both raise the AvatarFormatError of a bad package."""

from __future__ import annotations

from pathlib import Path

from codecav.assets.archive import PackageLimits
from codecav.assets.loader import DEFAULT_LIMITS, open_avatar
from codecav.assets.manifest import MANIFEST_MEMBER
from codecav.assets.verify import verify_avatar


def describe_avatar(path: Path | str, *, limits: PackageLimits = DEFAULT_LIMITS) -> str:
    """Multi-line summary of a checked package: identity, latent layout, mesh, feature map, MLP, members
    with sizes and sha256 prefixes, provenance."""
    loaded = open_avatar(path, limits=limits)
    m = loaded.package.manifest
    fm, mlp = m.feature_map, m.pixel_mlp
    start = 0
    segments = []
    for seg in m.latent.segments:
        segments.append(f"{seg.name} [{start}:{start + seg.size}]")
        start += seg.size
    layers = " -> ".join(str(n) for n in (mlp.input_size(fm.channels), *mlp.hidden, 3))
    lines = [
        f"avatar   {m.avatar_id} - {m.name}",
        f"source   {loaded.package.source} ({'.cavatar zip' if loaded.is_zip else 'directory'})",
        f"format   v{m.format_version}",
        f"latent   {m.latent.dim} floats: {', '.join(segments)}",
        f"mesh     {m.mesh.num_vertices} geometry vertices, {m.mesh.num_render_vertices} render vertices "
        f"(split at UV seams), {m.mesh.num_triangles} triangles",
        f"features {fm.channels} channels x {fm.height} x {fm.width} (C x H x W)",
        f"mlp      {layers} ({mlp.activation}, {mlp.uv_frequencies} UV frequencies, sigmoid RGB out)",
        f"members  {len(loaded.member_sizes)} files, {_size(loaded.total_bytes)} in all",
    ]
    for name, size in loaded.member_sizes.items():
        digest = "(manifest)" if name == MANIFEST_MEMBER else f"sha256 {m.members[name][:12]}"
        lines.append(f"  {name:<24} {_size(size):>10}  {digest}")
    lines.append("provenance")
    if not m.provenance:
        lines.append("  (none recorded)")
    for key in sorted(m.provenance):
        lines.append(f"  {key}: {_value(m.provenance[key])}")
    if m.provenance.get("kind") == "synthetic-random":
        lines.append("note     random weights, untrained: a plumbing avatar, not a likeness of anyone")
    return "\n".join(lines)


def verify_summary(path: Path | str, *, limits: PackageLimits = DEFAULT_LIMITS) -> str:
    """One line starting 'OK ' after all checks and one decoder run pass; AvatarFormatError otherwise."""
    return verify_avatar(path, limits=limits).summary()


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n / 2**20:.1f} MiB"


def _value(value: object) -> str:
    """Provenance values on one line, long ones shortened."""
    text = " ".join(str(value).split())
    return text if len(text) <= 100 else text[:97] + "..."
