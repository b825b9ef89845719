/**
 * The metric names a PromQL expression reads (not product code: the monitoring test checks them against what
 * the service exports). A small scanner, enough for the expressions of deploy/: string literals, label
 * matchers (`{...}`), ranges and offsets (`[5m]`), grouping label lists (`by (...)`, `on (...)`...) and
 * function calls are removed; every identifier left that is not a PromQL keyword is a metric name.
 */

const KEYWORDS = new Set(['and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset', 'atan2', 'inf', 'nan']);
const GROUPING = /\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g;

/** Metric names in `expr`, in order of first use, each once. */
export function promqlMetricNames(expr: string): string[] {
  const s = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(GROUPING, ' ')
    .replace(/\boffset\s+-?[0-9a-z]+/gi, ' ');
  const out: string[] = [];
  for (const m of s.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const name = m[0];
    const after = s.slice((m.index ?? 0) + name.length).trimStart();
    if (after.startsWith('(')) continue; // a function
    if (KEYWORDS.has(name.toLowerCase())) continue;
    if (!out.includes(name)) out.push(name);
  }
  return out;
}

/**
 * The metric names a Prometheus text exposition defines: `# TYPE` lines and sample names, with a histogram's
 * or summary's `_bucket`, `_sum` and `_count` series counted under both their own and the family's name.
 */
export function exportedMetricNames(text: string): Set<string> {
  const names = new Set<string>();
  const histograms = new Set<string>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)/.exec(line);
    if (type !== null) {
      names.add(type[1] as string);
      if (type[2] === 'histogram' || type[2] === 'summary') histograms.add(type[1] as string);
      continue;
    }
    if (line.startsWith('#') || line.trim() === '') continue;
    const sample = /^([A-Za-z_:][A-Za-z0-9_:]*)/.exec(line);
    if (sample !== null) names.add(sample[1] as string);
  }
  for (const h of histograms) for (const suffix of ['_bucket', '_sum', '_count']) names.add(h + suffix);
  return names;
}
