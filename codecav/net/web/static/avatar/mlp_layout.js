/**
 * The pixel MLP as shaders/pixel_mlp.glsl reads it, mirroring codecav.decoders.mlp_layout: the std140 vec4 weight
 * block (pack), the shape macros and the straight-line layer code (defines), so the served ES 3.00 program
 * (codecav.shaders.web) compiles for this avatar.
 */

const MAX_UNIFORM_BLOCK_BYTES = 65536;
const ceil4 = (n) => Math.floor((n + 3) / 4);

/** Layer layout of an MLP: [{base, in4, out4}] in vec4 units, and the block size in vec4s. */
export function mlpShape(mlp, featureChannels) {
  const layers = [];
  let base = 0;
  mlp.weights.forEach((w, index) => {
    const nIn = index === 0 ? featureChannels + 4 + 4 * mlp.uvFrequencies : w.cols;  // one pad after view_dir
    const layer = { base, in4: ceil4(nIn), out4: ceil4(w.rows) };
    layers.push(layer);
    base += layer.out4 * (4 * layer.in4 + 1);
  });
  const shape = { featureChannels, uvFrequencies: mlp.uvFrequencies, activation: mlp.activation, layers, vec4s: base,
    key: `${featureChannels}/${mlp.uvFrequencies}/${mlp.activation}/${mlp.weights.map((w) => `${w.cols}x${w.rows}`).join(",")}` };
  if (shape.vec4s * 16 > MAX_UNIFORM_BLOCK_BYTES) {
    throw new RangeError(`pixel MLP needs ${shape.vec4s * 16} bytes of uniforms, over the ${MAX_UNIFORM_BLOCK_BYTES}-byte block limit; use fewer or narrower layers`);
  }
  return shape;
}

/** Package input column feeding each GPU input slot, -1 for the zero pad after view_dir. */
function gpuInputOrder(c, uvFrequencies) {
  const order = [];
  for (let i = 0; i < c; i++) order.push(i);
  order.push(c, c + 1, c + 2, -1);
  for (let j = 0; j < 4 * uvFrequencies; j++) order.push(c + 3 + j);
  return order;
}

/** Float32Array [vec4s * 4]: the weight block (codecav.decoders.mlp_layout.pack_mlp). */
export function packMlp(mlp, shape) {
  const out = new Float32Array(shape.vec4s * 4);
  const order = gpuInputOrder(shape.featureChannels, shape.uvFrequencies);
  mlp.weights.forEach((w, index) => {
    const { base, in4, out4 } = shape.layers[index];
    const column = index === 0 ? (j) => order[j] : (j) => j;
    const cols = index === 0 ? order.length : w.cols;
    for (let r = 0; r < w.rows; r++) {
      for (let j = 0; j < cols; j++) {
        const src = column(j);
        if (src >= 0) out[base * 4 + r * in4 * 4 + j] = w.data[r * w.cols + src];
      }
    }
    const biasAt = (base + 4 * out4 * in4) * 4;
    out.set(mlp.biases[index], biasAt);
  });
  return out;
}

/** `#define` lines of the program for `shape` (MlpShape.defines() and the MLP_LAYER_CODE variable as a macro). */
export function mlpDefines(shape) {
  const activation = shape.activation === "sine" ? (v) => `sin(${v})` : (v) => `max(${v}, 0.0)`;
  const lines = [];
  let source = "x";
  shape.layers.forEach((layer, index) => {
    const target = `h${index}`;
    lines.push(`vec4 ${target}[${layer.out4}];`);
    for (let j = 0; j < layer.out4; j++) {
      const rows = [];
      for (let r = 0; r < 4; r++) {
        const row = layer.base + (4 * j + r) * layer.in4;
        const terms = [];
        for (let i = 0; i < layer.in4; i++) terms.push(`dot(u_mlp[${row + i}], ${source}[${i}])`);
        rows.push(terms.join(" + "));
      }
      const bias = layer.base + 4 * layer.out4 * layer.in4 + j;
      let value = `u_mlp[${bias}] + vec4(${rows.join(", ")})`;
      if (index < shape.layers.length - 1) value = activation(value);
      lines.push(`${target}[${j}] = ${value};`);
    }
    source = target;
  });
  lines.push(`vec4 mlp_out = ${source}[0];`);
  return [
    `#define FEATURE_LAYERS ${shape.featureChannels / 4}`,
    `#define UV_FREQUENCIES ${shape.uvFrequencies}`,
    `#define MLP_INPUT_VEC4S ${shape.layers[0].in4}`,
    `#define MLP_VEC4S ${shape.vec4s}`,
    `#define MLP_LAYER_CODE ${lines.join(" ")}`,
  ];
}
