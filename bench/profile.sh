#!/usr/bin/env bash
# Where a segment's time goes on this machine, for mqttlb (issue 19, item 3):
# a CPU profile of the balancer's worker and of the kernel's share, at a fixed
# QoS 0 rate, on bench/run.sh's topology (bench/scenarios/lib.sh: the
# namespaces, the brokers, mqttlb from bench/scenarios/mqttlb.yaml, its
# worker on core $BENCH_BAL_CPU, default 1).
#
# 8 publishers through mqttlb, RATE msg/s in all (default 20,000), QoS 0,
# 16-byte payloads, one subscriber per broker in the brokers' namespace;
# after a 2 s warm-up, two profiles of SECONDS each (default 10), one after
# the other:
#   (a) the whole machine: perf record -a -g (cpu-clock every 381,966 ns)
#   (b) the balancer's core: perf record -C CPU --call-graph dwarf (every
#       1,618,034 ns; mqttlb's Release build has no frame pointers, its
#       .eh_frame unwinds the user stack)
# The periods are the golden ratio's, not whole divisors of a millisecond:
# the load runs on a 1 ms beat (mqttload's tick), and a sampling timer of
# 250 us or 1 ms locks onto it and samples one phase of the beat only.
# The load tools, the brokers and perf itself are pinned to the other cores
# (--no-pin: not pinned, as in bench/run.sh), so that (b) holds mqttlb and
# the kernel work done on its core only.
#
# Writes to DIR (default build/profile-results/DATE-TIME):
#   summary.txt   printed at the end: msg/s, proc.txt, split-all.txt and
#                 split-core.txt
#   perf-check.txt  whether perf works here, and how (PMUs, perf stat, a probe)
#   report-{all,core}.txt  perf report --no-children --sort dso,sym (top
#                 symbols), mqttlb's threads' symbols, and by comm,dso
#   report-core-callers.txt  the balancer core's top symbols with call chains
#   split-{all,core}.txt  every sample sorted by its call chain into a part:
#                 mqttlb userspace, AF_XDP copy-mode RX and TX, the XDP
#                 program, veth, the rest of the network stack, syscalls,
#                 idle...; in % of the samples, per core, and in us per frame
#                 mqttlb received (with what zero copy on a NIC would remove)
#   proc.txt      /proc/stat, /proc/softirqs, mqttlb's threads' CPU time
#                 (schedstat, exact) and counters over each window: the
#                 cross-check, and the only figures when perf does not work
#   perf-{all,core}.data, logs/, work/
#
#   bench/profile.sh [--out DIR] [--seconds N] [--rate N] [--build DIR]
#                    [--no-build] [--no-pin] [--mqttload PATH]
#
# Run it under the benchmark lock: flock /tmp/mqttlb-bench.lock bench/profile.sh
# Needs root (namespaces, XDP, perf -a); re-executes itself through sudo when
# not root. Sets kernel.perf_event_paranoid=-1, kernel.kptr_restrict=0 and
# net.core.bpf_jit_kallsyms=1 for the run and puts them back at its end.
# Everything it starts is ended by PID; the namespaces (prefix prfPID) are
# deleted on exit, on failure and on Ctrl-C.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

SELF=$(readlink -f "${BASH_SOURCE[0]}")
BENCH_DIR=$(dirname "$SELF")

usage() {
  awk 'NR > 1 && /^#/ && !/shellcheck/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$SELF"
}

OUT=""
SECS=10
RATE=20000
BUILD=build/bench
NO_BUILD=0
PIN=1
MQTTLOAD=${MQTTLOAD:-}
ARGS=("$@")
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) NO_BUILD=1 ;;
    --no-pin) PIN=0 ;;
    --out | --seconds | --rate | --build | --mqttload)
      [ $# -ge 2 ] || { echo "profile.sh: $1 needs a value" >&2; exit 2; }
      case "$1" in
        --out) OUT=$2 ;;
        --seconds) SECS=$2 ;;
        --rate) RATE=$2 ;;
        --build) BUILD=$2 ;;
        --mqttload) MQTTLOAD=$2 ;;
      esac
      shift
      ;;
    -h | --help) usage; exit 0 ;;
    *) echo "profile.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done
if ! [[ $SECS =~ ^[0-9]+$ ]] || [ "$SECS" -lt 1 ] || [ "$SECS" -gt 30 ]; then
  echo "profile.sh: --seconds must be 1..30" >&2
  exit 2
fi
if ! [[ $RATE =~ ^[0-9]+$ ]] || [ "$RATE" -lt 8 ]; then
  echo "profile.sh: --rate must be a number >= 8" >&2
  exit 2
fi

if [ "$(id -u)" -ne 0 ]; then
  [ -z "${BENCH_SUDO_REEXEC:-}" ] || { echo "profile.sh: still not root after sudo" >&2; exit 1; }
  command -v sudo >/dev/null 2>&1 || { echo "profile.sh: must run as root (no sudo here)" >&2; exit 1; }
  exec sudo -- env BENCH_SUDO_REEXEC=1 MQTTLOAD="$MQTTLOAD" BENCH_BAL_CPU="${BENCH_BAL_CPU:-}" PERF="${PERF:-}" \
    bash "$SELF" "${ARGS[@]}"
fi

