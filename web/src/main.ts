/**
 * The face app: the page served at `/` by `fedex serve`. It wires the device SDK (src/device) and
 * the clustering (src/cluster) to the DOM: enroll, import photos or take one, find and embed faces
 * here, name some, sync features, let the server train, pull the model, name every face, show the
 * people found and what left the device.
 *
 * Must not send a photo anywhere: photos are decoded in this tab, turned into descriptors and crops
 * (kept in IndexedDB), and only the SDK's uploads (FXFB features, label names, opaque ids) go out.
 */
import { FedexError, isFedexError } from '../../src/core/errors.js';
import {
  FedexDevice,
  IndexedDbDeviceStore,
  initBrowserRuntime,
  SDK_PATHS,
  type DeviceStatus,
} from '../../src/device/browser.js';
import { FACE_EMBEDDING_FLOPS } from '../../src/device/costs.js';
import { privacyStatement } from '../../src/privacy/statement.js';
import { type FaceFinder, specOnlyExtractor, tabFaceFinder, workerFaceFinder } from './face-finder.js';
import { photoKey } from './faces.js';
import {
  type Face,
  faceIdOf,
  facesCountText,
  facesToRemove,
  formatBytes,
  formatFlops,
  importProgressText,
  type ImportReport,
  importSummary,
  knownNames,
  leftDeviceText,
  NOISE_CHOICES,
  noiseChoiceOf,
  nameProblem,
  normalizeName,
  type RemovalScope,
  removalText,
  tileText,
  verdictText,
  trainingReadiness,
  unnamedFaces,
  upsertFaces,
  withLabel,
  withoutFaces,
} from './model.js';
import {
  likelyName,
  mergeEdit,
  type PeopleEdit,
  peopleCountText,
  peopleOf,
  type Person,
  pruneEdits,
  splitEdit,
} from './people.js';
import { AppStore } from './store.js';

/** Settings of the app; the device's `unknown` threshold is the SDK's default (0.5). */
export const APP_SETTINGS = Object.freeze({
  deviceStore: 'fedex-face-app-device',
  appStore: 'fedex-face-app',
  /** Background sync while something waits (ms). */
  retryEveryMs: 20_000,
  jobTimeoutMs: 300_000,
  /**
   * The head the server trains: nearest class centroid with a fitted temperature. A person names a
   * handful of faces per name; a centroid of 128-d descriptors needs no more, while the linear
   * head, trained by gradient on 2 faces per person, ends unsure (bbt: 75% named, 4 of 24 under
   * the unknown threshold, against >= 90% with the centroid; web/face-app.e2e.test.ts).
   */
  train: { head: 'centroid' },
  /** localStorage key of the privacy tab's feature-noise choice (read when the device opens). */
  noiseKey: 'fedex-face-app-feature-noise',
  /** The split the app uploads: face-api's 128-d descriptor (for the privacy statement). */
  split: 'embedding',
});

