"""`dsgen-count-objects IMAGE OUTPUT_DIR`: the demo's tool, a small but real image analysis.

Smooths the image, thresholds it (Otsu, Li or Yen), removes specks, labels the
objects and measures each one (scikit-image), then writes objects.csv (one row per
object) and summary.json (the count and the threshold). A command-line program like
any other: the demo's Distributed-ObjectCounter runs it from its command template.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np
from skimage import color, filters, io, measure, morphology

THRESHOLDS = {"otsu": filters.threshold_otsu, "li": filters.threshold_li, "yen": filters.threshold_yen}


def as_gray(image: np.ndarray) -> np.ndarray:
    """A float image in [0, 1], whatever the file held (grey, RGB, RGBA)."""
    if image.ndim == 3:
        image = color.rgb2gray(image[..., :3])
    return image.astype(float) / (255.0 if image.dtype == np.uint8 else max(1.0, float(image.max())))


def foreground(gray: np.ndarray, method: str, min_area: int) -> tuple[np.ndarray, float]:
    """The object mask (bright objects on a dark background, or the reverse) and its threshold."""
    smooth = filters.gaussian(gray, sigma=1)
    threshold = float(THRESHOLDS[method](smooth))
    mask = smooth > threshold
    if mask.mean() > 0.5:  # objects darker than their background
        mask = ~mask
    # 8-connected, as measure.label below counts them
    return morphology.remove_small_objects(mask, max_size=min_area, connectivity=2), threshold


def count_objects(image_path: Path, output_dir: Path, method: str, min_area: int) -> dict:
    gray = as_gray(io.imread(image_path))
    mask, threshold = foreground(gray, method, min_area)
    labels = measure.label(mask)
    regions = measure.regionprops(labels, intensity_image=gray)
    output_dir.mkdir(parents=True, exist_ok=True)
    with (output_dir / "objects.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["label", "area", "centroid_row", "centroid_col", "mean_intensity"])
        for r in regions:
            writer.writerow(
                [r.label, int(r.area), f"{r.centroid[0]:.2f}", f"{r.centroid[1]:.2f}", f"{r.intensity_mean:.4f}"]
            )
    summary = {
        "image": image_path.name,
        "method": method,
        "threshold": threshold,  # unrounded: the measurements can be reproduced from it
        "min_area": min_area,
        "count": len(regions),
        "mean_area": round(float(np.mean([r.area for r in regions])), 2) if regions else 0.0,
    }
    (output_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dsgen-count-objects", description=__doc__.splitlines()[0])
    parser.add_argument("image", type=Path)
    parser.add_argument("output_dir", type=Path)
    parser.add_argument("--threshold", choices=sorted(THRESHOLDS), default="otsu")
    parser.add_argument("--min-area", type=int, default=20, help="smaller objects are specks (pixels)")
    args = parser.parse_args(argv)
    summary = count_objects(args.image, args.output_dir, args.threshold, args.min_area)
    print(f"{summary['image']}: {summary['count']} objects ({args.threshold} threshold {summary['threshold']:.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
