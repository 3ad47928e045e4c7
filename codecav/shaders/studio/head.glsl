// Capture studio, image pass: the posed head with its albedo, Lambert + Blinn-Phong under a few
// directional lights; eyes glossy, mouth interior darkened (a per-region occlusion factor).

#if defined(VERTEX_SHADER)
#include "studio/head_vertex.glsl"

#elif defined(FRAGMENT_SHADER)
#include "studio/head_fragment.glsl"

// Per region (skin, eyes, teeth, tongue, mouth interior): occlusion, specular strength, shininess.
const float OCCLUSION[5] = float[5](1.0, 1.0, 0.55, 0.45, 0.3);
const float SPECULAR[5] = float[5](0.10, 0.9, 0.25, 0.25, 0.05);
const float SHININESS[5] = float[5](24.0, 200.0, 40.0, 30.0, 10.0);

void main() {
    vec3 albedo = pow(texture(u_albedo, v_uv).rgb, vec3(2.2));
    vec3 n = normalize(v_normal);
    vec3 v = normalize(u_camera - v_position);
    if (dot(n, v) < 0.0) n = -n;  // inner surfaces (mouth, eye sockets) seen from behind
    int r = clamp(v_region, 0, 4);
    vec3 diffuse = u_ambient;
    vec3 specular = vec3(0.0);
    for (int i = 0; i < NUM_LIGHTS; ++i) {
        vec3 l = u_light_dir[i];
        float ndl = max(dot(n, l), 0.0);
        diffuse += u_light_rgb[i] * ndl;
        vec3 h = normalize(l + v);
        specular += u_light_rgb[i] * SPECULAR[r] * pow(max(dot(n, h), 0.0), SHININESS[r]) * step(0.0, ndl);
    }
    vec3 linear = OCCLUSION[r] * (albedo * diffuse + specular);
    f_color = vec4(pow(clamp(linear, 0.0, 1.0), vec3(1.0 / 2.2)), 1.0);
}
#endif