cd "$BENCH_DIR/.."
# shellcheck source=scenarios/lib.sh
. "$BENCH_DIR/scenarios/lib.sh"

# SPLIT_PY: reads `perf script -F comm,pid,tid,cpu,period,ip,sym,dso` (call
# chains included) and sorts every sample into a part of the path: user
# samples by process, kernel samples by the innermost function of their chain
# that belongs to a known part (AF_XDP, XDP, veth, TCP/IP, syscalls, idle);
# helpers with no part of their own (memcpy, allocators, locks) count for
# their caller. Prints the split, per core, and per frame mqttlb handled.
SPLIT_PY=$(
  cat <<'PY'
import argparse, collections, json, re, sys

ap = argparse.ArgumentParser()
ap.add_argument("--mqttlb-pid", type=int, default=0)
ap.add_argument("--work", default="")   # the snaps: WORK/NAME-{0,1}.{stats.json,time}
ap.add_argument("--title", default="")
a = ap.parse_args()

# (category, regex over a kernel function name). A sample goes to the first
# frame of its kernel call chain, leaf first, that matches one of these (in
# this order per frame); frames that match none (memcpy, the slab and page
# allocators, locks, irq enable...) count for their callers.
RULES = [
    ("xdp_prog", r"^bpf_prog_|^bpf_dispatcher|^bpf_xdp_redirect_map|^__bpf_prog_run|^bpf_redirect|^xsk_map_gen_lookup|^xsk_map_lookup|^bpf_map_lookup|^__htab_map_lookup|^htab_map_|^lookup_nulls_elem_raw|^percpu_array|^array_map"),
    ("afxdp_rx", r"^__xsk_rcv|^xsk_rcv|^__xsk_map_redirect|^xsk_map_redirect|^xsk_generic_rcv|^__xsk_map_flush|^xsk_flush|^xsk_copy|^xp_alloc|^xsk_buff_alloc"),
    ("afxdp_tx", r"^__xsk_generic_xmit|^xsk_generic_xmit|^xsk_build_skb|^xsk_construct_skb|^xsk_destruct_skb|^xsk_cq_|^xsk_skb_|^xsk_consume_skb|^__dev_direct_xmit|^xsk_sendmsg|^__xsk_sendmsg|^xsk_tx_|^xsk_drop_skb"),
    ("afxdp_ring", r"^xsk_|^__xsk_|^xskq_"),
    ("xdp_core", r"^xdp_|^__xdp_|^bpf_xdp_|^dev_map_|^bq_|^__bpf_tx_xdp|^do_xdp_generic|^netif_receive_generic_xdp|^bpf_prog_run_generic_xdp"),
    ("veth_rx", r"^veth_poll|^veth_xdp_rcv|^veth_convert|^veth_xdp_flush|^veth_xdp_"),
    ("veth_xmit", r"^veth_"),
    ("net_stack", r"^tcp|^__tcp|^ip_|^__ip_|^ipv4_|^ip4_|^inet_|^__inet|^udp|^__udp|^__netif_receive|^netif_receive|^__netif_rx|^netif_rx|^enqueue_to_backlog|^process_backlog|^net_rx_action|^__napi_poll|^napi_|^gro_|^dev_gro|^__dev_queue_xmit|^dev_queue_xmit|^dev_hard_start_xmit|^sch_direct_xmit|^__qdisc_run|^qdisc_|^pfifo|^neigh_|^arp_|^eth_type_trans|^nf_|^sk_|^__sk_|^sock_def|^sock_rfree|^sock_wfree|^raw_|^icmp|^fib_|^__fib|^dst_|^rt_|^ipt_|^netif_skb_features|^validate_xmit|^rps_|^sock_recvmsg|^sock_sendmsg|^__sock_sendmsg|^sock_read_iter|^sock_write_iter|^__skb_datagram_iter|^skb_copy_datagram|^__sys_recv|^__sys_send|^____sys_sendmsg|^___sys_sendmsg|^____sys_recvmsg|^___sys_recvmsg|^__sock_|^release_sock|^lock_sock|^bpf_sk_|^mptcp|^net_dim|^sock_|^skb_defer_free_flush|^bbr_"),
    ("syscall", r"^entry_SYSCALL|^do_syscall_64|^syscall_|^__x64_sys_|^__sys_|^ksys_|^do_sys_poll|^do_poll|^__pollwait|^poll_|^__schedule|^schedule|^pick_next|^finish_task_switch|^__switch_to|^switch_mm|^switch_fpu|^restore_fpregs|^fpregs_|^do_epoll|^ep_|^io_uring|^__io_|^io_|^futex|^do_futex|^__futex|^hrtimer_nanosleep|^do_nanosleep|^fdget|^__fget|^fput|^sockfd_lookup|^exit_to_user_mode|^irqentry_exit_to_user|^__rseq|^rseq_|^ttwu|^try_to_wake_up|^wake_up|^__wake_up|^enqueue_task|^dequeue_task|^update_curr|^psi_|^x64_sys_call|^do_select|^core_sys_select|^vfs_read|^vfs_write|^pipe_|^anon_pipe_|^eventfd_|^__audit|^arch_exit_to_user"),
    ("idle", r"^default_idle|^pv_native_safe_halt|^arch_cpu_idle|^do_idle|^cpuidle|^acpi_idle|^poll_idle|^intel_idle|^mwait_idle|^cpu_startup_entry|^native_safe_halt|^start_secondary|^rest_init|^pvm_safe_halt|_safe_halt"),
]
RULES = [(c, re.compile(r)) for c, r in RULES]
# (category, label, with zero-copy AF_XDP on a real NIC)
LABELS = [
    ("mqttlb_user", "mqttlb userspace (worker loop, handler, parser, libc, vdso)", "stays"),
    ("xdp_prog", "XDP program (bpf_prog_*) and the map lookups it calls", "stays"),
    ("xdp_core", "XDP redirect (xdp_do_redirect, xdp_*)", "stays"),
    ("afxdp_rx", "AF_XDP RX, copy mode: the copy into the UMEM (__xsk_rcv: memcpy, freeing the source page)", "removed"),
    ("afxdp_rx_redirect", "AF_XDP RX: redirect to the socket, a frame off the fill ring (__xsk_map_redirect, xp_alloc)", "stays"),
    ("afxdp_tx", "AF_XDP TX, copy mode (sendto -> __xsk_generic_xmit: skb, copy out of the UMEM, destructor)", "removed"),
    ("afxdp_ring", "AF_XDP other (xsk_poll, wakeups, need_wakeup)", "stays"),
    ("veth_rx", "veth RX: NAPI poll, skb -> xdp_buff (veth_poll, veth_xdp_rcv*)", "driver"),
    ("veth_xmit", "veth xmit (veth_xmit, veth_forward_skb)", "driver"),
    ("net_stack", "rest of the network stack (the endpoints' TCP/IP, backlog, wakeups)", "elsewhere"),
    ("syscall", "syscall entry/exit, poll, io_uring, scheduler", "-"),
    ("idle", "idle", "-"),
    ("other_kernel", "other kernel (page faults, timers, TLB, ...)", "-"),
    ("user_other", "other processes' userspace", "-"),
]
COARSE = [
    ("mqttlb userspace", ["mqttlb_user"]),
    ("kernel AF_XDP/XDP (xsk_*, bpf_prog_*, xdp_*)", ["xdp_prog", "xdp_core", "afxdp_rx", "afxdp_rx_redirect", "afxdp_tx", "afxdp_ring"]),
    ("veth", ["veth_rx", "veth_xmit"]),
    ("rest of the network stack", ["net_stack"]),
    ("syscalls, poll, scheduler", ["syscall"]),
    ("idle", ["idle"]),
    ("other kernel", ["other_kernel"]),
    ("other processes' userspace", ["user_other"]),
]

HEAD = re.compile(r"^(.*?)\s+(-?\d+)/(-?\d+)\s+\[(\d+)\]\s+(\d+)")
FRAME = re.compile(r"^\s*([0-9a-f]+)\s+(.*?)\s+\((.*)\)\s*$")
# libc's system call wrappers: a user sample there is the instruction after
# the return from the kernel, i.e. the switch back (see the note below)
LIBC_SYSCALL = re.compile(r"^(syscall|__poll|__GI___poll|__libc_poll|poll|ppoll|__ppoll|__libc_sendto|__GI___sendto|__sendto|sendto|__libc_recvfrom|recvfrom|__libc_write|__GI___libc_write|write|__libc_read|__GI___libc_read|read|__libc_sendmsg|__libc_recvmsg|sendmsg|recvmsg|epoll_wait|__epoll_wait|io_uring_enter|__io_uring_enter|__sys_io_uring_enter2?|__internal_syscall_cancel|__syscall_cancel_arch|__futex_abstimed_wait_common)(@.*)?$")
# in the AF_XDP receive: the copy itself and freeing what it copied from
COPYISH = re.compile(r"^(__pi_memcpy|memcpy.*|__memcpy.*|memmove.*|__memmove.*|page_frag_free|__free_pages.*|free_unref_.*|__folio_put|folio_put|put_page|page_pool_.*|__page_pool_.*|napi_pp_put_page|skb_free_frag|__xsk_rcv|xsk_copy.*|xdp_return.*|__xdp_return)$")
IRQ_ON = re.compile(r"^(pvm_irq_enable|__raw_callee_save_pvm_irq_enable|.*_irq_enable|_raw_spin_unlock_irq|_raw_spin_unlock_irqrestore)$")

def is_kernel(addr, dso):
    return dso.startswith("[kernel") or dso.startswith("[bpf") or dso.endswith(".ko") or addr >= 0xffff800000000000

def context(comm, pid):
    if a.mqttlb_pid and pid == a.mqttlb_pid:
        return "mqttlb"
    if pid == 0 or comm.startswith("swapper"):
        return "idle task"
    for k in ("mosquitto", "mqttload", "perf", "ksoftirqd"):
        if comm.startswith(k):
            return k
    return "other"

def leaf_name(frames):
    """The innermost kernel function; an irq-enable helper (where the timer's
    sample lands once interrupts are back on) is shown as its caller + '*'."""
    for i, (addr, sym, dso) in enumerate(frames):
        name = sym.split("+", 1)[0]
        if not IRQ_ON.match(name):
            return name + ("*" if i else "")
    return frames[0][1].split("+", 1)[0]

def classify(comm, pid, frames):
    if not frames:
        return ("other_kernel" if pid == 0 else "user_other"), "?"
    addr, sym, dso = frames[0]
    if not is_kernel(addr, dso):
        name = sym.split("+", 1)[0]
        if LIBC_SYSCALL.match(name):
            return "syscall", name + " (libc)"
        if a.mqttlb_pid and pid == a.mqttlb_pid:
            return "mqttlb_user", name + " (" + dso.rsplit("/", 1)[-1] + ")"
        return "user_other", comm
    lf = leaf_name(frames)
    for addr, sym, dso in frames:
        if not is_kernel(addr, dso):
            break
        name = sym.split("+", 1)[0]
        for c, r in RULES:
            if r.match(name):
                if c == "afxdp_rx" and not COPYISH.match(lf.rstrip("*")):
                    c = "afxdp_rx_redirect"
                return c, lf
    return ("idle" if pid == 0 else "other_kernel"), lf

tot = collections.Counter()          # category -> ns
leaf = collections.defaultdict(collections.Counter)
ctx = collections.defaultdict(collections.Counter)
cpu = collections.defaultdict(collections.Counter)
ctxs = collections.Counter()
skid = [0]
nsamples = [0]
cur = None
frames = []

def flush():
    if cur is None:
        return
    comm, pid, c, period = cur
    cat, lf = classify(comm, pid, frames)
    tot[cat] += period
    leaf[cat][lf] += period
    cx = context(comm, pid)
    ctx[cat][cx] += period
    ctxs[cx] += period
    cpu[c][cat] += period
    if lf.endswith("*"):
        skid[0] += period
    nsamples[0] += 1

for line in sys.stdin:
    line = line.rstrip("\n")
    if not line.strip():
        flush(); cur = None; frames = []
        continue
    if not line.startswith(("\t", " ")):
        m = HEAD.match(line)
        if m:
            flush(); frames = []
            cur = (m.group(1).strip(), int(m.group(2)), int(m.group(4)), int(m.group(5)))
            continue
    m = FRAME.match(line)
    if m and cur is not None:
        frames.append((int(m.group(1), 16), m.group(2), m.group(3)))
flush()

T = sum(tot.values())
if not T:
    print(f"== profile '{a.title}': no samples")
    sys.exit(0)
cpus = sorted(cpu)
wall = T / 1e9 / max(1, len(cpus))   # the profile's length (cpu-clock runs on idle cores too)
# frames and messages per second from mqttlb's counters around the profile
# (taken a little before and after it); times the profile's length
fps = mps = 0.0
try:
    j0 = json.load(open(f"{a.work}/{a.title}-0.stats.json")); j1 = json.load(open(f"{a.work}/{a.title}-1.stats.json"))
    dt = float(open(f"{a.work}/{a.title}-1.time").read()) - float(open(f"{a.work}/{a.title}-0.time").read())
    fps = (sum(x["rx_packets"] for x in j1["workers"]) - sum(x["rx_packets"] for x in j0["workers"])) / dt
    pub = lambda j: sum(b["publishes"] for p in j["pools"] for b in p["brokers"])
    mps = (pub(j1) - pub(j0)) / dt
except (OSError, ValueError, KeyError, ZeroDivisionError):
    pass
nframes = fps * wall

print(f"== profile '{a.title}': {nsamples[0]} samples on core(s) {','.join(map(str, cpus))}, {wall:.1f} s;"
      f" mqttlb handled {fps:.0f} frames/s in (and as many out), {mps:.0f} PUBLISH/s"
      + (f", {mps / fps:.2f} per frame" if fps else ""))
def pct(x, base=None):
    return 100.0 * x / (base or T)
def upf(x):
    return f"{x / 1000.0 / nframes:9.2f}" if nframes > 0 else f"{'-':>9}"

print()
print("  split: a sample's part is the innermost function of its call chain that belongs to one;")
print("  us/frame = that part's CPU time over the frames mqttlb received during the profile")
print(f"    {'':<48} {'% of samples':>12} {'us/frame':>9}")
for name, cats in COARSE:
    v = sum(tot[c] for c in cats)
    print(f"    {name:<48} {pct(v):11.1f}% {upf(v)}")
if len(cpus) > 1:
    print()
    print("  the same per core (% of that core's samples):")
    print(f"    {'':<48} " + " ".join(f"{'core ' + str(c):>9}" for c in cpus))
    for name, cats in COARSE:
        print(f"    {name:<48} " + " ".join(f"{pct(sum(cpu[c][k] for k in cats), sum(cpu[c].values())):8.1f}%" for c in cpus))

print()
print("  in detail; zc = with zero-copy AF_XDP on a real NIC: removed, driver (the NIC driver's")
print("  RX/TX instead), stays, elsewhere (the endpoints' TCP/IP, on other machines)")
unit = "us/frame" if nframes > 0 else "% of all samples"
print(f"    {'part':<96} {'%':>6} {'us/frame':>9}  {'zc':<9} top innermost functions ({unit})")
for c, label, zc in LABELS:
    if not tot[c]:
        continue
    top = ", ".join(f"{s} {upf(v).strip() if nframes > 0 else f'{pct(v):.2f}'}" for s, v in leaf[c].most_common(6))
    print(f"    {label:<96} {pct(tot[c]):5.1f}% {upf(tot[c])}  {zc:<9} {top}")

if tot["mqttlb_user"]:
    print()
    print(f"  mqttlb userspace by function ({unit}):")
    for s_, v in leaf["mqttlb_user"].most_common(12):
        print(f"    {s_:<60} {upf(v) if nframes > 0 else f'{pct(v):8.2f}%'}")

print()
print("  by the process the sample was taken in (% of all samples; 'idle task': softirq and")
print("  interrupts that came while the core idled; 'other': other people's work on this machine):")
cxl = [x for x, _ in ctxs.most_common()]
print(f"    {'part':<18} " + " ".join(f"{x:>10}" for x in cxl))
for c, label, zc in LABELS:
    if tot[c]:
        print(f"    {c:<18} " + " ".join(f"{pct(ctx[c][x]):9.1f}%" for x in cxl))

print()
print(f"  {pct(skid[0]):.1f}% of the samples landed where the kernel turned interrupts back on (shown")
print("  as 'caller*'): without a PMU (PVM guest) perf samples on cpu-clock, a timer interrupt, which")
print("  waits while interrupts are off; the function that turns them back on gets the sample.")

if nframes > 0:
    rem = sum(tot[c] for c, _, z in LABELS if z == "removed")
    drv = sum(tot[c] for c, _, z in LABELS if z == "driver")
    stay = sum(tot[c] for c, _, z in LABELS if z == "stays")
    sysm = ctx["syscall"]["mqttlb"]
    netm = ctx["net_stack"]["mqttlb"]
    f = lambda x: upf(x).strip()
    print()
    print(f"  mqttlb's path per frame{' (what ran on this core)' if len(cpus) == 1 else ''}: "
          f"{f(rem + drv + stay + sysm)} us =")
    print(f"    {f(rem):>6} copy-mode AF_XDP (zero copy removes it: the RX copy {f(tot['afxdp_rx'])}, TX {f(tot['afxdp_tx'])})")
    print(f"    {f(drv):>6} veth (a NIC driver's RX/TX instead: RX {f(tot['veth_rx'])}, xmit {f(tot['veth_xmit'])})")
    print(f"    {f(stay):>6} stays: mqttlb userspace {f(tot['mqttlb_user'])}, XDP program and redirect "
          f"{f(tot['xdp_prog'] + tot['xdp_core'])}, AF_XDP redirect to the socket and fill ring "
          f"{f(tot['afxdp_rx_redirect'])}, AF_XDP poll and wakeups {f(tot['afxdp_ring'])}")
    print(f"    {f(sysm):>6} mqttlb's system calls (sendto kicks, poll) and scheduling")
    print(f"  not counted: {f(netm)} us/frame of the endpoints' TCP receive run in softirq on mqttlb's sendto")
PY
)

