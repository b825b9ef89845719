import { describe, expect, it } from 'vitest';
import { CliUsageError, faultsFor, faultsForReplica, parseSimArgs, type SimOptions } from './cli-options.js';

const noFiles = (p: string): string => {
  throw new Error(`ENOENT: no such file or directory, open '${p}'`);
};
const files = (m: Record<string, string>) => (p: string): string => {
  const v = m[p];
  if (v === undefined) return noFiles(p);
  return v;
};

function usageError(argv: string[], read = noFiles): string {
  try {
    parseSimArgs(argv, read);
  } catch (err) {
    expect(err).toBeInstanceOf(CliUsageError);
    return (err as Error).message;
  }
  throw new Error(`expected ${JSON.stringify(argv)} to be rejected`);
}

describe('parseSimArgs', () => {
  it('defaults to one loopback model on port 8000', () => {
    const o = parseSimArgs([], noFiles) as SimOptions;
    expect(o).toMatchObject({ port: 8000, host: '127.0.0.1', seed: 1, supervise: false, coldStartMs: 0 });
    expect(o.models).toEqual([{ name: 'primary', profile: 'h100-llama3-8b', label: 'primary=h100-llama3-8b' }]);
  });

  it('--help lists every flag', () => {
    const r = parseSimArgs(['--help'], noFiles);
    expect('help' in r).toBe(true);
    const help = (r as { help: string }).help;
    for (const f of ['--port', '--host', '--model', '--faults', '--rate-limits', '--seed', '--supervise', '--control-token', '--cold-start-ms', '--timeline-offset-ms', '--replicas', '--first-replica']) {
      expect(help).toContain(f);
    }
  });

  it('serves several models, and reads JSON profile overrides and per-model fault files', () => {
    const o = parseSimArgs(
      ['--model', 'primary=h100-llama3-8b', '--model', 'fallback=over.json', '--faults', 'f.json', '--port', '0', '--seed', '42'],
      files({ 'over.json': '{"base":"a100-llama3-8b","kvBlocks":64}', 'f.json': '{"models":{"primary":{"x":1}}}' }),
    ) as SimOptions;
    expect(o.models.map((m) => m.name)).toEqual(['primary', 'fallback']);
    expect(o.models[1]?.profile).toEqual({ base: 'a100-llama3-8b', kvBlocks: 64 });
    expect(o.port).toBe(0);
    expect(o.seed).toBe(42);
    expect(faultsFor(o.faults, 'primary')).toEqual({ x: 1 });
    expect(faultsFor(o.faults, 'fallback')).toBeUndefined();
    expect(faultsFor({ errorRate: 0.1 }, 'fallback')).toEqual({ errorRate: 0.1 });
  });

  it('takes a profile as inline JSON (how the harness passes a scenario\'s profile object to live mocks)', () => {
    const profile = { base: 'a100-llama3-8b', description: 'our GPU = 2 cards', maxNumSeqs: 32 };
    const o = parseSimArgs(['--model', `primary=${JSON.stringify(profile)}`], noFiles) as SimOptions;
    expect(o.models[0]?.profile).toEqual(profile);
    expect(usageError(['--model', 'primary={"base":'])).toContain('--model: expected JSON, got a parse error');
  });

  it('--timeline-offset-ms (set by --supervise on a restart) defaults to 0 and takes a whole number of ms', () => {
    expect((parseSimArgs([], noFiles) as SimOptions).timelineOffsetMs).toBe(0);
    expect((parseSimArgs(['--timeline-offset-ms', '20350'], noFiles) as SimOptions).timelineOffsetMs).toBe(20350);
    expect(usageError(['--timeline-offset-ms', '-1'])).toContain('--timeline-offset-ms: expected an integer from 0 to');
    expect(usageError(['--timeline-offset-ms', '2.5'])).toContain('got "2.5"');
  });

  it('--proxy takes an http(s) base URL and refuses the flags of the simulated GPU', () => {
    const o = parseSimArgs(['--proxy', 'http://127.0.0.1:8000/v1', '--faults', '{"hang":{"probability":0.1}}'], noFiles) as SimOptions;
    expect(o.proxy).toBe('http://127.0.0.1:8000/v1');
    expect(o.faults).toEqual({ hang: { probability: 0.1 } });
    expect(usageError(['--proxy', 'ftp://x'])).toMatch(/^--proxy: expected the http\(s\) base URL .* got "ftp:\/\/x"$/);
    expect(usageError(['--proxy', 'http://x', '--supervise'])).toMatch(/^--supervise: not available with --proxy/);
    expect(usageError(['--proxy', 'http://x', '--model', 'a=fallback'])).toMatch(/^--model: not available with --proxy/);
    expect(usageError(['--proxy', 'http://x', '--rate-limits', '{"rpm":1}'])).toMatch(/^--rate-limits: not available with --proxy/);
  });

  it('accepts inline JSON for --rate-limits', () => {
    const o = parseSimArgs(['--rate-limits', '{"rpm":60}'], noFiles) as SimOptions;
    expect(o.rateLimits).toEqual({ rpm: 60 });
  });

  it('--replicas serves one replica by default, and a replicas map in --faults gives each its own plan', () => {
    expect(parseSimArgs([], noFiles)).toMatchObject({ replicas: 1, firstReplica: 0 });
    const plan = { replicas: { '0': { serverError: { probability: 1 } }, '2': { models: { primary: { stall: { probability: 1 } } } } } };
    const o = parseSimArgs(['--replicas', '3', '--port', '9001', '--faults', JSON.stringify(plan)], noFiles) as SimOptions;
    expect(o).toMatchObject({ replicas: 3, port: 9001, firstReplica: 0 });
    expect(faultsForReplica(o.faults, 0)).toEqual({ serverError: { probability: 1 } });
    expect(faultsForReplica(o.faults, 1)).toBeUndefined();
    expect(faultsFor(faultsForReplica(o.faults, 2), 'primary')).toEqual({ stall: { probability: 1 } });
    // A plan without a replicas map applies to every replica.
    expect(faultsForReplica({ serverError: { probability: 0.5 } }, 5)).toEqual({ serverError: { probability: 0.5 } });
    expect(parseSimArgs(['--replicas', '1', '--first-replica', '2', '--faults', JSON.stringify({ replicas: { '2': {} } })], noFiles)).toMatchObject({ replicas: 1, firstReplica: 2 });
  });

  it('names the bad --replicas, --first-replica or replicas map', () => {
    expect(usageError(['--replicas', '0'])).toBe('--replicas: expected an integer from 1 to 64, got "0"');
    expect(usageError(['--replicas', 'three'])).toBe('--replicas: expected an integer from 1 to 64, got "three"');
    expect(usageError(['--replicas', '3', '--port', '65534'])).toBe('--replicas: expected the ports --port 65534 to 65536 to exist (at most 65535), got --replicas 3');
    expect(usageError(['--replicas', '4', '--first-replica', '62'])).toBe('--first-replica: expected --first-replica + --replicas at most 64, got 62 + 4');
    expect(usageError(['--replicas', '2', '--faults', '{"replicas":{"2":{}}}'])).toBe('--faults: replicas."2": expected a replica index from 0 to 1, got "2"');
    expect(usageError(['--replicas', '2', '--faults', '{"replicas":[{}]}'])).toContain('--faults: replicas: expected an object');
    expect(usageError(['--replicas', '2', '--faults', '{"replicas":{"0":{}},"stall":{}}'])).toBe('--faults: expected only "replicas" beside a replicas map, got "stall"');
    expect(usageError(['--proxy', 'http://127.0.0.1:8000', '--replicas', '2'])).toContain('--replicas: not available with --proxy');
  });

  it('names the bad flag in every error', () => {
    expect(usageError(['--port', 'abc'])).toBe('--port: expected an integer from 0 to 65535, got "abc"');
    expect(usageError(['--port', '65536'])).toBe('--port: expected an integer from 0 to 65535, got "65536"');
    expect(usageError(['--seed', '1.5'])).toContain('--seed: expected an integer');
    expect(usageError(['--cold-start-ms', '-3'])).toContain('--cold-start-ms: expected an integer');
    expect(usageError(['--model', 'nonsense'])).toContain('--model: expected NAME=PROFILE');
    expect(usageError(['--model', 'a=x', '--model', 'a=y'])).toBe('--model: expected unique names, got "a" twice');
    expect(usageError(['--faults', 'missing.json'])).toContain('--faults: cannot read "missing.json"');
    expect(usageError(['--faults', '{oops'])).toContain('--faults: expected JSON');
    expect(usageError(['--control-token', 'short'])).toBe('--control-token: expected at least 8 characters, got 5');
    expect(usageError(['--bogus'])).toContain("unknown option '--bogus'");
    expect(usageError(['--port'])).toContain('--port');
  });
});
