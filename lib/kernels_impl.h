/*
 * kernels_impl.h - the kernels that exist once per instruction set. Included
 * by kernels.c only, once per variant, after the definitions of a vector
 * layer (below) and under a target pragma. Every function it defines is
 * static and really named NAME_<suffix> (KFN), but written and called under
 * its plain name through the alias macros below; the table's entry points
 * are kNAME.
 *
 * The includer defines:
 *   KSUF                   the suffix (avx512, avx512y, avx2, portable)
 *   KNAME                  the name in the table ("avx512", ...)
 *   VL                     floats per vector
 *   REGS                   vector registers (sizes the register blocks)
 *   vf, vmask, vcond       a vector, a lane mask, a lane-wise condition
 *   V_LOAD(p) V_STORE(p, v)             unaligned, all VL lanes
 *   V_MASK(n)                           the first n lanes, 0 < n <= VL
 *   V_LOADM(p, m) V_STOREM(p, v, m)     only the lanes in m are accessed
 *                                       (the others load as 0, are kept)
 *   V_SET1(a) V_ZERO() V_ADD(a, b)
 *   V_FMA(a, b, c)                      a * b + c (fused where the ISA is)
 *   V_HSUM(v)                           the sum of the lanes, fixed order
 *   V_REDUCE(acc, out)                  out[i] = the sum of the lanes of
 *                                       acc[i], i < VL, fixed order
 *   V_GT(a, b)                          a > b (false for NaN)
 *   V_SEL(c, a, b) V_SELZ(c, v) V_SELNZ(c, v)   c ? a : b, c ? v : 0,
 *                                       c ? 0 : v
 *   V_MAX(a, b)                         a > b ? a : b, exactly (b when
 *                                       either is NaN or both are zeros:
 *                                       x86's max)
 *   REG_BARRIER(v)                      keeps v in a register (or nothing)
 *   V_HAS_PAIRS                         1 if the two below exist:
 *   V_DEINTERLEAVE(a, b, ev, od)        of the 2 VL floats a then b, the
 *                                       even ones into ev, the odd into od
 *   V_INTERLEAVE(ev, od, lo, hi)        its inverse
 * and optionally:
 *   KNO_TABLE                           no kernel_table (a variant only
 *                                       used through another's KNARROW)
 *   KNARROW(name), KNARROW_VL           a narrower instantiation whose
 *                                       direct convolution is used when
 *                                       conv_sums_narrow (forward, dx)
 *                                       or conv_dw_narrow (dw) says
 *                                       so
 *
 * Invariants (each variant alone)
 *  - Every output element is a sum in an order fixed by the shapes: GEMM
 *    and convolution forward sums start from beta * C or the bias and add
 *    the products in increasing k (or (c, i, j)); the register blocking
 *    only chooses which elements are computed together. Reductions across
 *    vector lanes (dot products, weight gradients) sum per lane in order and
 *    then across the lanes in the fixed tree of V_HSUM / V_REDUCE.
 *  - Nothing reads outside its arguments: tails use masked loads or the
 *    slack that the workspace layout (kernels.c) leaves after each buffer.
 */

#define KCAT2(a, b) a##_##b
#define KCAT(a, b)  KCAT2(a, b)
#define KFN(name)   KCAT(name, KSUF)

/* The aliases (a macro's own name in its expansion is not expanded again).
 * They, KFN and the constants below are defined identically at every
 * inclusion (KSUF, VL and REGS are read where they are used), so they are
 * never #undef'd. */
#define axpy_tile            KFN(axpy_tile)
#define axpy_chunks          KFN(axpy_chunks)
#define gemm_axpy            KFN(gemm_axpy)
#define axpy_rows            KFN(axpy_rows)
#define dot_tile             KFN(dot_tile)
#define gemm_dot             KFN(gemm_dot)
#define block_size           KFN(block_size)
#define block_cover          KFN(block_cover)
#define conv_pv              KFN(conv_pv)
#define dconv_store_rows     KFN(dconv_store_rows)
#define dconv_tile           KFN(dconv_tile)
#define dconv_block          KFN(dconv_block)
#define dconv_run            KFN(dconv_run)
#define dw_tile              KFN(dw_tile)
#define conv_tt              KFN(conv_tt)
#define dw_run               KFN(dw_run)
#define rows_padded          KFN(rows_padded)
#define wide_compact         KFN(wide_compact)
#define conv_direct_forward  KFN(conv_direct_forward)
#define conv_direct_backward KFN(conv_direct_backward)
#define conv_dx_phases       KFN(conv_dx_phases)
#define pair_plan            KFN(pair_plan)
#define pair_plan_of         KFN(pair_plan_of)
#define split_pairs          KFN(split_pairs)
#define join_pairs           KFN(join_pairs)
#define phase_planes         KFN(phase_planes)
#define phase_gather         KFN(phase_gather)
#define conv_bias_grad       KFN(conv_bias_grad)
#define pool22_forward       KFN(pool22_forward)
#define pool22_backward      KFN(pool22_backward)
#define kgemm                KFN(kgemm)
#define kgemm_chunks         KFN(kgemm_chunks)
#define kconv_forward        KFN(kconv_forward)
#define kconv_backward       KFN(kconv_backward)
#define kwhere_positive      KFN(kwhere_positive)
#define kcol_sums            KFN(kcol_sums)
#define kscale_bytes         KFN(kscale_bytes)
#define kdropout             KFN(kdropout)
#define r_zero               KFN(r_zero)
#define r_load               KFN(r_load)
#define r_store              KFN(r_store)
#define r_sqrt               KFN(r_sqrt)
#define r_sgd                KFN(r_sgd)
#define r_nesterov           KFN(r_nesterov)
#define r_moments            KFN(r_moments)
#define r_adam               KFN(r_adam)
#define r_adam_inside        KFN(r_adam_inside)
#define r_rmsprop            KFN(r_rmsprop)
#define r_rmsprop_mom        KFN(r_rmsprop_mom)
#define kupdate_apply        KFN(kupdate_apply)
#define kadd_forward         KFN(kadd_forward)
#define r_positive           KFN(r_positive)
#define kbn_forward          KFN(kbn_forward)
#define kbn_backward         KFN(kbn_backward)
#define kbn_sums             KFN(kbn_sums)
#define kbn_dy_sums          KFN(kbn_dy_sums)
#define avf                  KFN(avf)
#define avi                  KFN(avi)
#define avu                  KFN(avu)
#define a_splat              KFN(a_splat)
#define a_sel                KFN(a_sel)
#define a_abs                KFN(a_abs)
#define a_xorsign            KFN(a_xorsign)
#define a_expm1_reduced      KFN(a_expm1_reduced)
#define a_pow2i              KFN(a_pow2i)
#define a_exp                KFN(a_exp)
#define a_expm1              KFN(a_expm1)
#define a_tanh               KFN(a_tanh)
#define a_sigmoid            KFN(a_sigmoid)
#define a_tanh_grad          KFN(a_tanh_grad)
#define a_sigmoid_grad       KFN(a_sigmoid_grad)
#define ktanh_backward       KFN(ktanh_backward)
#define ksigmoid_backward    KFN(ksigmoid_backward)
#define a_elu                KFN(a_elu)
#define a_elu_grad           KFN(a_elu_grad)
#define ksigmoid_forward     KFN(ksigmoid_forward)
#define ktanh_forward        KFN(ktanh_forward)
#define kelu_forward         KFN(kelu_forward)
#define kelu_backward        KFN(kelu_backward)
#define kmaxpool_forward     KFN(kmaxpool_forward)
#define kmaxpool_backward    KFN(kmaxpool_backward)
#define pool22_relu          KFN(pool22_relu)
#define pool22_store         KFN(pool22_store)

/* ======================================================================== */
/* GEMM                                                                     */

/* Register blocks. axpy: GEMM_MR rows x GEMM_NV vectors of C, each k adds
 * A(i, k) * B(k, j..) (B rows contiguous). dot: DOT_MR x DOT_NR elements of
 * C, DOT_MR * DOT_NR == VL, each a vector of partial dot products along k.
 */
#define GEMM_MR     6                    /* the tallest axpy tile */
#define GEMM_MR_LOW (REGS >= 32 ? 4 : 6) /* when it pads M less */
#define GEMM_NV     (REGS >= 32 ? 4 : 2)
#define DOT_MR      (REGS >= 32 || VL >= 8 ? 4 : 2)
#define DOT_NR      (VL / DOT_MR)
#define GEMM_KC     512 /* depth per pass over a block of C (axpy) */
/* Vectors per dot product: 2 in the portable variant (eight lanes, the sums
 * of libcnn's scalar reference), 1 where FMA latency is covered by the
 * DOT_MR x DOT_NR block alone. */
#define DOT_SPLIT (VL == 4 ? 2 : 1)

/* C rows rows[0..MR) (repeats allowed: a repeated row is computed twice
 * and stored twice with the same value) x columns [j, j + NV * VL), the
 * last vector masked to m when ml, over k in [k0, k1): C = (zero ? 0 : C)
 * + sum_k A'(i, k) B'(k, j), products added in increasing k; with add
 * (and zero), C = C + that sum, a repeated row added once. */
ALWAYS_INLINE void axpy_tile(const gemm_args *g, int MR, int NV, int ml,
                             const int *rows, int j, vmask m, int k0, int k1,
                             int zero, int add)
{
	vf c[GEMM_MR][GEMM_NV];
	const float *a[GEMM_MR];
	const float *b = g->B + (size_t)k0 * g->ldb + j;

	UNROLL
	for (int r = 0; r < MR; r++) {
		const float *cr = g->C + (size_t)rows[r] * g->ldc + j;

		a[r] = g->A + (size_t)rows[r] * g->ars + (size_t)k0 * g->acs;
		UNROLL
		for (int v = 0; v < NV; v++) {
			if (zero)
				c[r][v] = V_ZERO();
			else if (ml && v == NV - 1)
				c[r][v] = V_LOADM(cr + v * VL, m);
			else
				c[r][v] = V_LOAD(cr + v * VL);
		}
	}
	for (int k = k0; k < k1; k++) {
		vf bv[GEMM_NV];

		UNROLL
		for (int v = 0; v < NV; v++) {
			bv[v] = ml && v == NV - 1 ? V_LOADM(b + v * VL, m)
			                          : V_LOAD(b + v * VL);
			REG_BARRIER(bv[v]);
		}
		UNROLL
		for (int r = 0; r < MR; r++) {
			vf av = V_SET1(*a[r]);

			REG_BARRIER(av);
			a[r] += g->acs;
			UNROLL
			for (int v = 0; v < NV; v++)
				c[r][v] = V_FMA(av, bv[v], c[r][v]);
		}
		b += g->ldb;
	}
	UNROLL
	for (int r = 0; r < MR; r++) {
		float *cr = g->C + (size_t)rows[r] * g->ldc + j;

		if (add && r > 0 && rows[r] == rows[r - 1])
			continue; /* a repeat: added once */
		UNROLL
		for (int v = 0; v < NV; v++) {
			if (add)
				c[r][v] = V_ADD(ml && v == NV - 1
				                    ? V_LOADM(cr + v * VL, m)
				                    : V_LOAD(cr + v * VL),
				                c[r][v]);
			if (ml && v == NV - 1)
				V_STOREM(cr + v * VL, c[r][v], m);
			else
				V_STORE(cr + v * VL, c[r][v]);
		}
	}
}

