/**
 * codecav avatars in the browser: open and verify a package (.cavatar bytes) as codecav does, decode it with
 * onnxruntime-web (wasm) and draw it with the per-pixel PiCA pass in WebGL2. Plain ES modules, no build step.
 *
 * API (all matrices are column-major Float32Array(16), as WebGL and WebXR give them; head space as in
 * docs/avatar-format.md: metres, +y up, the avatar looks along +z):
 *
 *   import { openAvatar, AvatarRefused, createRenderer, headSpaceViewDir } from "./avatar/avatar.js";
 *
 *   openAvatar(bytes: Uint8Array, expectedSha256: string | null, options?) -> Promise<Avatar>
 *       Checks, in codecav's order (codecav.assets.loader / archive / manifest / tensors, avatar_exchange):
 *       sha256 of the whole bytes (SubtleCrypto) against `expectedSha256` (the sha256 a peer announced; null
 *       skips it), zip structure and size limits before inflating (64 MiB in all, 48 MiB a member, 64 members),
 *       unsafe member paths, avatar.json (1 MiB, 16 levels, the full v1/v2 schema), missing/undeclared members,
 *       every member's sha256, mesh.npz / pixel_mlp.npz / quant_table.npz (npy headers, dtypes, shapes, index
 *       ranges, finiteness), the ONNX members' static checks that need no shape inference (protobuf parse,
 *       standard domains, no external data, operator allowlist, node count, decoder I/O names and shapes), then
 *       loads the decoder in onnxruntime-web and runs it once (zero code, view +z; shapes and finiteness), as
 *       codecav's trial run does.
 *       options: { source = "avatar.cavatar" (the name messages start with, as codecav's path),
 *                  ortUrl (default new URL("../vendor/onnxruntime-web/ort.wasm.bundle.min.mjs", import.meta.url)),
 *                  wasmUrl (default the same folder + "ort-wasm-simd-threaded.wasm"), threads = 1,
 *                  decoder = true (false: verify only, no onnxruntime session) }
 *       Throws AvatarRefused. Resolves to an Avatar:
 *         avatar.manifest     parsed avatar.json (plain object, as in the file)
 *         avatar.sha256       hex sha256 of the bytes
 *         avatar.package      { mesh: {faces: Uint32Array F*3, uv: Float32Array R*2, vertexIndex: Int32Array R},
 *                               pixelMlp: {weights: [{rows, cols, data: Float32Array}], biases: [Float32Array],
 *                                          activation, uvFrequencies}, decoderOnnx, encodersOnnx, quantTable }
 *         avatar.decode(code: Float32Array(D), viewDir: [x, y, z]) -> Promise<DecodedFrame>
 *             DecodedFrame: { geometry: Float32Array V*3 (head space), features: Float32Array C*H*W (NCHW, row 0
 *             at v = 0), ms: decode time }. viewDir: unit, head space, head -> camera; codecav feeds
 *             headSpaceViewDir(pose, mean eye position) (codecav.runtime.scene_renderer.head_space_view_dir).
 *             Throws AvatarRefused with reason "decode_failed" if onnxruntime fails.
 *         avatar.release()
 *
 *   class AvatarRefused extends Error
 *       .reason  stable key, the same as codecav's (AvatarFormatError.reason: "hash_mismatch", "corrupt_archive",
 *                "package_too_large", "manifest_invalid", "unsafe_path", ..., trial "trial_run_error"/"non_finite")
 *       .message one line "<source>: [member <m>] <problem>; <fix>", equal to codecav's str(error) for the same
 *                bytes and source (the whole-bytes digest check gives "hash_mismatch" with "<source>: the bytes do
 *                not match the announced sha256; fetch the avatar again")
 *       .member  the member concerned or null; .source
 *
 *   headSpaceViewDir(pose: Float32Array(16) head -> world, eyeWorld: [x, y, z]) -> [x, y, z]
 *   eyePosition(view: Float32Array(16) world -> eye) -> [x, y, z]   the eye in world space (float32, as codecav)
 *
 *   createRenderer(gl: WebGL2RenderingContext, options?) -> PicaRenderer            (pica.js, re-exported here)
 *       The context must be made with { antialias: false } for pixels equal to codecav's (no MSAA there).
 *       options: { shaderBase = "/shaders/es300/" } where `${shaderBase}${name}.json` is served.
 *       renderer.addAvatar(avatar) -> Promise<handle>   compiles the MLP program, uploads mesh, UVs and weights
 *       renderer.update(handle, decoded: DecodedFrame)   uploads geometry (expanded to render vertices) and features
 *       renderer.draw([{handle, pose}], camera, { clear = true, background = [0, 0, 0] })
 *           camera: { view: Float32Array(16) world -> eye, projection: Float32Array(16) (GL clip, z in [-1, 1]),
 *                     viewport: [x, y, width, height], framebuffer: WebGLFramebuffer | null (null: the canvas) }
 *           Per-pixel MLP as codecav's PicaRenderer ('prepass': depth pre-pass, then the MLP once per covered
 *           pixel with depth test EQUAL). For WebXR call it once per XRView with the layer's framebuffer, the
 *           view's viewport, view.transform.inverse.matrix and view.projectionMatrix (clear only on the first).
 *       renderer.release()
 *
 *   xrCameras(viewerPose: XRViewerPose, layer: XRWebGLLayer) -> camera[]   one draw() camera per XRView
 *   meanEye(cameras) -> [x, y, z]   where codecav decodes from for both eyes (the mean eye position)
 *       Stereo: const cams = xrCameras(frame.getViewerPose(space), session.renderState.baseLayer);
 *               decoded = await avatar.decode(code, headSpaceViewDir(pose, meanEye(cams)));  (or the latest one)
 *               cams.forEach((cam, i) => renderer.draw(draws, cam, { clear: i === 0 }));
 *
 * URL paths the page's server must answer (codecav signal, codecav/net/web/site.py):
 *   /shaders/es300/{pica,pica_depth,pica_gbuffer,pica_resolve}.json
 *       body: codecav.shaders.web.es300_program_json(name) (application/json; 404 on ShaderSourceError)
 *   <static>/avatar/*.js                 these modules (codecav/net/web/static/avatar/)
 *   <static>/vendor/onnxruntime-web/ort.wasm.bundle.min.mjs, ort-wasm-simd-threaded.wasm
 *       copied from node_modules/onnxruntime-web/dist/ (wasm as application/wasm); <static> is the folder above
 *       this one, so avatar/ and vendor/ must be siblings in URL space (site.py serves static/ at /, so:
 *       /avatar/avatar.js and /vendor/onnxruntime-web/...; tests/net/web/render_page.py serves it under /static/).
 * Nothing else is fetched; zip members are inflated with the browser's DecompressionStream("deflate-raw").
 */

