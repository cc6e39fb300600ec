#!/usr/bin/env bash
# Runs the stand-in face chain on every execution provider that works on this machine (webgpu over the
# NVIDIA driver's Vulkan ICD, cuda and tensorrt where onnxruntime's providers and CUDA libraries are there)
# and prints fps per provider with nvidia-smi's readings before and after. Needs only the pack that
# bench/gpu-pack.sh builds:   bench/gpu-check.sh [bench/out/gpu-pack.tar.xz] [frames]
set -euo pipefail
pack="${1:-$(dirname "$0")/out/gpu-pack.tar.xz}"
frames="${2:-50}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
tar xJf "$pack" -C "$work"
root="$work/gpu-pack"
smi() { command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,utilization.gpu,memory.used,memory.total --format=csv,noheader || echo "no nvidia-smi"; }
echo "== GPUs before: $(smi)"
# The NVIDIA driver's Vulkan ICD, where the container toolkit mounted it (NVIDIA_DRIVER_CAPABILITIES=graphics).
if [ -z "${VK_ICD_FILENAMES:-}" ]; then
  for icd in /etc/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json; do
    [ -f "$icd" ] && export VK_ICD_FILENAMES="$icd" && break
  done
fi
echo "== Vulkan ICD: ${VK_ICD_FILENAMES:-none named, the default folders of the Vulkan loader}"
# nvidia-smi samples every 500 ms while the chain runs: the peak utilisation and memory say the GPU was used.
sampler=""
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader,nounits -lms 500 >"$work/smi" &
  sampler=$!
fi
"$root/node" "$root/dist/bench/gpuCheck.js" --models "$root/models" --frames "$frames" 2> >(grep -v '^\s*$' | tail -n 20 >&2)
if [ -n "$sampler" ]; then
  kill "$sampler" 2>/dev/null || true
  awk -F', *' '{ if ($1 > u) u = $1; if ($2 > m) m = $2 } END { printf "== GPU peak while running: %s %% utilisation, %s MiB\n", u, m }' "$work/smi"
fi
echo "== GPUs after: $(smi)"
