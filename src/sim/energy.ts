/**
 * The device's time and energy for one piece of work, from counted FLOPs and bytes (never from
 * wall time): a session is an optional download, then local compute, then an optional upload.
 *
 * Energy follows ../shared/DESIGN.md, `E = FLOPs·e_flop + bits_up·e_up + bits_down·e_down + radio
 * overheads`, with the radio overheads of Huang et al.'s LTE/WiFi power model (MobiSys 2012):
 * - **base power** `β` while data moves (1.29 W on LTE), on top of the per-bit terms;
 * - **promotion**: a transfer that finds the radio idle first wakes it (260 ms at 1.21 W on LTE),
 *   which costs time and energy;
 * - **tail**: the radio stays powered for `tailS` after each transfer; a tail cut short by the
 *   next transfer costs only the part that ran (the radio never went idle, so no new promotion);
 *   a tail that runs out before the next transfer costs in full, and that transfer promotes again.
 * Pure functions over numbers.
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
  /** Joules of the base power during transfers. */
  baseJ: number;
  /** Joules of waking the radio (promotions). */
  promotionJ: number;
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
 * // mid-range/lte: 1 GFLOP then 1 MB up: 0.125 s compute, 0.2601 s promotion, 0.07 + 8e6/5.6e6 s
 * // upload; 0.1 J compute + 8e6·0.438e-6 J per bit + 1.288 W·1.4986 s base + 0.2601 s·1.2107 W
 * // promotion + 11.576 s·1.06 W tail.
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
  const baseJ = (down + up) * profile.basePowerW;
  // Promotions: before the first transfer, and before the upload when the download's tail ran out
  // during the compute in between.
  let promotions = 0;
  let tailS = 0;
  if (work.bytesDown > 0) {
    promotions += 1;
    if (work.bytesUp > 0) {
      tailS += Math.min(profile.tailS, compute);
      if (compute >= profile.tailS) promotions += 1;
    } else tailS += profile.tailS;
  }
  if (work.bytesUp > 0) {
    if (work.bytesDown === 0) promotions += 1;
    tailS += profile.tailS;
  }
  const promotionS = promotions * profile.promotionS;
  const promotionJ = promotionS * profile.promotionPowerW;
  const tailJ = tailS * profile.tailPowerW;
  return {
    seconds: promotionS + down + compute + up,
    energyJ: computeJ + radioJ + baseJ + promotionJ + tailJ,
    computeJ,
    radioJ,
    tailJ,
    baseJ,
    promotionJ,
  };
}
