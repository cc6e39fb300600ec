import { describe, expect, it } from 'vitest';
import { isFacefusionMessage, processedFrames } from '../../src/worker/engines/facefusion/progress.js';

describe("FaceFusion's output", () => {
  it('tells frames processed from its processing bar only', () => {
    expect(
      processedFrames(
        "processing:  53%|=====     | 8/15 [00:09<00:09,  1.38s/frame, execution_providers=['cpu']]",
      ),
    ).toBe(8);
    expect(processedFrames('processing:   0%|          | 0/15 [00:00<?, ?frame/s]')).toBe(0);
    expect(processedFrames('analysing:  47%|====      | 7/15 [00:00<00:01,  4.21frame/s, rate=0]')).toBe(
      undefined,
    );
    expect(processedFrames('extracting: 100%|==========| 15/15 [00:00<00:00]')).toBe(undefined);
  });

  it('tells its own messages from other output', () => {
    expect(isFacefusionMessage('[FACEFUSION.CORE] choose an image for the source!')).toBe(true);
    expect(isFacefusionMessage('Traceback (most recent call last):')).toBe(false);
  });
});
