import { AffinityBalancer } from './affinity.js';
import type { Balancer, BalancerOptions } from './balancer.js';
import { LeastOutstandingBalancer } from './least-outstanding.js';
import { PowerOfTwoBalancer } from './power-of-two.js';
import { RoundRobinBalancer } from './round-robin.js';

/** The balancer of `kind`. */
export function createBalancer(o: BalancerOptions): Balancer {
  switch (o.kind) {
    case 'round-robin':
      return new RoundRobinBalancer();
    case 'least-outstanding':
      return new LeastOutstandingBalancer();
    case 'power-of-two':
      return new PowerOfTwoBalancer(o.random);
    case 'affinity':
      return new AffinityBalancer(o.boundedLoadFactor);
  }
}
