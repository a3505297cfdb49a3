/**
 * The clocks: a software clock over a raw counter, the RFC 5905 discipline, the feed-forward
 * (RADclock-style) clock with its difference clock, and a model of the Linux kernel clock.
 */
import { FeedForwardClock, type FeedForwardOptions } from './feedforward.js';
import { Rfc5905Discipline, type Rfc5905Options } from './rfc5905.js';
import type { Discipline } from './types.js';

export * from './feedforward.js';
/** The Linux kernel clock model (adjtimex constants, `KernelClockModel`). */
export * as kernel from './kernel-model.js';
export { KernelClockModel } from './kernel-model.js';
export * from './replay.js';
export * from './rfc5905.js';
export * from './software-clock.js';
export * from './types.js';

export type DisciplineKind = 'rfc5905' | 'feedforward';

/** Options accepted by `createDiscipline`: each kind reads the ones it knows. */
export type DisciplineOptions = Rfc5905Options & FeedForwardOptions;

/** Creates the clock algorithm selected by configuration. */
export function createDiscipline(kind: DisciplineKind, opts: DisciplineOptions = {}): Discipline {
  switch (kind) {
    case 'rfc5905':
      return new Rfc5905Discipline(opts);
    case 'feedforward':
      return new FeedForwardClock(opts);
  }
}
