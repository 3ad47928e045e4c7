#!/usr/bin/env python3
"""Copy what the browser participant needs at run time from node_modules/ into codecav/net/web/static/vendor/.

Run by the Makefile after `npm ci` (versions pinned in package-lock.json); nothing is fetched from a CDN at run
time. The page imports these files by relative path (`/vendor/...`). Exit 1 with one line if a file is missing.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = ROOT / "node_modules"
VENDOR = ROOT / "codecav" / "net" / "web" / "static" / "vendor"

FILES: dict[str, str] = {
    # onnxruntime-web, wasm backend only (the .bundle. variant inlines the wasm loader; the plain one imports it)
    "onnxruntime-web/ort.wasm.min.mjs": "onnxruntime-web/dist/ort.wasm.min.mjs",
    "onnxruntime-web/ort.wasm.bundle.min.mjs": "onnxruntime-web/dist/ort.wasm.bundle.min.mjs",
    "onnxruntime-web/ort-wasm-simd-threaded.mjs": "onnxruntime-web/dist/ort-wasm-simd-threaded.mjs",
    "onnxruntime-web/ort-wasm-simd-threaded.wasm": "onnxruntime-web/dist/ort-wasm-simd-threaded.wasm",
    # zip reading of .cavatar packages
    "fflate/browser.js": "fflate/esm/browser.js",
    "fflate/LICENSE": "fflate/LICENSE",
    # MediaPipe FaceLandmarker (the model file itself is served from codecav's webcam extra, not copied)
    "tasks-vision/vision_bundle.mjs": "@mediapipe/tasks-vision/vision_bundle.mjs",
    "tasks-vision/wasm/vision_wasm_internal.js": "@mediapipe/tasks-vision/wasm/vision_wasm_internal.js",
    "tasks-vision/wasm/vision_wasm_internal.wasm": "@mediapipe/tasks-vision/wasm/vision_wasm_internal.wasm",
    "tasks-vision/wasm/vision_wasm_nosimd_internal.js": "@mediapipe/tasks-vision/wasm/vision_wasm_nosimd_internal.js",
    "tasks-vision/wasm/vision_wasm_nosimd_internal.wasm":
        "@mediapipe/tasks-vision/wasm/vision_wasm_nosimd_internal.wasm",
    # WebXR emulation when the browser has no immersive-vr (tests, desktop)
    "webxr-polyfill/webxr-polyfill.module.js": "webxr-polyfill/build/webxr-polyfill.module.js",
    "webxr-polyfill/LICENSE": "webxr-polyfill/LICENSE",
}
"""Vendor path (under static/vendor/) -> path under node_modules/."""

DIRECTORIES: dict[str, tuple[str, str]] = {
    # @msgpack/msgpack as ES modules: index.mjs imports its siblings
    "msgpack": ("@msgpack/msgpack/dist.esm", ".mjs"),
}
"""Vendor folder -> (folder under node_modules/, suffix of the files copied, recursively)."""


def copy_all(node_modules: Path = NODE_MODULES, vendor: Path = VENDOR) -> int:
    """Copy every vendor file; returns how many were copied. FileNotFoundError naming the first missing one."""
    plan: list[tuple[Path, Path]] = [(node_modules / src, vendor / dst) for dst, src in FILES.items()]
    for dst_dir, (src_dir, suffix) in DIRECTORIES.items():
        base = node_modules / src_dir
        if not base.is_dir():
            raise FileNotFoundError(str(base))
        plan += [(src, vendor / dst_dir / src.relative_to(base)) for src in sorted(base.rglob(f"*{suffix}"))]
    plan.append((node_modules / "@msgpack/msgpack/LICENSE", vendor / "msgpack/LICENSE"))
    missing = [src for src, _ in plan if not src.is_file()]
    if missing:
        raise FileNotFoundError(str(missing[0]))
    for src, dst in plan:
        dst.parent.mkdir(parents=True, exist_ok=True)
        if not dst.exists() or dst.stat().st_size != src.stat().st_size or dst.stat().st_mtime < src.stat().st_mtime:
            shutil.copy2(src, dst)
    return len(plan)


def main() -> int:
    """Copy, print one line, exit 0; or one line naming what is missing and exit 1."""
    try:
        count = copy_all()
    except FileNotFoundError as exc:
        print(f"vendor_web: {exc} is missing; run `npm ci` first (package-lock.json pins the versions)",
              file=sys.stderr)
        return 1
    print(f"vendor_web: {count} files in {VENDOR.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
