"""verl 0.9.1's real trainer loop on CPU, for the trainer-loop tests (tests/test_trainer_loop.py).

Real: the composed recipe config, verl's dataset loader on prepared parquet with the offline
Qwen2.5-VL processor, the V1 trainer object (``PPOTrainerSync``: its replay buffer, its
``_add_batch_to_generate`` / ``_compute_reward_colocate`` / ``_validate``), TransferQueue, verl's
``AgentLoopManagerTQ`` / ``AgentLoopManager`` with their workers as Ray actors (single-turn agent
loop, multimodal inputs, streaming ``_compute_score``), verl's rollout load balancer and
``LLMServerClient``, the ``RewardLoopManager`` and its ``RewardLoopWorker`` actors running the
``wethink`` manager, verl's ``RewardModelManager`` and its router process for an in-cluster judge.

Stand-ins, each for a GPU-only piece:
- ``ScriptedPolicyServer``: the policy's vLLM server replica. It returns token ids: for each
  prompt, one of five scripted answers (right, right in another spelling, wrong, malformed, a
  hack) of the row whose question the prompt contains.
- ``RecordingJudgeReplica``: the judge's vLLM replica (``RolloutReplica``) that
  ``RewardModelManager`` launches on GPUs. It points verl's router at a judge that already runs
  on 127.0.0.1 (the scripted judge or the real vLLM CPU server) and records every sleep/wake call
  verl makes; while "asleep" the scripted judge answers 503, as a sleeping replica cannot answer.
- ``RecordingCheckpointManager``: the policy weight sync (``CheckpointEngineManager``), which
  only moves GPU weights; it records the calls.
The actor/ref/critic worker groups (FSDP on GPUs) are not built: the tests stop at the reward.

Started once per test module and shared by its modes (each is a Ray actor importing verl, ~10 s
of CPU): the scripted policy behind verl's balancer, TransferQueue, each trainer's agent-loop
workers (pointed at each mode's reward workers, ``AgentLoopWorkers``), the policy's tokenizer and
processor. Each mode builds its own trainer object, dataloaders and reward loop, unless two modes
have one reward config (then one reward loop serves both).

Nothing is forked from the test process but verl's router: ``datasets``' filter pool would be
(``data.filter_overlong_prompts_workers``), and after any torch op in the parent its child hangs.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import ray

from wethink_verl.reward import EXTRA_INFO_KEYS

ROOT = Path(__file__).resolve().parent.parent
RECIPES = ROOT / "recipes" / "verl"
KINDS = ("right", "right (other spelling)", "wrong", "malformed", "hack")


# ---- data -------------------------------------------------------------------------------------
def read_rows(parquet: str) -> list[dict]:
    """The prepared rows as verl's dataset sees them (problem, ground truth, routing fields, image)."""
    rows = []
    for rec in pd.read_parquet(parquet).to_dict("records"):
        extra = dict(rec["extra_info"])
        rows.append({"problem": extra["problem"], "ground_truth": rec["reward_model"]["ground_truth"], "category": extra.get("category"),
                     "reward": extra.get("reward"), "uid": str(extra.get("index"))})  # fmt: skip
    return rows


def scripted_responses(rows: list[dict]) -> dict[str, list[str]]:
    """question -> the five scripted answers (the CPU demo's rollouts: right, other spelling,
    wrong, malformed, hack)."""
    from wethink_verl.demo.rollouts import make_rollouts

    script: dict[str, list[str]] = {}
    for r in make_rollouts(rows):
        script.setdefault(r["problem"], []).append(r["response"])
    return script


