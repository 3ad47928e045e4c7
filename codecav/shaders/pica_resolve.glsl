// PiCA deferred, pass 2: per avatar, a quad over its screen rectangle runs the MLP on the pixels whose
// G-buffer id is this avatar's. Whole 4x4 / 2x2 blocks are covered inside the avatar, so the MLP runs
// once per covered pixel with no partial-block waste along every small triangle's edges.
#include "draw_block.glsl"

#if defined(VERTEX_SHADER)
void main() {
    // Triangle strip over u_screen_rect: vertices 0..3 -> (x0,y0), (x1,y0), (x0,y1), (x1,y1).
    vec2 corner = vec2(float(gl_VertexID & 1), float((gl_VertexID >> 1) & 1));
    // At the far plane: drawn with depth test GREATER, so the early depth test drops background
    // blocks (depth still 1.0) before the fragment shader runs.
    gl_Position = vec4(mix(u_screen_rect.xy, u_screen_rect.zw, corner), 1.0, 1.0);
}

#elif defined(FRAGMENT_SHADER)
#include "pixel_mlp.glsl"
#include "invocation_counter.glsl"
uniform sampler2D u_gbuffer_surface;
uniform sampler2D u_gbuffer_position;
out vec4 f_color;

void main() {
    ivec2 pixel = ivec2(gl_FragCoord.xy);
    vec4 surface = texelFetch(u_gbuffer_surface, pixel, 0);
    if (abs(surface.z - u_camera_head.w) > 0.5) {
        discard;  // another avatar's pixel, or background
    }
    count_invocation();
    vec3 position = texelFetch(u_gbuffer_position, pixel, 0).xyz;
    vec3 view_dir = normalize(u_camera_head.xyz - position);
    f_color = vec4(draw_style(pixel_mlp(surface.xy, view_dir)), 1.0);
}
#endif
