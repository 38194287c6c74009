import { describe, expect, it } from 'vitest';
import { buildPopulation, deviceId } from './population.js';

// 10 people with 8 training photos each: person p owns samples 10p .. 10p+7.
const byPerson = Array.from({ length: 10 }, (_, p) => Array.from({ length: 8 }, (_, j) => 10 * p + j));

describe('buildPopulation', () => {
  it('gives each device 2-4 people and 2-6 of their training photos', () => {
    const fleet = buildPopulation(byPerson, { devices: 200, seed: 1 });
    expect(fleet).toHaveLength(200);
    for (const d of fleet) {
      expect(d.people.length).toBeGreaterThanOrEqual(2);
      expect(d.people.length).toBeLessThanOrEqual(4);
      expect(new Set(d.people).size).toBe(d.people.length);
      for (const p of d.people) {
        const mine = d.samples.filter((s) => Math.floor(s / 10) === p);
        expect(mine.length).toBeGreaterThanOrEqual(2);
        expect(mine.length).toBeLessThanOrEqual(6);
      }
      // Only photos of its own people.
      expect(d.samples.every((s) => d.people.includes(Math.floor(s / 10)))).toBe(true);
    }
  });

  it('covers every person once there are as many devices as people', () => {
    const fleet = buildPopulation(byPerson, { devices: 10, seed: 3 });
    expect(new Set(fleet.flatMap((d) => d.people)).size).toBe(10);
  });

  it('is seeded: same seed same fleet, another seed another', () => {
    const a = buildPopulation(byPerson, { devices: 50, seed: 5 });
    expect(buildPopulation(byPerson, { devices: 50, seed: 5 })).toEqual(a);
    expect(buildPopulation(byPerson, { devices: 50, seed: 6 })).not.toEqual(a);
  });

  it('shares photos across devices when the fleet outgrows the data', () => {
    const fleet = buildPopulation(byPerson, { devices: 1000, seed: 1 });
    const all = fleet.flatMap((d) => d.samples);
    expect(new Set(all).size).toBeLessThanOrEqual(80);
    expect(all.length).toBeGreaterThan(1000 * 4);
  });

  it('refuses bad ranges and too few people', () => {
    expect(() => buildPopulation(byPerson, { devices: 0, seed: 1 })).toThrow(/devices/);
    expect(() => buildPopulation(byPerson, { devices: 3, seed: 1, peoplePerDevice: [3, 2] })).toThrow(
      /peoplePerDevice/,
    );
    expect(() => buildPopulation(byPerson.slice(0, 2), { devices: 3, seed: 1 })).toThrow(/2 people/);
  });

  it('names devices with sortable ids', () => {
    expect(deviceId(7, 100)).toBe('d00007');
    expect(deviceId(7, 1_000_000)).toBe('d000007');
  });
});
