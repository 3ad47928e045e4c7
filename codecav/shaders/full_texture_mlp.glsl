// DAM baseline, pass 1: run the per-pixel MLP over every texel of the UV texture with one global
// view direction (head origin -> camera), writing an RGB texture that textured_mesh.glsl then maps.
#include "draw_block.glsl"

#if defined(VERTEX_SHADER)
void main() {
    // One triangle covering the viewport: vertices (-1,-1), (3,-1), (-1,3).
    vec2 p = vec2(float((gl_VertexID & 1) << 2) - 1.0, float((gl_VertexID & 2) << 1) - 1.0);
    gl_Position = vec4(p, 0.0, 1.0);
}

#elif defined(FRAGMENT_SHADER)
#include "pixel_mlp.glsl"
uniform vec2 u_texture_size;
out vec4 f_color;

void main() {
    vec2 uv = gl_FragCoord.xy / u_texture_size;  // texel centres: ((c + 0.5) / W, (r + 0.5) / H)
    if (uv.x < 0.0) {
        // Never taken. A shader without discard also gets llvmpipe's "linear" variant compiled,
        // which takes seconds for the straight-line MLP; a discard opts out (no effect on GPUs).
        discard;
    }
    float distance = length(u_camera_head.xyz);
    vec3 view_dir = distance > 1e-9 ? u_camera_head.xyz / distance : vec3(0.0, 0.0, 1.0);
    f_color = vec4(pixel_mlp(uv, view_dir), 1.0);
}
#endif
