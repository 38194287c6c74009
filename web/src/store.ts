/**
 * The face app's own storage on the device, beside the SDK's (both IndexedDB, different
 * databases): the gallery (`faces`, descriptors and names), the People view's edits, and one small
 * JPEG crop per face. Nothing here is ever sent anywhere: crops are for the screen only.
 */
import type { DeviceStore } from '../../src/device/types.js';
import type { Face } from './model.js';
import type { PeopleEdit } from './people.js';

const KEY = { faces: 'faces', edits: 'people-edits', crop: 'crop.' } as const;

export class AppStore {
  constructor(private readonly store: DeviceStore) {}

  async faces(): Promise<Face[]> {
    return (await this.store.getJson<Face[]>(KEY.faces)) ?? [];
  }

  saveFaces(faces: readonly Face[]): Promise<void> {
    return this.store.putJson(KEY.faces, faces);
  }

  async edits(): Promise<PeopleEdit[]> {
    return (await this.store.getJson<PeopleEdit[]>(KEY.edits)) ?? [];
  }

  saveEdits(edits: readonly PeopleEdit[]): Promise<void> {
    return this.store.putJson(KEY.edits, edits);
  }

  putCrop(faceId: string, jpeg: Uint8Array): Promise<void> {
    return this.store.putBytes(cropKey(faceId), jpeg);
  }

  crop(faceId: string): Promise<Uint8Array | undefined> {
    return this.store.getBytes(cropKey(faceId));
  }

  deleteCrop(faceId: string): Promise<void> {
    return this.store.delete(cropKey(faceId));
  }
}

/**
 * The store key of a face's crop. Store keys allow `[A-Za-z0-9._-]` only; face ids are
 * `<hex>#<n>`, so `#` becomes `_` (and anything else unexpected `-`).
 */
export function cropKey(faceId: string): string {
  return (
    KEY.crop +
    faceId
      .replace(/#/g, '_')
      .replace(/[^A-Za-z0-9._-]/g, '-')
      .replace(/\.\./g, '-')
  );
}
