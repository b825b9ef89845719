/**
 * The resume log: one JSON line per finished run (`results.jsonl` in the output folder), keyed by the hash of
 * (scenario, duration, policy) and the seed. A sweep started again on the same folder skips every run already
 * logged; a half-written last line from an interrupted sweep is dropped.
 */
import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { TaskRecord } from './task.js';

/** The resume log's file name inside an output folder. */
export const RESULTS_FILE = 'results.jsonl';

function isRecord(v: unknown): v is TaskRecord {
  if (v === null || typeof v !== 'object') return false;
  const r = v as Partial<TaskRecord>;
  return r.v === 1 && typeof r.key === 'string' && typeof r.seed === 'number' && typeof r.summary === 'object' && typeof r.counters === 'object';
}

/** An append-only log of task records. */
export class ResultStore {
  private constructor(
    readonly file: string,
    private readonly records: Map<string, TaskRecord>,
  ) {}

  /** Opens (or creates) the log; lines that do not parse as records are dropped from the file. */
  static async open(file: string): Promise<ResultStore> {
    let text = '';
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    const records = new Map<string, TaskRecord>();
    let dropped = 0;
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      try {
        const r: unknown = JSON.parse(line);
        if (isRecord(r)) records.set(r.key, r);
        else dropped++;
      } catch {
        dropped++;
      }
    }
    await mkdir(dirname(file), { recursive: true });
    if (dropped > 0 || (text !== '' && !text.endsWith('\n'))) {
      await writeFile(file, [...records.values()].map((r) => `${JSON.stringify(r)}\n`).join(''));
    }
    return new ResultStore(file, records);
  }

  /** Records already logged. */
  get size(): number {
    return this.records.size;
  }

  get(key: string): TaskRecord | undefined {
    return this.records.get(key);
  }

  /** Logs a record (one line, appended). */
  async append(r: TaskRecord): Promise<void> {
    this.records.set(r.key, r);
    await appendFile(this.file, `${JSON.stringify(r)}\n`);
  }
}
