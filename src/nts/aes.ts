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
    const x =
      q ^ ((q << 1) | (q >> 7)) ^ ((q << 2) | (q >> 6)) ^ ((q << 3) | (q >> 5)) ^ ((q << 4) | (q >> 4));
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
    // Hot path: every index is in range by construction (bytes, 0..255, key schedule bounds), so
    // the reads are narrowed with `as number` instead of `?? 0`. The caller guarantees 16 bytes.
    const w = this.w;
    const i = input;
    let s0 =
      ((i[inOff] as number) << 24) |
      ((i[inOff + 1] as number) << 16) |
      ((i[inOff + 2] as number) << 8) |
      (i[inOff + 3] as number);
    let s1 =
      ((i[inOff + 4] as number) << 24) |
      ((i[inOff + 5] as number) << 16) |
      ((i[inOff + 6] as number) << 8) |
      (i[inOff + 7] as number);
    let s2 =
      ((i[inOff + 8] as number) << 24) |
      ((i[inOff + 9] as number) << 16) |
      ((i[inOff + 10] as number) << 8) |
      (i[inOff + 11] as number);
    let s3 =
      ((i[inOff + 12] as number) << 24) |
      ((i[inOff + 13] as number) << 16) |
      ((i[inOff + 14] as number) << 8) |
      (i[inOff + 15] as number);
    s0 ^= w[0] as number;
    s1 ^= w[1] as number;
    s2 ^= w[2] as number;
    s3 ^= w[3] as number;
    let k = 4;
    const rounds = this.rounds;
    for (let r = 1; r < rounds; r++) {
      const t0 =
        (T0[s0 >>> 24] as number) ^
        (T1[(s1 >>> 16) & 0xff] as number) ^
        (T2[(s2 >>> 8) & 0xff] as number) ^
        (T3[s3 & 0xff] as number) ^
        (w[k] as number);
      const t1 =
        (T0[s1 >>> 24] as number) ^
        (T1[(s2 >>> 16) & 0xff] as number) ^
        (T2[(s3 >>> 8) & 0xff] as number) ^
        (T3[s0 & 0xff] as number) ^
        (w[k + 1] as number);
      const t2 =
        (T0[s2 >>> 24] as number) ^
        (T1[(s3 >>> 16) & 0xff] as number) ^
        (T2[(s0 >>> 8) & 0xff] as number) ^
        (T3[s1 & 0xff] as number) ^
        (w[k + 2] as number);
      const t3 =
        (T0[s3 >>> 24] as number) ^
        (T1[(s0 >>> 16) & 0xff] as number) ^
        (T2[(s1 >>> 8) & 0xff] as number) ^
        (T3[s2 & 0xff] as number) ^
        (w[k + 3] as number);
      s0 = t0;
      s1 = t1;
      s2 = t2;
      s3 = t3;
      k += 4;
    }
    const S = SBOX;
    const o0 =
      (((S[s0 >>> 24] as number) << 24) |
        ((S[(s1 >>> 16) & 0xff] as number) << 16) |
        ((S[(s2 >>> 8) & 0xff] as number) << 8) |
        (S[s3 & 0xff] as number)) ^
      (w[k] as number);
    const o1 =
      (((S[s1 >>> 24] as number) << 24) |
        ((S[(s2 >>> 16) & 0xff] as number) << 16) |
        ((S[(s3 >>> 8) & 0xff] as number) << 8) |
        (S[s0 & 0xff] as number)) ^
      (w[k + 1] as number);
    const o2 =
      (((S[s2 >>> 24] as number) << 24) |
        ((S[(s3 >>> 16) & 0xff] as number) << 16) |
        ((S[(s0 >>> 8) & 0xff] as number) << 8) |
        (S[s1 & 0xff] as number)) ^
      (w[k + 2] as number);
    const o3 =
      (((S[s3 >>> 24] as number) << 24) |
        ((S[(s0 >>> 16) & 0xff] as number) << 16) |
        ((S[(s1 >>> 8) & 0xff] as number) << 8) |
        (S[s2 & 0xff] as number)) ^
      (w[k + 3] as number);
    const o = output;
    o[outOff] = o0 >>> 24;
    o[outOff + 1] = o0 >>> 16;
    o[outOff + 2] = o0 >>> 8;
    o[outOff + 3] = o0;
    o[outOff + 4] = o1 >>> 24;
    o[outOff + 5] = o1 >>> 16;
    o[outOff + 6] = o1 >>> 8;
    o[outOff + 7] = o1;
    o[outOff + 8] = o2 >>> 24;
    o[outOff + 9] = o2 >>> 16;
    o[outOff + 10] = o2 >>> 8;
    o[outOff + 11] = o2;
    o[outOff + 12] = o3 >>> 24;
    o[outOff + 13] = o3 >>> 16;
    o[outOff + 14] = o3 >>> 8;
    o[outOff + 15] = o3;
  }

  /** Encrypts one 16-byte block and returns the result as a new array. */
  encrypt(block: Uint8Array): Uint8Array {
    if (block.length !== 16) throw new RangeError(`AES block must be 16 bytes, not ${block.length}`);
    const out = new Uint8Array(16);
    this.encryptBlock(block, 0, out, 0);
    return out;
  }
}
