/**
 * A persistent cache of extracted features, so a second run over the same photos computes nothing.
 * Keyed by the sha256 of the photo's bytes (renaming or moving a photo keeps its entry) inside one
 * log file per feature spec (`specKey`: backbone id, version and split). It also remembers "no face
 * found", which costs as much to compute as a face.
 *
 * File format (one file per spec and variant, `<dir>/<slug of specKey>-<8 hex of sha256(key)>.fxcache`,
 * key = `specKey` or `specKey#variant`; the variant names extractor settings that change features
 * without changing the spec, e.g. the face detector):
 *
 *   header:  "FXFC" | u8 format version (1) | 3 zero bytes | u32 LE n | n bytes of JSON
 *            {"format":"fedex-feature-cache","version":1,"spec":{...},"dim":128,"recordBytes":552,"variant"?:"..."}
 *   records: fixed size, appended: 32 bytes sha256 | u8 status (1 face, 2 no face) | 3 zero bytes |
 *            dim × f32 LE (zeros when no face) | u32 LE FNV-1a of the preceding record bytes
 *
 * Crash safety: the header is written to a temporary file and renamed into place, so it is never
 * torn. Records are only appended, in batches (`flushEvery` records or `flushIntervalMs`), each batch
 * one `write`. On open every record is checked (size and checksum): a torn or zero-filled tail is
 * truncated away and reported in `recovered`; a bad record in the middle is skipped. A header whose
 * spec or dimension differs from the one asked for (same key, different shape: the backbone changed
 * without a version bump) or that cannot be parsed is an error, `DATASET_BAD_CACHE`, naming the file:
 * silently starting afresh would hide the version bug, and the fix (delete the file or bump
 * `backboneVersion`) is the user's call.
 *
 * One writer per file: opening takes `<file>.lock` (created exclusively, holding the pid). While
 * another live process holds it, the cache opens read-only: it serves what was on disk at open and
 * keeps new results in memory only (`readOnly`, `lockedBy`), and it never truncates (the "torn tail"
 * may be the owner's batch being written). A lock left by a crashed process (its pid is gone) is
 * taken over. Best effort: two processes taking over the same stale lock at the same instant can
 * both believe they own it.
 *
 * Node-only (synchronous `fs`, so a batch has reached the OS when `put` returns after a flush; `close`
 * also syncs it to disk).
 */
import { createHash } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fdatasyncSync,
  fstatSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { DatasetError, FedexError } from '../core/errors.js';
import { shapeSize, specKey, type FeatureSpec } from '../core/types.js';

const MAGIC = 'FXFC';
const FORMAT_VERSION = 1;
const PREFIX_BYTES = 12;
const HASH_BYTES = 32;
const FEATURES_OFFSET = 36;
const STATUS_FACE = 1;
const STATUS_NO_FACE = 2;
const LITTLE_ENDIAN = os.endianness() === 'LE';

/** Where and how often the cache writes. */
export interface FeatureCacheOptions {
  /** Cache directory. Default: `$FEDEX_CACHE_DIR`, else `<cwd>/.cache/features`. */
  dir?: string;
  /** Flush after this many pending records. Default 64. */
  flushEvery?: number;
  /** Flush on the next `put` once the oldest pending record is this old (ms). Default 2000. */
  flushIntervalMs?: number;
  /**
   * Extra key for extractor settings that change the features but not the spec (e.g. which face
   * detector cropped the face). Each variant gets its own file. Default: none.
   */
  variant?: string;
}

/** Defaults of {@link FeatureCacheOptions} (the directory default is read at open time). */
export const DEFAULT_FEATURE_CACHE_OPTIONS = {
  flushEvery: 64,
  flushIntervalMs: 2000,
} as const;

/** A cached result: features of the main face, or "no face found". */
export type CachedFeature = { status: 'face'; features: Float32Array } | { status: 'noFace' };

/** What `open` found and repaired. */
export interface CacheRecovery {
  /** Bytes cut from the end (a torn or zeroed tail left by a crash). */
  truncatedBytes: number;
  /** Records in the middle of the file that failed their checksum and were skipped. */
  skippedRecords: number;
}

