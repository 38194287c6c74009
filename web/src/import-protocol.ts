/**
 * What the face app's page and its face worker (./import-worker.ts) say to each other. Photos go
 * to the worker as `File`s (structured clone: no copy of the bytes on most browsers); descriptors
 * and crops come back with their buffers transferred.
 */
import type { FeatureSpec } from '../../src/core/types.js';
import type { FoundFace } from './faces.js';

/** Page → worker. */
export type WorkerRequest = { type: 'init'; server: string } | { type: 'photo'; id: number; file: File };

/** Worker → page. */
export type WorkerReply =
  | { type: 'ready'; spec: FeatureSpec; fetched: string[] }
  | { type: 'fatal'; message: string }
  | { type: 'faces'; id: number; faces: FoundFace[]; ms: number }
  | { type: 'failed'; id: number; message: string };
