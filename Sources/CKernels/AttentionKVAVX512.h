// AVX-512 pieces of the attention kernels that read keys or values, one instance per element type (see
// AttentionKV.h; included after it and after AttentionKVAVX2.h, no include guard). Each computes exactly what
// its AVX2 counterpart computes, operation for operation per lane, in vectors twice as wide, so the AVX-512
// kernels built on them (AttentionRowsAVX512.h, AttentionBlockRowsAVX512.h) agree with the AVX2 ones bit for
// bit. Callers run them only at CK_ISA_AVX512 (AVX512F and VL present).

/// 16 elements at p as fp32 lanes (exact).
#undef KV_LOAD16
#if CK_KV_TEMPLATE == 0
#define KV_LOAD16(p) _mm512_loadu_ps(p)
#elif CK_KV_TEMPLATE == 1
#define KV_LOAD16(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(p)))
#else
#define KV_LOAD16(p) _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(const void *)(p))), 16))
#endif

/// The high 256 bits of a 512-bit float vector (AVX512F only: no DQ needed).
CK_ATT_AVX512 CK_INLINE __m256 KVN(ck_high256_ps)(__m512 v) {
    return _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
}

/// u[r·8 + j] = the lane sums of q_r · k_j for rows r < R (R ≤ 3) and keys j < NK (NK ≤ 4), as
/// ck_lanes4_avx2 and dot_rows_keys2_avx2 form them: the even 8-element chunks' ascending FMA chain plus the
/// odd chunks' (a last whole chunk joins the even chain). One 512-bit accumulator per (row, key) holds the
/// even chain in its low half and the odd one in its high half. ck_hsum8x8_ps / ck_hsum8_ps reduce u; the
/// scalar tail past the last whole chunk is the caller's.
CK_ATT_AVX512 CK_INLINE void KVN(ck_lanes_rows_avx512)(int R, int NK, const float *const *q, const KV *const *k, size_t n,
                                                       __m256 *u) {
    __m512 acc[3][4];
    for (int r = 0; r < R; r++)
        for (int j = 0; j < NK; j++) acc[r][j] = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {   // lanes 0–7: chunk i/8 (even), lanes 8–15: chunk i/8 + 1 (odd)
        __m512 kv[4];
        for (int j = 0; j < NK; j++) kv[j] = KV_LOAD16(k[j] + i);
        for (int r = 0; r < R; r++) {
            __m512 qr = _mm512_loadu_ps(q[r] + i);
            for (int j = 0; j < NK; j++) acc[r][j] = _mm512_fmadd_ps(qr, kv[j], acc[r][j]);
        }
    }
    if (i + 8 <= n) {   // the low lanes only: the high half (the odd chain) stays as it is
        __m512 kv[4];
        for (int j = 0; j < NK; j++) kv[j] = _mm512_castps256_ps512(KV_LOAD8(k[j] + i));
        for (int r = 0; r < R; r++) {
            __m512 qr = _mm512_castps256_ps512(_mm256_loadu_ps(q[r] + i));
            for (int j = 0; j < NK; j++) acc[r][j] = _mm512_mask3_fmadd_ps(qr, kv[j], acc[r][j], 0x00FF);
        }
    }
    for (int r = 0; r < R; r++)
        for (int j = 0; j < NK; j++)
            u[r * 8 + j] = _mm256_add_ps(_mm512_castps512_ps256(acc[r][j]), KVN(ck_high256_ps)(acc[r][j]));
}

/// o[r][0..<8) = q_r·k_j·scale for rows r < R (R ≤ 3) and the 8 keys k[0..<8], each reduced as the AVX2
/// kernels reduce it (score8_avx2, scores_rows_avx2): the lane sums through ck_hsum8x8_ps, the scalar tail past
/// the last whole chunk, then the scale.
CK_ATT_AVX512 CK_INLINE void KVN(ck_score_rows8_avx512)(int R, const float *const *q, const KV *const *k, size_t dk, float scale,
                                                        float *const *o) {
    __m256 u[3 * 8];
    KVN(ck_lanes_rows_avx512)(R, 4, q, k, dk, u);
    KVN(ck_lanes_rows_avx512)(R, 4, q, k + 4, dk, u + 4);   // keys 4–7 land at u[r·8 + 4 + j]
    const size_t tail = dk - dk % 8;
    for (int r = 0; r < R; r++) {
        __m256 v = ck_hsum8x8_ps(u + r * 8);
        if (tail < dk) {
            _mm256_storeu_ps(o[r], v);
            for (int j = 0; j < 8; j++) {
                float x = o[r][j];
                for (size_t t = tail; t < dk; t++) x += q[r][t] * KV_GET(k[j] + t);
                o[r][j] = x;
            }
            v = _mm256_loadu_ps(o[r]);
        }
        _mm256_storeu_ps(o[r], _mm256_mul_ps(v, _mm256_set1_ps(scale)));
    }
}

/// out_r[c..<c+16·W) += Σ_{s0 ≤ s < s1} p_r[s]·v_s for rows r < R (R ≤ 3, W ≤ 8 vectors): per element the
/// ascending FMA chain of ck_wsum_tile_avx2, the accumulators loaded from and stored back to out. With
/// `ahead` > 0 the lines of value s + ahead are prefetched (a hint only).
CK_ATT_AVX512 CK_INLINE void KVN(ck_wsum_tile_avx512)(int R, int W, const float *const *p, const KV *values, size_t vstride,
                                                      const int64_t *slots, size_t s0, size_t s1, size_t c, float *const *out,
                                                      size_t ahead) {
    __m512 acc[3][8];
    for (int r = 0; r < R; r++)
        for (int j = 0; j < W; j++) acc[r][j] = _mm512_loadu_ps(out[r] + c + 16 * j);
    for (size_t s = s0; s < s1; s++) {
        const KV *v = values + CK_POS(s) * vstride + c;
        if (ahead && s + ahead < s1) ck_prefetch_bytes(values + CK_POS(s + ahead) * vstride + c, 16 * W * sizeof(KV));
        __m512 pr[3];
        for (int r = 0; r < R; r++) pr[r] = _mm512_set1_ps(p[r][s]);
        for (int j = 0; j < W; j++) {
            __m512 vj = KV_LOAD16(v + 16 * j);
            for (int r = 0; r < R; r++) acc[r][j] = _mm512_fmadd_ps(pr[r], vj, acc[r][j]);
        }
    }
    for (int r = 0; r < R; r++)
        for (int j = 0; j < W; j++) _mm512_storeu_ps(out[r] + c + 16 * j, acc[r][j]);
}
