"""Convert ICT-FaceKit and Lee Perry-Smith's head scan into the compact arrays the studio reads.

Run once, from the repository root, with the two GitHub snapshots as git mirrors (no work tree needed):

    .venv/bin/python scripts/convert_face_sources.py \
        --ict /work/.mirror/ICT-VGL+ICT-FaceKit/repo \
        --lps /work/.mirror/bhouston+three.js/repo

It reads the sources with `git show HEAD:<path>` and writes `codecav/training/studio/data/`:
`ict/ict_face.npz` (neutral mesh, parts, sparse expression deltas, the first identity modes),
`leeperrysmith/` (scan mesh and its maps at 1024) and `ict_skin/` (the scan's skin transferred into the
ICT atlas by `codecav.training.studio.scan_skin`), each with its licence, plus NOTICE.md.
The studio never reads the sources themselves; the project cannot reach GitHub at build or run time.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
from pathlib import Path

import numpy as np
from PIL import Image

DATA = Path(__file__).resolve().parents[1] / "codecav" / "training" / "studio" / "data"

ICT_DIR = "FaceXModel"
LPS_DIR = "examples/obj/leeperrysmith"

ICT_PARTS: tuple[tuple[str, int, int, int, int], ...] = (
    # (part, first vertex, last vertex + 1, first polygon, last polygon + 1), from ICT-FaceKit's README.
    ("face", 0, 9409, 0, 9230),
    ("head_neck", 9409, 11248, 9230, 11144),
    ("mouth_socket", 11248, 13294, 11144, 13226),
    ("eye_socket", 13294, 14062, 13226, 14034),
    ("gums_tongue", 14062, 17039, 14034, 17006),
    ("teeth", 17039, 21451, 17006, 21496),
    ("eyeball", 21451, 24591, 21496, 24692),
    ("lacrimal_fluid", 24591, 24999, 24692, 25018),
    ("eye_blend", 24999, 25047, 25018, 25048),
    ("eye_occlusion", 25047, 25351, 25048, 25304),
    ("eyelashes", 25351, 26719, 25304, 26384),
)
DROPPED_PARTS = ("lacrimal_fluid", "eye_blend", "eye_occlusion")
"""Transparent overlay meshes meant for Unreal's eye shaders; an opaque studio renderer cannot use them."""

K_IDENTITIES = 20
"""Identity modes kept: ICT's README orders the 100 modes as PCA components (largest variance first); the
first 20 carry the large shape differences (face width, jaw, nose, brow) that make heads look like
different people, and 20 dense float16 modes cost ~2.4 MB compressed, a third of the data budget."""

EXPRESSION_EPS_MM = 0.005
"""Expression vertices moving less than this (millimetres) are not stored."""

SCAN_TEXTURE_SIZE = 1024
"""The scan's maps are kept at this size (the displacement map comes at 4096)."""

SKIN_TEXTURE_SIZE = 1024
"""Size of the transferred skin maps in the ICT atlas."""


def git_show(repo: Path, path: str) -> bytes:
    """The bytes of `path` at HEAD of the git directory `repo`."""
    return subprocess.run(
        ["git", "-C", str(repo), "show", f"HEAD:{path}"], check=True, capture_output=True
    ).stdout


def obj_positions(text: str) -> np.ndarray:
    """float64 [V, 3] of the `v` lines."""
    rows = [line[2:] for line in text.split("\n") if line.startswith("v ")]
    return np.array(" ".join(rows).split(), dtype=np.float64).reshape(-1, 3)


def obj_mesh(text: str) -> tuple[np.ndarray, np.ndarray, list[list[tuple[int, int]]]]:
    """Positions [V, 3], texture coordinates [T, 2] and faces as lists of 0-based (v, vt) corners."""
    positions = obj_positions(text)
    uv_rows = [line[3:] for line in text.split("\n") if line.startswith("vt ")]
    uvs = np.array([[float(x) for x in row.split()[:2]] for row in uv_rows], dtype=np.float64)
    faces: list[list[tuple[int, int]]] = []
    for line in text.split("\n"):
        if line.startswith("f "):
            corners = [c.split("/") for c in line.split()[1:]]
            faces.append([(int(c[0]) - 1, int(c[1]) - 1) for c in corners])
    return positions, uvs, faces


def triangulate(faces: list[list[tuple[int, int]]]) -> tuple[np.ndarray, np.ndarray]:
    """Fan triangles [F, 3, 2] of (v, vt) corners and the source polygon of each."""
    tris, source = [], []
    for i, face in enumerate(faces):
        for k in range(1, len(face) - 1):
            tris.append([face[0], face[k], face[k + 1]])
            source.append(i)
    return np.array(tris, dtype=np.int64), np.array(source, dtype=np.int64)


