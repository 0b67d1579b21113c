"""``wethink-verl prepare``: convert the WeThink release into verl / EasyR1 / SFT training files.

    wethink-verl prepare --input FILE.json|.jsonl --image-root DIR --output-dir OUT \\
        --format verl|easyr1|sft [--val-size N] [--seed S] [--embed-images] [--skip-bad] [--force] [--limit N]

Exit status: 0 done; 1 a bad row (named), an unreadable input or a failed write; 2 usage errors
(an --output-dir that is a file included) and refused overwrites; 130 interrupted (nothing is
left behind).
"""

from __future__ import annotations

import argparse
import signal
import sys


def _val_size(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value < 0 or (value >= 1 and value != int(value)):
        raise argparse.ArgumentTypeError("a row count (0, 1, 2, …) or a fraction in (0, 1)")
    return value


class _DefaultsFormatter(argparse.HelpFormatter):
    """Shows a default only where there is one worth showing."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.default is not None and action.default is not False and action.default != argparse.SUPPRESS and "default" not in text:
            text += " (default: %(default)s)"
        return text


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "prepare",
        help="convert WeThink JSON(L) + images to verl parquet, EasyR1 JSONL or LLaMA-Factory SFT JSON",
        description="Convert the WeThink release (JSON lines or a JSON array + the LLaVA-CoT images) into verl "
        "parquet, EasyR1 JSONL + format_prompt, or LLaMA-Factory sharegpt JSON. Exit status: 0 done; 1 a bad row "
        "(named) or an unreadable input; 2 usage errors and refused overwrites; 130 interrupted (nothing left behind).",
        formatter_class=_DefaultsFormatter,
    )
    p.add_argument("--input", required=True, help="the WeThink records: JSON lines or a JSON array")
    p.add_argument("--image-root", required=True, help="the LLaVA-CoT unzip root that image_path is relative to")
    p.add_argument("--output-dir", required=True, help="where the output files go (created if missing)")
    p.add_argument("--format", required=True, choices=("verl", "easyr1", "sft"), help="verl parquet, EasyR1 JSONL, or LLaMA-Factory SFT JSON")
    p.add_argument("--val-size", type=_val_size, default=0, help="validation rows (a count, or a fraction < 1), drawn at random with --seed")
    p.add_argument("--seed", type=int, default=0, help="seed of the validation draw")
    p.add_argument("--embed-images", action="store_true", help="verl: store image bytes in the parquet instead of paths")
    p.add_argument("--skip-bad", action="store_true", help="skip and count bad rows instead of stopping at the first one")
    p.add_argument("--force", action="store_true", help="replace existing output files")
    p.add_argument("--limit", type=int, default=None, help="read only the first N records")
    p.add_argument(
        "--system-prompt",
        choices=("system", "user", "none"),
        default=None,
        help="where WeThink's system prompt goes: the system turn, appended to the user turn (EasyR1 style), or nowhere; "
        "default: system for verl and sft, user for easyr1",
    )
    p.add_argument("--data-source", default="wethink", help="verl's data_source column")
    p.add_argument(
        "--image-paths",
        choices=("absolute", "relative"),
        default="absolute",
        help="image references in the output: absolute paths, or image_path as in the record (relative to --image-root)",
    )
    p.add_argument(
        "--image-check",
        choices=("decode", "header", "exists"),
        default="decode",
        help="decode every image (catches truncated files), read only its header (size), or only check it exists",
    )
    p.add_argument(
        "--allow-images-outside-root",
        action="store_true",
        help="let image_path resolve outside --image-root (absolute paths, '..', symlinks); by default such a row is bad",
    )
    p.add_argument(
        "--on-unknown",
        choices=("keep", "reject"),
        default="keep",
        help="a category/reward value the reward router does not map: keep the row (reported in the summary) or treat it as bad",
    )
    p.add_argument("--sft-target", choices=("think-answer", "cot"), default="think-answer", help="sft: <think>cot</think><answer>answer</answer>, or the CoT alone")
    p.add_argument("--workers", type=int, default=0, help="processes that check images; 0: one per core (up to 8) from 2000 rows, else in process; 1: in process")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    return p


def _on_sigterm(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def run(args: argparse.Namespace) -> int:
    from ..data.prepare import InputError, OutputExistsError, PrepareConfig, prepare
    from ..data.schema import BadRowError
    from ..data.workers import WorkerDied

    cfg = PrepareConfig(
        input=args.input, image_root=args.image_root, output_dir=args.output_dir, format=args.format,
        val_size=args.val_size, seed=args.seed, embed_images=args.embed_images, skip_bad=args.skip_bad,
        force=args.force, limit=args.limit, system_prompt=args.system_prompt, data_source=args.data_source,
        image_paths=args.image_paths, image_check=args.image_check, on_unknown=args.on_unknown,
        allow_images_outside_root=args.allow_images_outside_root,
        sft_target=args.sft_target, workers=args.workers, progress=not args.no_progress,
    )  # fmt: skip
    previous = signal.signal(signal.SIGTERM, _on_sigterm)  # SIGTERM cleans up like Ctrl-C
    try:
        result = prepare(cfg)
    except BadRowError as e:
        print(f"error: {e}\n(pass --skip-bad to skip and count bad rows; nothing was written)", file=sys.stderr)
        return 1
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except (OutputExistsError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: nothing was written", file=sys.stderr)
        return 130
    except (WorkerDied, OSError) as e:  # a worker killed from outside, a full disk, a permission
        print(f"error: {e} (nothing was written)", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)
    # The set is published: from here a Ctrl-C could only kill the exit (Python's finalizer puts
    # SIGINT back to SIG_DFL, and the process would die by the signal after a complete run).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    print(result.summary)
    print(f"\nwrote {', '.join(sorted(result.files.values()))}")
    return 0