PERF=${PERF:-/usr/bin/perf}
NPUB=8
SIZE=16
PER=$((RATE / NPUB))
PERIOD_ALL=381966   # ns of cpu-clock per sample, the whole machine (see above)
PERIOD_CORE=1618034 # the balancer's core (dwarf stacks are big: fewer samples)

for tool in ip ss timeout taskset mosquitto jq cmake "$PY"; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found"
done
NCPU=$(nproc)
[ "$BAL_CPU" -lt "$NCPU" ] || die "BENCH_BAL_CPU=$BAL_CPU: this machine has $NCPU cores"

# --- build -------------------------------------------------------------------------

if [ "$NO_BUILD" -eq 0 ]; then
  if [ ! -f "$BUILD/CMakeCache.txt" ]; then
    say "configuring $BUILD (Release)"
    cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
  fi
  say "building mqttlb and mqttload in $BUILD"
  cmake --build "$BUILD" --target mqttlb -j "$NCPU" >/dev/null ||
    die "the build failed (--no-build runs the binaries already in $BUILD)"
  if [ -z "$MQTTLOAD" ]; then
    cmake --build "$BUILD" --target mqttload -j "$NCPU" >/dev/null || die "could not build mqttload"
  fi
fi
[ -n "$MQTTLOAD" ] || MQTTLOAD=$BUILD/bench/mqttload/mqttload
MQTTLB=$(readlink -f "$BUILD/cli/mqttlb")
[ -x "$MQTTLB" ] || die "mqttlb missing in $BUILD"
[ -x "$MQTTLOAD" ] || die "mqttload not found at $MQTTLOAD"
MQTTLOAD=$(readlink -f "$MQTTLOAD")
MQTTLB_HAS_STATS=0
! "$MQTTLB" stats --help >/dev/null 2>&1 || MQTTLB_HAS_STATS=1
[ "$MQTTLB_HAS_STATS" -eq 1 ] || die "this mqttlb has no 'stats' command (needed for the frame counts)"

