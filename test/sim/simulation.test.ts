import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fakeEngineFactory } from '../../src/sim/engines.js';
import { resultToJson, seriesToCsv, seriesToSvg } from '../../src/sim/report.js';
import { Simulation } from '../../src/sim/simulation.js';
import { type Counts, counting, pair } from './support.js';

const JITTER = 'delay = 100e-6\njitter = { dist = "exp", mean = 100e-6 }';

test('determinism: the same seed gives identical results and series; another seed differs', () => {
  const sc = pair({ link: JITTER, client: '[node.oscillator]\noffset = 0.1\nfreq-ppm = 50\nwander = 1e-9' });
  const run = (seed: number) => {
    const sim = new Simulation(sc, fakeEngineFactory(4), seed);
    const r = sim.run({ seriesInterval: 10 });
    return { json: resultToJson(r), csv: seriesToCsv(sim.getSeries()) };
  };
  const a = run(7);
  const b = run(7);
  const c = run(8);
  assert.equal(a.json, b.json);
  assert.equal(a.csv, b.csv);
  assert.notEqual(a.json, c.json);
  assert.ok(a.csv.split('\n').length > 300);
});

test('the fake client sees half the path asymmetry as clock error', () => {
  const sc = pair({
    link: `${JITTER.replace('100e-6\n', '350e-6\n')}\nasymmetry = 500e-6`,
    top: 'duration = 20000',
  });
  const r = new Simulation(sc, fakeEngineFactory(4)).run();
  const c = r.clients[0]!;
  // Expected +250 µs: each exchange measures θ + (d_out − d_back)/2 and the fake client steps to it.
  assert.ok(Math.abs(c.meanError - 250e-6) < 15e-6, `mean error ${c.meanError}`);
  assert.ok(c.packetsSent > 1000);
  // Statistics cover [warmup, duration] only: one sample per second.
  assert.equal(c.samples, 20000 - 1000 + 1);
  assert.ok(Math.abs((c.meanPoll ?? 0) - 16) < 0.01);
});

test('timestamping: a basic transmit stamp taken 1 ms before the send, and a 1 ms receive latency', () => {
  const out = new Simulation(
    pair({ link: 'delay = 100e-6', client: '[node.timestamping]\noutput-delay = 1e-3' }),
    fakeEngineFactory(4),
  ).run();
  assert.ok(
    Math.abs(out.clients[0]!.meanError - 0.5e-3) < 1e-7,
    `output delay: ${out.clients[0]!.meanError}`,
  );
  const rx = new Simulation(
    pair({ link: 'delay = 100e-6', client: '[node.timestamping]\nrx-latency = 1e-3' }),
    fakeEngineFactory(4),
  ).run();
  assert.ok(Math.abs(rx.clients[0]!.meanError + 0.5e-3) < 1e-7, `rx latency: ${rx.clients[0]!.meanError}`);
});

test('a flaky server is silent in its down windows; a link outage drops everything', () => {
  const counts = new Map<string, Counts>();
  const sc = pair({
    link: 'delay = 1e-3',
    server: 'behaviour = "flaky"\ndown = [[1000, 2000], [3000, 3500]]',
  });
  new Simulation(sc, counting(fakeEngineFactory(4), counts)).run();
  // 4000 s at 16 s: 251 polls; 1500 s down → about 94 unanswered.
  const got = counts.get('client')!.received;
  assert.ok(got >= 155 && got <= 160, `client received ${got}`);
  const counts2 = new Map<string, Counts>();
  const sc2 = pair({ link: 'delay = 1e-3\noutages = [[0, 2000]]' });
  const r = new Simulation(sc2, counting(fakeEngineFactory(4), counts2)).run();
  const got2 = counts2.get('client')!.received;
  assert.ok(got2 >= 124 && got2 <= 126, `client received ${got2}`);
  assert.ok(r.network.lost >= 125);
});

test('a rate-limiting server answers a fast poller with KoD RATE', () => {
  const counts = new Map<string, Counts>();
  const sc = pair({
    link: 'delay = 1e-3',
    server: 'behaviour = "ratelimit"\n[node.ntp.rate-limit]\ninterval = 3\nburst = 4\nleak = 0',
    top: 'duration = 200\nwarmup = 10',
  });
  new Simulation(sc, counting(fakeEngineFactory(0), counts)).run();
  const c = counts.get('client')!;
  assert.ok(c.kod > 10, `KoD received ${c.kod}`);
  assert.ok(c.received > c.kod, 'some requests are answered');
});

test('wander and frequency error show up in the freq-error statistic', () => {
  const sc = pair({ link: 'delay = 1e-3', client: '[node.oscillator]\nfreq-ppm = 20' });
  const r = new Simulation(sc, fakeEngineFactory(4)).run();
  // The fake client only steps; its frequency error stays the oscillator's 20 ppm.
  assert.ok(Math.abs(r.clients[0]!.rmsFreqError - 20) < 1e-3, `${r.clients[0]!.rmsFreqError}`);
});

test('SVG and CSV output', () => {
  const sim = new Simulation(pair({ link: JITTER }), fakeEngineFactory(4));
  sim.run({ seriesInterval: 5 });
  const svg = seriesToSvg(sim.getSeries(), 'pair <test>', 1000);
  assert.match(svg, /^<svg /);
  assert.match(svg, /<polyline /);
  assert.match(svg, /pair &lt;test&gt;/);
  const csv = seriesToCsv(sim.getSeries()).trim().split('\n');
  assert.equal(csv[0], 'time_s,node,error_s,freq_error_ppm');
  assert.equal(csv.length, 1 + 801);
});
