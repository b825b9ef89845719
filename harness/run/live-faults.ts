/**
 * The fault plan of a live run: set on each mock through `PUT /mock/faults?model=NAME` when the load starts, so the
 * timeline's phases (relative to when a plan is set) line up with the load as they do in virtual time. A crash
 * fault really ends the mock process, and the restarted process starts with no plan: `planAfter` (sim/faults.ts,
 * shared with `sim --supervise`) gives the plan to set again then, the timeline shifted to the restart and without
 * what is already over.
 */
import { request } from 'undici';
import { HarnessError } from '../../src/errors.js';
import type { FaultPlanInput } from '../../sim/faults.js';

/** The mock refused a fault plan. */
export class FaultPlanRejectedError extends HarnessError {
  constructor(url: string, status: number, body: string) {
    super('RUN_FAILED', `PUT ${url}: expected 200, got ${status}: ${body.slice(0, 300)}`);
  }
}

/** Sets `plan` on model `model` of the mock at `baseUrl`. */
export async function putFaultPlan(baseUrl: string, model: string, plan: FaultPlanInput): Promise<void> {
  const url = `${baseUrl}/mock/faults?model=${encodeURIComponent(model)}`;
  const res = await request(url, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(plan) });
  const body = await res.body.text();
  if (res.statusCode !== 200) throw new FaultPlanRejectedError(url, res.statusCode, body);
}
