import { hashString, mix32 } from '../random.js';
import type { Balancer, Candidate } from './balancer.js';
import { leastOutstanding } from './least-outstanding.js';
import type { RouteMeta } from './types.js';

/** Points each replica gets on the ring (ketama uses 100–200), so keys spread evenly and move little. */
export const VIRTUAL_NODES = 160;

/** 32-bit FNV-1a of a string, finished with murmur3's avalanche so nearby strings land far apart. */
export function hash32(s: string): number {
  return mix32(hashString(s));
}

/**
 * Session/prefix affinity by consistent hashing with bounded loads (Mirrokni, Thorup and Zadimoghaddam, 2018):
 * the request's affinity key (RouteMeta.affinityKey: a session, else the prompt's first prefix segment) hashes to
 * a point on a ring of virtual nodes; the first replica clockwise that is in service takes it, unless it already
 * has more than ceil(c × mean) calls in flight (c = `boundedLoadFactor`, the mean counting this call), in which case
 * the key passes on to the next replica on the ring. So a conversation keeps reusing one replica's prefix cache
 * while that replica is in service and not overloaded, and a hot key cannot sink a replica. Ejecting or removing a
 * replica moves only its own keys. A request without a key goes to the least loaded replica.
 */
export class AffinityBalancer implements Balancer {
  readonly kind = 'affinity';
  private points = new Uint32Array(0);
  private owners: string[] = [];
  private rotate = 0;

  constructor(private readonly factor: number, ids: readonly string[] = []) {
    this.replicasChanged(ids);
  }

  replicasChanged(ids: readonly string[]): void {
    const all: { h: number; id: string }[] = [];
    for (const id of ids) {
      for (let v = 0; v < VIRTUAL_NODES; v++) all.push({ h: hash32(`${id}#${v}`), id });
    }
    // Ties (rare) ordered by id, so the ring depends only on the set of ids.
    all.sort((a, b) => a.h - b.h || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    this.points = Uint32Array.from(all, (p) => p.h);
    this.owners = all.map((p) => p.id);
  }

  pick(candidates: readonly Candidate[], route: RouteMeta | undefined): Candidate {
    const key = route?.affinityKey;
    if (key === undefined || candidates.length === 1) return key === undefined ? leastOutstanding(candidates, this.rotate++) : (candidates[0] as Candidate);
    const byId = new Map<string, Candidate>();
    let total = 0;
    for (const c of candidates) {
      byId.set(c.id, c);
      total += c.outstanding;
    }
    const cap = Math.ceil((this.factor * (total + 1)) / candidates.length);
    const n = this.points.length;
    let i = lowerBound(this.points, hash32(key));
    const seen = new Set<string>();
    for (let k = 0; k < n && seen.size < byId.size; k++, i++) {
      const id = this.owners[i % n] as string;
      if (seen.has(id)) continue;
      const c = byId.get(id);
      if (c === undefined) continue;
      seen.add(id);
      if (c.outstanding < cap) return c;
    }
    // Candidates not on the ring (never announced) or all at the cap: the least loaded.
    return leastOutstanding(candidates, this.rotate++);
  }
}

/** The first index whose point is >= h (the ring wraps past the end). */
function lowerBound(points: Uint32Array, h: number): number {
  let lo = 0;
  let hi = points.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((points[mid] as number) < h) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
