// The simulator's choices, from the shared seeded PRNG: the same seed, the same run.

import { rng } from '../support/random.ts';

export class Rng {
  /** uniform in [0, 1) */
  readonly next: () => number;
  constructor(seed: number) {
    this.next = rng(seed);
  }
  /** integer in [lo, hi] */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)]!;
  }
}
