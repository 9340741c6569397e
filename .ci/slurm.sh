#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, for the cluster test (tests/workflow/test_cluster.py).
#
#   bash .ci/slurm.sh start    # install slurm-wlm + munge (apt) if needed, start, wait for idle
#   bash .ci/slurm.sh stop     # stop the daemons this script started
#   bash .ci/slurm.sh status   # exit 0 when the node answers and is idle
#
# The configuration goes to /etc/slurm/slurm.conf, where every client finds it (Snakemake's slurm
# executor deletes SLURM_* variables, SLURM_CONF included, before it calls srun inside a job);
# an existing slurm.conf not written by this script is never overwritten. Everything else lives
# in $HEPML_SLURM_DIR (default /tmp/hepml-slurm): its own munge key and socket, state, logs and
# pid files. `stop` removes the slurm.conf it wrote.
# There is no accounting daemon (Snakemake must use `--slurm-status-command squeue`) and no
# cgroup (proctrack/linuxproc, task/none), so it runs inside a container. Needs root.
set -euo pipefail

DIR="${HEPML_SLURM_DIR:-/tmp/hepml-slurm}"
CONF=/etc/slurm/slurm.conf
MARK="# One-node cluster for hepml's tests, written by .ci/slurm.sh."
HOST="$(hostname -s)"

say() { echo "slurm.sh: $*" >&2; }

install_packages() {
    if command -v slurmctld > /dev/null && command -v slurmd > /dev/null \
        && command -v munged > /dev/null && command -v sbatch > /dev/null; then
        return 0
    fi
    if [ "$(id -u)" != 0 ]; then say "not root: cannot install slurm-wlm and munge"; return 1; fi
    if ! command -v apt-get > /dev/null; then say "no apt-get: cannot install slurm-wlm"; return 1; fi
    say "installing slurm-wlm and munge with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq > "$DIR/apt.log" 2>&1 \
        && apt-get install -y -qq --no-install-recommends slurm-wlm munge >> "$DIR/apt.log" 2>&1 \
        || { say "apt-get failed, see $DIR/apt.log"; tail -5 "$DIR/apt.log" >&2; return 1; }
}

write_config() {
    local cpus mem
    cpus="$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)"  # not the caller's OpenMP limit
    mem="$(awk '/MemTotal/ {print int($2 / 1024 * 0.8)}' /proc/meminfo)"  # MB, leave 20%
    mkdir -p "$DIR/state" "$DIR/spool" "$DIR/log" "$DIR/munge"
    chmod 700 "$DIR" "$DIR/munge"
    if [ -f "$CONF" ] && ! grep -qxF "$MARK" "$CONF"; then
        say "$CONF exists and was not written by this script: not touching it"
        return 1
    fi
    mkdir -p "$(dirname "$CONF")"
    cat > "$CONF" << EOF
$MARK
ClusterName=hepml
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$DIR/munge/munge.socket
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
ReturnToService=2
MinJobAge=600
SlurmctldPort=6917
SlurmdPort=6918
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
    if [ ! -s "$DIR/munge/munge.key" ]; then
        mungekey --create --keyfile "$DIR/munge/munge.key" --force
        chmod 600 "$DIR/munge/munge.key"
    fi
}

node_idle() {
    sinfo --noheader --nodes "$HOST" --format '%t' 2> /dev/null \
        | grep -Eq '^(idle|mix|alloc)'
}

start() {
    if [ -f "$CONF" ] && node_idle; then say "already running ($CONF)"; return 0; fi
    if [ "$(id -u)" != 0 ]; then say "not root: cannot start slurmctld and slurmd"; return 1; fi
    mkdir -p "$DIR"
    install_packages
    write_config
    if [ ! -S "$DIR/munge/munge.socket" ] || ! pid_alive "$DIR/munged.pid"; then
        munged --force --key-file "$DIR/munge/munge.key" --socket "$DIR/munge/munge.socket" \
            --pid-file "$DIR/munged.pid" --log-file "$DIR/log/munged.log" \
            --seed-file "$DIR/munge/munged.seed"
    fi
    pid_alive "$DIR/slurmctld.pid" || slurmctld -c -i
    pid_alive "$DIR/slurmd.pid" || slurmd -N "$HOST"
    for _ in $(seq 1 60); do
        if node_idle; then say "node $HOST idle ($CONF)"; return 0; fi
        sleep 1
    done
    say "the node did not become idle in 60 s:"
    sinfo -N -l >&2 || true
    tail -5 "$DIR/log/slurmctld.log" "$DIR/log/slurmd.log" >&2 || true
    stop
    return 1
}

pid_alive() {
    [ -s "$1" ] && kill -0 "$(cat "$1")" 2> /dev/null
}

stop() {
    # Stop only the daemons started from $DIR, by their pid files; slurmd first.
    local name pid
    for name in slurmd slurmctld munged; do
        if pid_alive "$DIR/$name.pid"; then
            pid="$(cat "$DIR/$name.pid")"
            kill "$pid" 2> /dev/null || true
            for _ in $(seq 1 50); do kill -0 "$pid" 2> /dev/null || break; sleep 0.1; done
            kill -0 "$pid" 2> /dev/null && kill -9 "$pid" 2> /dev/null || true
        fi
        rm -f "$DIR/$name.pid"
    done
    if [ -f "$CONF" ] && grep -qxF "$MARK" "$CONF"; then rm -f "$CONF"; fi
    say "stopped"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) node_idle ;;
    *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
