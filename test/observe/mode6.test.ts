import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  associationIds,
  ControlError,
  decodeMode6,
  encodeMode6,
  handleMode6,
  isLoopback,
  lfpHex,
  MODE6_HEADER,
  Opcode,
} from '../../src/observe/mode6.js';
import { fixture } from './fixture.js';

const LOCAL = { address: '127.0.0.1', port: 40000 };
const REMOTE = { address: '10.123.6.2', port: 40000 };

function request(opcode: number, associd = 0, data = '', seq = 7, pad = 0): Uint8Array {
  const body = new TextEncoder().encode(data);
  const pkt = encodeMode6(
    {
      version: 2,
      response: false,
      error: false,
      more: false,
      opcode,
      sequence: seq,
      status: 0,
      associd,
      offset: 0,
      count: 0,
    },
    body,
  );
  if (pad === 0) return pkt;
  const out = new Uint8Array(pkt.length + pad);
  out.set(pkt);
  return out;
}

/** Reassemble fragments the way ntpq does (by offset, checking holes and the last fragment). */
function reassemble(frags: Uint8Array[]): {
  data: Uint8Array;
  status: number;
  error: boolean;
  errcode: number;
} {
  const parsed = frags.map((f) => {
    const p = decodeMode6(f);
    assert.ok(p !== null, 'fragment decodes');
    assert.equal(f.length % 4, 0, 'fragment padded to 4 bytes');
    return p;
  });
  parsed.sort((a, b) => a.offset - b.offset);
  let off = 0;
  const parts: Uint8Array[] = [];
  for (const [i, p] of parsed.entries()) {
    assert.equal(p.offset, off, 'no hole');
    assert.equal(p.more, i < parsed.length - 1, 'more bit on all but the last');
    assert.ok(p.response);
    parts.push(p.data);
    off += p.count;
  }
  const data = new Uint8Array(off);
  let k = 0;
  for (const p of parts) {
    data.set(p, k);
    k += p.length;
  }
  const last = parsed[parsed.length - 1];
  assert.ok(last !== undefined);
  return { data, status: last.status, error: last.error, errcode: (last.status >> 8) & 0xff };
}

function parseVars(text: string): Map<string, string> {
  const m = new Map<string, string>();
  let cur = '';
  let inq = false;
  const flush = (): void => {
    const t = cur.trim();
    if (t !== '') {
      const i = t.indexOf('=');
      m.set(i < 0 ? t : t.slice(0, i).trim(), i < 0 ? '' : t.slice(i + 1).trim());
    }
    cur = '';
  };
  for (const c of text) {
    if (c === '"') inq = !inq;
    if (c === ',' && !inq) flush();
    else cur += c;
  }
  flush();
  return m;
}