# ---- the policy's server ----------------------------------------------------------------------
@ray.remote(num_cpus=0)
class ScriptedPolicyServer:
    """Stands in for the policy's vLLM replica behind verl's load balancer: same ``generate``
    signature, returns ``TokenOutput`` token ids of a scripted answer (+ <|im_end|>)."""

    def __init__(self, tokenizer_dir: str, script: dict[str, list[str]]):
        from transformers import AutoTokenizer

        self.tok = AutoTokenizer.from_pretrained(tokenizer_dir)
        self.script = script
        self.served: dict[str, int] = {}
        self.unmatched = 0
        self.images_seen = 0

    async def generate(self, request_id, *, prompt_ids, sampling_params, image_data=None, video_data=None, **kwargs):
        from verl.workers.rollout.replica import TokenOutput

        text = self.tok.decode(prompt_ids)
        question = max((q for q in self.script if q in text), key=len, default=None)
        self.images_seen += len(image_data or [])
        if question is None:
            self.unmatched += 1
            answer = "<think>?</think><answer>?</answer>"
        else:
            k = self.served.get(question, 0)
            self.served[question] = k + 1
            answer = self.script[question][k % len(self.script[question])]
        ids = self.tok.encode(answer, add_special_tokens=False) + [self.tok.convert_tokens_to_ids("<|im_end|>")]
        return TokenOutput(token_ids=ids, stop_reason="completed", num_preempted=0)

    def stats(self) -> dict:
        return {"served": sum(self.served.values()), "unmatched": self.unmatched, "images": self.images_seen}


@dataclass
class ScriptedPolicy:
    """The scripted server behind verl's real load balancer (an actor), shared by every mode of a
    module; each mode talks to it through its own verl ``LLMServerClient``."""

    server: Any
    balancer: Any

    @classmethod
    def start(cls, tokenizer_dir: str, script: dict[str, list[str]]) -> "ScriptedPolicy":
        from verl.workers.rollout.router import get_router_handle

        server = ScriptedPolicyServer.remote(tokenizer_dir, script)
        return cls(server, get_router_handle(servers={"scripted-policy:0": server}))

    def client(self, config):
        from verl.workers.rollout.llm_server import LLMServerClient

        return LLMServerClient(config=config, load_balancer_handle=self.balancer)

    def stats(self) -> dict:
        return ray.get(self.server.stats.remote())

    def stop(self) -> None:
        for actor in (self.balancer, self.server):  # the balancer lives as long as any handle: end it
            ray.kill(actor, no_restart=True)


# ---- TransferQueue ----------------------------------------------------------------------------
def start_transfer_queue(config):
    """TransferQueue's controller and storage unit for a module's V1 modes (``tq.init`` in a later
    process or trainer attaches to them, as verl's agent-loop workers do)."""
    import transfer_queue as tq

    tq.init(config.transfer_queue)
    return tq


def clear_transfer_queue() -> None:
    """Drop every key a mode left (a failed step leaves its partition half full)."""
    import transfer_queue as tq

    for partition, keys in (tq.kv_list() or {}).items():
        if keys:
            tq.kv_clear(keys=list(keys), partition_id=partition)


# ---- the judge's replica ----------------------------------------------------------------------
@dataclass
class JudgeTarget:
    address: str  # host:port of a judge already running on 127.0.0.1
    calls: list = field(default_factory=list)  # ("init"|"sleep"|"wake_up", replica_rank)
    scripted: Any = None  # a ScriptedJudgeServer: made to answer 503 while its replica sleeps


def recording_replica_class():
    from verl.workers.rollout.replica import RolloutReplica, RolloutReplicaRegistry

    class RecordingJudgeReplica(RolloutReplica):
        """verl's RolloutReplica for the reward model, its GPU launch replaced (see module doc)."""

        target: JudgeTarget | None = None  # the next replicas' (set before verl builds them)

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.target = type(self).target  # this replica's, for as long as its reward loop lives

        async def launch_servers(self):
            self._server_address = self.target.address
            self._server_handle = None

        async def init_standalone(self):
            self.target.calls.append(("init_standalone", self.replica_rank))
            await self.launch_servers()

        async def init_colocated(self, resource_pool):
            self.target.calls.append(("init_colocated", self.replica_rank))
            await self.launch_servers()

        async def sleep(self):
            self.target.calls.append(("sleep", self.replica_rank))
            if self.target.scripted is not None:
                self.target.scripted.default = "503x1000000"

        async def wake_up(self):
            self.target.calls.append(("wake_up", self.replica_rank))
            if self.target.scripted is not None:
                self.target.scripted.default = "score=1"

    RolloutReplicaRegistry.register("recorded_judge", lambda: RecordingJudgeReplica)
    return RecordingJudgeReplica


