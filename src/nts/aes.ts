/**
 * The AES block cipher (FIPS 197), encryption direction only, in pure TypeScript.
 *
 * NTS needs AES only inside AES-CMAC (RFC 4493) and AES-CTR (the SIV construction of RFC 5297), both
 * of which use the forward cipher alone, so no decryption is implemented. Table-driven (four 256-entry
 * T-tables built once at module load); keys of 16, 24 or 32 bytes. Not constant-time with respect to
 * cache timing: see docs/nts.md.
 */

const SBOX = new Uint8Array(256);
const T0 = new Uint32Array(256);
const T1 = new Uint32Array(256);
const T2 = new Uint32Array(256);
const T3 = new Uint32Array(256);

function xtime(a: number): number {
  return ((a << 1) ^ (a & 0x80 ? 0x1b : 0)) & 0xff;
}

(function buildTables(): void {
  // Multiplicative inverse via generator 3: walk p = 3^i and q = 3^-i together.
  let p = 1;
  let q = 1;
  do {
    p = p ^ xtime(p); // p *= 3
    q ^= q << 1; // q /= 3
    q ^= q << 2;
    q ^= q << 4;
    q &= 0xff;
    if (q & 0x80) q ^= 0x09;
    const x = q ^ ((q << 1) | (q >> 7)) ^ ((q << 2) | (q >> 6)) ^ ((q << 3) | (q >> 5)) ^ ((q << 4) | (q >> 4));
    SBOX[p] = (x ^ 0x63) & 0xff;
  } while (p !== 1);
  SBOX[0] = 0x63;
  for (let i = 0; i < 256; i++) {
    const s = SBOX[i] ?? 0;
    const s2 = xtime(s);
    const s3 = s2 ^ s;
    const t = ((s2 << 24) | (s << 16) | (s << 8) | s3) >>> 0;
    T0[i] = t;
    T1[i] = ((t >>> 8) | (t << 24)) >>> 0;
    T2[i] = ((t >>> 16) | (t << 16)) >>> 0;
    T3[i] = ((t >>> 24) | (t << 8)) >>> 0;
  }
})();

function subWord(w: number): number {
  return (
    (((SBOX[w >>> 24] ?? 0) << 24) |
      ((SBOX[(w >>> 16) & 0xff] ?? 0) << 16) |
      ((SBOX[(w >>> 8) & 0xff] ?? 0) << 8) |
      (SBOX[w & 0xff] ?? 0)) >>>
    0
  );
}

/** An expanded AES key, ready to encrypt 16-byte blocks. */
export class Aes {
  readonly rounds: number;
  private readonly w: Uint32Array;

  /** `key` must be 16, 24 or 32 bytes (AES-128/192/256); other lengths throw a RangeError. */
  constructor(key: Uint8Array) {
    const nk = key.length / 4;
    if (key.length !== 16 && key.length !== 24 && key.length !== 32) {
      throw new RangeError(`AES key must be 16, 24 or 32 bytes, not ${key.length}`);
    }
    this.rounds = nk + 6;
    const total = 4 * (this.rounds + 1);
    const w = new Uint32Array(total);
    for (let i = 0; i < nk; i++) {
      w[i] =
        (((key[4 * i] ?? 0) << 24) |
          ((key[4 * i + 1] ?? 0) << 16) |
          ((key[4 * i + 2] ?? 0) << 8) |
          (key[4 * i + 3] ?? 0)) >>>
        0;
    }
    let rcon = 1;
    for (let i = nk; i < total; i++) {
      let t = w[i - 1] ?? 0;
      if (i % nk === 0) {
        t = (subWord(((t << 8) | (t >>> 24)) >>> 0) ^ (rcon << 24)) >>> 0;
        rcon = xtime(rcon);
      } else if (nk > 6 && i % nk === 4) {
        t = subWord(t);
      }
      w[i] = ((w[i - nk] ?? 0) ^ t) >>> 0;
    }
    this.w = w;
  }

