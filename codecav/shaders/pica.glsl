// PiCA forward shading of one avatar (PicaOptions.shading 'prepass' and 'forward'): the MLP runs per
// fragment. After the pica_depth.glsl pre-pass it is drawn with depth test EQUAL, so the MLP runs
// once per covered pixel; 'forward' draws it with LESS and pays for overdraw.
#include "draw_block.glsl"

#if defined(VERTEX_SHADER)
#include "pica_vertex.glsl"

#elif defined(FRAGMENT_SHADER)
#include "pixel_mlp.glsl"
#include "invocation_counter.glsl"
in vec3 v_position;
in vec2 v_uv;
out vec4 f_color;

void main() {
    count_invocation();
    // Per-pixel view direction: from this surface point towards the camera, in head space.
    vec3 view_dir = normalize(u_camera_head.xyz - v_position);
    f_color = vec4(draw_style(pixel_mlp(v_uv, view_dir)), 1.0);
}
#endif