class RecordingCheckpointManager:
    """Stands in for verl's CheckpointEngineManager (policy weights between FSDP and vLLM on GPUs)."""

    def __init__(self):
        self.calls: list[str] = []

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return lambda *a, **k: self.calls.append(name)


class RecordingProxy:
    """A pass-through in front of a judge that runs here (the vLLM server), behind verl's router:
    records every POST body with the judge's status and reply. With ``replay`` on, a body it has
    seen gets the judge's recorded reply instead (the direct scorer then gets the very verdicts
    the trainer got; a body never seen is forwarded and counted in ``forwarded_in_replay``)."""

    def __init__(self, upstream: str):
        from wethink_verl.testing.judge_servers import ScriptedJudgeServer

        self.upstream = upstream
        self.exchanges: list[dict] = []  # {"body", "status", "reply"}
        self.replay = False
        self.replayed = self.forwarded_in_replay = 0
        self._seen: dict[str, tuple[int, bytes, str]] = {}
        self._server = ScriptedJudgeServer()  # its event-loop thread and lifecycle, our app
        self._server.app = self._app

    @property
    def address(self) -> str:
        return self._server.address

    def start(self) -> "RecordingProxy":
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def _app(self):
        from aiohttp import web

        app = web.Application(client_max_size=64 * 2**20)
        app.router.add_route("*", "/{path:.*}", self._forward)
        return app

    async def _forward(self, request):
        import aiohttp
        from aiohttp import web

        raw = await request.read()
        key = json.dumps(json.loads(raw), sort_keys=True) if request.method == "POST" else None
        if key is not None and self.replay and key in self._seen:
            self.replayed += 1
            status, body, content_type = self._seen[key]
            return web.Response(status=status, body=body, content_type=content_type)
        async with aiohttp.ClientSession() as session:
            headers = {"Content-Type": request.headers.get("Content-Type", "application/json")}
            async with session.request(request.method, f"http://{self.upstream}{request.path_qs}", data=raw, headers=headers) as r:
                status, body, content_type = r.status, await r.read(), r.content_type
        if key is not None:
            self.forwarded_in_replay += self.replay
            self.exchanges.append({"body": json.loads(raw), "status": status, "reply": body.decode(errors="replace")})
            self._seen.setdefault(key, (status, body, content_type))
        return web.Response(status=status, body=body, content_type=content_type)


def vllm_http_requests(address: str) -> dict[str, float]:
    """vLLM's own count of POST /v1/chat/completions answers by status class ("2xx", "4xx", ...)."""
    import re
    import urllib.request

    text = urllib.request.urlopen(f"http://{address}/metrics", timeout=10).read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("http_requests_total{") and 'handler="/v1/chat/completions"' in line and 'method="POST"' in line:
            status = re.search(r'status="(\w+)"', line).group(1)
            out[status] = out.get(status, 0.0) + float(line.rsplit(" ", 1)[1])
    return out


