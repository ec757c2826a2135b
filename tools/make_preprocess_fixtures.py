"""Preprocessing fixtures: small synthetic images and timm's eval-transform outputs for them.

Produces tests/fixtures/preprocess/ (relative to the repository root):

    a_landscape.jpg   RGB JPEG 320x240 (W x H), quality 90 (PIL default 4:2:0 subsampling)
    b_portrait.png    RGB 131x197
    c_gray.png        mode L 60x45
    d_rgba.png        RGBA 100x100, alpha varies across the image (colour under it too)
    e_tiny.png        RGB 8x8
    preprocess.safetensors, for each image stem S:
        S.decoded  uint8   [H, W, 3]     Image.open(path).convert('RGB') (what timm feeds the
                                         transform; RGBA->RGB drops alpha, L->RGB replicates)
        S.deit     float32 [3, 224, 224] timm eval transform of deit_tiny_patch16_224
                                         (resolve_data_config: crop_pct 0.9 -> shorter side
                                         248, bicubic, center crop 224, ImageNet mean/std)
        S.small    float32 [3, 28, 28]   input_size (3,28,28), crop_pct 1.0, bicubic,
                                         mean = std = (0.5, 0.5, 0.5)
        S.wide     float32 [3, 48, 80]   input_size (3,48,80), crop_pct 0.9, bicubic, ImageNet
                                         mean/std (timm's ResizeKeepRatio towards
                                         (floor(48/0.9), floor(80/0.9)) = (53, 88), then
                                         center crop)
    README.md         one paragraph describing the above

The images are generated from fixed seeds (smooth gradients + shapes + noise + slight blur,
so resampling is exercised). The script prints, per image and transform, the size timm
resized to and the crop offsets, so the Rust side can be checked.

Run from anywhere, with the `python` of a virtual environment made with tools/requirements.txt:

    python tools/make_preprocess_fixtures.py [--out DIR]
"""

from __future__ import annotations

import argparse
import pathlib
import textwrap

import numpy as np
import timm
import timm.data
import torch
import torchvision.transforms as T
from PIL import Image, ImageDraw, ImageFilter
from safetensors.torch import save_file
from timm.data.transforms import ResizeKeepRatio

ROOT = pathlib.Path(__file__).resolve().parent.parent


