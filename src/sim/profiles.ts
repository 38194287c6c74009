/**
 * Device profiles of the simulator: what a phone computes per second and per joule, and what its
 * link carries per second and per joule. The numbers live in `profiles.json`, each with its source;
 * this module turns them into SI units (`DeviceProfile`), resolves a profile by name
 * (`mid-range/lte`), and draws heterogeneous populations (`mixed`) from seeded distributions.
 *
 * Pure and platform-neutral: no I/O (the JSON is bundled), the same seed gives the same fleet.
 */
import { FedexError } from '../core/errors.js';
import { createRng, deriveSeed, type Rng } from '../core/random.js';
import PROFILE_DATA from './profiles.json' with { type: 'json' };

/** One documented number. */
export interface Sourced {
  value: number;
  source: string;
}

export interface PhoneSpec {
  computeGflops: Sourced;
  energyPerFlopNj: Sourced;
  availability: Sourced;
  dropout: Sourced;
}

export interface NetworkSpec {
  uplinkMbps: Sourced;
  downlinkMbps: Sourced;
  rttMs: Sourced;
  uplinkUjPerBit: Sourced;
  downlinkUjPerBit: Sourced;
  tailS: Sourced;
  tailPowerW: Sourced;
  /** Radio power while data moves, on top of the per-bit terms (Huang et al.'s beta). */
  basePowerW: Sourced;
  /** Idle → connected: how long and at what power (paid when a transfer finds the radio idle). */
  promotionS: Sourced;
  promotionPowerW: Sourced;
}

export interface PopulationSpec {
  source: string;
  /** Share of each phone tier (normalised). */
  phones: Record<string, number>;
  /** Share of each network (normalised). */
  networks: Record<string, number>;
  /** Log-normal sigma of a device's compute rate around its tier's value. */
  computeSigma: number;
  /** Log-normal sigma of a device's link rates around its network's values. */
  linkSigma: number;
}

export interface ProfileCatalog {
  phones: Record<string, PhoneSpec>;
  networks: Record<string, NetworkSpec>;
  populations: Record<string, PopulationSpec>;
}

/** A device as the simulator sees it, in SI units. */
export interface DeviceProfile {
  /** `phone/network`, e.g. `mid-range/lte`. */
  name: string;
  /** FLOP per second the device sustains on the model's float32 math. */
  flopsPerS: number;
  /** Joules per FLOP. */
  joulesPerFlop: number;
  uplinkBitsPerS: number;
  downlinkBitsPerS: number;
  /** Round-trip time of one request, seconds. */
  rttS: number;
  /** Radio joules per bit sent / received. */
  uplinkJoulesPerBit: number;
  downlinkJoulesPerBit: number;
  /** How long the radio stays powered after a transfer, and at what power. */
  tailS: number;
  tailPowerW: number;
  /** Radio power while a transfer runs, besides the per-bit energy. */
  basePowerW: number;
  /** Seconds and power of waking the radio from idle before a transfer. */
  promotionS: number;
  promotionPowerW: number;
  /** Probability the device is eligible in a round. */
  availability: number;
  /** Probability a selected device drops out of a round. */
  dropout: number;
}

/** The bundled catalog (profiles.json). */
export const PROFILES: ProfileCatalog = PROFILE_DATA as unknown as ProfileCatalog;

/** Every name `resolveProfile` accepts: each `phone/network` pair and each population. */
export function profileNames(catalog: ProfileCatalog = PROFILES): string[] {
  const pairs = Object.keys(catalog.phones).flatMap((p) =>
    Object.keys(catalog.networks).map((n) => `${p}/${n}`),
  );
  return [...pairs, ...Object.keys(catalog.populations)];
}

function checkPositive(what: string, v: number, allowZero = false): number {
  if (!Number.isFinite(v) || v < 0 || (!allowZero && v === 0))
    throw new FedexError(
      'BAD_ARGUMENT',
      `profile field ${what} must be a ${allowZero ? 'non-negative' : 'positive'} number, got ${v}`,
    );
  return v;
}

function checkProbability(what: string, v: number): number {
  if (!(v >= 0 && v <= 1))
    throw new FedexError('BAD_ARGUMENT', `profile field ${what} must be in [0, 1], got ${v}`);
  return v;
}

/**
 * A phone tier on a network, in SI units.
 *
 * @example
 * const p = deviceProfile('mid-range', 'lte'); // p.flopsPerS === 8e9, p.uplinkJoulesPerBit === 0.438e-6
 */