/* axpy_tile over k in [k0, k1), or with g->chunk, over each chunk of
 * that depth in turn (the last shorter), each summed from zero and added
 * to the tile (the first chunk stored unless g->fold): the tile takes
 * every chunk while it is in the cache. */
ALWAYS_INLINE void axpy_chunks(const gemm_args *g, int MR, int NV, int ml,
                               const int *rows, int j, vmask m, int k0, int k1,
                               int zero)
{
	const int step = g->chunk ? g->chunk : k1 - k0;

	for (int c0 = k0; c0 < k1; c0 += step) {
		int c1 = k1 - c0 < step ? k1 : c0 + step;

		axpy_tile(g, MR, NV, ml, rows, j, m, c0, c1,
		          g->chunk ? 1 : zero,
		          g->chunk && (c0 > k0 || g->fold));
	}
}

/* Rows per axpy tile for M rows: GEMM_MR, unless its tiles would pad M to
 * over 1.1 times what GEMM_MR_LOW's do (6 x 4 vectors load fewer B vectors
 * per FMA than 4 x 4: 1.16x the speed on whole tiles, but 16 rows would
 * take 18). */
static inline int axpy_rows(int M)
{
	int hi = (M + GEMM_MR - 1) / GEMM_MR * GEMM_MR;
	int lo = (M + GEMM_MR_LOW - 1) / GEMM_MR_LOW * GEMM_MR_LOW;

	return hi * 10 <= lo * 11 ? GEMM_MR : GEMM_MR_LOW;
}

/* tb == 0: C (M x N) = beta * C + A' B, beta 0 or 1, K > 0. Blocks of
 * GEMM_KC depth; within one, panels of GEMM_NV vectors of columns (the last
 * narrower and masked) and tiles of axpy_rows rows (the last repeating its
 * final row). Each element is summed in increasing k whatever the tile, so
 * the tile's shape never changes the bits. */
KSTATIC void gemm_axpy(const gemm_args *g)
{
	int rows[GEMM_MR];
	const int mr = axpy_rows(g->M);
	const int kc = g->chunk ? g->K : GEMM_KC; /* chunks: one pass */

	for (int k0 = 0; k0 < g->K; k0 += kc) {
		int k1 = g->K - k0 < kc ? g->K : k0 + kc;
		int zero = k0 == 0 && g->beta == 0.0f;

		for (int j = 0; j < g->N; j += GEMM_NV * VL) {
			int rem = g->N - j;
			int nv =
			    rem >= GEMM_NV * VL ? GEMM_NV : (rem + VL - 1) / VL;
			int last =
			    rem >= GEMM_NV * VL ? VL : rem - (nv - 1) * VL;
			int ml = last < VL;
			vmask m = V_MASK(last);

			for (int i = 0; i < g->M; i += mr) {
				for (int r = 0; r < mr; r++)
					rows[r] =
					    i + r < g->M ? i + r : g->M - 1;
#define AXPY_MR(mrc, nvc)                                                      \
	do {                                                                   \
		if (ml)                                                        \
			axpy_chunks(g, mrc, nvc, 1, rows, j, m, k0, k1, zero); \
		else                                                           \
			axpy_chunks(g, mrc, nvc, 0, rows, j, m, k0, k1, zero); \
	} while (0)
#define AXPY_CASE(nvc)                                                         \
	case nvc:                                                              \
		if (mr == GEMM_MR)                                             \
			AXPY_MR(GEMM_MR, nvc);                                 \
		else                                                           \
			AXPY_MR(GEMM_MR_LOW, nvc);                             \
		break;
				switch (nv) {
					AXPY_CASE(1)
					AXPY_CASE(2)
#if GEMM_NV >= 3
					AXPY_CASE(3)
#endif
#if GEMM_NV >= 4
					AXPY_CASE(4)
#endif
				default:
					break;
				}
#undef AXPY_CASE
#undef AXPY_MR
			}
		}
	}
}

/* ta == 0, tb == 1: DOT_MR rows of A (ra) x DOT_NR rows of B (rb), repeats
 * allowed, each element a dot product along k: with DOT_SPLIT 1, in VL
 * lanes (k mod VL) summed in order, the k tail in a masked step, then the
 * lanes by V_REDUCE; with DOT_SPLIT 2, in 2 VL lanes (k mod 2 VL) held as
 * two vectors, which are added and then reduced, the k tail added after
 * them one product at a time. */
ALWAYS_INLINE void dot_tile(const gemm_args *g, const int *ra, const int *rb,
                            float *out)
{
	vf acc[DOT_SPLIT][DOT_MR * DOT_NR];
	const float *a[DOT_MR], *b[DOT_NR];
	int K = g->K, k = 0;

	UNROLL
	for (int h = 0; h < DOT_SPLIT; h++)
		UNROLL
	for (int t = 0; t < DOT_MR * DOT_NR; t++)
		acc[h][t] = V_ZERO();
	UNROLL
	for (int r = 0; r < DOT_MR; r++)
		a[r] = g->A + (size_t)ra[r] * g->ars;
	UNROLL
	for (int c = 0; c < DOT_NR; c++)
		b[c] = g->B + (size_t)rb[c] * g->ldb;
	for (; k + DOT_SPLIT * VL <= K; k += DOT_SPLIT * VL) {
		UNROLL
		for (int h = 0; h < DOT_SPLIT; h++) {
			vf bv[DOT_NR];

			UNROLL
			for (int c = 0; c < DOT_NR; c++) {
				bv[c] = V_LOAD(b[c] + k + h * VL);
				REG_BARRIER(bv[c]);
			}
			UNROLL
			for (int r = 0; r < DOT_MR; r++) {
				vf av = V_LOAD(a[r] + k + h * VL);

				REG_BARRIER(av);
				UNROLL
				for (int c = 0; c < DOT_NR; c++)
					acc[h][r * DOT_NR + c] = V_FMA(
					    av, bv[c], acc[h][r * DOT_NR + c]);
			}
		}
	}
#if DOT_SPLIT == 1
	if (k < K) {
		vmask m = V_MASK(K - k);
		vf bv[DOT_NR];

		UNROLL
		for (int c = 0; c < DOT_NR; c++)
			bv[c] = V_LOADM(b[c] + k, m);
		UNROLL
		for (int r = 0; r < DOT_MR; r++) {
			vf av = V_LOADM(a[r] + k, m);

			UNROLL
			for (int c = 0; c < DOT_NR; c++)
				acc[0][r * DOT_NR + c] =
				    V_FMA(av, bv[c], acc[0][r * DOT_NR + c]);
		}
	}
	V_REDUCE(acc[0], out);
#else
	UNROLL
	for (int t = 0; t < DOT_MR * DOT_NR; t++)
		acc[0][t] = V_ADD(acc[0][t], acc[1][t]);
	V_REDUCE(acc[0], out);
	for (int r = 0; r < DOT_MR; r++) {
		for (int c = 0; c < DOT_NR; c++) {
			float s = out[r * DOT_NR + c];

			for (int kk = k; kk < K; kk++) {
				float p = a[r][kk] * b[c][kk];

				s = s + p;
			}
			out[r * DOT_NR + c] = s;
		}
	}
#endif
}

/* ta == 0, tb == 1: C = beta * C + A B^T by dot tiles. */
KSTATIC void gemm_dot(const gemm_args *g)
{
	int ra[DOT_MR], rb[DOT_NR];
	float out[VL];

	for (int i = 0; i < g->M; i += DOT_MR) {
		for (int r = 0; r < DOT_MR; r++)
			ra[r] = i + r < g->M ? i + r : g->M - 1;
		for (int j = 0; j < g->N; j += DOT_NR) {
			for (int c = 0; c < DOT_NR; c++)
				rb[c] = j + c < g->N ? j + c : g->N - 1;
			int rows = g->M - i < DOT_MR ? g->M - i : DOT_MR;
			int cols = g->N - j < DOT_NR ? g->N - j : DOT_NR;

			dot_tile(g, ra, rb, out);
			for (int r = 0; r < rows; r++) {
				float *cr = g->C + (size_t)(i + r) * g->ldc + j;
				const float *o = out + r * DOT_NR;

				if (g->beta == 0.0f)
					for (int c = 0; c < cols; c++)
						cr[c] = o[c];
				else
					for (int c = 0; c < cols; c++)
						cr[c] += o[c];
			}
		}
	}
}

/* Contract: see cnn_gemm_chunks in kernels.h. */
KSTATIC void kgemm_chunks(int ta, int M, int N, int K, int chunk, int add,
                          const float *A, int lda, const float *B, int ldb,
                          float *C, int ldc)
{
	gemm_args g;

	/* K == 0: C stays (add) or is zeroed */
	if (!gemm_setup(&g, ta, 0, M, N, K, A, lda, B, ldb, add ? 1.0f : 0.0f,
	                C, ldc))
		return;
	g.beta = 0.0f;
	g.chunk = chunk > 0 && chunk < K ? chunk : K;
	g.fold = add != 0;
	gemm_axpy(&g);
}

/* Contract: see cnn_gemm in internal.h. */
KSTATIC void kgemm(int ta, int tb, int M, int N, int K, const float *A, int lda,
                   const float *B, int ldb, float beta, float *C, int ldc)
{
	gemm_args g;

	if (!gemm_setup(&g, ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc))
		return;
	if (!g.tb)
		gemm_axpy(&g);
	else if (!g.ta)
		gemm_dot(&g);
	else
		gemm_tt(&g);
}

/* ======================================================================== */
/* Direct convolution (stride 1)                                            */

/* The widest register blocks: filters x output vectors (forward) and
 * filters x taps (weight gradient), with a vector for the input and one
 * broadcast per filter beside the accumulators. */
#define CONV_PV_MAX 8
#define CONV_TT_MAX 12
/* Filters per block: with 16 registers, 3 filters leave room for blocks of
 * 4 vectors or taps (12 accumulators), which load less per FMA than 4
 * filters with 2. */
#define CONV_FR_MAX (REGS >= 32 ? 4 : 3)

/* The largest of {1, 2, 3, 4, 6, 8, 12} not above v (v >= 1): the block
 * sizes instantiated. */
static inline int block_size(int v)
{
	static const int sizes[] = {12, 8, 6, 4, 3, 2, 1};

	for (int s = 0; s < 7; s++)
		if (sizes[s] <= v)
			return sizes[s];
	return 1;
}

/* The smallest of {1, 2, 3, 4, 6, 8, 12} not below v (v <= 12). */
static inline int block_cover(int v)
{
	static const int sizes[] = {1, 2, 3, 4, 6, 8, 12};

	for (int s = 0; s < 7; s++)
		if (sizes[s] >= v)
			return sizes[s];
	return 12;
}

/* Output vectors per block for FR filters and total vectors: the allowed
 * size (registers permitting) that wastes least, counting a vector of
 * overhead per block and the repeated vectors of the last one. */
