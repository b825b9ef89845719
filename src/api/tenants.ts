/**
 * Tenants are identified by Bearer API keys. `open` accepts any request: the tenant is the key when one is
 * given, else `anonymous` (so keys still separate jobs, but nothing is secret).
 */
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

/**
 * Validates a tenants list: a JSON array of `{ "apiKey", "tenant" }` (keys of 8 to 512 visible characters, each
 * used once; tenant names of letters, digits and `._:-`). Throws a ValidationError naming the entry, e.g.
 * `tenants[2].apiKey: expected ...`.
 */
export function parseTenants(json: unknown): TenantKey[] {
  if (!Array.isArray(json) || json.length === 0) throw new ValidationError('tenants', 'a non-empty array of {"apiKey", "tenant"}', json);
  const seen = new Set<string>();
  return json.map((entry: unknown, i) => {
    const at = `tenants[${i}]`;
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) throw new ValidationError(at, 'an object {"apiKey", "tenant"}', entry);
    const { apiKey, tenant, ...rest } = entry as Record<string, unknown>;
    const extra = Object.keys(rest)[0];
    if (extra !== undefined) throw new ValidationError(`${at}.${extra}`, 'no such field (only apiKey and tenant)', rest[extra]);
    if (typeof apiKey !== 'string' || !/^[\x21-\x7e]{8,512}$/.test(apiKey)) throw new ValidationError(`${at}.apiKey`, 'a string of 8 to 512 visible ASCII characters', typeof apiKey === 'string' ? `(${apiKey.length} characters)` : apiKey);
    if (typeof tenant !== 'string' || !/^[A-Za-z0-9._:-]{1,128}$/.test(tenant)) throw new ValidationError(`${at}.tenant`, 'a name of 1 to 128 letters, digits or ._:-', tenant);
    if (seen.has(apiKey)) throw new ValidationError(`${at}.apiKey`, 'a key not used by an earlier entry', '(a duplicate key)');
    seen.add(apiKey);
    return { apiKey, tenant };
  });
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