describe('mode 6 (ntpq) handler', () => {
  it('READSTAT lists every association with its peer status word', () => {
    const snap = fixture();
    const out = handleMode6(request(Opcode.READSTAT), LOCAL, () => snap, { allowRemote: false });
    assert.ok(out !== null);
    const r = reassemble(out);
    assert.equal(r.data.length, 4 * snap.system.sources.length);
    const ids = [...associationIds(snap.system.sources).keys()];
    const sel: number[] = [];
    for (let i = 0; i < r.data.length; i += 4) {
      const id = ((r.data[i] ?? 0) << 8) | (r.data[i + 1] ?? 0);
      assert.equal(id, ids[i / 4]);
      sel.push((r.data[i + 2] ?? 0) & 7);
      const flags = (r.data[i + 2] ?? 0) & 0xf8;
      const s = snap.system.sources[i / 4];
      assert.ok(s !== undefined);
      assert.equal((flags & 0x10) !== 0, s.reach !== 0, 'reach flag');
    }
    // sys-peer '*', combined '+', falseticker 'x', unreachable ' '
    assert.deepEqual(sel, [6, 4, 1, 0]);
    // system status word: LI 0, source NTP (6)
    assert.equal(r.status >> 14, 0);
    assert.equal((r.status >> 8) & 0x3f, 6);
  });

  it('READVAR 0 returns the system variables ntpq -c rv shows', () => {
    const snap = fixture();
    const out = handleMode6(request(Opcode.READVAR), LOCAL, () => snap, { allowRemote: false });
    assert.ok(out !== null);
    const v = parseVars(new TextDecoder().decode(reassemble(out).data));
    assert.equal(v.get('stratum'), '3');
    assert.equal(v.get('refid'), '127.0.0.1');
    assert.equal(Number(v.get('offset')), snap.system.offset * 1e3);
    assert.equal(Number(v.get('frequency')), -12.345);
    assert.equal(Number(v.get('rootdelay')), 12.95);
    assert.equal(v.get('peer'), '1');
    assert.equal(v.get('reftime'), lfpHex(snap.system.time - 12));
    assert.ok(v.has('sys_jitter') && v.has('clk_wander') && v.has('rootdisp') && v.has('tc'));
  });

  it('READVAR of an association returns the peer variables (ntpq -p needs)', () => {
    const snap = fixture();
    const ids = associationIds(snap.system.sources);
    for (const [id, s] of ids) {
      const out = handleMode6(request(Opcode.READVAR, id), LOCAL, () => snap, { allowRemote: false });
      assert.ok(out !== null);
      const r = reassemble(out);
      const v = parseVars(new TextDecoder().decode(r.data));
      assert.equal(v.get('srcadr'), s.address);
      assert.equal(Number(v.get('srcport')), s.port);
      assert.equal(Number.parseInt(v.get('reach') ?? '', 16), s.reach);
      assert.equal(Number(v.get('offset')), Number((s.offset * 1e3).toFixed(6)));
      assert.equal(Number(v.get('hpoll')), Math.max(0, s.poll));
      assert.equal(Number(v.get('poll_s')), 2 ** s.poll);
      assert.equal((v.get('filtoffset') ?? '').split(/\s+/).filter((x) => x !== '').length, s.filter.length);
      assert.equal(v.has('rec'), s.when !== null);
    }
  });

  it('READVAR with a variable list returns only those, unknown names are an error', () => {
    const snap = fixture();
    const out = handleMode6(request(Opcode.READVAR, 0, 'stratum,offset'), LOCAL, () => snap, {
      allowRemote: false,
    });
    assert.ok(out !== null);
    const v = parseVars(new TextDecoder().decode(reassemble(out).data));
    assert.deepEqual([...v.keys()], ['stratum', 'offset']);
    const bad = handleMode6(request(Opcode.READVAR, 0, 'nosuchvar'), LOCAL, () => snap, {
      allowRemote: false,
    });
    assert.ok(bad !== null);
    const e = reassemble(bad);
    assert.ok(e.error);
    assert.equal(e.errcode, ControlError.UNKNOWNVAR);
  });

  it('fragments long answers and they reassemble to the unfragmented answer', () => {
    const snap = fixture();
    const whole = handleMode6(request(Opcode.READVAR, 1), LOCAL, () => snap, { allowRemote: false });
    const frag = handleMode6(request(Opcode.READVAR, 1), LOCAL, () => snap, {
      allowRemote: false,
      fragmentSize: 64,
    });
    assert.ok(whole !== null && frag !== null);
    assert.ok(frag.length > whole.length);
    for (const f of whole) assert.ok(f.length <= MODE6_HEADER + 468);
    for (const f of frag) assert.ok(f.length <= MODE6_HEADER + 64);
    assert.deepEqual(reassemble(frag).data, reassemble(whole).data);
  });

  it('echoes sequence, opcode and association id; errors for unknown associations and writes', () => {
    const snap = fixture();
    const out = handleMode6(request(Opcode.READVAR, 999, '', 4242), LOCAL, () => snap, {
      allowRemote: false,
    });
    assert.ok(out !== null && out.length === 1 && out[0] !== undefined);
    const p = decodeMode6(out[0]);
    assert.ok(p !== null);
    assert.equal(p.sequence, 4242);
    assert.equal(p.opcode, Opcode.READVAR);
    assert.equal(p.associd, 999);
    assert.ok(p.error);
    assert.equal(p.status >> 8, ControlError.BADASSOC);
    const w = handleMode6(request(Opcode.WRITEVAR, 0, 'leap=1'), LOCAL, () => snap, { allowRemote: false });
    assert.ok(w !== null && w[0] !== undefined);
    assert.equal((decodeMode6(w[0])?.status ?? 0) >> 8, ControlError.PERMISSION);
    const m = handleMode6(request(Opcode.READ_ORDLIST_A), LOCAL, () => snap, { allowRemote: false });
    assert.ok(m !== null && m[0] !== undefined);
    assert.equal((decodeMode6(m[0])?.status ?? 0) >> 8, ControlError.BADOP);
  });

  it('READ_MRU needs a fresh nonce given to the same address', () => {
    const snap = fixture();
    const ask = (op: number, data = '', from = LOCAL) =>
      handleMode6(request(op, 0, data), from, () => snap, { allowRemote: true })?.[0];
    const text = (p: Uint8Array | undefined) =>
      new TextDecoder().decode(decodeMode6(p ?? new Uint8Array())?.data);
    const nonce = text(ask(Opcode.REQ_NONCE));
    assert.match(nonce, /^nonce=[0-9a-f]{16}$/);
    const ok = text(ask(Opcode.READMRU, `${nonce}, frags=4`));
    assert.match(ok, /addr\.0=10\.123\.6\.2:0, last\.0=0x[0-9a-f]{8}\.[0-9a-f]{8}/);
    assert.match(ok, /ct\.1=1100/);
    assert.match(ok, /now=0x/);
    const status = (p: Uint8Array | undefined) => (decodeMode6(p ?? new Uint8Array())?.status ?? 0) >> 8;
    assert.equal(status(ask(Opcode.READMRU, 'frags=4')), ControlError.BADVALUE, 'no nonce');
    assert.equal(status(ask(Opcode.READMRU, 'nonce=0000000000000000')), ControlError.BADVALUE, 'forged');
    const other = { address: '127.0.0.2', port: 40000 };
    assert.equal(status(ask(Opcode.READMRU, nonce, other)), ControlError.BADVALUE, 'another address');
    // Prior entries the server does not know: ntpq is told to start again.
    const unknown = ask(Opcode.READMRU, `${nonce}, addr.0=192.0.2.99:123, last.0=0x1.0`);
    assert.equal(status(unknown), ControlError.UNKNOWNVAR);
  });

  it('drops responses, non-mode-6 and truncated packets', () => {
    const snap = fixture();
    const resp = request(Opcode.READSTAT);
    resp[1] = (resp[1] ?? 0) | 0x80;
    assert.equal(
      handleMode6(resp, LOCAL, () => snap, { allowRemote: true }),
      null,
    );
    const ntp = new Uint8Array(48);
    ntp[0] = 0x23;
    assert.equal(
      handleMode6(ntp, LOCAL, () => snap, { allowRemote: true }),
      null,
    );
    assert.equal(
      handleMode6(new Uint8Array(8).fill(0x16), LOCAL, () => snap, { allowRemote: true }),
      null,
    );
    const liar = request(Opcode.READVAR);
    liar[11] = 200; // count beyond the datagram
    assert.equal(
      handleMode6(liar, LOCAL, () => snap, { allowRemote: true }),
      null,
    );
  });

  it('refuses remote clients by default and never answers them with more bytes than they sent', () => {
    const snap = fixture();
    assert.equal(
      handleMode6(request(Opcode.READSTAT), REMOTE, () => snap, { allowRemote: false }),
      null,
    );
    // Allowed, but a 12-byte request cannot get the 28-byte association list: 12-byte error instead.
    const small = handleMode6(request(Opcode.READSTAT), REMOTE, () => snap, { allowRemote: true });
    assert.ok(small !== null && small.length === 1 && small[0] !== undefined);
    assert.equal(small[0].length, 12);
    assert.equal((decodeMode6(small[0])?.status ?? 0) >> 8, ControlError.PERMISSION);
    // A padded request gets the full answer.
    const padded = handleMode6(request(Opcode.READSTAT, 0, '', 1, 64), REMOTE, () => snap, {
      allowRemote: true,
    });
    assert.ok(padded !== null);
    assert.equal(reassemble(padded).data.length, 16);
  });

  it('property: for any request from a remote address, total response bytes <= request bytes', () => {
    const snap = fixture();
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 31 }),
        fc.integer({ min: 0, max: 65535 }),
        fc.constantFrom(0, 1, 2, 3, 0x1234, 65535),
        fc.string({ maxLength: 40 }),
        fc.integer({ min: 0, max: 1200 }),
        fc.integer({ min: 16, max: 468 }),
        (opcode, seq, assoc, data, pad, frag) => {
          const req = request(opcode, assoc, data, seq, pad);
          const out = handleMode6(req, REMOTE, () => snap, { allowRemote: true, fragmentSize: frag });
          const total = (out ?? []).reduce((n, p) => n + p.length, 0);
          return total <= req.length;
        },
      ),
      { numRuns: 500 },
    );
  });

  it('property: arbitrary bytes never throw', () => {
    const snap = fixture();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        const out = handleMode6(bytes, LOCAL, () => snap, { allowRemote: true });
        return out === null || out.every((p) => p.length >= MODE6_HEADER && p.length % 4 === 0);
      }),
      { numRuns: 1000 },
    );
  });

  it('association ids are stable and unique', () => {
    const snap = fixture();
    const a = associationIds(snap.system.sources);
    const b = associationIds([...snap.system.sources].reverse());
    assert.equal(a.size, snap.system.sources.length);
    for (const [id, s] of a) assert.equal(b.get(id)?.id, s.id);
    assert.equal(a.get(1)?.id, '1');
  });

  it('recognises loopback addresses', () => {
    assert.ok(isLoopback('127.0.0.1'));
    assert.ok(isLoopback('127.8.9.10'));
    assert.ok(isLoopback('::1'));
    assert.ok(isLoopback('::ffff:127.0.0.1'));
    assert.ok(!isLoopback('10.123.6.1'));
    assert.ok(!isLoopback('::ffff:10.0.0.1'));
    assert.ok(!isLoopback('1270.0.0.1'));
  });

  it('formats l_fp like ntpd', () => {
    assert.equal(lfpHex(0), '0x83aa7e80.00000000');
    assert.equal(lfpHex(0.5), '0x83aa7e80.80000000');
  });
});
