/** Docker-style random container names (`adjective_surname`). */
import { randomBelow } from '@berth/oci-spec';

const left = ['admiring', 'brave', 'calm', 'dazzling', 'eager', 'focused', 'gallant', 'happy', 'jolly', 'keen',
  'lucid', 'modest', 'nifty', 'optimistic', 'pensive', 'quirky', 'relaxed', 'serene', 'tender', 'vibrant', 'wizardly', 'zealous'];
const right = ['albattani', 'bardeen', 'curie', 'darwin', 'euclid', 'feynman', 'galileo', 'hopper', 'kepler', 'lovelace',
  'meitner', 'noether', 'pasteur', 'ritchie', 'shannon', 'tesla', 'turing', 'volta', 'wozniak', 'yonath'];

/** A random `adjective_surname`; `retry > 0` appends a digit, as Docker does on collisions. */
export function randomName(retry = 0): string {
  const n = `${left[randomBelow(left.length)]}_${right[randomBelow(right.length)]}`;
  return retry > 0 ? `${n}${randomBelow(10)}` : n;
}
