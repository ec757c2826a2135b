{{ header }}
/*
 * Parameters of the generated repq_top, for driver software. Beats are little-endian arrays of
 * 32-bit words (word 0 holds bits 31..0), lane i of a beat at bits [i*W, i*W + W). The stream
 * order (the driver contract; repq_top.v states it in full):
 *
 *   for m0 = 0, TM, ..:  for n0 = 0, C, ..:            mr = min(TM, M-m0), nr = min(C, N-n0)
 *       prm: nr beats, one per column n0 .. n0+nr-1
 *       for k0 = 0, R, ..:                             kr = min(R, K-k0)
 *           wgt: kr beats, k = k0 .. k0+kr-1, lane c = w[k][n0+c]   (w = w_code - z_w)
 *           act: mr beats, m = m0 .. m0+mr-1, lane r = a[m][k0+r]
 *       out: mr beats, m = m0 .. m0+mr-1, lane c = out[m][n0+c]
 *
 * Lanes past the matrix edge are ignored on input and zero on output. The streams may be fed
 * from separate channels, or by one thread one beat at a time in exactly this order (all act
 * beats of a tile before its first out beat): the output FIFO holds REPQ_FIFO_DEPTH >= REPQ_M_TILE
 * rows, a whole tile, so that order cannot deadlock.
 */
#ifndef REPQ_PARAMS_H
#define REPQ_PARAMS_H

#include <stdint.h>

#define REPQ_HW_VERSION "{{ d.version }}"
#define REPQ_CONFIG "{{ d.tag() }}"

/* Array and datapath */
#define REPQ_PE_ROWS {{ d.rows }}u            /* R: depth (K) lanes */
#define REPQ_PE_COLS {{ d.cols }}u            /* C: output (N) lanes */
{%- if d.out_signed() %}
#define REPQ_ABITS {{ d.abits }}u             /* activation code bits (unsigned) */
{%- else %}
#define REPQ_ABITS {{ d.abits }}u             /* activation / output code bits (unsigned) */
{%- endif %}
#define REPQ_OUT_LANE_BITS {{ d.out_lane_bits() }}u     /* m_out lane bits, also the lo/hi field width */
#define REPQ_OUT_SIGNED {% if d.out_signed() %}1{% else %}0{% endif %}          /* 1: lanes and lo/hi signed (--out-bits); 0: u{ABITS} codes */
#define REPQ_WBITS {{ d.wbits }}u             /* weight code bits */
#define REPQ_W_OPERAND_BITS {{ d.wob }}u      /* stationary operand (signed, max(wbits, abits) + 1): w_code - z_w, or k_code - z_k for Q K^T */
#define REPQ_ACC_BITS {{ d.acc_bits }}u        /* accumulator (signed) */
#define REPQ_ACC_BITS_REQUIRED {{ d.acc_bits_required }}u
#define REPQ_BOUND_MAX_K {{ d.requirement.max_k }}u     /* largest K the accumulator bound covers */
#define REPQ_BOUND_MAX_TOKENS {{ d.requirement.max_tokens }}u
#define REPQ_AV_FRACTION_BITS {{ av_f }}      /* U4 F for REPQ_BOUND_MAX_TOKENS keys (-1: none fits) */
#define REPQ_M_TILE {{ d.m_tile }}u           /* TM: rows per M tile */
#define REPQ_DIM_BITS {{ d.dim_bits }}u
#define REPQ_MAX_DIM {{ (1 << d.dim_bits) - 1 }}u
#define REPQ_FIFO_DEPTH {{ d.fifo_depth }}u        /* output rows buffered, >= REPQ_M_TILE */
#define REPQ_REQUANT_LANES {{ d.requant_lanes }}u      /* U: an output row takes REPQ_PE_COLS / U cycles */
#define REPQ_ARRAY_LATENCY {{ d.array_latency() }}u  /* cycles, activation accepted -> row leaves the array */
#define REPQ_OUTPUT_LATENCY {{ d.output_latency() }}u /* cycles, activation accepted -> output row in FIFO */
#define REPQ_REQUANT_LATENCY {{ requant_latency }}u
#define REPQ_LOGCODE_LATENCY {{ logcode_latency }}u
#define REPQ_SHIFT_AV_LATENCY {{ shift_av_latency }}u
#define REPQ_CLOCK_KHZ {{ clock_khz }}u

