/**
 * Tenants are identified by Bearer API keys. `open` accepts any request: the tenant is the key when one is
 * given, else `anonymous` (so keys still separate jobs, but nothing is secret).
 */
import { z } from 'zod';
import { ValidationError } from '../errors.js';

/** One API key and its tenant. */
export interface TenantKey {
  readonly apiKey: string;
  readonly tenant: string;
}

/** The key table, or `open`. */
export type TenantsConfig = readonly TenantKey[] | 'open';

/** The result of authenticating one request. */
export type AuthResult = { readonly tenant: string } | { readonly error: 'missing' | 'unknown' | 'malformed' };

const tenantsFileSchema = z.array(
  z.strictObject({
    apiKey: z.string().min(8).max(512),
    tenant: z.string().min(1).max(128).regex(/^[A-Za-z0-9._:-]+$/),
  }),
).min(1);

/**
 * Parses a tenants file: a JSON array of `{ "apiKey", "tenant" }` (keys of 8+ characters, each used once).
 * Throws a ValidationError naming the entry, e.g. `tenants[2].apiKey: expected ...`.
 */
export function parseTenants(json: unknown): TenantKey[] {
  const r = tenantsFileSchema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0];
    const path = `tenants${(issue?.path ?? []).map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('')}`;
    throw new ValidationError(path, issue?.message ?? 'a valid tenants list', undefined);
  }
  const seen = new Set<string>();
  r.data.forEach((t, i) => {
    if (seen.has(t.apiKey)) throw new ValidationError(`tenants[${i}].apiKey`, 'a key not used by an earlier entry', '(a duplicate key)');
    seen.add(t.apiKey);
  });
  return r.data;
}

/** Maps `Authorization: Bearer <key>` to a tenant. */
export class TenantAuth {
  private readonly byKey: ReadonlyMap<string, string> | undefined;

  constructor(config: TenantsConfig) {
    this.byKey = config === 'open' ? undefined : new Map(config.map((t) => [t.apiKey, t.tenant]));
  }

  get open(): boolean {
    return this.byKey === undefined;
  }

  authenticate(authorization: string | undefined): AuthResult {
    if (authorization === undefined || authorization.trim() === '') return this.byKey === undefined ? { tenant: 'anonymous' } : { error: 'missing' };
    const m = /^Bearer[ ]+(\S{1,512})\s*$/i.exec(authorization);
    if (m === null) return { error: 'malformed' };
    const key = m[1] as string;
    if (this.byKey === undefined) return { tenant: key };
    const tenant = this.byKey.get(key);
    return tenant === undefined ? { error: 'unknown' } : { tenant };
  }
}
