// Per-draw uniforms of one avatar, one std140 block per draw in a shared buffer (gl_common.DrawBlocks).
layout(std140) uniform DrawUniforms {
    mat4 u_mvp;          // head -> clip (projection @ view @ model)
    vec4 u_camera_head;  // xyz: eye position in head space; w: draw slot + 1 (the G-buffer avatar id)
    vec4 u_screen_rect;  // NDC x0, y0, x1, y1 bounding the avatar on screen (deferred resolve quad)
};
