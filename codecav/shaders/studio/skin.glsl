// Capture studio, image pass for scanned skin: albedo, specular and height maps in the head's atlas.
// Diffuse: wrapped Lambert with a wider wrap in red (a cheap stand-in for subsurface scattering) under a
// key, fill and rim light plus a sky/ground ambient. Specular: two Blinn-Phong lobes (sharp + broad, as
// skin shaders use), Schlick Fresnel, scaled by the specular map. Normal detail: the height map's
// texture-space gradient turned into a surface gradient with screen-space derivatives (Mikkelsen 2010).

#if defined(VERTEX_SHADER)
#include "studio/head_vertex.glsl"

#elif defined(FRAGMENT_SHADER)
#include "studio/head_fragment.glsl"
uniform sampler2D u_specular;
uniform sampler2D u_height;
uniform float u_height_scale;             // metres per unit of the height map (0..1)
uniform float u_texel;                    // 1 / height map size

// Per region (skin, eyes, teeth, tongue, mouth interior): occlusion, sharp-lobe shininess.
const float OCCLUSION[5] = float[5](1.0, 1.0, 0.6, 0.5, 0.35);
const float SHININESS[5] = float[5](90.0, 600.0, 60.0, 80.0, 20.0);
const vec3 WRAP = vec3(0.45, 0.22, 0.16);

vec3 bumped(vec3 n) {
    // Surface gradient of the height field: dh/du grad(u) + dh/dv grad(v), grad from screen derivatives.
    vec3 dp1 = dFdx(v_position), dp2 = dFdy(v_position);
    vec2 duv1 = dFdx(v_uv), duv2 = dFdy(v_uv);
    vec3 r1 = cross(dp2, n), r2 = cross(n, dp1);
    float det = dot(dp1, r1);
    if (abs(det) < 1e-14) return n;
    vec3 grad_u = (r1 * duv1.x + r2 * duv2.x) / det;
    vec3 grad_v = (r1 * duv1.y + r2 * duv2.y) / det;
    float hu = texture(u_height, v_uv + vec2(u_texel, 0.0)).r - texture(u_height, v_uv - vec2(u_texel, 0.0)).r;
    float hv = texture(u_height, v_uv + vec2(0.0, u_texel)).r - texture(u_height, v_uv - vec2(0.0, u_texel)).r;
    vec3 grad_h = u_height_scale * (hu * grad_u + hv * grad_v) / (2.0 * u_texel);
    return normalize(n - grad_h);
}

void main() {
    vec3 albedo = pow(texture(u_albedo, v_uv).rgb, vec3(2.2));
    float spec_map = texture(u_specular, v_uv).r;
    vec3 n = normalize(v_normal);
    vec3 v = normalize(u_camera - v_position);
    if (dot(n, v) < 0.0) n = -n;  // inner surfaces (mouth, eye sockets) seen from behind
    int r = clamp(v_region, 0, 4);
    if (r == 0) n = bumped(n);
    vec3 diffuse = u_ambient * (0.75 + 0.25 * n.y);  // brighter from the sky than from the ground
    vec3 specular = vec3(0.0);
    float nv = max(dot(n, v), 0.0);
    float fresnel = 0.028 + (1.0 - 0.028) * pow(1.0 - nv, 5.0);
    for (int i = 0; i < NUM_LIGHTS; ++i) {
        vec3 l = u_light_dir[i];
        float ndl = dot(n, l);
        diffuse += u_light_rgb[i] * max((vec3(ndl) + WRAP) / (1.0 + WRAP), 0.0);
        if (ndl <= 0.0) continue;
        vec3 h = normalize(l + v);
        float nh = max(dot(n, h), 0.0);
        float sharp = SHININESS[r];
        float lobes = 0.6 * (sharp + 8.0) / 25.13 * pow(nh, sharp) + 0.4 * (sharp * 0.25 + 8.0) / 25.13 * pow(nh, sharp * 0.25);
        specular += u_light_rgb[i] * ndl * lobes;
    }
    vec3 linear = OCCLUSION[r] * (albedo * diffuse + 4.0 * fresnel * spec_map * specular);
    linear = linear / (1.0 + 0.15 * linear);  // soft shoulder so highlights do not clip flat
    f_color = vec4(pow(clamp(linear, 0.0, 1.0), vec3(1.0 / 2.2)), 1.0);
}
#endif
