"""JPEG decoding fixtures: small JPEGs written by Pillow and the pixels Pillow decodes from them.

Produces tests/fixtures/jpeg/ (relative to the repository root):

    <stem>.jpg              one JPEG per layout below, written by Pillow from one synthetic image
    decoded.safetensors     `<stem>` uint8 [H, W, 3]: Image.open(path).convert('RGB'), i.e. what
                            timm feeds its transform (libjpeg-turbo ISLOW IDCT, fancy upsampling;
                            gray replicated; CMYK converted by Pillow's formula)
    README.md               the layouts, sizes and the Pillow / libjpeg-turbo versions

Layouts (all 61 x 43 pixels, W x H, a size that is no multiple of the 8/16-pixel MCU, so edge
blocks and edge upsampling are exercised):

    q90_420       quality 90, 4:2:0 chroma subsampling (Pillow's default)
    q75_422       quality 75, 4:2:2
    q95_444       quality 95, 4:4:4
    q30_420       quality 30, 4:2:0 (coarse quantization: large IDCT outputs, clamping)
    progressive   progressive scans, quality 85, 4:2:0
    optimized     optimized Huffman tables, quality 80, 4:2:0
    restart       restart markers every MCU row, quality 85, 4:2:0
    gray          mode L (one component), quality 90
    cmyk          mode CMYK (four components, Adobe marker, inverted), quality 90
    rgb           keep_rgb=True: RGB components without the YCbCr transform, quality 90
    large_420     160 x 120, quality 92, 4:2:0 (a larger image, several MCUs per row)

Run from anywhere:

    python tools/make_jpeg_fixtures.py [--out DIR]
    python tools/make_jpeg_fixtures.py --sweep DIR --count N
        # not committed: N random JPEGs (sizes 1..200, every quality, layout and mode above)
        # and their decoded pixels in DIR, for tests/jpeg.rs's ignored sweep test
"""

from __future__ import annotations

import argparse
import io
import pathlib
import sys

import numpy as np
import PIL
import torch
from PIL import Image, features
from safetensors.torch import save_file

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from make_preprocess_fixtures import synth_rgb  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent

LAYOUTS = {
    "q90_420": ("RGB", dict(quality=90, subsampling=2)),
    "q75_422": ("RGB", dict(quality=75, subsampling=1)),
    "q95_444": ("RGB", dict(quality=95, subsampling=0)),
    "q30_420": ("RGB", dict(quality=30, subsampling=2)),
    "progressive": ("RGB", dict(quality=85, subsampling=2, progressive=True)),
    "optimized": ("RGB", dict(quality=80, subsampling=2, optimize=True)),
    "restart": ("RGB", dict(quality=85, subsampling=2, restart_marker_rows=1)),
    "gray": ("L", dict(quality=90)),
    "cmyk": ("CMYK", dict(quality=90)),
    "rgb": ("RGB", dict(quality=90, subsampling=0, keep_rgb=True)),
}


def encode(rgb: np.ndarray, mode: str, opts: dict) -> bytes:
    img = Image.fromarray(rgb, "RGB")
    if mode != "RGB":
        img = img.convert(mode)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", **opts)
    return buf.getvalue()


def decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


def fixtures(out: pathlib.Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    tensors = {}
    lines = []
    items = [(s, m, o, (61, 43)) for s, (m, o) in LAYOUTS.items()]
    items.append(("large_420", "RGB", dict(quality=92, subsampling=2), (160, 120)))
    for i, (stem, mode, opts, (w, h)) in enumerate(items):
        data = encode(synth_rgb(w, h, seed=100 + i), mode, opts)
        (out / f"{stem}.jpg").write_bytes(data)
        px = decode(data)
        assert px.shape == (h, w, 3), px.shape
        tensors[stem] = torch.from_numpy(np.ascontiguousarray(px))
        lines.append(f"| `{stem}.jpg` | {w}x{h} | {mode} | {opts} | {len(data)} |")
        print(f"{stem}: {len(data)} bytes")
    save_file(tensors, str(out / "decoded.safetensors"))
    (out / "README.md").write_text(
        "# JPEG decoding fixtures\n\n"
        "Written and decoded by `tools/make_jpeg_fixtures.py` with Pillow "
        f"{PIL.__version__} (libjpeg-turbo {features.version('libjpeg_turbo')}): each JPEG was "
        "saved by Pillow from one synthetic image, and `decoded.safetensors` holds, under the "
        "file's stem, `Image.open(path).convert('RGB')` as uint8 [H, W, 3]. tests/jpeg.rs "
        "checks that this crate decodes every pixel identically.\n\n"
        "| file | W x H | Pillow mode | save options | bytes |\n| --- | --- | --- | --- | --- |\n"
        + "\n".join(lines) + "\n"
    )


def sweep(out: pathlib.Path, count: int) -> None:
    """Random JPEGs for a wider (uncommitted) comparison."""
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    tensors = {}
    kinds = list(LAYOUTS.items())
    for i in range(count):
        w, h = (int(v) for v in rng.integers(1, 201, 2))
        mode, opts = kinds[i % len(kinds)][1]
        opts = dict(opts)
        opts["quality"] = int(rng.integers(1, 101))
        if mode == "RGB" and not opts.get("keep_rgb"):
            opts["subsampling"] = int(rng.integers(0, 3))
        if rng.random() < 0.3:
            rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)  # pure noise
        else:
            rgb = synth_rgb(w, h, seed=int(rng.integers(0, 1 << 30)))
        data = encode(rgb, mode, opts)
        stem = f"s{i:04d}"
        (out / f"{stem}.jpg").write_bytes(data)
        tensors[stem] = torch.from_numpy(np.ascontiguousarray(decode(data)))
    save_file(tensors, str(out / "decoded.safetensors"))
    print(f"{count} JPEGs in {out}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=pathlib.Path, default=ROOT / "tests/fixtures/jpeg")
    ap.add_argument("--sweep", type=pathlib.Path)
    ap.add_argument("--count", type=int, default=300)
    args = ap.parse_args()
    print(f"Pillow {PIL.__version__}, libjpeg-turbo {features.version('libjpeg_turbo')}")
    if args.sweep:
        sweep(args.sweep, args.count)
    else:
        fixtures(args.out)


if __name__ == "__main__":
    main()