/** An open feature cache for one spec. */
export interface FeatureCache {
  readonly spec: FeatureSpec;
  /** Values per feature (`shapeSize(spec.shape)`). */
  readonly dim: number;
  /** Absolute path of the log file. */
  readonly file: string;
  /** Distinct photo hashes known (faces and no-face). */
  readonly size: number;
  readonly recovered: CacheRecovery;
  /**
   * True when another live process holds the writer lock: `put` results are then kept in memory
   * only, and nothing is written to the file.
   */
  readonly readOnly: boolean;
  /** The pid of the process holding the writer lock, when `readOnly`. */
  readonly lockedBy?: number;
  has(hash: string): boolean;
  /** The cached result for a photo hash (sha256 hex), or `undefined` when unknown. */
  get(hash: string): CachedFeature | undefined;
  /** Records a result (`null` = no face). Buffered; see `flushEvery`. The array is copied. */
  put(hash: string, features: Float32Array | null): void;
  /** Writes pending records to the file. */
  flush(): void;
  /** Flushes, syncs to disk and closes. Further calls are errors; a second `close` is a no-op. */
  close(): void;
}

/** sha256 hex of a photo's bytes: the cache key. */
export function hashBytes(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The default cache directory: `$FEDEX_CACHE_DIR`, else `<cwd>/.cache/features`. */
export function defaultCacheDir(): string {
  const env = process.env.FEDEX_CACHE_DIR;
  return path.resolve(env && env.length > 0 ? env : path.join(process.cwd(), '.cache', 'features'));
}

/** The log file of a spec (and optional variant) inside a cache directory. */
export function cacheFileFor(
  dir: string,
  spec: Pick<FeatureSpec, 'backboneId' | 'backboneVersion' | 'split'>,
  variant?: string,
): string {
  const key = variant ? `${specKey(spec)}#${variant}` : specKey(spec);
  const slug = specKey(spec)
    .replace(/[^A-Za-z0-9._-]+/g, '_')
    .slice(0, 80);
  const tag = createHash('sha256').update(key).digest('hex').slice(0, 8);
  return path.resolve(dir, `${slug}-${tag}.fxcache`);
}

function fnv1a(bytes: Uint8Array, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) {
    h ^= bytes[i];
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function recordBytesFor(dim: number): number {
  return FEATURES_OFFSET + 4 * dim + 4;
}

interface HeaderJson {
  format: string;
  version: number;
  spec: FeatureSpec;
  dim: number;
  recordBytes: number;
  variant?: string;
}

function encodeHeader(spec: FeatureSpec, dim: number, variant: string | undefined): Buffer {
  const json: HeaderJson = {
    format: 'fedex-feature-cache',
    version: FORMAT_VERSION,
    spec: {
      backboneId: spec.backboneId,
      backboneVersion: spec.backboneVersion,
      split: spec.split,
      shape: [...spec.shape],
    },
    dim,
    recordBytes: recordBytesFor(dim),
    ...(variant ? { variant } : {}),
  };
  const body = Buffer.from(JSON.stringify(json), 'utf8');
  const head = Buffer.alloc(PREFIX_BYTES);
  head.write(MAGIC, 0, 'latin1');
  head.writeUInt8(FORMAT_VERSION, 4);
  head.writeUInt32LE(body.length, 8);
  return Buffer.concat([head, body]);
}

function sameSpec(a: FeatureSpec, b: FeatureSpec): boolean {
  return (
    a.backboneId === b.backboneId &&
    a.backboneVersion === b.backboneVersion &&
    a.split === b.split &&
    a.shape.length === b.shape.length &&
    a.shape.every((d, i) => d === b.shape[i])
  );
}

function readExactly(fd: number, length: number, position: number): Buffer {
  const buf = Buffer.alloc(length);
  let got = 0;
  while (got < length) {
    const n = readSync(fd, buf, got, length - got, position + got);
    if (n === 0) break;
    got += n;
  }
  return got === length ? buf : buf.subarray(0, got);
}

function checkHash(hash: string): void {
  if (!/^[0-9a-f]{64}$/.test(hash)) {
    throw new FedexError(
      'BAD_ARGUMENT',
      `feature cache key must be a sha256 hex string, got ${JSON.stringify(hash)}`,
    );
  }
}

interface Entry {
  status: typeof STATUS_FACE | typeof STATUS_NO_FACE;
  /** Byte offset of the record's features in the file. */
  offset: number;
  /** Features not yet flushed (read from memory until then). */
  pending?: Float32Array;
}

/**
 * Opens (creating if needed) the cache file of `spec` and indexes its records.
 *
 * @example
 * const cache = openFeatureCache(extractor.spec, { dir: '.cache/features' });
 * const hit = cache.get(hashBytes(bytes));
 * if (!hit) cache.put(hashBytes(bytes), await extractor.extract(image));
 * cache.close();
 */
export function openFeatureCache(spec: FeatureSpec, options: FeatureCacheOptions = {}): FeatureCache {
  const o = { ...DEFAULT_FEATURE_CACHE_OPTIONS, dir: defaultCacheDir(), ...options };
  const dim = shapeSize(spec.shape);
  if (!Number.isInteger(dim) || dim <= 0) {
    throw new FedexError(
      'BAD_ARGUMENT',
      `feature spec ${specKey(spec)} has an empty shape [${spec.shape.join(', ')}]`,
    );
  }
  const recordBytes = recordBytesFor(dim);
  const variant = o.variant || undefined;
  const file = cacheFileFor(o.dir, spec, variant);
  mkdirSync(path.dirname(file), { recursive: true });

  const header = encodeHeader(spec, dim, variant);
  const lock = acquireLock(`${file}.lock`);
  const readOnly = !lock.owned;
  const common = { spec, dim, file, options: o, readOnly, lockedBy: lock.holder, release: lock.release };
  let fd: number | undefined;
  try {
    if (!existsSync(file) || (!readOnly && statSync(file).size === 0)) {
      if (readOnly) {
        // Its owner has not created it yet: nothing to read, and writing is theirs to do.
        return makeCache({ ...common, fd: undefined, size: 0 });
      }
      // The header is written whole (temp file + rename), so a cache file never has a torn header.
      const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
      const tfd = openSync(tmp, 'w');
      writeSync(tfd, header);
      fdatasyncSync(tfd);
      closeSync(tfd);
      renameSync(tmp, file);
    }
    fd = openSync(file, readOnly ? 'r' : 'r+');
    const base = readHeader(fd, file, spec, dim, variant);
    const scan = scanRecords(fd, base, fstatSync(fd).size, recordBytes);
    let size = scan.validEnd;
    // A torn or zeroed tail is cut away, but only by the lock owner: for anyone else it may be the
    // owner's batch in the middle of being written.
    if (!readOnly && scan.validEnd < scan.size) {
      scan.recovered.truncatedBytes = scan.size - scan.validEnd;
      ftruncateSync(fd, scan.validEnd);
    } else if (readOnly) {
      size = scan.size;
    }
    return makeCache({ ...common, fd, size, scan });
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    lock.release();
    throw e;
  }
}

/** Result of indexing a cache file's records. */
interface RecordScan {
  index: Map<string, Entry>;
  recovered: CacheRecovery;
  /** End of the last valid record. */
  validEnd: number;
  /** File size when scanned. */
  size: number;
}

/** Checks the header against `spec`; returns where records start. */
function readHeader(
  fd: number,
  file: string,
  spec: FeatureSpec,
  dim: number,
  variant: string | undefined,
): number {
  const bad = (why: string): DatasetError =>
    new DatasetError(
      'DATASET_BAD_CACHE',
      `feature cache ${file} ${why}; delete the file to rebuild it (or bump backboneVersion if the backbone changed)`,
    );
  const prefix = readExactly(fd, PREFIX_BYTES, 0);
  if (prefix.length < PREFIX_BYTES || prefix.toString('latin1', 0, 4) !== MAGIC) {
    throw bad('is not a FedEx feature cache (bad magic)');
  }
  if (prefix.readUInt8(4) !== FORMAT_VERSION) {
    throw bad(`has format version ${prefix.readUInt8(4)}, this code reads version ${FORMAT_VERSION}`);
  }
  const n = prefix.readUInt32LE(8);
  const body = readExactly(fd, n, PREFIX_BYTES);
  let parsed: HeaderJson;
  try {
    if (body.length < n) throw new Error('truncated header');
    parsed = JSON.parse(body.toString('utf8')) as HeaderJson;
  } catch (e) {
    throw bad(`has an unreadable header (${(e as Error).message})`);
  }
  if (
    parsed.format !== 'fedex-feature-cache' ||
    !parsed.spec ||
    !sameSpec(parsed.spec, spec) ||
    parsed.dim !== dim
  ) {
    const was = parsed.spec
      ? `${specKey(parsed.spec)} shape [${parsed.spec.shape?.join(', ')}] dim ${parsed.dim}`
      : 'no spec';
    throw bad(`holds features of ${was}, not ${specKey(spec)} shape [${spec.shape.join(', ')}] dim ${dim}`);
  }
  if ((parsed.variant ?? '') !== (variant ?? '')) {
    throw bad(`holds variant ${JSON.stringify(parsed.variant ?? '')}, not ${JSON.stringify(variant ?? '')}`);
  }
  // Records start after the header as stored (its JSON spelling may differ from ours).
  return PREFIX_BYTES + n;
}

/** Indexes every record, checking its checksum, and finds where the last good one ends. */
function scanRecords(fd: number, base: number, size: number, recordBytes: number): RecordScan {
  const index = new Map<string, Entry>();
  const recovered: CacheRecovery = { truncatedBytes: 0, skippedRecords: 0 };
  let validEnd = base;
  let skippedSinceValid = 0;
  const chunkRecords = Math.max(1, Math.floor((4 << 20) / recordBytes));
  for (let pos = base; pos + recordBytes <= size;) {
    const want = Math.min(chunkRecords, Math.floor((size - pos) / recordBytes)) * recordBytes;
    const chunk = readExactly(fd, want, pos);
    for (let r = 0; r + recordBytes <= chunk.length; r += recordBytes) {
      const status = chunk[r + HASH_BYTES];
      const sum = chunk.readUInt32LE(r + recordBytes - 4);
      if (
        (status === STATUS_FACE || status === STATUS_NO_FACE) &&
        fnv1a(chunk, r, r + recordBytes - 4) === sum
      ) {
        index.set(chunk.toString('hex', r, r + HASH_BYTES), { status, offset: pos + r + FEATURES_OFFSET });
        validEnd = pos + r + recordBytes;
        recovered.skippedRecords += skippedSinceValid;
        skippedSinceValid = 0;
      } else {
        skippedSinceValid += 1;
      }
    }
    if (chunk.length < want) break;
    pos += want;
  }
  return { index, recovered, validEnd, size };
}

/** True when a process with this id exists (EPERM: it exists but is not ours to signal). */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A best-effort single-writer lock: a `.lock` file holding the owner's pid, created exclusively.
 * A lock whose process is gone (a crashed run) is taken over. Not owning it is not an error: the
 * cache is then opened read-only.
 */
function acquireLock(lockFile: string): { owned: boolean; holder?: number; release(): void } {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(lockFile, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      let released = false;
      return {
        owned: true,
        release() {
          if (released) return;
          released = true;
          try {
            if (readFileSync(lockFile, 'utf8').trim() === String(process.pid)) unlinkSync(lockFile);
          } catch {
            // Already gone: nothing to release.
          }
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    let holder = Number.NaN;
    try {
      holder = Number.parseInt(readFileSync(lockFile, 'utf8').trim(), 10);
    } catch {
      continue; // released between our open and read: try again
    }
    if (Number.isInteger(holder) && holder > 0 && processAlive(holder)) {
      return { owned: false, holder, release() {} };
    }
    try {
      unlinkSync(lockFile); // stale: its process is gone
    } catch {
      // Someone else took it over first; the next attempt sees their lock.
    }
  }
  return { owned: false, release() {} };
}

interface CacheParts {
  spec: FeatureSpec;
  dim: number;
  file: string;
  options: { flushEvery: number; flushIntervalMs: number };
  readOnly: boolean;
  lockedBy?: number;
  /** Open file (read-write when owned), or undefined when there is no file to read. */
  fd: number | undefined;
  /** Bytes of the file that hold records we indexed (writes go here when owned). */
  size: number;
  scan?: RecordScan;
  /** Releases the writer lock (a no-op when not owned). */
  release(): void;
}

function makeCache(parts: CacheParts): FeatureCache {
  const { spec, dim, file, readOnly, options: o } = parts;
  const recordBytes = recordBytesFor(dim);
  const fd = parts.fd;
  const index = parts.scan?.index ?? new Map<string, Entry>();
  const recovered = parts.scan?.recovered ?? { truncatedBytes: 0, skippedRecords: 0 };
  const size = parts.size;
  let end = size;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let pendingEntries: Entry[] = [];
  let pendingSince = 0;
  let closed = false;

  const ensureOpen = (): void => {
    if (closed) throw new FedexError('INTERNAL', `feature cache ${file} is closed`);
  };

  const flush = (): void => {
    ensureOpen();
    // Read-only: results stay in memory for this process (their features are kept in `pending`).
    if (readOnly || fd === undefined || pending.length === 0) return;
    const batch = Buffer.concat(pending);
    let written = 0;
    while (written < batch.length)
      written += writeSync(fd, batch, written, batch.length - written, end + written);
    end += batch.length;
    pending = [];
    pendingBytes = 0;
    for (const e of pendingEntries) delete e.pending;
    pendingEntries = [];
  };

  const readFeatures = (e: Entry): Float32Array => {
    if (e.pending) return e.pending.slice();
    const bytes = fd === undefined ? Buffer.alloc(0) : readExactly(fd, 4 * dim, e.offset);
    if (bytes.length < 4 * dim)
      throw new DatasetError('DATASET_BAD_CACHE', `feature cache ${file} shrank while open`);
    if (LITTLE_ENDIAN)
      return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + 4 * dim));
    const out = new Float32Array(dim);
    for (let i = 0; i < dim; i++) out[i] = bytes.readFloatLE(4 * i);
    return out;
  };

  return {
    spec,
    dim,
    file,
    recovered,
    readOnly,
    lockedBy: parts.lockedBy,
    get size() {
      return index.size;
    },
    has(hash) {
      return index.has(hash);
    },
    get(hash) {
      ensureOpen();
      const e = index.get(hash);
      if (!e) return undefined;
      return e.status === STATUS_NO_FACE
        ? { status: 'noFace' }
        : { status: 'face', features: readFeatures(e) };
    },
    put(hash, features) {
      ensureOpen();
      checkHash(hash);
      if (features && features.length !== dim) {
        throw new FedexError(
          'FEATURE_MISMATCH',
          `feature of length ${features.length} put into the cache of ${specKey(spec)} (dim ${dim})`,
        );
      }
      const rec = Buffer.alloc(recordBytes);
      rec.write(hash, 0, 'hex');
      rec[HASH_BYTES] = features ? STATUS_FACE : STATUS_NO_FACE;
      if (features) for (let i = 0; i < dim; i++) rec.writeFloatLE(features[i], FEATURES_OFFSET + 4 * i);
      rec.writeUInt32LE(fnv1a(rec, 0, recordBytes - 4), recordBytes - 4);
      const offset = end + pendingBytes + FEATURES_OFFSET;
      if (pending.length === 0) pendingSince = Date.now();
      if (!readOnly) {
        pending.push(rec);
        pendingBytes += rec.length;
      }
      const entry: Entry = features
        ? { status: STATUS_FACE, offset, pending: features.slice() }
        : { status: STATUS_NO_FACE, offset };
      index.set(hash, entry);
      if (!readOnly) pendingEntries.push(entry);
      if (pending.length >= o.flushEvery || Date.now() - pendingSince >= o.flushIntervalMs) flush();
    },
    flush,
    close() {
      if (closed) return;
      try {
        flush();
        if (fd !== undefined) {
          if (!readOnly) fdatasyncSync(fd);
          closeSync(fd);
        }
      } finally {
        closed = true;
        parts.release();
      }
    },
  };
}
