// Shared includes of the fused CPU kernels (spikeforge/kernels/csrc/*.cpp).
//
// Plain C ABI, no torch headers: tensors cross the boundary as data pointers (see cpu.py,
// pool.py, layers/sparse_linear.py). _build.py compiles every .cpp file here into one shared
// library with -ffp-contract=off and without -ffast-math, so each floating-point operation
// rounds once, exactly like one torch elementwise op (no fused multiply-add, no reassociation).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <type_traits>
#include <vector>
#include <omp.h>

#if defined(__AVX__)
#include <immintrin.h>
#endif
