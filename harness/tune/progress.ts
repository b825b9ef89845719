/**
 * Sweep progress on stderr: a bar with an ETA on an interactive terminal, one line per finished configuration
 * otherwise (CI logs). The CLI owns it; the sweep only emits events.
 */
import cliProgress from 'cli-progress';
import { RealClock } from '../../src/time/real-clock.js';
import { fmtMs, fmtNum } from '../report/format.js';
import { configLabel } from './space.js';
import type { SweepEvent } from './sweep.js';
import { checkSlo } from './slo.js';
import type { Threshold } from '../measure/types.js';

/** A progress reporter fed with sweep events. */
export interface TuneProgress {
  onEvent(e: SweepEvent): void;
  /** Prints a free line without breaking the bar. */
  log(line: string): void;
  stop(): void;
}

const SCALE = 1000;

/** `1m 05s`, `42 s`. */
export function fmtEta(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '?';
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s` : `${s} s`;
}

/**
 * @param nominalMs the arrival window: a run's simulated time usually goes a little past it.
 * @param slo to say on each line whether a configuration met it.
 */
export function createTuneProgress(nominalMs: number, slo: readonly Threshold[], quiet: boolean, tty = process.stderr.isTTY === true): TuneProgress {
  if (quiet) return { onEvent: () => undefined, log: () => undefined, stop: () => undefined };
  const clock = new RealClock();
  const inFlight = new Map<string, number>();
  let total = 0;
  let done = 0;
  let resumed = 0;
  const eta = (): string => {
    const ran = done - resumed;
    if (ran <= 0) return '?';
    return fmtEta((clock.now() / ran) * (total - done));
  };

  if (!tty) {
    return {
      onEvent: (e) => {
        if (e.type === 'start') {
          total = e.runs;
          done = resumed = e.resumed;
          process.stderr.write(`tune: ${plural(e.configs, 'configuration')} × ${plural(e.runs / Math.max(1, e.configs), 'seed')} = ${plural(e.runs, 'run')}${e.resumed > 0 ? ` (${e.resumed} resumed from the log)` : ''}\n`);
        } else if (e.type === 'run-done') {
          done = e.done;
        } else if (e.type === 'config-done') {
          const meets = e.records.every((r) => checkSlo(r.summary, slo).every((c) => c.pass));
          const r0 = e.records[0]!;
          const s = r0.summary;
          const seeds = e.records.length > 1 ? ` (seed ${r0.seed} of ${e.records.length})` : '';
          process.stderr.write(
            `  [${e.done}/${e.total}] ${configLabel(e.config.assignments)}: ${meets ? 'meets SLO' : 'misses SLO'} · goodput ${fmtNum(s.goodputPerSec, 2)}/s · TTFT p99 ${fmtMs(s.ttftMs.p99)} · E2E p99 ${fmtMs(s.e2eMs.p99)}${seeds}${done > resumed ? ` · ETA ${eta()}` : ' (resumed)'}\n`,
          );
        }
      },
      log: (line) => process.stderr.write(`${line}\n`),
      stop: () => undefined,
    };
  }
  const bar = new cliProgress.SingleBar(
    { format: '  {bar} {percentage}% | {runsDone}/{runsTotal} runs | ETA {eta_formatted} | {last}', stream: process.stderr, hideCursor: true, clearOnComplete: true, etaBuffer: 20 },
    cliProgress.Presets.shades_classic,
  );
  let last = '';
  let started = false;
  const value = (): number => done * SCALE + [...inFlight.values()].reduce((s, ms) => s + Math.min(0.99, ms / nominalMs) * SCALE, 0);
  const payload = (): Record<string, string | number> => ({ runsDone: done, runsTotal: total, last });
  return {
    onEvent: (e) => {
      if (e.type === 'start') {
        total = e.runs;
        done = resumed = e.resumed;
        // Nothing left to run (all resumed): no bar, whose ETA would be undefined.
        if (done < total) {
          bar.start(total * SCALE, done * SCALE, payload());
          started = true;
        }
        return;
      }
      if (!started) return;
      if (e.type === 'progress') inFlight.set(e.key, e.simulatedMs);
      else if (e.type === 'run-done') {
        inFlight.delete(e.record.key);
        done = e.done;
      } else if (e.type === 'config-done') {
        last = `${configLabel(e.config.assignments)}: goodput ${fmtNum(e.records[0]!.summary.goodputPerSec, 2)}/s`;
      }
      bar.update(value(), payload());
    },
    log: (line) => {
      if (started) bar.stop();
      started = false;
      process.stderr.write(`${line}\n`);
    },
    stop: () => {
      if (started) bar.stop();
      started = false;
    },
  };
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
