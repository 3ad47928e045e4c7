/**
 * PicaRenderer for WebGL2: codecav's per-pixel PiCA pass ('prepass' shading of codecav.decoders.pica_gl): a
 * depth-only pre-pass (pica_depth), then the mesh again with depth test EQUAL running the pixel MLP once per
 * covered pixel (pica). Programs are codecav's own .glsl files as GLSL ES 3.00, fetched from
 * `${shaderBase}${name}.json` (codecav.shaders.web), with the avatar's MLP macros (mlp_layout.js) inserted.
 */

import { mlpDefines, mlpShape, packMlp } from "./mlp_layout.js";

const DRAW_BLOCK_BINDING = 0;
const MLP_BLOCK_BINDING = 1;
const FEATURE_TEXTURE_UNIT = 0;
const LINE_BASE = 100000;
const POSITION = 0;
const UV = 1;

/** 4x4 column-major product a @ b (doubles). */
export function matMul(a, b) {
  const out = new Float64Array(16);
  for (let c = 0; c < 4; c++) {
    for (let r = 0; r < 4; r++) {
      let s = 0;
      for (let k = 0; k < 4; k++) s += a[k * 4 + r] * b[c * 4 + k];
      out[c * 4 + r] = s;
    }
  }
  return out;
}

/** Inverse of a 4x4 column-major matrix (doubles; Gauss-Jordan with partial pivoting). */
export function matInverse(m) {
  const a = Array.from({ length: 4 }, (_, r) => [0, 1, 2, 3].map((c) => m[c * 4 + r]).concat([0, 1, 2, 3].map((c) => (c === r ? 1 : 0))));
  for (let col = 0; col < 4; col++) {
    let pivot = col;
    for (let r = col + 1; r < 4; r++) if (Math.abs(a[r][col]) > Math.abs(a[pivot][col])) pivot = r;
    [a[col], a[pivot]] = [a[pivot], a[col]];
    const p = a[col][col];
    if (Math.abs(p) < 1e-300) throw new RangeError("matrix is singular");
    for (let c = 0; c < 8; c++) a[col][c] /= p;
    for (let r = 0; r < 4; r++) {
      if (r === col) continue;
      const f = a[r][col];
      for (let c = 0; c < 8; c++) a[r][c] -= f * a[col][c];
    }
  }
  const out = new Float64Array(16);
  for (let r = 0; r < 4; r++) for (let c = 0; c < 4; c++) out[c * 4 + r] = a[r][4 + c];
  return out;
}

/** The eye position in world space of a world -> eye matrix, rounded to float32 as codecav's View does. */
export function eyePosition(view) {
  const inv = matInverse(view);
  return [Math.fround(inv[12]), Math.fround(inv[13]), Math.fround(inv[14])];
}

/** Map ANGLE's "0:LINE" locations back to "file.glsl:line" through the program's file list. */
function mapLog(log, files) {
  return String(log).replace(/\b(\d+):(\d+)(?=:)/g, (whole, _src, line) => {
    const id = Math.floor(Number(line) / LINE_BASE);
    return id < files.length ? `${files[id]}:${Number(line) % LINE_BASE}` : whole;
  });
}

function withDefines(text, defines) {
  const newline = text.indexOf("\n");
  return [text.slice(0, newline), ...defines, text.slice(newline + 1)].join("\n");
}

export class ShaderError extends Error {}