# --- output, pinning, clean-up -------------------------------------------------------

[ -n "$OUT" ] || OUT=build/profile-results/$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
OUT=$(readlink -f "$OUT")
LOGS=$OUT/logs
WORK=$OUT/work
# a previous run's files, only those this script writes
rm -rf "$LOGS" "$WORK"
rm -f "$OUT"/perf-{all,core}.data "$OUT"/{summary,perf-check,proc}.txt "$OUT"/{report,split}-{all,core}.txt \
  "$OUT"/report-core-callers.txt
mkdir -p "$LOGS" "$WORK"

OTHER_CPUS=""
for ((c = 0; c < NCPU; c++)); do
  [ "$c" -eq "$BAL_CPU" ] || OTHER_CPUS+="${OTHER_CPUS:+,}$c"
done
LOAD_TASKSET=()
PERF_TASKSET=()
if [ "$PIN" -eq 1 ] && [ -n "$OTHER_CPUS" ]; then
  LOAD_TASKSET=(taskset -c "$OTHER_CPUS")
  PERF_TASKSET=(taskset -c "$OTHER_CPUS")
fi

P="prf$$"
SYSCTL_SAVED=()
# sysctl_set KEY VALUE: sets KEY for the run, its old value kept for the end
sysctl_set() {
  local old
  old=$(sysctl -n "$1" 2>/dev/null) || { warn "no sysctl $1"; return 0; }
  [ "$old" = "$2" ] && return 0
  SYSCTL_SAVED+=("$1=$old")
  sysctl -qw "$1=$2" || warn "could not set $1=$2"
}
sysctl_restore() {
  local i
  for ((i = ${#SYSCTL_SAVED[@]} - 1; i >= 0; i--)); do
    sysctl -qw "${SYSCTL_SAVED[i]}" || warn "could not restore ${SYSCTL_SAVED[i]}"
  done
  SYSCTL_SAVED=()
}
# on exit, failure or signal: the sysctls back, then lib.sh's clean-up (every
# PID in PIDS, perf included, ended; the namespaces deleted)
profile_cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e # no errexit here: bench_cleanup must run whatever failed
  sysctl_restore
  (exit "$rc") # bench_cleanup exits with the status it finds in $?
  bench_cleanup
}
trap profile_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- perf: does it work on this kernel? ---------------------------------------------------

sysctl_set kernel.perf_event_paranoid -1
sysctl_set kernel.kptr_restrict 0
sysctl_set net.core.bpf_jit_kallsyms 1

PERF_OK=0
CHECK=$OUT/perf-check.txt
{
  echo "kernel:  $(uname -r)"
  echo "perf:    $("$PERF" --version 2>&1 || echo "not runnable at $PERF")"
  echo "PMUs:    $(cd /sys/bus/event_source/devices/ 2>/dev/null && printf '%s ' *)"
  if [ ! -e /sys/bus/event_source/devices/cpu ]; then
    echo "         (no 'cpu' PMU: no hardware counters in this VM: cycles and instructions"
    echo "          are not supported, and perf samples on cpu-clock, a timer interrupt)"
  fi
  echo "sysctls for the run: perf_event_paranoid=$(sysctl -n kernel.perf_event_paranoid)" \
    "kptr_restrict=$(sysctl -n kernel.kptr_restrict) bpf_jit_kallsyms=$(sysctl -n net.core.bpf_jit_kallsyms)" \
    "(put back at the end)"
  echo "mqttlb:  $MQTTLB: $(file -b "$MQTTLB" | grep -o 'not stripped\|stripped')," \
    "$(readelf -S "$MQTTLB" | grep -c '\.debug_') debug sections," \
    "$(readelf -S "$MQTTLB" | grep -c '\.eh_frame') eh_frame sections," \
    "$(grep -E '^CMAKE_BUILD_TYPE' "$BUILD/CMakeCache.txt" 2>/dev/null | cut -d= -f2) build"
  echo
  echo "\$ perf stat -a -e cpu-clock,cycles,instructions -- sleep 0.5"
} >"$CHECK"
"$PERF" stat -a -e cpu-clock,cycles,instructions -- sleep 0.5 >>"$CHECK" 2>&1 || true
echo "\$ perf record -e cpu-clock -c $PERIOD_ALL -a -g -- sleep 0.5" >>"$CHECK"
if "$PERF" record -e cpu-clock -c "$PERIOD_ALL" -a -g -o "$WORK/probe.data" -- sleep 0.5 >>"$CHECK" 2>&1 &&
  "$PERF" report -i "$WORK/probe.data" --stdio --no-children --sort dso,sym -g none \
    >"$WORK/probe.txt" 2>>"$CHECK" &&
  grep -q '\[k\] [a-z_]' "$WORK/probe.txt"; then
  PERF_OK=1
  echo "=> perf record works: kernel samples resolve to symbols (the probe's top symbols below)" >>"$CHECK"
  grep -v '^#' "$WORK/probe.txt" | grep . | head -n 5 >>"$CHECK" || true
else
  echo "=> perf record does not work here (the output above says why); only the /proc figures follow" >>"$CHECK"
  warn "perf does not work here: $(tail -n 3 "$CHECK" | tr '\n' ' ')"
fi
rm -f "$WORK/probe.data"*

# --- the topology, the brokers, mqttlb, the load -------------------------------------------

say "results in $OUT (topology prefix $P; balancer on core $BAL_CPU; load $([ ${#LOAD_TASKSET[@]} -gt 0 ] && echo "on cores $OTHER_CPUS" || echo "not pinned"))"
topo_setup
start_brokers
contender_start mqttlb
BAL_PID=$CUR_PID

# the whole thing must end by itself even if this script is killed hard
DUR=$((2 * SECS + 20))
sub_start sub 'bench/prof/#' 0 $((DUR + 10))
next_log pub
PUB_STEM=$NEXT_LOG
mqttload_bg cli "$PUB_STEM" pub -H "$TOPO_VIP" -c "$NPUB" -q 0 -s "$SIZE" -r "$PER" -d "$DUR" \
  -t 'bench/prof/%i' -b "$CLIENT_ADDRS"
PUB_PID=$BG_PID
wait_until 15 grep -q 'mqttload: ready' "$PUB_STEM.err" ||
  die "the publishers did not connect within 15 s: $(tail -n 3 "$PUB_STEM.err")"
say "$NPUB publishers x $PER msg/s, QoS 0, $SIZE-byte payloads; 2 s warm-up"
sleep 2

# snap NAME: the time, /proc/stat, /proc/softirqs, mqttlb's threads' stat
# and schedstat, and mqttlb's counters at this moment, into $WORK/NAME.*
snap() {
  local t
  now_s >"$WORK/$1.time"
  cat /proc/stat >"$WORK/$1.stat"
  cat /proc/softirqs >"$WORK/$1.softirqs"
  for t in /proc/"$BAL_PID"/task/*; do
    printf '%s\t%s\t%s\n' "$(cat "$t/comm")" "$(cat "$t/stat")" "$(cat "$t/schedstat")"
  done >"$WORK/$1.pidstat" 2>/dev/null || true
  timeout --foreground 10 "$MQTTLB" stats -s "$WORK/mqttlb.sock" --json >"$WORK/$1.stats.json" 2>/dev/null || true
}

# profile NAME PERF-ARGS...: perf record for SECS s between two snaps
profile() {
  local name=$1 rc=0
  shift
  snap "$name-0"
  if [ "$PERF_OK" -eq 1 ]; then
    waited "$LOGS/perf-$name.out" "$LOGS/perf-$name.err" "${PERF_TASKSET[@]}" "$PERF" record \
      -o "$OUT/perf-$name.data" "$@" -- sleep "$SECS" || rc=$?
    [ "$rc" -eq 0 ] || warn "perf record ($name) exited with status $rc: $(tail -n 2 "$LOGS/perf-$name.err" | tr '\n' ' ')"
  else
    sleep "$SECS"
  fi
  snap "$name-1"
}

say "(a) the whole machine, $SECS s: $([ "$PERF_OK" -eq 1 ] && echo "perf record -a -g" || echo "/proc only")"
profile all -e cpu-clock -c "$PERIOD_ALL" -a -g
say "(b) the balancer's core $BAL_CPU, $SECS s: $([ "$PERF_OK" -eq 1 ] && echo "perf record -C $BAL_CPU --call-graph dwarf" || echo "/proc only")"
profile core -e cpu-clock -c "$PERIOD_CORE" -C "$BAL_CPU" --call-graph dwarf,8192

kill -INT "$PUB_PID" 2>/dev/null || true
mqttload_collect "$PUB_STEM" "$PUB_PID" 15 || true
sleep 0.5
sub_stop
contender_stop
say "load stopped; reading the profiles"

# --- reports ---------------------------------------------------------------------------

# report W ARGS...: perf report of perf-W.data (--no-inline: perf 6.1 would
# run addr2line on every dwarf frame, minutes), the command line first
report() {
  local w=$1
  shift
  echo "# perf report -i perf-$w.data --stdio --no-inline --no-children $*"
  "$PERF" report -i "$OUT/perf-$w.data" --stdio --no-inline --no-children "$@" 2>/dev/null | grep -v '^$' || true
  echo
}
if [ "$PERF_OK" -eq 1 ]; then
  for w in all core; do
    [ -s "$OUT/perf-$w.data" ] || continue
    {
      report "$w" --sort dso,sym -g none --percent-limit 0.3
      echo "# mqttlb's own: the lines of mqttlb's threads out of"
      report "$w" --sort comm,dso,sym -g none --percent-limit 0.02 | grep -E '^# perf|^ +[0-9.]+% +mqttlb' || true
      report "$w" --sort comm,dso -g none --percent-limit 0.3 | grep -v -E '^#( [^p]|$)' || true
    } >"$OUT/report-$w.txt"
  done
  [ ! -s "$OUT/perf-core.data" ] ||
    report core --sort comm,dso,sym -g caller,0.5,callee,function,percent --percent-limit 1 \
      >"$OUT/report-core-callers.txt"
  for w in all core; do
    [ -s "$OUT/perf-$w.data" ] || continue
    "$PERF" script --no-inline -i "$OUT/perf-$w.data" -F comm,pid,tid,cpu,period,ip,sym,dso 2>/dev/null |
      "$PY" -c "$SPLIT_PY" --mqttlb-pid "${BAL_PID:-0}" --work "$WORK" --title "$w" >"$OUT/split-$w.txt" ||
      warn "the split of $w failed"
  done
fi

# proc.txt: the /proc deltas over each window (always; the only figures when
# perf does not work)
"$PY" - "$WORK" "$BAL_CPU" "$(getconf CLK_TCK)" >"$OUT/proc.txt" <<'PY'
import json, sys
work, bal, hz = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def cpu_lines(p):
    out = {}
    for l in open(p):
        f = l.split()
        if f[0].startswith("cpu") and f[0] != "cpu":
            out[int(f[0][3:])] = [int(x) for x in f[1:]]
    return out
def softirqs(p):
    ls = open(p).read().split("\n")
    out = {}
    for l in ls[1:]:
        f = l.split()
        if f:
            out[f[0].rstrip(":")] = [int(x) for x in f[1:]]
    return out
def pidstat(p):
    """thread name -> (utime ticks, stime ticks, time on a CPU in ns)"""
    tasks = {}
    for l in open(p):
        comm, stat, sched = l.rstrip("\n").split("\t")
        f = stat.rsplit(")", 1)[1].split()
        tasks[comm] = (int(f[11]), int(f[12]), int(sched.split()[0]))
    return tasks
for w in ("all", "core"):
    try:
        t0 = float(open(f"{work}/{w}-0.time").read()); t1 = float(open(f"{work}/{w}-1.time").read())
        a, b = cpu_lines(f"{work}/{w}-0.stat"), cpu_lines(f"{work}/{w}-1.stat")
        s0, s1 = softirqs(f"{work}/{w}-0.softirqs"), softirqs(f"{work}/{w}-1.softirqs")
    except OSError:
        continue
    dt = t1 - t0
    print(f"== window '{w}': {dt:.2f} s")
    names = ["user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"]
    print("  /proc/stat per core, % of the window (user/system/softirq: sampled at the 250 Hz tick):")
    print("    core " + " ".join(f"{n:>8}" for n in names))
    for c in sorted(a):
        d = [(b[c][i] - a[c][i]) / hz / dt * 100 for i in range(len(names))]
        mark = "  <- balancer" if c == bal else ""
        print(f"    {c:>4} " + " ".join(f"{x:8.1f}" for x in d) + mark)
    print("  /proc/softirqs per core, per second:")
    for k in ("NET_RX", "NET_TX", "TIMER", "SCHED", "RCU"):
        if k in s0:
            print(f"    {k:<7} " + " ".join(f"{(s1[k][i] - s0[k][i]) / dt:10.0f}" for i in range(len(s0[k]))))
    try:
        t0s, t1s = pidstat(f"{work}/{w}-0.pidstat"), pidstat(f"{work}/{w}-1.pidstat")
        print("  mqttlb's threads, % of one core: on a CPU (schedstat: exact; softirq run in the thread")
        print("  included), user and system (stat: sampled at the tick)")
        for comm in sorted(t1s):
            if comm in t0s:
                u = (t1s[comm][0] - t0s[comm][0]) / hz / dt * 100
                s = (t1s[comm][1] - t0s[comm][1]) / hz / dt * 100
                r = (t1s[comm][2] - t0s[comm][2]) / 1e9 / dt * 100
                print(f"    {comm:<16} on a CPU {r:5.1f}%   user {u:5.1f}%  system {s:5.1f}%")
    except (OSError, ValueError, IndexError):
        pass
    try:
        j0 = json.load(open(f"{work}/{w}-0.stats.json")); j1 = json.load(open(f"{work}/{w}-1.stats.json"))
        rx = sum(x["rx_packets"] for x in j1["workers"]) - sum(x["rx_packets"] for x in j0["workers"])
        tx = sum(x["tx_packets"] for x in j1["workers"]) - sum(x["tx_packets"] for x in j0["workers"])
        idle = sum(x["idle_waits"] for x in j1["workers"]) - sum(x["idle_waits"] for x in j0["workers"])
        pub = lambda j: sum(b["publishes"] for p in j["pools"] for b in p["brokers"])
        print(f"  mqttlb: {rx/dt:.0f} frames/s in, {tx/dt:.0f} out, {(pub(j1)-pub(j0))/dt:.0f} PUBLISH/s, {idle/dt:.0f} poll() sleeps/s")
        run = sum(t1s[c][2] - t0s[c][2] for c in t1s if c in t0s)
        if rx:
            print(f"  mqttlb's threads on a CPU per frame received: {run / 1000 / rx:.2f} us (schedstat)")
    except (OSError, ValueError, KeyError, NameError):
        pass
    print()
PY

# --- the summary ----------------------------------------------------------------------------

{
  echo "bench/profile.sh -- $(date -Is)"
  echo "machine: $NCPU cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), kernel $(uname -r)"
  echo "mqttlb:  $MQTTLB (tree at $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD 2>/dev/null || echo ', with local changes'))"
  echo "load:    $NPUB publishers x $PER msg/s = $RATE msg/s, QoS 0, $SIZE-byte payloads, through mqttlb (worker on core $BAL_CPU);"
  echo "         one subscriber per broker; load tools, brokers and perf $([ ${#LOAD_TASKSET[@]} -gt 0 ] && echo "pinned to cores $OTHER_CPUS" || echo "not pinned")"
  # shellcheck disable=SC2153 # SUB_STEM is set by lib.sh's sub_start
  echo "publishers: sent $(jget "$PUB_STEM.json" sent) in $(jget "$PUB_STEM.json" duration_s) s" \
    "($(jget "$PUB_STEM.json" msgs_per_s) msg/s); subscribers received $(jget "$SUB_STEM.json" received)"
  echo
  cat "$OUT/proc.txt"
  echo "perf: $(grep '^=>' "$CHECK")"
  for w in all core; do
    [ -s "$OUT/split-$w.txt" ] || continue
    echo
    cat "$OUT/split-$w.txt"
  done
} >"$OUT/summary.txt"
cat "$OUT/summary.txt"
echo
echo "files in $OUT: $(find "$OUT" -maxdepth 1 -type f -printf '%f ' | tr ' ' '\n' | sort | tr '\n' ' ')"