# ---- config -----------------------------------------------------------------------------------
def harness_config(recipe: str, data: dict, processor_dir: str, overrides: list[str] = ()):
    """The recipe composed as main_ppo composes it, sized for a CPU box; its rollout and
    validation dumps go to a fresh directory under the data's."""
    import tempfile

    from wethink_verl.testing.verl_batch import compose_verl_config

    out = tempfile.mkdtemp(prefix="dumps-", dir=data["dir"])
    base = [
        f"trainer.rollout_data_dir={out}/rollouts", f"trainer.validation_data_dir={out}/validation",
        f"actor_rollout_ref.model.path={processor_dir}",
        f"data.train_files={data['train']}", f"data.val_files={data['val']}",
        f"data.train_batch_size={data['train_rows']}", "data.shuffle=false", "data.dataloader_num_workers=0",
        "data.max_prompt_length=1024", "data.max_response_length=128",
        # data.filter_overlong_prompts_workers stays the recipe's null: verl filters in this process
        # (any N >= 1 forks `datasets` workers from the pytest process, where torch's OpenMP pool has
        # run: a forked child's first torch op, the Qwen2.5-VL image processor, waits forever)
        # one agent-loop and one reward-loop worker: each is a Ray actor importing verl (~10 s CPU)
        "actor_rollout_ref.rollout.agent.num_workers=1", "actor_rollout_ref.rollout.val_kwargs.n=2",
        "actor_rollout_ref.rollout.n=5", "reward.num_workers=1", "trainer.logger=[console]",
        "transfer_queue.backend.SimpleStorage.num_data_storage_units=1",
        "reward.reward_kwargs.bounded.workers=1",
    ]  # fmt: skip
    config = compose_verl_config(base + list(overrides), config_name=recipe, config_dir=str(RECIPES))
    # fail here rather than hang in verl's dataset (see the comment above)
    assert config.data.filter_overlong_prompts_workers is None, "a forked `datasets` filter pool would hang here"
    return config


# ---- what a module's modes share: verl's agent-loop workers; a reward loop ---------------------
def _use_reward_workers(worker, handles) -> None:
    """Runs inside an agent-loop worker actor (``__ray_call__``): the reward workers its
    ``_compute_score`` sends each finished trajectory to (None: the trainer scores the batch)."""
    worker.reward_loop_worker_handles = handles


@dataclass
class AgentLoopWorkers:
    """One trainer's agent-loop workers: verl's own actor class, started by its manager's
    ``create`` as the trainer starts them, once per module. verl hands a worker the reward
    workers' handles at construction and reads them only per trajectory
    (``AgentLoopWorker._compute_score``), so each mode points the same workers at its own reward
    workers: each worker imports verl for ~10 s of CPU, and starting them once instead of once
    per mode keeps the module inside its time budget."""

    manager_cls: Any
    workers: list

    @classmethod
    def start(cls, manager_cls, config, policy: ScriptedPolicy) -> "AgentLoopWorkers":
        from omegaconf import OmegaConf

        OmegaConf.resolve(config)
        manager = manager_cls.create(config=config, llm_client=policy.client(config), teacher_client=None, reward_loop_worker_handles=None)
        ray.get([w.__ray_ready__.remote() for w in manager.agent_loop_workers])
        return cls(manager_cls, list(manager.agent_loop_workers))

    def manager(self, config, policy: ScriptedPolicy, reward_handles):
        """verl's agent-loop manager for one mode, on these workers."""
        ray.get([w.__ray_call__.remote(_use_reward_workers, reward_handles) for w in self.workers])
        manager = self.manager_cls(config=config, llm_client=policy.client(config), teacher_client=None, reward_loop_worker_handles=reward_handles)
        manager.agent_loop_workers = self.workers
        return manager

    def stop(self) -> None:
        for w in self.workers:
            ray.kill(w, no_restart=True)


def start_reward_loop(config):
    """verl's RewardLoopManager as both trainers build it (no GPU pool: a standalone judge). For
    an in-cluster judge it launches the replicas and forks verl's router from this process: the
    one fork the harness lets verl make (the router runs no torch, see ``forks_of_this_process``)."""
    from verl.experimental.reward_loop import RewardLoopManager

    manager = RewardLoopManager(config=config, rm_resource_pool=None)
    try:
        ray.get([w.__ray_ready__.remote() for w in manager.reward_loop_workers])
    except BaseException:
        stop_reward_loop(manager)
        raise
    return manager


