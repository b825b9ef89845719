import { describe, expect, it } from 'vitest';
import { engineExplanation, renderExplanation } from './live-explain.js';
import { parsePrometheus } from './live-metrics.js';

const TEXT = `engine_attempts_total{model="primary"} 900
engine_attempt_failures_total{code="STREAM_INTERRUPTED",model="primary",breaker="failure"} 336
engine_attempt_failures_total{code="CONNECTION_REFUSED",model="primary",breaker="failure"} 113
engine_attempt_failures_total{code="IDLE_TIMEOUT",model="primary",breaker="load"} 7
engine_attempt_failures_total{code="RATE_LIMITED",model="primary",breaker="ignored"} 409
engine_attempt_failures_total{code="BREAKER_OPEN",model="primary",breaker="none"} 50
engine_breaker_transitions_total{to="open"} 9
engine_breaker_transitions_total{to="half-open"} 9
engine_breaker_open_failures_total{code="STREAM_INTERRUPTED",reason="tripped"} 93
engine_breaker_open_failures_total{code="CONNECTION_REFUSED",reason="probe-failed"} 7
engine_give_ups_total{reason="budget",code="CONNECTION_REFUSED"} 95
engine_give_ups_total{reason="max-attempts",code="STREAM_INTERRUPTED"} 9
`;

describe('engineExplanation', () => {
  it('reads the breaker openings, its verdicts per code, and the give-ups; breaker refusals are not upstream failures', () => {
    const e = engineExplanation(parsePrometheus(TEXT));
    expect(e?.breakerOpened).toBe(9);
    expect(e?.attemptFailures.map((c) => `${c.labels.code}/${c.labels.breaker}=${c.count}`)).toEqual([
      'RATE_LIMITED/ignored=409',
      'STREAM_INTERRUPTED/failure=336',
      'CONNECTION_REFUSED/failure=113',
      'IDLE_TIMEOUT/load=7',
    ]);
    expect(e?.openedOn[0]).toEqual({ labels: { code: 'STREAM_INTERRUPTED', reason: 'tripped' }, count: 93 });
    expect(e?.giveUps[0]).toEqual({ labels: { reason: 'budget', code: 'CONNECTION_REFUSED' }, count: 95 });
    expect(renderExplanation(e!)).toEqual([
      'breaker opened 9×; on: STREAM_INTERRUPTED (tripped) ×93, CONNECTION_REFUSED (probe-failed) ×7',
      'primary failures the breaker counted: STREAM_INTERRUPTED ×336, CONNECTION_REFUSED ×113',
      'set aside as load: IDLE_TIMEOUT ×7; not about health: RATE_LIMITED ×409',
      'gave up: budget after CONNECTION_REFUSED ×95, max-attempts after STREAM_INTERRUPTED ×9',
    ]);
  });

  it('a policy without a breaker says so, with its failures by code', () => {
    const e = engineExplanation(
      parsePrometheus(`engine_attempts_total{model="primary"} 10
engine_attempt_failures_total{code="CONNECTION_REFUSED",model="primary",breaker="none"} 4
engine_give_ups_total{reason="max-attempts",code="CONNECTION_REFUSED"} 1
`),
    );
    expect(renderExplanation(e!)).toEqual(['no breaker; primary failures: CONNECTION_REFUSED ×4', 'gave up: max-attempts after CONNECTION_REFUSED ×1']);
  });

  it('is undefined for a scrape without the engine (a target, or nothing exported)', () => {
    expect(engineExplanation(parsePrometheus('other_total 3'))).toBeUndefined();
  });
});
