/**
 * The face pipeline: detect (SSD MobileNet v1 or the tiny detector), 68 landmarks, align to the
 * recognition network's 150x150 chip, 128-d descriptor — each stage callable on its own, timed,
 * and batched where the network allows (landmarks and descriptors of several faces in one call).
 *
 * Platform-neutral: the face-api module and the model files come in through a `FacePlatform`
 * (../platform/node/face.ts, ../platform/browser/face.ts). The aligned chip is exposed apart from
 * the descriptor (`alignFaces`, `chipBatch`) because split learning runs only the lower layers of
 * the recognition network on it. Tensor hygiene: every stage frees what it makes; tests check
 * `tf.memory().numTensors` across each stage.
 */
import * as tf from '@tensorflow/tfjs';
import { FedexError } from '../core/errors.js';
import type { RawImage } from '../core/types.js';
import { type AlignedFace, alignFace, type AlignmentMethod } from './align.js';
import { maskChip } from './mask.js';
import type {
  FaceApiDetection,
  FaceApiLandmarks,
  FaceApiModule,
  FaceApiNet,
  FaceApiRecognition,
  FaceApiSsd,
  FaceApiTiny,
} from './faceapi.js';
import type { Box, Point } from './geometry.js';
import { chooseMainFace } from './main-face.js';
import { resizeImage } from './warp.js';
import { type FaceModelLoader, type FaceModelName, loadFaceNet } from './models.js';
import {
  descriptorViews,
  DESCRIPTOR_VIEW_COUNTS,
  type DescriptorViews,
  meanDescriptor,
  mirrorImage,
} from './views.js';

export type DetectorName = 'ssd' | 'tiny';

/**
 * How a photo's faces were found: at the normal threshold, only at the retry threshold, only
 * once the photo got a black border (tight face crops), or only with both.
 */
export type DetectionPath = 'default' | 'lowConfidence' | 'padded' | 'paddedLowConfidence';

export const DETECTION_PATHS: readonly DetectionPath[] = [
  'default',
  'lowConfidence',
  'padded',
  'paddedLowConfidence',
];

/** Where the pipeline gets face-api and its model files. */
export interface FacePlatform {
  faceapi: FaceApiModule;
  models: FaceModelLoader;
}

/** Options of the face pipeline; defaults in `DEFAULT_FACE_OPTIONS`. */
export interface FacePipelineOptions {
  /** Face detector. Default `'ssd'` (SSD MobileNet v1: ~4x slower than `'tiny'`, finds more faces). */
  detector?: DetectorName;
  /** Detection confidence a face needs on the first try. Default 0.5 (face-api's default). */
  minConfidence?: number;
  /**
   * When nothing reaches `minConfidence`, faces down to this confidence are taken (path
   * `lowConfidence`), unless the padded retry does better (`retryPadding`). Default 0.3. Costs
   * nothing: it is the same detector pass. 0 disables.
   */
  retryMinConfidence?: number;
  /**
   * When nothing reaches `minConfidence`, detect again on the photo framed by a black border this
   * fraction of its longer side wide on every side (paths `padded`, `paddedLowConfidence`).
   * Detectors miss faces that fill the whole frame (tight crops such as 150x150 face thumbnails),
   * or find them only at low confidence; the border fixes that. Which pass wins
   * (`chooseDetections`): a face at `minConfidence` or above, else the pass whose best face scores
   * higher (the unpadded one on a tie). Default 1 (the photo becomes 3x as wide); 0 disables.
   * Costs one more detector pass, and only on photos without a face at `minConfidence`.
   */
  retryPadding?: number;
  /** Input side of the tiny detector (a multiple of 32). Default 416 (face-api's default). */
  tinyInputSize?: number;
  /** At most this many faces per photo (SSD). Default 100. */
  maxFaces?: number;
  /**
   * Alignment method (see ./align.ts). Default `'dlib5'`: dlib's own chip recipe; it ties with
   * `'eyes'` and beats face-api's box crop when heads are rolled (numbers in ./align.ts).
   */
  alignment?: AlignmentMethod;
  /** Border of dlib's template in the chip, as a fraction of its size. Default 0.25 (dlib's). */
  chipPadding?: number;
  /** Area-average when a face is larger than the chip. Default true. */
  antialias?: boolean;
  /** Main face: ignore faces under this fraction of the largest face's area. Default 0.5. */
  mainFaceMinAreaRatio?: number;
  /**
   * Faces per landmark or descriptor call. Default 8: on WASM, descriptor batches of 4-8 cost
   * about 10-20% less per face than one face per call, and 16 is slower again (bench/face.ts).
   */
  batchSize?: number;
  /**
   * Views of each face whose descriptors are averaged (test-time augmentation, ./views.ts): 1 (the
   * default) the chip alone, 2 with its mirror image, 6 three chip borders each with its mirror.
   * More views give a steadier descriptor at one more descriptor pass per view.
   */
  descriptorViews?: DescriptorViews;
  /**
   * `'synthetic'` draws a face mask (jaw line to nose bridge, ./mask.ts) on every aligned chip
   * before it is described: masked-face experiments on any dataset. Default `'none'`.
   */
  mask?: 'none' | 'synthetic';
  /** Seed of the masks' shapes and colours (each face's mask is a function of it and its landmarks). Default 0. */
  maskSeed?: number;
}