const $ = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing from index.html`);
  return el as T;
};

const ui = {
  who: $<HTMLParagraphElement>('who'),
  net: $<HTMLSpanElement>('net'),
  tabs: [...document.querySelectorAll<HTMLButtonElement>('[role="tab"]')],
  enroll: $<HTMLFormElement>('enroll'),
  enrollToken: $<HTMLInputElement>('enroll-token'),
  files: $<HTMLInputElement>('files'),
  drop: $<HTMLDivElement>('drop'),
  cameraButton: $<HTMLButtonElement>('camera'),
  cameraDialog: $<HTMLDialogElement>('camera-dialog'),
  video: $<HTMLVideoElement>('video'),
  capture: $<HTMLButtonElement>('capture'),
  cameraClose: $<HTMLButtonElement>('camera-close'),
  importProgress: $<HTMLProgressElement>('import-progress'),
  importStatus: $<HTMLParagraphElement>('import-status'),
  syncButton: $<HTMLButtonElement>('sync'),
  syncProgress: $<HTMLProgressElement>('sync-progress'),
  syncStatus: $<HTMLParagraphElement>('sync-status'),
  grid: $<HTMLUListElement>('grid'),
  gridCount: $<HTMLParagraphElement>('grid-count'),
  names: $<HTMLDataListElement>('names'),
  peopleCount: $<HTMLHeadingElement>('people-count'),
  people: $<HTMLUListElement>('people'),
  facts: $<HTMLDListElement>('facts'),
  noise: $<HTMLSelectElement>('noise'),
  noiseStatus: $<HTMLParagraphElement>('noise-status'),
};

let device: FedexDevice | null = null;
let finder: FaceFinder | null = null;
let appStore: AppStore;
let faces: Face[] = [];
let edits: PeopleEdit[] = [];
let busy = false;
const cropUrls = new Map<string, string>();
const tiles = new Map<string, HTMLLIElement>();

function say(el: HTMLElement, text: string, kind: 'info' | 'error' = 'info'): void {
  el.textContent = text;
  el.dataset.kind = kind;
}

function messageOf(e: unknown): string {
  if (isFedexError(e)) return e.message;
  return e instanceof Error ? e.message : String(e);
}

// ---------------------------------------------------------------- start-up and enrollment

async function start(): Promise<void> {
  appStore = new AppStore(await IndexedDbDeviceStore.open(APP_SETTINGS.appStore));
  faces = await appStore.faces();
  edits = await appStore.edits();
  renderGrid();
  say(ui.who, 'Loading the face models (they run on this device)…');
  finder = await startFinder();
  document.body.dataset.finder = finder.where;
  device = await FedexDevice.open({
    server: location.origin,
    store: await IndexedDbDeviceStore.open(APP_SETTINGS.deviceStore),
    // In the worker's case the page only runs the small top (predictions): the SDK gets the spec.
    extractor: finder.extractor ?? specOnlyExtractor(finder.spec),
    flopsPerPhoto: FACE_EMBEDDING_FLOPS,
    retry: { maxAttempts: 3 },
    featureNoise: savedNoise(),
  });
  if (!device.enrolled) await enrollSelf();
  else ready();
}

/**
 * The face networks in a Web Worker, so the page stays responsive while photos import; in this
 * tab when a worker cannot start (or with `?import=tab`, to compare).
 */
async function startFinder(): Promise<FaceFinder> {
  const server = location.origin;
  if (new URLSearchParams(location.search).get('import') !== 'tab') {
    try {
      const [w] = await Promise.all([
        workerFaceFinder(server),
        // The page itself runs only the top model: the tfjs runtime, no face networks.
        initBrowserRuntime({ wasmUrl: `${server}/${SDK_PATHS.wasm}` }),
      ]);
      return w;
    } catch (e) {
      console.warn(`face worker unavailable, finding faces in the page: ${messageOf(e)}`);
    }
  }
  return tabFaceFinder(server);
}

async function enrollSelf(): Promise<void> {
  const d = device!;
  try {
    await d.signup({ name: 'face app user', deviceName: deviceName() });
    ready();
  } catch (e) {
    if (isFedexError(e, 'ENROLLMENT_CLOSED')) {
      say(ui.who, 'This server needs an enrollment token from its admin (fedex users token <user>).');
      ui.enroll.hidden = false;
      ui.enrollToken.focus();
    } else {
      say(ui.who, `Could not enroll this device: ${messageOf(e)}. Reload to try again.`, 'error');
    }
  }
}

function deviceName(): string {
  const ua = navigator.userAgent;
  const kind = /Mobi|Android|iPhone/.test(ua) ? 'phone' : 'browser';
  return `face app (${kind})`;
}

ui.enroll.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const token = ui.enrollToken.value.trim();
  if (!device || token.length === 0) return;
  device.enroll({ enrollmentToken: token, name: deviceName() }).then(
    () => {
      ui.enroll.hidden = true;
      ready();
    },
    (e: unknown) => say(ui.who, `That token did not work: ${messageOf(e)}`, 'error'),
  );
});

/** The service worker's cache (web/public/sw.js uses the same name). */
const OFFLINE_CACHE = 'fedex-face-app-v1';

/**
 * Registers the service worker and puts what this page loaded (the app, the face models, the
 * wasm) in its cache, so the app opens again with no server. The API is never cached.
 */
async function enableOffline(): Promise<void> {
  if (!('serviceWorker' in navigator) || typeof caches === 'undefined') return;
  try {
    await navigator.serviceWorker.register('/sw.js');
    const urls = new Set(['/']);
    // What the page fetched, and what the face worker fetched (its models are not in the page's list).
    const names = [
      ...performance.getEntriesByType('resource').map((e) => e.name),
      ...(finder?.fetched ?? []),
    ];
    for (const name of names) {
      const u = new URL(name);
      if (u.origin === location.origin && /^\/(assets|sdk\/models\/face-api|sdk\/wasm)\//.test(u.pathname))
        urls.add(u.pathname);
    }
    await (await caches.open(OFFLINE_CACHE)).addAll([...urls]);
    document.body.dataset.offlineReady = 'true';
  } catch {
    // Opening without a server is a bonus: the app works the same without it.
  }
}

function ready(): void {
  const e = device!.enrolled!;
  // Plain words for people; the ids (for an admin or a bug report) only on hover.
  say(ui.who, 'Your private gallery: this browser is signed in.');
  ui.who.title = `device ${e.deviceId}, gallery ${e.userId}`;
  for (const el of [ui.files, ui.cameraButton, ui.syncButton]) el.disabled = false;
  document.body.dataset.ready = 'true';
  void refreshFacts();
  setInterval(() => void backgroundSync(), APP_SETTINGS.retryEveryMs);
  void enableOffline();
}

// ---------------------------------------------------------------- network state

function showNet(): void {
  const online = navigator.onLine;
  ui.net.textContent = online ? 'online' : 'offline: work stays on this device';
  ui.net.dataset.kind = online ? 'info' : 'error';
}
window.addEventListener('online', () => {
  showNet();
  void backgroundSync();
});
window.addEventListener('offline', showNet);
showNet();

/** Sends what waits (features, names) when the server is reachable again; trains nothing. */
async function backgroundSync(): Promise<void> {
  if (!device?.enrolled || busy || !navigator.onLine) return;
  const s = await device.status();
  if (s.pendingSamples === 0 && s.queuedRelabels === 0 && s.queuedDeletions === 0) return;
  busy = true;
  ui.syncButton.disabled = true;
  try {
    const r = await device.sync();
    say(
      ui.syncStatus,
      r.deleted > 0 && r.samples === 0 && r.relabelled === 0
        ? `The server deleted ${r.deleted} removed face${r.deleted === 1 ? '' : 's'} and retrains your model without them. Press "Sync and train" to get it.`
        : `Back online: sent ${r.samples} faces' features and ${r.relabelled} names. Press "Sync and train" to update the model.`,
    );
  } catch {
    // still unreachable: the outbox keeps everything for the next try
  } finally {
    busy = false;
    ui.syncButton.disabled = false;
  }
  await refreshFacts();
}

