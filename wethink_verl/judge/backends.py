"""Local judge backends for the Ray judge service: one interface, two engines.

``generate(conversations, params) -> [{"text": str} | {"error": str, "kind": str}, …]`` takes a
batch of OpenAI-style chat conversations and the sampling params (``temperature``,
``max_tokens``, optional ``top_p``/``seed``) and returns one result per conversation: a bad item
(too long, …) gets an error entry and never fails its batch mates.

- ``TransformersBackend``: ``AutoModelForCausalLM.generate`` on a left-padded batch; CPU or GPU;
  for small judges and tests. Text only: image parts are dropped (counted).
- ``VLLMBackend``: vLLM's offline ``LLM.chat`` on a batch (continuous batching inside vLLM,
  images passed through as ``image_url`` parts). Used when vLLM is importable and a GPU is present.

torch/transformers/vllm are imported only when a backend is built.
"""

from __future__ import annotations

import importlib.util
import logging
from typing import Any, Mapping, Sequence

from ..settings import thaw
from .config import RayServiceConfig

logger = logging.getLogger("wethink_verl.judge.backends")


def flatten_text(messages: Sequence[Mapping[str, Any]]) -> tuple[list[dict], int]:
    """Messages with list content turned into plain text (image parts dropped); (messages, dropped)."""
    out, dropped = [], 0
    for m in messages:
        content = m.get("content")
        if isinstance(content, list):
            texts = []
            for part in content:
                if isinstance(part, Mapping) and part.get("type") == "text":
                    texts.append(str(part.get("text", "")))
                else:
                    dropped += 1
            content = "\n".join(texts)
        out.append({"role": m.get("role", "user"), "content": content or ""})
    return out, dropped


def error_kind(e: BaseException) -> str:
    """A bad request (too long, bad image: the item's fault) or a backend failure."""
    names = {c.__name__ for c in type(e).__mro__}
    if isinstance(e, ValueError) or names & {"VLLMClientError", "VLLMValidationError"}:
        return "client_error"
    return "server_error"


def _isolate(generate_one, conversations, params) -> list[dict]:
    """Run items one by one so that one bad item cannot fail the others."""
    out = []
    for conv in conversations:
        try:
            out.extend(generate_one([conv], params))
        except Exception as e:  # noqa: BLE001
            out.append({"error": f"{type(e).__name__}: {e}"[:300], "kind": error_kind(e)})
    return out


class TransformersBackend:
    name = "transformers"

    def __init__(self, model: str, dtype: str = "auto", device: str = "auto", max_input_tokens: int = 4096,
                 trust_remote_code: bool = False, **from_pretrained_kwargs: Any):  # fmt: skip
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        self.model_name = model
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = device
        if dtype == "auto":
            torch_dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
        else:
            torch_dtype = getattr(torch, dtype)
        self.tokenizer = AutoTokenizer.from_pretrained(model, trust_remote_code=trust_remote_code)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(model, dtype=torch_dtype, trust_remote_code=trust_remote_code, **from_pretrained_kwargs)
        self.model.to(device).eval()
        self.max_input_tokens = int(max_input_tokens)
        self.images_dropped = 0
        eos = self.model.generation_config.eos_token_id
        self.eos_ids = [eos] if isinstance(eos, int) else list(eos or [self.tokenizer.eos_token_id])

    def _encode(self, messages) -> list[int]:
        flat, dropped = flatten_text(messages)
        if dropped:
            if not self.images_dropped:
                logger.warning("the transformers judge backend is text-only: image parts are dropped (counted)")
            self.images_dropped += dropped
        ids = self.tokenizer.apply_chat_template(flat, add_generation_prompt=True, tokenize=True)
        if hasattr(ids, "keys"):  # transformers 5 returns a BatchEncoding
            ids = ids["input_ids"]
        return list(ids)

    def _choose(self, encoded: list[tuple[int, list[int]]], choices: Sequence[str]) -> list[str]:
        """Constrained verdicts (vLLM's ``structured_outputs.choice`` on this backend): the choice
        with the highest log-likelihood after each prompt. Small judges then always answer in the
        verdict format; what they choose is still the model's own preference."""
        torch = self.torch
        choice_ids = [self.tokenizer.encode(c, add_special_tokens=False) for c in choices]
        rows = [(i, ids, k, cids) for i, ids in encoded for k, cids in enumerate(choice_ids)]
        width = max(len(ids) + len(cids) for _, ids, _, cids in rows)
        pad = self.tokenizer.pad_token_id
        seqs = [[pad] * (width - len(ids) - len(cids)) + ids + cids for _, ids, _, cids in rows]
        mask = [[0] * (width - len(ids) - len(cids)) + [1] * (len(ids) + len(cids)) for _, ids, _, cids in rows]
        with torch.inference_mode():
            logits = self.model(input_ids=torch.tensor(seqs, device=self.device), attention_mask=torch.tensor(mask, device=self.device)).logits
            logp = torch.log_softmax(logits.float(), dim=-1)
        best: dict[int, tuple[float, int]] = {}
        for r, (i, _, k, cids) in enumerate(rows):
            start = width - len(cids)
            score = sum(float(logp[r, start + t - 1, tok]) for t, tok in enumerate(cids))
            if i not in best or score > best[i][0]:
                best[i] = (score, k)
        return [choices[best[i][1]] for i, _ in encoded]

    def generate(self, conversations: Sequence[Sequence[Mapping[str, Any]]], params: Mapping[str, Any]) -> list[dict]:
        torch = self.torch
        results: list[dict | None] = [None] * len(conversations)
        encoded: list[tuple[int, list[int]]] = []
        for i, conv in enumerate(conversations):
            try:
                ids = self._encode(conv)
            except Exception as e:  # noqa: BLE001
                results[i] = {"error": f"cannot apply the chat template: {e}"[:300], "kind": "client_error"}
                continue
            if len(ids) > self.max_input_tokens:
                results[i] = {"error": f"prompt of {len(ids)} tokens exceeds max_input_tokens={self.max_input_tokens}", "kind": "client_error"}
                continue
            encoded.append((i, ids))
        choices = (params.get("structured_outputs") or {}).get("choice")
        if encoded and choices:
            for (i, _), text in zip(encoded, self._choose(encoded, list(choices))):
                results[i] = {"text": text}
            encoded = []
        if encoded:
            width = max(len(ids) for _, ids in encoded)
            pad = self.tokenizer.pad_token_id
            input_ids = torch.tensor([[pad] * (width - len(ids)) + ids for _, ids in encoded], device=self.device)
            attention = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for _, ids in encoded], device=self.device)
            temperature = float(params.get("temperature", 0.0) or 0.0)
            gen = dict(max_new_tokens=int(params.get("max_tokens", 256)), pad_token_id=pad, eos_token_id=self.eos_ids)
            if temperature > 0:
                gen.update(do_sample=True, temperature=temperature, top_p=float(params.get("top_p", 1.0)))
            else:
                gen.update(do_sample=False)
            if params.get("seed") is not None:
                torch.manual_seed(int(params["seed"]))
            with torch.inference_mode():
                out = self.model.generate(input_ids=input_ids, attention_mask=attention, **gen)
            texts = self.tokenizer.batch_decode(out[:, width:], skip_special_tokens=True)
            for (i, _), text in zip(encoded, texts):
                results[i] = {"text": text}
        return [r if r is not None else {"error": "no result", "kind": "server_error"} for r in results]


