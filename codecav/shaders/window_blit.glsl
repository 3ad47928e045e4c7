// Copies one eye's colour texture into its part of the window (mono: whole window; stereo: halves).
#if defined(VERTEX_SHADER)
in vec2 in_corner;
out vec2 v_uv;
uniform vec4 u_rect;  // x0, y0, x1, y1 in NDC
void main() {
    v_uv = in_corner;
    gl_Position = vec4(mix(u_rect.xy, u_rect.zw, in_corner), 0.0, 1.0);
}
#elif defined(FRAGMENT_SHADER)
in vec2 v_uv;
out vec4 f_color;
uniform sampler2D u_image;
void main() {
    f_color = vec4(texture(u_image, v_uv).rgb, 1.0);
}
#endif
