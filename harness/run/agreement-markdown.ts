/**
 * The agreement report as Markdown (also fine on a terminal): a pure function of the AgreementReport. With a
 * measured transport it shows the plain virtual figures and the calibrated ones side by side, and the
 * measurements the calibration came from, so a reader sees what the calibration contributed.
 */
import { hopCosts, type AgreementContext, type AgreementReport, type AgreementRow, type PolicyAgreement } from './agreement.js';

const fmt = (x: number | null): string => (x === null ? '–' : Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(x % 1 === 0 ? 0 : 2));
const fmtMs = (x: number | null): string => (x === null ? '–' : `${x.toFixed(1)} ms`);
const fmtHop = (x: number | null): string => (x === null ? '–' : `${x.toFixed(2)} ms`);
const fmtPct = (x: number | null): string => (x === null ? '–' : `${x > 0 ? '+' : ''}${x.toFixed(1)}%`);
const verdict = (pass: boolean): string => (pass ? 'ok' : 'MISS');

/**
 * A mock event loop this late under load distorts token timing by several GPU steps (a step is a few ms): the live
 * figures then measure a busy machine. The load generator's own check does not see the mock, so the report says it.
 */
export const BUSY_MOCK_LAG_MS = 20;

function busyNote(r: AgreementReport): string[] {
  const late = r.policies.filter((p) => (p.context?.mockEventLoopLagP99Ms ?? 0) > BUSY_MOCK_LAG_MS);
  if (late.length === 0) return [];
  const lags = late.map((p) => `${p.policy} ${fmtMs(p.context?.mockEventLoopLagP99Ms ?? null)}`).join(', ');
  return [
    '',
    `Note: the mock process ran late during the load (event-loop delay p99 over ${BUSY_MOCK_LAG_MS} ms: ${lags}). The machine was busy, and the`,
    'live figures, the tails most, measure that as well as the model; run again on a quiet machine before reading the misses.',
  ];
}

const misses = (r: AgreementReport, ok: (row: AgreementRow) => boolean): string => {
  const all = r.policies.flatMap((p) => p.rows);
  const n = all.filter((row) => !ok(row)).length;
  return n === 0 ? 'agree' : `disagree (${n} of ${all.length} figures miss)`;
};

/** The agreement table as Markdown (also fine on a terminal). */
export function renderAgreementMarkdown(r: AgreementReport): string {
  const calibrated = r.judgedOn === 'calibrated' && r.calibration !== null;
  const live = `Live load generator: ${r.liveValid ? 'valid' : `INVALID (${r.liveInvalidReasons.join('; ')})`}.`;
  const goals = `Goals: p50 within ${r.goalsPct.p50}%, p99 within ${r.goalsPct.p99}%, goodput within ${r.goalsPct.goodput}%`;
  const lines = [`# Agreement: ${r.scenario} (seed ${r.seed}, ${r.durationMs / 1000} s of arrivals)`, ''];
  if (calibrated) {
    lines.push(
      `${goals}, judged on the virtual run with the transport measured on loopback. Result: **${r.pass ? 'agree' : 'disagree'}**. ` +
        `Plain virtual time (no transport model): ${misses(r, (row) => row.plainPass)}. ${live}`,
      '',
      '| policy | figure | live | virtual | difference | virtual + transport | difference | goal | |',
      '|---|---|---:|---:|---:|---:|---:|---:|---|',
    );
    for (const p of r.policies) {
      for (const row of p.rows) {
        const c = row.calibrated;
        lines.push(
          `| ${p.policy} | ${row.label} | ${fmt(row.live)} | ${fmt(row.virtual)} | ${fmtPct(row.diffPct)} | ${fmt(c?.virtual ?? null)} | ${fmtPct(c?.diffPct ?? null)} | ±${row.goalPct}% | ${verdict(row.pass)} |`,
        );
      }
    }
  } else {
    lines.push(
      `${goals}. Result: **${r.pass ? 'agree' : 'disagree'}**. ${live}`,
      '',
      '| policy | figure | virtual | live | difference | goal | |',
      '|---|---|---:|---:|---:|---:|---|',
    );
    for (const p of r.policies) {
      for (const row of p.rows) {
        lines.push(`| ${p.policy} | ${row.label} | ${fmt(row.virtual)} | ${fmt(row.live)} | ${fmtPct(row.diffPct)} | ±${row.goalPct}% | ${verdict(row.pass)} |`);
      }
    }
  }
  lines.push(...busyNote(r), ...contextSection(r));
  const wall = `Wall time: virtual ${(r.wallMs.virtual / 1000).toFixed(1)} s, live ${(r.wallMs.live / 1000).toFixed(1)} s`;
  lines.push('', `${wall}${r.wallMs.calibrated !== undefined ? `, virtual + transport ${(r.wallMs.calibrated / 1000).toFixed(1)} s` : ''}.`, '');
  return lines.join('\n');
}

/** The zero-load probes, each hop's cost, and (when calibrated) what the calibrated run used and why. */
function contextSection(r: AgreementReport): string[] {
  const ctx = r.policies.filter((p): p is PolicyAgreement & { context: AgreementContext } => p.context !== undefined);
  if (ctx.length === 0) return [];
  const cal = r.calibration;
  const lines = [
    '',
    'The HTTP path, measured at zero load: the same probe request, one at a time with nothing else running, in virtual',
    'time, straight to the mock, and through the engine service. Straight to the mock minus virtual is one hop to the',
    "model (engine→model); through the engine minus straight to the mock is the driver's hop to the engine, with the",
    "engine's own work (client→engine). Mock lag is the worst per-second p99 of the mock's event-loop delay under load.",
    '',
    '| policy | zero-load TTFT virtual | direct to mock | through engine | engine→model hop | client→engine hop | mock lag p99 |',
    '|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const p of ctx) {
    const z = p.context.zeroLoadTtftMs;
    const h = hopCosts(p.context);
    lines.push(
      `| ${p.policy} | ${fmtMs(z.virtual)} | ${fmtMs(z.directToMock)} | ${fmtMs(z.throughEngine)} | ${fmtHop(h.engineToModelMs)} | ${fmtHop(h.clientToEngineMs)} | ${fmtMs(p.context.mockEventLoopLagP99Ms)} |`,
    );
  }
  if (cal === null) return lines;
  lines.push(
    `| **used** (mean) | | | | ${fmtHop(cal.engineToModelMs)} | ${fmtHop(cal.clientToEngineMs)} | |`,
    '',
    'Plain virtual time leaves this path out. The second virtual run is the same run with a transport model: every',
    "request and every response event crosses each hop with that hop's measured cost, split evenly between the two",
    `directions (\`--mode virtual --transport-ms ${cal.engineToModelMs},${cal.clientToEngineMs}\` reproduces it). The goals are judged on it.`,
    'The calibration is measured at zero load and judged under load, so it is not fitted to the figures it is judged on;',
    'what remains is what it does not model, such as the HTTP path growing slower while the processes are busy.',
  );
  return lines;
}
