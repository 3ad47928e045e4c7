// Per-draw uniforms of one avatar, one std140 block per draw in a shared buffer (gl_common.DrawBlocks).
layout(std140) uniform DrawUniforms {
    mat4 u_mvp;          // head -> clip (projection @ view @ model)
    vec4 u_camera_head;  // xyz: eye position in head space; w: draw slot + 1 (the G-buffer avatar id)
    vec4 u_screen_rect;  // NDC x0, y0, x1, y1 bounding the avatar on screen (deferred resolve quad)
    vec4 u_draw_style;   // x: 1 draws a placeholder (its decoder was dropped: its last good frame in grey); yzw: 0
};

// The colour a draw shows for a shaded colour `rgb` (gl_common.draw_style_rgb is the NumPy reference).
vec3 draw_style(vec3 rgb) {
    if (u_draw_style.x > 0.5) {
        return vec3(0.35 + 0.4 * dot(rgb, vec3(0.299, 0.587, 0.114)));
    }
    return rgb;
}
