#!/usr/bin/env bash
# encode_array.sh — encode one corpus across a Slurm job array: task K of N encodes shard K/N
# of the input (contiguous byte ranges cut at line starts, aligned to --part-rows; see
# `labse encode --help`) into OUT/shard-KKKKK-of-NNNNN/. A task that dies (preemption, node
# failure, time limit) resumes after its last complete part when requeued or resubmitted.
#
#   sbatch --array=0-99 tools/slurm/encode_array.sh MODEL_DIR INPUT.txt OUT_DIR [encode options...]
#
# When every task has finished, join the shards (checks completeness and contiguity):
#
#   labse merge OUT_DIR/merged OUT_DIR/shard-*                 # one folder, hard links
#   labse merge --npy OUT.npy OUT_DIR/shard-*                  # or one .npy
#
# or chain it: sbatch --dependency=afterok:<array job id> --wrap "labse merge ..."
# All tasks must use the same options (--part-rows, --window, --batch-tokens, --format,
# --threads): merge refuses shards of different runs, and byte-identity with a single run
# needs the same batches and encoder threads.
#SBATCH --job-name=labse-encode
#SBATCH --cpus-per-task=8
#SBATCH --requeue
#SBATCH --signal=B:TERM@120
#SBATCH --output=labse-encode-%A_%a.log
set -euo pipefail
MODEL=${1:?model dir}; INPUT=${2:?input file}; OUT=${3:?output dir}; shift 3
: "${SLURM_ARRAY_TASK_ID:?run this with sbatch --array=0-(N-1)}"
: "${SLURM_ARRAY_TASK_COUNT:?run this with sbatch --array=0-(N-1)}"
LABSE=${LABSE:-labse}
# The array must be 0..N-1: the task id is the shard index.
if [ "${SLURM_ARRAY_TASK_MIN:-0}" != 0 ] || [ "${SLURM_ARRAY_TASK_MAX:-$((SLURM_ARRAY_TASK_COUNT - 1))}" != $((SLURM_ARRAY_TASK_COUNT - 1)) ]; then
    echo "encode_array.sh: use --array=0-$((SLURM_ARRAY_TASK_COUNT - 1)) (task ids are shard indices)" >&2
    exit 2
fi
# labse stops cleanly on SIGTERM (Slurm's warning before the time limit, scancel): the
# folder keeps its complete parts and a requeued task resumes from there.
exec "$LABSE" encode --model "$MODEL" --input "$INPUT" --output "$OUT/" \
    --shard "$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT" --threads "${SLURM_CPUS_PER_TASK:-0}" "$@"
