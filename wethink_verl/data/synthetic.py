"""A deterministic WeThink-style dataset: tiny Pillow images and questions of all three categories.

Used by the tests, the prepare benchmark and the end-to-end demo. Every record has WeThink's
fields (``problem``, ``answer``, ``category``, ``abilities``, ``refined_cot``, ``image_path``,
``reward``) and the release's quirks at fixed rates: answers wrapped in ``<answer>`` tags,
CoTs wrapped in ``<think>`` tags, CRLF and trailing spaces, and problems containing a literal
``<image>`` (an HTML question) or ``<|image_pad|>``. Scenes are bar charts (PNG), coloured
shapes (JPEG) and text signs (PNG, OCR). ``image_path`` is relative to the returned image root,
laid out like the LLaVA-CoT archive's sub-folders.

    records, image_root = write_synthetic_wethink("/tmp/wt", 200, seed=0)
    records, image_root = write_synthetic_wethink("/tmp/wt", 200, bad_rows=True)   # one of each BAD_ROW_KINDS
    bad_row_positions(200)  # {"missing image": 28, ...}: where they are
"""

from __future__ import annotations

import json
import os
import random
from fractions import Fraction
from math import gcd
from typing import Iterable

CATEGORY_MC, CATEGORY_FILL, CATEGORY_DESC = "multiple choice", "fill-in-the-blank", "descriptive"
REWARD_RULE, REWARD_MODEL = "rule-based", "model-based"

# each kind breaks one rule; the reason prepare reports for it
BAD_ROW_KINDS = {
    "missing image": "missing image",
    "truncated image": "corrupt image",
    "empty problem": "empty problem",
    "missing answer": "missing answer",
    "empty answer": "empty answer",
    "unknown category": "unknown category",  # reported and kept unless on_unknown="reject"
    "invalid json": "invalid json",  # JSONL only (a broken JSON array cannot be resynchronised)
}

