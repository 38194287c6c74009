/**
 * The device's cost account: photos through the bottom, FLOPs (bottom per photo, top per
 * prediction), HTTP body bytes each way and wall milliseconds per stage. Pure bookkeeping over the
 * `DeviceCosts` shape, so the same numbers come out in Node, in a browser and in the simulator.
 */
import type { DeviceCosts } from './types.js';

export type CostStage = keyof DeviceCosts['ms'];

/**
 * FLOPs of the face descriptor network (faceapi-resnet up to its 128-d embedding) for one photo,
 * as `loadBackbone('faceapi-resnet').bottomCosts('embedding')` counts them (checked in
 * `src/cli/device.test.ts`); a constant so that no device loads the network only to count. Face
 * detection and landmarks are not included.
 */
export const FACE_EMBEDDING_FLOPS = 543_599_232;

/**
 * FLOPs of one face-detector pass over a photo (the detector resizes every photo to its input
 * side, so the cost does not depend on the photo): SSD MobileNet v1 at 512×512, and the tiny
 * detector at its default 416×416. Counted from the kernels face-api runs (`countKernelFlops`,
 * checked in `src/face/flops.test.ts`). A photo whose first pass finds no face at the normal
 * confidence gets a second, padded pass (`retryPadding`).
 */
export const FACE_DETECTION_FLOPS = Object.freeze({ ssd: 6_286_014_976, tiny: 397_521_056 });

/** FLOPs of face-api's 68-landmark net for one face (112×112 input), counted as above. */
export const FACE_LANDMARKS_FLOPS = 103_143_680;

/**
 * What a device spends per photo before the split network sees a face: one SSD pass and the
 * landmarks of one face (the LFW / gallery case). Every arm of the simulator pays it once per photo.
 */
export const FACE_FRONT_END_FLOPS = FACE_DETECTION_FLOPS.ssd + FACE_LANDMARKS_FLOPS;

/** All zeros. */
export function emptyCosts(): DeviceCosts {
  return {
    photos: 0,
    flops: 0,
    bytesUp: 0,
    bytesDown: 0,
    ms: { extract: 0, encode: 0, upload: 0, download: 0, predict: 0 },
  };
}

/** `a + b`, field by field. */
export function addCosts(a: DeviceCosts, b: DeviceCosts): DeviceCosts {
  const ms = { ...a.ms };
  for (const k of Object.keys(ms) as CostStage[]) ms[k] += b.ms[k] ?? 0;
  return {
    photos: a.photos + b.photos,
    flops: a.flops + b.flops,
    bytesUp: a.bytesUp + b.bytesUp,
    bytesDown: a.bytesDown + b.bytesDown,
    ms,
  };
}

/** A costs value read back from storage: missing or malformed fields count as 0. */
export function parseCosts(value: unknown): DeviceCosts {
  const out = emptyCosts();
  if (!value || typeof value !== 'object') return out;
  const v = value as Partial<DeviceCosts>;
  const num = (x: unknown) => (typeof x === 'number' && Number.isFinite(x) ? x : 0);
  out.photos = num(v.photos);
  out.flops = num(v.flops);
  out.bytesUp = num(v.bytesUp);
  out.bytesDown = num(v.bytesDown);
  for (const k of Object.keys(out.ms) as CostStage[]) out.ms[k] = num(v.ms?.[k]);
  return out;
}

/**
 * Costs of this session, on top of the totals persisted before it.
 *
 * @example
 * const meter = new CostMeter(parseCosts(await store.getJson('costs')));
 * meter.photo(544e6, 310);
 * meter.snapshot('total').flops; // previous total + 544e6
 */
export class CostMeter {
  private readonly before: DeviceCosts;
  private readonly session = emptyCosts();

  constructor(before: DeviceCosts = emptyCosts()) {
    this.before = parseCosts(before);
  }

  /** One photo through the bottom: its FLOPs and extraction time. */
  photo(flops: number, ms: number): void {
    this.session.photos += 1;
    this.session.flops += flops;
    this.session.ms.extract += ms;
  }

  flops(n: number): void {
    this.session.flops += n;
  }

  bytes(up: number, down: number): void {
    this.session.bytesUp += up;
    this.session.bytesDown += down;
  }

  time(stage: CostStage, ms: number): void {
    this.session.ms[stage] += ms;
  }

  /** This session's costs, or the totals since enrollment. */
  snapshot(which: 'session' | 'total' = 'total'): DeviceCosts {
    return which === 'session' ? parseCosts(this.session) : addCosts(this.before, this.session);
  }
}
