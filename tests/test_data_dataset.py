"""Prepared parquet through verl's real RLHFDataset + collate_fn, and WeThinkDataset through
verl's get_dataset_class (data.custom_cls), with the offline Qwen2.5-VL processor. Each prompt
goes the AgentLoop's way (``dataset_cls.process_multi_modal_info`` + verl's Qwen-VL Continuous
Token builder) and then through a tiny random-weight Qwen2.5-VL forward, whose placeholder check
is the one that raises "Image features and image tokens do not match"."""

from __future__ import annotations

import copy
import pickle
import subprocess
import sys
import textwrap

import pyarrow.parquet as pq
import pytest

pytest.importorskip("verl")

import torch  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from verl.utils.dataset.rl_dataset import RLHFDataset, collate_fn, get_dataset_class  # noqa: E402
from wethink_verl.data.agent_loop import agent_loop_prompt  # noqa: E402
from wethink_verl.data.prepare import PrepareConfig, prepare  # noqa: E402
from wethink_verl.data.schema import BadRowError, Reason  # noqa: E402
from wethink_verl.data.synthetic import BAD_ROW_KINDS, bad_row_positions, write_synthetic_wethink  # noqa: E402
from wethink_verl.reward.config import WETHINK_SYSTEM_PROMPT  # noqa: E402

IMAGE_PAD = 151655
CUSTOM_CLS = {"path": "pkg://wethink_verl.data.dataset", "name": "WeThinkDataset"}
N = 36


@pytest.fixture(scope="module")
def vl(qwen25vl_processor_dir):
    from verl.utils import hf_processor, hf_tokenizer

    tokenizer, processor = hf_tokenizer(qwen25vl_processor_dir), hf_processor(qwen25vl_processor_dir)
    assert type(processor).__name__ == "Qwen2_5_VLProcessor"
    return tokenizer, processor


@pytest.fixture(scope="module")
def tiny_vl_model(qwen25vl_processor_dir):
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    cfg = Qwen2_5_VLConfig.from_pretrained(qwen25vl_processor_dir)
    # mrope over head_dim 64 (the offline config has none); one layer is enough for the check
    cfg.text_config.rope_parameters = {**(cfg.text_config.rope_parameters or {}), "mrope_section": [8, 12, 12]}
    cfg.text_config.num_hidden_layers = 1
    torch.manual_seed(0)
    return Qwen2_5_VLForConditionalGeneration(cfg).eval()


@pytest.fixture(scope="module")
def dataset_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("wt")
    records, images = write_synthetic_wethink(root / "ds", N, seed=11)
    prepare(PrepareConfig(input=records, image_root=images, output_dir=str(root / "verl"), val_size=4, progress=False))
    prepare(PrepareConfig(input=records, image_root=images, output_dir=str(root / "embed"), embed_images=True, progress=False))
    return {"records": records, "images": images, "train": str(root / "verl" / "train.parquet"),
            "val": str(root / "verl" / "val.parquet"), "embedded": str(root / "embed" / "train.parquet"), "root": root}  # fmt: skip


def data_config(tmp_path, **overrides):
    cfg = {
        "prompt_key": "prompt", "image_key": "images", "max_prompt_length": 1024, "truncation": "error",
        "filter_overlong_prompts": True, "filter_overlong_prompts_workers": None,  # no fork after torch
        "return_raw_chat": True, "cache_dir": str(tmp_path / "verl-cache"), "shuffle": False,
    }  # fmt: skip
    cfg.update(overrides)
    return OmegaConf.create(cfg)


def assert_image_tokens_match(ids, mm_inputs, processor, model, n_images=1):
    merge = processor.image_processor.merge_size
    grid = mm_inputs["image_grid_thw"]
    assert grid.shape[0] == n_images
    patches = int(grid.prod(-1).sum())
    assert ids.count(IMAGE_PAD) == patches // merge**2 == mm_inputs["pixel_values"].shape[0] // merge**2
    with torch.no_grad():  # the model's own check: raises "Image features and image tokens do not match"
        out = model(input_ids=torch.tensor([ids]), pixel_values=mm_inputs["pixel_values"], image_grid_thw=grid)
    assert out.logits.shape[1] == len(ids)