static inline int conv_pv(int fr, long total)
{
	static const int sizes[] = {8, 6, 4, 3, 2, 1};
	int most = (REGS - fr - 1) / fr, best = 1;
	long best_cost = -1;

	for (int k = 0; k < 6; k++) {
		int pv = sizes[k];
		long cost = (total + pv - 1) / pv * (pv + 1);

		if (pv > most || pv > CONV_PV_MAX)
			continue;
		if (best_cost < 0 || cost < best_cost) {
			best = pv;
			best_cost = cost;
		}
	}
	return best;
}

/* Stores the vector of wide positions v into the output rows at yf, as sg
 * says (dseg_of). */
ALWAYS_INLINE void dconv_store_rows(float *yf, vf v, const dseg *sg)
{
	for (int k = 0; k < sg->n; k++) {
		vf part = sg->lo[k] ? V_ROTATE(v, sg->lo[k]) : v;

		if (sg->len[k] == VL)
			V_STORE(yf + sg->at[k], part);
		else
			V_STOREM(yf + sg->at[k], part, V_MASK(sg->len[k]));
	}
}

/* Filters FR x output vectors PV of one sample (input xs, output ys): xo,
 * yo are the vectors' offsets into an input channel plane and an output
 * filter plane, cnt their valid lanes (VL but for the last of a row). Each
 * output starts from the bias and adds w * x over (c, i, j) in order. Lanes
 * past cnt read the input's slack or the next row (never stored). Tap
 * (i, j) reads phase (i % sh, j % sw) of the input: a step along j moves
 * to the next phase, or back to the first and a column on. */
ALWAYS_INLINE void dconv_tile(const dconv *d, int FR, int PV, int f,
                              const float *xs, float *ys, const ptrdiff_t *xo,
                              const ptrdiff_t *yo, const int *cnt,
                              const dseg *sg)
{
	vf acc[4][CONV_PV_MAX];
	const float *wf = d->w + (ptrdiff_t)f * d->wfs;

	UNROLL
	for (int r = 0; r < FR; r++) {
		vf b = d->b ? V_SET1(d->b[f + r]) : V_ZERO();

		UNROLL
		for (int v = 0; v < PV; v++)
			acc[r][v] = b;
	}
	const ptrdiff_t jstep = d->xph, jwrap = 1 - (d->sw - 1) * d->xph;
	const ptrdiff_t istep = d->sw * d->xph,
	                iwrap = d->xrs - (d->sh - 1) * d->sw * d->xph;

	for (int c = 0; c < d->c; c++) {
		const float *xi = xs + (ptrdiff_t)c * d->xcs;
		int a = 0;

		for (int i = 0; i < d->kh; i++) {
			const float *xr = xi;
			const float *wr =
			    wf + (ptrdiff_t)c * d->wcs + (ptrdiff_t)i * d->wis;
			int b = 0;

			for (int j = 0; j < d->kw; j++) {
				vf wv[4];

				UNROLL
				for (int r = 0; r < FR; r++) {
					wv[r] =
					    V_SET1(wr[(ptrdiff_t)r * d->wfs]);
					REG_BARRIER(wv[r]);
				}
				UNROLL
				for (int v = 0; v < PV; v++) {
					vf xv = V_LOAD(xr + xo[v]);

					REG_BARRIER(xv);
					UNROLL
					for (int r = 0; r < FR; r++)
						acc[r][v] =
						    V_FMA(wv[r], xv, acc[r][v]);
				}
				b++;
				xr += b == d->sw ? jwrap : jstep;
				b = b == d->sw ? 0 : b;
				wr += d->wjs;
			}
			a++;
			xi += a == d->sh ? iwrap : istep;
			a = a == d->sh ? 0 : a;
		}
	}
	UNROLL
	for (int r = 0; r < FR; r++) {
		float *yf = ys + (ptrdiff_t)(f + r) * d->yfs;

		UNROLL
		for (int v = 0; v < PV; v++) {
			if (sg)
				dconv_store_rows(yf, acc[r][v], &sg[v]);
			else if (cnt[v] == VL)
				V_STORE(yf + yo[v], acc[r][v]);
			else
				V_STOREM(yf + yo[v], acc[r][v], V_MASK(cnt[v]));
		}
	}
}

/* Filters [f, f + FR) of the count output vectors tabled in xo, yo, cnt
 * (count a multiple of PV), for every sample of d. */
ALWAYS_INLINE void dconv_block(const dconv *d, int FR, int PV, int f,
                               const ptrdiff_t *xo, const ptrdiff_t *yo,
                               const int *cnt, const dseg *sg, int count)
{
	for (int s = 0; s < d->n; s++) {
		const float *xs = s == d->n - 1 ? d->xlast : d->x + s * d->xss;
		float *ys = d->y + s * d->yss;

		for (int t = 0; t < count; t += PV)
			dconv_tile(d, FR, PV, f, xs, ys, xo + t, yo + t,
			           cnt + t, sg ? sg + t : NULL);
	}
}

/* Output vectors tabled at a time (a multiple of every block size). */
#define DCONV_TABLE 240

/* The cases of a switch over 16 * filters + vectors (or taps) per block
 * that run the blocks instantiated: CALL(filters, vectors) for each. */
#define BLOCK_CASE(CALL, frc, kc)                                              \
	case 16 * (frc) + (kc):                                                \
		CALL(frc, kc);                                                 \
		break;
#define BLOCK_CASES_4(CALL, frc)                                               \
	BLOCK_CASE(CALL, frc, 1)                                               \
	BLOCK_CASE(CALL, frc, 2)                                               \
	BLOCK_CASE(CALL, frc, 3)                                               \
	BLOCK_CASE(CALL, frc, 4)
#define BLOCK_CASES_8(CALL, frc)                                               \
	BLOCK_CASES_4(CALL, frc)                                               \
	BLOCK_CASE(CALL, frc, 6)                                               \
	BLOCK_CASE(CALL, frc, 8)

/* All of d: filter blocks of up to 4; the output vectors (row by row, VL
 * columns each) tabled DCONV_TABLE at a time, in blocks of conv_pv (the
 * last block repeating its final vector: computed and stored twice, the
 * same value), each table run over all the samples. */
KSTATIC void dconv_run(const dconv *d)
{
	long per_row = (d->cols + VL - 1) / VL;
	long total = (long)d->rows * per_row;
	ptrdiff_t xo[DCONV_TABLE], yo[DCONV_TABLE];
	int cnt[DCONV_TABLE];
	dseg sg[DCONV_TABLE];
	const dseg *sgp = d->wrow ? sg : NULL;

	for (int f = 0; f < d->f;) {
		int fr = d->f - f >= CONV_FR_MAX ? CONV_FR_MAX : d->f - f;
		int pv = conv_pv(fr, total);
		int r = 0, q = 0;

		for (long e0 = 0; e0 < total; e0 += DCONV_TABLE) {
			int count = total - e0 < DCONV_TABLE ? (int)(total - e0)
			                                     : DCONV_TABLE;
			int padded = (count + pv - 1) / pv * pv;

			for (int v = 0; v < count; v++) {
				xo[v] = (ptrdiff_t)r * d->xrs + q;
				yo[v] = (ptrdiff_t)r * d->yrs + q;
				cnt[v] = d->cols - q < VL ? d->cols - q : VL;
				q += VL;
				if (q >= d->cols) {
					q = 0;
					r++;
				}
			}
			for (int v = count; v < padded; v++) {
				xo[v] = xo[count - 1];
				yo[v] = yo[count - 1];
				cnt[v] = cnt[count - 1];
			}
			for (int v = 0; sgp && v < padded; v++)
				dseg_of(d, (long)yo[v], cnt[v], &sg[v]);
#define DCONV(frc, pvc) dconv_block(d, frc, pvc, f, xo, yo, cnt, sgp, padded)
			/* the blocks conv_pv can choose */
			switch (16 * fr + pv) {
				BLOCK_CASES_8(DCONV, 1)
#if REGS >= 32
				BLOCK_CASES_8(DCONV, 2)
				BLOCK_CASES_8(DCONV, 3)
				BLOCK_CASES_4(DCONV, 4)
				BLOCK_CASE(DCONV, 4, 6)
#else
				BLOCK_CASES_4(DCONV, 2)
				BLOCK_CASE(DCONV, 2, 6)
				BLOCK_CASES_4(DCONV, 3)
#endif
			default:
				break;
			}
#undef DCONV
		}
		f += fr;
	}
}

/* The weight gradient of filters [f, f + FR) x taps [t0, t0 + TT), of
 * which the first valid are real (the others repeat the last and are not
 * stored); to holds the taps' offsets in a sample. Over the samples s and
 * the positions pos of p, dw[f][t] += sum dy[s][f][pos] * x[s][to[t] + pos],
 * per lane in order, then across the lanes by V_HSUM. */
ALWAYS_INLINE void dw_tile(const conv_dw *p, int FR, int TT, int f, int t0,
                           const ptrdiff_t *to, int valid, float *dw)
{
	vf acc[4][CONV_TT_MAX];

	UNROLL
	for (int r = 0; r < FR; r++)
		UNROLL
	for (int t = 0; t < TT; t++)
		acc[r][t] = V_ZERO();
	for (int s = 0; s < p->n; s++) {
		const float *xs =
		    s == p->n - 1 ? p->xlast : p->x + (size_t)s * p->xss;
		const float *ds =
		    p->dy + (size_t)s * p->dss + (size_t)f * p->dfs;

		for (int row = 0; row < p->rows; row++) {
			const float *xr = xs + (ptrdiff_t)row * p->xrs;
			const float *dr = ds + (ptrdiff_t)row * p->drs;

			for (int q = 0; q < p->cols; q += VL) {
				vf dv[4];

				UNROLL
				for (int r = 0; r < FR; r++) {
					dv[r] =
					    V_LOAD(dr + (size_t)r * p->dfs + q);
					REG_BARRIER(dv[r]);
				}
				UNROLL
				for (int t = 0; t < TT; t++) {
					vf xv = V_LOAD(xr + to[t] + q);

					REG_BARRIER(xv);

					UNROLL
					for (int r = 0; r < FR; r++)
						acc[r][t] =
						    V_FMA(dv[r], xv, acc[r][t]);
				}
			}
		}
	}
	UNROLL
	for (int r = 0; r < FR; r++) {
		float *dwf = dw + (size_t)(f + r) * p->taps + t0;

		UNROLL
		for (int t = 0; t < TT; t++)
			if (t < valid)
				dwf[t] += V_HSUM(acc[r][t]);
	}
}

/* Taps per block for FR filters. */
static inline int conv_tt(int fr, int taps)
{
	int most = (REGS - fr - 1) / fr, tt;

	tt = block_size(most < CONV_TT_MAX ? most : CONV_TT_MAX);
	if (taps < tt)
		tt = block_cover(taps);
	return tt;
}

