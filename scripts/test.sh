#!/usr/bin/env bash
# The one test command (README, .ci/run): brings what the tests need when it
# is missing, then runs every test on every runtime and prints a closing
# "tests: N passed, N failed" line.
set -uo pipefail
cd "$(dirname "$0")/.."

if [ ! -x node_modules/.bin/vitest ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund || exit 1
fi

# System packages some suites need (browser, redis, postgres, haproxy, strace): installed once, by apt.
# test/adapters starts its own throwaway PostgreSQL from the Debian server binaries.
need=()
command -v chromium >/dev/null || need+=(chromium)
command -v redis-server >/dev/null || need+=(redis-server)
compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || need+=(postgresql)
# test/cluster puts a non-sticky load balancer in front of its nodes.
[ -x /usr/sbin/haproxy ] || need+=(haproxy)
# test/conformance/coalescing counts a burst's write system calls.
command -v strace >/dev/null || need+=(strace)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then APT=(apt-get); else APT=(sudo apt-get); fi
  "${APT[@]}" update -qq && DEBIAN_FRONTEND=noninteractive "${APT[@]}" install -y -qq "${need[@]}" || exit 1
fi

mkdir -p test-output
npx tsc --noEmit -p . || { echo "tests: 0 passed, 1 failed"; exit 1; }
npx tsup --silent || { echo "tests: 0 passed, 1 failed"; exit 1; }
npx vitest run --reporter=default --reporter=json --outputFile=test-output/vitest.json "$@"
status=$?
node -e '
  const r = JSON.parse(require("fs").readFileSync("test-output/vitest.json", "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed` + (skipped ? `, ${skipped} skipped` : ""));
' || echo "tests: 0 passed, 1 failed"
exit $status
