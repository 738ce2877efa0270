/*
 * kernels_v8.h - the parts of the 8-float vector layer (see kernels_impl.h)
 * that the avx2 and avx512y variants share: kernels.c includes it in both,
 * under their target pragmas, beside the parts that differ (registers,
 * masks, compares); kernels_impl.h undefines them all after each variant.
 */
#define VL        8
#define vf        __m256
#define V_SQRT(v) _mm256_sqrt_ps(v)
#define V_LOAD(p) _mm256_loadu_ps(p)
#define V_FROM_U8(p)                                                           \
	_mm256_cvtepi32_ps(                                                    \
	    _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(p))))
#define V_STORE(p, v)                _mm256_storeu_ps(p, v)
#define V_ROTATE(v, lo)              M256_ROTATE(v, lo)
#define V_SET1(a)                    _mm256_set1_ps(a)
#define V_ZERO()                     _mm256_setzero_ps()
#define V_ADD(a, b)                  _mm256_add_ps(a, b)
#define V_MAX(a, b)                  _mm256_max_ps(a, b)
#define V_FMA(a, b, c)               _mm256_fmadd_ps(a, b, c)
#define V_HSUM(v)                    avx2_hsum(v)
#define V_REDUCE(acc, out)           avx2_reduce8(acc, out)
#define V_HAS_PAIRS                  1
#define V_DEINTERLEAVE(a, b, ev, od) M256_DEINTERLEAVE(a, b, ev, od)
#define V_INTERLEAVE(ev, od, lo, hi) M256_INTERLEAVE(ev, od, lo, hi)
#define REG_BARRIER(v)               VREG_BARRIER(v)