/* dw (F, taps) += the weight gradient described by p. */
KSTATIC void dw_run(const conv_dw *p, float *dw)
{
	ptrdiff_t to[CONV_TT_MAX];

	for (int f = 0; f < p->f;) {
		int fr = p->f - f >= CONV_FR_MAX ? CONV_FR_MAX : p->f - f;

		for (int t0 = 0; t0 < p->taps;) {
			int tt = conv_tt(fr, p->taps - t0);
			int valid = p->taps - t0 < tt ? p->taps - t0 : tt;

			for (int t = 0; t < tt; t++)
				to[t] = conv_tap_offset(
				    p, t0 + (t < valid ? t : valid - 1));
#define DW(frc, ttc) dw_tile(p, frc, ttc, f, t0, to, valid, dw)
			/* the blocks conv_tt can choose */
			switch (16 * fr + tt) {
				BLOCK_CASES_8(DW, 1)
				BLOCK_CASE(DW, 1, 12)
#if REGS >= 32
				BLOCK_CASES_8(DW, 2)
				BLOCK_CASE(DW, 2, 12)
				BLOCK_CASES_8(DW, 3)
				BLOCK_CASES_4(DW, 4)
				BLOCK_CASE(DW, 4, 6)
#else
				BLOCK_CASES_4(DW, 2)
				BLOCK_CASE(DW, 2, 6)
				BLOCK_CASES_4(DW, 3)
#endif
			default:
				break;
			}
#undef DW
			t0 += valid;
		}
		f += fr;
	}
}

/* dst: rows rows of drs floats (a multiple of VL), each the row of w
 * floats at src (rows one after the other), zero after it. */
KSTATIC void rows_padded(const float *src, size_t rows, int w, float *dst,
                         int drs)
{
	const int full = w - w % VL;
	const vmask m = V_MASK(w % VL ? w % VL : VL);

	for (size_t r = 0; r < rows; r++, src += w, dst += drs) {
		int q = 0;

		for (; q < full; q += VL)
			V_STORE(dst + q, V_LOAD(src + q));
		if (q < w) {
			V_STORE(dst + q, V_LOADM(src + q, m));
			q += VL;
		}
		for (; q < drs; q += VL)
			V_STORE(dst + q, V_ZERO());
	}
}

/* y (planes, rows, cols) = the columns q < cols of the wide rows of w
 * (planes, plane), row r starting at r * stride. */
KSTATIC void wide_compact(const float *w, size_t plane, int planes, int rows,
                          int cols, int stride, float *y)
{
	vmask m = V_MASK(cols % VL ? cols % VL : VL);

	for (int k = 0; k < planes; k++) {
		for (int r = 0; r < rows; r++) {
			const float *src = w + k * plane + (size_t)r * stride;
			float *dst = y + ((size_t)k * rows + r) * cols;
			int q = 0;

			for (; q + VL <= cols; q += VL)
				V_STORE(dst + q, V_LOAD(src + q));
			if (q < cols)
				V_STOREM(dst + q, V_LOADM(src + q, m), m);
		}
	}
}

/* How rows of w floats go in pairs of vectors: full whole pairs (2 VL
 * floats), then a partial one of rem floats (rem < 2 VL) when rem > 0,
 * with its masks: the rem floats over two vectors (ma, mb; mb empty when
 * rem <= VL) and the ceil(rem / 2) even and rem / 2 odd ones. */
typedef struct pair_plan {
	int full, rem, nb, no;
	vmask ma, mb, me, mo;
} pair_plan;

ALWAYS_INLINE pair_plan pair_plan_of(int w)
{
	pair_plan p;

	p.full = w / (2 * VL);
	p.rem = w - 2 * VL * p.full;
	p.nb = p.rem > VL ? p.rem - VL : 0;
	p.no = p.rem / 2;
	p.ma = V_MASK(p.rem > VL ? VL : p.rem > 0 ? p.rem : 1);
	p.mb = V_MASK(p.nb ? p.nb : 1);
	p.me = V_MASK(p.rem ? (p.rem + 1) / 2 : 1);
	p.mo = V_MASK(p.no ? p.no : 1);
	return p;
}

/* ev[k] = src[2k] for 2k < w, od[k] = src[2k + 1] for 2k + 1 < w (w as
 * planned in p); a NULL destination is left out. */
ALWAYS_INLINE void split_pairs(const pair_plan *p, const float *src, int w,
                               float *ev, float *od)
{
#if V_HAS_PAIRS
	vf e, o;

	for (int i = 0; i < p->full; i++, src += 2 * VL) {
		V_DEINTERLEAVE(V_LOAD(src), V_LOAD(src + VL), e, o);
		if (ev)
			V_STORE(ev + i * VL, e);
		if (od)
			V_STORE(od + i * VL, o);
	}
	if (p->rem) {
		vf a = V_LOADM(src, p->ma);
		vf b = p->nb ? V_LOADM(src + VL, p->mb) : V_ZERO();
		int k = p->full * VL;

		V_DEINTERLEAVE(a, b, e, o);
		if (ev)
			V_STOREM(ev + k, e, p->me);
		if (od && p->no)
			V_STOREM(od + k, o, p->mo);
	}
#else
	(void)p;
	for (int k = 0; 2 * k < w; k++) {
		if (ev)
			ev[k] = src[2 * k];
		if (od && 2 * k + 1 < w)
			od[k] = src[2 * k + 1];
	}
#endif
	(void)w;
}

/* out[2k] = ev[k] for 2k < w, out[2k + 1] = od[k] for 2k + 1 < w (w as
 * planned in p); a NULL source gives zeros. */
ALWAYS_INLINE void join_pairs(const pair_plan *p, const float *ev,
                              const float *od, int w, float *out)
{
#if V_HAS_PAIRS
	vf lo, hi;

	for (int i = 0; i < p->full; i++, out += 2 * VL) {
		V_INTERLEAVE(ev ? V_LOAD(ev + i * VL) : V_ZERO(),
		             od ? V_LOAD(od + i * VL) : V_ZERO(), lo, hi);
		V_STORE(out, lo);
		V_STORE(out + VL, hi);
	}
	if (p->rem) {
		int k = p->full * VL;
		vf e = ev ? V_LOADM(ev + k, p->me) : V_ZERO();
		vf o = od && p->no ? V_LOADM(od + k, p->mo) : V_ZERO();

		V_INTERLEAVE(e, o, lo, hi);
		V_STOREM(out, lo, p->ma);
		if (p->nb)
			V_STOREM(out + VL, hi, p->mb);
	}
#else
	(void)p;
	for (int k = 0; 2 * k < w; k++) {
		out[2 * k] = ev ? ev[k] : 0.0f;
		if (2 * k + 1 < w)
			out[2 * k + 1] = od ? od[k] : 0.0f;
	}
#endif
	(void)w;
}

/* The n samples of x (n, C, H, W) in their stride phases at dst: per
 * sample SH * SW phases (C, HQ, WQ), phase (a, b) of channel c holding
 * xpad[c][SH * u + a][SW * v + b] at (u, v), where xpad is x with PH rows
 * and PW columns of zeros around it; but phases without taps (a >= KH or
 * b >= KW), which no output reads, stay zero, like the rest and the SLACK
 * after the last sample. */
KSTATIC void phase_planes(const cnn_conv_geom *g, const conv_direct_layout *l,
                          const float *x, int n, float *dst)
{
	const int sh = g->sh, sw = g->sw, w = g->w, kh = g->kh, kw = g->kw;
	const int b0 = g->pw % sw, v0 = g->pw / sw;
	const size_t xph = l->xph, wq = (size_t)l->wq;
	const pair_plan pp = pair_plan_of(w);
	const float *src = x;

	memset(dst, 0, ((size_t)n * l->xplane + SLACK) * sizeof(float));
	for (int s = 0; s < n; s++) {
		for (int c = 0; c < g->c; c++) {
			float *ds = dst + (size_t)s * l->xplane + c * l->xcs;
			int a = g->ph % sh, u = g->ph / sh;

			for (int y = 0; y < g->h; y++, src += w) {
				float *row = ds + (size_t)a * sw * xph + u * wq;

				if (a < kh && sw == 2) {
					/* columns 0, 2, ... to phase b0 */
					int b1 = 1 - b0, v1 = v0 + b0;

					split_pairs(
					    &pp, src, w,
					    b0 < kw ? row + b0 * xph + v0
					            : NULL,
					    b1 < kw ? row + b1 * xph + v1
					            : NULL);
				} else if (a < kh) {
					/* columns q, q + SW, ... to (q + PW) %
					 * SW */
					for (int q = 0, b = b0, v = v0;
					     q < sw && q < w; q++) {
						float *dr = row + b * xph + v;

						if (b < kw)
							for (int k = q; k < w;
							     k += sw)
								*dr++ = src[k];
						v += ++b == sw;
						b = b == sw ? 0 : b;
					}
				}
				u += ++a == sh;
				a = a == sh ? 0 : a;
			}
		}
	}
}

/* dx (n, C, H, W) from the phases of the input gradient that
 * conv_dx_phase_setup left in the workspace (rows drow floats apart):
 * dx[c][y][x] is row y / SH, column x / SW of phase ((y + PH) % SH,
 * (x + PW) % SW), or 0 where that phase has no taps. */
KSTATIC void phase_gather(const cnn_conv_geom *g, const conv_direct_layout *l,
                          const float *ws, int drow, int n, float *dx)
{
	const int sh = g->sh, sw = g->sw, w = g->w, kh = g->kh, kw = g->kw;
	const int b0 = g->pw % sw;
	const size_t plane = l->dx_wide_plane, phase = (size_t)g->c * plane;
	const pair_plan pp = pair_plan_of(w);
	float *out = dx;

	for (int s = 0; s < n; s++) {
		for (int c = 0; c < g->c; c++) {
			const float *src =
			    ws + l->dx_wide +
			    ((size_t)s * sh * sw * g->c + c) * plane;
			int a = g->ph % sh, k = 0, i = 0;

			for (int y = 0; y < g->h; y++, out += w) {
				const float *row = src +
				                   (size_t)a * sw * phase +
				                   (size_t)k * drow;

				if (a >= kh) {
					memset(out, 0,
					       (size_t)w * sizeof(float));
				} else if (sw == 2) {
					int b1 = 1 - b0;

					join_pairs(
					    &pp,
					    b0 < kw ? row + b0 * phase : NULL,
					    b1 < kw ? row + b1 * phase : NULL,
					    w, out);
				} else {
					for (int q = 0, b = b0; q < sw && q < w;
					     q++) {
						const float *sr =
						    row + b * phase;

						for (int e = q; e < w; e += sw)
							out[e] = b < kw ? *sr++
							                : 0.0f;
						b = b + 1 == sw ? 0 : b + 1;
					}
				}
				a = a + 1 == sh ? 0 : a + 1;
				k += ++i == sh; /* k = y / SH */
				i = i == sh ? 0 : i;
			}
		}
	}
}

/* dx (n, C, H, W) at a stride above 1, dy being bordered in the workspace:
 * each phase (a, b) with taps and positions in dx (wide when that takes
 * fewer vectors), then gathered into dx. */
KSTATIC void conv_dx_phases(const cnn_conv_geom *g,
                            const conv_direct_layout *lay, const float *w,
                            float *dx, int n, float *ws)
{
	int wide = conv_use_wide(lay->hr, lay->wr, lay->dx_nw, VL);
	dconv d;

	for (int a = 0; a < g->sh; a++)
		for (int b = 0; b < g->sw; b++)
			if (conv_dx_phase_setup(g, lay, w, ws, n, a, b, wide,
			                        &d))
				dconv_run(&d);
	phase_gather(g, lay, ws, wide ? lay->dx_wpd : lay->wr, n, dx);
}