def split_render_vertices(tris: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unique (v, vt) pairs: render faces [F, 3], render -> position index [R], render -> uv index [R]."""
    pairs, inverse = np.unique(tris.reshape(-1, 2), axis=0, return_inverse=True)
    return inverse.reshape(-1, 3).astype(np.int32), pairs[:, 0], pairs[:, 1]


# ----------------------------------------------------------------------------------------------- ICT


ATLAS_RECTS: dict[str, tuple[tuple[float, float, float, float], tuple[float, float, float, float]]] = {
    # part: ((u0, v0, u1, v1) in ICT's tiled UVs, (x0, y0, x1, y1) in the studio's square atlas).
    # ICT gives each material its own unit tile; the studio wants one square texture with the face large.
    "face": ((0, 0, 1, 1), (0.0, 0.0, 0.75, 1.0)),
    "head_neck": ((1, 0, 2, 1), (0.75, 0.5, 1.0, 1.0)),
    "mouth_socket": ((1, 0, 2, 1), (0.75, 0.5, 1.0, 1.0)),
    "eye_socket": ((1, 0, 2, 1), (0.75, 0.5, 1.0, 1.0)),
    "eyeball_left": ((0, 0, 1, 1), (0.75, 0.375, 0.875, 0.5)),
    "eyeball_right": ((0, 0, 1, 1), (0.875, 0.375, 1.0, 0.5)),
    "gums_tongue": ((2, 0, 3, 1), (0.75, 0.2, 0.875, 0.375)),
    "teeth": ((3, 0, 4, 1), (0.875, 0.2, 1.0, 0.375)),
    "eyelashes": ((6, 0, 7, 1), (0.75, 0.0, 0.875, 0.2)),  # never drawn by the studio: half the corner
    # (0.875, 0.0, 1.0, 0.2) stays empty for the neck cap the rig loader adds (ict_rig.NECK_CAP_UV_*).
}


def convert_ict(repo: Path) -> dict[str, np.ndarray]:
    """The ICT arrays, in the studio's head space (metres, +y up, +z out of the face, +x avatar's left)."""
    positions, uvs, faces = obj_mesh(git_show(repo, f"{ICT_DIR}/generic_neutral_mesh.obj").decode())
    names = [p[0] for p in ICT_PARTS]
    part_of = np.zeros(len(positions), dtype=np.int64)
    poly_part = np.zeros(len(faces), dtype=np.int64)
    for i, (_, lo, hi, first, end) in enumerate(ICT_PARTS):
        part_of[lo:hi] = i
        poly_part[first:end] = i
    # Polygons of one part may use vertices of another where meshes meet (head_neck quads share the face's
    # border vertices), so a triangle's part comes from its polygon and a vertex's from its range.
    dropped = [names.index(p) for p in DROPPED_PARTS]
    keep_vertex = ~np.isin(part_of, dropped)
    new_index = np.cumsum(keep_vertex) - 1
    kept_polys = [i for i in range(len(faces)) if poly_part[i] not in dropped]
    tris, source = triangulate([faces[i] for i in kept_polys])
    tri_part_src = poly_part[np.array(kept_polys)][source]
    tris[..., 0] = new_index[tris[..., 0]]
    kept_parts = [n for n in names if n not in DROPPED_PARTS]
    remap = np.array([kept_parts.index(n) if n in kept_parts else 255 for n in names])
    part = remap[part_of[keep_vertex]].astype(np.uint8)
    tri_part = remap[tri_part_src].astype(np.uint8)
    render_faces, vertex_index, uv_index = split_render_vertices(tris)
    pos_cm = positions[keep_vertex]
    # Split the eyeballs by side (for the atlas); gums and tongue stay one part, as ICT groups them.
    part_names = list(kept_parts)
    eye = kept_parts.index("eyeball")
    part_names[eye] = "eyeball_left"
    part_names.append("eyeball_right")
    part[(part == eye) & (pos_cm[:, 0] < 0)] = len(part_names) - 1
    right_tri = (tri_part == eye) & (pos_cm[tris[:, 0, 0], 0] < 0)
    tri_part[right_tri] = len(part_names) - 1
    # Atlas UVs: each render vertex moves with the part of the polygons that use it.
    render_part = np.zeros(len(vertex_index), dtype=np.int64)
    render_part[render_faces.ravel()] = np.repeat(tri_part, 3)
    uv = np.zeros((len(vertex_index), 2), dtype=np.float64)
    for r, ti in enumerate(uv_index):
        src, dst = ATLAS_RECTS[part_names[render_part[r]]]
        t = (uvs[ti] - src[:2]) / (np.array(src[2:]) - src[:2])
        uv[r] = np.array(dst[:2]) + np.clip(t, 0, 1) * (np.array(dst[2:]) - dst[:2])
    # Head space: centimetres -> metres, centred on the skin box above the chin like the studio's head.
    config = json.loads(git_show(repo, f"{ICT_DIR}/vertex_indices.json"))
    landmarks = np.array(config["idx_to_landmark_verts"], dtype=np.int64)
    skin = np.isin(part, [part_names.index("face"), part_names.index("head_neck")])
    chin_y = pos_cm[new_index[landmarks[8]], 1]
    upper = skin & (pos_cm[:, 1] > chin_y)
    centre = (pos_cm[upper].min(axis=0) + pos_cm[upper].max(axis=0)) / 2
    centre[0] = 0.0
    out: dict[str, np.ndarray] = {
        "positions": ((pos_cm - centre) * 0.01).astype(np.float32),
        "faces": render_faces,
        "uv": uv.astype(np.float32),
        "vertex_index": vertex_index.astype(np.int32),
        "vertex_part": part,
        "face_part": tri_part,
        "part_names": np.array(part_names),
        "landmarks": new_index[landmarks].astype(np.int32),
    }
    # Expressions: sparse deltas (millimetres, float16) of the vertices that move.
    exp_names = list(config["expressions"]) + ["cheekRaiser_L", "cheekRaiser_R", "PupilDilate_L", "PupilDilate_R"]
    exp_names = sorted(set(exp_names))
    indices, deltas, offsets = [], [], [0]
    for name in exp_names:
        d_mm = (obj_positions(git_show(repo, f"{ICT_DIR}/{name}.obj").decode()) - positions)[keep_vertex] * 10
        moving = np.nonzero(np.abs(d_mm).max(axis=1) > EXPRESSION_EPS_MM)[0]
        indices.append(moving.astype(np.uint16))
        deltas.append(d_mm[moving].astype(np.float16))
        offsets.append(offsets[-1] + len(moving))
        print(f"  {name}: {len(moving)} vertices, max {np.abs(d_mm).max():.1f} mm")
    out["expression_names"] = np.array(exp_names)
    out["expression_offsets"] = np.array(offsets, dtype=np.int64)
    out["expression_index"] = np.concatenate(indices)
    out["expression_delta_mm"] = np.concatenate(deltas)
    modes = [
        ((obj_positions(git_show(repo, f"{ICT_DIR}/identity{k:03d}.obj").decode()) - positions)[keep_vertex] * 10)
        for k in range(K_IDENTITIES)
    ]
    out["identity_delta_mm"] = np.stack(modes).astype(np.float16)
    return out


# ----------------------------------------------------------------------------------------------- scan


def _jpeg(data: bytes, size: int, mode: str, quality: int) -> bytes:
    image = Image.open(io.BytesIO(data)).convert(mode)
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=quality, optimize=True)
    return buf.getvalue()


def convert_scan(repo: Path, out: Path) -> None:
    """Lee Perry-Smith's scan: mesh as arrays (scan units, as exported by ZBrush) and the colour, specular and
    displacement maps at 1024 (the tangent-space normal map is not kept: the fine relief comes from the
    displacement map, which needs no tangent frame to carry over to another mesh)."""
    positions, uvs, faces = obj_mesh(git_show(repo, f"{LPS_DIR}/LeePerrySmith.obj").decode())
    tris, _ = triangulate(faces)
    render_faces, vertex_index, uv_index = split_render_vertices(tris)
    np.savez_compressed(
        out / "mesh.npz", positions=positions.astype(np.float32), faces=render_faces,
        uv=uvs[uv_index].astype(np.float32), vertex_index=vertex_index.astype(np.int32),
    )
    maps = {
        "colour.jpg": ("Map-COL.jpg", "RGB", 92),
        "specular.jpg": ("Map-SPEC.jpg", "L", 90),
        "displacement.jpg": ("Infinite-Level_02_Disp_NoSmoothUV-4096.jpg", "L", 92),
    }
    for name, (source, mode, quality) in maps.items():
        (out / name).write_bytes(_jpeg(git_show(repo, f"{LPS_DIR}/{source}"), SCAN_TEXTURE_SIZE, mode, quality))
    (out / "LICENSE.txt").write_bytes(git_show(repo, f"{LPS_DIR}/LeePerrySmith_License.txt"))


def main() -> None:
    """Parse arguments and write every output."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ict", type=Path, required=True, help="git directory of ICT-VGL/ICT-FaceKit")
    parser.add_argument("--lps", type=Path, required=True, help="git directory of a three.js snapshot")
    parser.add_argument("--skip-ict", action="store_true", help="keep the existing ict/ arrays")
    args = parser.parse_args()
    (DATA / "ict").mkdir(parents=True, exist_ok=True)
    (DATA / "leeperrysmith").mkdir(parents=True, exist_ok=True)
    if not args.skip_ict:
        print("ICT-FaceKit ...")
        arrays = convert_ict(args.ict)
        np.savez_compressed(DATA / "ict" / "ict_face.npz", **arrays)  # type: ignore[arg-type]
        (DATA / "ict" / "LICENSE").write_bytes(git_show(args.ict, "LICENSE"))
    print("Lee Perry-Smith scan ...")
    convert_scan(args.lps, DATA / "leeperrysmith")
    print("skin transfer ...")
    from codecav.training.studio.scan_skin import write_skin_maps  # after the arrays above exist

    write_skin_maps(DATA / "ict_skin", SKIN_TEXTURE_SIZE)
    total = sum(p.stat().st_size for p in DATA.rglob("*") if p.is_file())
    print(f"wrote {DATA} ({total / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
