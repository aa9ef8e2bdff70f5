#!/usr/bin/env bash
# Issue 19's Shakespeare methods table with real pretrained knowledge. The teacher: bert2bert warm-started from
# TEACHER_INIT (a BERT-style encoder with an MLM head, e.g. minilm-all of benchmarks/adaptation_study.py), trained in
# two stages: 1,200 steps on the 7,000 labelled pairs with its new cross-attention at 1e-3 (the rest 1e-4), then
# 1,200 more steps from that checkpoint on the labelled pairs plus each labelled target copied to itself
# (--teacher_copy_targets). Then one student per method, warm-started from STUDENT (and `sft` from RANDOM_STUDENT,
# the same shape with random weights), 600 steps of 32 at 1e-4, cross-attention 1e-3, against the stage-2 teacher;
# the f-DISTILL rows 600 more steps from the word_kd student.
# Every row goes to ROOT/shakespeare-t2/results.md. A finished run (metrics.json) is skipped, an interrupted one
# resumed from its last checkpoint (written every 100 steps), so the study continues where it stopped.
#
# Usage:
#   TEACHER_INIT=runs/adaptation-study/minilm-all/model STUDENT=runs/real/job/student-distilled/model \
#   RANDOM_STUDENT=runs/downstream/random-init-student taskset -c 0 bash benchmarks/nlg_study.sh [METHOD ...]
# METHOD: a --method value, sft-random-init, word_kd+word_kd or word_kd+f_distill-<divergence> (after word_kd;
# default: all, in that order); ROOT [runs/nlg-real].
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=${ROOT:-runs/nlg-real}
for needed in TEACHER_INIT STUDENT RANDOM_STUDENT; do
    [ -e "${!needed:-}/config.json" ] || { echo "set $needed to a model folder (see the usage above)" >&2; exit 1; }
done
DATA="--task shakespeare --labeled_examples 7000 --max_source_length 48 --max_target_length 48 --max_new_tokens 48
  --per_device_train_batch_size 32 --use_cpu --bf16 --save_steps 100 --logging_steps 50"
TEACHER="--teacher_max_steps 1200 --teacher_learning_rate 1e-4 --teacher_cross_attention_learning_rate 1e-3"

python scripts/distill_seq2seq.py --teacher_only $DATA $TEACHER --student "$STUDENT" --teacher_init "$TEACHER_INIT" \
    --output_root "$ROOT/shakespeare"
stage1=$(python - "$ROOT/shakespeare" "$TEACHER_INIT" <<'PY'
import json, sys
from pathlib import Path
from lexkd.utils.fingerprints import model_fingerprint
init = model_fingerprint(sys.argv[2])
found = [m.parent / "model" for m in Path(sys.argv[1]).glob("teacher-*/teacher_meta.json")
         if (s := json.loads(m.read_text())["settings"])["init"] == init and s["steps"] == 1200
         and s.get("cross_attention_learning_rate") == 1e-3 and not s.get("copy_targets")]
assert len(found) == 1, f"expected one stage-1 teacher in {sys.argv[1]}, found {found}"
print(found[0])
PY
)
T2="$DATA $TEACHER --teacher_init $stage1 --teacher_copy_targets --output_root $ROOT/shakespeare-t2"
python scripts/distill_seq2seq.py --teacher_only $T2 --student "$STUDENT"

run() {  # LABEL STUDENT [flags...]
    local label=$1 student=$2 resume=()
    shift 2
    local out=$ROOT/shakespeare-t2/$label
    if [ -f "$out/metrics.json" ]; then echo "done: $label"; return; fi
    if compgen -G "$out/checkpoint-*" > /dev/null; then resume=(--resume_from_checkpoint last); fi
    echo "== $label"
    python scripts/distill_seq2seq.py $T2 --student "$student" --label "$label" --max_steps 600 --learning_rate 1e-4 \
        "${resume[@]}" "$@"
}
NEW="--cross_attention_learning_rate 1e-3"  # students warm-started from an encoder: their cross-attention is new
# f-DISTILL's setting (its code, MANGA-UOFA/fdistill): the f-divergence stage starts from a task-trained student,
# here word_kd's, at one learning rate; against the same checkpoint trained as many more steps by word_kd
TASK_TRAINED=$ROOT/shakespeare-t2/word_kd/model
methods=("$@")
[ ${#methods[@]} -gt 0 ] || methods=(sft sft-random-init word_kd seqkd pseudo_targets joint_teaching hr_kd ar_kd
                                       word_kd+word_kd word_kd+f_distill-kl word_kd+f_distill-rkl word_kd+f_distill-js
                                       word_kd+f_distill-tvd)
for m in "${methods[@]}"; do
    case $m in
        sft-random-init) run "$m" "$RANDOM_STUDENT" --method sft $NEW ;;
        word_kd+word_kd) run "$m" "$TASK_TRAINED" --method word_kd ;;
        word_kd+f_distill-js) run "$m" "$TASK_TRAINED" --method f_distill --divergence js --beta 0.85 ;;
        word_kd+f_distill-*) run "$m" "$TASK_TRAINED" --method f_distill --divergence "${m#word_kd+f_distill-}" ;;
        *) run "$m" "$STUDENT" --method "$m" $NEW ;;
    esac
done
echo "Table: $ROOT/shakespeare-t2/results.md"