# ---- prepared parquet -> RLHFDataset ------------------------------------------------------------
@pytest.mark.parametrize("which", ["train", "embedded"])
def test_prepared_parquet_through_rlhfdataset(which, dataset_files, vl, tiny_vl_model, tmp_path):
    tokenizer, processor = vl
    cfg = data_config(tmp_path)
    ds = RLHFDataset(dataset_files[which], tokenizer, cfg, processor=processor)
    expected = N - 4 if which == "train" else N
    assert len(ds) == expected  # nothing silently dropped by verl's length filter
    batch = collate_fn([ds[i] for i in range(len(ds))])
    assert batch["dummy_tensor"].shape == (expected, 1)
    assert sorted(batch["index"]) == sorted(r["extra_info"]["index"] for r in pq.read_table(dataset_files[which]).to_pylist())
    for raw_prompt, extra, rm in zip(batch["raw_prompt"], batch["extra_info"], batch["reward_model"]):
        system, user = raw_prompt
        assert system["content"] == [{"type": "text", "text": WETHINK_SYSTEM_PROMPT}]
        assert [part["type"] for part in user["content"]] == ["image", "text"]
        assert {"reward", "category", "problem", "image_path", "abilities", "index", "split"} <= set(extra)
        assert rm["ground_truth"]
        ids, mm_inputs, _ = agent_loop_prompt(RLHFDataset, raw_prompt, tokenizer, processor, cfg)
        assert_image_tokens_match(ids, mm_inputs, processor, tiny_vl_model)


def test_literal_placeholders_break_verl_unless_escaped(dataset_files, vl, tmp_path):
    """The negative control: the same row with its literal <image> / <|image_pad|> left in."""
    import pyarrow as pa

    tokenizer, processor = vl
    rows = pq.read_table(dataset_files["train"]).to_pylist()
    row = next(r for r in rows if "&lt;image&gt;" in r["prompt"][1]["content"])
    cfg = data_config(tmp_path, filter_overlong_prompts=False)

    raw = copy.deepcopy(row)
    raw["prompt"][1]["content"] = raw["prompt"][1]["content"].replace("&lt;image&gt;", "<image>")
    pq.write_table(pa.Table.from_pylist([raw]), tmp_path / "raw_image.parquet")
    ds = RLHFDataset(str(tmp_path / "raw_image.parquet"), tokenizer, cfg, processor=processor)
    with pytest.raises(AssertionError, match="image_offset"):
        ds[0]

    raw = copy.deepcopy(row)
    raw["prompt"][1]["content"] += " <|image_pad|>"
    pq.write_table(pa.Table.from_pylist([raw]), tmp_path / "raw_pad.parquet")
    ds = RLHFDataset(str(tmp_path / "raw_pad.parquet"), tokenizer, cfg, processor=processor)
    with pytest.raises(Exception):  # an extra image token with no image behind it
        agent_loop_prompt(RLHFDataset, ds[0]["raw_prompt"], tokenizer, processor, cfg)

    escaped = RLHFDataset(dataset_files["train"], tokenizer, cfg, processor=processor)
    item = next(escaped[i] for i in range(len(escaped)) if escaped[i]["index"] == row["extra_info"]["index"])
    ids, mm_inputs, _ = agent_loop_prompt(RLHFDataset, item["raw_prompt"], tokenizer, processor, cfg)
    assert ids.count(IMAGE_PAD) == int(mm_inputs["image_grid_thw"].prod()) // 4


# ---- WeThinkDataset via data.custom_cls ----------------------------------------------------------
def test_wethinkdataset_via_custom_cls(dataset_files, vl, tiny_vl_model, tmp_path):
    tokenizer, processor = vl
    cfg = data_config(tmp_path, custom_cls=CUSTOM_CLS, wethink={"image_root": dataset_files["images"]})
    cls = get_dataset_class(cfg)
    assert cls.__name__ == "WeThinkDataset" and issubclass(cls, RLHFDataset)
    ds = cls(data_files=dataset_files["records"], tokenizer=tokenizer, processor=processor, config=cfg, max_samples=-1)
    assert len(ds) == N
    batch = collate_fn([ds[i] for i in range(len(ds))])
    assert sorted(batch["index"]) == list(range(N))
    for raw_prompt in batch["raw_prompt"]:
        ids, mm_inputs, _ = agent_loop_prompt(cls, raw_prompt, tokenizer, processor, cfg)
        assert_image_tokens_match(ids, mm_inputs, processor, tiny_vl_model)

    # the same rows as prepare -> RLHFDataset, field by field (split aside: one config builds both)
    ref = RLHFDataset([dataset_files["train"], dataset_files["val"]], tokenizer, data_config(tmp_path), processor=processor)
    ours = {item["index"]: item for item in (ds[i] for i in range(len(ds)))}
    for i in range(len(ref)):
        theirs = ref[i]
        mine = ours[theirs["index"]]
        assert sorted(mine) == sorted(theirs)
        for key in theirs:
            if key == "dummy_tensor":
                assert torch.equal(mine[key], theirs[key])
            elif key == "extra_info":
                assert {**mine[key], "split": None} == {**theirs[key], "split": None}
            else:
                assert mine[key] == theirs[key], key