import { AvatarRefused, refuse } from "./refusal.js";
import { readPackage, PACKAGE_LIMITS } from "./archive.js";
import { checkPackage } from "./package.js";
import { createDecoder } from "./decoder.js";
import { createRenderer, eyePosition, meanEye, xrCameras } from "./pica.js";

export { AvatarRefused, createRenderer, eyePosition, meanEye, PACKAGE_LIMITS, xrCameras };

/** Lower-case hex sha256 of `bytes` (SubtleCrypto). */
export async function sha256Hex(bytes) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Unit vector from the head origin towards `eyeWorld`, in head space; +z when the eye is at the head. */
export function headSpaceViewDir(pose, eyeWorld) {
  // pose is a rigid head -> world transform: its inverse is R^T (p - t).
  const d = [eyeWorld[0] - pose[12], eyeWorld[1] - pose[13], eyeWorld[2] - pose[14]];
  const v = [0, 1, 2].map((i) => pose[4 * i] * d[0] + pose[4 * i + 1] * d[1] + pose[4 * i + 2] * d[2]);
  const n = Math.hypot(v[0], v[1], v[2]);
  return n < 1e-9 ? [0, 0, 1] : v.map((x) => x / n);
}

/** Verify `bytes` as a codecav avatar package and load its decoder; see the API above. */
export async function openAvatar(bytes, expectedSha256, options = {}) {
  const source = options.source ?? "avatar.cavatar";
  const sha256 = await sha256Hex(bytes);
  if (expectedSha256 != null && sha256 !== String(expectedSha256).toLowerCase()) {
    throw new AvatarRefused(`${source}: the bytes do not match the announced sha256; fetch the avatar again`,
      "hash_mismatch", source, null);
  }
  const raw = await readPackage(bytes, source, options.limits ?? PACKAGE_LIMITS);
  const pkg = await checkPackage(raw, source);
  const decoder = options.decoder === false ? null : await createDecoder(pkg, source, options);
  return new Avatar(pkg, sha256, decoder);
}

/** A verified package and, unless opened with decoder: false, its onnxruntime-web session. */
export class Avatar {
  constructor(pkg, sha256, decoder) {
    this.package = pkg;
    this.manifest = pkg.manifest;
    this.sha256 = sha256;
    this.source = pkg.source;
    this._decoder = decoder;
  }

  /** Decode one frame; see DecodedFrame above. */
  async decode(code, viewDir) {
    if (this._decoder === null) refuse(this.source, null, "was opened without a decoder", "open it with decoder: true", "decoder_invalid");
    return this._decoder.decode(code, viewDir);
  }

  /** Free the onnxruntime session. */
  async release() {
    if (this._decoder !== null) await this._decoder.release();
    this._decoder = null;
  }
}
