// The per-pixel MLP of PiCA, shared by the per-pixel pass (pica.glsl) and the DAM baseline
// (full_texture_mlp.glsl). Sizes are compile-time defines written by codecav.decoders.mlp_layout:
//   FEATURE_LAYERS  C / 4, layers of the RGBA feature texture array
//   UV_FREQUENCIES  L, UV positional-encoding frequencies
//   MLP_LAYERS      number of linear layers (hidden + output)
//   MLP_IN4, MLP_OUT4  int[](...) input / output widths of each layer in vec4s
//   MLP_MAX4        the largest of those; MLP_VEC4S  size of the weight block in vec4s
//   MLP_SINE        1: sin hidden activation (SIREN), 0: relu
// The GPU input vector is [features (C) | view_dir, 0 | sin(2^k pi uv), cos(2^k pi uv) for k < L];
// mlp_layout permutes the weight columns from the package order to this one.

const float PI = 3.14159265358979;

// Per layer: for each output quad j, 4 rows of IN4 vec4s, then OUT4 bias vec4s after all rows.
layout(std140) uniform PixelMlpWeights {
    vec4 u_mlp[MLP_VEC4S];
};

uniform sampler2DArray u_features;

vec3 pixel_mlp(vec2 uv, vec3 view_dir) {
    const int in4[MLP_LAYERS] = MLP_IN4;
    const int out4[MLP_LAYERS] = MLP_OUT4;
    vec4 x[MLP_MAX4];
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
    int base = 0;
    for (int l = 0; l < MLP_LAYERS; ++l) {
        int n_in = in4[l];
        int n_out = out4[l];
        vec4 y[MLP_MAX4];
        for (int j = 0; j < n_out; ++j) {
            vec4 acc = u_mlp[base + 4 * n_out * n_in + j];
            int row = base + 4 * j * n_in;
            for (int i = 0; i < n_in; ++i) {
                vec4 xi = x[i];
                acc += vec4(dot(u_mlp[row + i], xi), dot(u_mlp[row + n_in + i], xi),
                            dot(u_mlp[row + 2 * n_in + i], xi), dot(u_mlp[row + 3 * n_in + i], xi));
            }
#if MLP_SINE
            y[j] = (l < MLP_LAYERS - 1) ? sin(acc) : acc;
#else
            y[j] = (l < MLP_LAYERS - 1) ? max(acc, 0.0) : acc;
#endif
        }
        for (int j = 0; j < n_out; ++j) {
            x[j] = y[j];
        }
        base += n_out * (4 * n_in + 1);
    }
    return 1.0 / (1.0 + exp(-x[0].xyz));
}
