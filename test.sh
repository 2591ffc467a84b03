#!/usr/bin/env bash
# The one test command (README, CI's .ci/run). Works on a fresh Debian 12 machine with only the .NET SDK:
# installs redis-server and rabbitmq-server from Debian when missing (as root, or through sudo). The tests start
# their own servers on free loopback ports (or containers, when a Docker engine answers), so the packages'
# system services are never used: they are kept from starting during the install, and if they run anyway they
# do not matter (other ports, node name and epmd port).
# Extra arguments go to `dotnet test`, e.g. ./test.sh --filter "FullyQualifiedName~Redis".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

missing=()
[ -x /usr/bin/redis-server ] || command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
[ -x /usr/bin/redis-cli ] || command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || command -v rabbitmq-server >/dev/null 2>&1 || missing+=(rabbitmq-server)

if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    as_root=()
  elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
  else
    echo "test.sh: ${missing[*]} must be installed (apt-get install ${missing[*]}), but this is not root and sudo is missing." >&2
    exit 1
  fi

  echo "test.sh: installing ${missing[*]} from Debian's packages"
  # Keep the packages' system services from starting (invoke-rc.d and deb-systemd-invoke honour policy-rc.d).
  policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | "${as_root[@]}" tee "$policy" >/dev/null
    "${as_root[@]}" chmod 755 "$policy"
    trap '"${as_root[@]}" rm -f "$policy"' EXIT
  fi
  "${as_root[@]}" apt-get update
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends "${missing[@]}"
  if [ -n "$(trap -p EXIT)" ]; then
    "${as_root[@]}" rm -f "$policy"
    trap - EXIT
  fi
fi

# One test assembly at a time (-m:1): the suites start RabbitMQ nodes, Redis servers and worker processes, and
# running them side by side on 2 cores only makes lease and wait timings flaky.
dotnet test Dedup.sln -c Release -m:1 "$@"

# The library packs, with its README inside the package.
dotnet pack src/Dedup.Filters/Dedup.Filters.csproj -c Release -o artifacts/pack --nologo
pkg=$(ls artifacts/pack/Dedup.Filters.*.nupkg | grep -v symbols | head -n 1)
# A zip's central directory holds the file names uncompressed.
grep -qa 'README.md' "$pkg" || { echo "test.sh: README.md is missing from $pkg" >&2; exit 1; }
echo "test.sh: packed $pkg"

# further checks (benchmark smoke, compose config) are added below by their issues

# Worker: the embedded demo (in-memory transport and store) exits non-zero unless every message ran exactly once.
dotnet run --project src/Worker -c Release --no-build -- demo

# Worker: the publish output deploy/Dockerfile copies, and the compose file, validated by Debian's docker-compose
# (no Docker engine needed for "config").
dotnet publish src/Worker/Worker.csproj -c Release -o artifacts/worker --nologo
if ! command -v docker-compose >/dev/null 2>&1; then
  echo "test.sh: installing docker-compose from Debian's packages (to validate deploy/docker-compose.yml)"
  if [ "$(id -u)" -eq 0 ]; then sudo_=(); else sudo_=(sudo); fi
  "${sudo_[@]}" apt-get update
  "${sudo_[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends docker-compose
fi
docker-compose -f deploy/docker-compose.yml --profile traffic config -q
echo "test.sh: deploy/docker-compose.yml is valid; worker published to artifacts/worker"

# Benchmark smoke (issue 6): the quick setting, so the benchmark keeps working. It fails the build only on an error
# (an exception, a fault, a message never delivered), never on a slow figure: no figure is asserted. It builds itself:
# dotnet test builds the test projects only.
dotnet run --project tests/Dedup.Benchmarks -c Release -- --quick