/* Forward: y (n, F, OH, OW) = conv(x, w) + b, from the padded copies of
 * the samples (their stride phases), through the wide scratch when that
 * takes fewer vectors. */
KSTATIC void conv_direct_forward(const cnn_conv_geom *g, const float *x,
                                 const float *w, const float *b, float *y,
                                 int n, float *ws)
{
	conv_direct_layout lay;
	size_t xss;
	const float *xs, *xlast;
	dconv d;
	int wide, compact;

#ifdef KNARROW
	if (conv_sums_narrow(g, VL, KNARROW_VL)) {
		KNARROW(conv_direct_forward)(g, x, w, b, y, n, ws);
		return;
	}
#endif
	conv_direct_layout_of(g, n, &lay);
	wide = conv_use_wide(g->oh, g->ow, lay.nw, VL);
	conv_input(g, &lay, x, n, ws + lay.xs, &xs, &xss, &xlast, phase_planes);
	conv_forward_setup(g, &lay, w, b, xs, xss, xlast, n, &d);
	compact = dconv_target(&d, wide, lay.nw, lay.wq, VL, ws + lay.wide,
	                       lay.wide_plane, g->f, g->oh, g->ow, y);
	dconv_run(&d);
	if (compact)
		wide_compact(ws + lay.wide, lay.wide_plane, n * g->f, g->oh,
		             g->ow, lay.wq, y);
}

/* Backward: dw += dL/dw over the n samples at once (their padded inputs
 * and output gradients first copied into the workspace), then dx, if
 * wanted, as the forward convolution of the zero-bordered dy with the
 * flipped, transposed weights (at a larger stride, phase by phase:
 * conv_dx_phases). */
KSTATIC void conv_direct_backward(const cnn_conv_geom *g, const float *x,
                                  const float *w, const float *dy, float *dw,
                                  float *dx, int n, float *ws)
{
	conv_direct_layout lay;
	size_t xss;
	const float *xs, *xlast;
	int wide, compact;
	conv_dw p;
	dconv d;

#ifdef KNARROW
	/* dw's lanes by conv_dw_narrow (its bits depend on them), dx's
	 * width by conv_sums_narrow */
	if (conv_dw_narrow(g, VL, KNARROW_VL)) {
		void (*narrow)(const cnn_conv_geom *, const float *,
		               const float *, const float *, float *, float *,
		               int, float *) = KNARROW(conv_direct_backward);

		if (conv_sums_narrow(g, VL, KNARROW_VL)) {
			narrow(g, x, w, dy, dw, dx, n, ws);
			return;
		}
		if (dw)
			narrow(g, x, w, dy, dw, NULL, n, ws);
		dw = NULL;
	}
#endif
	conv_direct_layout_of(g, n, &lay);
	if (dw) {
		wide = conv_use_wide(g->oh, g->ow, lay.nw, VL);
		conv_input(g, &lay, x, n, ws + lay.xs, &xs, &xss, &xlast,
		           phase_planes);
		conv_dw_setup(g, n, dy, ws, &lay, wide, VL, xs, xss, xlast, &p,
		              rows_padded);
		dw_run(&p, dw);
	}
	if (!dx)
		return;
	/* dy (n, F, OH, OW) bordered: (n, F, HPD, WPD) */
	pad_planes(dy, (size_t)n * g->f, g->oh, g->ow, ws + lay.dypad, lay.hpd,
	           lay.wpd, lay.bh, lay.bw);
	if (g->sh > 1 || g->sw > 1) {
		conv_dx_phases(g, &lay, w, dx, n, ws);
		return;
	}
	wide = conv_use_wide(g->h, g->w, lay.dx_nw, VL);
	conv_dx_setup(g, &lay, w, ws, n, &d);
	compact =
	    dconv_target(&d, wide, lay.dx_nw, lay.dx_wpd, VL, ws + lay.dx_wide,
	                 lay.dx_wide_plane, g->c, g->h, g->w, dx);
	dconv_run(&d);
	if (compact)
		wide_compact(ws + lay.dx_wide, lay.dx_wide_plane, n * g->c,
		             g->h, g->w, lay.dx_wpd, dx);
}

/* ======================================================================== */
/* Convolution, both paths                                                  */

/* db[f] += the sum of dy[s][f][.] over the n samples, per lane then across
 * the lanes. */
KSTATIC void conv_bias_grad(const cnn_conv_geom *g, const float *dy, float *db,
                            int n)
{
	size_t p = (size_t)g->oh * g->ow, out = (size_t)g->f * p;

	for (int f = 0; f < g->f; f++) {
		vf acc = V_ZERO();

		for (int s = 0; s < n; s++) {
			const float *d = dy + s * out + f * p;
			size_t i = 0;

			for (; i + VL <= p; i += VL)
				acc = V_ADD(acc, V_LOAD(d + i));
			if (i < p)
				acc = V_ADD(
				    acc, V_LOADM(d + i, V_MASK((int)(p - i))));
		}
		db[f] += V_HSUM(acc);
	}
}

KSTATIC void kconv_forward(const cnn_conv_geom *g, const float *x,
                           const float *w, const float *b, float *y, int n,
                           float *ws)
{
	size_t in = (size_t)g->c * g->h * g->w;
	size_t out = (size_t)g->f * g->oh * g->ow;
	int ckk = g->c * g->kh * g->kw, p = g->oh * g->ow;

	if (conv_direct(g)) {
		conv_direct_forward(g, x, w, b, y, n, ws);
		return;
	}
	/* columns: y (F, P) = b + W (F, CKK) col (CKK, P) */
	for (int s = 0; s < n; s++) {
		float *ys = y + s * out;

		cnn_im2col(x + s * in, g->c, g->h, g->w, g->kh, g->kw, g->sh,
		           g->sw, g->ph, g->pw, g->oh, g->ow, ws);
		if (b)
			for (int f = 0; f < g->f; f++)
				for (int i = 0; i < p; i++)
					ys[(size_t)f * p + i] = b[f];
		kgemm(0, 0, g->f, p, ckk, w, ckk, ws, p, b ? 1.0f : 0.0f, ys,
		      p);
	}
}

KSTATIC void kconv_backward(const cnn_conv_geom *g, const float *x,
                            const float *w, const float *dy, float *dw,
                            float *db, float *dx, int n, float *ws)
{
	size_t in = (size_t)g->c * g->h * g->w;
	size_t out = (size_t)g->f * g->oh * g->ow;
	int ckk = g->c * g->kh * g->kw, p = g->oh * g->ow;

	if (db)
		conv_bias_grad(g, dy, db, n);
	if (conv_direct(g)) {
		conv_direct_backward(g, x, w, dy, dw, dx, n, ws);
		return;
	}
	/* columns: dw (F, CKK) += dy (F, P) col^T; dcol = W^T dy, col2im */
	for (int s = 0; s < n; s++) {
		const float *dys = dy + s * out;

		if (dw) {
			cnn_im2col(x + s * in, g->c, g->h, g->w, g->kh, g->kw,
			           g->sh, g->sw, g->ph, g->pw, g->oh, g->ow,
			           ws);
			kgemm(0, 1, g->f, ckk, p, dys, p, ws, p, 1.0f, dw, ckk);
		}
		if (!dx)
			continue;
		kgemm(1, 0, ckk, p, g->f, w, ckk, dys, p, 0.0f, ws, p);
		cnn_col2im(ws, g->c, g->h, g->w, g->kh, g->kw, g->sh, g->sw,
		           g->ph, g->pw, g->oh, g->ow, dx + s * in);
	}
}

/* ======================================================================== */
/* Bytes to floats                                                          */

/* y[i] = x[i] * scale over count bytes: the samples' pixels as the first
 * layer reads them. The product of a converted byte and scale, rounded
 * once, as in scalar code (V_FMA with a zero addend rounds the same). */
KSTATIC void kscale_bytes(const uint8_t *x, float scale, float *y, size_t count)
{
	const vf s = V_SET1(scale), zero = V_ZERO();
	size_t i = 0;

	for (; i + VL <= count; i += VL)
		V_STORE(y + i, V_FMA(V_FROM_U8(x + i), s, zero));
	for (; i < count; i++)
		y[i] = (float)x[i] * scale;
}

/* ======================================================================== */
/* Dropout                                                                  */

/* Contract: see cnn_dropout_apply in kernels.h, which passes mix, the
 * finaliser of the seed; first, the counter of in[0]; keep = ceil(rate *
 * 2^53) (exact: scaling by 2^53 is) and the scale. Value i's hash,
 * cnn_hash64(seed, first + i), is the finaliser of mix + (first + i + 1) *
 * golden, VL of them at a time in 64-bit lanes; the value stays when the
 * hash's top 53 bits, h >> 11, are at least keep, which is the test u >=
 * rate on u = (h >> 11) * 2^-53. */
KSTATIC void kdropout(const float *in, float *out, size_t count, uint64_t mix,
                      uint64_t first, uint64_t keep, float scale)
{
	const uint64_t golden = UINT64_C(0x9e3779b97f4a7c15);
	size_t i = 0;

#if defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 9)
	typedef uint64_t vu __attribute__((vector_size(VL * 8)));
	typedef int32_t vsi __attribute__((vector_size(VL * 4)));
	typedef uint32_t vi __attribute__((vector_size(VL * 4)));
	typedef float vff __attribute__((vector_size(VL * 4)));
	vu z0;

	for (int k = 0; k < VL; k++)
		z0[k] = mix + (first + 1 + (uint64_t)k) * golden;
	for (; i + VL <= count; i += VL) {
		/* from z0, not carried from the last iteration: a vector of
		 * VL 64-bit lanes is more than a register, and GCC kept a
		 * carried one in memory, a store and a load in the loop's
		 * chain (1.05 us for 16 x 256 floats, at avx512) */
		vu z = z0 + (uint64_t)i * golden;
		vu h = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
		h = (h ^ (h >> 27)) * UINT64_C(0x94d049bb133111eb);
		h ^= h >> 31;
		/* kept where h >> 11 >= keep: both are below 2^53, so the
		 * difference's sign says it; its high half, shifted in 32-bit
		 * lanes, makes the mask without a 64-bit compare (which
		 * compilers do one lane at a time) */
		vu d = (h >> 11) - keep;
		vi kept =
		    ~((vi)((vsi) __builtin_convertvector(d >> 32, vi) >> 31));
		vff x, y;
		memcpy(&x, in + i, sizeof x);
		y = x * scale;
		y = (vff)((vi)y & kept);
		memcpy(out + i, &y, sizeof y);
	}
#endif
	for (; i < count; i++) {
		uint64_t h = cnn_mix64(mix + (first + i + 1) * golden);
		out[i] = h >> 11 >= keep ? in[i] * scale : 0.0f;
	}
}

/* ======================================================================== */
/* Activations on the library's own exp                                     */