def stop_reward_loop(manager) -> None:
    """Its worker actors and, for an in-cluster judge, its router process (RewardModelManager
    keeps no handle on it: the child of this process running verl's run_router on its port)."""
    import multiprocessing

    from verl.experimental.reward_loop.router.naive_router import run_router

    from wethink_verl.testing.verl_batch import shutdown_reward_loop

    shutdown_reward_loop(manager)
    address = getattr(manager, "reward_router_address", None)
    for child in multiprocessing.active_children():
        if address and getattr(child, "_target", None) is run_router and address.endswith(f":{child._args[1]}"):
            child.terminate()
            child.join(10)


_TOKENIZERS: dict[str, tuple] = {}


def policy_tokenizers(config) -> tuple:
    """The policy's (tokenizer, processor) from verl's HFModelConfig, as both trainers load them
    (V1's ``_init_tokenizer``, main_ppo_v0's TaskRunner), once per model folder: every mode has
    the same policy, and each load reads the 151k-token Qwen vocabulary twice (~7 s of CPU)."""
    from verl.utils.config import omega_conf_to_dataclass

    path = config.actor_rollout_ref.model.path
    if path not in _TOKENIZERS:
        model = omega_conf_to_dataclass(config.actor_rollout_ref.model)
        _TOKENIZERS[path] = (model.tokenizer, model.processor)
    return _TOKENIZERS[path]


# ---- the two trainers ------------------------------------------------------------------------
class _Harness:
    """One mode of a trainer: its reward loop (its own unless ``reward_loop`` is given: then the
    caller's, shared with another mode of the same reward config) on the module's agent-loop
    workers and scripted policy; ``close`` ends what it started, also when starting failed."""

    agent_loop_manager: Any = None
    reward_loop_manager: Any = None
    _own_reward_loop = False

    def __init__(self, config, policy: ScriptedPolicy, agent_workers: AgentLoopWorkers, reward_loop=None):
        try:
            self._start(config, policy, agent_workers, reward_loop)
        except BaseException:
            self.close()
            raise

    def _reward_loop(self, config, reward_loop):
        self._own_reward_loop = reward_loop is None
        self.reward_loop_manager = start_reward_loop(config) if reward_loop is None else reward_loop
        return self.reward_loop_manager

    def close(self) -> None:
        if self._own_reward_loop and self.reward_loop_manager is not None:
            stop_reward_loop(self.reward_loop_manager)


