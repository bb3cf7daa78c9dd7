#!/usr/bin/env bash
# test_slurm.sh — tools/slurm/encode_array.sh as a real Slurm array job (issue 12 §6). The test
# starts its own single-node Slurm: munged (a fresh key, its socket in the scratch folder),
# slurmctld and slurmd on 127.0.0.1 at two free ports, from a slurm.conf it writes (no cgroups:
# proctrack/linuxproc, task/none; one node with 8 CPUs and 2 "GPUs" declared, see below), and
# stops them at exit, with any job process left (found by the unique SLURM_CONF path in their
# environment). Then:
#   1. GPU request, with a stub labse that records its arguments: the script as written
#      (#SBATCH --gres=gpu:1 --cpus-per-task=4) gets a GPU from Slurm (CUDA_VISIBLE_DEVICES) and
#      passes --device cuda, --tok-threads 3, --threads 4, --shard K/2;
#   2. the same script with --gres=none and no LABSE_DEVICE: every task stops with the message;
#   3. the CPU variant for real (LABSE_DEVICE=cpu sbatch --gres=none --cpus-per-task=1
#      --array=0-2) with the tiny model over one file, `labse merge --npy`, byte-identical to a
#      single run (same --threads, --window, --part-rows: same batches);
#   4. the same over a corpus of several files given as @LIST, once `labse encode --help`
#      mentions --input-list (issue 12 §2; until then it prints a skip line).
#
#   test_slurm.sh LABSE_BIN MODEL_DIR
# Exit 77 (ctest's skip) when MODEL_DIR is absent, when not root (slurmd runs each job as its
# user), or when the daemons cannot start here (no slurm-wlm/munge, no short hostname, ports):
# it prints why, with the daemons' logs. ~18 s, ~32 s with stage 4 (sbatch --wait polls: ~10 s
# an array job here, whatever its size).
set -u
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LABSE=${1:?labse}; MODEL=${2:?model}
need_model "$MODEL"
skip() { echo "SKIP: $*"; exit 77; }
for b in munged munge slurmctld slurmd sbatch scancel squeue sinfo; do
    command -v "$b" >/dev/null 2>&1 || skip "no $b (tools/install_deps.sh installs slurm-wlm and munge)"
