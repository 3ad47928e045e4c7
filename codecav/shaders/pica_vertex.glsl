// Vertex stage shared by every PiCA mesh pass: head-space positions and UVs through u_mvp.
// `invariant` keeps gl_Position bit-identical across programs, which the EQUAL depth test relies on.
in vec3 in_position;
in vec2 in_uv;
out vec3 v_position;
out vec2 v_uv;
invariant gl_Position;

void main() {
    v_position = in_position;
    v_uv = in_uv;
    gl_Position = u_mvp * vec4(in_position, 1.0);
}
