// PiCA forward passes of one avatar (PicaOptions.shading 'prepass' and 'forward'): a depth-only pass
// (DEPTH_ONLY 1) and the shading pass that runs the MLP per fragment. With 'prepass' the shading pass
// uses depth test EQUAL so the MLP runs once per covered pixel. Vertices are in head space.
#include "draw_block.glsl"

#if defined(VERTEX_SHADER)
in vec3 in_position;
in vec2 in_uv;
out vec3 v_position;
out vec2 v_uv;
invariant gl_Position;  // both passes must produce bit-identical depth for the EQUAL test

void main() {
    v_position = in_position;
    v_uv = in_uv;
    gl_Position = u_mvp * vec4(in_position, 1.0);
}

#elif defined(FRAGMENT_SHADER)
#if DEPTH_ONLY
void main() {
}
#else
#include "pixel_mlp.glsl"
#include "invocation_counter.glsl"
in vec3 v_position;
in vec2 v_uv;
out vec4 f_color;

void main() {
    count_invocation();
    // Per-pixel view direction: from this surface point towards the camera, in head space.
    vec3 view_dir = normalize(u_camera_head.xyz - v_position);
    f_color = vec4(pixel_mlp(v_uv, view_dir), 1.0);
}
#endif
#endif