/** Compile and link a program; ShaderError naming the .glsl file and line. */
export function buildProgram(gl, source, defines) {
  const program = gl.createProgram();
  const shaders = [[gl.VERTEX_SHADER, source.vertex], [gl.FRAGMENT_SHADER, source.fragment]].map(([type, text]) => {
    const shader = gl.createShader(type);
    gl.shaderSource(shader, withDefines(text, defines));
    gl.compileShader(shader);
    if (!gl.getShaderParameter(shader, gl.COMPILE_STATUS)) {
      const stage = type === gl.VERTEX_SHADER ? "vertex" : "fragment";
      throw new ShaderError(`${source.name} (${stage}_shader): ${mapLog(gl.getShaderInfoLog(shader), source.files).trim().split(/\s+/).join(" ")}`);
    }
    gl.attachShader(program, shader);
    return shader;
  });
  gl.bindAttribLocation(program, POSITION, "in_position");
  gl.bindAttribLocation(program, UV, "in_uv");
  gl.linkProgram(program);
  for (const s of shaders) gl.deleteShader(s);
  if (!gl.getProgramParameter(program, gl.LINK_STATUS)) {
    throw new ShaderError(`${source.name}: link failed: ${String(gl.getProgramInfoLog(program)).trim()}`);
  }
  const bind = (block, binding) => {
    const index = gl.getUniformBlockIndex(program, block);
    if (index !== gl.INVALID_INDEX) gl.uniformBlockBinding(program, index, binding);
  };
  bind("DrawUniforms", DRAW_BLOCK_BINDING);
  bind("PixelMlpWeights", MLP_BLOCK_BINDING);
  gl.useProgram(program);
  const sampler = gl.getUniformLocation(program, "u_features");
  if (sampler !== null) gl.uniform1i(sampler, FEATURE_TEXTURE_UNIT);
  return program;
}

/** A PicaRenderer on `gl` (a WebGL2 context made with antialias: false). */
export function createRenderer(gl, options = {}) {
  return new PicaRenderer(gl, options);
}

export class PicaRenderer {
  constructor(gl, options = {}) {
    this.gl = gl;
    this.shaderBase = options.shaderBase ?? "/shaders/es300/";
    // Linear filtering of RGBA32F needs OES_texture_float_linear; without it features go to RGBA16F.
    this.floatLinear = gl.getExtension("OES_texture_float_linear") !== null;
    this.featurePrecision = options.featurePrecision ?? (this.floatLinear ? "f32" : "f16");
    this._sources = new Map();
    this._programs = new Map();
    this._depthProgram = null;
    this._drawBlock = gl.createBuffer();
    gl.bindBuffer(gl.UNIFORM_BUFFER, this._drawBlock);
    gl.bufferData(gl.UNIFORM_BUFFER, 112, gl.DYNAMIC_DRAW);  // draw_block.glsl: std140, 28 floats
    this._handles = new Set();
  }

  async _source(name) {
    if (!this._sources.has(name)) {
      this._sources.set(name, fetch(`${this.shaderBase}${name}.json`).then(async (r) => {
        if (!r.ok) throw new ShaderError(`GET ${this.shaderBase}${name}.json answered ${r.status}; serve codecav.shaders.web.es300_program_json there`);
        return r.json();
      }));
    }
    return this._sources.get(name);
  }