done
[ "$(id -u)" -eq 0 ] || skip "not root: slurmd starts each job as its owner (CI runs as root)"
H=$(hostname -s 2>/dev/null) || H=""
[ -n "$H" ] || skip "no short hostname (slurmctld must find itself in SlurmctldHost)"
LABSE=$(realpath "$LABSE"); MODEL=$(realpath "$MODEL")
SCRIPT=$(realpath "$(dirname "${BASH_SOURCE[0]}")/../tools/slurm/encode_array.sh")
scratch slurm
chmod 755 "$T"   # munged refuses a socket below a folder that not everyone can search
CONF=$T/slurm.conf; SOCK=$T/munge/sock
[ ${#SOCK} -lt 100 ] || skip "scratch path too long for a unix socket: $SOCK"
sl() { SLURM_CONF=$CONF timeout 20 "$@"; }   # a Slurm client command on our cluster

# ---- daemons: start, and stop at exit whatever happens ----
PIDS=(); up=0
stop_all() {
    local p i end=$((SECONDS + 15))
    if [ $up = 1 ]; then   # jobs cancelled and gone (<= 15 s), then the daemons
        sl scancel --full --quiet --user=root >/dev/null 2>&1
        while [ $SECONDS -lt $end ] && [ -n "$(sl squeue -h 2>/dev/null)" ]; do sleep 0.5; done
    fi
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do
        for i in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$p" 2>/dev/null
    done
    # slurmstepd and job processes detach from slurmd: kill whatever still carries our
    # cluster's slurm.conf in its environment (this shell does not: see sl)
    for p in /proc/[0-9]*; do
        p=${p#/proc/}
        [ "$p" != $$ ] || continue
        tr '\0' '\n' 2>/dev/null <"/proc/$p/environ" | grep -qxF "SLURM_CONF=$CONF" && kill -KILL "$p" 2>/dev/null
    done
    rm -rf "$T"
}
trap stop_all EXIT
trap 'exit 130' INT; trap 'exit 143' TERM   # through the EXIT trap: no daemon left behind
logs() {
    local f
    for f in "$T"/munged.log "$T"/slurmctld.log "$T"/slurmd.log "$T"/*.out; do
        [ -s "$f" ] && { echo "---- $f (last 15 lines)"; tail -15 "$f"; }
    done
}
# A port nothing listens on: connecting to it fails. Two daemons started later may still
# race another program for it: a start that fails is retried with other ports.
free_port() {
    local p
    for _ in $(seq 100); do
        p=$((20000 + (RANDOM * 7 + $$) % 30000))
        if ! (: <"/dev/tcp/127.0.0.1/$p") 2>/dev/null && ! (: <"/dev/tcp/127.0.0.1/$((p + 1))") 2>/dev/null; then
            echo "$p"; return 0
        fi
    done
    return 1
}

mkdir -p "$T/munge" "$T/state" "$T/spool"
head -c 1024 /dev/urandom >"$T/munge.key"; chmod 600 "$T/munge.key"
munged -F --key-file="$T/munge.key" --socket="$SOCK" --pid-file="$T/munged.pid" \
    --seed-file="$T/munged.seed" --log-file="$T/munged.log" >"$T/munged.out" 2>&1 &
PIDS+=($!)
for i in $(seq 50); do   # <= 10 s
    munge -n -S "$SOCK" 2>/dev/null | unmunge -S "$SOCK" >/dev/null 2>&1 && break
    sleep 0.2
done
munge -n -S "$SOCK" 2>/dev/null | unmunge -S "$SOCK" >/dev/null 2>&1 || { logs; skip "munged did not start"; }

# 8 CPUs and 2 GPUs are declared whatever the machine has (config_overrides): the GPU script
# asks for 4 CPUs and a GPU per task. The "GPUs" are /dev/null and /dev/zero (slurmd wants
# character devices): Slurm only hands out their indices in CUDA_VISIBLE_DEVICES (no cgroup
# confines devices here), and only the stub labse of check 1 is ever told --device cuda.
printf 'Name=gpu File=/dev/null\nName=gpu File=/dev/zero\n' >"$T/gres.conf"
write_conf() {
    cat >"$CONF" <<EOF
ClusterName=labsetest
SlurmctldHost=$H(127.0.0.1)
SlurmctldPort=$1
SlurmdPort=$(($1 + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$SOCK
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmctldLogFile=$T/slurmctld.log
SlurmdLogFile=$T/slurmd.log
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
ReturnToService=2
GresTypes=gpu
NodeName=$H NodeAddr=127.0.0.1 CPUs=8 Gres=gpu:2 State=UNKNOWN
PartitionName=test Nodes=$H Default=YES MaxTime=INFINITE State=UP
EOF
}
for attempt in 1 2 3; do
    port=$(free_port) || skip "no free port pair found"
    write_conf "$port"
    SLURM_CONF=$CONF slurmctld -D -i >"$T/slurmctld.out" 2>&1 & ctld=$!
    SLURM_CONF=$CONF slurmd -D >"$T/slurmd.out" 2>&1 & slurmd=$!
    PIDS+=("$ctld" "$slurmd")
    for i in $(seq 60); do   # <= 30 s for the node to register and become idle
        st=$(sl sinfo -h -N -o %t 2>/dev/null)
        [ "$st" = idle ] && { up=1; break; }
        kill -0 "$ctld" 2>/dev/null && kill -0 "$slurmd" 2>/dev/null || break
        sleep 0.5
    done
    [ $up = 1 ] && break
    echo "slurm start $attempt on ports $port/$((port + 1)) failed (node: ${st:-none})"
    kill -TERM "$ctld" "$slurmd" 2>/dev/null; wait "$ctld" "$slurmd" 2>/dev/null
    grep -qi "address already in use" "$T"/slurm*.log "$T"/slurm*.out 2>/dev/null || break
done
[ $up = 1 ] || { logs; skip "slurmctld/slurmd did not start (logs above)"; }
echo "# single-node Slurm up: $H, ports $port/$((port + 1)), $(sl sinfo -h -N -o '%c CPUs, %G')"

# ---- the corpus and the reference run ----
BITEXT=$(dirname "${BASH_SOURCE[0]}")/../../shared/data/bitext
{
    if [ -d "$BITEXT" ]; then cat "$BITEXT"/*.tsv | cut -f2 | head -1500; fi
    awk 'BEGIN { for (i = 0; i < 1500; i++) { s = ""; for (j = 0; j < i % 29; j++) s = s " w" (i * j % 97); print "line " i s } }'
} >"$T/in.txt"
NL=$(awk 'END { print NR }' "$T/in.txt")
# --window and --part-rows small enough that 3 tasks each get several parts; --threads 1 on
# both sides (the CPU variant passes --threads SLURM_CPUS_PER_TASK): the same batches and
# encoder threads, so the rows are the same bytes.
OPTS=(--part-rows 250 --window 125 --quiet)
"$LABSE" encode --model "$MODEL" --device cpu --threads 1 --input "$T/in.txt" --output "$T/single.npy" "${OPTS[@]}"
check "single run: rc 0 ($NL lines)" test $? -eq 0

tail_logs() {   # the end of the job logs of job name $1 and of the daemons', after a failure
    local f
    for f in "$T/log-$1-"*.txt; do echo "---- $f"; tail -5 "$f"; done
    grep -h "error" "$T/slurmctld.log" "$T/slurmd.log" | tail -5
}
# sbatch --wait: its exit status is the highest of the tasks'. The bound, 120 s, is ~10x what
# an array takes here (10-20 s, most of it sbatch's polling interval), so a loaded machine
# passes and a hung job fails the check instead of the ctest timeout (stop_all cancels it).
submit() { SLURM_CONF=$CONF timeout 120 sbatch --wait --quiet --chdir="$T" --output="$T/log-%x-%a.txt" "$@"; }

echo "# 1. GPU request: the script as written, a stub labse"
cat >"$T/stub" <<'EOF'
#!/usr/bin/env bash
echo "CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES:-} $*" >"$STUB_OUT.$SLURM_ARRAY_TASK_ID"
EOF
chmod +x "$T/stub"
echo "$T/in.txt" >"$T/stub-list"   # @LIST: passed through as --input-list (the stub reads nothing)
LABSE=$T/stub STUB_OUT=$T/gpu-args submit --job-name=gpu --array=0-1 "$SCRIPT" "$MODEL" "@$T/stub-list" "$T/gpu-out"
rc=$?
check "GPU array: rc $rc" test $rc -eq 0
[ $rc -eq 0 ] || tail_logs gpu
for k in 0 1; do
    a=$(cat "$T/gpu-args.$k" 2>/dev/null)
    echo "  task $k: $a"
    check "GPU task $k: Slurm gave it a GPU" grep -q '^CUDA_VISIBLE_DEVICES=[0-9]' "$T/gpu-args.$k"
    check "GPU task $k: --input-list LIST ... --device cuda --shard $k/2 --threads 4 --tok-threads 3" \
        bash -c '[[ $1 == *"--input-list $3 --output "*" --device cuda --shard $2/2 --threads 4 --tok-threads 3" ]]' _ "$a" "$k" "$T/stub-list"
done

echo "# 2. the GPU script given no GPU"
LABSE=$T/stub STUB_OUT=$T/nogpu-args submit --job-name=nogpu --gres=none --array=0-1 "$SCRIPT" "$MODEL" "$T/in.txt" "$T/nogpu-out"
check "no GPU: the array fails" test $? -ne 0
check "no GPU: labse never started" test ! -e "$T/nogpu-args.0" -a ! -e "$T/nogpu-args.1"
check "no GPU: the log says why" grep -q "gave this task no GPU" "$T/log-nogpu-0.txt"

echo "# 3. CPU variant for real: 3 tasks over one file, merged == single run"
t0=$(date +%s%N)
LABSE=$LABSE LABSE_DEVICE=cpu submit --job-name=cpu --gres=none --cpus-per-task=1 --array=0-2 \
    "$SCRIPT" "$MODEL" "$T/in.txt" "$T/cpu" "${OPTS[@]}"
rc=$?
echo "  array job: $(( ($(date +%s%N) - t0) / 1000000 )) ms"
check "CPU array: rc $rc" test $rc -eq 0
check "CPU array: 3 shard folders" test "$(ls -d "$T"/cpu/shard-0000[0-2]-of-00003 2>/dev/null | wc -l)" -eq 3
"$LABSE" merge --npy "$T/cpu.npy" "$T"/cpu/shard-* -q
check "CPU array merged == single run (byte-identical)" cmp -s "$T/cpu.npy" "$T/single.npy"
[ $rc -eq 0 ] || tail_logs cpu

echo "# 4. many files given as @LIST"
if "$LABSE" encode --help 2>&1 | grep -q -- --input-list; then
    # the corpus cut into 4 files of unequal sizes, one of them empty
    mkdir "$T/files"
    head -700 "$T/in.txt" >"$T/files/a.txt"; sed -n 701,1000p "$T/in.txt" >"$T/files/b.txt"
    : >"$T/files/c.txt"; tail -n +1001 "$T/in.txt" >"$T/files/d.txt"
    ls "$T"/files/*.txt >"$T/list"
    "$LABSE" encode --model "$MODEL" --device cpu --threads 1 --input-list "$T/list" --output "$T/list-single/" "${OPTS[@]}"
    "$LABSE" merge --npy "$T/list-single.npy" "$T/list-single" -q
    LABSE=$LABSE LABSE_DEVICE=cpu submit --job-name=list --gres=none --cpus-per-task=1 --array=0-2 \
        "$SCRIPT" "$MODEL" "@$T/list" "$T/list-out" "${OPTS[@]}"
    rc=$?
    check "@LIST array: rc $rc" test $rc -eq 0
    [ $rc -eq 0 ] || tail_logs list
    echo "  OUT: $(ls "$T/list-out" | tr '\n' ' ')"
    "$LABSE" merge --npy "$T/list.npy" "$T/list-out" -q
    check "@LIST array merged == single run over the list (byte-identical)" cmp -s "$T/list.npy" "$T/list-single.npy"
else
    echo "skip: labse encode has no --input-list yet (issue 12 §2)"
fi

echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