class VLLMBackend:
    """vLLM's offline engine. The prompt bound is vLLM's own ``max_model_len`` (set it in
    ``judge.ray.engine_kwargs``); a too-long prompt fails alone, as a client_error."""

    name = "vllm"

    def __init__(self, model: str, dtype: str = "auto", max_input_tokens: int | None = None, trust_remote_code: bool = False,
                 **engine_kwargs: Any):  # fmt: skip
        from vllm import LLM

        self.model_name = model
        self.llm = LLM(model=model, dtype=dtype, trust_remote_code=trust_remote_code, **engine_kwargs)

    def _sampling(self, params: Mapping[str, Any]):
        from vllm import SamplingParams

        extra = {}
        structured = params.get("structured_outputs")
        if structured:  # the same request_kwargs a vLLM server accepts: {"choice": [...]} or {"regex": ...}
            try:
                from vllm.sampling_params import StructuredOutputsParams

                extra["structured_outputs"] = StructuredOutputsParams(**structured)
            except ImportError:  # vLLM < 0.11
                from vllm.sampling_params import GuidedDecodingParams

                extra["guided_decoding"] = GuidedDecodingParams(**structured)
        return SamplingParams(
            temperature=float(params.get("temperature", 0.0) or 0.0),
            top_p=float(params.get("top_p", 1.0)),
            max_tokens=int(params.get("max_tokens", 256)),
            seed=params.get("seed"),
            **extra,
        )

    def _chat(self, conversations, params) -> list[dict]:
        outs = self.llm.chat([list(c) for c in conversations], self._sampling(params), use_tqdm=False)
        return [{"text": o.outputs[0].text if o.outputs else ""} for o in outs]

    def generate(self, conversations: Sequence[Sequence[Mapping[str, Any]]], params: Mapping[str, Any]) -> list[dict]:
        try:
            return self._chat(conversations, params)
        except Exception as e:  # noqa: BLE001 - one bad item (too long, bad image) fails vLLM's whole call
            if len(conversations) == 1:
                return [{"error": f"{type(e).__name__}: {e}"[:300], "kind": error_kind(e)}]
            logger.warning("vLLM batch failed; judging its %d items one by one", len(conversations), exc_info=True)
            return _isolate(self._chat, conversations, params)


def pick_engine(engine: str = "auto") -> str:
    if engine != "auto":
        return engine
    if importlib.util.find_spec("vllm") is not None:
        try:
            import torch

            if torch.cuda.is_available():
                return "vllm"
        except ImportError:
            pass
    return "transformers"


def make_backend(cfg: RayServiceConfig | Mapping[str, Any]):
    """A backend from the service config (``judge.ray``: model, engine, dtype, max_input_tokens, engine_kwargs)."""
    cfg = RayServiceConfig.from_mapping(cfg)
    if not cfg.model:
        raise ValueError("the Ray judge service needs judge.ray.model (a model directory or hub id)")
    engine = pick_engine(cfg.engine)
    kwargs = thaw(cfg.engine_kwargs)  # plain dicts and lists, as the engines expect
    common = dict(dtype=cfg.dtype, max_input_tokens=int(cfg.max_input_tokens))
    if engine == "vllm":
        return VLLMBackend(cfg.model, **common, **kwargs)
    if engine == "transformers":
        return TransformersBackend(cfg.model, **common, **kwargs)
    if engine == "demo-grader":  # the CPU demo's fitted stand-in for an LLM judge
        from ..demo.demo_judge import DemoGraderBackend

        return DemoGraderBackend(cfg.model)
    raise ValueError(f"unknown judge engine {engine!r}: 'auto', 'vllm', 'transformers' or 'demo-grader'")
