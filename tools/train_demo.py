"""Train the embedded demo model (a tiny timm ViT on scikit-learn's 8x8 digits).

Produces assets/demo/ (relative to the repository root):

    deit_digits.safetensors   float32 state_dict with timm names (<= 4 MB)
    deit_digits.toml          sidecar: name, num_heads, layer_norm_eps, global_pool, crop_pct,
                              crop_mode, interpolation, mean, std, labels
    digits_test.safetensors   `images` uint8 [N, 8, 8] (the raw grayscale test digits) and
                              `labels` uint8 [N], in test-split order
    digits_calib.safetensors  `images` uint8 [32, 8, 8], `labels` uint8 [32]: 32 training
                              digits chosen with numpy default_rng(0), the calibration set
    reference.safetensors     `logits` float32 [N, 10]: eval-mode logits on the test split
                              through timm's eval transform; `inputs` float32 [8, 3, 28, 28]:
                              the transform's output for the first 8 test digits
    README.md                 architecture, parameter count, recipe, seed, accuracy, time

Data: sklearn.datasets.load_digits (1797 images, values 0..16, bundled with scikit-learn, no
download). Each digit becomes an 8-bit 8x8 grayscale image, pixel = np.round(v * 255 / 16)
(half-to-even; only v = 8 is a tie and gives 128). Stratified 80/20 split with
train_test_split(random_state=0); the 20% (360 digits) is the held-out test split.

Input pipeline = timm's eval transform, built with timm.data.create_transform(input_size=
(3, 28, 28), crop_pct=1.0, interpolation='bicubic', mean=(m,)*3, std=(s,)*3): PIL 8x8 'L'
image -> convert('RGB') -> PIL bicubic resize to 28x28 -> center crop 28 (no-op) -> ToTensor ->
Normalize. m and s are the mean and std of the training split's 28x28 ToTensor values,
rounded to 4 decimals. Training adds a random affine per image (rotation within +-10 degrees,
shift within +-1 pixel of the 28x28 image, bilinear, border padding) to the eval-transformed
tensors.

Model: timm VisionTransformer(img_size=28, patch_size=4, in_chans=3, num_classes=10,
embed_dim=96, depth=6, num_heads=3, mlp_ratio=4.0): 49 patch tokens + cls. AdamW, linear
warmup + cosine schedule, label smoothing, fixed seeds, torch.set_num_threads(2),
torch.use_deterministic_algorithms(True).

Run from anywhere, with the `python` of a virtual environment made with tools/requirements.txt:

    python tools/train_demo.py                 # train and write assets/demo/
    python tools/train_demo.py --export-imagefolder DIR
        # no training: read assets/demo/digits_test.safetensors and write the test split as an
        # ImageFolder, DIR/<label>/<i>.png (8x8 grayscale PNG), where <i> is the five-digit
        # position in the test split (row i of reference.safetensors `logits`), e.g. 00017.png
"""

from __future__ import annotations

import argparse
import math
import pathlib
import random
import time

import numpy as np
import timm
import timm.data
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file, save_file
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from timm.models.vision_transformer import VisionTransformer

ROOT = pathlib.Path(__file__).resolve().parent.parent
SEED = 0
ARCH = dict(img_size=28, patch_size=4, in_chans=3, num_classes=10, embed_dim=96, depth=6,
            num_heads=3, mlp_ratio=4.0)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def load_split():
    digits = load_digits()
    images = np.round(digits.images * 255.0 / 16.0).astype(np.uint8)  # [1797, 8, 8]
    labels = digits.target.astype(np.uint8)
    idx = np.arange(len(labels))
    train_idx, test_idx = train_test_split(idx, test_size=0.2, stratify=labels, random_state=0)
    return images[train_idx], labels[train_idx], images[test_idx], labels[test_idx]


def eval_transform(mean: float, std: float):
    return timm.data.create_transform(
        input_size=(3, 28, 28), crop_pct=1.0, interpolation="bicubic",
        mean=(mean,) * 3, std=(std,) * 3, is_training=False,
    )


def apply(tf, images: np.ndarray) -> torch.Tensor:
    return torch.stack([tf(Image.fromarray(im).convert("RGB")) for im in images])