export const DEFAULT_FACE_OPTIONS: Required<FacePipelineOptions> = {
  detector: 'ssd',
  minConfidence: 0.5,
  retryMinConfidence: 0.3,
  retryPadding: 1,
  tinyInputSize: 416,
  maxFaces: 100,
  alignment: 'dlib5',
  chipPadding: 0.25,
  antialias: true,
  mainFaceMinAreaRatio: 0.5,
  batchSize: 8,
  descriptorViews: 1,
  mask: 'none',
  maskSeed: 0,
};

/** Input side of face-api's SSD MobileNet v1 (fixed by the network). */
const SSD_INPUT_SIZE = 512;

/** Side of the chip the recognition network takes. */
export const CHIP_SIZE = 150;

/**
 * What the recognition network does to a chip before its first layer (face-api's
 * `FaceRecognitionNet.forwardInput`): subtract this mean, then divide by 255.
 */
export const RECOGNITION_MEAN_RGB: readonly [number, number, number] = [122.782, 117.001, 104.298];

/** One detected face, in the photo's pixel coordinates (a box may reach past the border). */
export interface DetectedFace {
  box: Box;
  score: number;
  path: DetectionPath;
}

/** A face through every stage asked for. */
export interface AnalyzedFace extends DetectedFace {
  landmarks: Point[];
  aligned: AlignedFace;
  descriptor?: Float32Array;
}

export interface FaceAnalysis {
  width: number;
  height: number;
  /** Faces analysed: all detected ones, or only the main one (`faces: 'main'`). */
  faces: AnalyzedFace[];
  /** Index in `faces` of the photo's main face (rule in ./main-face.ts), -1 when none. */
  main: number;
  /** How the faces were found; null when none was. */
  path: DetectionPath | null;
}

/** Cumulative counters, for benchmarks and reports. Milliseconds are wall clock. */
export interface FaceStats {
  /** Photos through `detect`. */
  images: number;
  /** Photos per detection path, and photos where no face was found (`none`). */
  paths: Record<DetectionPath | 'none', number>;
  /** Faces through each stage. */
  faces: { detected: number; landmarks: number; aligned: number; described: number };
  /** Time spent in each stage. */
  ms: { detect: number; landmarks: number; align: number; descriptor: number };
}

function emptyStats(): FaceStats {
  return {
    images: 0,
    paths: { default: 0, lowConfidence: 0, padded: 0, paddedLowConfidence: 0, none: 0 },
    faces: { detected: 0, landmarks: 0, aligned: 0, described: 0 },
    ms: { detect: 0, landmarks: 0, align: 0, descriptor: 0 },
  };
}