// ---------------------------------------------------------------- import

async function importFiles(list: Iterable<File>): Promise<void> {
  const d = device;
  const find = finder;
  if (!d?.enrolled || !find) return;
  const all = [...list];
  const isPhoto = (f: File) =>
    f.type.startsWith('image/') || /\.(png|jpe?g|webp|gif|bmp|pgm|ppm)$/i.test(f.name);
  const files = all.filter(isPhoto);
  const report: ImportReport = {
    photos: files.length,
    faces: 0,
    noFace: [],
    unreadable: [],
    skipped: all.filter((f) => !isPhoto(f)).map((f) => f.name),
  };
  if (files.length === 0) {
    if (report.skipped.length) say(ui.importStatus, importSummary(report), 'error');
    return;
  }
  busy = true;
  ui.importProgress.hidden = false;
  ui.importProgress.max = files.length;
  delete ui.importStatus.dataset.done;
  const started = performance.now();
  try {
    for (const [i, file] of files.entries()) {
      ui.importProgress.value = i;
      say(ui.importStatus, importProgressText(i, files.length, file.name, performance.now() - started));
      const key = await photoKey(file);
      let found;
      let ms: number;
      try {
        ({ faces: found, ms } = await find.find(file));
      } catch (e) {
        report.unreadable.push({ name: file.name, why: messageOf(e) });
        continue;
      }
      if (found.length === 0) report.noFace.push(file.name);
      const fresh: Face[] = [];
      for (const [index, f] of found.entries()) {
        const id = faceIdOf(key, index);
        await d.addFeatures(f.descriptor, { id }, { flops: FACE_EMBEDDING_FLOPS, ms: ms / found.length });
        await appStore.putCrop(id, f.crop);
        const old = faces.find((x) => x.id === id);
        fresh.push({
          id,
          photo: file.name,
          index,
          label: old?.label ?? null,
          descriptor: Array.from(f.descriptor),
          prediction: predictionFor(f.descriptor),
          score: f.score,
          ...(f.flags.length ? { flags: f.flags } : {}),
          addedAt: Date.now(),
        });
      }
      faces = upsertFaces(faces, fresh);
      report.faces += found.length;
      await appStore.saveFaces(faces);
      for (const f of fresh) renderTile(f);
      updateGridCount();
    }
    ui.importProgress.value = files.length;
    ui.importStatus.dataset.done = 'true';
    // Every file is accounted for by name: none vanishes silently.
    say(ui.importStatus, importSummary(report));
  } catch (e) {
    say(ui.importStatus, `Import stopped: ${messageOf(e)}`, 'error');
  } finally {
    busy = false;
    renderNames();
    await refreshFacts();
  }
}

