/* What the kernel needs from its compiler, for GCC (>= 9), Clang (>= 14, clang-cl too), MinGW and MSVC: each
 * unit includes this first.
 *
 * FUSED_VECTORS is 1 where the compiler has GNU vector extensions (GCC, Clang, clang-cl): the passes use
 * vectors of a target's width, and x86's AVX2 and AVX-512 passes are built (FUSED_X86_PASSES). MSVC proper has
 * none: it builds the default pass only, with vectors of one lane (plain scalars); -DFUSED_SCALAR builds that
 * pass with any compiler, so that the tests run it here. arm64's NEON pass is built where there are vectors
 * (FUSED_ARM_PASSES). */
#ifndef FUSED_COMPAT_H
#define FUSED_COMPAT_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if !defined(FUSED_SCALAR) && (defined(__GNUC__) || defined(__clang__))
#define FUSED_VECTORS 1
#else
#define FUSED_VECTORS 0
#endif

/* x86's AVX2 and AVX-512 passes, where the compiler has vectors; not with clang-cl before 19, which declares
 * AVX's intrinsics only for the features enabled on its command line (llvm-project issue 53520), not for target
 * attributes. */
#if FUSED_VECTORS && (defined(__x86_64__) || defined(__i386__)) && !(defined(_MSC_VER) && __clang_major__ < 19)
#define FUSED_X86_PASSES 1
#include <immintrin.h>
#else
#define FUSED_X86_PASSES 0
#endif

/* arm64's NEON pass, where the compiler has vectors (NEON is part of every arm64 CPU: no run-time check). */
#if FUSED_VECTORS && (defined(__aarch64__) || defined(_M_ARM64))
#define FUSED_ARM_PASSES 1
#include <arm_neon.h>
#else
#define FUSED_ARM_PASSES 0
#endif

#if defined(_MSC_VER) && !defined(__clang__)
#include <intrin.h>
#define INLINE static __forceinline
#define NOINLINE __declspec(noinline)
#define TARGET(features)
#define ATOMIC_FETCH_ADD(pointer, value) _InterlockedExchangeAdd64((volatile __int64 *)(pointer), (value))
#if defined(_M_X64) || defined(_M_IX86)
#define PREFETCH_L2(pointer) _mm_prefetch((const char *)(pointer), _MM_HINT_T1)
#else
#define PREFETCH_L2(pointer) ((void)(pointer))
#endif
#define SIMD_LOOP
#define UNROLL_16
#else
#define INLINE static inline __attribute__((always_inline))
#define NOINLINE __attribute__((noinline))
#define TARGET(features) __attribute__((target(features)))
#define ATOMIC_FETCH_ADD(pointer, value) __atomic_fetch_add((pointer), (value), __ATOMIC_RELAXED)
#define PREFETCH_L2(pointer) __builtin_prefetch((pointer), 0, 2)
#define SIMD_LOOP _Pragma("omp simd")
#define UNROLL_16 _Pragma("GCC unroll 16")
#endif

/* SHUFFLE(mask type, a, b, lanes...): the lanes of a and b (numbered on from a's into b's) picked in order.
 * Clang's __builtin_shufflevector came to GCC only in 12; GCC's __builtin_shuffle takes the lanes as a vector. */
#if defined(__clang__)
#define SHUFFLE(mask, a, b, ...) __builtin_shufflevector(a, b, __VA_ARGS__)
#else
#define SHUFFLE(mask, a, b, ...) __builtin_shuffle(a, b, (mask){__VA_ARGS__})
#endif

/* The functions kernels.py calls (a DLL exports only what is marked), and the rest kept inside the library. */
#if defined(_WIN32)
#define EXPORT __declspec(dllexport)
#define INTERNAL
#else
#define EXPORT __attribute__((visibility("default")))
#define INTERNAL __attribute__((visibility("hidden")))
#endif

/* 64-byte aligned memory, freed by aligned_free only: Windows' C runtimes have no aligned_alloc (nor can free()
 * free _aligned_malloc's blocks), and macOS has it only from 10.15. */
#if defined(_WIN32)
#include <malloc.h>
static inline void *aligned_bytes(size_t size) { return _aligned_malloc(size, 64); }
static inline void aligned_free(void *pointer) { _aligned_free(pointer); }
#else
static inline void *aligned_bytes(size_t size) {
    void *pointer;
    return posix_memalign(&pointer, 64, size) ? NULL : pointer;
}
static inline void aligned_free(void *pointer) { free(pointer); }
#endif

#define CAT(a, b) a##b
#define XCAT(a, b) CAT(a, b)

#endif
