/**
 * The People view as pure data: the unnamed faces clustered into people (`groupPeople` from
 * src/cluster), then the user's corrections replayed on top in the order they were made — merge two
 * people into one, split one face off into a person of its own. Edits name faces by id, so they
 * survive re-clustering when more photos come in. No DOM: unit tested (web/src/people.test.ts).
 */
import { groupPeople } from '../../src/cluster/index.js';
import { type Face, UNKNOWN_NAME } from './model.js';

/** One correction the user made in the People view. */
export type PeopleEdit = { kind: 'merge'; a: string; b: string } | { kind: 'split'; id: string };

/** One person: the faces, the first one is the cover. `key` is stable while membership is. */
export interface Person {
  key: string;
  faces: Face[];
}

/** Groups faces by descriptor; the default is src/cluster's `groupPeople`. */
export type Grouper = (faces: readonly Face[]) => Face[][];

export const clusterGrouper: Grouper = (faces) =>
  faces.length === 0 ? [] : groupPeople(faces, (f) => Float32Array.from(f.descriptor)).people;

/**
 * The people among `faces` after the user's edits, biggest first (ties: by first face id).
 *
 * @example
 * const people = peopleOf(unnamedFaces(faces), edits);
 * `${people.length} people found`;
 */
export function peopleOf(
  faces: readonly Face[],
  edits: readonly PeopleEdit[] = [],
  group: Grouper = clusterGrouper,
): Person[] {
  const groups = group(faces);
  const groupOf = new Map<string, number>();
  groups.forEach((g, i) => g.forEach((f) => groupOf.set(f.id, i)));
  let next = groups.length;
  for (const e of edits) {
    if (e.kind === 'split') {
      if (groupOf.has(e.id)) groupOf.set(e.id, next++);
    } else {
      const ga = groupOf.get(e.a);
      const gb = groupOf.get(e.b);
      if (ga === undefined || gb === undefined || ga === gb) continue;
      for (const [id, g] of groupOf) if (g === gb) groupOf.set(id, ga);
    }
  }
  const byGroup = new Map<number, Face[]>();
  for (const f of faces) {
    const g = groupOf.get(f.id);
    if (g === undefined) continue;
    const list = byGroup.get(g) ?? [];
    list.push(f);
    byGroup.set(g, list);
  }
  return [...byGroup.values()]
    .map((list) => ({ key: list.map((f) => f.id).sort()[0], faces: list }))
    .sort((x, y) => y.faces.length - x.faces.length || x.key.localeCompare(y.key));
}

/** The edit that merges person `from` into person `into` (by their cover faces). */
export function mergeEdit(into: Person, from: Person): PeopleEdit {
  return { kind: 'merge', a: into.faces[0].id, b: from.faces[0].id };
}

/** The edit that takes one face out of its person. */
export function splitEdit(faceId: string): PeopleEdit {
  return { kind: 'split', id: faceId };
}

/** Edits that still mean something for these faces (named faces left the view): keeps the list short. */
export function pruneEdits(edits: readonly PeopleEdit[], faces: readonly Face[]): PeopleEdit[] {
  const ids = new Set(faces.map((f) => f.id));
  return edits.filter((e) => (e.kind === 'split' ? ids.has(e.id) : ids.has(e.a) && ids.has(e.b)));
}

/** "1 person found" / "5 people found" / "No people found yet". */
export function peopleCountText(n: number): string {
  if (n === 0) return 'No unnamed faces: nobody left to find';
  return n === 1 ? '1 person found' : `${n} people found`;
}

/**
 * The model's most frequent guess for a person's faces (not `unknown`), with how many faces it
 * names; null when the model has no guess for any. Lets the People view offer "Name all as Ben".
 */
export function likelyName(person: Person): { name: string; faces: number } | null {
  const counts = new Map<string, number>();
  for (const f of person.faces) {
    const n = f.prediction?.name;
    if (n && n !== UNKNOWN_NAME) counts.set(n, (counts.get(n) ?? 0) + 1);
  }
  let best: { name: string; faces: number } | null = null;
  for (const [name, faces] of counts)
    if (!best || faces > best.faces || (faces === best.faces && name < best.name)) best = { name, faces };
  return best;
}