ui.files.addEventListener('change', () => {
  const picked = ui.files.files ? [...ui.files.files] : [];
  ui.files.value = '';
  void importFiles(picked);
});

for (const ev of ['dragenter', 'dragover'] as const) {
  ui.drop.addEventListener(ev, (e) => {
    e.preventDefault();
    ui.drop.classList.add('over');
  });
}
ui.drop.addEventListener('dragleave', () => ui.drop.classList.remove('over'));
ui.drop.addEventListener('drop', (e) => {
  e.preventDefault();
  ui.drop.classList.remove('over');
  if (e.dataTransfer?.files) void importFiles([...e.dataTransfer.files]);
});

// ---------------------------------------------------------------- camera

let stream: MediaStream | null = null;

ui.cameraButton.addEventListener('click', async () => {
  if (!navigator.mediaDevices?.getUserMedia) {
    say(ui.importStatus, 'This browser gives no camera to pages (it needs https or localhost).', 'error');
    return;
  }
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'user' }, audio: false });
  } catch (e) {
    say(ui.importStatus, `No camera: ${messageOf(e)}`, 'error');
    return;
  }
  ui.video.srcObject = stream;
  ui.cameraDialog.showModal();
  ui.capture.focus();
});

function stopCamera(): void {
  for (const t of stream?.getTracks() ?? []) t.stop();
  stream = null;
  ui.video.srcObject = null;
  if (ui.cameraDialog.open) ui.cameraDialog.close();
}

ui.cameraClose.addEventListener('click', stopCamera);
ui.cameraDialog.addEventListener('close', stopCamera);
ui.capture.addEventListener('click', async () => {
  const canvas = document.createElement('canvas');
  canvas.width = ui.video.videoWidth;
  canvas.height = ui.video.videoHeight;
  canvas.getContext('2d')?.drawImage(ui.video, 0, 0);
  stopCamera();
  const blob = await new Promise<Blob | null>((r) => canvas.toBlob(r, 'image/jpeg', 0.92));
  if (!blob) return;
  const name = `camera-${new Date().toISOString().replace(/[:.]/g, '-')}.jpg`;
  await importFiles([new File([blob], name, { type: 'image/jpeg', lastModified: Date.now() })]);
});

// ---------------------------------------------------------------- naming

function predictionFor(descriptor: Float32Array): Face['prediction'] {
  if (!device || device.modelVersion === null) return null;
  const p = device.predictFeatures(descriptor);
  return {
    name: p.name,
    confidence: p.confidence,
    modelVersion: p.modelVersion,
    ...(p.unknownBecause ? { because: p.unknownBecause } : {}),
    ...(p.strangeness !== undefined ? { strangeness: p.strangeness } : {}),
    ...(p.typicality !== undefined ? { typicality: p.typicality } : {}),
  };
}

/** Names (or with '' un-names) one face: a new label for the server at the next sync. */
async function nameFace(id: string, typed: string): Promise<boolean> {
  let name: string | null;
  try {
    name = normalizeName(typed);
  } catch (e) {
    say(ui.syncStatus, messageOf(e), 'error');
    return false;
  }
  await device!.label(id, name);
  faces = withLabel(faces, id, name);
  await appStore.saveFaces(faces);
  const face = faces.find((f) => f.id === id);
  if (face) renderTile(face);
  renderNames();
  updateGridCount();
  void refreshFacts();
  return true;
}

function renderNames(): void {
  const names = knownNames(faces, device?.modelVersion !== null ? modelNames() : []);
  ui.names.replaceChildren(
    ...names.map((n) => Object.assign(document.createElement('option'), { value: n })),
  );
}

let lastStatus: DeviceStatus | null = null;
function modelNames(): string[] {
  return lastStatus?.labels.map((l) => l.name) ?? [];
}

// ---------------------------------------------------------------- sync, train, pull

