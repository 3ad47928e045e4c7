// Debug (PicaOptions.count_invocations, GLSL 4.30): count MLP runs in an SSBO. Early fragment tests
// keep depth-test culling as it is without the side effect.
#if COUNT_INVOCATIONS
layout(early_fragment_tests) in;
layout(std430, binding = 0) buffer InvocationCounter {
    uint u_invocations;
};
void count_invocation() {
    atomicAdd(u_invocations, 1u);
}
#else
void count_invocation() {
}
#endif
