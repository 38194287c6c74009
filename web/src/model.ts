/**
 * The face app's gallery as plain data: one `Face` per face found in an imported photo, what the
 * user named it, what the pulled model says, and the pure rules the views follow (names for the
 * autocomplete, what a tile shows, accuracy bookkeeping). No DOM, no storage, no network: unit
 * tested in Node (web/src/model.test.ts).
 */

/** The model's answer for one face, made on the device. */
export interface FacePrediction {
  /** A person's name, or `unknown` (far from everyone named, or too unsure). */
  name: string;
  confidence: number;
  /**
   * Why `unknown`: `far` from every person named, `generic` (no one in particular: a drawing, a
   * blur), or `unsure` (under the threshold).
   */
  because?: UnknownReason;
  /** Distance to the nearest person named ÷ the model's radius (> 1: far). */
  strangeness?: number;
  /** Distance to the average face ÷ the named faces' median (under ~0.85: no one in particular). */
  typicality?: number;
  /** Version of the model that said it. */
  modelVersion: number;
}

import type { ScreenFlag } from '../../src/face/screen.js';

/** One face of one photo. The photo itself is never stored: only this and a small crop. */
export interface Face {
  /** Sample id, also the SDK's: `<photo name>#<face index>` (see `faceIdOf`). */
  id: string;
  /** File name of the photo it came from. */
  photo: string;
  /** Index of the face in that photo (0 = first found). */
  index: number;
  /** The name the user gave (a label the server trains on), or null. */
  label: string | null;
  /** The 128-d descriptor (the feature that is uploaded), kept to predict and to cluster. */
  descriptor: number[];
  prediction: FacePrediction | null;
  /** Detection score, for the tile's details. */
  score: number;
  /** Why this detection should not become a person (src/face/screen.ts); absent or empty: fine. */
  flags?: ScreenFlag[];
  addedAt: number;
}

/** What `predict` gives back in the SDK (`Prediction`), the part the app keeps. */
export interface PredictionLike {
  name: string;
  confidence: number;
  modelVersion: number;
}

/** The SDK's `unknown` name. */
export const UNKNOWN_NAME = 'unknown';

/** Longest name the server accepts. */
export const MAX_NAME_LENGTH = 200;

/** `IMG_1.jpg`, face 0 → `IMG_1.jpg#0`. */
export function faceIdOf(photo: string, index: number): string {
  return `${photo}#${index}`;
}

/**
 * A typed name made tidy: trimmed, inner white space collapsed, empty → null (clears the name).
 *
 * @throws RangeError for a name over 200 characters or the reserved `unknown`.
 */
export function normalizeName(input: string): string | null {
  const name = input.replace(/\s+/g, ' ').trim();
  if (name.length === 0) return null;
  if (name.length > MAX_NAME_LENGTH) throw new RangeError(`a name has at most ${MAX_NAME_LENGTH} characters`);
  if (name.toLowerCase() === UNKNOWN_NAME)
    throw new RangeError(`"${UNKNOWN_NAME}" is what the app says for nobody known`);
  return name;
}

/** Names for the autocomplete: every label given and every name the model knows, sorted, once. */
export function knownNames(faces: readonly Face[], modelNames: readonly string[] = []): string[] {
  const set = new Set<string>();
  for (const f of faces) if (f.label) set.add(f.label);
  for (const n of modelNames) if (n !== UNKNOWN_NAME) set.add(n);
  return [...set].sort((a, b) => a.localeCompare(b));
}

/** What a tile says: the user's name wins, then the model's guess, else nothing yet. */
export interface TileText {
  name: string | null;
  /** `named` by the user, `predicted` by the model, `unknown` below the threshold, `none` yet. */
  source: 'named' | 'predicted' | 'unknown' | 'none';
  confidence: number | null;
  /** Why `unknown` (absent otherwise). */
  because?: UnknownReason;
}

/** Why a face is `unknown`: the model's reasons, or the detection's own (too small, cut). */
export type UnknownReason = 'far' | 'generic' | 'unsure' | ScreenFlag;

export function tileText(face: Face): TileText {
  if (face.label) return { name: face.label, source: 'named', confidence: null };
  // A bystander or a face cut by the edge is not named, whatever the model would say.
  const flag = face.flags?.[0];
  if (flag) return { name: UNKNOWN_NAME, source: 'unknown', confidence: null, because: flag };
  const p = face.prediction;
  if (!p) return { name: null, source: 'none', confidence: null };
  if (p.name === UNKNOWN_NAME)
    return {
      name: UNKNOWN_NAME,
      source: 'unknown',
      confidence: p.confidence,
      ...(p.because ? { because: p.because } : {}),
    };
  return { name: p.name, source: 'predicted', confidence: p.confidence };
}

/**
 * The line under a face: the user's name, the model's guess with its confidence, or why it is
 * unknown. A face far from everyone named shows no "best guess": a percentage next to a stranger
 * would read as a half-hearted name.
 */
