import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Random } from '../src/random.js';
import { ValidationError } from '../src/errors.js';
import { parseFaultHeader, FaultHeaderError } from './fault-header.js';
import { FaultPlan, parseFaultPlan, planAfter, type FaultPlanInput } from './faults.js';

const plan = (input: unknown, atMs = 0) => new FaultPlan(input, new Random(3).derive('faults'), atMs);

describe('fault header', () => {
  it('parses every fault kind', () => {
    expect(parseFaultHeader('disconnect:after=20,form=reset')).toEqual({ disconnect: { afterTokens: 20, form: 'reset' } });
    expect(parseFaultHeader('disconnect:after-ms=300,form=error-event')).toEqual({ disconnect: { afterMs: 300, form: 'error-event' } });
    expect(parseFaultHeader('disconnect')).toEqual({ disconnect: { afterTokens: 0, form: 'reset' } });
    expect(parseFaultHeader('status:429,retry-after-ms=500')).toEqual({ status: { status: 429, retryAfterMs: 500 } });
    expect(parseFaultHeader('stall:after=10')).toEqual({ stall: { afterTokens: 10 } });
    expect(parseFaultHeader('stall:after=10,ms=2000')).toEqual({ stall: { afterTokens: 10, forMs: 2000 } });
    expect(parseFaultHeader('hang')).toEqual({ hang: true });
    expect(parseFaultHeader(' none ; delay:ms=5; ttft:ms=6 ;jitter:ms=7')).toEqual({ none: true, delayMs: 5, ttftMs: 6, jitterMs: 7 });
    expect(parseFaultHeader('crash:downtime-ms=100,cold-start-ms=50')).toEqual({ crash: { downtimeMs: 100, coldStartMs: 50 } });
  });

  it('rejects malformed headers with a 400 naming the part', () => {
    const msg = (v: string): string => {
      try {
        parseFaultHeader(v);
      } catch (e) {
        expect(e).toBeInstanceOf(FaultHeaderError);
        expect((e as FaultHeaderError).status).toBe(400);
        return (e as Error).message;
      }
      throw new Error(`expected ${v} to be rejected`);
    };
    expect(msg('explode')).toBe('x-mock-fault: expected a fault kind (none, status, disconnect, stall, hang, delay, ttft, jitter, crash), got "explode"');
    expect(msg('status:42')).toBe('x-mock-fault.status: expected an integer from 400 to 599, got "42"');
    expect(msg('status')).toBe('x-mock-fault.status: expected a value after the colon, got ""');
    expect(msg('disconnect:after=-1')).toBe('x-mock-fault.disconnect.after: expected an integer from 0 to 1000000000, got "-1"');
    expect(msg('stall:for=3')).toBe('x-mock-fault.stall.for: expected one of after, ms, got "for"');
    expect(msg('delay:ms=1,ms=2')).toBe('x-mock-fault.delay.ms: expected each parameter once, got "ms=2"');
  });
});

