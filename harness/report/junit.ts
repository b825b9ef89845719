/**
 * JUnit XML for CI test reporters: one suite for the run's thresholds, one for the baseline comparison.
 * A small hand-written writer; every text and attribute is escaped, and characters XML 1.0 forbids are dropped.
 */
import { fmtMetric } from './format.js';
import { fmtRegressValue, REGRESS_METRIC_LABELS, type BaselineComparison } from './regress.js';
import { allThresholdResults } from './run-result.js';
import type { RunResult } from './schema.js';

/** Escapes text for XML content or a double-quoted attribute. */
export function xmlEscape(s: string): string {
  return s
    .replace(/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;')
    .replace(/\n/g, '&#10;')
    .replace(/\r/g, '&#13;')
    .replace(/\t/g, '&#9;');
}

interface Case {
  readonly name: string;
  readonly classname: string;
  readonly failure?: { readonly message: string; readonly body: string };
  readonly skipped?: string;
}

function suite(name: string, cases: readonly Case[]): string {
  const failures = cases.filter((c) => c.failure !== undefined).length;
  const skipped = cases.filter((c) => c.skipped !== undefined).length;
  const body = cases.map((c) => {
    const open = `    <testcase name="${xmlEscape(c.name)}" classname="${xmlEscape(c.classname)}" time="0"`;
    if (c.failure !== undefined) return `${open}>\n      <failure message="${xmlEscape(c.failure.message)}" type="regression">${xmlEscape(c.failure.body)}</failure>\n    </testcase>`;
    if (c.skipped !== undefined) return `${open}>\n      <skipped message="${xmlEscape(c.skipped)}"/>\n    </testcase>`;
    return `${open}/>`;
  });
  return `  <testsuite name="${xmlEscape(name)}" tests="${cases.length}" failures="${failures}" errors="0" skipped="${skipped}" time="0">\n${body.join('\n')}${cases.length > 0 ? '\n' : ''}  </testsuite>`;
}

/** Renders thresholds (and, when given, the baseline comparison) as a JUnit XML document. */
export function renderJUnit(input: { readonly result: RunResult; readonly comparison?: BaselineComparison }): string {
  const { result, comparison } = input;
  const scen = result.scenario.name;
  const suites: string[] = [];
  suites.push(
    suite(
      `thresholds: ${scen}`,
      allThresholdResults(result).map((t) => ({
        name: `${t.policy}: ${t.label}`,
        classname: `${scen}.${t.policy}`,
        ...(t.pass ? {} : { failure: { message: `${t.label} failed: actual ${fmtMetric(t.metric, t.actual)}`, body: `policy ${t.policy}\nthreshold ${t.label}\nactual ${t.actual === null ? 'unknown' : t.actual}` } }),
      })),
    ),
  );
  if (comparison !== undefined) {
    const cases: Case[] = [];
    for (const p of comparison.policies) {
      const classname = `${comparison.scenario}.${p.policy}`;
      if (p.status === 'missing') cases.push({ name: `${p.policy}: present in the current run`, classname, failure: { message: `policy ${p.policy} is in the baseline but not in the current run`, body: '' } });
      if (p.status === 'new') cases.push({ name: `${p.policy}: has a baseline`, classname, skipped: `policy ${p.policy} is new: no baseline to compare with` });
      for (const k of p.checks) {
        const label = REGRESS_METRIC_LABELS[k.metric];
        const name = `${p.policy}: ${label} within ${k.tolerancePct}% of baseline`;
        const detail = `baseline ${fmtRegressValue(k.metric, k.baseline)}, current ${fmtRegressValue(k.metric, k.current)}`;
        if (k.status === 'regression') cases.push({ name, classname, failure: { message: `${label} regressed: ${detail}`, body: `change ${k.changePct === null ? 'n/a' : `${k.changePct}%`}, tolerance ${k.tolerancePct}%` } });
        else if (k.status === 'unknown') cases.push({ name, classname, skipped: `${label} unknown: ${detail}` });
        else cases.push({ name, classname });
      }
    }
    suites.push(suite(`baseline: ${comparison.scenario}`, cases));
  }
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="${xmlEscape(scen)}">\n${suites.join('\n')}\n</testsuites>\n`;
}
