/**
 * Engine factories for the simulator: the real ntpkit engine (`NtpSystem` + `createDiscipline`), and
 * the tiny fake engine for plumbing tests.
 */
import { createDiscipline, type DisciplineKind } from '../clock/index.js';
import { sourceConfigOf } from '../config/source-config.js';
import type { HostSourceConfig } from '../config/types.js';
import { NtpSystem } from '../system/system.js';
import type { Action, SourceConfig, SourceMode, SystemConfig } from '../system/types.js';
import type { CryptoProvider } from '../wire/crypto.js';
import { FakeEngine } from './fake-engine.js';
import type { EngineFactory } from './simulation.js';

/** Maps the daemon's source entries to engine SourceConfigs, resolving node names to addresses. */
export function sourceConfigs(
  ntp: {
    servers: HostSourceConfig[];
    pools: HostSourceConfig[];
    peers: HostSourceConfig[];
    broadcastClients: HostSourceConfig[];
  },
  resolve: (host: string) => string,
): SourceConfig[] {
  const out: SourceConfig[] = [];
  const add = (list: HostSourceConfig[], mode: SourceMode) => {
    for (const h of list) out.push(sourceConfigOf(mode, resolve(h.host), h.port, h.host, h));
  };
  add(ntp.servers, 'server');
  add(ntp.pools, 'server');
  add(ntp.peers, 'peer');
  add(ntp.broadcastClients, 'broadcast-client');
  return out;
}

/**
 * The real engine, with the host's crypto provider (the simulator holds none: the CLI and the tests
 * pass src/io/crypto.ts). `clockOverride` replaces every node's `[clock] discipline` (the benchmark
 * runs each scenario once per clock).
 */
export function realEngineFactory(crypto: CryptoProvider, clockOverride?: DisciplineKind): EngineFactory {
  return (ctx) => {
    const { node } = ctx;
    const ntp = node.ntp;
    const sources = sourceConfigs(ntp, ctx.resolve);
    const kind: DisciplineKind = clockOverride ?? ntp.clock.discipline;
    const minpoll = sources.length > 0 ? Math.min(...sources.map((s) => s.minpoll)) : 6;
    const maxpoll = sources.length > 0 ? Math.max(...sources.map((s) => s.maxpoll)) : 10;
    const discipline = createDiscipline(kind, {
      raw: ctx.raw,
      time: ctx.time,
      minpoll,
      maxpoll,
      ...node.discipline,
    });
    const system: SystemConfig = {
      ...ntp.system,
      broadcast: ntp.system.broadcast.map((b) => ({ ...b, address: ctx.resolve(b.address) })),
    };
    const engine = new NtpSystem(system, { discipline, random: ctx.random, crypto });
    return {
      engine,
      clock: discipline.clock,
      kind,
      sources: (raw) => {
        const acts: Action[] = [];
        for (const s of sources) acts.push(...engine.addSource(raw, s).actions);
        return acts;
      },
    };
  };
}

/** The fake engine (plumbing tests): clients poll every 2^pollExp s and step to each measurement. */
export function fakeEngineFactory(pollExp = 4, correct = true): EngineFactory {
  return (ctx) => {
    const engine = new FakeEngine(ctx.raw, ctx.time, pollExp, correct);
    const sources = sourceConfigs(ctx.node.ntp, ctx.resolve);
    return {
      engine,
      clock: engine.clock,
      kind: 'fake',
      sources: (raw) => {
        const acts: Action[] = [];
        for (const s of sources) acts.push(...engine.addSource(raw, s).actions);
        return acts;
      },
    };
  };
}
