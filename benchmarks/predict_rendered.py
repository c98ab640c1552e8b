"""How well does an MNIST-trained LeNet-5 read digits typed in fonts? Before and after centring.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/predict_rendered.py \
        --data-dir DATA_DIR

Renders 0-9 in every DejaVu and STIX text font that matplotlib ships, black
on white, at several sizes and places on the page, and classifies each
picture three ways: resized only (the old ``convmath predict``), inverted
to light ink on dark as MNIST is, and inverted then cropped, fitted and
centred by mass as MNIST's digits were (``predict`` now, for an mnist
model). Trains LeNet-5 on MNIST for the given epochs first, unless
``--checkpoint`` names one. Prints one JSON line per way, then a table.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import emit

from convmath.data.centering import picture_input
from convmath.kernels.parallel import using_threads
from convmath.kernels.runtime import tune_allocator
from convmath.run import TrainConfig, load_trained, run_training
from convmath.train import predict

PLACES = [(0.5, 0.5, 0.7), (0.3, 0.35, 0.45), (0.7, 0.6, 0.5), (0.45, 0.7, 0.9)]  # x, y, size


def fonts() -> list[Path]:
    import matplotlib

    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    return sorted(
        path
        for path in folder.glob("*.ttf")
        if path.stem.startswith(("DejaVuSans", "DejaVuSerif", "STIXGeneral"))
        and "Display" not in path.stem
    )


def render(folder: Path) -> list[tuple[Path, int]]:
    """Each digit in each font at each place, black on a white 160x160 page."""
    from PIL import Image, ImageDraw, ImageFont

    pictures = []
    for font_path in fonts():
        for place, (x, y, scale) in enumerate(PLACES):
            font = ImageFont.truetype(str(font_path), int(160 * scale))
            for digit in range(10):
                page = Image.new("L", (160, 160), 255)
                ImageDraw.Draw(page).text((160 * x, 160 * y), str(digit), fill=0, font=font,
                                          anchor="mm")  # fmt: skip
                path = folder / f"{font_path.stem}-{place}-{digit}.png"
                page.save(path)
                pictures.append((path, digit))
    return pictures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="where MNIST is (for training)")
    parser.add_argument("--checkpoint", type=Path, help="an MNIST LeNet-5 (skips training)")
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    tune_allocator()
    with tempfile.TemporaryDirectory() as scratch, using_threads():
        scratch = Path(scratch)
        checkpoint = args.checkpoint
        if checkpoint is None:
            config = TrainConfig(
                dataset="mnist",
                model="lenet5",
                epochs=args.epochs,
                data_dir=args.data_dir,
                augment="none",
                label_smoothing=0.0,
            )
            result = run_training(config, scratch / "run", log=lambda line: None)
            emit({"trained": "lenet5 on mnist", "test_accuracy": result.metrics["test_accuracy"]})
            checkpoint = scratch / "run" / "best.safetensors"
        model, preprocessing, _ = load_trained(checkpoint)
        pictures = render(scratch)
        labels = np.array([digit for _, digit in pictures])
        ways = {
            "resized only (before)": {"invert": False, "center": False, "detect": False},
            "light ink on dark": {"invert": False, "center": False, "detect": True},
            "inverted, cropped, centred by mass (now)": {
                "invert": False,
                "center": True,
                "detect": True,
            },
        }
        rows = []
        for name, way in ways.items():
            batch = np.stack([
                _input(path, preprocessing.input_shape, way) for path, _ in pictures
            ])  # fmt: skip
            accuracy = float((predict(model, preprocessing, batch).argmax(axis=1) == labels).mean())
            emit({"way": name, "pictures": len(pictures), "accuracy": round(accuracy, 4)})
            rows.append((name, accuracy))
    print(f"\n{len(pictures)} pictures: {len(fonts())} fonts x {len(PLACES)} places x 10 digits")
    for name, accuracy in rows:
        print(f"{name:<45} {accuracy:6.1%}")


def _input(path: Path, shape: tuple[int, int, int], way: dict) -> np.ndarray:
    if way["detect"]:
        return picture_input(path, shape, invert=way["invert"], center=way["center"])
    from convmath.data import read_image

    return (read_image(path, mode="L", size=shape[:2]) / 255).astype(np.float32)


if __name__ == "__main__":
    main()
