/**
 * Large job payloads by reference: a job whose payload (`messages` or `prompt`) is above a size is stored in an
 * object store and the job record keeps only `payloadRef`, so the queue and the job store (Redis) carry small
 * records; whoever runs the job fetches the payload. The store is a small interface; the embedded default is a
 * local directory (shared by the API and the workers on one host, or a mounted volume). An S3/GCS store is the
 * same three methods.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HarnessError, ValidationError } from '../errors.js';
import type { JobRecord, JobSpec } from './job-store.js';

/** An object store for payloads. */
export interface PayloadStore {
  /** Stores `body` under `key` (idempotent: the same key holds the same body) and returns its reference. */
  put(key: string, body: string): Promise<string>;
  /** The body behind a reference from `put`; a PayloadUnavailableError when it is missing or unreadable. */
  get(ref: string): Promise<string>;
}

/** A payload that cannot be fetched (missing, unreadable, or no store configured). */
export class PayloadUnavailableError extends HarnessError {
  constructor(ref: string, why: string) {
    super('PAYLOAD_UNAVAILABLE', `payloadRef ${JSON.stringify(ref)}: ${why}`);
  }
}

const REF = /^local:([0-9a-f]{64})\.json$/;

/** Payloads as files in a directory: `local:<sha256>.json`. Written to a temporary name, then renamed (atomic). */
export class LocalDirPayloadStore implements PayloadStore {
  constructor(readonly dir: string) {
    if (dir.length === 0) throw new ValidationError('payloadDir', 'a directory path', '""');
  }

  async put(key: string, body: string): Promise<string> {
    if (!/^[0-9a-f]{64}$/.test(key)) throw new ValidationError('key', 'a sha256 hex digest', key);
    await mkdir(this.dir, { recursive: true });
    const file = join(this.dir, `${key}.json`);
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, body);
    await rename(tmp, file);
    return `local:${key}.json`;
  }

  async get(ref: string): Promise<string> {
    const m = REF.exec(ref);
    if (m === null) throw new PayloadUnavailableError(ref, 'expected a reference like local:<sha256>.json');
    try {
      return await readFile(join(this.dir, `${m[1] as string}.json`), 'utf8');
    } catch (e) {
      throw new PayloadUnavailableError(ref, `cannot read it from ${this.dir} (${e instanceof Error ? e.message : String(e)})`);
    }
  }
}

/** Where large payloads go, and from what size. */
export interface PayloadOptions {
  readonly store: PayloadStore;
  /** Payloads larger than this (bytes of their JSON) are stored by reference. @default 262_144 (256 KiB) */
  readonly thresholdBytes?: number;
}

/** The payload fields of a spec, as stored. */
interface Payload {
  readonly messages?: JobSpec['messages'];
  readonly prompt?: string;
}

/** The spec with a payload above the threshold moved to the store (content-addressed: same payload, same ref). */
export async function externalizePayload(spec: JobSpec, o: PayloadOptions): Promise<JobSpec> {
  const payload: Payload = { ...(spec.messages !== undefined ? { messages: spec.messages } : {}), ...(spec.prompt !== undefined ? { prompt: spec.prompt } : {}) };
  const body = JSON.stringify(payload);
  if (Buffer.byteLength(body) <= (o.thresholdBytes ?? 262_144)) return spec;
  const ref = await o.store.put(createHash('sha256').update(body).digest('hex'), body);
  const { messages: _m, prompt: _p, ...rest } = spec;
  return { ...rest, payloadRef: ref };
}

/** The record with its payload fetched back into the spec (the record itself when it has no `payloadRef`). */
export async function withPayload(rec: JobRecord, store: PayloadStore | undefined): Promise<JobRecord> {
  const ref = rec.spec.payloadRef;
  if (ref === undefined) return rec;
  if (store === undefined) throw new PayloadUnavailableError(ref, 'this process has no payload store (worker --payload-dir)');
  let payload: Payload;
  try {
    payload = JSON.parse(await store.get(ref)) as Payload;
  } catch (e) {
    if (e instanceof PayloadUnavailableError) throw e;
    throw new PayloadUnavailableError(ref, `not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  return { ...rec, spec: { ...rec.spec, ...(payload.messages !== undefined ? { messages: payload.messages } : {}), ...(payload.prompt !== undefined ? { prompt: payload.prompt } : {}) } };
}
