// Capture studio, unwrap pass: draws the mesh in UV space and looks up, for every texel, the colour
// the camera saw at that surface point (Deep Appearance Models' unwrapped texture). Texels hidden by a
// nearer surface (depth test against the image pass) or seen edge-on get alpha 0.

#if defined(VERTEX_SHADER)
uniform mat4 u_mvp;
in vec3 in_position;
in vec3 in_normal;
in vec2 in_uv;
out vec4 v_clip;
out vec3 v_position;
out vec3 v_normal;

void main() {
    v_clip = u_mvp * vec4(in_position, 1.0);
    v_position = in_position;
    v_normal = in_normal;
    gl_Position = vec4(in_uv * 2.0 - 1.0, 0.0, 1.0);
}

#elif defined(FRAGMENT_SHADER)
uniform sampler2D u_image;   // the image pass's colour (GL rows: bottom first)
uniform sampler2D u_depth;   // the image pass's depth
uniform vec3 u_camera;
uniform float u_depth_bias;
in vec4 v_clip;
in vec3 v_position;
in vec3 v_normal;
out vec4 f_color;

void main() {
    vec3 ndc = v_clip.xyz / v_clip.w;
    vec2 st = ndc.xy * 0.5 + 0.5;
    float depth = ndc.z * 0.5 + 0.5;
    bool inside = v_clip.w > 0.0 && all(greaterThanEqual(st, vec2(0.0))) && all(lessThanEqual(st, vec2(1.0)));
    float seen = texture(u_depth, st).r;
    // Two-sided: inner surfaces (mouth cavity, eye sockets) can be seen from their back side; the depth
    // test rejects hidden surfaces, this rejects grazing views whose texels would smear.
    bool facing = abs(dot(normalize(v_normal), normalize(u_camera - v_position))) > 0.05;
    float visible = (inside && facing && depth <= seen + u_depth_bias) ? 1.0 : 0.0;
    f_color = vec4(texture(u_image, st).rgb * visible, visible);
}
#endif
