import type { Parameters } from 'fast-check';

/**
 * fast-check settings for the reliability suites: `SPOTFUSE_PROPERTY_RUNS` multiplies every suite's
 * default number of runs (e.g. 20 for a long soak), `SPOTFUSE_PROPERTY_SEED` replays the seed a failure
 * printed. Without a seed each run draws a fresh one, which fast-check prints with any counterexample.
 */
export function propertyParams<T>(defaultRuns: number): Parameters<T> {
  const factor = Number(process.env.SPOTFUSE_PROPERTY_RUNS ?? 1);
  const seed = process.env.SPOTFUSE_PROPERTY_SEED;
  return {
    numRuns: Math.max(1, Math.round(defaultRuns * (Number.isFinite(factor) && factor > 0 ? factor : 1))),
    ...(seed ? { seed: Number(seed) } : {}),
  };
}

/** A seed for the suites that draw their own random cases (the fuzzers), printed with every failure. */
export function fuzzSeed(): number {
  const seed = process.env.SPOTFUSE_PROPERTY_SEED;
  return seed ? Number(seed) : Math.floor(Math.random() * 2 ** 31);
}