/* Units after the array (docs/arithmetic.md U7, U8, A x V requantization) */
#define REPQ_RESIDUAL_YBITS {{ u.residual_ybits }}u     /* repq_residual increment lanes s{YBITS} */
#define REPQ_RESIDUAL_LATENCY {{ residual_latency }}u
#define REPQ_GELU_IBITS {{ u.gelu_ibits }}u         /* repq_gelu index lanes s{IBITS} */
#define REPQ_GELU_LATENCY {{ u.gelu_latency }}u
#define REPQ_GELU_LOAD_BEATS {{ u.gelu_load_beats }}u    /* table load: B, 2^ABITS - 1 rises, 2^ABITS - 1 falls */
#define REPQ_AV_REQUANT_LANES {{ u.av_requant_lanes }}u    /* repq_av_requant RQ_LANES (a beat takes PE_COLS / RQ_LANES cycles) */
#define REPQ_AV_REQUANT_LATENCY {{ u.av_latency }}u
#define REPQ_LN_LANES {{ u.ln_lanes }}u          /* repq_layernorm LN_LANES (a beat takes PE_COLS / LN_LANES cycles per pass) */
#define REPQ_LN_MAX_DIM {{ u.ln_max_dim }}u      /* repq_layernorm MAXD: row buffer channels */
#define REPQ_LN_ROW_OVERHEAD {{ u.ln_row_overhead }}u
#define REPQ_SOFTMAX_LANES {{ u.softmax_lanes }}u     /* repq_softmax EX_LANES (exponent and divide lanes) */
#define REPQ_SOFTMAX_ROWMAX {{ u.softmax_rowmax }}u   /* repq_softmax row buffer: rows of at most ROWMAX keys */
#define REPQ_POOL_TOKEN_BITS {{ u.pool_token_bits }}u   /* repq_avgpool TW: pools of fewer than 2^TW tokens */

/* Beat widths in bits and in 32-bit words */
#define REPQ_ACT_BEAT_BITS {{ d.act_bits() }}u
#define REPQ_ACT_BEAT_WORDS {{ d.act_bits().div_ceil(32) }}u
#define REPQ_WGT_BEAT_BITS {{ d.wgt_bits() }}u
#define REPQ_WGT_BEAT_WORDS {{ d.wgt_bits().div_ceil(32) }}u
#define REPQ_PRM_BEAT_BITS {{ d.param_bits() }}u
#define REPQ_PRM_BEAT_WORDS {{ d.param_bits().div_ceil(32) }}u
#define REPQ_OUT_BEAT_BITS {{ d.out_bits() }}u
#define REPQ_OUT_BEAT_WORDS {{ d.out_bits().div_ceil(32) }}u

/* Parameter beat fields: least significant bit and width */
{%- for f in d.param_fields() %}
#define REPQ_PRM_{{ f.name|upper }}_LSB {{ f.lsb }}u
#define REPQ_PRM_{{ f.name|upper }}_BITS {{ f.bits }}u
{%- endfor %}

/* Inserts the low `width` bits of `value` at bit `lsb` of a beat (width <= 64). */
static inline void repq_put_bits(uint32_t *beat, unsigned lsb, unsigned width, uint64_t value)
{
    unsigned i;
    for (i = 0; i < width; i++) {
        unsigned b = lsb + i;
        uint32_t bit = (uint32_t)((value >> i) & 1u);
        beat[b / 32] = (beat[b / 32] & ~(1u << (b % 32))) | (bit << (b % 32));
    }
}

/* Extracts `width` bits at `lsb` (width <= 64), zero-extended. */
static inline uint64_t repq_get_bits(const uint32_t *beat, unsigned lsb, unsigned width)
{
    uint64_t v = 0;
    unsigned i;
    for (i = 0; i < width; i++) {
        unsigned b = lsb + i;
        v |= (uint64_t)((beat[b / 32] >> (b % 32)) & 1u) << i;
    }
    return v;
}

/* One activation beat: codes[r] = a[m][k0 + r] for r < REPQ_PE_ROWS. */
static inline void repq_pack_act(uint32_t beat[REPQ_ACT_BEAT_WORDS], const uint8_t *codes)
{
    unsigned r;
    for (r = 0; r < REPQ_ACT_BEAT_WORDS; r++) beat[r] = 0;
    for (r = 0; r < REPQ_PE_ROWS; r++) repq_put_bits(beat, r * REPQ_ABITS, REPQ_ABITS, codes[r]);
}

