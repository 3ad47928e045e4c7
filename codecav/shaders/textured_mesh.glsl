// DAM baseline, pass 2: the avatar mesh mapped with the RGB texture decoded by full_texture_mlp.glsl.

#include "draw_block.glsl"

#if defined(VERTEX_SHADER)
in vec3 in_position;
in vec2 in_uv;
out vec2 v_uv;

void main() {
    v_uv = in_uv;
    gl_Position = u_mvp * vec4(in_position, 1.0);
}

#elif defined(FRAGMENT_SHADER)
uniform sampler2D u_texture;
in vec2 v_uv;
out vec4 f_color;

void main() {
    f_color = vec4(draw_style(texture(u_texture, v_uv).rgb), 1.0);
}
#endif
