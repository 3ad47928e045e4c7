// Copies a depth texture into the bound framebuffer's depth (any depth format), e.g. the depth rendered with
// a placeholder texture into an OpenXR depth swapchain image. Full-screen triangle, no colour output.
#if defined(VERTEX_SHADER)
out vec2 v_uv;
void main() {
    vec2 corner = vec2(float((gl_VertexID << 1) & 2), float(gl_VertexID & 2));  // (0,0) (2,0) (0,2)
    v_uv = corner;
    gl_Position = vec4(corner * 2.0 - 1.0, 0.0, 1.0);
}
#elif defined(FRAGMENT_SHADER)
in vec2 v_uv;
uniform sampler2D u_depth;
void main() {
    gl_FragDepth = texture(u_depth, v_uv).r;
}
#endif
