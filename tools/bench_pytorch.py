"""PyTorch reference throughput for a timm ViT/DeiT on CPU (the figure repq-hw is compared to).

Builds the timm model with random weights (no download), eval mode, float32, under
torch.no_grad() with torch.set_num_threads(THREADS), runs WARMUP untimed forwards on a random
[BATCH, 3, H, W] input and then times ITERS forwards, printing images/s (median and best) and
ms per batch. Nothing is written to disk.

Run, with the `python` of a virtual environment made with tools/requirements.txt:

    python tools/bench_pytorch.py [--model deit_small_patch16_224] [--batch 8]
        [--threads 2] [--warmup 3] [--iters 10]
"""

from __future__ import annotations

import argparse
import statistics
import time

import timm
import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="deit_small_patch16_224")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--iters", type=int, default=10)
    args = ap.parse_args()
    assert args.iters >= 1

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    model = timm.create_model(args.model, pretrained=False).eval()
    c, h, w = model.pretrained_cfg.get("input_size", (3, 224, 224))
    x = torch.randn(args.batch, c, h, w)
    nparams = sum(p.numel() for p in model.parameters())
    fused = getattr(getattr(model.blocks[0], "attn", None), "fused_attn", None) \
        if hasattr(model, "blocks") else None
    print(f"torch {torch.__version__}, timm {timm.__version__}, threads "
          f"{torch.get_num_threads()}, model {args.model} ({nparams / 1e6:.2f} M params), "
          f"input {tuple(x.shape)} float32, fused SDPA attention: {fused}")

    times = []
    with torch.no_grad():
        for _ in range(args.warmup):
            model(x)
        for _ in range(args.iters):
            t = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - t)

    med, best = statistics.median(times), min(times)
    print(f"{args.iters} timed iterations after {args.warmup} warm-up: "
          f"median {med * 1e3:.1f} ms/batch = {args.batch / med:.2f} images/s; "
          f"best {best * 1e3:.1f} ms/batch = {args.batch / best:.2f} images/s")


if __name__ == "__main__":
    main()