  /** Encrypts one 16-byte block from `input` at `inOff` into `output` at `outOff` (may alias). */
  encryptBlock(input: Uint8Array, inOff: number, output: Uint8Array, outOff: number): void {
    const w = this.w;
    const rd = (o: number) =>
      (((input[inOff + o] ?? 0) << 24) |
        ((input[inOff + o + 1] ?? 0) << 16) |
        ((input[inOff + o + 2] ?? 0) << 8) |
        (input[inOff + o + 3] ?? 0)) >>>
      0;
    let s0 = (rd(0) ^ (w[0] ?? 0)) >>> 0;
    let s1 = (rd(4) ^ (w[1] ?? 0)) >>> 0;
    let s2 = (rd(8) ^ (w[2] ?? 0)) >>> 0;
    let s3 = (rd(12) ^ (w[3] ?? 0)) >>> 0;
    let k = 4;
    for (let r = 1; r < this.rounds; r++) {
      const t0 =
        (T0[s0 >>> 24] ?? 0) ^
        (T1[(s1 >>> 16) & 0xff] ?? 0) ^
        (T2[(s2 >>> 8) & 0xff] ?? 0) ^
        (T3[s3 & 0xff] ?? 0) ^
        (w[k] ?? 0);
      const t1 =
        (T0[s1 >>> 24] ?? 0) ^
        (T1[(s2 >>> 16) & 0xff] ?? 0) ^
        (T2[(s3 >>> 8) & 0xff] ?? 0) ^
        (T3[s0 & 0xff] ?? 0) ^
        (w[k + 1] ?? 0);
      const t2 =
        (T0[s2 >>> 24] ?? 0) ^
        (T1[(s3 >>> 16) & 0xff] ?? 0) ^
        (T2[(s0 >>> 8) & 0xff] ?? 0) ^
        (T3[s1 & 0xff] ?? 0) ^
        (w[k + 2] ?? 0);
      const t3 =
        (T0[s3 >>> 24] ?? 0) ^
        (T1[(s0 >>> 16) & 0xff] ?? 0) ^
        (T2[(s1 >>> 8) & 0xff] ?? 0) ^
        (T3[s2 & 0xff] ?? 0) ^
        (w[k + 3] ?? 0);
      s0 = t0 >>> 0;
      s1 = t1 >>> 0;
      s2 = t2 >>> 0;
      s3 = t3 >>> 0;
      k += 4;
    }
    const last = (a: number, b: number, c: number, d: number, kw: number) =>
      ((((SBOX[a >>> 24] ?? 0) << 24) |
        ((SBOX[(b >>> 16) & 0xff] ?? 0) << 16) |
        ((SBOX[(c >>> 8) & 0xff] ?? 0) << 8) |
        (SBOX[d & 0xff] ?? 0)) ^
        kw) >>>
      0;
    const o0 = last(s0, s1, s2, s3, w[k] ?? 0);
    const o1 = last(s1, s2, s3, s0, w[k + 1] ?? 0);
    const o2 = last(s2, s3, s0, s1, w[k + 2] ?? 0);
    const o3 = last(s3, s0, s1, s2, w[k + 3] ?? 0);
    const wr = (o: number, v: number) => {
      output[outOff + o] = v >>> 24;
      output[outOff + o + 1] = (v >>> 16) & 0xff;
      output[outOff + o + 2] = (v >>> 8) & 0xff;
      output[outOff + o + 3] = v & 0xff;
    };
    wr(0, o0);
    wr(4, o1);
    wr(8, o2);
    wr(12, o3);
  }

  /** Encrypts one 16-byte block and returns the result as a new array. */
  encrypt(block: Uint8Array): Uint8Array {
    if (block.length !== 16) throw new RangeError(`AES block must be 16 bytes, not ${block.length}`);
    const out = new Uint8Array(16);
    this.encryptBlock(block, 0, out, 0);
    return out;
  }
}
