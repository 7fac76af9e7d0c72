#!/usr/bin/env bash
# Foundation figures: release binary size, start-to-ready time, idle RSS, and
# /healthz throughput beside a bare actix-web hello-world (src/bin/hello.rs)
# under the same load, in the same run.
#
#   benches/foundation.sh [SECONDS] [CONNECTIONS]
#
# Needs wrk (Debian: apt-get install -y wrk) and curl. Talks to 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
conns=${2:-32}
for tool in wrk curl; do
  command -v "$tool" >/dev/null || { echo "error: $tool is not installed (apt-get install -y $tool)" >&2; exit 2; }
done

cargo build --release --quiet --bin rapport --bin hello
bin=target/release/rapport
hello=target/release/hello
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
now_ms() { date +%s%3N; }
wait_ready() { # url -> prints milliseconds until it answered 200
  local start=$1 url=$2
  until curl -fs -o /dev/null "$url"; do
    if (( $(now_ms) - start > 30000 )); then echo "error: $url not ready after 30 s" >&2; exit 1; fi
    sleep 0.002
  done
  echo $(( $(now_ms) - start ))
}
load() { # url -> requests/s and latency percentiles from wrk
  wrk -t2 -c"$conns" -d"${secs}s" --latency "$1" > "$work/wrk.txt"
  local rps p50 p99
  rps=$(awk '/^Requests\/sec/ {print $2}' "$work/wrk.txt")
  p50=$(awk '$1=="50%" {print $2}' "$work/wrk.txt")
  p99=$(awk '$1=="99%" {print $2}' "$work/wrk.txt")
  echo "$rps $p50 $p99"
}

workers=$(nproc)
size=$(stat -c %s "$bin")

port=$(free_port)
start=$(now_ms)
RAPPORT_DATA_DIR="$work/data" RAPPORT_SERVER__LISTEN="127.0.0.1:$port" RAPPORT_LOG__LEVEL=warn \
  RAPPORT_SERVER__WORKERS="$workers" "$bin" serve 2>"$work/serve.log" &
pids+=($!); rpid=$!
ready_ms=$(wait_ready "$start" "http://127.0.0.1:$port/readyz")
sleep 2
idle_kb=$(rss_kb "$rpid")
read -r r_rps r_p50 r_p99 < <(load "http://127.0.0.1:$port/healthz")
peak_kb=$(awk '/^VmHWM/ {print $2}' "/proc/$rpid/status")

hport=$(free_port)
"$hello" "127.0.0.1:$hport" "$workers" 2>/dev/null &
pids+=($!)
wait_ready "$(now_ms)" "http://127.0.0.1:$hport/healthz" >/dev/null
read -r h_rps h_p50 h_p99 < <(load "http://127.0.0.1:$hport/healthz")

ratio=$(awk -v a="$r_rps" -v b="$h_rps" 'BEGIN {printf "%.2f", a/b}')
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
echo "load: wrk -t2 -c$conns -d${secs}s, server workers: $workers"
echo
printf '%-34s %s\n' "release binary size" "$(awk -v s="$size" 'BEGIN {printf "%.1f MB", s/1048576}')"
printf '%-34s %s\n' "start to ready /readyz (SQLite)" "${ready_ms} ms (new data dir, migrations included)"
printf '%-34s %s\n' "idle RSS" "$(awk -v k="$idle_kb" 'BEGIN {printf "%.1f MB", k/1024}')"
printf '%-34s %s\n' "peak RSS after load" "$(awk -v k="$peak_kb" 'BEGIN {printf "%.1f MB", k/1024}')"
echo
printf '%-22s %12s %10s %10s\n' "GET /healthz" "requests/s" "p50" "p99"
printf '%-22s %12s %10s %10s\n' "rapport" "$r_rps" "$r_p50" "$r_p99"
printf '%-22s %12s %10s %10s\n' "actix hello-world" "$h_rps" "$h_p50" "$h_p99"
printf '%-22s %12s\n' "ratio" "$ratio"
