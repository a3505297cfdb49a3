/**
 * The accuracy floor of a clock that knows each exchange's queueing exactly (`node dist/bench/clock-floor.js`):
 * a Kalman filter (phase, random-walk frequency) fed offsets whose error is uniform within ±E/2, E the
 * exchange's true queueing, on the simulator's scenario model (exp(θ) queueing each way, 1e-9/√s
 * frequency wander, one exchange per poll, statistics from 2,000 s of 20,000 s, error sampled every
 * 4 s between exchanges). No estimator restricted to a linear combination of the offsets can do
 * better on average; it bounds what the 64 s and 1,024 s targets of issue 11 can reach.
 *
 *   node dist/bench/clock-floor.js [--seeds N]
 */
import { parseArgs } from 'node:util';
import { Rng } from '../src/sim/rng.js';

function floorRms(theta: number, poll: number, wander: number, seed: number): number {
  const rng = Rng.derive(seed, 'clock-floor');
  const exp = () => -Math.log(1 - rng.next()) * theta;
  let x = 0; // true offset (s) and frequency (s/s)
  let f = 0;
  let a = 0;
  let b = 0;
  let p00 = 1;
  let p01 = 0;
  let p11 = 1e-6;
  let first = true;
  let se = 0;
  let n = 0;
  const q2 = wander * wander;
  for (let t = 0; t < 20000; t += poll) {
    for (let k = 0; k < poll; k += 4) {
      if (t > 2000) {
        se += (x + f * k - (a + b * k)) ** 2;
        n++;
      }
    }
    for (let k = 0; k < poll; k++) {
      x += f;
      f += wander * (rng.next() * 2 - 1) * Math.sqrt(3);
    }
    a += b * poll;
    p00 += 2 * p01 * poll + p11 * poll * poll + (q2 * poll ** 3) / 3;
    p01 += p11 * poll + (q2 * poll * poll) / 2;
    p11 += q2 * poll;
    const ef = exp();
    const er = exp();
    const y = x + (ef - er) / 2;
    const r = (ef + er) ** 2 / 12 + 1e-12;
    if (first) {
      a = y;
      p00 = r;
      first = false;
      continue;
    }
    const k0 = p00 / (p00 + r);
    const k1 = p01 / (p00 + r);
    const nu = y - a;
    a += k0 * nu;
    b += k1 * nu;
    p11 -= k1 * p01;
    p01 *= 1 - k0;
    p00 *= 1 - k0;
  }
  return Math.sqrt(se / n);
}

const { values } = parseArgs({ options: { seeds: { type: 'string', default: '5' } } });
const seeds = Number(values.seeds);
process.stdout.write('| path | poll | floor RMS over the seeds |\n|---|---:|---:|\n');
for (const [name, theta] of [
  ['lan-default: exp(100 µs) each way', 100e-6],
  ['wan: exp(1 ms) each way', 1e-3],
] as const) {
  for (const poll of [64, 1024]) {
    const rs: number[] = [];
    for (let s = 1; s <= seeds; s++) rs.push(floorRms(theta, poll, 1e-9, s) * 1e6);
    rs.sort((p, q) => p - q);
    const med = rs[rs.length >> 1] ?? Number.NaN;
    process.stdout.write(
      `| ${name} | ${poll} s | ${rs[0]?.toFixed(0)}–${rs[rs.length - 1]?.toFixed(0)} µs (median ${med.toFixed(0)}) |\n`,
    );
  }
}
