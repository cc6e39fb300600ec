/** Small seeded PRNG (mulberry32): the simulator's only source of randomness, so a seed fixes the run. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** A sample of an exponential distribution with `rate` events per unit of time (Poisson inter-arrival). */
export function exponential(rand: () => number, rate: number): number {
  return -Math.log(1 - rand()) / rate;
}