async function syncTrainPull(): Promise<void> {
  const d = device;
  if (!d?.enrolled || busy) return;
  busy = true;
  ui.syncButton.disabled = true;
  ui.syncProgress.hidden = false;
  ui.syncProgress.max = 4;
  const step = (n: number, text: string) => {
    ui.syncProgress.value = n;
    say(ui.syncStatus, text);
  };
  const up0 = d.costs().bytesUp;
  try {
    step(0, 'Sending features (never photos)…');
    const r = await d.sync();
    const sent = () => formatBytes(d.costs().bytesUp - up0);
    step(1, `Sent ${r.samples} faces' features and the names (${sent()}). Asking the server to train…`);
    const notYet = trainingReadiness(faces);
    if (notYet) {
      // Said here in plain words, rather than sending a training the server would refuse.
      say(ui.syncStatus, `Sent ${sent()}. ${notYet}`, 'error');
      return;
    }
    const job = await d.train(APP_SETTINGS.train);
    step(2, `Training your model on the server (job ${job.id})…`);
    await d.waitForJob(job.id, { timeoutMs: APP_SETTINGS.jobTimeoutMs, pollMs: 500 });
    step(3, 'Pulling the new model…');
    const pull = await d.pullModel();
    if (pull.error) throw pull.error;
    lastStatus = await d.status();
    faces = faces.map((f) => ({ ...f, prediction: predictionFor(Float32Array.from(f.descriptor)) }));
    await appStore.saveFaces(faces);
    renderGrid();
    renderNames();
    step(
      4,
      `Model v${pull.version ?? '?'} ${pull.updated ? 'pulled' : 'already here'}: every face is named on this device. ` +
        `This sync sent ${sent()}; ${formatBytes(d.costs().bytesUp)} since this device enrolled.`,
    );
    document.body.dataset.modelVersion = String(pull.version ?? '');
  } catch (e) {
    if (isFedexError(e, 'UNAVAILABLE')) {
      const s = await d.status();
      say(
        ui.syncStatus,
        `The server is out of reach. ${s.pendingSamples} faces and ${s.queuedRelabels} names wait on this device and go when it is back.`,
        'error',
      );
    } else say(ui.syncStatus, `Sync stopped: ${messageOf(e)}`, 'error');
  } finally {
    busy = false;
    ui.syncButton.disabled = false;
    // A finished or stopped sync leaves no half-full bar behind.
    ui.syncProgress.value = 0;
    ui.syncProgress.hidden = true;
    await refreshFacts();
  }
}

ui.syncButton.addEventListener('click', () => void syncTrainPull());

// ---------------------------------------------------------------- gallery

async function cropUrl(id: string): Promise<string> {
  const have = cropUrls.get(id);
  if (have) return have;
  const bytes = await appStore.crop(id);
  const url = bytes
    ? URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type: 'image/jpeg' }))
    : '';
  cropUrls.set(id, url);
  return url;
}

function faceLabelText(f: Face): string {
  return `${f.photo}, face ${f.index + 1}`;
}

function updateGridCount(): void {
  const named = faces.filter((f) => f.label !== null).length;
  ui.gridCount.textContent = faces.length
    ? facesCountText(faces.length, named)
    : 'No photos yet: add some above. They stay on this device.';
}

function renderGrid(): void {
  ui.grid.replaceChildren();
  tiles.clear();
  for (const f of faces) renderTile(f);
  updateGridCount();
}

function button(text: string, onClick: () => void, label?: string): HTMLButtonElement {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = text;
  if (label) b.setAttribute('aria-label', label);
  b.addEventListener('click', onClick);
  return b;
}