describe('fault plan', () => {
  it('validates with errors naming the field', () => {
    const msg = (v: unknown): string => {
      try {
        parseFaultPlan(v);
      } catch (e) {
        expect(e).toBeInstanceOf(ValidationError);
        return (e as Error).message;
      }
      throw new Error('expected a ValidationError');
    };
    expect(msg({ rateLimited: { probability: 2 } })).toBe('faults.rateLimited.probability: expected number to be <=1, got 2');
    expect(msg({ disconnect: { probability: 0.1, forms: ['reset', 'boom'] } })).toMatch(/^faults\.disconnect\.forms\[1\]: expected one of/);
    expect(msg({ timeline: [{ atMs: 0, durationMs: 10, fault: { brownoutMultiplier: 0 } }] })).toBe(
      'faults.timeline[0].fault.brownoutMultiplier: expected number to be >0, got 0',
    );
    expect(msg({ ttftDelayMs: { kind: 'lognormal', median: 0, sigma: 1 } })).toMatch(/^faults\.ttftDelayMs/);
    expect(msg({ crash: { probability: 0.1 } })).toMatch(/^faults\.crash\.downtimeMs: expected/);
    expect(msg({ brownout: 2 })).toBe('faults.brownout: expected no such field (a known field name), got 2');
    expect(parseFaultPlan(undefined)).toEqual({});
  });

  it('draws faults at the configured rates, from seeded named streams', () => {
    const p = plan({ rateLimited: { probability: 0.1 }, disconnect: { probability: 0.2, afterTokens: { kind: 'uniform', min: 0, max: 100 }, forms: ['reset', 'clean-close'] } });
    let r429 = 0;
    let disc = 0;
    const forms = new Set<string>();
    for (let i = 0; i < 20_000; i++) {
      const d = p.decide(0, undefined);
      if (d.reject?.status === 429) r429++;
      if (d.disconnect) {
        disc++;
        forms.add(d.disconnect.form);
        expect(d.disconnect.afterTokens).toBeGreaterThanOrEqual(0);
      }
    }
    expect(r429 / 20_000).toBeCloseTo(0.1, 1.5);
    expect(disc / 20_000).toBeCloseTo(0.2, 1.5);
    expect([...forms].sort()).toEqual(['clean-close', 'reset']);
    // Same seed, same decisions; adding an unrelated fault does not shift them (named streams).
    const a = plan({ rateLimited: { probability: 0.5 } });
    const b = plan({ rateLimited: { probability: 0.5 }, hang: { probability: 0.5 } });
    const seqA = Array.from({ length: 50 }, () => a.decide(0, undefined).reject !== undefined);
    const seqB = Array.from({ length: 50 }, () => b.decide(0, undefined).reject !== undefined);
    expect(seqB).toEqual(seqA);
  });

  it('timeline phases overlay the base plan while active, relative to when the plan was set', () => {
    const p = plan(
      {
        brownoutMultiplier: 1.5,
        timeline: [
          { atMs: 100, durationMs: 50, fault: { brownoutMultiplier: 4 }, name: 'brownout' },
          { atMs: 120, durationMs: 10, fault: { serverError: { probability: 1 } } },
          { atMs: 500, durationMs: 0, fault: { crash: { downtimeMs: 10 } } },
        ],
      },
      1000,
    );
    expect(p.brownout(1050)).toBe(1.5);
    expect(p.brownout(1100)).toBe(4);
    expect(p.activePhases(1125)).toEqual(['brownout', 'phase1']);
    expect(p.decide(1125, undefined).reject?.status).toBe(500);
    expect(p.decide(1135, undefined).reject).toBeUndefined();
    expect(p.brownout(1150)).toBe(1.5);
    expect(p.crashPhases()).toEqual([{ atMs: 1500, downtimeMs: 10, coldStartMs: 1000 }]);
  });

  it('header faults apply for sure; `none` switches off the random ones', () => {
    const p = plan({ unavailable: { probability: 1, retryAfterMs: 10 }, networkDelayMs: 50 });
    expect(p.decide(0, undefined).reject).toEqual({ kind: 'unavailable', status: 503, retryAfterMs: 10 });
    expect(p.decide(0, undefined).networkDelayMs).toBe(50);
    const none = p.decide(0, parseFaultHeader('none'));
    expect(none.reject).toBeUndefined();
    expect(none.networkDelayMs).toBe(0);
    expect(p.decide(0, parseFaultHeader('status:500')).reject).toEqual({ kind: 'status', status: 500 });
  });

  it('a plan that draws nothing gives every request the same faults as a full decide, without advancing any stream', () => {
    // decide(t, undefined) takes the shortcut for such a plan; decide(t, {}) always runs the full path.
    for (const input of [{}, { brownoutMultiplier: 2 }, { queueFull: { status: 429, retryAfterMs: 5 } }, { rateLimited: { probability: 0 } }]) {
      const p = plan(input);
      expect(p.decide(0, undefined)).toEqual(p.decide(0, {}));
    }
    // Plans that draw take the full path: the same seeds give the same sequence either way.
    const input = { rateLimited: { probability: 0.5 }, networkDelayMs: { kind: 'uniform', min: 1, max: 9 } };
    const a = plan(input);
    const b = plan(input);
    for (let i = 0; i < 20; i++) {
      const x = a.decide(i, undefined);
      const y = b.decide(i, {});
      expect(x.reject).toEqual(y.reject);
      expect(x.networkDelayMs).toBe(y.networkDelayMs);
    }
  });
});