  /** Upload an avatar's mesh, UVs and MLP weights and compile its MLP program; the handle for update/draw. */
  async addAvatar(avatar) {
    const gl = this.gl;
    const { mesh, pixelMlp, manifest } = avatar.package;
    const fm = manifest.feature_map;
    const shape = mlpShape(pixelMlp, fm.channels);
    if (this._depthProgram === null) this._depthProgram = buildProgram(gl, await this._source("pica_depth"), []);
    if (!this._programs.has(shape.key)) this._programs.set(shape.key, buildProgram(gl, await this._source("pica"), mlpDefines(shape)));
    const h = { shape, program: this._programs.get(shape.key), vertexIndex: mesh.vertexIndex, fm, count: mesh.faces.length,
      frames: 0, positionData: new Float32Array(mesh.vertexIndex.length * 3) };
    h.vao = gl.createVertexArray();
    gl.bindVertexArray(h.vao);
    h.positions = gl.createBuffer();
    gl.bindBuffer(gl.ARRAY_BUFFER, h.positions);
    gl.bufferData(gl.ARRAY_BUFFER, h.positionData.byteLength, gl.DYNAMIC_DRAW);
    gl.enableVertexAttribArray(POSITION);
    gl.vertexAttribPointer(POSITION, 3, gl.FLOAT, false, 0, 0);
    h.uv = gl.createBuffer();
    gl.bindBuffer(gl.ARRAY_BUFFER, h.uv);
    gl.bufferData(gl.ARRAY_BUFFER, mesh.uv, gl.STATIC_DRAW);
    gl.enableVertexAttribArray(UV);
    gl.vertexAttribPointer(UV, 2, gl.FLOAT, false, 0, 0);
    h.indices = gl.createBuffer();
    gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER, h.indices);
    gl.bufferData(gl.ELEMENT_ARRAY_BUFFER, mesh.faces, gl.STATIC_DRAW);
    gl.bindVertexArray(null);
    h.features = gl.createTexture();
    gl.bindTexture(gl.TEXTURE_2D_ARRAY, h.features);
    const internal = this.featurePrecision === "f32" ? gl.RGBA32F : gl.RGBA16F;
    gl.texStorage3D(gl.TEXTURE_2D_ARRAY, 1, internal, fm.width, fm.height, fm.channels / 4);
    for (const [p, v] of [[gl.TEXTURE_MIN_FILTER, gl.LINEAR], [gl.TEXTURE_MAG_FILTER, gl.LINEAR],
      [gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE], [gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE]]) gl.texParameteri(gl.TEXTURE_2D_ARRAY, p, v);
    h.layerData = new Float32Array(fm.width * fm.height * fm.channels);
    h.mlp = gl.createBuffer();
    gl.bindBuffer(gl.UNIFORM_BUFFER, h.mlp);
    gl.bufferData(gl.UNIFORM_BUFFER, packMlp(pixelMlp, shape), gl.STATIC_DRAW);
    this._handles.add(h);
    return h;
  }

  /** Upload a DecodedFrame: geometry expanded to render vertices, NCHW features to RGBA texture layers. */
  update(h, frame) {
    const gl = this.gl;
    const { vertexIndex, positionData, fm, layerData } = h;
    const g = frame.geometry;
    for (let r = 0; r < vertexIndex.length; r++) {
      const v = vertexIndex[r] * 3;
      positionData[r * 3] = g[v];
      positionData[r * 3 + 1] = g[v + 1];
      positionData[r * 3 + 2] = g[v + 2];
    }
    gl.bindBuffer(gl.ARRAY_BUFFER, h.positions);
    gl.bufferSubData(gl.ARRAY_BUFFER, 0, positionData);
    const hw = fm.width * fm.height;
    const f = frame.features;
    for (let c = 0; c < fm.channels; c++) {
      const layer = c >> 2;
      const k = c & 3;
      const src = c * hw;
      const dst = layer * hw * 4 + k;
      for (let p = 0; p < hw; p++) layerData[dst + p * 4] = f[src + p];
    }
    gl.bindTexture(gl.TEXTURE_2D_ARRAY, h.features);
    gl.texSubImage3D(gl.TEXTURE_2D_ARRAY, 0, 0, 0, 0, fm.width, fm.height, fm.channels / 4, gl.RGBA, gl.FLOAT, layerData);
    h.frames++;
  }

  _writeDrawBlock(pose, camera, slot) {
    const mvp = matMul(matMul(camera.projection, camera.view), pose);
    const eye = eyePosition(camera.view);
    const inv = matInverse(pose);
    const head = [0, 1, 2].map((r) => inv[r] * eye[0] + inv[4 + r] * eye[1] + inv[8 + r] * eye[2] + inv[12 + r]);
    const data = new Float32Array(28);
    data.set(mvp, 0);
    data.set([head[0], head[1], head[2], slot + 1], 16);
    data.set([-1, -1, 1, 1], 20);
    data.set([0, 0, 0, 0], 24);  // u_draw_style: the page never draws placeholders (no decode budget here)
    const gl = this.gl;
    gl.bindBuffer(gl.UNIFORM_BUFFER, this._drawBlock);
    gl.bufferSubData(gl.UNIFORM_BUFFER, 0, data);
    gl.bindBufferBase(gl.UNIFORM_BUFFER, DRAW_BLOCK_BINDING, this._drawBlock);
  }

  /** Draw avatars [{handle, pose}] into `camera` (see avatar.js for the fields); clears first unless told not to. */
  draw(draws, camera, { clear = true, background = [0, 0, 0] } = {}) {
    const gl = this.gl;
    gl.bindFramebuffer(gl.FRAMEBUFFER, camera.framebuffer ?? null);
    const [x, y, w, hgt] = camera.viewport;
    gl.viewport(x, y, w, hgt);
    gl.disable(gl.BLEND);
    gl.disable(gl.SCISSOR_TEST);
    gl.colorMask(true, true, true, true);
    gl.depthMask(true);
    if (clear) {
      gl.clearColor(background[0], background[1], background[2], 1);
      gl.clearDepth(1);
      gl.clear(gl.COLOR_BUFFER_BIT | gl.DEPTH_BUFFER_BIT);
    }
    const live = draws.filter((d) => d.handle.frames > 0);
    if (!live.length) return;
    gl.enable(gl.DEPTH_TEST);
    gl.enable(gl.CULL_FACE);
    gl.cullFace(gl.BACK);
    gl.frontFace(gl.CCW);
    // Depth pre-pass, then the MLP once per covered pixel (depth EQUAL; pica_vertex.glsl's invariant position).
    gl.depthFunc(gl.LESS);
    gl.colorMask(false, false, false, false);
    gl.useProgram(this._depthProgram);
    live.forEach((d, slot) => {
      this._writeDrawBlock(d.pose, camera, slot);
      gl.bindVertexArray(d.handle.vao);
      gl.drawElements(gl.TRIANGLES, d.handle.count, gl.UNSIGNED_INT, 0);
    });
    gl.colorMask(true, true, true, true);
    gl.depthMask(false);
    gl.depthFunc(gl.EQUAL);
    live.forEach((d, slot) => {
      const h = d.handle;
      gl.useProgram(h.program);
      this._writeDrawBlock(d.pose, camera, slot);
      gl.bindBufferBase(gl.UNIFORM_BUFFER, MLP_BLOCK_BINDING, h.mlp);
      gl.activeTexture(gl.TEXTURE0 + FEATURE_TEXTURE_UNIT);
      gl.bindTexture(gl.TEXTURE_2D_ARRAY, h.features);
      gl.bindVertexArray(h.vao);
      gl.drawElements(gl.TRIANGLES, h.count, gl.UNSIGNED_INT, 0);
    });
    gl.bindVertexArray(null);
    gl.depthMask(true);
    gl.depthFunc(gl.LESS);
    gl.disable(gl.DEPTH_TEST);
    gl.disable(gl.CULL_FACE);
  }

  /** Free one avatar's GL objects. */
  releaseAvatar(h) {
    const gl = this.gl;
    for (const b of [h.positions, h.uv, h.indices, h.mlp]) gl.deleteBuffer(b);
    gl.deleteTexture(h.features);
    gl.deleteVertexArray(h.vao);
    this._handles.delete(h);
  }

  /** Free everything. */
  release() {
    for (const h of Array.from(this._handles)) this.releaseAvatar(h);
    for (const p of this._programs.values()) this.gl.deleteProgram(p);
    this._programs.clear();
    if (this._depthProgram) this.gl.deleteProgram(this._depthProgram);
    this._depthProgram = null;
    this.gl.deleteBuffer(this._drawBlock);
  }
}

/** The cameras of a WebXR frame for draw(): one per XRView of `viewerPose`, into `layer` (an XRWebGLLayer). */
export function xrCameras(viewerPose, layer) {
  return viewerPose.views.map((v) => {
    const vp = layer.getViewport(v);
    return { view: v.transform.inverse.matrix, projection: v.projectionMatrix, viewport: [vp.x, vp.y, vp.width, vp.height],
      framebuffer: layer.framebuffer };
  });
}

/** The mean eye position of `cameras` in world space: codecav decodes once per frame for both eyes from there. */
export function meanEye(cameras) {
  const eyes = cameras.map((c) => eyePosition(c.view));
  return [0, 1, 2].map((i) => eyes.reduce((a, e) => a + e[i], 0) / eyes.length);
}
