/*
 * repq_driver.c: the host driver of repq_vit (see repq_driver.h, docs/accelerator.md). C99, no
 * allocation, no OS: every hardware access goes through the repq_dev callbacks, so the same file
 * runs on a CPU next to the FPGA and in the Verilator harness sim/vit.cpp.
 */
#include "repq_driver.h"

#include <string.h>

static uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int header(const repq_dev *dev, repq_image_header *h) {
    const uint8_t *p = dev->mem;
    uint32_t f[15];
    uint32_t i;
    if (memcmp(p, REPQ_IMAGE_MAGIC, 8) != 0) return REPQ_E_IMAGE;
    for (i = 0; i < 15; i++) f[i] = rd32(p + 8 + 4 * i);
    memcpy(h->magic, p, 8);
    h->version = f[0];
    h->image_bytes = f[1];
    h->prog_addr = f[2];
    h->commands = f[3];
    h->input_addr = f[4];
    h->input_rows = f[5];
    h->input_row_bytes = f[6];
    h->in_chans = f[7];
    h->img_h = f[8];
    h->img_w = f[9];
    h->patch_h = f[10];
    h->patch_w = f[11];
    h->logits_addr = f[12];
    h->classes = f[13];
    if (h->version != REPQ_IMAGE_VERSION || h->image_bytes > dev->mem_bytes) return REPQ_E_IMAGE;
    return REPQ_OK;
}

int repq_load(repq_dev *dev, const uint8_t *image, uint32_t bytes) {
    repq_image_header h;
    if (bytes > dev->mem_bytes) return REPQ_E_MEMORY;
    memcpy(dev->mem, image, bytes);
    if (header(dev, &h) != REPQ_OK || h.image_bytes != bytes) return REPQ_E_IMAGE;
    return REPQ_OK;
}

int repq_set_input(repq_dev *dev, const uint8_t *codes) {
    repq_image_header h;
    uint32_t grid_w, p, c, i, j, k;
    int e = header(dev, &h);
    if (e != REPQ_OK) return e;
    if (h.patch_w == 0 || h.patch_h == 0) return REPQ_E_IMAGE;
    grid_w = h.img_w / h.patch_w;
    /* Row p (patch in raster order) holds (channel, row, column) of the patch, as the patch
     * embedding's weight rows expect (docs/layer-program.md, operation 2). */
    for (p = 0; p < h.input_rows; p++) {
        uint8_t *row = dev->mem + h.input_addr + p * h.input_row_bytes;
        uint32_t py = (p / grid_w) * h.patch_h;
        uint32_t px = (p % grid_w) * h.patch_w;
        k = 0;
        for (c = 0; c < h.in_chans; c++)
            for (i = 0; i < h.patch_h; i++)
                for (j = 0; j < h.patch_w; j++)
                    row[k++] = codes[(c * h.img_h + py + i) * h.img_w + px + j];
        while (k < h.input_row_bytes) row[k++] = 0;
    }
    return REPQ_OK;
}

uint32_t repq_status(repq_dev *dev) { return dev->reg_read(dev->ctx, REPQ_REG_STATUS); }

int repq_run(repq_dev *dev, uint32_t stop_after, int use_irq) {
    repq_image_header h;
    uint32_t s;
    int e = header(dev, &h);
    if (e != REPQ_OK) return e;
    if (repq_status(dev) & REPQ_STATUS_BUSY) return REPQ_E_BUSY;
    dev->reg_write(dev->ctx, REPQ_REG_PROG_ADDR_LO, h.prog_addr);
    dev->reg_write(dev->ctx, REPQ_REG_STOP_AFTER, stop_after);
    dev->reg_write(dev->ctx, REPQ_REG_IRQ_STATUS, 1u);
    dev->reg_write(dev->ctx, REPQ_REG_IRQ_ENABLE, use_irq && dev->wait_irq ? 1u : 0u);
    dev->reg_write(dev->ctx, REPQ_REG_CTRL, 1u);
    if (use_irq && dev->wait_irq) {
        dev->wait_irq(dev->ctx);
        dev->reg_write(dev->ctx, REPQ_REG_IRQ_STATUS, 1u);
    }
    do {
        s = repq_status(dev);
    } while (!(s & REPQ_STATUS_DONE));
    return (s & REPQ_STATUS_ERROR) ? REPQ_E_ENGINE : REPQ_OK;
}

int repq_read_logits(repq_dev *dev, int32_t *logits, uint32_t n) {
    repq_image_header h;
    uint32_t i;
    int e = header(dev, &h);
    if (e != REPQ_OK) return e;
    if (n > h.classes) return REPQ_E_IMAGE;
    for (i = 0; i < n; i++) logits[i] = (int32_t)rd32(dev->mem + h.logits_addr + 4 * i);
    return REPQ_OK;
}