class V1Harness(_Harness):
    """verl's V1 trainer (TaskRunnerV1 + PPOTrainerSync) up to the reward, as ``_setup`` builds it
    minus the GPU worker groups, on the TransferQueue ``start_transfer_queue`` started."""

    trainer: Any = None

    def _start(self, config, policy: ScriptedPolicy, agent_workers: AgentLoopWorkers, reward_loop) -> None:
        import transfer_queue as tq
        from omegaconf import OmegaConf
        from verl.trainer.ppo.v1 import get_trainer_cls
        from verl.utils.skip import SkipManager

        config.transfer_queue.enable = True  # as TaskRunnerV1.run
        OmegaConf.resolve(config)
        self.config = config
        self.tq = tq
        self.trainer = trainer = get_trainer_cls(config.trainer.v1.trainer_mode)(config=config)
        trainer.tokenizer, trainer.processor = policy_tokenizers(config)  # what _init_tokenizer sets
        trainer._init_dataloader()
        trainer._init_dump_executor()
        trainer.reward_loop_manager = self._reward_loop(config, reward_loop)
        trainer.checkpoint_manager = RecordingCheckpointManager()
        trainer.global_steps = 1
        self.agent_loop_manager = trainer.agent_loop_manager = agent_workers.manager(config, policy, trainer.get_reward_handles())
        SkipManager.init(config)

    @property
    def streaming(self) -> bool:
        return self.trainer.reward_loop_manager.reward_loop_worker_handles is not None

    def train_step(self) -> list[dict]:
        """One step's rollout and reward exactly as ``PPOTrainer.step``/``_step_once`` run them;
        returns each trajectory as the trainer sees it in TransferQueue afterwards."""
        tr = self.trainer
        tr.prepare_step()  # _add_batch_to_generate: dataloader -> TQ -> agent loop workers
        batch, _ = tr.replay_buffer.sample(global_steps=tr.global_steps, partition_id="train", batch_size=self.config.data.train_batch_size)
        extra_keys = []
        if not self.streaming:  # _step_once: the colocated judge scores the sampled batch
            tr._compute_reward_colocate(batch, metrics={})
            extra_keys = list(EXTRA_INFO_KEYS)
        tr._log_rollout_data(batch, {}, self.config.trainer.rollout_data_dir)  # step()'s training dump
        fields = ["responses", "rm_scores", "reward_model", "extra_info", "data_source", "extra_fields"]
        data = self.tq.kv_batch_get(keys=batch.keys, partition_id="train", select_fields=fields + extra_keys)
        out = []
        responses = data["responses"].unbind() if hasattr(data["responses"], "unbind") else data["responses"]
        rm_scores = data["rm_scores"].unbind() if hasattr(data["rm_scores"], "unbind") else data["rm_scores"]
        for i, key in enumerate(batch.keys):
            extra_fields = data["extra_fields"][i]
            info = dict(extra_fields.get("reward_extra_info") or {}) if self.streaming else {k: _item(data[k][i]) for k in extra_keys if k in data.keys()}
            out.append({
                "key": key, "response_ids": responses[i].tolist(), "rm_scores": rm_scores[i].tolist(),
                "reward_model": data["reward_model"][i], "extra_info": data["extra_info"][i], "data_source": data["data_source"][i],
                "reward_extra_info": info,
            })  # fmt: skip
        self.tq.kv_clear(keys=batch.keys, partition_id="train")
        return out

    def validate(self) -> dict:
        """verl's own ``_validate``: agent loop -> replay buffer -> (colocated reward) -> metrics."""
        return self.trainer._validate()

    def close(self) -> None:
        super().close()
        if self.trainer is not None and hasattr(self.trainer, "_dump_executor"):
            self.trainer._shutdown_dump_executor()
        clear_transfer_queue()