export function deviceProfile(
  phone: string,
  network: string,
  catalog: ProfileCatalog = PROFILES,
): DeviceProfile {
  const ph = Object.hasOwn(catalog.phones, phone) ? catalog.phones[phone] : undefined;
  const net = Object.hasOwn(catalog.networks, network) ? catalog.networks[network] : undefined;
  if (!ph)
    throw new FedexError(
      'BAD_ARGUMENT',
      `unknown phone "${phone}"; known: ${Object.keys(catalog.phones).join(', ')}`,
    );
  if (!net)
    throw new FedexError(
      'BAD_ARGUMENT',
      `unknown network "${network}"; known: ${Object.keys(catalog.networks).join(', ')}`,
    );
  return {
    name: `${phone}/${network}`,
    flopsPerS: checkPositive(`${phone}.computeGflops`, ph.computeGflops.value) * 1e9,
    joulesPerFlop: checkPositive(`${phone}.energyPerFlopNj`, ph.energyPerFlopNj.value, true) * 1e-9,
    uplinkBitsPerS: checkPositive(`${network}.uplinkMbps`, net.uplinkMbps.value) * 1e6,
    downlinkBitsPerS: checkPositive(`${network}.downlinkMbps`, net.downlinkMbps.value) * 1e6,
    rttS: checkPositive(`${network}.rttMs`, net.rttMs.value, true) / 1000,
    uplinkJoulesPerBit: checkPositive(`${network}.uplinkUjPerBit`, net.uplinkUjPerBit.value, true) * 1e-6,
    downlinkJoulesPerBit:
      checkPositive(`${network}.downlinkUjPerBit`, net.downlinkUjPerBit.value, true) * 1e-6,
    tailS: checkPositive(`${network}.tailS`, net.tailS.value, true),
    tailPowerW: checkPositive(`${network}.tailPowerW`, net.tailPowerW.value, true),
    basePowerW: checkPositive(`${network}.basePowerW`, sourced(net.basePowerW, network, 'basePowerW'), true),
    promotionS: checkPositive(`${network}.promotionS`, sourced(net.promotionS, network, 'promotionS'), true),
    promotionPowerW: checkPositive(
      `${network}.promotionPowerW`,
      sourced(net.promotionPowerW, network, 'promotionPowerW'),
      true,
    ),
    availability: checkProbability(`${phone}.availability`, ph.availability.value),
    dropout: checkProbability(`${phone}.dropout`, ph.dropout.value),
  };
}

/** A field's value; a clear error when a (user-supplied) catalog lacks it. */
function sourced(field: Sourced | undefined, network: string, name: string): number {
  if (field === undefined || typeof field.value !== 'number')
    throw new FedexError(
      'BAD_ARGUMENT',
      `network "${network}" has no ${name} (profiles.json shape: {value, source})`,
    );
  return field.value;
}

/** Standard normal from two uniforms (Box-Muller). */
function gaussian(rng: Rng): number {
  const u = Math.max(rng(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng());
}

function pick(rng: Rng, shares: Record<string, number>, what: string): string {
  const entries = Object.entries(shares).filter(([, w]) => w > 0);
  const total = entries.reduce((a, [, w]) => a + w, 0);
  if (entries.length === 0 || !Number.isFinite(total))
    throw new FedexError('BAD_ARGUMENT', `population ${what} shares must hold a positive weight`);
  let r = rng() * total;
  for (const [name, w] of entries) {
    r -= w;
    if (r < 0) return name;
  }
  return entries[entries.length - 1][0];
}

/**
 * The profiles of `n` devices: `phone/network` gives every device that profile; a population name
 * draws each device's tier and network from the shares and spreads its compute and link rates
 * log-normally (energy per FLOP and per bit stay the tier's: they are properties of the chip and
 * the radio, not of the moment). Seeded: device i's draw depends only on (seed, i).
 *
 * @example
 * drawProfiles('mixed', 1000, 7).filter((p) => p.name.endsWith('/lte')).length; // ~400
 */
export function drawProfiles(
  name: string,
  n: number,
  seed: number,
  catalog: ProfileCatalog = PROFILES,
): DeviceProfile[] {
  if (!Number.isSafeInteger(n) || n < 0)
    throw new FedexError('BAD_ARGUMENT', `device count must be a non-negative integer, got ${n}`);
  const pop = Object.hasOwn(catalog.populations, name) ? catalog.populations[name] : undefined;
  if (!pop) {
    const [phone, network, extra] = name.split('/');
    if (!phone || !network || extra !== undefined)
      throw new FedexError(
        'BAD_ARGUMENT',
        `unknown profile "${name}"; known: ${profileNames(catalog).join(', ')}`,
      );
    const p = deviceProfile(phone, network, catalog);
    return Array.from({ length: n }, () => p);
  }
  const base = new Map<string, DeviceProfile>();
  const out: DeviceProfile[] = [];
  for (let i = 0; i < n; i++) {
    const rng = createRng(deriveSeed(seed, `profile:${i}`));
    const phone = pick(rng, pop.phones, `${name}.phones`);
    const network = pick(rng, pop.networks, `${name}.networks`);
    const key = `${phone}/${network}`;
    if (!base.has(key)) base.set(key, deviceProfile(phone, network, catalog));
    const b = base.get(key)!;
    const c = Math.exp(pop.computeSigma * gaussian(rng));
    const l = Math.exp(pop.linkSigma * gaussian(rng));
    out.push({
      ...b,
      flopsPerS: b.flopsPerS * c,
      uplinkBitsPerS: b.uplinkBitsPerS * l,
      downlinkBitsPerS: b.downlinkBitsPerS * l,
    });
  }
  return out;
}

/** A catalog with the fields of `override` (same shape as profiles.json, any subset) replaced. */
export function mergeCatalog(override: unknown, catalog: ProfileCatalog = PROFILES): ProfileCatalog {
  if (!override || typeof override !== 'object')
    throw new FedexError(
      'BAD_ARGUMENT',
      'a profile override must be a JSON object shaped like profiles.json',
    );
  const o = override as Partial<ProfileCatalog>;
  const merged: ProfileCatalog = structuredClone(catalog);
  for (const group of ['phones', 'networks'] as const) {
    for (const [name, fields] of Object.entries(o[group] ?? {})) {
      const into = (merged[group][name] ??= {} as never) as unknown as Record<string, Sourced>;
      for (const [f, v] of Object.entries(fields as Record<string, Sourced | number>)) {
        into[f] = typeof v === 'number' ? { value: v, source: 'override' } : v;
      }
    }
  }
  for (const [name, pop] of Object.entries(o.populations ?? {})) merged.populations[name] = pop;
  return merged;
}
