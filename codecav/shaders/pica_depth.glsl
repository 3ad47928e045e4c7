// PiCA depth-only pre-pass (PicaOptions.shading 'prepass'): depth of every avatar, no colour, no MLP.
#include "draw_block.glsl"

#if defined(VERTEX_SHADER)
#include "pica_vertex.glsl"
#elif defined(FRAGMENT_SHADER)
void main() {
}
#endif