#if CNN_FAST_ACT
/*
 * Float exp, expm1, tanh and sigmoid for the element-wise kernels, VL lanes
 * at a time in GCC/Clang vectors (avf). Every lane takes the same float
 * operations in the same order in every variant (two roundings for a * b +
 * c, never a fused one), so the bits do not depend on the variant. No libm
 * call and no branch: clamps and choices are lane masks, so a NaN lane
 * gives NaN and every finite input a finite result. Explicit vectors
 * because GCC -O2 (the very-cheap vectoriser cost model) does not
 * vectorise a scalar loop of unknown length.
 *
 * Error against the exact value, measured over every float (and bounded by
 * t/test_activations): exp 1 ulp, expm1 1.6 ulp, tanh and sigmoid 2.5 ulp
 * (relative 1.8e-7; subnormal results of sigmoid to 2.5 units of 2^-149).
 */
typedef float avf __attribute__((vector_size(VL * 4)));
typedef int avi __attribute__((vector_size(VL * 4)));
typedef unsigned int avu __attribute__((vector_size(VL * 4)));

/* 1.5 * 2^23: adding it to a float of magnitude below 2^22 rounds that to
 * an integer, which the low bits of the sum then hold. */
#define ACT_ROUNDER 0x1.8p23f

ALWAYS_INLINE avf a_splat(float a)
{
	avf v;

	for (int i = 0; i < VL; i++)
		v[i] = a;
	return v;
}

/* c ? a : b, lane by lane (c: all ones or zero). */
ALWAYS_INLINE avf a_sel(avi c, avf a, avf b)
{
	return (avf)(((avi)a & c) | ((avi)b & ~c));
}

/* |v|; v with its sign flipped in the lanes where s is negative. */
ALWAYS_INLINE avf a_abs(avf v)
{
	return (avf)((avu)v & 0x7fffffffu);
}

ALWAYS_INLINE avf a_xorsign(avf v, avf s)
{
	return (avf)((avu)v ^ ((avu)s & 0x80000000u));
}

/* Range reduction for |x| <= 104: *k = the integer nearest x / ln 2, and
 * the result is exp(r) - 1 for r = x - k ln 2 in [-ln 2 / 2, ln 2 / 2].
 * Cody-Waite: ln 2 = C1 + C2 with C1 of 9 significant bits, so that k * C1
 * is exact; Cephes' r + r^2 P(r) for exp(r) - 1 (P of degree 5, relative
 * error about 1e-8). */
ALWAYS_INLINE avf a_expm1_reduced(avf x, avi *k)
{
	avf t = x * 0x1.715476p0f + ACT_ROUNDER;
	avf kf = t - ACT_ROUNDER;
	avf r = x - kf * 0.693359375f;
	avf p;

	r = r - kf * -2.12194440e-4f;
	*k = (avi)((avu)t - (avu)a_splat(ACT_ROUNDER));
	p = a_splat(1.9875691500e-4f);
	p = p * r + 1.3981999507e-3f;
	p = p * r + 8.3334519073e-3f;
	p = p * r + 4.1665795894e-2f;
	p = p * r + 1.6666665459e-1f;
	p = p * r + 5.0000001201e-1f;
	return p * (r * r) + r;
}

/* 2^k for -126 <= k <= 127, from the exponent bits. */
ALWAYS_INLINE avf a_pow2i(avi k)
{
	return (avf)(((avu)k + 127u) << 23);
}

/* exp(x): 0 below -104 (where it rounds to 0), 3.4e38 above 88.72 (no
 * overflow); results below 2^-126 come out subnormal (2^k is applied as two
 * normal factors). */
ALWAYS_INLINE avf a_exp(avf x)
{
	avi k, k1;
	avf p;

	x = a_sel(x < -104.0f, a_splat(-104.0f), x);
	x = a_sel(x > 88.72f, a_splat(88.72f), x);
	p = a_expm1_reduced(x, &k);
	k1 = k >> 1;
	return (p + 1.0f) * a_pow2i(k1) * a_pow2i(k - k1);
}

/* exp(x) - 1, accurate near 0: -1 below -87.3 (where it rounds to -1),
 * 1.65e38 above 88 (no overflow). */
ALWAYS_INLINE avf a_expm1(avf x)
{
	avi k;
	avf p, s;

	x = a_sel(x < -87.3f, a_splat(-87.3f), x);
	x = a_sel(x > 88.0f, a_splat(88.0f), x);
	p = a_expm1_reduced(x, &k);
	s = a_pow2i(k);
	/* 2^k (1 + p) - 1, where 2^k - 1 is exact unless negligible */
	return s * p + (s - 1.0f);
}

/* tanh(x) = e / (e + 2) with e = expm1(2 |x|), given the sign of x (so
 * tiny x keep their relative accuracy); |x| is capped at 10, where tanh
 * rounds to 1. */
ALWAYS_INLINE avf a_tanh(avf x, avf unused, float alpha)
{
	avf a = a_abs(x), e;

	(void)unused;
	(void)alpha;
	a = a_sel(a > 10.0f, a_splat(10.0f), a);
	e = a_expm1(a + a);
	return a_xorsign(e / (e + 2.0f), x);
}

/* 1 / (1 + exp(-x)): with e = exp(-|x|) <= 1, 1 / (1 + e) where x >= 0 and
 * e / (1 + e) where x < 0, so that nothing overflows. */
ALWAYS_INLINE avf a_sigmoid(avf x, avf unused, float alpha)
{
	avf e = a_exp(-a_abs(x));

	(void)unused;
	(void)alpha;
	return a_sel(x < 0.0f, e, a_splat(1.0f)) / (e + 1.0f);
}

/* tanh's gradient from its output y: dy * (1 - y * y). */
ALWAYS_INLINE avf a_tanh_grad(avf y, avf dy, float alpha)
{
	(void)alpha;
	return dy * (1.0f - y * y);
}

/* sigmoid's gradient from its output y: dy * y * (1 - y). */
ALWAYS_INLINE avf a_sigmoid_grad(avf y, avf dy, float alpha)
{
	(void)alpha;
	return dy * y * (1.0f - y);
}

/* ELU: x where x > 0, else alpha * expm1(x). */
ALWAYS_INLINE avf a_elu(avf x, avf unused, float alpha)
{
	(void)unused;
	return a_sel(x > 0.0f, x, alpha * a_expm1(x));
}

/* ELU's gradient: dy where x > 0, else dy * alpha * exp(x). */
ALWAYS_INLINE avf a_elu_grad(avf x, avf dy, float alpha)
{
	return a_sel(x > 0.0f, dy, dy * alpha * a_exp(x));
}
#endif

/* ======================================================================== */
/* Sums of arrays and the optimiser's update                               */

/* rvec: VL floats where the compiler has vectors, else one float. The
 * formulas below are written once with operators, which act lane by lane,
 * so every width gives the bits of the scalar formula (V_SQRT is correctly
 * rounded, as sqrtf). r_load and r_store access the first k floats (k < RW
 * only at the end of an array; the missing lanes load as 0). */
#if CNN_FAST_ACT
#define rvec avf
#define RW   VL

ALWAYS_INLINE rvec r_zero(void)
{
	return a_splat(0.0f);
}

ALWAYS_INLINE rvec r_load(const float *p, int k)
{
	float t[VL] = {0};
	rvec v;

	if (k == VL) {
		memcpy(&v, p, sizeof v);
		return v;
	}
	memcpy(t, p, (size_t)k * sizeof(float));
	memcpy(&v, t, sizeof v);
	return v;
}

ALWAYS_INLINE void r_store(float *p, rvec v, int k)
{
	if (k == VL)
		memcpy(p, &v, sizeof v);
	else
		memcpy(p, &v, (size_t)k * sizeof(float));
}

ALWAYS_INLINE rvec r_sqrt(rvec v)
{
	return (rvec)V_SQRT((vf)v);
}
#else
#define rvec float
#define RW   1

ALWAYS_INLINE float r_zero(void)
{
	return 0.0f;
}

ALWAYS_INLINE float r_load(const float *p, int k)
{
	(void)k;
	return *p;
}

ALWAYS_INLINE void r_store(float *p, float v, int k)
{
	(void)k;
	*p = v;
}

ALWAYS_INLINE float r_sqrt(float v)
{
	return sqrtf(v);
}
#endif

/* The rules of cnn_update_apply, each on k floats: w the weights (already
 * decayed when decoupled), g the prepared gradient, m1 and m2 the state at
 * the same place. The expressions are those of optim.c's formulas, in the
 * same order. */
ALWAYS_INLINE void r_sgd(const cnn_update *u, rvec *w, rvec g, float *m1,
                         float *m2, int k)
{
	rvec v = u->mu * r_load(m1, k) + g;

	(void)m2;
	r_store(m1, v, k);
	*w = *w - u->lr * v;
}

ALWAYS_INLINE void r_nesterov(const cnn_update *u, rvec *w, rvec g, float *m1,
                              float *m2, int k)
{
	rvec v = u->mu * r_load(m1, k) + g;

	(void)m2;
	r_store(m1, v, k);
	*w = *w - u->lr * (g + u->mu * v);
}

/* Adam's moments at m1 and m2, updated and returned through a and b. */
ALWAYS_INLINE void r_moments(const cnn_update *u, rvec g, float *m1, float *m2,
                             int k, rvec *a, rvec *b)
{
	*a = u->b1 * r_load(m1, k) + (1.0f - u->b1) * g;
	*b = u->b2 * r_load(m2, k) + (1.0f - u->b2) * g * g;
	r_store(m1, *a, k);
	r_store(m2, *b, k);
}

ALWAYS_INLINE void r_adam(const cnn_update *u, rvec *w, rvec g, float *m1,
                          float *m2, int k)
{
	rvec a, b;

	r_moments(u, g, m1, m2, k, &a, &b);
	*w = *w - u->lr * (a * u->c1) / (r_sqrt(b * u->c2) + u->eps);
}

ALWAYS_INLINE void r_adam_inside(const cnn_update *u, rvec *w, rvec g,
                                 float *m1, float *m2, int k)
{
	rvec a, b;

	r_moments(u, g, m1, m2, k, &a, &b);
	*w = *w - u->lr * (a * u->c1) / r_sqrt(b * u->c2 + u->eps);
}

ALWAYS_INLINE void r_rmsprop(const cnn_update *u, rvec *w, rvec g, float *m1,
                             float *m2, int k)
{
	rvec v = u->b2 * r_load(m2, k) + (1.0f - u->b2) * g * g;

	(void)m1;
	r_store(m2, v, k);
	*w = *w - u->lr * g / (r_sqrt(v) + u->eps);
}

ALWAYS_INLINE void r_rmsprop_mom(const cnn_update *u, rvec *w, rvec g,
                                 float *m1, float *m2, int k)
{
	rvec v = u->b2 * r_load(m2, k) + (1.0f - u->b2) * g * g;
	rvec buf = u->mu * r_load(m1, k) + g / (r_sqrt(v) + u->eps);

	r_store(m2, v, k);
	r_store(m1, buf, k);
	*w = *w - u->lr * buf;
}

/* The loop of cnn_update_apply with the rule RULE: the gradient clipped,
 * then L2-decayed (or the weight decayed), stored back (with keep_g), and
 * the rule. wild sums W - W, which is 0 for a finite W and NaN otherwise. */
