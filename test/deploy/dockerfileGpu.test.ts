import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const DEPLOY = join(import.meta.dirname, '../../deploy');

describe('deploy/Dockerfile.gpu', () => {
  const dockerfile = readFileSync(join(DEPLOY, 'Dockerfile.gpu'), 'utf8');

  it('runs on a CUDA 13 + cuDNN 9 base, which the onnxruntime-node 1.30 GPU providers link', () => {
    expect(dockerfile).toMatch(/^ARG CUDA_BASE=nvidia\/cuda:13\.\d+\.\d+-cudnn-runtime-ubuntu24\.04$/m);
    expect(dockerfile).toMatch(/^FROM \$\{CUDA_BASE\}$/m);
    expect(dockerfile).toMatch(/driver of the 580 branch or newer/);
  });

  it('installs the providers (the .npmrc skips them) and fails the build when they did not come', () => {
    expect(dockerfile).toMatch(/ONNXRUNTIME_NODE_INSTALL=true npm ci --omit=dev/);
    expect(dockerfile).toMatch(
      /test -f node_modules\/onnxruntime-node\/bin\/napi-v6\/linux\/x64\/libonnxruntime_providers_cuda\.so/,
    );
  });

  it('has the Vulkan loader and asks the container toolkit for the graphics capability (webgpu)', () => {
    expect(dockerfile).toMatch(/--no-install-recommends ffmpeg ca-certificates libvulkan1/);
    expect(dockerfile).toMatch(/NVIDIA_DRIVER_CAPABILITIES=compute,utility,video,graphics/);
    expect(dockerfile).toMatch(/libnvinfer10/);
    expect(dockerfile).toMatch(/^ENTRYPOINT \["spotfuse"\]$/m);
    expect(existsSync(join(DEPLOY, 'Dockerfile.gpu.dockerignore'))).toBe(true);
  });
});
