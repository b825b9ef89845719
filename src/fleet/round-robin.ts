import type { Balancer, Candidate } from './balancer.js';

/** Each call to the next replica in service, in turn, whatever their load. */
export class RoundRobinBalancer implements Balancer {
  readonly kind = 'round-robin';
  private next = 0;

  pick(candidates: readonly Candidate[]): Candidate {
    const c = candidates[this.next % candidates.length] as Candidate;
    this.next = (this.next + 1) % 1_000_000_007;
    return c;
  }
}
