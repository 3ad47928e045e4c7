// Capture studio, image pass vertex stage shared by head.glsl and skin.glsl: the posed head in head space,
// its normal, atlas UV and region (0 skin, ...) passed on to the fragment stage.
uniform mat4 u_mvp;
in vec3 in_position;
in vec3 in_normal;
in vec2 in_uv;
in float in_region;
out vec3 v_position;
out vec3 v_normal;
out vec2 v_uv;
flat out int v_region;

void main() {
    v_position = in_position;
    v_normal = in_normal;
    v_uv = in_uv;
    v_region = int(in_region + 0.5);
    gl_Position = u_mvp * vec4(in_position, 1.0);
}
