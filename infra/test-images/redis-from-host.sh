#!/usr/bin/env bash
# Builds a Redis image for the test suite's container path (test/containers.ts) where no registry can be
# reached: FROM scratch, with this host's redis-server and the shared libraries it links. Then run the
# tests with CXR_TEST_REDIS_IMAGE=cxr-test/redis:local (a Docker engine must be running).
set -euo pipefail
tag="${1:-cxr-test/redis:local}"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
bin="$(command -v redis-server)"
mkdir -p "$dir/root/usr/bin"
cp -L "$bin" "$dir/root/usr/bin/redis-server"
for lib in $(ldd "$bin" | grep -o '/[^ ]*'); do cp --parents -L "$lib" "$dir/root/"; done
cat > "$dir/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY root/ /
EXPOSE 6379
ENTRYPOINT ["/usr/bin/redis-server", "--protected-mode", "no", "--save", "", "--appendonly", "no"]
DOCKERFILE
docker build -q -t "$tag" "$dir"
echo "built $tag from $bin"
