/**
 * Seeded pseudo-random numbers for the simulator: xoshiro128** (Blackman and Vigna), seeded through
 * splitmix32, plus the distributions the models need. Pure 32-bit integer arithmetic on `number`, so
 * the same seed gives bit-identical streams on every platform.
 *
 * Each model gets its own stream (`Rng.derive(seed, label)`), so adding a node or a path does not
 * shift the random numbers any other model sees.
 */

function splitmix32(state: { s: number }): number {
  state.s = (state.s + 0x9e3779b9) | 0;
  let z = state.s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** FNV-1a hash of a string, 32 bits. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  private spare: number | null = null;

  /** `seed`: any integer (the low 32 bits and the next 21 are used); `stream`: an extra 32-bit key. */
  constructor(seed: number, stream = 0) {
    const st = { s: (seed >>> 0) ^ Math.imul(Math.floor(seed / 0x100000000) | 0, 0x27d4eb2d) };
    st.s = splitmix32(st) ^ (stream >>> 0);
    this.a = splitmix32(st);
    this.b = splitmix32(st);
    this.c = splitmix32(st);
    this.d = splitmix32(st);
    if ((this.a | this.b | this.c | this.d) === 0) this.d = 1;
  }

  /** An independent stream for the model called `label` in a run seeded with `seed`. */
  static derive(seed: number, label: string): Rng {
    return new Rng(seed, hashString(label));
  }

  /** Next 32-bit unsigned integer. */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return result;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  next(): number {
    const hi = this.nextU32() >>> 5;
    const lo = this.nextU32() >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform in (0, 1]: safe for logarithms. */
  nextOpen(): number {
    return 1 - this.next();
  }

  uniform(min: number, max: number): number {
    return min + (max - min) * this.next();
  }

  /** Standard normal (Marsaglia polar method). */
  normal(): number {
    if (this.spare !== null) {
      const s = this.spare;
      this.spare = null;
      return s;
    }
    for (;;) {
      const u = 2 * this.next() - 1;
      const v = 2 * this.next() - 1;
      const s = u * u + v * v;
      if (s > 0 && s < 1) {
        const m = Math.sqrt((-2 * Math.log(s)) / s);
        this.spare = v * m;
        return u * m;
      }
    }
  }

  /** Exponential with the given mean. */
  exponential(mean: number): number {
    return -mean * Math.log(this.nextOpen());
  }

  /**
   * Pareto type II (Lomax) with the given mean and shape α > 1: heavy-tailed, starts at 0,
   * P(X > x) = (1 + x/λ)^-α with λ = mean·(α − 1).
   */
  pareto(mean: number, shape: number): number {
    const scale = mean * (shape - 1);
    return scale * (this.nextOpen() ** (-1 / shape) - 1);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() < p;
  }
}

/** A seeded uniform [0, 1) function (for `SystemDeps.random` and the like). */
export function seeded(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.next();
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
