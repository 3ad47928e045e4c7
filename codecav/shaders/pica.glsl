// PiCA per-pixel decoding of one avatar: a depth-only pre-pass (DEPTH_ONLY 1) and a shading pass
// drawn with depth test EQUAL, so the MLP runs once for each covered pixel and never for hidden ones.
// Vertices are in head space; the draw block carries head -> clip and the camera in head space.

layout(std140) uniform DrawUniforms {
    mat4 u_mvp;          // head -> clip (projection @ view @ model)
    vec4 u_camera_head;  // eye position in head space, w unused
};

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
#if COUNT_INVOCATIONS
// Debug: count shading-pass invocations (needs GLSL 4.30); early tests keep the count honest.
layout(early_fragment_tests) in;
layout(std430, binding = 0) buffer InvocationCounter {
    uint u_invocations;
};
#endif
in vec3 v_position;
in vec2 v_uv;
out vec4 f_color;

void main() {
#if COUNT_INVOCATIONS
    atomicAdd(u_invocations, 1u);
#endif
    // Per-pixel view direction: from this surface point towards the camera, in head space.
    vec3 view_dir = normalize(u_camera_head.xyz - v_position);
    f_color = vec4(pixel_mlp(v_uv, view_dir), 1.0);
}
#endif
#endif