const MODEL_OF: Record<DetectorName | 'landmarks' | 'recognition', FaceModelName> = {
  ssd: 'ssd_mobilenetv1_model',
  tiny: 'tiny_face_detector_model',
  landmarks: 'face_landmark_68_model',
  recognition: 'face_recognition_model',
};

function checkImage(image: RawImage): void {
  if (
    !image ||
    !(image.data instanceof Uint8Array) ||
    image.width < 1 ||
    image.height < 1 ||
    image.data.length !== image.width * image.height * 3
  ) {
    throw new FedexError('BAD_ARGUMENT', 'expected a RawImage (8-bit RGB, data.length = width * height * 3)');
  }
}

function validate(o: Required<FacePipelineOptions>): void {
  const bad = (msg: string): never => {
    throw new FedexError('BAD_ARGUMENT', `face pipeline: ${msg}`);
  };
  if (o.detector !== 'ssd' && o.detector !== 'tiny')
    bad(`detector must be 'ssd' or 'tiny', got ${String(o.detector)}`);
  if (!(o.minConfidence > 0 && o.minConfidence < 1)) bad('minConfidence must be in (0, 1)');
  if (!(o.retryMinConfidence >= 0 && o.retryMinConfidence < 1)) bad('retryMinConfidence must be in [0, 1)');
  if (!(o.retryPadding >= 0 && o.retryPadding <= 4)) bad('retryPadding must be in [0, 4]');
  if (!(o.tinyInputSize >= 32 && o.tinyInputSize % 32 === 0)) bad('tinyInputSize must be a multiple of 32');
  if (!(Number.isInteger(o.maxFaces) && o.maxFaces >= 1)) bad('maxFaces must be a positive integer');
  if (!['dlib5', 'eyes', 'faceapi-box'].includes(o.alignment))
    bad(`unknown alignment ${String(o.alignment)}`);
  if (!(o.chipPadding >= 0 && o.chipPadding <= 2)) bad('chipPadding must be in [0, 2]');
  if (!(o.mainFaceMinAreaRatio >= 0 && o.mainFaceMinAreaRatio <= 1))
    bad('mainFaceMinAreaRatio must be in [0, 1]');
  if (!(Number.isInteger(o.batchSize) && o.batchSize >= 1)) bad('batchSize must be a positive integer');
  if (!DESCRIPTOR_VIEW_COUNTS.includes(o.descriptorViews))
    bad(`descriptorViews must be 1, 2 or 6, got ${String(o.descriptorViews)}`);
  if (o.mask !== 'none' && o.mask !== 'synthetic')
    bad(`mask must be 'none' or 'synthetic', got ${String(o.mask)}`);
  if (!(Number.isInteger(o.maskSeed) && o.maskSeed >= 0)) bad('maskSeed must be a non-negative integer');
}

/** An image as a float32 `[h, w, 3]` tensor (0..255), the dtype every face-api net casts to. */
export function imageToTensor(image: RawImage): tf.Tensor3D {
  checkImage(image);
  return tf.tensor3d(Float32Array.from(image.data), [image.height, image.width, 3], 'float32');
}

/**
 * Which detector pass a photo's faces come from, given the faces of the first (unpadded) pass and
 * of the padded retry (run only when the first pass has no face at `minConfidence`). Pure.
 *
 * The rule, in order:
 * 1. A face at `minConfidence` or above in the first pass: the first pass.
 * 2. Else one in the padded pass: the padded pass. On tight crops the border lifts a face found
 *    at 0.3-0.5 unpadded to 0.86-0.99 (LFW crops, ./tight-crop.test.ts).
 * 3. Else (low-confidence faces only, or none) the pass whose best face scores higher; the first
 *    pass on a tie, and when neither found anything, no face.
 *
 * @example
 * chooseDetections([{ score: 0.35 }], [{ score: 0.8 }], 0.5); // [{ score: 0.8 }] (the padded pass)
 */