export function verdictText(t: TileText): string {
  if (t.source === 'named') return `${t.name} (named by you)`;
  if (t.source === 'predicted') return `${t.name} · ${formatConfidence(t.confidence!)}`;
  if (t.source === 'unknown') {
    if (t.because === 'far') return 'unknown · not like anyone you named';
    if (t.because === 'generic') return 'unknown · looks like no one in particular';
    if (t.because === 'small') return 'unknown · too small to tell who';
    if (t.because === 'edge') return "unknown · cut by the photo's edge";
    return `unknown · best guess ${formatConfidence(t.confidence ?? 0)}`;
  }
  return 'Who is this?';
}

/** Sets (or with null clears) the user's name of a face; returns a new list. */
export function withLabel(faces: readonly Face[], id: string, label: string | null): Face[] {
  return faces.map((f) => (f.id === id ? { ...f, label } : f));
}

/** Adds or replaces faces by id (a photo imported again replaces its faces), keeping order. */
export function upsertFaces(faces: readonly Face[], added: readonly Face[]): Face[] {
  const byId = new Map(added.map((f) => [f.id, f]));
  const kept = faces.map((f) => byId.get(f.id) ?? f);
  const known = new Set(faces.map((f) => f.id));
  return [...kept, ...added.filter((f) => !known.has(f.id))];
}

/** "12 s", "3 min": a rough duration for a person. */
export function roughDuration(ms: number): string {
  const s = Math.max(1, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  return `${Math.round(s / 60)} min`;
}

/**
 * The import's status line before photo `i` (0-based) of `n`: which photo, and from the time per
 * photo so far, about how long the rest takes (nothing to go on before the first photo is done).
 */
export function importProgressText(i: number, n: number, name: string, elapsedMs: number): string {
  const head = `Finding faces on this device: photo ${i + 1} of ${n} (${name})`;
  if (i === 0 || !(elapsedMs > 0)) return head;
  return `${head} · about ${roughDuration((elapsedMs / i) * (n - i))} left`;
}

/** What a removal takes: one face, every face of its photo, or every face named like it. */
export type RemovalScope = 'face' | 'photo' | 'person';

/** The photo part of a face id (`<photo key>#<index>`): faces of one photo share it. */
function photoOf(id: string): string {
  const hash = id.lastIndexOf('#');
  return hash < 0 ? id : id.slice(0, hash);
}

/**
 * Ids of the faces a removal of `scope` around face `id` takes; empty when there is no such face,
 * or for `person` when the face has no name (a person is the faces you named alike).
 */
export function facesToRemove(faces: readonly Face[], id: string, scope: RemovalScope): string[] {
  const face = faces.find((f) => f.id === id);
  if (!face) return [];
  if (scope === 'face') return [id];
  if (scope === 'photo') return faces.filter((f) => photoOf(f.id) === photoOf(id)).map((f) => f.id);
  if (face.label === null) return [];
  return faces.filter((f) => f.label === face.label).map((f) => f.id);
}

/** The faces left after a removal; returns a new list. */
export function withoutFaces(faces: readonly Face[], ids: readonly string[]): Face[] {
  const gone = new Set(ids);
  return faces.filter((f) => !gone.has(f.id));
}

/** The words of a removal, for its button and for the line that confirms it. */
export function removalText(scope: RemovalScope, count: number, name: string | null = null): string {
  const faces = `${count} face${count === 1 ? '' : 's'}`;
  if (scope === 'face') return 'this face';
  if (scope === 'photo') return count === 1 ? 'this photo' : `this photo (${faces})`;
  return `everyone you named ${name ?? '?'} (${faces})`;
}

/**
 * Faces nobody named yet that may be people: the People view clusters these. Flagged detections
 * (a bystander, a face cut by the edge) stay out, so they do not show up as extra "people".
 */
export function unnamedFaces(faces: readonly Face[]): Face[] {
  return faces.filter((f) => f.label === null && !f.flags?.length);
}

/** Photos already imported (to skip a file picked twice). */
export function importedPhotos(faces: readonly Face[]): Set<string> {
  return new Set(faces.map((f) => f.photo));
}

/** "1.2 kB" style sizes (decimal units, as network tools show them). */
export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  const units = ['kB', 'MB', 'GB'];
  let v = bytes / 1000;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u += 1;
  }
  return `${v < 10 ? v.toFixed(1) : v.toFixed(0)} ${units[u]}`;
}

/** "3.2 GFLOP" style compute. */
export function formatFlops(flops: number): string {
  if (flops < 1e6) return `${flops.toFixed(0)} FLOP`;
  if (flops < 1e9) return `${(flops / 1e6).toFixed(1)} MFLOP`;
  if (flops < 1e12) return `${(flops / 1e9).toFixed(1)} GFLOP`;
  return `${(flops / 1e12).toFixed(2)} TFLOP`;
}

/** The feature-noise choices of the privacy tab (the SDK's `featureNoise`), mildest first. */
export const NOISE_CHOICES: readonly { value: string; label: string }[] = Object.freeze([
  { value: 'none', label: 'None: the features as computed' },
  { value: 'gauss:0.25', label: 'Light: noise a quarter of their size (gauss:0.25)' },
  { value: 'gauss:1', label: 'Strong: noise as large as they are (gauss:1)' },
]);

