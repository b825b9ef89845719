import type { Balancer, Candidate } from './balancer.js';

/**
 * The replica with the fewest calls in flight. Ties go round the replicas in turn (the search starts one further
 * each call), so an idle fleet is not all sent to its first replica.
 */
export class LeastOutstandingBalancer implements Balancer {
  readonly kind = 'least-outstanding';
  private start = 0;

  pick(candidates: readonly Candidate[]): Candidate {
    return leastOutstanding(candidates, this.start++);
  }
}

/** The least loaded of `candidates`, searching from `start` (mod length) so ties rotate. */
export function leastOutstanding(candidates: readonly Candidate[], start: number): Candidate {
  const n = candidates.length;
  const s = start % n;
  let best = candidates[s] as Candidate;
  for (let k = 1; k < n; k++) {
    const c = candidates[(s + k) % n] as Candidate;
    if (c.outstanding < best.outstanding) best = c;
  }
  return best;
}
