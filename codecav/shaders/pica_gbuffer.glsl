// PiCA deferred, pass 1 (PicaOptions.shading 'deferred'): rasterize every avatar with depth test LESS
// into a G-buffer - no MLP here, so overdraw and small triangles cost almost nothing.
//   g_surface  = (u, v, avatar id = draw slot + 1, 1)
//   g_position = (head-space surface position, 0)
#include "draw_block.glsl"

#if defined(VERTEX_SHADER)
#include "pica_vertex.glsl"

#elif defined(FRAGMENT_SHADER)
in vec3 v_position;
in vec2 v_uv;
layout(location = 0) out vec4 g_surface;
layout(location = 1) out vec4 g_position;

void main() {
    g_surface = vec4(v_uv, u_camera_head.w, 1.0);
    g_position = vec4(v_position, 0.0);
}
#endif
