/**
 * Completion callbacks: a job's result is POSTed to its `callbackUrl`, which must be on the configured host
 * allowlist (so the service cannot be used to reach arbitrary hosts). Delivery (src/jobs/callback-sender.ts)
 * is bounded: a few attempts, each with a timeout, with exponential backoff on the Clock between them.
 */
import { describe } from '../errors.js';
import { badField } from './api-errors.js';

/**
 * Checks `callbackUrl` against the allowlist: an http(s) URL without credentials whose host (`name` or
 * `name:port`, as listed) is on it. Returns the 400 to send, or undefined when it is allowed.
 */
export function checkCallbackUrl(url: string, allowlist: readonly string[]) {
  const field = 'callbackUrl';
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return badField(field, 'an absolute http(s) URL', describe(url));
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return badField(field, 'an http or https URL', JSON.stringify(u.protocol));
  if (u.username !== '' || u.password !== '') return badField(field, 'a URL without credentials', 'a URL with user info');
  const host = u.hostname.toLowerCase();
  const hostPort = u.host.toLowerCase();
  if (!allowlist.some((a) => a === host || a === hostPort)) {
    const allowed = allowlist.length === 0 ? 'no hosts are allowed (no --callback-allowlist)' : `one of ${allowlist.join(', ')}`;
    return badField(field, `a URL whose host is on the callback allowlist: ${allowed}`, JSON.stringify(hostPort));
  }
  return undefined;
}

