#!/usr/bin/env bash
# One-GPU smoke run of the whole stack: verl's real trainer, vLLM rollout, the `wethink` reward
# manager with rule verifiers and an in-cluster judge (vLLM replica behind verl's router), on a
# tiny random-weight Qwen2.5-VL policy and a tiny random Qwen2 judge built from configs (no model
# hub), 64 synthetic WeThink rows, 2 GRPO steps. Prints the reward per step and the judge counters.
#
#   make gpu-smoke            (or: bash recipes/verl/smoke_1gpu.sh)
#
# Environment: requirements/gpu.txt (README "GPU environment"); one GPU with >= 16 GB.
# Random weights answer noise: this proves the wiring, not learning. The judge's noise verdicts are
# mostly unparseable and fall back to the text verifier, counted in val/judge_failed.
#
# One GPU means the judge shares the policy's GPU (enable_resource_pool=false). verl's V1 trainer
# hands a colocated reward model no ground truth (the manager would score every sample as an error,
# see README "Judge modes"), so this run uses the legacy trainer (trainer.use_v1=false), whose
# colocated path passes the whole batch. With a second GPU use the V1 default and
# reward.reward_model.enable_resource_pool=true.
#
# SMOKE_DIR: where models, data and the log go (default ./outputs/gpu_smoke); SMOKE_EXTRA: extra
# Hydra overrides; PYTHON: the interpreter (default python3).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
PYTHON=${PYTHON:-python3}
SMOKE_DIR=$(realpath -m "${SMOKE_DIR:-outputs/gpu_smoke}")
mkdir -p "$SMOKE_DIR"
LOG="$SMOKE_DIR/train.log"

echo "== building the tiny policy, the tiny judge and 64 rows under $SMOKE_DIR"
eval "$("$PYTHON" -m wethink_verl.demo.gpu_smoke build --out "$SMOKE_DIR" --rows 64)"

echo "== wethink-verl doctor"
"$PYTHON" -m wethink_verl.cli doctor >/dev/null || { "$PYTHON" -m wethink_verl.cli doctor; exit 1; }

echo "== 2 GRPO steps (log: $LOG)"
set +e
# shellcheck disable=SC2086  # SMOKE_EXTRA is a list of overrides
WETHINK_DATA="$SMOKE_DATA" WETHINK_MODEL="$SMOKE_POLICY" \
"$PYTHON" -m verl.trainer.main_ppo --config-path="$HERE" --config-name=wethink_grpo_judge_incluster \
  trainer.use_v1=false \
  trainer.n_gpus_per_node=1 trainer.nnodes=1 \
  trainer.total_training_steps=2 trainer.total_epochs=100 trainer.test_freq=1 trainer.val_before_train=true \
  trainer.save_freq=-1 'trainer.logger=[console]' trainer.experiment_name=wethink_gpu_smoke \
  trainer.default_local_dir="$SMOKE_DIR/checkpoints" \
  trainer.rollout_data_dir="$SMOKE_DIR/rollouts" trainer.validation_data_dir="$SMOKE_DIR/validation" \
  data.train_batch_size=8 data.val_batch_size=8 data.max_prompt_length=1024 data.max_response_length=256 \
  data.dataloader_num_workers=0 \
  actor_rollout_ref.actor.ppo_mini_batch_size=8 actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=4 \
  actor_rollout_ref.actor.ppo_max_token_len_per_gpu=8192 actor_rollout_ref.actor.fsdp_config.param_offload=false \
  actor_rollout_ref.ref.fsdp_config.param_offload=false actor_rollout_ref.ref.log_prob_max_token_len_per_gpu=8192 \
  actor_rollout_ref.model.enable_gradient_checkpointing=false \
  actor_rollout_ref.rollout.tensor_model_parallel_size=1 actor_rollout_ref.rollout.gpu_memory_utilization=0.3 \
  actor_rollout_ref.rollout.log_prob_max_token_len_per_gpu=8192 actor_rollout_ref.rollout.enforce_eager=true \
  actor_rollout_ref.rollout.max_model_len=1536 actor_rollout_ref.rollout.max_num_batched_tokens=8192 \
  reward.num_workers=2 \
  reward.reward_model.enable_resource_pool=false reward.reward_model.n_gpus_per_node=1 \
  reward.reward_model.model_path="$SMOKE_JUDGE" \
  reward.reward_model.rollout.tensor_model_parallel_size=1 reward.reward_model.rollout.gpu_memory_utilization=0.2 \
  reward.reward_model.rollout.free_cache_engine=true reward.reward_model.rollout.enforce_eager=true \
  reward.reward_model.rollout.prompt_length=1024 reward.reward_model.rollout.response_length=64 \
  reward.reward_model.rollout.max_num_seqs=64 \
  +reward.reward_kwargs.judge.max_tokens=32 +reward.reward_kwargs.judge.parse_retries=0 \
  ${SMOKE_EXTRA:-} 2>&1 | tee "$LOG"
status=${PIPESTATUS[0]}
set -e

echo "== report"
"$PYTHON" -m wethink_verl.demo.gpu_smoke report "$LOG" || true
exit "$status"
