/**
 * The device's label map: person names ↔ the user's label ids. A device names new people while
 * offline, so a new name gets a provisional id (largest known + 1); at sync the map is reconciled
 * with the server's names, which win: a name the server already knows takes the server's id, and a
 * provisional id that another device took meanwhile moves to a free one. Pure data, no I/O.
 */

/** One name of the map. `synced`: the server is known to hold this id with this name. */
export interface LabelEntry {
  id: number;
  name: string;
  synced: boolean;
}

/** What `reconcile` found: names to PUT, and provisional ids that moved (old id → new id). */
export interface LabelReconciliation {
  toPut: { id: number; name: string }[];
  remap: Map<number, number>;
}

export class LabelMap {
  private readonly byId = new Map<number, LabelEntry>();
  private readonly byName = new Map<string, LabelEntry>();

  constructor(entries: readonly LabelEntry[] = []) {
    for (const e of entries) this.set({ ...e });
  }

  private set(e: LabelEntry): void {
    const old = this.byId.get(e.id);
    if (old) this.byName.delete(old.name);
    const other = this.byName.get(e.name);
    if (other) this.byId.delete(other.id);
    this.byId.set(e.id, e);
    this.byName.set(e.name, e);
  }

  /** Every entry, ascending id (what the store keeps). */
  entries(): LabelEntry[] {
    return [...this.byId.values()].sort((a, b) => a.id - b.id).map((e) => ({ ...e }));
  }

  get size(): number {
    return this.byId.size;
  }

  idOf(name: string): number | undefined {
    return this.byName.get(name)?.id;
  }

  nameOf(id: number): string | undefined {
    return this.byId.get(id)?.name;
  }

  /** The id of `name`, giving a new name the provisional id max + 1. */
  ensure(name: string): number {
    const known = this.byName.get(name);
    if (known) return known.id;
    const id = this.nextId();
    this.set({ id, name, synced: false });
    return id;
  }

  private nextId(taken: Iterable<number> = []): number {
    let max = -1;
    for (const id of this.byId.keys()) max = Math.max(max, id);
    for (const id of taken) max = Math.max(max, id);
    return max + 1;
  }

  /**
   * Merges the server's names into the map (they win) and says what the server still lacks.
   * After `markSynced(toPut)` the map equals the server's names plus this device's new ones.
   *
   * @example
   * const map = new LabelMap();
   * map.ensure('ann'); // provisional 0
   * map.reconcile([{ id: 0, name: 'bob' }]); // { toPut: [{ id: 1, name: 'ann' }], remap: 0 → 1 }
   */
  reconcile(server: readonly { id: number; name: string }[]): LabelReconciliation {
    const serverById = new Map(server.map((l) => [l.id, l.name]));
    const serverByName = new Map(server.map((l) => [l.name, l.id]));
    const local = this.entries();
    const remap = new Map<number, number>();
    const toPut: { id: number; name: string }[] = [];
    this.byId.clear();
    this.byName.clear();
    for (const l of server) this.set({ id: l.id, name: l.name, synced: true });
    // Names the server knows take its ids; then new names keep their ids where free, else max + 1.
    const fresh: LabelEntry[] = [];
    for (const e of local) {
      const id = serverByName.get(e.name);
      if (id === undefined) fresh.push(e);
      else if (id !== e.id) remap.set(e.id, id);
    }
    const wanted = new Set(fresh.map((e) => e.id));
    for (const e of fresh) {
      wanted.delete(e.id);
      const free = !serverById.has(e.id) && !this.byId.has(e.id);
      const id = free ? e.id : this.nextId(wanted);
      if (id !== e.id) remap.set(e.id, id);
      this.set({ id, name: e.name, synced: false });
      toPut.push({ id, name: e.name });
    }
    return { toPut, remap };
  }

  /** Records that the server now holds these names. */
  markSynced(labels: readonly { id: number; name: string }[]): void {
    for (const l of labels) {
      const e = this.byId.get(l.id);
      if (e && e.name === l.name) e.synced = true;
    }
  }
}
