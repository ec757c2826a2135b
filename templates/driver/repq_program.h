/*
 * repq_program.h: the layer program image of repq-hw (docs/layer-program.md), format version 1.
 * Written by `repq-hw program` beside program.bin; the same for every model.
 *
 * An image is a 64-byte header, `descriptors` 64-byte descriptors from offset 64, and parameter
 * blobs on 64-byte boundaries. All integers are little-endian; offsets are bytes from the start
 * of the image. On a little-endian CPU the structs below overlay the image directly.
 */
#ifndef REPQ_PROGRAM_H
#define REPQ_PROGRAM_H

#include <stddef.h>
#include <stdint.h>

#define REPQ_PROG_MAGIC "RQHWPROG"
#define REPQ_PROG_VERSION 1u
#define REPQ_PROG_ALIGN 64u
#define REPQ_PROG_EXP2_ENTRIES 1024u /* 2^EF entries of the U6 table */

/* Operations (descriptor byte 0). */
enum repq_prog_op {
    REPQ_OP_LOAD_RESIDUAL = 1, /* X = a ([T, D] s32) */
    REPQ_OP_PATCH_EMBED = 2,   /* im2col(input), U1, U2, U8 into X from dst_row */
    REPQ_OP_LAYERNORM = 3,     /* U5 of X rows src_row.. to the LayerNorm output buffer */
    REPQ_OP_LINEAR = 4,        /* U1 + U2, output stage by mode */
    REPQ_OP_ATTENTION = 5,     /* per head: Q K^T, U6, U3, U4, U2; heads merged */
    REPQ_OP_AVERAGE_HEADS = 6, /* logits row 0 = (row 0 + row 1 + 1) >> 1 */
    REPQ_OP_END = 7            /* the first n values of logits row 0 are the result */
};

/* Output stage of a linear operation (descriptor byte 1). */
enum repq_prog_mode {
    REPQ_MODE_CODES = 0,    /* u{abits} codes to dst */
    REPQ_MODE_RESIDUAL = 1, /* U8 into X */
    REPQ_MODE_GELU = 2,     /* U7 by the GELU steps in blob d, codes to dst */
    REPQ_MODE_VALUES = 3    /* s32 values to row dst_row of the logits */
};

/* Buffers (descriptor bytes 2 and 3). */
enum repq_prog_buffer {
    REPQ_BUF_INPUT = 0,   /* input codes [C, H, W] u8, external memory */
    REPQ_BUF_X = 1,       /* residual stream [T, D] s32 */
    REPQ_BUF_NORM = 2,    /* LayerNorm output [T, D] codes */
    REPQ_BUF_QKV = 3,     /* q, k, v [T, 3D] codes */
    REPQ_BUF_PROJ_IN = 4, /* proj input [T, D] codes */
    REPQ_BUF_HIDDEN = 5,  /* MLP hidden [T, M] codes */
    REPQ_BUF_LOGITS = 6   /* one s32 row per classifier head */
};

struct repq_prog_blob {
    uint32_t offset; /* bytes from the start of the image */
    uint32_t bytes;
};

struct repq_prog_header {
    char magic[8];       /* REPQ_PROG_MAGIC, not NUL-terminated */
    uint32_t version;    /* REPQ_PROG_VERSION */
    uint32_t descriptors;
    uint32_t image_bytes;
    uint8_t wbits, abits, acc_bits, heads_out;
    uint32_t tokens, dim, heads, hidden, classes, input_codes;
    struct repq_prog_blob exp2; /* REPQ_PROG_EXP2_ENTRIES u32 */
    uint8_t zero[8];
};

struct repq_prog_desc {
    uint8_t op, mode, src, dst;
    uint32_t rows, k, n;
    uint32_t src_row, dst_row;
    uint32_t aux;  /* patch embedding: C | Ph << 8 | Pw << 16 */
    uint32_t aux2; /* patch embedding: patch grid width */
    struct repq_prog_blob a; /* weights [K, N] i16, or LayerNorm / attention / residual constants */
    struct repq_prog_blob b; /* biases [N] i32 */
    struct repq_prog_blob c; /* requantization records [N] */
    struct repq_prog_blob d; /* GELU steps: 2^(abits+1) - 1 i16 (base, rises, falls) */
};

/* U2 constants of one output channel (20 bytes; no padding). */
struct repq_requant_record {
    uint32_t m0;    /* u31 */
    uint32_t shift; /* 1 ..= 62 */
    int32_t zero_point, lo, hi;
};

/* LayerNorm constants (blob a of REPQ_OP_LAYERNORM): this, then G[D] i64, then B[D] i64. */
struct repq_layernorm_head {
    uint64_t eps_q;
    int32_t lo, hi;
};

/* Attention constants (blob a of REPQ_OP_ATTENTION, 60 bytes). */
struct repq_attention_consts {
    int32_t q_zero, k_zero, v_zero;
    uint32_t softmax_m0, softmax_shift;
    int32_t c_int;
    uint32_t t1, t0, tm1;
    uint32_t av_fraction_bits;
    struct repq_requant_record av;
};

_Static_assert(sizeof(struct repq_prog_header) == 64, "header is 64 bytes");
_Static_assert(offsetof(struct repq_prog_header, exp2) == 48, "header layout");
_Static_assert(sizeof(struct repq_prog_desc) == 64, "descriptor is 64 bytes");
_Static_assert(offsetof(struct repq_prog_desc, a) == 32, "descriptor layout");
_Static_assert(sizeof(struct repq_requant_record) == 20, "requantization record is 20 bytes");
_Static_assert(sizeof(struct repq_layernorm_head) == 16, "LayerNorm constants head");
_Static_assert(sizeof(struct repq_attention_consts) == 60, "attention constants");

/* Descriptor i of an image (no bounds check: i < header->descriptors). */
static inline const struct repq_prog_desc *repq_prog_descriptor(const void *image, uint32_t i)
{
    return (const struct repq_prog_desc *)((const uint8_t *)image + REPQ_PROG_ALIGN * (1u + i));
}

#endif /* REPQ_PROGRAM_H */
