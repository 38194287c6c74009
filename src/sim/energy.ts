/**
 * The device's time and energy for one piece of work, from counted FLOPs and bytes (never from
 * wall time): a session is an optional download, then local compute, then an optional upload.
 *
 * Energy follows ../shared/DESIGN.md: `E = FLOPs·e_flop + bits_up·e_up + bits_down·e_down + tail`.
 * The radio tail (Huang et al., MobiSys 2012) keeps the radio powered for `tailS` after each
 * transfer; a tail cut short by the next transfer costs only the part that ran (the radio never
 * left its high-power state, so there is no second promotion). Promotion delay and energy are not
 * modelled (they are small next to the LTE tail). Pure functions over numbers.
 */
import { FedexError } from '../core/errors.js';
import type { DeviceProfile } from './profiles.js';

/** What a device does in one session, in order: download, compute, upload. */
export interface DeviceWork {
  bytesDown: number;
  flops: number;
  bytesUp: number;
}

/** Seconds and joules of one session, with the energy broken down. */
export interface SessionCost {
  seconds: number;
  energyJ: number;
  computeJ: number;
  /** Joules of the bits themselves (per-bit radio energy). */
  radioJ: number;
  /** Joules of the radio tails. */
  tailJ: number;
}

function check(w: DeviceWork): void {
  for (const [k, v] of Object.entries(w))
    if (!(Number.isFinite(v) && v >= 0))
      throw new FedexError('BAD_ARGUMENT', `device work ${k} must be a non-negative number, got ${v}`);
}

/** Seconds to move `bytes` over a link of `bitsPerS` plus one round trip; 0 for no bytes. */
export function transferSeconds(bytes: number, bitsPerS: number, rttS: number): number {
  return bytes > 0 ? rttS + (bytes * 8) / bitsPerS : 0;
}

/**
 * Time and energy of one session on `profile`.
 *
 * @example
 * // mid-range/lte: 1 GFLOP then 1 MB up: 0.125 s compute, 0.07 + 8e6/5.6e6 s upload,
 * // 0.1 J compute + 8e6·0.438e-6 J radio + 11.576 s · 1.06 W tail.
 * sessionCost(deviceProfile('mid-range', 'lte'), { bytesDown: 0, flops: 1e9, bytesUp: 1e6 });
 */
export function sessionCost(profile: DeviceProfile, work: DeviceWork): SessionCost {
  check(work);
  const down = transferSeconds(work.bytesDown, profile.downlinkBitsPerS, profile.rttS);
  const compute = work.flops / profile.flopsPerS;
  const up = transferSeconds(work.bytesUp, profile.uplinkBitsPerS, profile.rttS);
  const computeJ = work.flops * profile.joulesPerFlop;
  const radioJ =
    work.bytesDown * 8 * profile.downlinkJoulesPerBit + work.bytesUp * 8 * profile.uplinkJoulesPerBit;
  let tailS = 0;
  if (work.bytesDown > 0) tailS += work.bytesUp > 0 ? Math.min(profile.tailS, compute) : profile.tailS;
  if (work.bytesUp > 0) tailS += profile.tailS;
  const tailJ = tailS * profile.tailPowerW;
  return { seconds: down + compute + up, energyJ: computeJ + radioJ + tailJ, computeJ, radioJ, tailJ };
}
