"""``convmath export CHECKPOINT``: the trained model as ONNX, or its weights for PyTorch.

``convmath export FILE.onnx --mean M --std S --class-names NAMES`` tells an ONNX
file from elsewhere its preprocessing instead (:func:`convmath.run.with_preprocessing`).
"""

from __future__ import annotations

import argparse
import stat
from pathlib import Path
from typing import Any

from convmath import limits
from convmath.cli.common import add_trust_code, option, same_file
from convmath.data.preprocessing import MIN_STD
from convmath.errors import InvalidArgumentError
from convmath.interop.onnx import export
from convmath.interop.onnx.export import DEFAULT_OPSET, MAX_OPSET, MIN_OPSET
from convmath.interop.torch import save_torch_weights
from convmath.run import load_trained, with_preprocessing
from convmath.schema import Integer, ListOf, Number, printable
from convmath.train.outputs import LOCK, RUN_FILES

FORMATS = {"onnx": ".onnx", "torch": ".torch.safetensors"}
TELLING = ("mean", "std", "class_names")  # the options that tell a file from elsewhere its own
TOLD_SUFFIX = "-told.onnx"  # what a told file is called by default: F.onnx -> F-told.onnx


def check_out(out: Path, checkpoint: Path, overwrite: bool) -> None:
    """Outputs never destroy inputs: ``out`` is neither the file read nor a run's own file
    (even with ``--overwrite``), and an existing file is replaced only with ``--overwrite``."""
    if same_file(out, checkpoint):  # a hard link to the checkpoint is the checkpoint too
        raise InvalidArgumentError(f"{out} is the file being exported; choose another --out")
    if out.name in (*RUN_FILES, LOCK):
        raise InvalidArgumentError(
            f"{out} is a name a training run gives its own files ({', '.join(RUN_FILES)});"
            f" export never writes over them, even with --overwrite; choose another --out"
        )
    try:
        found = out.lstat()
    except FileNotFoundError:
        return
    if not stat.S_ISREG(found.st_mode):
        raise InvalidArgumentError(f"{out} exists and is not a regular file; choose another --out")
    if not overwrite:
        raise InvalidArgumentError(
            f"{out} exists; pass --overwrite to replace it, or choose another --out"
        )


def _export(args: argparse.Namespace) -> int:
    if not args.checkpoint.name:  # "." or "/": no file, and no name to put beside it
        raise InvalidArgumentError(f"{args.checkpoint}: not a regular file")
    telling = any(getattr(args, name) is not None for name in TELLING)
    suffix = TOLD_SUFFIX if telling else FORMATS[args.format]
    out = args.out or args.checkpoint.with_name(args.checkpoint.stem + suffix)
    check_out(out, args.checkpoint, args.overwrite)  # before the checkpoint is even read
    if telling:
        return _tell(args, out)
    model, preprocessing, config = load_trained(args.checkpoint, trust_code=args.trust_code)
    shape = preprocessing.input_shape
    if args.format == "torch":
        path = save_torch_weights(model, shape, out, overwrite=args.overwrite)
        print(f"saved {path}: {config['model']['name']}'s weights as a PyTorch state_dict")
        return 0

    # every key, the dataset even where it is None: convmath reads the file back
    metadata = {
        "model": config["model"],
        "dataset": config.get("dataset"),
        "preprocessing": preprocessing.to_dict(),
    }
    layout = "NCHW" if args.nchw_input else "NHWC"
    opset = DEFAULT_OPSET if args.opset is None else args.opset
    path = export(
        model,
        shape,
        out,
        opset=opset,
        nchw_input=args.nchw_input,
        metadata=metadata,
        overwrite=args.overwrite,
    )
    dims = (shape[2], *shape[:2]) if args.nchw_input else shape
    print(
        f"saved {path}: {config['model']['name']}, opset {opset}, input (N, "
        + ", ".join(str(n) for n in dims)
        + f") {layout} float32, output (N, {len(preprocessing.classes)}) logits"
    )
    return 0


def _tell(args: argparse.Namespace, out: Path) -> int:
    """``--mean``, ``--std``, ``--class-names``: a copy of an ONNX file from elsewhere that
    says how its inputs are normalised and what its classes are, its graph untouched."""
    if args.checkpoint.suffix.lower() != ".onnx" or args.format != "onnx":
        raise InvalidArgumentError(
            "--mean, --std and --class-names tell an ONNX file from elsewhere its preprocessing;"
            f" got {args.checkpoint} with --format {args.format}"
        )
    if args.nchw_input or args.opset is not None:
        raise InvalidArgumentError(
            "--mean, --std and --class-names keep the file's graph as it is: leave out"
            " --nchw-input and --opset"
        )
    names = None if args.class_names is None else [n.strip() for n in args.class_names.split(",")]
    path = with_preprocessing(
        args.checkpoint,
        out,
        mean=args.mean,
        std=args.std,
        classes=names,
        overwrite=args.overwrite,
    )
    _, told, _ = load_trained(path)
    more = f" and {len(told.classes) - 10} more" if len(told.classes) > 10 else ""
    line = (
        f"saved {path}: {args.checkpoint.name}'s graph, its inputs X = (raw/255 - mean) / std"
        f" with mean {', '.join(f'{v:.4g}' for v in told.mean)} and std"
        f" {', '.join(f'{v:.4g}' for v in told.std)}, classes {', '.join(told.classes[:10])}"
    )
    print(printable(line) + more)  # the names may be the file's, from elsewhere
    return 0


def register(commands: Any) -> None:
    export = commands.add_parser(
        "export", help="a checkpoint as an ONNX model, or its weights as a PyTorch state_dict"
    )
    export.add_argument("checkpoint", type=Path, help="a checkpoint (.safetensors)")
    export.add_argument(
        "--format", choices=tuple(FORMATS), default="onnx", help="what to write (default onnx)"
    )
    export.add_argument(
        "--out",
        type=Path,
        help="the file (default: beside the checkpoint, .onnx or .torch.safetensors)",
    )
    export.add_argument(
        "--opset",
        type=option(Integer(MIN_OPSET, MAX_OPSET)),
        help=f"ONNX operator set, {MIN_OPSET}-{MAX_OPSET} (default {DEFAULT_OPSET})",
    )
    export.add_argument(
        "--nchw-input",
        action="store_true",
        help="the graph takes NCHW input (default: convmath's NHWC, with one Transpose inside)",
    )
    export.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the file --out names if it exists (never the checkpoint, nor a run's own"
        " files such as last.safetensors or history.json)",
    )
    numbers = ListOf(Number(-1e6, 1e6), limits.MAX_CHANNELS, 1)
    export.add_argument(
        "--mean",
        type=option(numbers),
        help="for an ONNX file from elsewhere: the mean its inputs are normalised by, one"
        " value or one per channel, of pixels scaled to [0, 1] (ImageNet: 0.485,0.456,0.406);"
        " writes a copy of the file that says so, its graph untouched (default: what the file says,"
        " else 0)",
    )
    export.add_argument(
        "--std",
        type=option(ListOf(Number(MIN_STD, 1e6), limits.MAX_CHANNELS, 1)),
        help="... and the standard deviation (ImageNet: 0.229,0.224,0.225; default: what the file"
        " says, else 1)",
    )
    export.add_argument(
        "--class-names",
        help="... and the names of its classes, in the order of its outputs (cat,dog,...;"
        " default: what the file says, else 0,1,...)",
    )
    add_trust_code(export)
    export.set_defaults(run=_export)