export function chooseDetections<T extends { score: number }>(
  first: readonly T[],
  padded: readonly T[],
  minConfidence: number,
): readonly T[] {
  const best = (faces: readonly T[]): number => Math.max(-Infinity, ...faces.map((f) => f.score));
  if (best(first) >= minConfidence) return first;
  if (best(padded) >= minConfidence) return padded;
  return best(padded) > best(first) ? padded : first;
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * The face pipeline. Create with `createFacePipeline`; `dispose()` frees the networks.
 */
export class FacePipeline {
  readonly options: Readonly<Required<FacePipelineOptions>>;
  /** face-api version the weights come from. */
  readonly version: string;
  private readonly nets = new Map<string, FaceApiNet>();
  private counters = emptyStats();
  private disposed = false;

  private constructor(
    private readonly platform: FacePlatform,
    options: Required<FacePipelineOptions>,
  ) {
    this.options = Object.freeze({ ...options });
    this.version = platform.faceapi.version;
  }

  /** @internal use `createFacePipeline`. */
  static async create(platform: FacePlatform, options: FacePipelineOptions): Promise<FacePipeline> {
    const merged = { ...DEFAULT_FACE_OPTIONS, ...options };
    validate(merged);
    const p = new FacePipeline(platform, merged);
    try {
      await Promise.all([p.net(merged.detector), p.net('landmarks'), p.net('recognition')]);
    } catch (e) {
      p.dispose();
      throw e;
    }
    return p;
  }

  /** Loads (once) and returns a network. Detectors not asked for at creation load on first use. */
  private async net(kind: DetectorName | 'landmarks' | 'recognition'): Promise<FaceApiNet> {
    if (this.disposed) throw new FedexError('BAD_ARGUMENT', 'face pipeline used after dispose()');
    const have = this.nets.get(kind);
    if (have) return have;
    const fa = this.platform.faceapi;
    const net: FaceApiNet =
      kind === 'ssd'
        ? new fa.SsdMobilenetv1()
        : kind === 'tiny'
          ? new fa.TinyFaceDetector()
          : kind === 'landmarks'
            ? new fa.FaceLandmark68Net()
            : new fa.FaceRecognitionNet();
    await loadFaceNet(net, this.platform.models, MODEL_OF[kind]);
    if (this.disposed) {
      net.dispose(false);
      throw new FedexError('BAD_ARGUMENT', 'face pipeline disposed while loading');
    }
    this.nets.set(kind, net);
    return net;
  }

  /** A copy of the cumulative counters. */
  stats(): FaceStats {
    return structuredClone(this.counters);
  }

  resetStats(): void {
    this.counters = emptyStats();
  }

  /** Runs one detector pass on a tensor and returns faces at or above `threshold`. */
  private async locate(
    input: tf.Tensor3D,
    detector: DetectorName,
    threshold: number,
  ): Promise<FaceApiDetection[]> {
    const o = this.options;
    if (detector === 'ssd') {
      const ssd = (await this.net('ssd')) as FaceApiSsd;
      return ssd.locateFaces(input, { minConfidence: threshold, maxResults: o.maxFaces });
    }
    const tiny = (await this.net('tiny')) as FaceApiTiny;
    const found = await tiny.locateFaces(input, { inputSize: o.tinyInputSize, scoreThreshold: threshold });
    return found.sort((a, b) => b.score - a.score).slice(0, o.maxFaces);
  }

  /**
   * Finds the faces of a photo. One detector pass takes faces down to `retryMinConfidence`; when
   * none of them reaches `minConfidence` (only low-confidence faces, or none), a second pass runs
   * on the photo framed by a black border (`retryPadding`) and `chooseDetections` keeps the better
   * pass: a face at `minConfidence` wins, else the higher best score. Every face of one photo
   * comes from the same path.
   *
   * @example
   * const faces = await pipeline.detect(photo); // [{ box, score, path: 'default' }, ...]
   */
  async detect(image: RawImage, options: { detector?: DetectorName } = {}): Promise<DetectedFace[]> {
    checkImage(image);
    const detector = options.detector ?? this.options.detector;
    const { minConfidence, retryMinConfidence, retryPadding } = this.options;
    const low = retryMinConfidence > 0 ? Math.min(minConfidence, retryMinConfidence) : minConfidence;
    const t0 = performance.now();
    // The detectors shrink their input to 512 (SSD) or `tinyInputSize` px anyway: shrinking a big
    // photo here first (area average, in TS) gives them the same pixels without a full-size
    // float tensor (a 12 MP photo would take 146 MB) and without aliasing.
    const side = detector === 'ssd' ? SSD_INPUT_SIZE : this.options.tinyInputSize;
    const scale = Math.max(1, Math.max(image.width, image.height) / side);
    const small =
      scale > 1
        ? resizeImage(
            image,
            Math.max(1, Math.round(image.width / scale)),
            Math.max(1, Math.round(image.height / scale)),
          )
        : image;
    const sx = image.width / small.width;
    const sy = image.height / small.height;
    const toFaces = (
      found: FaceApiDetection[],
      shift: number,
      paths: [DetectionPath, DetectionPath],
    ): DetectedFace[] => {
      const strong = found.filter((d) => d.score >= minConfidence);
      const chosen = strong.length > 0 ? strong : found;
      const path = strong.length > 0 ? paths[0] : paths[1];
      return chosen
        .map((d) => ({
          box: {
            x: (d.box.x - shift) * sx,
            y: (d.box.y - shift) * sy,
            width: d.box.width * sx,
            height: d.box.height * sy,
          },
          score: d.score,
          path,
        }))
        .filter((f) => f.box.width >= 1 && f.box.height >= 1);
    };
    let faces: DetectedFace[] = [];
    const input = imageToTensor(small);
    try {
      faces = toFaces(await this.locate(input, detector, low), 0, ['default', 'lowConfidence']);
      if (retryPadding > 0 && !faces.some((f) => f.score >= minConfidence)) {
        const border = Math.round(retryPadding * Math.max(small.width, small.height));
        const padded = tf.pad(input, [
          [border, border],
          [border, border],
          [0, 0],
        ]);
        try {
          const retried = toFaces(await this.locate(padded, detector, low), border, [
            'padded',
            'paddedLowConfidence',
          ]);
          faces = [...chooseDetections(faces, retried, minConfidence)];
        } finally {
          padded.dispose();
        }
      }
    } finally {
      input.dispose();
    }
    const c = this.counters;
    c.ms.detect += performance.now() - t0;
    c.images++;
    c.paths[faces.length > 0 ? faces[0].path : 'none']++;
    c.faces.detected += faces.length;
    return faces;
  }

  /**
   * 68 landmarks per face (image coordinates), several faces per network call. Each face's box
   * is cut from the photo (black where it reaches past the border), as face-api does.
   */
  async landmarks(image: RawImage, faces: readonly { box: Box }[]): Promise<Point[][]> {
    checkImage(image);
    if (faces.length === 0) return [];
    const net = (await this.net('landmarks')) as FaceApiLandmarks;
    const t0 = performance.now();
    const result: Point[][] = [];
    for (const group of chunks(faces, this.options.batchSize)) {
      const rects = group.map(({ box }) => ({
        x: Math.floor(box.x),
        y: Math.floor(box.y),
        width: Math.max(1, Math.floor(box.width)),
        height: Math.max(1, Math.floor(box.height)),
      }));
      const crops = rects.map((r) => cropToTensor(image, r));
      let rel: Float32Array;
      try {
        const out = await net.forward(crops);
        rel = (await out.data()) as Float32Array;
        out.dispose();
      } finally {
        tf.dispose(crops);
      }
      rects.forEach((r, i) => {
        const pts: Point[] = [];
        for (let j = 0; j < 68; j++) {
          pts.push({ x: r.x + rel[i * 136 + 2 * j] * r.width, y: r.y + rel[i * 136 + 2 * j + 1] * r.height });
        }
        result.push(pts);
      });
    }
    this.counters.ms.landmarks += performance.now() - t0;
    this.counters.faces.landmarks += faces.length;
    return result;
  }

  /** Cuts the aligned chip of each face (pure TypeScript; no tensors). */
  align(
    image: RawImage,
    landmarks: readonly (readonly Point[])[],
    method: AlignmentMethod = this.options.alignment,
  ): AlignedFace[] {
    checkImage(image);
    const t0 = performance.now();
    const opts = { size: CHIP_SIZE, padding: this.options.chipPadding, antialias: this.options.antialias };
    const out = landmarks.map((l) => this.masked(alignFace(image, l, method, opts), l));
    this.counters.ms.align += performance.now() - t0;
    this.counters.faces.aligned += out.length;
    return out;
  }

  /** The aligned face with its synthetic mask drawn when the `mask` option asks for one. */
  private masked(aligned: AlignedFace, landmarks: readonly Point[]): AlignedFace {
    if (this.options.mask === 'none') return aligned;
    return { ...aligned, chip: maskChip(aligned.chip, aligned.transform, landmarks, this.options.maskSeed) };
  }

  /**
   * Chips as one float32 tensor `[n, 150, 150, 3]` with values 0..255 — the recognition
   * network's input before its own normalisation (`RECOGNITION_MEAN_RGB`, / 255). The caller
   * owns (and disposes) it.
   */
  chipBatch(chips: readonly RawImage[]): tf.Tensor4D {
    const n = chips.length;
    const data = new Float32Array(n * CHIP_SIZE * CHIP_SIZE * 3);
    chips.forEach((c, i) => {
      if (c.width !== CHIP_SIZE || c.height !== CHIP_SIZE || c.data.length !== CHIP_SIZE * CHIP_SIZE * 3) {
        throw new FedexError(
          'BAD_ARGUMENT',
          `chip ${i} is ${c.width}x${c.height}, expected ${CHIP_SIZE}x${CHIP_SIZE}`,
        );
      }
      data.set(c.data, i * CHIP_SIZE * CHIP_SIZE * 3);
    });
    return tf.tensor4d(data, [n, CHIP_SIZE, CHIP_SIZE, 3], 'float32');
  }

  /**
   * 128-d descriptors of aligned chips, `batchSize` chips per network call.
   *
   * @example
   * const [d] = await pipeline.describe([aligned.chip]); // Float32Array(128)
   */
  async describe(chips: readonly RawImage[], options: { batchSize?: number } = {}): Promise<Float32Array[]> {
    if (chips.length === 0) return [];
    const net = (await this.net('recognition')) as FaceApiRecognition;
    const t0 = performance.now();
    const out: Float32Array[] = [];
    for (const group of chunks(chips, options.batchSize ?? this.options.batchSize)) {
      const batch = this.chipBatch(group);
      const singles = tf.unstack(batch) as tf.Tensor3D[];
      batch.dispose();
      let values: Float32Array;
      try {
        const d = await net.forward(singles);
        values = (await d.data()) as Float32Array;
        d.dispose();
      } finally {
        tf.dispose(singles);
      }
      for (let i = 0; i < group.length; i++) out.push(values.slice(i * 128, (i + 1) * 128));
    }
    this.counters.ms.descriptor += performance.now() - t0;
    this.counters.faces.described += chips.length;
    return out;
  }

  /**
   * Descriptors of aligned faces with the `descriptorViews` test-time augmentation (./views.ts):
   * with 1 view this is `describe` of the chips; with more, every view of every face goes through
   * one batched `describe` and each face gets the mean of its views.
   */
  async describeViews(
    image: RawImage,
    landmarks: readonly (readonly Point[])[],
    aligned: readonly AlignedFace[],
  ): Promise<Float32Array[]> {
    const chips = aligned.map((a) => a.chip);
    if (this.options.descriptorViews === 1 || chips.length === 0) return this.describe(chips);
    const views = descriptorViews(this.options.descriptorViews);
    // face-api's box crop has no border setting: its other-border views would repeat the chip and
    // its mirror, whose mean is the same, so they are not described at all.
    const plainOnly = views.filter((v) => v.paddingOffset === 0);
    const all: RawImage[] = [];
    const ends: number[] = [];
    for (let f = 0; f < aligned.length; f++) {
      for (const v of aligned[f].method === 'faceapi-box' ? plainOnly : views) {
        let chip = chips[f];
        if (v.paddingOffset !== 0) {
          const t0 = performance.now();
          chip = this.masked(
            alignFace(image, landmarks[f], aligned[f].method, {
              size: CHIP_SIZE,
              padding: Math.max(0, this.options.chipPadding + v.paddingOffset),
              antialias: this.options.antialias,
            }),
            landmarks[f],
          ).chip;
          this.counters.ms.align += performance.now() - t0;
        }
        all.push(v.mirror ? mirrorImage(chip) : chip);
      }
      ends.push(all.length);
    }
    const d = await this.describe(all);
    return ends.map((end, f) => meanDescriptor(d.slice(f === 0 ? 0 : ends[f - 1], end)));
  }

  /**
   * The whole pipeline on one photo.
   *
   * @param options.faces `'all'` (default) analyses every detected face; `'main'` only the main one.
   * @param options.descriptors compute descriptors (default true); false stops at the chips.
   */
  async analyze(
    image: RawImage,
    options: { faces?: 'all' | 'main'; descriptors?: boolean } = {},
  ): Promise<FaceAnalysis> {
    const detected = await this.detect(image);
    const mainIdx = chooseMainFace(detected, image.width, image.height, {
      minAreaRatio: this.options.mainFaceMinAreaRatio,
    });
    const picked = options.faces === 'main' ? (mainIdx < 0 ? [] : [detected[mainIdx]]) : detected;
    const landmarks = await this.landmarks(image, picked);
    const aligned = this.align(image, landmarks);
    const descriptors =
      options.descriptors === false ? [] : await this.describeViews(image, landmarks, aligned);
    const faces: AnalyzedFace[] = picked.map((f, i) => ({
      ...f,
      landmarks: landmarks[i],
      aligned: aligned[i],
      ...(descriptors[i] ? { descriptor: descriptors[i] } : {}),
    }));
    return {
      width: image.width,
      height: image.height,
      faces,
      main: mainIdx < 0 ? -1 : options.faces === 'main' ? 0 : mainIdx,
      path: detected.length > 0 ? detected[0].path : null,
    };
  }

  /** Frees every network's weights. The pipeline cannot be used afterwards. */
  dispose(): void {
    this.disposed = true;
    for (const net of this.nets.values()) net.dispose(false);
    this.nets.clear();
  }
}

/**
 * A box of the image as a float32 tensor, black where the box reaches past the image. face-api
 * clips instead; the two agree for boxes inside the image (all SSD boxes), and for a box past the
 * border (tiny detector, padded retry) the face stays where the landmark network expects it.
 */
function cropToTensor(image: RawImage, r: Box): tf.Tensor3D {
  const out = new Float32Array(r.width * r.height * 3);
  const x0 = Math.max(0, r.x);
  const x1 = Math.min(image.width, r.x + r.width);
  for (let y = Math.max(0, r.y); y < Math.min(image.height, r.y + r.height); y++) {
    for (let x = x0; x < x1; x++) {
      const s = (y * image.width + x) * 3;
      const d = ((y - r.y) * r.width + (x - r.x)) * 3;
      out[d] = image.data[s];
      out[d + 1] = image.data[s + 1];
      out[d + 2] = image.data[s + 2];
    }
  }
  return tf.tensor3d(out, [r.height, r.width, 3], 'float32');
}

/**
 * Loads the networks (the chosen detector, landmarks, recognition) and returns a pipeline.
 *
 * @throws FedexError FACE_MODEL_LOAD when a model file is missing or broken; BAD_ARGUMENT for bad options.
 * @example
 * await initRuntime();
 * const pipeline = await createFacePipeline(nodeFacePlatform(), { detector: 'tiny' });
 * const { faces, main } = await pipeline.analyze(await readImageFile('group.jpg'));
 */
export function createFacePipeline(
  platform: FacePlatform,
  options: FacePipelineOptions = {},
): Promise<FacePipeline> {
  return FacePipeline.create(platform, options);
}
