/**
 * The combine algorithm (RFC 5905 section 11.2.3, Appendix A.5.5.5 clock_combine()): the survivors'
 * offsets are averaged with weights 1/λ (λ = root distance), and the system selection jitter is the
 * weighted RMS of the survivors' offsets relative to the system peer:
 *   Θ = Σ(θ_i/λ_i) / Σ(1/λ_i),   ϑ_s = sqrt( Σ((θ_i − θ_0)^2/λ_i) / Σ(1/λ_i) ).
 */
import { MINDISP } from './constants.js';

export interface CombineCandidate {
  offset: number;
  rootDistance: number;
}

export interface CombineResult {
  offset: number;
  /** Selection jitter relative to the system peer (s). */
  jitter: number;
}

/** @param sysPeerOffset θ_0, the offset of the system peer. */
export function combine(survivors: CombineCandidate[], sysPeerOffset: number): CombineResult {
  let x = 0;
  let y = 0;
  let z = 0;
  for (const s of survivors) {
    const w = 1 / Math.max(s.rootDistance, MINDISP / 1000);
    x += s.offset * w;
    y += w;
    z += (s.offset - sysPeerOffset) ** 2 * w;
  }
  if (y === 0) return { offset: sysPeerOffset, jitter: 0 };
  return { offset: x / y, jitter: Math.sqrt(z / y) };
}

/** RFC 5905 root distance of a peer: max(MINDISP, δ_r + δ)/2 + ε_r + ε + PHI·age + ψ. */
export function rootDistance(p: {
  rootDelay: number;
  delay: number;
  rootDispersion: number;
  dispersion: number;
  jitter: number;
  age: number;
  phi?: number;
}): number {
  const phi = p.phi ?? 15e-6;
  return (
    Math.max(MINDISP, p.rootDelay + p.delay) / 2 +
    p.rootDispersion +
    p.dispersion +
    phi * Math.max(0, p.age) +
    p.jitter
  );
}
