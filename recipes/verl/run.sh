#!/usr/bin/env bash
# verl launch for WeThink GRPO. VARIANT: rule (default) | judge_incluster | judge_external.
# Data: wethink-verl prepare --format verl --input WeThink.jsonl --image-root IMAGES --output-dir $WETHINK_DATA
#   (or skip prepare: DATA_MODE=raw reads the WeThink JSONL directly through WeThinkDataset)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
VARIANT=${VARIANT:-rule}
NNODES=${NNODES:-1}
GPUS=${GPUS_PER_NODE:-8}
MODEL=${MODEL:-Qwen/Qwen2.5-VL-7B-Instruct}
export WETHINK_DATA=${WETHINK_DATA:-$HOME/data/wethink}

case "$VARIANT" in
  rule) NAME=wethink_grpo ;;
  judge_incluster) NAME=wethink_grpo_judge_incluster ;;
  judge_external) NAME=wethink_grpo_judge_external ;;
  *) echo "unknown VARIANT=$VARIANT" >&2; exit 2 ;;
esac

DATA_ARGS=()
if [[ "${DATA_MODE:-parquet}" == raw ]]; then
  # WeThinkDataset builds verl rows from the release JSONL + image root, no prepare step.
  # Validation needs held-out rows: validating on the training file would measure memorisation.
  if [[ -z "${WETHINK_VAL_JSONL:-}" || "$(realpath -m "$WETHINK_VAL_JSONL")" == "$(realpath -m "${WETHINK_JSONL:-}")" ]]; then
    echo "DATA_MODE=raw needs WETHINK_VAL_JSONL: a held-out JSONL, not the training file" \
         "(split one off with: wethink-verl prepare --format verl --val-size 0.01 ...)" >&2
    exit 2
  fi
  DATA_ARGS+=(data.custom_cls.path=pkg://wethink_verl.data.dataset data.custom_cls.name=WeThinkDataset
              data.train_files="${WETHINK_JSONL:?set WETHINK_JSONL}" data.val_files="$WETHINK_VAL_JSONL"
              +data.wethink.image_root="${WETHINK_IMAGES:?set WETHINK_IMAGES}")
fi

# main_ppo forwards only verl's own variables to the Ray workers: the reward-loop workers (which
# call the judge) run on every node, so the key variable named by judge.api_key_env travels in the
# job's runtime_env. verl prints the resolved config at start, the key included: keep that log private
# (or export the key on every node before `ray start` and set FORWARD_JUDGE_KEY=0).
ENV_ARGS=()
KEY_VAR=${JUDGE_API_KEY_ENV:-JUDGE_API_KEY}
if [[ "$VARIANT" == judge_external && -n "${!KEY_VAR:-}" && "${FORWARD_JUDGE_KEY:-1}" == 1 ]]; then
  ENV_ARGS+=("+ray_kwargs.ray_init.runtime_env.env_vars.$KEY_VAR='${!KEY_VAR}'")
fi

wethink-verl doctor >/dev/null || { wethink-verl doctor; exit 1; }
python3 -m verl.trainer.main_ppo --config-path="$HERE" --config-name="$NAME" \
  actor_rollout_ref.model.path="$MODEL" trainer.nnodes="$NNODES" trainer.n_gpus_per_node="$GPUS" \
  "${DATA_ARGS[@]}" "${ENV_ARGS[@]}" "$@"
