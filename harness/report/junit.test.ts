import { describe, expect, it } from 'vitest';
import { renderJUnit, xmlEscape } from './junit.js';
import { compareToBaseline } from './regress.js';
import type { RunResult } from './schema.js';
import { syntheticRunResult } from './synthetic-run.js';

interface XmlNode {
  name: string;
  attrs: Record<string, string>;
  children: XmlNode[];
  text: string;
}

const ENTITY = /&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g;
const decode = (s: string): string =>
  s.replace(ENTITY, (_, e: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" })[e] ?? String.fromCodePoint(e.startsWith('#x') ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10)));

/** A strict little XML 1.0 well-formedness checker and parser (elements, attributes, text, entities). */
function parseXml(xml: string): XmlNode {
  let i = 0;
  const prolog = /^<\?xml version="1\.0" encoding="UTF-8"\?>\n/.exec(xml);
  if (!prolog) throw new Error('missing XML declaration');
  i = prolog[0].length;
  const stack: XmlNode[] = [];
  let root: XmlNode | undefined;
  const checkText = (t: string, where: string): void => {
    if (/[<]/.test(t)) throw new Error(`raw < in ${where}`);
    if (/&/.test(t.replace(ENTITY, ''))) throw new Error(`bare & in ${where}: ${t}`);
  };
  while (i < xml.length) {
    if (xml[i] === '<') {
      const close = /^<\/([A-Za-z_][\w.-]*)\s*>/.exec(xml.slice(i));
      if (close) {
        const top = stack.pop();
        if (top?.name !== close[1]) throw new Error(`mismatched </${close[1]}>, open <${top?.name}>`);
        i += close[0].length;
        continue;
      }
      const open = /^<([A-Za-z_][\w.-]*)((?:\s+[A-Za-z_][\w.-]*="[^"]*")*)\s*(\/?)>/.exec(xml.slice(i));
      if (!open) throw new Error(`malformed tag at ${i}: ${xml.slice(i, i + 40)}`);
      const attrs: Record<string, string> = {};
      for (const m of open[2]!.matchAll(/([A-Za-z_][\w.-]*)="([^"]*)"/g)) {
        if (m[1]! in attrs) throw new Error(`duplicate attribute ${m[1]}`);
        checkText(m[2]!, `attribute ${m[1]}`);
        attrs[m[1]!] = decode(m[2]!);
      }
      const node: XmlNode = { name: open[1]!, attrs, children: [], text: '' };
      if (stack.length === 0) {
        if (root !== undefined) throw new Error('two root elements');
        root = node;
      } else stack[stack.length - 1]!.children.push(node);
      if (open[3] !== '/') stack.push(node);
      i += open[0].length;
    } else {
      const next = xml.indexOf('<', i);
      const t = xml.slice(i, next === -1 ? undefined : next);
      if (stack.length === 0 && t.trim() !== '') throw new Error('text outside the root');
      checkText(t, 'text');
      if (stack.length > 0) stack[stack.length - 1]!.text += decode(t);
      i = next === -1 ? xml.length : next;
    }
  }
  if (stack.length > 0) throw new Error(`unclosed <${stack[stack.length - 1]!.name}>`);
  if (root === undefined) throw new Error('no root');
  return root;
}

describe('renderJUnit', () => {
  const baseline = syntheticRunResult(42, 30_000, 10);
  const worse = structuredClone(baseline) as RunResult;
  const s = worse.policies[1]!.summary as { ttftMs: { p99: number | null } };
  s.ttftMs = { ...s.ttftMs, p99: s.ttftMs.p99! * 2 };

  it('is well-formed XML with one testcase per threshold result and per baseline check', () => {
    const xml = renderJUnit({ result: worse, comparison: compareToBaseline(worse, baseline, { p99TtftPct: 10, p99E2ePct: 10, goodputPct: 5 }) });
    const root = parseXml(xml);
    expect(root.name).toBe('testsuites');
    const [thr, base] = root.children;
    expect(thr!.attrs.name).toBe('thresholds: synthetic-outage');
    const nThresholds = worse.policies.reduce((n, p) => n + p.summary.thresholds.length, 0);
    expect(thr!.children).toHaveLength(nThresholds);
    expect(Number(thr!.attrs.failures)).toBe(worse.policies.flatMap((p) => p.summary.thresholds).filter((t) => !t.pass).length);
    expect(base!.children).toHaveLength(9);
    expect(base!.attrs.failures).toBe('1');
    const failed = base!.children.find((c) => c.children.some((k) => k.name === 'failure'))!;
    expect(failed.attrs.name).toBe('bounded: p99 TTFT within 10% of baseline');
    expect(failed.children[0]!.attrs.message).toMatch(/^p99 TTFT regressed: baseline .* current /);
  });

  it('escapes markup, quotes and ampersands, and drops characters XML forbids', () => {
    const evil = structuredClone(baseline) as { -readonly [K in keyof RunResult]: RunResult[K] };
    evil.scenario = { ...evil.scenario, name: `a<b>&"c"'d\u0001` };
    const root = parseXml(renderJUnit({ result: evil as RunResult }));
    expect(root.attrs.name).toBe(`a<b>&"c"'d`);
    expect(root.children[0]!.attrs.name).toBe(`thresholds: a<b>&"c"'d`);
    expect(xmlEscape('x\ny')).toBe('x&#10;y');
    expect(() => parseXml('<?xml version="1.0" encoding="UTF-8"?>\n<a b="1 & 2"/>')).toThrow(/bare &/); // the checker can fail
  });
});
