"""The ``convmath`` command.

Errors of the library (bad input, bad files) are printed as one line on
standard error, without a traceback, and the command exits with status 2 (as for a bad option).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from convmath import __version__
from convmath.errors import ConvMathError, InvalidArgumentError

LARGE_IMAGE = 24  # print whole grids only up to this size; summarise larger maps


def _edges(args: argparse.Namespace) -> int:
    from convmath.data import load_digits
    from convmath.edges import (
        HORIZONTAL_EDGE_FILTER,
        VERTICAL_EDGE_FILTER,
        detect_edges,
        format_grid,
        load_grayscale_image,
        save_edge_panels,
    )

    if args.image is not None:
        image = load_grayscale_image(args.image)
        source = f"{args.image} (grayscale, 0-255)"
    else:
        images, labels = load_digits()
        if not 0 <= args.index < len(images):
            raise InvalidArgumentError(
                f"--index must be in 0..{len(images) - 1} for the {len(images)} embedded digits,"
                f" got {args.index}"
            )
        image = images[args.index]
        source = (
            f"embedded UCI digit #{args.index} (label {labels[args.index]},"
            f" pixel counts 0-16, CC BY 4.0)"
        )
    maps = detect_edges(image, padding=args.padding)
    n_H_prev, n_W_prev = image.shape
    n_H, n_W = maps.vertical.shape
    p = args.padding
    print(f"image: {source}, {n_H_prev} x {n_W_prev}")
    print(f"filters: f = 3, p = {p}, s = 1")
    print(
        f"output: n_H = floor(({n_H_prev} + 2*{p} - 3) / 1) + 1 = {n_H},"
        f" n_W = floor(({n_W_prev} + 2*{p} - 3) / 1) + 1 = {n_W}"
    )
    sections = [
        ("vertical edge filter VEF", VERTICAL_EDGE_FILTER),
        ("horizontal edge filter HEF = VEF^T", HORIZONTAL_EDGE_FILTER),
    ]
    small = max(*image.shape, *maps.vertical.shape) <= LARGE_IMAGE
    if small:
        sections += [
            ("image", image),
            (
                "image * VEF (vertical edges: + light-to-dark, - dark-to-light, left to right)",
                maps.vertical,
            ),
            ("image * HEF (horizontal edges, top to bottom)", maps.horizontal),
            ("edge magnitude sqrt(V^2 + H^2)", maps.magnitude),
        ]
    for title, grid in sections:
        print(f"\n{title}:\n{format_grid(grid)}")
    if not small:
        for name, grid in (("vertical", maps.vertical), ("horizontal", maps.horizontal)):
            h, w = np.unravel_index(np.argmax(np.abs(grid)), grid.shape)
            print(
                f"\n{name} edges: range {grid.min():.0f} to {grid.max():.0f},"
                f" strongest at row {h}, column {w}"
            )
    if args.save is not None:
        if args.save.suffix.lower() != ".png":
            raise InvalidArgumentError(f"--save writes a PNG file; got {args.save}")
        width, height = save_edge_panels(maps, args.save)
        print(
            f"\nsaved {args.save} ({width} x {height}): image | vertical | horizontal | magnitude"
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="convmath",
        description="Convolutional neural networks from first principles, on NumPy.",
    )
    parser.add_argument("--version", action="version", version=f"convmath {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    edges = commands.add_parser(
        "edges",
        help="apply the vertical and horizontal edge filters to a real image",
        description="The article's worked example: convolve a grayscale image with the vertical"
        " and horizontal edge filters and show the edge maps. Uses a digit of the embedded"
        " dataset unless --image is given.",
    )
    edges.add_argument("--image", type=Path, help="an image file (PNG, JPEG...; needs Pillow)")
    edges.add_argument("--index", type=int, default=0, help="which embedded digit (default 0)")
    edges.add_argument("--padding", type=int, default=0, help="zero padding p (default 0)")
    edges.add_argument("--save", type=Path, help="also write the maps side by side to this PNG")
    edges.set_defaults(run=_edges)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (ConvMathError, OSError) as error:
        print(f"convmath {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
