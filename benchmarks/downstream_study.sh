#!/usr/bin/env bash
# Issue 18's downstream tables: on each task, the classic baselines, the embedding-similarity detector,
# the pretrained encoders fine-tuned (the teachers' level), lexkd's students fine-tuned (distilled,
# gold-only MLM, random initialisation) and the distilled student with task-specific distillation from
# the fine-tuned encoders. Every run is a row of RESULTS/TASK/results.md (same data, same evaluation);
# a run whose metrics.json exists is skipped, so the study resumes where it stopped.
#
# Usage (after the main job with configs/pretrained-teachers.yaml and scripts/unpack_pretrained.py):
#   taskset -c 0 bash benchmarks/downstream_study.sh sst2 mrpc pairs
# Environment (defaults in brackets): MODELS [models], JOB [runs/pretrained-teachers], RESULTS
# [runs/downstream], SST2_TRAIN [8000: SST-2 training examples drawn with seed 42; the figure is not the
# full-data one], EPOCHS [3], LR [5e-5], MPNET [1: also fine-tune all-mpnet-base-v2 and distil from it].
set -euo pipefail
cd "$(dirname "$0")/.."
MODELS=${MODELS:-models}
JOB=${JOB:-runs/pretrained-teachers}
RESULTS=${RESULTS:-runs/downstream}
SST2_TRAIN=${SST2_TRAIN:-8000}
EPOCHS=${EPOCHS:-3}
LR=${LR:-5e-5}
MPNET=${MPNET:-1}
MINILM_DIR=$MODELS/all-MiniLM-L6-v2
MPNET_DIR=$MODELS/all-mpnet-base-v2
RANDOM_INIT=$RESULTS/random-init-student
for needed in "$MINILM_DIR" "$JOB/student-distilled/model" "$JOB/student-mlm/model"; do
    [ -e "$needed/config.json" ] || { echo "missing $needed (see the usage above)" >&2; exit 1; }
done

if [ ! -f "$RANDOM_INIT/config.json" ]; then  # the distilled student's shape, random weights, its tokenizer
    python - "$JOB/student-distilled/model" "$RANDOM_INIT" <<'EOF'
import sys

import torch
from transformers import AutoConfig, AutoTokenizer, BertForPreTraining

from lexkd.utils.io import save_model_atomically

torch.manual_seed(0)
source, target = sys.argv[1:]
save_model_atomically(BertForPreTraining(AutoConfig.from_pretrained(source)), AutoTokenizer.from_pretrained(source),
                      target)
EOF
fi

run() {  # run TASK LABEL MODEL [flags...]: one row, skipped when finished
    local task=$1 label=$2 model=$3
    shift 3
    local out=$RESULTS/$task/$label script=scripts/finetune_glue.py extra=()
    if [ -f "$out/metrics.json" ]; then echo "done: $out"; return; fi
    case $task in
        pairs) script=scripts/eval_plagiarism.py ;;
        sst2) extra=(--max_train_examples "$SST2_TRAIN" --max_seq_length 64) ;;
    esac
    echo "== $task: $label"
    python "$script" --task "$task" --model "$model" --label "$label" --output_dir "$out" \
        --results_root "$RESULTS" --num_train_epochs "$EPOCHS" --learning_rate "$LR" --seed 42 \
        --teacher_logits_dir "$RESULTS/teacher-logits" "${extra[@]}" "$@"
}

tasks=("$@")
[ ${#tasks[@]} -gt 0 ] || tasks=(sst2 mrpc pairs)
for task in "${tasks[@]}"; do
    run "$task" tfidf-logreg tfidf-logreg
    run "$task" tfidf-svm tfidf-svm
    if [ "$task" != sst2 ]; then
        # the threshold is one number: 2,000 training pairs tune it (embedding every pair costs CPU)
        run "$task" cosine-minilm "cosine:$MINILM_DIR" --max_train_examples 2000
        if [ "$MPNET" = 1 ]; then run "$task" cosine-mpnet "cosine:$MPNET_DIR" --max_train_examples 2000; fi
    fi
    run "$task" minilm "$MINILM_DIR" --save_model
    if [ "$MPNET" = 1 ]; then run "$task" mpnet "$MPNET_DIR" --save_model; fi
    run "$task" student-distilled "$JOB/student-distilled/model"
    run "$task" student-mlm "$JOB/student-mlm/model"
    run "$task" student-random-init "$RANDOM_INIT"
    run "$task" student-distilled+kd-minilm "$JOB/student-distilled/model" \
        --teacher "$RESULTS/$task/minilm/model" --alpha 0.5 --temperature 2
    if [ "$MPNET" = 1 ]; then
        run "$task" student-distilled+kd-minilm+mpnet "$JOB/student-distilled/model" \
            --teacher "$RESULTS/$task/minilm/model" "$RESULTS/$task/mpnet/model" --alpha 0.5 --temperature 2
    fi
done
echo "Tables: $RESULTS/<task>/results.md"
