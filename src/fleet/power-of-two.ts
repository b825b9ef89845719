import type { Random } from '../random.js';
import type { Balancer, Candidate } from './balancer.js';

/**
 * Power of two choices (Mitzenmacher): draw two distinct replicas at random and send the call to the one with
 * fewer calls in flight (the first drawn on a tie). Nearly as good as least-outstanding without its herding on
 * stale counts, and O(1).
 */
export class PowerOfTwoBalancer implements Balancer {
  readonly kind = 'power-of-two';

  constructor(private readonly random: Random) {}

  pick(candidates: readonly Candidate[]): Candidate {
    const n = candidates.length;
    if (n === 1) return candidates[0] as Candidate;
    const i = this.random.int(0, n - 1);
    let j = this.random.int(0, n - 2);
    if (j >= i) j++;
    const a = candidates[i] as Candidate;
    const b = candidates[j] as Candidate;
    return b.outstanding < a.outstanding ? b : a;
  }
}
