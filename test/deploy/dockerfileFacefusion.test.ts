import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const DEPLOY = join(import.meta.dirname, '../../deploy');

describe('deploy/Dockerfile.facefusion', () => {
  const dockerfile = readFileSync(join(DEPLOY, 'Dockerfile.facefusion'), 'utf8');

  it("installs the FaceFusion version workers accept, with its own installer for CUDA 13, or takes the user's", () => {
    expect(dockerfile).toMatch(/^ARG FACEFUSION_VERSION=3\.8\.1$/m);
    expect(dockerfile).toMatch(/python install\.py cuda@13 --skip-conda/);
    expect(dockerfile).toMatch(/^ARG CUDA_BASE=nvidia\/cuda:13\.\d+\.\d+-cudnn-runtime-ubuntu24\.04$/m);
    expect(dockerfile).toMatch(/^ARG FACEFUSION_BASE=facefusion$/m);
    expect(dockerfile).toMatch(/^FROM \$\{FACEFUSION_BASE\}$/m);
    // FaceFusion's pre-check runs curl on every run.
    expect(dockerfile).toMatch(
      /--no-install-recommends python3 python3-venv git ca-certificates curl ffmpeg/,
    );
  });

  it('starts a facefusion worker pointed at that FaceFusion through the environment the CLI reads', () => {
    expect(dockerfile).toMatch(/SPOTFUSE_FACEFUSION_PATH=\/facefusion /);
    expect(dockerfile).toMatch(/SPOTFUSE_FACEFUSION_PYTHON=\/facefusion\/\.venv\/bin\/python /);
    const flags = readFileSync(join(DEPLOY, '../src/cli/engineFlags.ts'), 'utf8');
    expect(flags).toContain('process.env.SPOTFUSE_FACEFUSION_PATH');
    expect(flags).toContain('process.env.SPOTFUSE_FACEFUSION_PYTHON');
    expect(dockerfile).toMatch(/^ENTRYPOINT \["spotfuse"\]$/m);
    expect(dockerfile).toMatch(/^CMD \["worker", "--engine", "facefusion"\]$/m);
    expect(existsSync(join(DEPLOY, 'Dockerfile.facefusion.dockerignore'))).toBe(true);
  });
});
