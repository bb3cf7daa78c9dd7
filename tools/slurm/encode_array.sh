#!/usr/bin/env bash
# encode_array.sh — encode one corpus across a Slurm job array, one GPU per task: task K of N
# encodes shard K/N of the input into OUT/shard-KKKKK-of-NNNNN/ (one input file: contiguous
# byte ranges cut at line starts, aligned to --part-rows; many files: whole files dealt to the
# tasks by bytes, a file bigger than its share split by byte ranges; see `labse encode --help`).
# A task that dies (preemption, node failure, time limit) resumes after its last complete part
# when requeued or resubmitted.
#
#   GPU nodes (the default: one GPU and 4 CPUs per task, below):
#     sbatch --array=0-99 tools/slurm/encode_array.sh MODEL_DIR INPUT OUT_DIR [encode options...]
#   CPU clusters (no GPU asked; the CPUs are the encoder's threads, so ask for many):
#     LABSE_DEVICE=cpu sbatch --gres=none --cpus-per-task=32 --array=0-99 \
#         tools/slurm/encode_array.sh MODEL_DIR INPUT OUT_DIR [encode options...]
#
# INPUT is one file (plain, .gz/.zst/.xz, TSV/JSONL with --tsv-column/--jsonl-field), or
# @LIST: a file of input paths, one a line, passed as `--input-list LIST` (a corpus of many
# files). sbatch's command line overrides the #SBATCH lines below as usual (--gres=gpu:a100:1,
# --cpus-per-task, --time, --partition ...); sbatch exports the environment to the tasks, so
# LABSE (the labse binary, default: labse on PATH) and LABSE_DEVICE reach them.
#
# Device: LABSE_DEVICE (default cuda) is passed as --device. With cuda the task uses the GPU
# Slurm gave it: Slurm sets CUDA_VISIBLE_DEVICES to the allocated card, which labse then sees
# as device 0. A cuda task that Slurm gave no GPU stops at once with a message (rather than
# running on whatever card happens to be visible, or not at all); LABSE_DEVICE=cuda:N or
# cuda:all are passed as given.
# Threads: labse's own defaults count every core of the node, not the task's share, so the
# task passes its allocation (SLURM_CPUS_PER_TASK = C) explicitly:
#   cuda: --tok-threads C-1 (at least 1): the tokenizer threads feed the GPU; the reader and
#         the scheduler thread (it drives the GPU and writes the parts) mostly wait on I/O and
#         on the GPU and share the remaining core. --threads C (the CPU encoder's OpenMP team,
#         unused on the GPU but bounded).
#   cpu:  --threads C (the encoder, the bottleneck) and --tok-threads 1: one tokenizer thread
#         makes 15-18 M tokens/s, the CPU encoder ~600 tokens/s per core on LaBSE (both in
#         bench/RESULTS.md), so even 64 cores use under 1% of that thread.
# Options given after OUT_DIR come later on labse's command line and win.
#
# CPUs per GPU: 4. The host feeding rate (`labse encode --device null`, bench/RESULTS.md "The
# host's feeding rate"): the whole host path (read, tokenise, pack, write and hash the rows)
# costs ~2 M tokens per CPU-second of LaBSE, the tokenizer alone >= 6.9 M; a GPU eats up to
# ~4 M tokens/s (bench/perf_model.py predicts 2.3-5.3 M by path and card, not yet measured),
# so a GPU needs about 2 cores' worth over three busy threads: 3 CPUs for plain text, 4 for
# .gz input or CPUs without the SHA extensions (README, "The host's feeding rate"). With 4,
# the tasks run --tok-threads 3: the spare tokenizer threads cost nothing when idle.
#
# When every task has finished, join the shards (checks completeness and contiguity):
#
#   labse merge OUT_DIR/merged OUT_DIR/shard-*                 # one folder, hard links
#   labse merge --npy OUT.npy OUT_DIR/shard-*                  # or one .npy
#   labse merge --npy OUT.npy OUT_DIR                          # @LIST: all files, list order
#
# or chain it: sbatch --dependency=afterok:<array job id> --wrap "labse merge ..."
# All tasks must use the same options (--part-rows, --window, --batch-tokens, --format,
# --threads, the device): merge refuses shards of different runs, and byte-identity with a
# single run needs the same batches and encoder threads.
# Tested by tests/test_slurm.sh on a single-node Slurm started by the test (ctest -L slurm).
#SBATCH --job-name=labse-encode
#SBATCH --gres=gpu:1
#SBATCH --cpus-per-task=4
#SBATCH --requeue
#SBATCH --signal=B:TERM@120
#SBATCH --output=labse-encode-%A_%a.log
set -euo pipefail
usage="sbatch --array=0-(N-1) encode_array.sh MODEL_DIR INPUT|@LIST OUT_DIR [encode options...]"
MODEL=${1:?$usage}; INPUT=${2:?$usage}; OUT=${3:?$usage}; shift 3
: "${SLURM_ARRAY_TASK_ID:?$usage}"
: "${SLURM_ARRAY_TASK_COUNT:?$usage}"
LABSE=${LABSE:-labse}
DEVICE=${LABSE_DEVICE:-cuda}
# The array must be 0..N-1: the task id is the shard index.
if [ "${SLURM_ARRAY_TASK_MIN:-0}" != 0 ] || [ "${SLURM_ARRAY_TASK_MAX:-$((SLURM_ARRAY_TASK_COUNT - 1))}" != $((SLURM_ARRAY_TASK_COUNT - 1)) ]; then
    echo "encode_array.sh: use --array=0-$((SLURM_ARRAY_TASK_COUNT - 1)) (task ids are shard indices)" >&2
    exit 2
fi
case $INPUT in
    @*) IN=(--input-list "${INPUT#@}") ;;
    *) IN=(--input "$INPUT") ;;
esac
C=${SLURM_CPUS_PER_TASK:-1}
case $DEVICE in
    cpu) TH=(--threads "$C" --tok-threads 1) ;;
    *)
        if [ "$DEVICE" = cuda ] && [ -z "${CUDA_VISIBLE_DEVICES:-}" ] && [ -z "${SLURM_JOB_GPUS:-}" ]; then
            echo "encode_array.sh: Slurm gave this task no GPU (CUDA_VISIBLE_DEVICES and SLURM_JOB_GPUS unset);" \
                 "ask for one (--gres=gpu:1, the default), run on CPUs (LABSE_DEVICE=cpu sbatch --gres=none ...)," \
                 "or name the card (LABSE_DEVICE=cuda:0) on a cluster that does not bind GPUs to jobs" >&2
            exit 2
        fi
        TH=(--threads "$C" --tok-threads $((C > 1 ? C - 1 : 1))) ;;
esac
echo "encode_array.sh: task $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT on $(hostname -s):" \
     "device $DEVICE (CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES:-}), $C CPUs" >&2
# labse stops cleanly on SIGTERM (Slurm's warning before the time limit, scancel): the
# folder keeps its complete parts and a requeued task resumes from there.
exec "$LABSE" encode --model "$MODEL" "${IN[@]}" --output "$OUT/" --device "$DEVICE" \
    --shard "$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT" "${TH[@]}" "$@"
