/**
 * The attacker's public faces and the victims are different people: an inversion decoder or an
 * attribute model trained on a victim's own photos would measure memorisation, not leakage. This
 * module draws the two sets (seeded) and asserts they share no one. Pure.
 */
import { FedexError } from '../core/errors.js';
import { createRng, shuffled } from '../core/random.js';

export interface PeopleSplit<T> {
  /** People whose photos the attacker trains on (public faces). */
  attacker: T[];
  /** People whose uploads are attacked. */
  victims: T[];
}

/**
 * Splits `people` (each named by `nameOf`) into `victims` victims and up to `attacker` attacker
 * people, a seeded draw; asserts the result disjoint.
 *
 * @throws FedexError BAD_ARGUMENT when there are not enough people or a name repeats.
 */
export function splitPeople<T>(
  people: readonly T[],
  nameOf: (p: T) => string,
  counts: { victims: number; attacker: number },
  seed: number,
): PeopleSplit<T> {
  const names = new Set(people.map(nameOf));
  if (names.size !== people.length)
    throw new FedexError('BAD_ARGUMENT', 'splitPeople: a person is listed twice');
  if (counts.victims < 1 || counts.attacker < 1 || counts.victims + counts.attacker > people.length) {
    throw new FedexError(
      'BAD_ARGUMENT',
      `splitPeople: ${counts.victims} victims + ${counts.attacker} attacker people need ${counts.victims + counts.attacker} people, there are ${people.length}`,
    );
  }
  const order = shuffled(createRng(seed), people);
  const split = {
    victims: order.slice(0, counts.victims),
    attacker: order.slice(counts.victims, counts.victims + counts.attacker),
  };
  assertDisjointPeople(split.attacker.map(nameOf), split.victims.map(nameOf));
  return split;
}

/**
 * Throws unless no person is both in the attacker's data and among the victims (by name).
 *
 * @throws FedexError BAD_ARGUMENT naming the shared people.
 */
export function assertDisjointPeople(attacker: readonly string[], victims: readonly string[]): void {
  const mine = new Set(attacker);
  const shared = [...new Set(victims.filter((v) => mine.has(v)))];
  if (shared.length > 0) {
    throw new FedexError(
      'BAD_ARGUMENT',
      `the attacker's data shares ${shared.length} people with the victims (${shared.slice(0, 3).join(', ')}${shared.length > 3 ? ', …' : ''})`,
    );
  }
}
