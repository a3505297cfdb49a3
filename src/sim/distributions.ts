/**
 * Random delay distributions used for network jitter, output (transmit) delay and receive latency.
 * All values are seconds.
 */
import type { Rng } from './rng.js';

export type Distribution =
  | { dist: 'constant'; value: number }
  /** Exponential with mean `mean`. */
  | { dist: 'exp'; mean: number }
  /** Normal with `mean` and standard deviation `sd` (the caller clamps the total delay at 0). */
  | { dist: 'normal'; mean: number; sd: number }
  | { dist: 'uniform'; min: number; max: number }
  /** Pareto II (Lomax), heavy-tailed, with `mean` and tail index `shape` (> 1; < 2 has infinite variance). */
  | { dist: 'pareto'; mean: number; shape: number };

export function sample(d: Distribution, rng: Rng): number {
  switch (d.dist) {
    case 'constant':
      return d.value;
    case 'exp':
      return d.mean > 0 ? rng.exponential(d.mean) : 0;
    case 'normal':
      return d.mean + d.sd * rng.normal();
    case 'uniform':
      return rng.uniform(d.min, d.max);
    case 'pareto':
      return d.mean > 0 ? rng.pareto(d.mean, d.shape) : 0;
  }
}

/** The theoretical mean of a distribution. */
export function meanOf(d: Distribution): number {
  switch (d.dist) {
    case 'constant':
      return d.value;
    case 'exp':
    case 'normal':
    case 'pareto':
      return d.mean;
    case 'uniform':
      return (d.min + d.max) / 2;
  }
}

/** The theoretical standard deviation (Infinity for a Pareto with shape ≤ 2). */
export function sdOf(d: Distribution): number {
  switch (d.dist) {
    case 'constant':
      return 0;
    case 'exp':
      return d.mean;
    case 'normal':
      return d.sd;
    case 'uniform':
      return (d.max - d.min) / Math.sqrt(12);
    case 'pareto': {
      const a = d.shape;
      if (a <= 2) return Number.POSITIVE_INFINITY;
      const scale = d.mean * (a - 1);
      return Math.sqrt((scale * scale * a) / ((a - 1) * (a - 1) * (a - 2)));
    }
  }
}

/** Validates a distribution's parameters; returns a message or null. */
export function checkDistribution(d: Distribution): string | null {
  switch (d.dist) {
    case 'constant':
      return Number.isFinite(d.value) ? null : 'value must be a finite number';
    case 'exp':
      return d.mean >= 0 ? null : 'mean must be >= 0';
    case 'normal':
      return d.sd >= 0 && Number.isFinite(d.mean) ? null : 'sd must be >= 0';
    case 'uniform':
      return d.max >= d.min ? null : 'max must be >= min';
    case 'pareto':
      return d.mean >= 0 && d.shape > 1 ? null : 'pareto needs mean >= 0 and shape > 1';
  }
}