class LegacyHarness(_Harness):
    """verl's legacy trainer (``trainer.use_v1=false``, RayPPOTrainer.fit) up to the reward: the
    agent loop manager with or without streaming reward handles, then RayPPOTrainer's own
    ``_compute_reward_colocate`` when the judge shares the policy GPUs."""

    def _start(self, config, policy: ScriptedPolicy, agent_workers: AgentLoopWorkers, reward_loop) -> None:
        from omegaconf import OmegaConf
        from verl.trainer.ppo.utils import create_rl_dataset

        OmegaConf.resolve(config)
        self.config = config
        self.tokenizer, self.processor = policy_tokenizers(config)  # main_ppo_v0's TaskRunner.run
        self.train_dataset = create_rl_dataset(config.data.train_files, config.data, self.tokenizer, self.processor, is_train=True)
        rewards = self._reward_loop(config, reward_loop)
        use_rm = bool(config.reward.reward_model.enable)
        self.streaming = not use_rm or bool(config.reward.reward_model.enable_resource_pool)  # ray_trainer.enable_agent_reward_loop
        self.agent_loop_manager = agent_workers.manager(config, policy, rewards.reward_loop_workers if self.streaming else None)

    def train_step(self) -> list[dict]:
        """RayPPOTrainer.fit's rollout + reward for one batch."""
        import uuid

        from torch.utils.data import default_collate  # noqa: F401 - verl's collate_fn below
        from verl import DataProto
        from verl.trainer.ppo.ray_trainer import RayPPOTrainer
        from verl.trainer.ppo.reward import extract_reward
        from verl.utils.dataset.rl_dataset import collate_fn

        n_rows = int(self.config.data.train_batch_size)
        batch = DataProto.from_single_dict(collate_fn([self.train_dataset[i] for i in range(n_rows)]))
        batch.non_tensor_batch["uid"] = np.array([str(uuid.uuid4()) for _ in range(len(batch))], dtype=object)
        gen_batch = RayPPOTrainer._get_gen_batch(None, batch)
        gen_batch.meta_info["global_steps"] = 1
        gen_out = self.agent_loop_manager.generate_sequences(gen_batch.repeat(repeat_times=self.config.actor_rollout_ref.rollout.n, interleave=True))
        batch = batch.repeat(repeat_times=self.config.actor_rollout_ref.rollout.n, interleave=True).union(gen_out)
        if "rm_scores" not in batch.batch.keys():  # the colocated judge: fit() calls this
            batch = batch.union(RayPPOTrainer._compute_reward_colocate(self, batch))
        reward_tensor, infos = extract_reward(batch)
        out = []
        for i in range(len(batch)):
            item = batch[i]
            valid = int(item.batch["attention_mask"][-item.batch["responses"].shape[-1]:].sum())
            out.append({
                "key": f"{item.non_tensor_batch['uid']}_{i}", "response_ids": item.batch["responses"][:valid].tolist(),
                "rm_scores": reward_tensor[i][:valid].tolist(), "reward_model": item.non_tensor_batch["reward_model"],
                "extra_info": item.non_tensor_batch["extra_info"], "data_source": item.non_tensor_batch["data_source"],
                "reward_extra_info": {k: _item(v[i]) for k, v in infos.items()},
            })  # fmt: skip
        self.reward_extra_keys = list(infos)
        return out


def _item(v: Any) -> Any:
    if hasattr(v, "item"):
        try:
            return v.item()
        except (ValueError, AttributeError):
            return v
    if hasattr(v, "tolist"):
        return v.tolist()
    return v


# ---- the comparison ---------------------------------------------------------------------------
def image_paths(*parquets: str) -> dict[tuple, str]:
    """(split, index) -> the row's absolute image path (extra_info.image_path is release-relative)."""
    out = {}
    for parquet in parquets:
        for rec in pd.read_parquet(parquet).to_dict("records"):
            out[(rec["extra_info"].get("split"), rec["extra_info"].get("index"))] = str(rec["images"][0])
    return out


def direct_results(trajectories: list[dict], tokenizer, scorer, images: dict[tuple, str]) -> list[dict]:
    """The scorer applied directly to each trajectory's row, image and decoded response (no verl)."""
    from wethink_verl.rows import sample_from_row

    async def run():
        out = []
        for t in trajectories:
            response = tokenizer.decode(t["response_ids"], skip_special_tokens=True)
            extra = dict(t["extra_info"])
            image = images[(extra.get("split"), extra.get("index"))]
            sample = sample_from_row(response, t["reward_model"]["ground_truth"], extra, t["data_source"], image)
            out.append(await scorer.ascore(sample))
        if scorer.judge is not None:
            await scorer.judge.aclose()  # this event loop's HTTP session
        return out

    return asyncio.run(run())


def last_score(rm_scores: list[float]) -> float:
    """The reward verl put at the last response token (zeros elsewhere)."""
    nonzero = [s for s in rm_scores if s != 0.0]
    assert len(nonzero) <= 1, nonzero
    return rm_scores[-1] if rm_scores else 0.0


def judge_bodies_with_images(bodies: list[dict]) -> int:
    """How many judge request bodies carry an image_url data URL part."""
    n = 0
    for body in bodies:
        parts = [p for m in body.get("messages", []) if isinstance(m.get("content"), list) for p in m["content"]]
        if any(p.get("type") == "image_url" and str(p.get("image_url", {}).get("url", "")).startswith("data:image/") for p in parts):
            n += 1
    return n