function renderTile(f: Face): void {
  const li = document.createElement('li');
  li.className = 'tile';
  const t = tileText(f);
  li.dataset.faceId = f.id;
  li.dataset.photo = f.photo;
  li.dataset.source = t.source;
  li.dataset.name = t.name ?? '';
  if (t.confidence !== null) li.dataset.confidence = t.confidence.toFixed(4);
  if (t.because) li.dataset.because = t.because;
  // The open-set scores behind the verdict (for the curious, and the e2e's log).
  const p = f.prediction;
  if (!f.label && p?.strangeness !== undefined) li.dataset.strangeness = p.strangeness.toFixed(3);
  if (!f.label && p?.typicality !== undefined) li.dataset.typicality = p.typicality.toFixed(3);

  const img = document.createElement('img');
  img.alt = `Face ${f.index + 1} in ${f.photo}`;
  img.width = 150;
  img.height = 150;
  void cropUrl(f.id).then((u) => (img.src = u));

  const verdict = document.createElement('p');
  verdict.className = `verdict ${t.source}`;
  verdict.textContent = verdictText(t);

  const form = document.createElement('form');
  form.className = 'name-form';
  const input = document.createElement('input');
  input.type = 'text';
  input.setAttribute('list', 'names');
  input.autocomplete = 'off';
  // Short enough to show whole in the narrowest tile (the verdict above already asks "Who is this?").
  input.placeholder = t.source === 'named' ? 'Rename' : 'Name';
  input.setAttribute('aria-label', `Who is this? ${faceLabelText(f)}`);
  input.value = f.label ?? '';
  const save = document.createElement('button');
  save.type = 'submit';
  save.textContent = 'Save';
  save.setAttribute('aria-label', `Save the name of ${faceLabelText(f)}`);
  form.append(input, save);
  const problem = document.createElement('p');
  problem.className = 'tile-problem';
  problem.setAttribute('role', 'alert');
  problem.hidden = true;
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    // Said in the tile, where the name was typed (not in the status line far away).
    const wrong = nameProblem(input.value, f.label);
    problem.textContent = wrong ?? '';
    problem.hidden = wrong === null;
    if (wrong) {
      input.focus();
      return;
    }
    const next = nextTileInput(f.id);
    void nameFace(f.id, input.value).then((ok) => ok && next?.focus());
  });

  li.append(img, verdict, form, problem, removeMenu(f));
  if (t.source === 'predicted' && t.name) {
    // One click turns the model's guess into a label (it trains on it next time).
    li.append(
      button(`✓ ${t.name}`, () => void nameFace(f.id, t.name!), `Yes, ${faceLabelText(f)} is ${t.name}`),
    );
  }
  const old = tiles.get(f.id);
  if (old) old.replaceWith(li);
  else ui.grid.append(li);
  tiles.set(f.id, li);
}

/**
 * "Remove…" on a tile: asks what goes (this face, its whole photo, or everyone named alike) and
 * removes it here at once; the server deletes its features at the next sync and retrains.
 */
function removeMenu(f: Face): HTMLElement {
  const box = document.createElement('div');
  box.className = 'remove';
  const choices = document.createElement('div');
  choices.className = 'remove-choices';
  choices.hidden = true;
  const open = button(
    'Remove…',
    () => {
      // Built when opened: the counts are those of the gallery now.
      if (choices.hidden) fillChoices();
      choices.hidden = !choices.hidden;
      open.setAttribute('aria-expanded', String(!choices.hidden));
    },
    `Remove ${faceLabelText(f)}…`,
  );
  open.setAttribute('aria-expanded', 'false');
  const fillChoices = () => {
    const current = faces.find((x) => x.id === f.id) ?? f;
    const scopes: RemovalScope[] = ['face', 'photo', 'person'];
    choices.replaceChildren();
    for (const scope of scopes) {
      const ids = facesToRemove(faces, f.id, scope);
      if (ids.length === 0 || (scope === 'photo' && ids.length < 2)) continue; // "photo" = "face"
      const what = removalText(scope, ids.length, current.label);
      choices.append(
        button(`Remove ${what}`, () => void removeFaces(ids, what), `Remove ${what}: ${faceLabelText(f)}`),
      );
    }
    choices.append(
      button('Keep', () => {
        choices.hidden = true;
        open.setAttribute('aria-expanded', 'false');
      }),
    );
  };
  box.append(open, choices);
  return box;
}

/** Removes faces from this device at once and asks the server to forget them (next sync). */
async function removeFaces(ids: readonly string[], what: string): Promise<void> {
  const d = device;
  if (!d?.enrolled || ids.length === 0) return;
  await d.forget(ids);
  faces = withoutFaces(faces, ids);
  await appStore.saveFaces(faces);
  for (const id of ids) {
    tiles.get(id)?.remove();
    tiles.delete(id);
    const url = cropUrls.get(id);
    if (url) URL.revokeObjectURL(url);
    cropUrls.delete(id);
    await appStore.deleteCrop(id);
  }
  edits = pruneEdits(edits, unnamedFaces(faces));
  await appStore.saveEdits(edits);
  updateGridCount();
  renderNames();
  if (!ui.people.closest('[role="tabpanel"]')?.hasAttribute('hidden')) renderPeople();
  say(
    ui.syncStatus,
    `Removed ${what} from this device. The server deletes ${ids.length === 1 ? 'its features' : 'their features'} at the next sync and retrains your model without ${ids.length === 1 ? 'it' : 'them'}.`,
  );
  document.body.dataset.lastRemoval = ui.syncStatus.textContent ?? '';
  void backgroundSync();
  void refreshFacts();
}

