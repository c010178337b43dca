// A small seeded PRNG (mulberry32) for tests that must replay from a seed.

/** Seeded choices: the same seed, the same sequence. */
export class Rand {
  private s: number;
  /** a zero seed would start mulberry32 at its weakest point: take a fixed odd one instead */
  constructor(seed: number) {
    this.s = seed >>> 0 || 0x9e3779b9;
  }
  /** uniform in [0, 1) */
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** integer in [lo, hi] */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(a: readonly T[]): T {
    return a[Math.floor(this.next() * a.length)]!;
  }
  /** a child generator, independent of how much of this one is used later */
  fork(tag: number): Rand {
    return new Rand(Math.imul(this.s ^ Math.imul(tag + 1, 0x85ebca6b), 0xc2b2ae35) ^ (tag * 0x27d4eb2f));
  }
}

/** Uniform numbers in [0, 1), the same sequence for the same seed. */
export function rng(seed: number): () => number {
  const r = new Rand(seed);
  return () => r.next();
}