describe('planAfter (the timeline resumed after a restart)', () => {
  const input: FaultPlanInput = {
    rateLimited: { probability: 0.01 },
    timeline: [
      { name: 'storm', atMs: 1000, durationMs: 4000, fault: { rateLimited: { probability: 0.6 } } },
      { name: 'crash', atMs: 6000, durationMs: 3000, fault: { crash: { downtimeMs: 1000 } } },
      { name: 'late', atMs: 12000, durationMs: 2000, fault: { serverError: { probability: 0.1 } } },
    ],
  };

  it('shifts later phases, keeps what remains of one under way, drops ended phases and the crash that already fired', () => {
    expect(planAfter(input, 3000).timeline).toEqual([
      { name: 'storm', atMs: 0, durationMs: 2000, fault: { rateLimited: { probability: 0.6 } } },
      { name: 'crash', atMs: 3000, durationMs: 3000, fault: { crash: { downtimeMs: 1000 } } },
      { name: 'late', atMs: 9000, durationMs: 2000, fault: { serverError: { probability: 0.1 } } },
    ]);
    const after = planAfter(input, 7000);
    expect(after.rateLimited).toEqual({ probability: 0.01 });
    expect(after.timeline).toEqual([{ name: 'late', atMs: 5000, durationMs: 2000, fault: { serverError: { probability: 0.1 } } }]);
    expect(planAfter(input, 20000).timeline).toEqual([]);
  });

  it('a crash at atMs 0 does not crash the restarted process again; a by-probability crash phase under way stays', () => {
    const crashAt0: FaultPlanInput = {
      timeline: [
        { atMs: 0, durationMs: 0, fault: { crash: { downtimeMs: 200 } } },
        { atMs: 0, durationMs: 10000, fault: { crash: { probability: 0.1, downtimeMs: 50 } } },
      ],
    };
    expect(planAfter(crashAt0, 250).timeline).toEqual([{ atMs: 0, durationMs: 9750, fault: { crash: { probability: 0.1, downtimeMs: 50 } } }]);
    // What the restarted process arms: no crash phase, so the model stays up.
    const p = plan(planAfter(crashAt0, 250), 5);
    expect(p.crashPhases()).toEqual([]);
    expect(plan(crashAt0, 5).crashPhases()).toEqual([{ atMs: 5, downtimeMs: 200, coldStartMs: 1000 }]);
  });

  it('a plan without a timeline is returned as it is', () => {
    const base = { serverError: { probability: 0.2 } };
    expect(planAfter(base, 5000)).toBe(base);
  });

  it('every phase still to come keeps its absolute start and end; none that ended comes back', () => {
    const phase = fc.record({ atMs: fc.integer({ min: 0, max: 100_000 }), durationMs: fc.integer({ min: 0, max: 100_000 }), crash: fc.boolean() });
    fc.assert(
      fc.property(fc.array(phase, { maxLength: 8 }), fc.integer({ min: 1, max: 200_000 }), (phases, elapsedMs) => {
        const timeline = phases.map((p, i) => ({
          name: `p${i}`,
          atMs: p.atMs,
          durationMs: p.durationMs,
          fault: p.crash ? { crash: { downtimeMs: 100 } } : { serverError: { probability: 0.5 } },
        }));
        const out = planAfter({ timeline }, elapsedMs).timeline ?? [];
        for (const q of out) {
          const orig = timeline.find((t) => t.name === q.name);
          expect(orig).toBeDefined();
          if (orig === undefined) continue;
          expect(q.atMs).toBeGreaterThanOrEqual(0);
          expect(q.atMs + q.durationMs + elapsedMs).toBe(orig.atMs + orig.durationMs);
          if (q.atMs > 0 || orig.atMs >= elapsedMs) expect(q.atMs + elapsedMs).toBe(orig.atMs);
          if (orig.atMs < elapsedMs) expect('crash' in orig.fault).toBe(false);
        }
        const kept = new Set(out.map((q) => q.name));
        for (const t of timeline) {
          const due = t.atMs >= elapsedMs || (!('crash' in t.fault) && t.atMs + t.durationMs > elapsedMs);
          expect(kept.has(t.name)).toBe(due);
        }
      }),
    );
  });
});
