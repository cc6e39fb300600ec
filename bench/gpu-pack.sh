#!/usr/bin/env bash
# Packs what bench/gpu-check.sh needs on a bare GPU machine into bench/out/gpu-pack.tar.xz (≤ 64 MiB):
# this Node binary, dist/ (built here), onnxruntime-node with only its linux-x64 binding, onnxruntime-common,
# and the stand-in face models generated from test/fixtures/models.ts.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run build >/dev/null
out="bench/out/gpu-pack"
rm -rf "$out" && mkdir -p "$out/node_modules" "$out/models"
cp "$(command -v node)" "$out/node"
cp -r dist package.json "$out/"
rm -rf "$out/dist/test"
find "$out/dist" -name '*.map' -delete
cp -r node_modules/onnxruntime-common "$out/node_modules/"
mkdir -p "$out/node_modules/onnxruntime-node"
(cd node_modules/onnxruntime-node && tar cf - package.json dist lib bin/napi-v6/linux/x64 2>/dev/null) |
  tar xf - -C "$out/node_modules/onnxruntime-node"
# The stand-in models come from the test fixtures: compile the tree (tests included) aside and write them.
npx tsc -p tsconfig.json --outDir bench/out/gpu-pack-build
node --input-type=module -e "
  const { writeModel } = await import('./bench/out/gpu-pack-build/test/fixtures/models.js');
  for (const name of ['yoloface_8n', 'arcface_w600k_r50', 'hyperswap_1a_256', 'gfpgan_1.4']) await writeModel('$out/models', name);
"
rm -rf bench/out/gpu-pack-build
tar cf - -C bench/out gpu-pack | xz -T2 -6 >bench/out/gpu-pack.tar.xz
size=$(stat -c %s bench/out/gpu-pack.tar.xz)
echo "bench/out/gpu-pack.tar.xz: $((size / 1024 / 1024)) MiB" >&2
[ "$size" -le $((64 * 1024 * 1024)) ] || { echo "gpu-pack: over 64 MiB" >&2; exit 1; }
