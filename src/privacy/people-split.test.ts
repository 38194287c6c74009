import { describe, expect, it } from 'vitest';
import { assertDisjointPeople, splitPeople } from './people-split.js';

const people = Array.from({ length: 30 }, (_, i) => ({ name: `p${i}` }));

describe('splitPeople', () => {
  it('draws victims and attacker people that share no one, the same for the same seed', () => {
    const a = splitPeople(people, (p) => p.name, { victims: 10, attacker: 15 }, 3);
    expect(a.victims).toHaveLength(10);
    expect(a.attacker).toHaveLength(15);
    const victims = new Set(a.victims.map((p) => p.name));
    expect(a.attacker.some((p) => victims.has(p.name))).toBe(false);
    expect(splitPeople(people, (p) => p.name, { victims: 10, attacker: 15 }, 3)).toEqual(a);
    expect(splitPeople(people, (p) => p.name, { victims: 10, attacker: 15 }, 4)).not.toEqual(a);
  });

  it('refuses too few people and repeated names', () => {
    expect(() => splitPeople(people, (p) => p.name, { victims: 20, attacker: 11 }, 0)).toThrow(
      /need 31 people/,
    );
    expect(() => splitPeople([...people, people[0]], (p) => p.name, { victims: 2, attacker: 2 }, 0)).toThrow(
      /listed twice/,
    );
  });
});

describe('assertDisjointPeople', () => {
  it('names the people both sides share', () => {
    expect(() => assertDisjointPeople(['a', 'b'], ['c'])).not.toThrow();
    expect(() => assertDisjointPeople(['a', 'b', 'c'], ['c', 'b', 'x'])).toThrow(
      /shares 2 people with the victims \(c, b\)/,
    );
  });
});
