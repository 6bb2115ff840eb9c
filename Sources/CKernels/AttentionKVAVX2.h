// AVX2 pieces of the attention kernels that read keys or values, one instance per element type (see
// AttentionKV.h; included after it, no include guard). Every instance does the same arithmetic on the widened
// floats, so the fp32 instance is the kernels' reference and the others equal it on rounded caches.

/// u[j] = the lane sums of q · k_j over the whole 8-element chunks of n (j < 4): even chunks into one
/// accumulator and odd ones into another, each ascending, then their sum. Every kernel scores a key this
/// way (ck_hsum8_ps or ck_hsum8x8_ps then reduce u, the scalar tail past the last chunk is the caller's).
CK_ATT_AVX2 CK_INLINE void KVN(ck_lanes4_avx2)(const float *q, const KV *const *k, size_t n, __m256 u[4]) {
    __m256 e[4], o[4];
    for (int j = 0; j < 4; j++) { e[j] = _mm256_setzero_ps(); o[j] = _mm256_setzero_ps(); }
    size_t c = 0;
    for (; c + 16 <= n; c += 16) {
        __m256 q0 = _mm256_loadu_ps(q + c), q1 = _mm256_loadu_ps(q + c + 8);
        for (int j = 0; j < 4; j++) {
            e[j] = _mm256_fmadd_ps(q0, KV_LOAD8(k[j] + c), e[j]);
            o[j] = _mm256_fmadd_ps(q1, KV_LOAD8(k[j] + c + 8), o[j]);
        }
    }
    if (c + 8 <= n) {
        __m256 q0 = _mm256_loadu_ps(q + c);
        for (int j = 0; j < 4; j++) e[j] = _mm256_fmadd_ps(q0, KV_LOAD8(k[j] + c), e[j]);
    }
    for (int j = 0; j < 4; j++) u[j] = _mm256_add_ps(e[j], o[j]);
}

/// out_r[c..<c+8·W) += Σ_{s0 ≤ s < s1} p_r[s]·v_s for rows r < R (R ≤ 3, W ≤ 4 vectors), value s at
/// values + pos·vstride (pos = slots[s], or s without slots): per element one FMA chain in ascending s,
/// the accumulators loaded from and stored back to out, so a range split in pieces gives the same bits.
/// With `ahead` > 0 the lines of value s + ahead are prefetched (a hint only).
CK_ATT_AVX2 CK_INLINE void KVN(ck_wsum_tile_avx2)(int R, int W, const float *const *p, const KV *values, size_t vstride,
                                                  const int64_t *slots, size_t s0, size_t s1, size_t c, float *const *out,
                                                  size_t ahead) {
    __m256 acc[3][4];
    for (int r = 0; r < R; r++)
        for (int j = 0; j < W; j++) acc[r][j] = _mm256_loadu_ps(out[r] + c + 8 * j);
    for (size_t s = s0; s < s1; s++) {
        const KV *v = values + (slots ? (size_t)slots[s] : s) * vstride + c;
        if (ahead && s + ahead < s1)
            ck_prefetch_bytes(values + (slots ? (size_t)slots[s + ahead] : s + ahead) * vstride + c, 8 * W * sizeof(KV));
        __m256 pr[3];
        for (int r = 0; r < R; r++) pr[r] = _mm256_broadcast_ss(p[r] + s);
        for (int j = 0; j < W; j++) {
            __m256 vj = KV_LOAD8(v + 8 * j);
            for (int r = 0; r < R; r++) acc[r][j] = _mm256_fmadd_ps(pr[r], vj, acc[r][j]);
        }
    }
    for (int r = 0; r < R; r++)
        for (int j = 0; j < W; j++) _mm256_storeu_ps(out[r] + c + 8 * j, acc[r][j]);
}

/// dst[i] = element i of src widened to fp32 (exact), for i < n.
CK_ATT_AVX2 CK_INLINE void KVN(ck_widen_avx2)(const KV *src, size_t n, float *dst) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, KV_LOAD8(src + i));
    for (; i < n; i++) dst[i] = KV_GET(src + i);
}