def augment(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Random rotation (+-10 deg) and shift (+-1 px of 28) per image, bilinear, border pad."""
    n = x.shape[0]
    angle = (torch.rand(n, generator=g) * 2 - 1) * math.radians(10)
    shift = (torch.rand(n, 2, generator=g) * 2 - 1) * (2.0 / 28.0)  # normalized coords
    cos, sin = angle.cos(), angle.sin()
    theta = torch.stack(
        [torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1
    )
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


@torch.no_grad()
def predict(model, x: torch.Tensor, batch: int = 120) -> torch.Tensor:
    model.eval()
    return torch.cat([model(x[i:i + batch]) for i in range(0, len(x), batch)])


def topk(logits: torch.Tensor, labels: torch.Tensor, k: int) -> float:
    hit = (logits.topk(k, dim=1).indices == labels[:, None]).any(dim=1)
    return hit.float().mean().item()


def export_imagefolder(out: pathlib.Path, demo: pathlib.Path) -> None:
    data = load_file(str(demo / "digits_test.safetensors"))
    images, labels = data["images"].numpy(), data["labels"].numpy()
    for i, (im, lab) in enumerate(zip(images, labels)):
        d = out / str(int(lab))
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(im).save(d / f"{i:05d}.png")
    print(f"wrote {len(labels)} PNGs (8x8 grayscale) to {out}/<0..9>/")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=pathlib.Path, default=ROOT / "assets/demo")
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--weight-decay", type=float, default=0.05)
    ap.add_argument("--warmup", type=int, default=3, help="warmup epochs")
    ap.add_argument("--label-smoothing", type=float, default=0.1)
    ap.add_argument("--export-imagefolder", type=pathlib.Path, metavar="DIR",
                    help="only write the test split (from digits_test.safetensors) as PNGs")
    args = ap.parse_args()
    if args.export_imagefolder is not None:
        export_imagefolder(args.export_imagefolder, args.out)
        return

    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True)
    seed_everything(SEED)
    args.out.mkdir(parents=True, exist_ok=True)

    tr_img, tr_lab, te_img, te_lab = load_split()
    print(f"train {len(tr_lab)}  test {len(te_lab)}  "
          f"test class counts {np.bincount(te_lab, minlength=10).tolist()}")

    # Normalization constants from the training split's ToTensor values (after the resize).
    raw = apply(eval_transform(0.0, 1.0), tr_img)
    mean = round(raw.mean().item(), 4)
    std = round(raw.std().item(), 4)
    print(f"normalization: mean={mean} std={std} (raw {raw.mean():.6f} {raw.std():.6f})")
    tf = eval_transform(mean, std)
    print("eval transform: " + " | ".join(repr(t).replace("\n", "") for t in tf.transforms))
    x_tr, x_te = apply(tf, tr_img), apply(tf, te_img)
    y_tr = torch.from_numpy(tr_lab.astype(np.int64))
    y_te = torch.from_numpy(te_lab.astype(np.int64))

    model = VisionTransformer(**ARCH)
    nparams = sum(p.numel() for p in model.parameters())
    print(f"params {nparams}  fused attention {model.blocks[0].attn.fused_attn}")

    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "pos_embed" not in n
             and "cls_token" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and
                "pos_embed" not in n and "cls_token" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=args.lr)
    steps_per_epoch = math.ceil(len(y_tr) / args.batch)
    total, warm = args.epochs * steps_per_epoch, args.warmup * steps_per_epoch

    def lr_at(step: int) -> float:
        if step < warm:
            return args.lr * (step + 1) / warm
        return 0.5 * args.lr * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))

    g = torch.Generator().manual_seed(SEED)
    step = 0
    t0 = time.time()
    for epoch in range(args.epochs):
        model.train()
        perm = torch.randperm(len(y_tr), generator=g)
        tot_loss = 0.0
        for i in range(0, len(perm), args.batch):
            b = perm[i:i + args.batch]
            for group in opt.param_groups:
                group["lr"] = lr_at(step)
            xb = augment(x_tr[b], g)
            loss = F.cross_entropy(model(xb), y_tr[b], label_smoothing=args.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            tot_loss += loss.item() * len(b)
            step += 1
        if epoch % 5 == 4 or epoch == args.epochs - 1:
            acc = topk(predict(model, x_te), y_te, 1)
            print(f"epoch {epoch + 1:3d}  loss {tot_loss / len(y_tr):.4f}  test top-1 "
                  f"{acc * 100:.2f}%  ({time.time() - t0:.0f}s)", flush=True)
    train_time = time.time() - t0

    model.eval()
    logits = predict(model, x_te)
    top1, top5 = topk(logits, y_te, 1), topk(logits, y_te, 5)
    train_acc = topk(predict(model, x_tr), y_tr, 1)
    print(f"final: test top-1 {top1 * 100:.2f}%  top-5 {top5 * 100:.2f}%  "
          f"(train top-1 {train_acc * 100:.2f}%)  training time {train_time:.1f}s")

    sd = {k: v.detach().float().contiguous() for k, v in model.state_dict().items()}
    save_file(sd, str(args.out / "deit_digits.safetensors"))
    labels_toml = ", ".join(f'"{i}"' for i in range(10))
    (args.out / "deit_digits.toml").write_text(
        'name = "deit-digits"\n'
        f"num_heads = {ARCH['num_heads']}\n"
        f"layer_norm_eps = {model.blocks[0].norm1.eps}\n"
        f"global_pool = \"{model.global_pool}\"\n"
        "crop_pct = 1.0\n"
        'crop_mode = "center"\n'
        'interpolation = "bicubic"\n'
        f"mean = [{mean}, {mean}, {mean}]\n"
        f"std = [{std}, {std}, {std}]\n"
        f"labels = [{labels_toml}]\n"
    )
    save_file({"images": torch.from_numpy(np.ascontiguousarray(te_img)),
               "labels": torch.from_numpy(np.ascontiguousarray(te_lab))},
              str(args.out / "digits_test.safetensors"))

    # Calibration set: 32 training digits (the paper's 32 calibration images), chosen with a
    # seeded generator so the choice is reproducible; never from the test split.
    calib_idx = np.sort(np.random.default_rng(SEED).choice(len(tr_lab), size=32, replace=False))
    save_file({"images": torch.from_numpy(np.ascontiguousarray(tr_img[calib_idx])),
               "labels": torch.from_numpy(np.ascontiguousarray(tr_lab[calib_idx]))},
              str(args.out / "digits_calib.safetensors"))

    # Reference: recompute straight from the stored uint8 digits through the transform.
    stored = load_file(str(args.out / "digits_test.safetensors"))
    x_ref = apply(tf, stored["images"].numpy())
    assert torch.equal(x_ref, x_te)
    ref_logits = predict(model, x_ref).contiguous()
    save_file({"logits": ref_logits, "inputs": x_ref[:8].contiguous()},
              str(args.out / "reference.safetensors"))

    size_mb = (args.out / "deit_digits.safetensors").stat().st_size / 2**20
    assert size_mb <= 4.0, size_mb
    readme = README.format(
        nparams=nparams, mean=mean, std=std, epochs=args.epochs, batch=args.batch,
        lr=args.lr, wd=args.weight_decay, warmup=args.warmup, ls=args.label_smoothing,
        seed=SEED, top1=top1 * 100, top5=top5 * 100, train_acc=train_acc * 100,
        n_err=int((logits.argmax(1) != y_te).sum()), n_test=len(y_te), n_train=len(y_tr),
        time=train_time, size_mb=size_mb, torch=torch.__version__, timm=timm.__version__,
        max_logit=ref_logits.abs().max().item(),
    )
    (args.out / "README.md").write_text(readme)
    print(f"wrote {args.out}: deit_digits.safetensors ({size_mb:.2f} MiB), deit_digits.toml, "
          f"digits_calib.safetensors, digits_test.safetensors, reference.safetensors, README.md")


README = """\
# Demo model: `deit-digits`

A tiny timm Vision Transformer trained on scikit-learn's bundled handwritten digits
(`sklearn.datasets.load_digits`, 1797 8x8 images). Regenerate everything here with
`python tools/train_demo.py` (`python` of a virtual environment made with
`tools/requirements.txt`); write the test split as an ImageFolder (for
`repq-hw eval --data DIR`) with `tools/train_demo.py --export-imagefolder DIR`.

| | |
|---|---|
| architecture | `timm.models.vision_transformer.VisionTransformer(img_size=28, patch_size=4, in_chans=3, num_classes=10, embed_dim=96, depth=6, num_heads=3, mlp_ratio=4.0)`: 49 patch tokens + cls, token pooling, LayerNorm eps 1e-6 |
| parameters | {nparams:,} ({size_mb:.2f} MiB as float32 safetensors) |
| data | digit values 0..16 -> uint8 `np.round(v * 255 / 16)`; stratified 80/20 split, `train_test_split(random_state=0)`: {n_train} train, {n_test} test |
| preprocessing | timm eval transform: 8x8 `L` -> RGB, PIL bicubic resize to 28x28, center crop 28 (crop_pct 1.0), ToTensor, Normalize mean = {mean}, std = {std} (training split statistics, 4 decimals) |
| training | AdamW lr {lr} (weight decay {wd}, none on biases/norms/tokens), batch {batch}, {epochs} epochs, {warmup}-epoch linear warmup then cosine to 0, label smoothing {ls}, augmentation: random rotation +-10 deg and shift +-1 px (bilinear, border padding) |
| determinism | seed {seed} (`random`, `numpy`, `torch`), `torch.set_num_threads(2)`, `torch.use_deterministic_algorithms(True)`; torch {torch}, timm {timm} |
| result | test top-1 **{top1:.2f}%** ({n_err} errors of {n_test}), top-5 {top5:.2f}%; train top-1 {train_acc:.2f}% |
| training time | {time:.0f} s on 2 CPU threads (machine shared with other jobs; varies between runs) |

Files: `deit_digits.safetensors` (float32 state_dict, timm names) with its sidecar
`deit_digits.toml`; `digits_calib.safetensors` (32 training digits, seeded choice, the
calibration set of `repq-hw quantize`); `digits_test.safetensors` (`images` uint8 [N, 8, 8], `labels` uint8 [N], in
split order); `reference.safetensors` (`logits` f32 [N, 10], eval-mode logits of the test split
through the eval transform, max |logit| {max_logit:.3f}; `inputs` f32 [8, 3, 28, 28], the
transform's output for the first 8 test digits).
"""


if __name__ == "__main__":
    main()