#define R_APPLY(RULE)                                                          \
	for (size_t i = 0; i < n; i += RW) {                                   \
		const int k = n - i < RW ? (int)(n - i) : RW;                  \
		rvec W = r_load(w + i, k), G = r_load(g + i, k);               \
		if (u->clip != 1.0f)                                           \
			G = G * u->clip;                                       \
		if (u->decay != 0.0f && u->decoupled)                          \
			W = W - u->decay * W;                                  \
		else if (u->decay != 0.0f)                                     \
			G = G + u->decay * W;                                  \
		if (u->keep_g)                                                 \
			r_store(g + i, G, k);                                  \
		RULE(u, &W, G, m1 ? m1 + i : NULL, m2 ? m2 + i : NULL, k);     \
		r_store(w + i, W, k);                                          \
		wild = wild + (W - W);                                         \
	}

#if CNN_FAST_ACT
/* y[i] = F(x[i], z[i], alpha) for i < count, VL lanes at a time and the
 * tail as one partial vector (its missing lanes 0, never stored). */
#define A_MAP(F, x, z, y, count, alpha)                                        \
	for (size_t i_ = 0; i_ < (count); i_ += VL) {                          \
		const int k_ = (count)-i_ < VL ? (int)((count)-i_) : VL;       \
		r_store((y) + i_,                                              \
		        F(r_load((x) + i_, k_), r_load((z) + i_, k_), alpha),  \
		        k_);                                                   \
	}

/* Contracts: see cnn_sigmoid_forward, cnn_tanh_forward, their backward,
 * cnn_elu_forward and cnn_elu_backward in kernels.h. */
KSTATIC void ksigmoid_forward(const float *x, float *y, size_t count)
{
	A_MAP(a_sigmoid, x, x, y, count, 0.0f);
}

KSTATIC void ktanh_forward(const float *x, float *y, size_t count)
{
	A_MAP(a_tanh, x, x, y, count, 0.0f);
}

KSTATIC void ktanh_backward(const float *y, const float *dy, float *dx,
                            size_t count)
{
	A_MAP(a_tanh_grad, y, dy, dx, count, 0.0f);
}

KSTATIC void ksigmoid_backward(const float *y, const float *dy, float *dx,
                               size_t count)
{
	A_MAP(a_sigmoid_grad, y, dy, dx, count, 0.0f);
}

KSTATIC void kelu_forward(const float *x, float *y, size_t count, float alpha)
{
	A_MAP(a_elu, x, x, y, count, alpha);
}

KSTATIC void kelu_backward(const float *x, const float *dy, float *dx,
                           size_t count, float alpha)
{
	A_MAP(a_elu_grad, x, dy, dx, count, alpha);
}
#endif

/* Contract: see cnn_add_forward in kernels.h: per element, x[0] + x[1] +
 * ... in that order, RW elements at a time. */
KSTATIC void kadd_forward(const float *const *x, int n_x, float *y,
                          size_t count)
{
	for (size_t i = 0; i < count; i += RW) {
		const int k = count - i < RW ? (int)(count - i) : RW;
		rvec sum = r_load(x[0] + i, k);

		for (int j = 1; j < n_x; j++)
			sum = sum + r_load(x[j] + i, k);
		r_store(y + i, sum, k);
	}
}

/* v where c > 0, else +0 (NaN included): relu's select, lane by lane. */
#if CNN_FAST_ACT
ALWAYS_INLINE rvec r_positive(rvec c, rvec v)
{
	return a_sel(c > r_zero(), v, r_zero());
}
#else
ALWAYS_INLINE rvec r_positive(rvec c, rvec v)
{
	return c > 0.0f ? v : 0.0f;
}
#endif

/* Contract: see cnn_bn_forward in kernels.h: per element the plain C
 * expression's operations, in its order. */
KSTATIC void kbn_forward(const float *x, float *y, int n, int c, size_t hw,
                         const float *mean, const float *scale,
                         const float *beta, int relu)
{
	for (int j = 0; j < n; j++)
		for (int ch = 0; ch < c; ch++) {
			const size_t o = ((size_t)j * c + ch) * hw;
			const float m = mean[ch], a = scale[ch], b = beta[ch];

			for (size_t i = 0; i < hw; i += RW) {
				const int k = hw - i < RW ? (int)(hw - i) : RW;
				rvec v = (r_load(x + o + i, k) - m) * a + b;

				r_store(y + o + i, relu ? r_positive(v, v) : v,
				        k);
			}
		}
}

/* Contract: see cnn_bn_backward in kernels.h; the same order as above. */
KSTATIC void kbn_backward(const float *x, const float *y, const float *dy,
                          float *dx, int n, int c, size_t hw, const float *mean,
                          const float *invstd, const float *scale,
                          const float *mdy, const float *mdyxhat)
{
	for (int j = 0; j < n; j++)
		for (int ch = 0; ch < c; ch++) {
			const size_t o = ((size_t)j * c + ch) * hw;
			const float m = mean[ch], a = scale[ch];
			const float d = mdy ? mdy[ch] : 0.0f;
			const float q =
			    mdyxhat ? invstd[ch] * mdyxhat[ch] : 0.0f;

			for (size_t i = 0; i < hw; i += RW) {
				const int k = hw - i < RW ? (int)(hw - i) : RW;
				rvec g = r_load(dy + o + i, k);

				if (y)
					g = r_positive(r_load(y + o + i, k), g);
				r_store(dx + o + i,
				        a * (g - d -
				             (r_load(x + o + i, k) - m) * q),
				        k);
			}
		}
}

#if BN_VECTORS
/* Eight floats as eight doubles (exact): one conversion where the variant
 * defines BN_CVT (avx512: GCC's own lowering converted by 128-bit halves,
 * twelve shuffles and conversions per group of kbn_dy_sums, which bounded
 * it at about a float a cycle). */
#ifndef BN_CVT
#define BN_CVT(f) __builtin_convertvector(f, bn_dvec)
#endif

/* Contract: see cnn_bn_sums in kernels.h, in the lanes of kernels.c's
 * BN_LANES (a plane's last hw % BN_LANES floats go to the first lanes). */
KSTATIC void kbn_sums(const float *x, int n, int c, size_t hw, double *sum,
                      double *sumsq)
{
	const size_t body = hw - hw % BN_LANES;

	for (int ch = 0; ch < c; ch++) {
		bn_dvec s = {0}, q = {0};
		double ls[BN_LANES], lq[BN_LANES];

		for (int j = 0; j < n; j++) {
			const float *xp = x + ((size_t)j * c + ch) * hw;

			for (size_t i = 0; i < body; i += BN_LANES) {
				bn_fvec f;

				memcpy(&f, xp + i, sizeof f);
				bn_dvec v = BN_CVT(f);
				s += v;
				q += v * v;
			}
			for (size_t i = body; i < hw; i++) {
				double v = xp[i];

				s[i - body] += v;
				q[i - body] += v * v;
			}
		}
		memcpy(ls, &s, sizeof ls);
		memcpy(lq, &q, sizeof lq);
		sum[ch] += bn_lanes_total(ls);
		sumsq[ch] += bn_lanes_total(lq);
	}
}

/* Contract: see cnn_bn_dy_sums in kernels.h, in the lanes of kbn_sums. */
KSTATIC void kbn_dy_sums(const float *x, const float *y, const float *dy, int n,
                         int c, size_t hw, int ch, float mean, double out[3])
{
	const size_t body = hw - hw % BN_LANES;
	const bn_fvec zero = {0}, m = zero + mean;
	bn_dvec s = {0}, q = {0}, r = {0};
	double lane[BN_LANES];

	for (int j = 0; j < n; j++) {
		const size_t o = ((size_t)j * c + ch) * hw;

		for (size_t i = o; i < o + body; i += BN_LANES) {
			bn_fvec g, v, yv;

			memcpy(&g, dy + i, sizeof g);
			memcpy(&v, x + i, sizeof v);
			if (y) { /* +0 where y <= 0 */
				memcpy(&yv, y + i, sizeof yv);
				g = (bn_fvec)((bn_ivec)g & (yv > zero));
			}
			bn_dvec gd = BN_CVT(g);
			s += gd;
			q += gd * BN_CVT(v);
			r += gd * BN_CVT(v - m);
		}
		for (size_t i = o + body; i < o + hw; i++) {
			const int k = (int)(i - o - body);
			float g = bn_dy(y, dy, i), v = x[i];

			s[k] += g;
			q[k] += (double)g * v;
			r[k] += (double)g * (v - mean);
		}
	}
	memcpy(lane, &s, sizeof lane);
	out[0] = bn_lanes_total(lane);
	memcpy(lane, &q, sizeof lane);
	out[1] = bn_lanes_total(lane);
	memcpy(lane, &r, sizeof lane);
	out[2] = bn_lanes_total(lane);
}
#endif

/* Contract: see cnn_update_apply in kernels.h. */
KSTATIC int kupdate_apply(const cnn_update *rule, float *w, float *g, float *m1,
                          float *m2, size_t n)
{
	/* a copy the arrays' stores cannot alias: its constants stay in
	 * registers instead of being loaded again for every vector */
	const cnn_update copy = *rule, *u = &copy;
	rvec wild = r_zero();
	float lane[RW];

	switch (u->rule) {
	case CNN_RULE_SGD:
		R_APPLY(r_sgd);
		break;
	case CNN_RULE_NESTEROV:
		R_APPLY(r_nesterov);
		break;
	case CNN_RULE_ADAM:
		R_APPLY(r_adam);
		break;
	case CNN_RULE_ADAM_INSIDE:
		R_APPLY(r_adam_inside);
		break;
	case CNN_RULE_RMSPROP:
		R_APPLY(r_rmsprop);
		break;
	case CNN_RULE_RMSPROP_MOM:
		R_APPLY(r_rmsprop_mom);
		break;
	}
	r_store(lane, wild, RW);
	for (int k = 0; k < RW; k++)
		if (lane[k] != 0.0f)
			return 1;
	return 0;
}
#undef R_APPLY
#undef rvec
#undef RW

/* ======================================================================== */
/* Dense layers' bias gradient                                              */

/* Contract: see cnn_add_col_sums in kernels.h. Each column's sum is held
 * in a register from db's value through the rows, added in row order: the
 * bits of db[c] += dy[r][c] one row at a time. */
KSTATIC void kcol_sums(const float *dy, int rows, int cols, float *db)
{
	int c = 0;

	for (; c + 4 * VL <= cols; c += 4 * VL) {
		vf acc[4];

		UNROLL
		for (int u = 0; u < 4; u++)
			acc[u] = V_LOAD(db + c + u * VL);
		for (int r = 0; r < rows; r++) {
			const float *d = dy + (size_t)r * cols + c;

			UNROLL
			for (int u = 0; u < 4; u++)
				acc[u] = V_ADD(acc[u], V_LOAD(d + u * VL));
		}
		UNROLL
		for (int u = 0; u < 4; u++)
			V_STORE(db + c + u * VL, acc[u]);
	}
	for (; c + VL <= cols; c += VL) {
		vf acc = V_LOAD(db + c);

		for (int r = 0; r < rows; r++)
			acc = V_ADD(acc, V_LOAD(dy + (size_t)r * cols + c));
		V_STORE(db + c, acc);
	}
	if (c < cols) {
		vmask m = V_MASK(cols - c);
		vf acc = V_LOADM(db + c, m);

		for (int r = 0; r < rows; r++)
			acc = V_ADD(acc, V_LOADM(dy + (size_t)r * cols + c, m));
		V_STOREM(db + c, acc, m);
	}
}

