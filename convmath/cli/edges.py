"""``convmath edges``: the article's first example, edge filters on a real image."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from convmath import limits
from convmath.cli.common import embedded_digit, option, picture_out
from convmath.data.folder import image_size, read_image
from convmath.errors import InvalidArgumentError
from convmath.inspect.edges import FILTER_SETS, custom_filter, detect_edges, format_grid
from convmath.inspect.plots import plot_edges
from convmath.schema import Integer

LARGE_IMAGE = 24  # print whole grids only up to this size; summarise larger maps
MAX_PADDING = 256
MAX_STRIDE = 64
MAX_SIDE = 2048  # the article's example is a small image; larger ones are resized first
EDGE_ARRAYS = 13  # float64 arrays of the padded image's size alive at once (measured)


def _edges(args: argparse.Namespace) -> int:
    if args.save is not None:
        picture_out(args.save, "--save", [args.image] if args.image is not None else [])
    if args.image is not None:
        side = max(image_size(args.image))  # from the header: nothing decoded yet
        if side > MAX_SIDE:
            n_H, n_W = image_size(args.image)
            raise InvalidArgumentError(
                f"{args.image}: {n_H} x {n_W} pixels; edges works on images of up to"
                f" {MAX_SIDE} x {MAX_SIDE} (resize it first)"
            )
        image = read_image(args.image, mode="L")[..., 0].astype(np.float64)
        source = f"{args.image} (grayscale, 0-255)"
    else:
        image, label = embedded_digit(args.index)
        source = f"embedded UCI digit #{args.index} (label {label}, pixel counts 0-16, CC BY 4.0)"
    padded = (image.shape[0] + 2 * args.padding) * (image.shape[1] + 2 * args.padding)
    limits.check_memory(8 * EDGE_ARRAYS * padded, f"edge maps with padding {args.padding}")
    name = args.filter.strip().lower()
    filters = FILTER_SETS.get(name) or (("your filter", custom_filter(args.filter)),)
    maps = detect_edges(image, padding=args.padding, stride=args.stride, filters=filters)
    n_H_prev, n_W_prev = image.shape
    n_H, n_W = maps.maps[0].shape
    p, s = args.padding, args.stride
    print(f"image: {source}, {n_H_prev} x {n_W_prev}")
    print(f"filters: f = 3, p = {p}, s = {s}")
    print(
        f"output: n_H = floor(({n_H_prev} + 2*{p} - 3) / {s}) + 1 = {n_H},"
        f" n_W = floor(({n_W_prev} + 2*{p} - 3) / {s}) + 1 = {n_W}"
    )
    sections = [(_filter_title(name), f) for name, f in zip(maps.names, maps.filters, strict=True)]
    small = max(*image.shape, n_H, n_W) <= LARGE_IMAGE
    if small:
        sections.append(("image", image))
        sections += [
            (f"image * {name}{_MEANINGS.get(name, '')}", values)
            for name, values in zip(maps.names, maps.maps, strict=True)
        ]
        if maps.magnitude is not None:
            sections.append(("edge magnitude sqrt(V^2 + H^2)", maps.magnitude))
    for title, grid in sections:
        print(f"\n{title}:\n{format_grid(grid, _decimals(grid))}")
    if not small:
        for name, grid in zip(maps.names, maps.maps, strict=True):
            h, w = np.unravel_index(np.argmax(np.abs(grid)), grid.shape)
            print(
                f"\nimage * {name}: range {grid.min():.{_decimals(grid)}f} to"
                f" {grid.max():.{_decimals(grid)}f}, strongest at row {h}, column {w}"
            )
    if args.save is not None:
        plot_edges(maps, args.save)
        panels = " | ".join(["image", *maps.names] + (["magnitude"] * (maps.magnitude is not None)))
        print(f"\nsaved {args.save}: {panels}")
    return 0


_MEANINGS = {
    "VEF": " (vertical edges: + light-to-dark, - dark-to-light, left to right)",
    "HEF": " (horizontal edges, top to bottom)",
}


def _filter_title(name: str) -> str:
    titles = {
        "VEF": "vertical edge filter VEF",
        "HEF": "horizontal edge filter HEF = VEF^T",
        "your filter": "your filter",
    }
    return titles.get(name, f"{name} filter")


def _decimals(values: np.ndarray) -> int:
    """Whole numbers print as such; anything else with two decimals."""
    return 0 if np.all(np.asarray(values) == np.round(values)) else 2


def register(commands: Any) -> None:
    edges = commands.add_parser(
        "edges",
        help="apply the vertical and horizontal edge filters to a real image",
        description="The article's worked example: convolve a grayscale image with the vertical"
        " and horizontal edge filters (or Sobel's, or a 3x3 filter of your own) and show the"
        " maps. Uses a digit of the embedded dataset unless --image is given.",
    )
    edges.add_argument(
        "--image",
        type=Path,
        help="an image file (PNG, JPEG...; needs Pillow; default: an embedded digit, --index)",
    )
    edges.add_argument(
        "--index",
        type=option(Integer(0, 10**6)),
        default=0,
        help="which embedded digit (default 0)",
    )
    edges.add_argument(
        "--padding",
        type=option(Integer(0, MAX_PADDING)),
        default=0,
        help="zero padding p (default 0)",
    )
    edges.add_argument(
        "--stride",
        type=option(Integer(1, MAX_STRIDE)),
        default=1,
        help="stride s (default 1)",
    )
    edges.add_argument(
        "--filter",
        default="edges",
        help="edges (VEF and HEF), vertical, horizontal, sobel, or nine comma-separated numbers,"
        " row by row: a 3x3 filter of your own (write --filter=-1,0,1,... when the first number"
        " is negative; default edges)",
    )
    edges.add_argument(
        "--save",
        type=Path,
        help="also write the maps side by side to this PNG (default: print only)",
    )
    edges.set_defaults(run=_edges)