def test_wethinkdataset_mixes_json_and_prepared_parquet(dataset_files, vl, tmp_path):
    tokenizer, processor = vl
    cfg = data_config(tmp_path, custom_cls=CUSTOM_CLS, wethink={"image_root": dataset_files["images"], "split": "val"})
    ds = get_dataset_class(cfg)([dataset_files["records"], dataset_files["val"]], tokenizer, cfg, processor=processor)
    assert len(ds) == N + 4
    assert {ds[i]["extra_info"]["split"] for i in range(len(ds))} == {"val"}


def test_wethinkdataset_length_filter_and_max_samples_match_verl(dataset_files, vl, tmp_path):
    tokenizer, processor = vl
    # a limit between the prompt lengths: some rows go, the same ones verl drops from the parquet
    lengths = []
    ref_all = RLHFDataset([dataset_files["train"], dataset_files["val"]], tokenizer, data_config(tmp_path), processor=processor)
    for i in range(len(ref_all)):
        ids, _, _ = agent_loop_prompt(RLHFDataset, ref_all[i]["raw_prompt"], tokenizer, processor, data_config(tmp_path))
        lengths.append(len(ids))
    limit = sorted(lengths)[len(lengths) // 2]
    cfg = data_config(tmp_path, max_prompt_length=limit, custom_cls=CUSTOM_CLS, wethink={"image_root": dataset_files["images"]})
    ours = get_dataset_class(cfg)(dataset_files["records"], tokenizer, cfg, processor=processor)
    ref = RLHFDataset([dataset_files["train"], dataset_files["val"]], tokenizer, data_config(tmp_path, max_prompt_length=limit), processor=processor)
    assert 0 < len(ours) < N
    assert sorted(ours[i]["index"] for i in range(len(ours))) == sorted(ref[i]["index"] for i in range(len(ref)))
    assert len(ours) == sum(1 for n in lengths if n <= limit)

    cfg = data_config(tmp_path, filter_overlong_prompts=False, custom_cls=CUSTOM_CLS, wethink={"image_root": dataset_files["images"]})
    assert len(get_dataset_class(cfg)(dataset_files["records"], tokenizer, cfg, processor=processor, max_samples=7)) == 7


def test_wethinkdataset_pixel_bounds_reach_the_agent_loop(dataset_files, vl, tiny_vl_model, tmp_path):
    from wethink_verl.demo.offline_models import build_qwen25vl_processor
    from verl.utils import hf_processor

    tokenizer, _ = vl
    # a processor that would keep 96x72 as is; our max_pixels shrinks the image before it
    processor = hf_processor(str(build_qwen25vl_processor(min_pixels=4 * 28 * 28, max_pixels=1024 * 28 * 28)))
    sizes = {}
    for bound in (None, 4 * 28 * 28):
        wethink = {"image_root": dataset_files["images"], "max_pixels": bound, "min_pixels": 4 * 28 * 28 if bound else None}
        cfg = data_config(tmp_path, filter_overlong_prompts=False, custom_cls=CUSTOM_CLS, wethink=wethink)
        cls = get_dataset_class(cfg)
        ds = cls(dataset_files["records"], tokenizer, cfg, processor=processor, max_samples=3)
        item = ds[0]
        image_part = item["raw_prompt"][1]["content"][0]
        assert ("max_pixels" in image_part) == (bound is not None)
        ids, mm_inputs, images = agent_loop_prompt(cls, item["raw_prompt"], tokenizer, processor, cfg)
        assert_image_tokens_match(ids, mm_inputs, processor, tiny_vl_model)
        sizes[bound] = images[0].size
    assert sizes[None] == (84, 84)  # 96x72 rounded to multiples of 28
    assert sizes[4 * 28 * 28] == (56, 28)  # shrunk by qwen_vl_utils to fit max_pixels


def test_wethinkdataset_bad_rows(tmp_path, vl):
    tokenizer, processor = vl
    records, images = write_synthetic_wethink(tmp_path / "bad", N, seed=12, bad_rows=True)
    where = bad_row_positions(N)
    cfg = data_config(tmp_path, filter_overlong_prompts=False, custom_cls=CUSTOM_CLS, wethink={"image_root": images, "image_check": "decode"})
    cls = get_dataset_class(cfg)
    with pytest.raises(BadRowError) as err:
        cls(records, tokenizer, cfg, processor=processor)
    assert (err.value.index, err.value.reason) == (where["missing image"], Reason.MISSING_IMAGE)
    assert records in str(err.value) and f"row {where['missing image']}" in str(err.value)

    cfg = data_config(tmp_path, filter_overlong_prompts=False, custom_cls=CUSTOM_CLS,
                      wethink={"image_root": images, "image_check": "decode", "skip_bad": True})  # fmt: skip
    ds = cls(records, tokenizer, cfg, processor=processor)
    expected = {BAD_ROW_KINDS[k]: 1 for k in BAD_ROW_KINDS if k != "unknown category"}
    assert dict(ds.skipped.skipped) == expected
    assert len(ds) == N - len(expected)
    assert where["unknown category"] in {ds[i]["index"] for i in range(len(ds))}  # kept, as in prepare

    with pytest.raises(ValueError, match="unknown data.wethink options"):
        cls(records, tokenizer, data_config(tmp_path, wethink={"image_rot": images}), processor=processor)


def test_wethinkdataset_split_and_pickle(dataset_files, vl, tmp_path):
    tokenizer, processor = vl
    cfg = data_config(tmp_path, filter_overlong_prompts=False, custom_cls=CUSTOM_CLS, wethink={"image_root": dataset_files["images"]})
    ds = get_dataset_class(cfg)(dataset_files["records"], tokenizer, cfg, processor=processor)
    parts = ds.split(5)
    assert [type(p).__name__ for p in parts] == ["WeThinkDataset"] * 5 and [len(p) for p in parts] == [7] * 5
    assert [p[0]["index"] for p in parts] == [0, 7, 14, 21, 28]
    ds[0]  # builds the fast row view
    # what verl pickles (dataloader state): no rows, neither verl's nor ours; resume re-reads the files
    state = ds.__getstate__()
    assert "dataframe" not in state and "_rows_table" not in state
    restored = object.__new__(type(ds))
    restored.__dict__.update(state)
    restored.resume_dataset_state()
    assert len(restored) == N and restored[5]["index"] == 5


def test_custom_cls_resolves_in_a_fresh_process(dataset_files, vl, tmp_path):
    """As in an AgentLoopWorker: a new interpreter resolves data.custom_cls and extracts images
    from a raw_prompt produced elsewhere."""
    tokenizer, processor = vl
    cfg = data_config(tmp_path, filter_overlong_prompts=False, custom_cls=CUSTOM_CLS,
                      wethink={"image_root": dataset_files["images"], "max_pixels": 4 * 28 * 28})  # fmt: skip
    ds = get_dataset_class(cfg)(dataset_files["records"], tokenizer, cfg, processor=processor, max_samples=2)
    payload = tmp_path / "payload.pkl"
    payload.write_bytes(pickle.dumps({"config": OmegaConf.to_container(cfg), "raw_prompt": ds[1]["raw_prompt"]}))
    script = textwrap.dedent(
        f"""
        import asyncio, pickle, sys
        from omegaconf import OmegaConf
        from verl.utils.dataset.rl_dataset import get_dataset_class
        p = pickle.load(open({str(payload)!r}, "rb"))
        cfg = OmegaConf.create(p["config"])
        cls = get_dataset_class(cfg)
        images, videos, audios = asyncio.run(cls.process_multi_modal_info(p["raw_prompt"], image_patch_size=14, config=cfg))
        print("RESULT", cls.__module__, cls.__name__, len(images), images[0].size)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "RESULT wethink_verl.data.dataset WeThinkDataset 1 (56, 28)" in proc.stdout
