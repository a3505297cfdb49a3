/**
 * The resolved (validated) form of a scenario: what `parseScenario` returns and `Simulation` runs.
 */
import type { DaemonConfig } from '../config/types.js';
import type { NtpTime } from '../time/ntp-time.js';
import type { Distribution } from './distributions.js';
import type { ScenarioLeap, Timescale } from './leap.js';
import type { OscillatorSpec } from './oscillator.js';
import type { PathSpec } from './path.js';

export type Behaviour = 'honest' | 'falseticker' | 'flaky' | 'ratelimit';

export interface NodeSpec {
  name: string;
  /** Simulated IPv4 address (assigned in order: 10.0.0.1, 10.0.0.2, ...). */
  address: string;
  /** Collect clock-error statistics (default: nodes that have sources). */
  stats: boolean;
  oscillator: OscillatorSpec;
  behaviour: Behaviour;
  /** [start, end) windows of true time in which the node neither receives nor answers (flaky). */
  down: [number, number][];
  /** The node's NTP configuration in the daemon's form (sources, [system], [local], [clock], [rate-limit]). */
  ntp: DaemonConfig;
  /** Extra discipline options (step threshold etc.), passed to createDiscipline. */
  discipline: Record<string, number | boolean>;
  /**
   * Timestamping. `outputDelay`: from the moment the engine takes its (basic-mode) transmit stamp to
   * the moment the packet leaves; the precise stamp reported through handleTransmitted (interleaved)
   * is taken when it leaves. `rxLatency`: from arrival to the receive stamp.
   */
  outputDelay: Distribution;
  rxLatency: Distribution;
  /** True time at which the node starts (s). */
  start: number;
  /** The node has the scenario's leap-second list (default: nodes without sources). */
  leapList: boolean;
  /** Its server responses announce this leap (LI 1 or 2) whatever its engine says (a false leap). */
  falseLeap: 'insert' | 'delete' | null;
  /** Its server responses stop announcing a leap this many seconds before the leap's midnight. */
  leapStop: number | null;
}

export interface LinkSpec {
  /** Node names: `forward` is a → b, `reverse` is b → a. */
  a: string;
  b: string;
  forward: PathSpec;
  reverse: PathSpec;
}

export interface Scenario {
  name: string;
  description: string;
  /** Simulated seconds. */
  duration: number;
  /** Statistics cover [warmup, duration]. */
  warmup: number;
  seed: number;
  /** Clock error sampling interval (s). */
  sampleInterval: number;
  /** Time to sync: first time after which |error| stays below this bound (s). */
  syncBound: number;
  /** True UTC at the start of the run (NTP time; default 2026-01-01T00:00:00Z). */
  epoch: NtpTime;
  /** Leap seconds of the run (`[[leap]]`), in time order. */
  leaps: ScenarioLeap[];
  /** The truth errors are measured against: UTC, or UTC smeared over a window. */
  timescale: Timescale;
  nodes: NodeSpec[];
  links: LinkSpec[];
}

/** Statistics of one client node, in the units chrony's simulator reports. */
export interface ClientResult {
  node: string;
  clock: string;
  /** Clock error against true time over the statistics window, s. */
  rmsError: number;
  maxError: number;
  meanError: number;
  /** Frequency error (derivative of the clock error, steps excluded), ppm. */
  rmsFreqError: number;
  maxFreqError: number;
  /** First time (s) after which |error| < syncBound until the end; null if never. */
  timeToSync: number | null;
  /** Requests sent (modes 1 and 3) over the whole run, and in the statistics window. */
  packetsSent: number;
  packetsSentInStats: number;
  /** Mean interval between requests to the same destination in the statistics window, s. */
  meanPoll: number | null;
  /** Clock steps made by the node's discipline. */
  steps: number;
  samples: number;
  /** State at the end of the run, from the engine's snapshot. */
  final: {
    synchronised: boolean;
    stratum: number;
    rootDelay: number;
    rootDispersion: number;
    errorBound: number;
    clockState: string;
    sysPeer: string | null;
    poll: number;
    frequencyPpm: number;
    offset: number;
    /** Per source: address, verdict, whether it runs interleaved, reach register. */
    sources: { address: string; verdict: string; interleaved: boolean; reach: number; stratum: number }[];
  };
}

export interface SimResult {
  scenario: string;
  seed: number;
  duration: number;
  warmup: number;
  clients: ClientResult[];
  events: number;
  /** Packets handed to the network, lost on it, and dropped for lack of a link. */
  network: { sent: number; lost: number; duplicated: number; reordered: number; unroutable: number };
}

/** One point of the time series (CSV / SVG). */
export interface SeriesPoint {
  t: number;
  node: string;
  error: number;
  freqError: number;
}
