/*
 * repq_driver.h: the host driver of repq_vit, the command-driven accelerator of repq-hw
 * (docs/accelerator.md). Platform-independent C99: the platform supplies register access to the
 * AXI4-Lite block and a CPU view of the memory the engine reads and writes.
 *
 * Use:
 *   repq_dev dev = { ctx, reg_write, reg_read, wait_irq, mem, mem_bytes };
 *   repq_load(&dev, image, image_bytes);            // once per model (the accel image)
 *   repq_set_input(&dev, codes);                    // per image: C*H*W codes, [C][H][W]
 *   repq_run(&dev, REPQ_RUN_TO_END, 0);             // start, wait for done (poll or interrupt)
 *   repq_read_logits(&dev, logits, n);              // s32 logits
 */
#ifndef REPQ_DRIVER_H
#define REPQ_DRIVER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Register offsets of the AXI4-Lite block. */
#define REPQ_REG_VERSION 0x00u
#define REPQ_REG_CONFIG 0x04u
#define REPQ_REG_CTRL 0x08u
#define REPQ_REG_STATUS 0x0Cu
#define REPQ_REG_IRQ_ENABLE 0x10u
#define REPQ_REG_IRQ_STATUS 0x14u
#define REPQ_REG_PROG_ADDR_LO 0x18u
#define REPQ_REG_PROG_ADDR_HI 0x1Cu
#define REPQ_REG_STOP_AFTER 0x20u
#define REPQ_REG_CMD_DONE 0x24u
#define REPQ_REG_CYCLES 0x28u

#define REPQ_STATUS_BUSY 0x1u
#define REPQ_STATUS_DONE 0x2u
#define REPQ_STATUS_ERROR 0x4u
#define REPQ_STATUS_STOPPED 0x8u

#define REPQ_RUN_TO_END 0xFFFFFFFFu

/* The accel image header (the first 64 bytes of the image, little-endian u32 fields). */
#define REPQ_IMAGE_MAGIC "RQHWACC1"
#define REPQ_IMAGE_VERSION 1u
typedef struct {
    char magic[8];          /* "RQHWACC1" */
    uint32_t version;       /* 1 */
    uint32_t image_bytes;   /* bytes of the whole image (the memory the engine uses) */
    uint32_t prog_addr;     /* byte address of the first command */
    uint32_t commands;      /* number of commands */
    uint32_t input_addr;    /* where repq_set_input writes the codes (im2col rows) */
    uint32_t input_rows;    /* patches */
    uint32_t input_row_bytes;   /* bytes per im2col row (padded to 8) */
    uint32_t in_chans, img_h, img_w, patch_h, patch_w;
    uint32_t logits_addr;   /* s32 logits of the first classifier head */
    uint32_t classes;
} repq_image_header;

typedef struct {
    void *ctx;
    void (*reg_write)(void *ctx, uint32_t offset, uint32_t value);
    uint32_t (*reg_read)(void *ctx, uint32_t offset);
    /* Optional: blocks until the interrupt line is high; NULL polls STATUS instead. */
    void (*wait_irq)(void *ctx);
    uint8_t *mem;           /* CPU view of engine addresses 0 .. mem_bytes-1 */
    uint32_t mem_bytes;
} repq_dev;

/* Error codes of the calls below (0 is success). */
#define REPQ_OK 0
#define REPQ_E_IMAGE -1     /* not an accel image, wrong version or size */
#define REPQ_E_MEMORY -2    /* the image does not fit the memory */
#define REPQ_E_ENGINE -3    /* the engine reported an error (repq_status gives the code) */
#define REPQ_E_BUSY -4      /* started while busy */

/* Copies the accel image to memory address 0 and checks its header. */
int repq_load(repq_dev *dev, const uint8_t *image, uint32_t bytes);
/* Writes one image's codes ([C][H][W], one byte each) as the im2col rows the program reads. */
int repq_set_input(repq_dev *dev, const uint8_t *codes);
/* Starts the program (stopping after command `stop_after`, or REPQ_RUN_TO_END) and waits for
 * done; with `use_irq`, enables the interrupt and waits through dev->wait_irq. */
int repq_run(repq_dev *dev, uint32_t stop_after, int use_irq);
/* The STATUS register. */
uint32_t repq_status(repq_dev *dev);
/* Copies n s32 logits of the first classifier head. */
int repq_read_logits(repq_dev *dev, int32_t *logits, uint32_t n);

#ifdef __cplusplus
}
#endif

#endif /* REPQ_DRIVER_H */