function nextTileInput(id: string): HTMLInputElement | null {
  const li = tiles.get(id);
  const next = li?.nextElementSibling as HTMLElement | null;
  return next?.querySelector('input') ?? null;
}

// ---------------------------------------------------------------- people

function renderPeople(): void {
  const unnamed = unnamedFaces(faces);
  edits = pruneEdits(edits, unnamed);
  const people = peopleOf(unnamed, edits);
  ui.peopleCount.textContent = peopleCountText(people.length);
  ui.peopleCount.dataset.count = String(people.length);
  ui.people.replaceChildren(...people.map((p, i) => personCard(p, i, people)));
}

function personCard(p: Person, i: number, all: Person[]): HTMLLIElement {
  const li = document.createElement('li');
  li.className = 'person';
  li.dataset.personKey = p.key;
  const title = `Person ${i + 1}`;
  const h = document.createElement('h3');
  h.textContent = `${title} · ${p.faces.length} face${p.faces.length === 1 ? '' : 's'}`;
  const strip = document.createElement('ul');
  strip.className = 'person-faces';
  for (const f of p.faces) {
    const item = document.createElement('li');
    const img = document.createElement('img');
    img.alt = `Face ${f.index + 1} in ${f.photo}`;
    img.width = 72;
    img.height = 72;
    void cropUrl(f.id).then((u) => (img.src = u));
    item.append(img);
    if (p.faces.length > 1)
      item.append(
        button('Not them', () => void applyEdit(splitEdit(f.id)), `Split ${faceLabelText(f)} off ${title}`),
      );
    strip.append(item);
  }

  const form = document.createElement('form');
  form.className = 'name-form';
  const input = document.createElement('input');
  input.setAttribute('list', 'names');
  input.autocomplete = 'off';
  input.placeholder = 'Who is this?';
  input.setAttribute('aria-label', `Name ${title}`);
  const save = document.createElement('button');
  save.type = 'submit';
  save.textContent = `Name ${p.faces.length === 1 ? 'it' : `all ${p.faces.length}`}`;
  form.append(input, save);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    void namePerson(p, input.value);
  });

  li.append(h, strip, form);
  const what = `the ${p.faces.length === 1 ? 'face' : `${p.faces.length} faces`} of ${title}`;
  li.append(
    button(
      `Remove ${what}`,
      () =>
        void removeFaces(
          p.faces.map((f) => f.id),
          what,
        ),
      `Remove ${what}`,
    ),
  );
  const guess = likelyName(p);
  if (guess) {
    // The model's guess for this person, accepted for all its faces in one click.
    li.append(
      button(
        `Name all ${p.faces.length} as ${guess.name} (model: ${guess.faces} of ${p.faces.length})`,
        () => void namePerson(p, guess.name),
        `Name all faces of ${title} as ${guess.name}`,
      ),
    );
  }
  if (all.length > 1) {
    const merge = document.createElement('div');
    merge.className = 'merge';
    const select = document.createElement('select');
    select.setAttribute('aria-label', `Merge ${title} with`);
    all.forEach((q, j) => {
      if (q !== p) select.append(new Option(`Person ${j + 1} (${q.faces.length})`, q.key));
    });
    merge.append(
      select,
      button(
        'Same person: merge',
        () => {
          const other = all.find((q) => q.key === select.value);
          if (other) void applyEdit(mergeEdit(p, other));
        },
        `Merge ${title} with the chosen person`,
      ),
    );
    li.append(merge);
  }
  return li;
}

async function applyEdit(edit: PeopleEdit): Promise<void> {
  edits = [...edits, edit];
  await appStore.saveEdits(edits);
  renderPeople();
}

async function namePerson(p: Person, typed: string): Promise<void> {
  let name: string | null;
  try {
    name = normalizeName(typed);
  } catch (e) {
    say(ui.syncStatus, messageOf(e), 'error');
    return;
  }
  if (name === null) return;
  for (const f of p.faces) await device!.label(f.id, name);
  const ids = new Set(p.faces.map((f) => f.id));
  faces = faces.map((f) => (ids.has(f.id) ? { ...f, label: name } : f));
  await appStore.saveFaces(faces);
  for (const f of faces) if (ids.has(f.id)) renderTile(f);
  renderNames();
  renderPeople();
  updateGridCount();
  void refreshFacts();
}