/* ======================================================================== */
/* ReLU                                                                     */

/* y = v where x > 0, else 0, over count floats. */
KSTATIC void kwhere_positive(const float *x, const float *v, float *y,
                             size_t count)
{
	vf zero = V_ZERO();
	size_t i = 0;

	for (; i + 4 * VL <= count; i += 4 * VL) {
		UNROLL
		for (int u = 0; u < 4; u++) {
			size_t at = i + (size_t)u * VL;

			V_STORE(y + at, V_SELZ(V_GT(V_LOAD(x + at), zero),
			                       V_LOAD(v + at)));
		}
	}
	for (; i + VL <= count; i += VL)
		V_STORE(y + i,
		        V_SELZ(V_GT(V_LOAD(x + i), zero), V_LOAD(v + i)));
	if (i < count) {
		vmask m = V_MASK((int)(count - i));

		V_STOREM(
		    y + i,
		    V_SELZ(V_GT(V_LOADM(x + i, m), zero), V_LOADM(v + i, m)),
		    m);
	}
}

/* ======================================================================== */
/* Max pooling                                                              */

#if V_HAS_PAIRS
/* The four cells of a row of 2x2 windows as relu leaves them (x > 0 ? x :
 * +0, cnn_relu_forward's select), when a relu is fused into the pool. */
ALWAYS_INLINE void pool22_relu(vf *e0, vf *o0, vf *e1, vf *o1)
{
	vf zero = V_ZERO();

	*e0 = V_MAX(*e0, zero);
	*o0 = V_MAX(*o0, zero);
	*e1 = V_MAX(*e1, zero);
	*o1 = V_MAX(*o1, zero);
}

/* The 2x2, stride-2 windows of one plane. Per window (p00, p01, p10, p11,
 * row-major) the scan of pool_plane_forward: m = p00, then each next cell
 * replaces m if greater, which is V_MAX(cell, m) exactly (NaNs and signed
 * zeros included). */
KSTATIC void pool22_forward(const cnn_pool_geom *g, const float *x, float *y)
{
	for (int oy = 0; oy < g->oh; oy++) {
		const float *x0 = x + (size_t)2 * oy * g->w, *x1 = x0 + g->w;
		float *yr = y + (size_t)oy * g->ow;

		for (int ox = 0; ox < g->ow; ox += VL) {
			int cnt = g->ow - ox < VL ? g->ow - ox : VL;
			vf a0, b0, a1, b1, e0, o0, e1, o1, m;

			if (cnt == VL) {
				a0 = V_LOAD(x0 + 2 * ox);
				b0 = V_LOAD(x0 + 2 * ox + VL);
				a1 = V_LOAD(x1 + 2 * ox);
				b1 = V_LOAD(x1 + 2 * ox + VL);
			} else {
				int two = 2 * cnt;
				vmask ma = V_MASK(two < VL ? two : VL);

				a0 = V_LOADM(x0 + 2 * ox, ma);
				a1 = V_LOADM(x1 + 2 * ox, ma);
				if (two > VL) {
					vmask mb = V_MASK(two - VL);

					b0 = V_LOADM(x0 + 2 * ox + VL, mb);
					b1 = V_LOADM(x1 + 2 * ox + VL, mb);
				} else {
					b0 = b1 = V_ZERO();
				}
			}
			V_DEINTERLEAVE(a0, b0, e0, o0);
			V_DEINTERLEAVE(a1, b1, e1, o1);
			if (g->relu)
				pool22_relu(&e0, &o0, &e1, &o1);
			m = V_MAX(o1, V_MAX(e1, V_MAX(o0, e0)));
			if (cnt == VL)
				V_STORE(yr + ox, m);
			else
				V_STOREM(yr + ox, m, V_MASK(cnt));
		}
	}
}

/* Interleaves e and o (a row's even and odd columns) into d: 2 cnt
 * floats, by the masks ma and mb when cnt < VL. */
ALWAYS_INLINE void pool22_store(float *d, int cnt, vf e, vf o, vmask ma,
                                vmask mb)
{
	vf lo, hi;

	V_INTERLEAVE(e, o, lo, hi);
	if (cnt == VL) {
		V_STORE(d, lo);
		V_STORE(d + VL, hi);
	} else {
		V_STOREM(d, lo, ma);
		if (2 * cnt > VL)
			V_STOREM(d + VL, hi, mb);
	}
}

/* Backward of the above: each dy to the cell the scan ends on, 0 to the
 * other three; cells outside every window (odd h or w) get 0. */
KSTATIC void pool22_backward(const cnn_pool_geom *g, const float *x,
                             const float *dy, float *dx)
{
	for (int oy = 0; oy < g->oh; oy++) {
		const float *x0 = x + (size_t)2 * oy * g->w, *x1 = x0 + g->w;
		float *d0 = dx + (size_t)2 * oy * g->w, *d1 = d0 + g->w;
		const float *dyr = dy + (size_t)oy * g->ow;

		for (int ox = 0; ox < g->ow; ox += VL) {
			int cnt = g->ow - ox < VL ? g->ow - ox : VL;
			int two = 2 * cnt;
			vmask ma = V_MASK(two < VL ? two : VL);
			vmask mb = V_MASK(two > VL ? two - VL : 1);
			vf a0, b0, a1, b1, e0, o0, e1, o1, m, d;
			vcond c1, c2, c3;

			if (cnt == VL) {
				a0 = V_LOAD(x0 + 2 * ox);
				b0 = V_LOAD(x0 + 2 * ox + VL);
				a1 = V_LOAD(x1 + 2 * ox);
				b1 = V_LOAD(x1 + 2 * ox + VL);
				d = V_LOAD(dyr + ox);
			} else {
				a0 = V_LOADM(x0 + 2 * ox, ma);
				a1 = V_LOADM(x1 + 2 * ox, ma);
				b0 = b1 = V_ZERO();
				if (two > VL) {
					b0 = V_LOADM(x0 + 2 * ox + VL, mb);
					b1 = V_LOADM(x1 + 2 * ox + VL, mb);
				}
				d = V_LOADM(dyr + ox, V_MASK(cnt));
			}
			V_DEINTERLEAVE(a0, b0, e0, o0);
			V_DEINTERLEAVE(a1, b1, e1, o1);
			if (g->relu)
				pool22_relu(&e0, &o0, &e1, &o1);
			c1 = V_GT(o0, e0);
			m = V_MAX(o0, e0);
			c2 = V_GT(e1, m);
			m = V_MAX(e1, m);
			c3 = V_GT(o1, m);
			/* relu's backward: only the cell that won gets d, and
			 * it keeps it when x > 0 there, so when the window's
			 * maximum is above 0 */
			if (g->relu)
				d = V_SELZ(V_GT(V_MAX(o1, m), V_ZERO()), d);
			/* the last cell that won keeps d; earlier ones give up
			 */
			o1 = V_SELZ(c3, d);
			d = V_SELNZ(c3, d);
			e1 = V_SELZ(c2, d);
			d = V_SELNZ(c2, d);
			o0 = V_SELZ(c1, d);
			e0 = V_SELNZ(c1, d);
			pool22_store(d0 + 2 * ox, cnt, e0, o0, ma, mb);
			pool22_store(d1 + 2 * ox, cnt, e1, o1, ma, mb);
		}
		if (g->w > 2 * g->ow) {
			for (int c = 2 * g->ow; c < g->w; c++)
				d0[c] = d1[c] = 0.0f;
		}
	}
	for (int r = 2 * g->oh; r < g->h; r++)
		for (int c = 0; c < g->w; c++)
			dx[(size_t)r * g->w + c] = 0.0f;
}
#endif

KSTATIC void kmaxpool_forward(const cnn_pool_geom *g, const float *x, float *y,
                              size_t planes)
{
	size_t in = (size_t)g->h * g->w, out = (size_t)g->oh * g->ow;

	for (size_t q = 0; q < planes; q++) {
#if V_HAS_PAIRS
		if (pool_is_22(g)) {
			pool22_forward(g, x + q * in, y + q * out);
			continue;
		}
#endif
		pool_plane_forward(g, x + q * in, y + q * out);
	}
}

KSTATIC void kmaxpool_backward(const cnn_pool_geom *g, const float *x,
                               const float *dy, float *dx, size_t planes)
{
	size_t in = (size_t)g->h * g->w, out = (size_t)g->oh * g->ow;

	for (size_t q = 0; q < planes; q++) {
#if V_HAS_PAIRS
		if (pool_is_22(g)) {
			pool22_backward(g, x + q * in, dy + q * out,
			                dx + q * in);
			continue;
		}
#endif
		pool_plane_backward(g, x + q * in, dy + q * out, dx + q * in);
	}
}

/* ======================================================================== */

#ifndef KNO_TABLE
static const kernel_table KFN(table) = {
    .name = KNAME,
    .gemm = kgemm,
    .gemm_chunks = kgemm_chunks,
    .dropout = kdropout,
    .update_apply = kupdate_apply,
    .add_forward = kadd_forward,
    .bn_forward = kbn_forward,
    .bn_backward = kbn_backward,
#if BN_VECTORS
    .bn_sums = kbn_sums,
    .bn_dy_sums = kbn_dy_sums,
#endif
#if CNN_FAST_ACT
    .sigmoid_forward = ksigmoid_forward,
    .tanh_forward = ktanh_forward,
    .tanh_backward = ktanh_backward,
    .sigmoid_backward = ksigmoid_backward,
    .elu_forward = kelu_forward,
    .elu_backward = kelu_backward,
#endif
    .conv_forward = kconv_forward,
    .conv_backward = kconv_backward,
    .where_positive = kwhere_positive,
    .col_sums = kcol_sums,
    .scale_bytes = kscale_bytes,
    .maxpool_forward = kmaxpool_forward,
    .maxpool_backward = kmaxpool_backward,
};
#endif

/* The parameters of this instance: undefined so that kernels.c can include
 * this file again with others. */
#undef REG_BARRIER
#undef V_SQRT
#undef KSUF
#undef KNAME
#undef V_FROM_U8
#undef VL
#undef REGS
#undef vf
#undef vmask
#undef vcond
#undef V_LOAD
#undef V_STORE
#undef V_MASK
#undef V_LOADM
#undef V_STOREM
#undef V_ROTATE
#undef V_SET1
#undef V_ZERO
#undef V_ADD
#undef V_FMA
#undef V_HSUM
#undef V_REDUCE
#undef V_GT
#undef V_SEL
#undef V_SELZ
#undef V_SELNZ
#undef V_MAX
#undef V_HAS_PAIRS
#undef V_DEINTERLEAVE
#undef V_INTERLEAVE
#undef KNO_TABLE
#undef KNARROW
#undef KNARROW_VL
#undef BN_CVT