def synth_rgb(w: int, h: int, seed: int) -> np.ndarray:
    """A smooth, 'natural-looking' RGB picture: gradients, a few shapes, noise, slight blur."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    u, v = xx / max(w - 1, 1), yy / max(h - 1, 1)
    base = np.stack(
        [
            0.55 + 0.35 * np.sin(2.1 * u + 1.3 * v + rng.uniform(0, 6)),
            0.45 + 0.30 * np.cos(3.0 * v - 1.1 * u + rng.uniform(0, 6)),
            0.35 + 0.40 * (1 - v) * (0.6 + 0.4 * u),
        ],
        axis=-1,
    )
    img = Image.fromarray(np.clip(base * 255, 0, 255).round().astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(img)
    for _ in range(4):
        x0, y0 = rng.uniform(-0.1, 0.8) * w, rng.uniform(-0.1, 0.8) * h
        x1 = x0 + rng.uniform(0.15, 0.5) * w
        y1 = y0 + rng.uniform(0.15, 0.5) * h
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            draw.ellipse([x0, y0, x1, y1], fill=colour)
        else:
            draw.rectangle([x0, y0, x1, y1], fill=colour)
    draw.line([(0, h * 0.7), (w, h * 0.3)], fill=(250, 250, 240), width=max(1, w // 60))
    if min(w, h) >= 16:
        img = img.filter(ImageFilter.GaussianBlur(radius=0.8))
    arr = np.asarray(img).astype(np.float64)
    arr += rng.normal(0.0, 6.0, arr.shape)
    return np.clip(arr, 0, 255).round().astype(np.uint8)


def make_images(out: pathlib.Path) -> list[pathlib.Path]:
    paths = []

    p = out / "a_landscape.jpg"
    Image.fromarray(synth_rgb(320, 240, seed=11), "RGB").save(p, quality=90)
    paths.append(p)

    p = out / "b_portrait.png"
    Image.fromarray(synth_rgb(131, 197, seed=12), "RGB").save(p)
    paths.append(p)

    p = out / "c_gray.png"
    Image.fromarray(synth_rgb(60, 45, seed=13), "RGB").convert("L").save(p)
    paths.append(p)

    p = out / "d_rgba.png"
    rgb = synth_rgb(100, 100, seed=14)
    yy, xx = np.mgrid[0:100, 0:100]
    alpha = np.clip(255 * (0.15 + 0.85 * xx / 99) * (0.5 + 0.5 * np.cos(yy / 15.0)), 0, 255)
    alpha[40:60, 40:60] = 0  # fully transparent square whose colour must still be kept
    rgba = np.concatenate([rgb, alpha.round().astype(np.uint8)[..., None]], axis=-1)
    Image.fromarray(rgba, "RGBA").save(p)
    paths.append(p)

    p = out / "e_tiny.png"
    Image.fromarray(synth_rgb(8, 8, seed=15), "RGB").save(p)
    paths.append(p)
    return paths


def describe(tf: T.Compose, img: Image.Image) -> str:
    """Which size the transform's resize step produced, and where the center crop started."""
    resize, crop = tf.transforms[0], tf.transforms[1]
    resized = resize(img)
    rw, rh = resized.size
    ch, cw = crop.size
    top, left = int(round((rh - ch) / 2.0)), int(round((rw - cw) / 2.0))
    return f"{type(resize).__name__} -> {rh}x{rw} (HxW), crop {ch}x{cw} at top={top} left={left}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=pathlib.Path, default=ROOT / "tests/fixtures/preprocess")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(2)

    model = timm.create_model("deit_tiny_patch16_224", pretrained=False)
    cfg = timm.data.resolve_data_config({}, model=model)
    transforms = {
        "deit": timm.data.create_transform(**cfg),
        "small": timm.data.create_transform(
            input_size=(3, 28, 28), crop_pct=1.0, interpolation="bicubic",
            mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), is_training=False,
        ),
        "wide": timm.data.create_transform(
            input_size=(3, 48, 80), crop_pct=0.9, interpolation="bicubic",
            mean=timm.data.IMAGENET_DEFAULT_MEAN, std=timm.data.IMAGENET_DEFAULT_STD,
            is_training=False,
        ),
    }
    print(f"deit_tiny data config: {cfg}")
    for key, tf in transforms.items():
        print(f"[{key}] " + " | ".join(repr(t).replace("\n", "") for t in tf.transforms))
    assert isinstance(transforms["wide"].transforms[0], ResizeKeepRatio)

    tensors: dict[str, torch.Tensor] = {}
    for path in make_images(args.out):
        stem = path.stem
        raw = Image.open(path)
        rgb = raw.convert("RGB")
        tensors[f"{stem}.decoded"] = torch.from_numpy(np.array(rgb, dtype=np.uint8)).contiguous()
        print(f"{path.name}: mode {raw.mode}, {rgb.width}x{rgb.height} (WxH)")
        for key, tf in transforms.items():
            out = tf(rgb)
            assert out.dtype == torch.float32
            tensors[f"{stem}.{key}"] = out.contiguous()
            print(f"  {key:5s}: {describe(tf, rgb)}; out {tuple(out.shape)} "
                  f"range [{out.min():.4f}, {out.max():.4f}]")

    save_file(tensors, str(args.out / "preprocess.safetensors"))
    paragraph = textwrap.fill(" ".join(README.split()), width=96, break_on_hyphens=False)
    (args.out / "README.md").write_text(f"# Preprocessing fixtures\n\n{paragraph}\n")
    print(f"wrote {len(tensors)} tensors to {args.out / 'preprocess.safetensors'}")


README = """\
Generated by `tools/make_preprocess_fixtures.py` (timm 1.0.31, torchvision 0.29.2, Pillow 13.0.0):
five synthetic images, `a_landscape.jpg` (RGB JPEG 320x240, quality 90), `b_portrait.png`
(RGB 131x197), `c_gray.png` (L 60x45), `d_rgba.png` (RGBA 100x100, varying alpha) and
`e_tiny.png` (RGB 8x8), sizes as WxH, and `preprocess.safetensors` holding for each stem `S`:
`S.decoded` (uint8 [H, W, 3], `Image.open(p).convert('RGB')`, which drops alpha rather than
compositing and replicates gray), `S.deit` (f32 [3, 224, 224], timm's eval transform for
`deit_tiny_patch16_224`: crop_pct 0.9, shorter side to 248 with the longer side
`int(248 * long / short)`, PIL bicubic, center crop at offsets `round((size - crop) / 2)`
with Python's half-to-even `round`, ImageNet mean/std), `S.small` (f32 [3, 28, 28]:
crop_pct 1.0, bicubic, mean = std = 0.5) and `S.wide` (f32 [3, 48, 80]: crop_pct 0.9, bicubic, ImageNet mean/std; timm's `ResizeKeepRatio`
towards (53, 88) divides H and W by `r = min(H/53, W/88)` and rounds each with Python's
`round`, then center-crops). JPEG decoders may differ by a few levels, so compare the
transforms starting from `S.decoded`.
"""


if __name__ == "__main__":
    main()
