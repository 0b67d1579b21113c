#!/usr/bin/env bash
# EasyR1 launch for WeThink GRPO. Needs an EasyR1 environment with wethink-verl installed
# (pip install wethink-verl: our runtime deps are light; EasyR1 and verl can never share one env).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
EASYR1_DIR=${EASYR1_DIR:?set EASYR1_DIR to your EasyR1 checkout}
DATA=${WETHINK_EASYR1:-$HOME/data/wethink_easyr1}          # wethink-verl prepare --format easyr1 output
IMAGES=${WETHINK_IMAGES:-$HOME/data/llava_cot_images}      # LLaVA-CoT-100k image root
MODEL=${MODEL:-Qwen/Qwen2.5-VL-7B-Instruct}
NNODES=${NNODES:-1}
GPUS=${GPUS_PER_NODE:-8}
REWARD_FN=$(wethink-verl easyr1-reward-path --with-function)

JUDGE_ARGS=()
# JUDGE_MODEL unset: the client asks the endpoint (GET /v1/models) for the served model
if [[ -n "${JUDGE_URL:-}" ]]; then       # e.g. https://api.deepseek.com with JUDGE_MODEL=deepseek-chat
  JUDGE_ARGS+=(worker.reward.reward_function_kwargs.judge.enable=true
               worker.reward.reward_function_kwargs.judge.backend=http
               worker.reward.reward_function_kwargs.judge.url="$JUDGE_URL"
               ${JUDGE_MODEL:+worker.reward.reward_function_kwargs.judge.model="$JUDGE_MODEL"}
               worker.reward.reward_function_kwargs.judge.api_key_env="${JUDGE_API_KEY_ENV:-JUDGE_API_KEY}")
fi

cd "$EASYR1_DIR"
python3 -m verl.trainer.main config="$HERE/wethink_grpo.yaml" \
  data.train_files="$DATA/train.jsonl" data.val_files="$DATA/val.jsonl" \
  data.format_prompt="$DATA/wethink_format.jinja" data.image_dir="$IMAGES" \
  worker.actor.model.model_path="$MODEL" worker.reward.reward_function="$REWARD_FN" \
  trainer.nnodes="$NNODES" trainer.n_gpus_per_node="$GPUS" "${JUDGE_ARGS[@]}" "$@"
