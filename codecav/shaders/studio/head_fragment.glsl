// Capture studio, image pass: what every fragment shader of the posed head reads (studio/head.glsl,
// studio/skin.glsl): its albedo, the camera and lights (written by the studio's write_lighting) and the
// varyings of studio/head_vertex.glsl.
#define NUM_LIGHTS 3
uniform sampler2D u_albedo;
uniform vec3 u_camera;                    // camera centre in head space
uniform vec3 u_light_dir[NUM_LIGHTS];     // unit vectors from the head towards each light
uniform vec3 u_light_rgb[NUM_LIGHTS];
uniform vec3 u_ambient;
in vec3 v_position;
in vec3 v_normal;
in vec2 v_uv;
flat in int v_region;
out vec4 f_color;