COLORS = {"red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 80, 220), "orange": (240, 150, 30), "purple": (140, 60, 180)}
SHAPES = ("circle", "square", "triangle")
WORDS = ("STOP", "EXIT", "OPEN", "CAFE", "PARK", "SALE", "BUS", "HOTEL", "PHARMACY", "NORTH")
LETTERS = "ABCDE"


def bad_row_positions(n_rows: int, kinds: Iterable[str] | None = None) -> dict[str, int]:
    """Row index of each injected bad row (spread over the file, never the first row)."""
    kinds = list(BAD_ROW_KINDS if kinds is None else kinds)
    unknown = set(kinds) - set(BAD_ROW_KINDS)
    if unknown:
        raise ValueError(f"unknown bad-row kinds {sorted(unknown)}; known: {list(BAD_ROW_KINDS)}")
    if n_rows < 2 * len(kinds) + 1:
        raise ValueError(f"need at least {2 * len(kinds) + 1} rows to inject {len(kinds)} bad rows")
    step = n_rows // (len(kinds) + 1)
    return {kind: step * (i + 1) for i, kind in enumerate(kinds)}


# ---- scenes -------------------------------------------------------------------------------------
def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def _chart(rng: random.Random, size: tuple[int, int]):
    from PIL import Image, ImageDraw

    names = rng.sample(list(COLORS), rng.randint(3, 4))
    values = rng.sample(range(5, 60), len(names))
    w, h = size
    im = Image.new("RGB", size, "white")
    d = ImageDraw.Draw(im)
    d.line([(4, h - 6), (w - 2, h - 6)], fill="black")
    bar_w = (w - 10) // len(names)
    for k, (name, value) in enumerate(zip(names, values)):
        x0 = 6 + k * bar_w
        d.rectangle([x0 + 2, h - 6 - int(value / 60 * (h - 12)), x0 + bar_w - 3, h - 7], fill=COLORS[name])
    return im, {"kind": "chart", "names": names, "values": values}


def _shapes(rng: random.Random, size: tuple[int, int]):
    from PIL import Image, ImageDraw

    w, h = size
    im = Image.new("RGB", size, (235, 235, 235))
    d = ImageDraw.Draw(im)
    items = []
    for _ in range(rng.randint(2, 6)):
        shape, color = rng.choice(SHAPES), rng.choice(list(COLORS))
        r = rng.randint(5, 9)
        x, y = rng.randint(r, w - r - 1), rng.randint(r, h - r - 1)
        if shape == "circle":
            d.ellipse([x - r, y - r, x + r, y + r], fill=COLORS[color])
        elif shape == "square":
            d.rectangle([x - r, y - r, x + r, y + r], fill=COLORS[color])
        else:
            d.polygon([(x, y - r), (x - r, y + r), (x + r, y + r)], fill=COLORS[color])
        items.append((shape, color))
    return im, {"kind": "shapes", "items": items}


def _sign(rng: random.Random, size: tuple[int, int]):
    from PIL import Image, ImageDraw

    word = rng.choice(WORDS)
    w, h = size
    bg = rng.choice(list(COLORS))
    im = Image.new("RGB", size, (250, 250, 245))
    d = ImageDraw.Draw(im)
    d.rectangle([4, h // 4, w - 5, 3 * h // 4], fill=COLORS[bg])
    d.text((8, h // 4 + 4), word, fill="white", font=_font(max(8, h // 5)))
    return im, {"kind": "sign", "word": word, "color": bg}


_SCENES = {"chart": (_chart, "chartqa/train/png", "png"), "shapes": (_shapes, "CLEVR_v1.0/images/train", "jpg"), "sign": (_sign, "ocr_vqa/images", "png")}


def _options(rng: random.Random, correct: str, pool: list[str]) -> tuple[str, str]:
    """(option block, correct letter)."""
    choices = list(dict.fromkeys([correct] + [p for p in rng.sample(pool, len(pool)) if p != correct]))[:4]
    rng.shuffle(choices)
    block = "\n".join(f"{LETTERS[k]}. {c}" for k, c in enumerate(choices))
    return block, LETTERS[choices.index(correct)]


def _question(rng: random.Random, scene: dict) -> dict:
    """A WeThink record (without image_path) about a scene."""
    kind = scene["kind"]
    if kind == "chart":
        names, values = scene["names"], scene["values"]
        top = names[values.index(max(values))]
        q = rng.choice(["mc", "value", "ratio", "describe"])
        if q == "mc":
            block, letter = _options(rng, top, list(COLORS))
            return _rec(f"Which color has the tallest bar in the chart?\n{block}", letter, CATEGORY_MC, "Recognition, Reasoning",
                        f"Comparing bar heights, the {top} bar reaches {max(values)}, higher than the others, so the answer is option {letter}.")  # fmt: skip
        if q == "value":
            k = rng.randrange(len(names))
            return _rec(f"What is the value of the {names[k]} bar?", str(values[k]), CATEGORY_FILL, "OCR, Reasoning",
                        f"Reading the {names[k]} bar against the axis gives {values[k]}.")  # fmt: skip
        if q == "ratio":
            a, b = rng.sample(range(len(names)), 2)
            frac = Fraction(values[a], values[b])
            ans = str(frac.numerator) if frac.denominator == 1 else f"\\frac{{{frac.numerator}}}{{{frac.denominator}}}"
            return _rec(f"What is the ratio of the {names[a]} bar to the {names[b]} bar? Give a simplified fraction.", ans,
                        CATEGORY_FILL, "Recognition, Math, Reasoning",
                        f"The {names[a]} bar is {values[a]} and the {names[b]} bar is {values[b]}; dividing by their gcd "
                        f"{gcd(values[a], values[b])} gives {frac}.")  # fmt: skip
        desc = f"A bar chart with {len(names)} bars ({', '.join(names)}); the {top} bar is the tallest at {max(values)}."
        return _rec("Describe the chart in one sentence.", desc, CATEGORY_DESC, "Recognition, Language generation, Reasoning",
                    f"I look at each bar in turn: {', '.join(f'{n} {v}' for n, v in zip(names, values))}.", REWARD_MODEL)  # fmt: skip
    if kind == "shapes":
        items = scene["items"]
        counts = {s: sum(1 for it in items if it[0] == s) for s in SHAPES}
        q = rng.choice(["mc", "count", "count", "describe"])
        if q == "mc" and list(counts.values()).count(max(counts.values())) == 1:
            most = max(counts, key=counts.get)
            block, letter = _options(rng, most, list(SHAPES))
            return _rec(f"Which shape appears most often?\n{block}", letter, CATEGORY_MC, "Recognition, Spatial awareness, Reasoning",
                        f"Counting shapes: {counts}. The {most} is the most frequent, option {letter}.")  # fmt: skip
        if q in ("mc", "count"):
            shape = rng.choice(SHAPES)
            return _rec(f"How many {shape}s are in the image?", str(counts[shape]), CATEGORY_FILL, "Recognition, Reasoning",
                        f"I count the {shape}s one by one and find {counts[shape]}.")  # fmt: skip
        desc = f"{len(items)} coloured shapes on a grey background: " + ", ".join(f"a {c} {s}" for s, c in items) + "."
        return _rec("Describe the objects in the image.", desc, CATEGORY_DESC, "Recognition, Language generation, Reasoning",
                    "I list every object with its colour and shape.", REWARD_MODEL)  # fmt: skip
    word, color = scene["word"], scene["color"]
    q = rng.choice(["word", "mc", "describe"])
    if q == "word":
        return _rec("What word is written on the sign?", word, CATEGORY_FILL, "OCR, Reasoning",
                    f"The white letters on the sign spell {word}.")  # fmt: skip
    if q == "mc":
        block, letter = _options(rng, color, list(COLORS))
        return _rec(f"What is the background color of the sign?\n{block}", letter, CATEGORY_MC, "Recognition, Reasoning",
                    f"The sign's background is {color}, option {letter}.")  # fmt: skip
    return _rec("Describe the sign.", f"A {color} sign with the word {word} written in white.", CATEGORY_DESC,
                "Recognition, OCR, Language generation, Reasoning", "The sign has a coloured panel with white text.", REWARD_MODEL)  # fmt: skip


def descriptive_examples(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """``n`` (question, reference) pairs of the descriptive kind, from fresh random scenes."""
    rng = random.Random(seed)
    out: list[tuple[str, str]] = []
    while len(out) < n:
        draw = _SCENES[rng.choice(list(_SCENES))][0]
        scene = draw(rng, (48, 36))[1]
        rec = _question(rng, scene)
        if rec["category"] == CATEGORY_DESC:
            out.append((rec["problem"], rec["answer"]))
    return out


def _rec(problem: str, answer: str, category: str, abilities: str, cot: str, reward: str = REWARD_RULE) -> dict:
    return {"problem": problem, "answer": answer, "category": category, "abilities": abilities, "refined_cot": cot, "reward": reward}


def _quirks(i: int, rec: dict) -> dict:
    """The release's quirks at fixed rates (see wethink-method.md)."""
    if i % 7 == 3:
        rec["answer"] = f"<answer> {rec['answer']} </answer>"
    if i % 5 == 2:
        rec["refined_cot"] = f"<think>{rec['refined_cot']}</think>"
    if i % 9 == 4:
        rec["refined_cot"] = f"<think>\n{rec['refined_cot']}\n</think>\n<answer>{rec['answer']}</answer>"
    if i % 11 == 5:
        rec["problem"] = "  " + rec["problem"].replace("\n", "  \r\n") + " \n\n\n"
    if i % 13 == 6:
        rec["problem"] = "This picture was embedded in a web page with an <image> tag.\n" + rec["problem"]
    if i % 29 == 8:
        rec["problem"] = rec["problem"] + "\n(Exported from a tool that printed <|image_pad|> and <video> markers.)"
    return rec


def write_synthetic_wethink(
    out_dir: str | os.PathLike,
    n_rows: int,
    seed: int = 0,
    bad_rows: bool | Iterable[str] = False,
    fmt: str = "jsonl",
    image_size: tuple[int, int] = (96, 72),
    rows_per_image: int = 1,
) -> tuple[str, str]:
    """Write ``records.jsonl`` (or ``records.json`` with fmt="json") and ``images/`` under out_dir.

    Returns (records_path, image_root). ``bad_rows=True`` injects one row of every kind in
    BAD_ROW_KINDS (only those valid for the format), or pass the kinds; positions come from
    :func:`bad_row_positions`. Rows ``rows_per_image`` apart share an image, as in the release.
    """
    if fmt not in ("jsonl", "json"):
        raise ValueError("fmt must be 'jsonl' or 'json'")
    kinds = _bad_kinds(bad_rows, fmt)
    bad_at = {i: k for k, i in bad_row_positions(n_rows, kinds).items()} if kinds else {}
    out_dir = os.fspath(out_dir)
    image_root = os.path.join(out_dir, "images")
    os.makedirs(image_root, exist_ok=True)
    rng = random.Random(seed)
    records_path = os.path.join(out_dir, "records.jsonl" if fmt == "jsonl" else "records.json")
    tmp = records_path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("[\n" if fmt == "json" else "")
        scene, rel = None, None
        for i in range(n_rows):
            if i % rows_per_image == 0 or scene is None:
                kind = ("chart", "shapes", "sign")[(i // rows_per_image) % 3]
                scene, rel = _write_image(rng, kind, image_root, f"wt_{seed}_{i:06d}", image_size)
            rec = _quirks(i, _question(rng, scene))
            rec["image_path"] = rel
            line = _spoil(rec, bad_at.get(i), i, image_root) if i in bad_at else json.dumps(rec, ensure_ascii=False)
            if fmt == "json":
                f.write(("" if i == 0 else ",\n") + line)
            else:
                f.write(line + "\n")
        f.write("\n]\n" if fmt == "json" else "")
    os.replace(tmp, records_path)
    return records_path, image_root


def _bad_kinds(bad_rows: bool | Iterable[str], fmt: str) -> list[str]:
    if bad_rows is True:
        kinds = [k for k in BAD_ROW_KINDS if not (fmt == "json" and k == "invalid json")]
    else:
        kinds = list(bad_rows or [])
    if fmt == "json" and "invalid json" in kinds:
        raise ValueError("'invalid json' rows only exist in JSONL (a broken JSON array cannot be read past them)")
    return kinds


def _write_image(rng: random.Random, kind: str, image_root: str, stem: str, image_size: tuple[int, int]) -> tuple[dict, str]:
    """(the scene drawn, its path relative to the image root)."""
    draw, folder, ext = _SCENES[kind]
    im, scene = draw(rng, image_size)
    rel = f"{folder}/{stem}.{ext}"
    path = os.path.join(image_root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if ext == "jpg":
        im.save(path, quality=90)
    else:
        im.save(path)
    return scene, rel


def _spoil(rec: dict, bad: str, i: int, image_root: str) -> str:
    """The JSON line of ``rec`` made a bad row of kind ``bad``."""
    if bad == "missing image":
        rec["image_path"] = f"chartqa/train/png/missing_{i:06d}.png"
    elif bad == "truncated image":
        rec["image_path"] = _write_truncated_jpeg(image_root, f"broken/truncated_{i:06d}.jpg", seed=i)
    elif bad == "empty problem":
        rec["problem"] = "   \n "
    elif bad == "missing answer":
        rec.pop("answer")
    elif bad == "empty answer":
        rec["answer"] = "<answer> </answer>"
    elif bad == "unknown category":
        rec["category"] = "essay"
    elif bad == "invalid json":
        return '{"problem": "What is shown?", "answer": "a ca'
    return json.dumps(rec, ensure_ascii=False)


def _write_truncated_jpeg(image_root: str, rel: str, seed: int) -> str:
    """An interrupted download: headers intact, scan data cut."""
    from PIL import Image

    path = os.path.join(image_root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    noise = random.Random(seed).randbytes(128 * 96 * 3)
    Image.frombytes("RGB", (128, 96), noise).save(path, quality=95)
    with open(path, "r+b") as g:
        g.truncate(os.path.getsize(path) * 3 // 5)
    return rel