/* One weight beat: w[c] = w_code[n0 + c][k] - z_w[n0 + c] for c < REPQ_PE_COLS. */
static inline void repq_pack_wgt(uint32_t beat[REPQ_WGT_BEAT_WORDS], const int16_t *w)
{
    unsigned c;
    for (c = 0; c < REPQ_WGT_BEAT_WORDS; c++) beat[c] = 0;
    for (c = 0; c < REPQ_PE_COLS; c++)
        repq_put_bits(beat, c * REPQ_W_OPERAND_BITS, REPQ_W_OPERAND_BITS, (uint64_t)(int64_t)w[c]);
}

{% if d.out_signed() -%}
/* One parameter beat (one output column); lo and hi are signed,
 * {{ d.out_range().0 }} <= lo <= hi <= {{ d.out_range().1 }}. */
static inline void repq_pack_prm(uint32_t beat[REPQ_PRM_BEAT_WORDS], int64_t bias, uint32_t m0,
                                 uint32_t shift, int32_t zero_point, int32_t lo, int32_t hi)
{
    unsigned i;
    for (i = 0; i < REPQ_PRM_BEAT_WORDS; i++) beat[i] = 0;
    repq_put_bits(beat, REPQ_PRM_BIAS_LSB, REPQ_PRM_BIAS_BITS, (uint64_t)bias);
    repq_put_bits(beat, REPQ_PRM_M0_LSB, REPQ_PRM_M0_BITS, m0);
    repq_put_bits(beat, REPQ_PRM_SHIFT_LSB, REPQ_PRM_SHIFT_BITS, shift);
    repq_put_bits(beat, REPQ_PRM_ZERO_POINT_LSB, REPQ_PRM_ZERO_POINT_BITS, (uint64_t)(int64_t)zero_point);
    repq_put_bits(beat, REPQ_PRM_LO_LSB, REPQ_PRM_LO_BITS, (uint64_t)(int64_t)lo);
    repq_put_bits(beat, REPQ_PRM_HI_LSB, REPQ_PRM_HI_BITS, (uint64_t)(int64_t)hi);
}

/* One output beat: values[c] = out[m][n0 + c], sign-extended from REPQ_OUT_LANE_BITS. */
static inline void repq_unpack_out(const uint32_t beat[REPQ_OUT_BEAT_WORDS], int32_t *values)
{
    unsigned c;
    for (c = 0; c < REPQ_PE_COLS; c++) {
        int64_t v = (int64_t)repq_get_bits(beat, c * REPQ_OUT_LANE_BITS, REPQ_OUT_LANE_BITS);
        if (v >> (REPQ_OUT_LANE_BITS - 1u)) v -= (int64_t)1 << REPQ_OUT_LANE_BITS;
        values[c] = (int32_t)v;
    }
}
{%- else -%}
/* One parameter beat (one output column). */
static inline void repq_pack_prm(uint32_t beat[REPQ_PRM_BEAT_WORDS], int64_t bias, uint32_t m0,
                                 uint32_t shift, int32_t zero_point, uint32_t lo, uint32_t hi)
{
    unsigned i;
    for (i = 0; i < REPQ_PRM_BEAT_WORDS; i++) beat[i] = 0;
    repq_put_bits(beat, REPQ_PRM_BIAS_LSB, REPQ_PRM_BIAS_BITS, (uint64_t)bias);
    repq_put_bits(beat, REPQ_PRM_M0_LSB, REPQ_PRM_M0_BITS, m0);
    repq_put_bits(beat, REPQ_PRM_SHIFT_LSB, REPQ_PRM_SHIFT_BITS, shift);
    repq_put_bits(beat, REPQ_PRM_ZERO_POINT_LSB, REPQ_PRM_ZERO_POINT_BITS, (uint64_t)(int64_t)zero_point);
    repq_put_bits(beat, REPQ_PRM_LO_LSB, REPQ_PRM_LO_BITS, lo);
    repq_put_bits(beat, REPQ_PRM_HI_LSB, REPQ_PRM_HI_BITS, hi);
}

/* One output beat: codes[c] = out[m][n0 + c]. */
static inline void repq_unpack_out(const uint32_t beat[REPQ_OUT_BEAT_WORDS], uint8_t *codes)
{
    unsigned c;
    for (c = 0; c < REPQ_PE_COLS; c++)
        codes[c] = (uint8_t)repq_get_bits(beat, c * REPQ_ABITS, REPQ_ABITS);
}
{%- endif %}

#endif /* REPQ_PARAMS_H */