// ---------------------------------------------------------------- transparency

/** The noise choice saved in this browser (`none` when nothing or something unknown is saved). */
function savedNoise(): string {
  try {
    return noiseChoiceOf(localStorage.getItem(APP_SETTINGS.noiseKey));
  } catch {
    return 'none'; // storage blocked: the default
  }
}

/**
 * The noise setting: saved at once, used by the device from the next start of the app (the SDK
 * takes it when it opens); faces already added keep what they had.
 */
function setUpNoiseSetting(): void {
  ui.noise.replaceChildren(
    ...NOISE_CHOICES.map((c) => {
      const o = document.createElement('option');
      o.value = c.value;
      o.textContent = c.label;
      return o;
    }),
  );
  ui.noise.value = savedNoise();
  ui.noise.addEventListener('change', () => {
    try {
      localStorage.setItem(APP_SETTINGS.noiseKey, ui.noise.value);
    } catch (e) {
      say(ui.noiseStatus, `Could not save the setting: ${messageOf(e)}`, 'error');
      return;
    }
    void refreshFacts();
  });
}
setUpNoiseSetting();

async function refreshFacts(): Promise<void> {
  if (!device) return;
  const s = (lastStatus = await device.status());
  const c = s.costs;
  const rows: [string, string, string][] = [
    [
      'model',
      'Your model',
      s.model
        ? `version ${s.model.version}, pulled ${new Date(s.model.pulledAt).toLocaleString()}, ${s.model.labels} people`
        : 'none yet: name a few faces, then sync and train',
    ],
    ['bytes-up', 'Left this device', leftDeviceText(c.bytesUp, s.featureNoise)],
    [
      'server-could-learn',
      'What a server could learn',
      // The app sends float16 (the SDK's default precision): without noise, that is the measured row.
      privacyStatement(APP_SETTINGS.split, s.featureNoise === 'none' ? 'float16' : s.featureNoise)
        .slice(1)
        .join(' '),
    ],
    ['bytes-down', 'Came to this device', `${formatBytes(c.bytesDown)} (models, answers)`],
    [
      'waiting',
      'Waiting to be sent',
      `${s.pendingSamples} faces' features, ${s.queuedRelabels} names, ${s.queuedDeletions} removals`,
    ],
    ['faces', 'On this device only', `${faces.length} faces and their crops; ${s.labelled} named`],
    [
      'compute',
      'Compute spent here',
      `${formatFlops(c.flops)} in the descriptor network for ${c.photos} faces (detection not counted); ` +
        `finding and describing took ${Math.round(c.ms.extract / 1000)} s, naming ${Math.round(c.ms.predict)} ms`,
    ],
  ];
  ui.facts.replaceChildren(
    ...rows.flatMap(([key, term, value]) => {
      const dt = document.createElement('dt');
      dt.textContent = term;
      const dd = document.createElement('dd');
      dd.textContent = value;
      dd.dataset.fact = key;
      return [dt, dd];
    }),
  );
  document.body.dataset.bytesUp = String(c.bytesUp);
  const chosen = ui.noise.value;
  say(
    ui.noiseStatus,
    chosen === s.featureNoise
      ? ''
      : `Saved: reload the page to add noise ${chosen} to the faces you add next (faces already added stay as they were).`,
  );
}

// ---------------------------------------------------------------- tabs

function showTab(tab: HTMLButtonElement): void {
  for (const t of ui.tabs) {
    const on = t === tab;
    t.setAttribute('aria-selected', String(on));
    t.tabIndex = on ? 0 : -1;
    $(t.getAttribute('aria-controls')!).hidden = !on;
  }
  if (tab.id === 'tab-people') renderPeople();
  if (tab.id === 'tab-privacy') void refreshFacts();
}

ui.tabs.forEach((tab, i) => {
  tab.addEventListener('click', () => showTab(tab));
  tab.addEventListener('keydown', (e) => {
    const d = e.key === 'ArrowRight' ? 1 : e.key === 'ArrowLeft' ? -1 : 0;
    if (!d) return;
    const next = ui.tabs[(i + d + ui.tabs.length) % ui.tabs.length];
    next.focus();
    showTab(next);
  });
});

start().catch((e: unknown) => {
  const hint = e instanceof FedexError ? ` (${e.code})` : '';
  say(ui.who, `The app could not start: ${messageOf(e)}${hint}`, 'error');
});
