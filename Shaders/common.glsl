// Shared helpers for Lantern's compute shaders (included, not compiled on its own).
// Conventions: every buffer is bound whole; push constants carry element offsets, so tensor views
// at any byte offset work without the device's storage-buffer offset alignment.

// Index of this invocation over a 2-D grid of 1-D workgroups (grids wider than 65535 groups are
// folded into y by the host).
uint flatIndex() {
    return (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
}

uint flatGroup() { return gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x; }

// tanh without the inf/inf of exp-based formulas and without cancellation near zero.
float tanhStable(float x) {
    float a = abs(x);
    float r;
    if (a < 0.5) {
        float x2 = a * a;
        // Taylor series to x^15: relative error < 1e-7 for |x| < 0.5.
        r = a * (1.0 + x2 * (-1.0 / 3.0 + x2 * (2.0 / 15.0 + x2 * (-17.0 / 315.0 + x2 * (62.0 / 2835.0
              + x2 * (-1382.0 / 155925.0 + x2 * (21844.0 / 6081075.0 + x2 * (-929569.0 / 638512875.0))))))));
    } else if (a < 20.0) {
        float e = exp(-2.0 * a);
        r = (1.0 - e) / (1.0 + e);
    } else {
        r = 1.0;
    }
    return x < 0.0 ? -r : r;
}

// A finite stand-in for -infinity (exp of anything minus it is 0; never NaN under fast math).
const float NEG_INF = -3.402823466e+38;

// erfc(x): GLSL has none. The Chebyshev-fitted exponential of Numerical Recipes (relative error
// < 1.2e-7 everywhere), for the exact GELU and its derivative.
float erfcApprox(float x) {
    float z = abs(x);
    float t = 1.0 / (1.0 + 0.5 * z);
    float r = t * exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806
              + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
    return x >= 0.0 ? r : 2.0 - r;
}
