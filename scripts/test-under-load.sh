#!/usr/bin/env bash
# Runs the whole test suite with two CPU-burning processes beside it, to prove the tests wait on events and
# conditions rather than on short wall-clock windows. The burners are started here and killed by their PIDs.
# Usage: scripts/test-under-load.sh [extra vitest args]. Exit code: the suite's.
set -u
cd "$(dirname "$0")/.."
burners=()
for _ in 1 2; do
  node -e 'for (;;) {}' &
  burners+=("$!")
done
stop() {
  for pid in "${burners[@]}"; do kill "$pid" 2>/dev/null; done
  wait "${burners[@]}" 2>/dev/null
}
trap stop EXIT INT TERM
echo "test-under-load: CPU burners running (pids ${burners[*]}); load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
start=$(date +%s)
npx vitest run "$@"
code=$?
echo "test-under-load: suite exit code $code after $(( $(date +%s) - start ))s; load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
exit $code