/** The saved noise setting if it is one of the choices; `none` otherwise (nothing saved, or junk). */
export function noiseChoiceOf(saved: string | null | undefined): string {
  return NOISE_CHOICES.some((c) => c.value === saved) ? saved! : 'none';
}

/** The privacy tab's "Left this device" line: bytes sent, what they were, the noise when on. */
export function leftDeviceText(bytesUp: number, noise: string): string {
  const noised = noise === 'none' ? '' : `; random noise (${noise}) is now added here before they are sent`;
  return (
    `${formatBytes(bytesUp)}: face features (128 numbers each${noised}), the names you gave, ` +
    'opaque ids. No photo, no crop.'
  );
}

/** "87%" */
export function formatConfidence(c: number): string {
  return `${Math.round(c * 100)}%`;
}

/** Faces a person needs named, and people needed, before the server can train (its own rule). */
export const MIN_NAMED_PER_PERSON = 2;
export const MIN_PEOPLE = 2;

/**
 * Why the server could not train on these names yet, in plain words, or null when it can: it
 * needs at least {@link MIN_PEOPLE} people with {@link MIN_NAMED_PER_PERSON} named faces each
 * (the server leaves out people with fewer, and answers NOT_ENOUGH_DATA below two people).
 *
 * @example
 * trainingReadiness(faces); // 'Name at least 2 faces of each person, and at least 2 people (now: Ann 2, Bob 1).'
 */
export function trainingReadiness(faces: readonly Face[]): string | null {
  const counts = new Map<string, number>();
  for (const f of faces) if (f.label) counts.set(f.label, (counts.get(f.label) ?? 0) + 1);
  const ready = [...counts.values()].filter((n) => n >= MIN_NAMED_PER_PERSON).length;
  if (ready >= MIN_PEOPLE) return null;
  const now = [...counts.entries()]
    .sort((a, b) => a[0].localeCompare(b[0]))
    .map(([name, n]) => `${name} ${n}`)
    .join(', ');
  return (
    `Name at least ${MIN_NAMED_PER_PERSON} faces of each person, and at least ${MIN_PEOPLE} people` +
    ` (now: ${now || 'nobody named'}).`
  );
}

/** "1 face, 1 named by you" / "40 faces, 16 named by you". */
export function facesCountText(total: number, named: number): string {
  return `${total} face${total === 1 ? '' : 's'}, ${named} named by you`;
}

/**
 * What is wrong with a name typed in a face's tile, said where the user typed it, or null when it
 * can be saved: a blank entry on a face with no name yet, a name over {@link MAX_NAME_LENGTH}
 * characters, or the reserved `unknown`. A blank entry on a named face clears its name (allowed).
 *
 * @example
 * nameProblem('  ', null); // 'Type a name, then press Enter.'
 */
export function nameProblem(typed: string, current: string | null): string | null {
  try {
    const name = normalizeName(typed);
    if (name === null && current === null) return 'Type a name, then press Enter.';
    return null;
  } catch (e) {
    return `${(e as Error).message.replace(/^a name/, 'A name')}.`;
  }
}

/** What an import did, per photo, for {@link importSummary}. */
export interface ImportReport {
  /** Files taken as photos (images by type or name). */
  photos: number;
  faces: number;
  /** Photos read, with no face found. */
  noFace: string[];
  /** Photos that could not be read, and why. */
  unreadable: { name: string; why: string }[];
  /** Files that are not photos (left out before reading). */
  skipped: string[];
}

const listed = (names: readonly string[], max = 5): string =>
  names.length <= max ? names.join(', ') : `${names.slice(0, max).join(', ')} and ${names.length - max} more`;

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/**
 * The line an import ends with: faces found, and by name every photo without a face, every file
 * that could not be read (with why) and every file that is not a photo, so none vanishes silently.
 *
 * @example
 * importSummary({ photos: 3, faces: 1, noFace: [], unreadable: [{ name: 'a.jpg', why: 'not an image' }], skipped: ['n.txt'] });
 * // 'Done: 1 face from 3 photos. 1 could not be read: a.jpg (not an image). Not photos, left out: n.txt. The photos stayed on this device.'
 */
export function importSummary(r: ImportReport): string {
  let text = `Done: ${plural(r.faces, 'face')} from ${plural(r.photos, 'photo')}`;
  if (r.noFace.length) text += ` (${r.noFace.length} without a face: ${listed(r.noFace)})`;
  text += '.';
  if (r.unreadable.length) {
    const shown = r.unreadable.slice(0, 5).map((u) => `${u.name} (${u.why})`);
    const more = r.unreadable.length > 5 ? ` and ${r.unreadable.length - 5} more` : '';
    text += ` ${r.unreadable.length} could not be read: ${shown.join('; ')}${more}.`;
  }
  if (r.skipped.length) text += ` Not photos, left out: ${listed(r.skipped)}.`;
  return `${text} The photos stayed on this device.`;
}
