"""Train the embedded `swin-digits` model: a small timm Swin Transformer on the demo's digits.

Same data, split, normalization recipe and augmentation as tools/train_demo.py (it imports that
script's functions), so the two embedded models are comparable; 30 epochs, lr 2e-3, 2 warmup
epochs (assets/demo/README.md). The grid is
larger than the window in the first stage, so shifted windows and their masks are exercised:

    SwinTransformer(img_size=28, patch_size=2, in_chans=3, num_classes=10, embed_dim=32,
                    depths=(2, 2), num_heads=(2, 4), window_size=7, mlp_ratio=2.0)
    stage 0: 14x14 tokens, 7x7 windows, shift 3 (4 windows, masked when shifted)
    stage 1: 7x7 tokens after PatchMerging (width 64), one window, no shift

Writes to --out (default assets/demo/, where `--model swin-digits` reads it, embedded at build):

    swin_digits.safetensors   float32 state_dict with timm names (<= 4 MB)
    swin_digits.toml          sidecar: name, img_size, layer_norm_eps, global_pool, crop_pct,
                              crop_mode, interpolation, mean, std, labels

and prints the test top-1. Fixed seeds, torch.set_num_threads(2),
torch.use_deterministic_algorithms(True). Run with the venv of tools/requirements.txt:

    python tools/train_swin_digits.py [--out DIR] [--epochs N]
"""

from __future__ import annotations

import argparse
import math
import pathlib
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from timm.models.swin_transformer import SwinTransformer

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import train_demo as demo  # noqa: E402  (same directory)

ARCH = dict(img_size=28, patch_size=2, in_chans=3, num_classes=10, embed_dim=32,
            depths=(2, 2), num_heads=(2, 4), window_size=7, mlp_ratio=2.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=pathlib.Path, default=demo.ROOT / "assets/demo")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--weight-decay", type=float, default=0.05)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--label-smoothing", type=float, default=0.1)
    args = ap.parse_args()

    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True)
    demo.seed_everything(demo.SEED)
    args.out.mkdir(parents=True, exist_ok=True)

    tr_img, tr_lab, te_img, te_lab = demo.load_split()
    raw = demo.apply(demo.eval_transform(0.0, 1.0), tr_img)
    mean, std = round(raw.mean().item(), 4), round(raw.std().item(), 4)
    tf = demo.eval_transform(mean, std)
    x_tr, x_te = demo.apply(tf, tr_img), demo.apply(tf, te_img)
    y_tr = torch.from_numpy(tr_lab.astype(np.int64))
    y_te = torch.from_numpy(te_lab.astype(np.int64))

    model = SwinTransformer(**ARCH)
    for m in model.modules():
        if hasattr(m, "fused_attn"):
            m.fused_attn = False  # the unfused path repq-hw matches (and quantizes)
    shifts = [tuple(b.shift_size) for s in model.layers for b in s.blocks]
    nparams = sum(p.numel() for p in model.parameters())
    print(f"params {nparams}  shifts {shifts}  normalization mean={mean} std={std}")

    decay = [p for n, p in model.named_parameters()
             if p.ndim >= 2 and "relative_position_bias_table" not in n]
    no_decay = [p for n, p in model.named_parameters()
                if not (p.ndim >= 2 and "relative_position_bias_table" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=args.lr)
    steps_per_epoch = math.ceil(len(y_tr) / args.batch)
    total, warm = args.epochs * steps_per_epoch, args.warmup * steps_per_epoch

    def lr_at(step: int) -> float:
        if step < warm:
            return args.lr * (step + 1) / warm
        return 0.5 * args.lr * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))

    g = torch.Generator().manual_seed(demo.SEED)
    step, t0 = 0, time.time()
    for epoch in range(args.epochs):
        model.train()
        perm = torch.randperm(len(y_tr), generator=g)
        tot = 0.0
        for i in range(0, len(perm), args.batch):
            b = perm[i:i + args.batch]
            for group in opt.param_groups:
                group["lr"] = lr_at(step)
            loss = F.cross_entropy(model(demo.augment(x_tr[b], g)), y_tr[b],
                                   label_smoothing=args.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            tot += loss.item() * len(b)
            step += 1
        if epoch % 3 == 2 or epoch == args.epochs - 1:
            acc = demo.topk(demo.predict(model, x_te), y_te, 1)
            print(f"epoch {epoch + 1:3d}  loss {tot / len(y_tr):.4f}  test top-1 "
                  f"{acc * 100:.2f}%  ({time.time() - t0:.0f}s)", flush=True)

    model.eval()
    logits = demo.predict(model, x_te)
    print(f"final: test top-1 {demo.topk(logits, y_te, 1) * 100:.2f}%  "
          f"training time {time.time() - t0:.1f}s")
    sd = {k: v.detach().float().contiguous() for k, v in model.state_dict().items()}
    path = args.out / "swin_digits.safetensors"
    save_file(sd, str(path))
    labels = ", ".join(f'"{i}"' for i in range(10))
    (args.out / "swin_digits.toml").write_text(
        'name = "swin-digits"\n'
        "img_size = [28, 28]\n"
        f"layer_norm_eps = {model.norm.eps}\n"
        'global_pool = "avg"\n'
        "crop_pct = 1.0\n"
        'crop_mode = "center"\n'
        'interpolation = "bicubic"\n'
        f"mean = [{mean}, {mean}, {mean}]\n"
        f"std = [{std}, {std}, {std}]\n"
        f"labels = [{labels}]\n"
    )
    size_mb = path.stat().st_size / 2**20
    assert size_mb <= 4.0, size_mb
    print(f"wrote {path} ({size_mb:.2f} MB)")


if __name__ == "__main__":
    main()
