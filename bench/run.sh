#!/usr/bin/env bash
# Benchmark: binary size, and wall time, CPU time and peak memory of main + post against the
# fake GitHub on loopback, over repeated runs.
# Usage: bench/run.sh [runs] [target]   (default 50 runs, the host target)
#   e.g. bench/run.sh 100 x86_64-unknown-linux-musl   (the image's static binaries; needs musl-tools)
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-50}"
target="${2:-}"

# GNU time reports the binary's own peak memory (see measure.py).
[ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time; }

if [ -n "${target}" ]; then
  cargo build --quiet --release --locked --bins --target "${target}"
  export BENCH_BIN_DIR="target/${target}/release"
else
  cargo build --quiet --release --locked --bins
fi
cargo build --quiet --release --locked -p fake-github --bin fake-github

fifo_dir="$(mktemp -d)"
mkfifo "${fifo_dir}/stdin"
# The fake serves until its stdin closes; keep a writer open for the benchmark's lifetime.
exec 3<>"${fifo_dir}/stdin"
target/release/fake-github <&3 >"${fifo_dir}/out" &
fake_pid=$!
trap 'exec 3>&-; kill ${fake_pid} 2>/dev/null || true; rm -rf "${fifo_dir}"' EXIT
for _ in $(seq 50); do
  grep -q '^api_url=' "${fifo_dir}/out" 2>/dev/null && break
  sleep 0.1
done
api_url="$(sed -n 's/^api_url=//p' "${fifo_dir}/out")"

python3 bench/measure.py "${api_url}" "${runs}"
