// The per-pixel MLP of PiCA, shared by the per-pixel passes (pica*.glsl) and the DAM baseline
// (full_texture_mlp.glsl). Written by codecav.decoders.mlp_layout.MlpShape:
//   defines   FEATURE_LAYERS (C / 4, layers of the RGBA feature texture array), UV_FREQUENCIES (L),
//             MLP_INPUT_VEC4S (input width in vec4s), MLP_VEC4S (size of the weight block)
//   template  MLP_LAYER_CODE: the linear layers as straight-line code over u_mlp, ending in
//             `vec4 mlp_out` (RGB logits in xyz). Mesa leaves nested loops over the block partly
//             rolled, which measured 2x slower on llvmpipe.
// The GPU input vector is [features (C) | view_dir, 0 | sin(2^k pi uv), cos(2^k pi uv) for k < L];
// mlp_layout permutes the weight columns from the package order to this one.

const float PI = 3.14159265358979;

// Per layer: for each output vec4 j, its 4 weight rows of MLP_IN vec4s each; then the bias vec4s.
layout(std140) uniform PixelMlpWeights {
    vec4 u_mlp[MLP_VEC4S];
};

uniform sampler2DArray u_features;

vec3 pixel_mlp(vec2 uv, vec3 view_dir) {
    vec4 x[MLP_INPUT_VEC4S];
    for (int i = 0; i < FEATURE_LAYERS; ++i) {
        x[i] = texture(u_features, vec3(uv, float(i)));
    }
    x[FEATURE_LAYERS] = vec4(view_dir, 0.0);
    float scale = PI;
    for (int k = 0; k < UV_FREQUENCIES; ++k) {
        vec2 a = scale * uv;
        x[FEATURE_LAYERS + 1 + k] = vec4(sin(a), cos(a));
        scale *= 2.0;
    }
    {{MLP_LAYER_CODE}}
    return 1.0 / (1.0 + exp(-mlp_out.xyz));
}
