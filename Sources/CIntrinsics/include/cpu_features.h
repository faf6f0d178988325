#ifndef LANTERN_CPU_FEATURES_H
#define LANTERN_CPU_FEATURES_H

// The x86-64 micro-architecture level this CPU and its OS support, for choosing the kernels built
// for it: 4 (x86-64-v4: AVX-512 F/BW/CD/DQ/VL), 3 (x86-64-v3: AVX2, FMA, F16C, BMI1/2, LZCNT,
// MOVBE), otherwise 0 (and always 0 on other architectures). The OS's part is whether it saves
// the vector registers (XCR0), which the compiler runtime's check reads too: a CPU may have
// AVX-512 and a hypervisor leave it off. Inline, so the header alone is enough (the fuzz build).
static inline int lantern_x86_64_level(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("x86-64-v4")) return 4;
    if (__builtin_cpu_supports("x86-64-v3")) return 3;
#endif
    return 0;
}

#endif
