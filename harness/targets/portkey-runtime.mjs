// Preloaded into the Portkey gateway process (`NODE_OPTIONS=--import <this file>`) by harness/targets/portkey.ts.
// It changes nothing in the gateway's routing, retry or fallback logic. It does three things:
//
// 1. Loopback only. start-server.js calls serve({ fetch, port }) with no hostname, so it listens on every interface.
//    Here a listen() with a port and no host gets 127.0.0.1.
//
// 2. Portkey's own async-retry patch. The gateway's repository applies patches/async-retry+1.3.3.patch (patch-package),
//    which passes the retry operation to the callback as its third argument: `fn(bail, num, op)`. The npm build imports
//    plain async-retry 1.3.3 and does not ship that patch. Without it, `retry.use_retry_after_header` throws
//    "Cannot set properties of undefined (setting '_timeouts')" on the first 429 that carries a Retry-After header: the
//    header is ignored, the request backs off exponentially instead, and once the retries run out it ends with a 500
//    rather than the 429. Here the CommonJS source is patched as it loads, the same one-line change as in their repository.
//
// 3. Mutable upstream response headers. With @hono/node-server newer than 1.14.2 (npm installs 1.19.x for "^1.3.3"),
//    streamed answers fail with "TypeError: immutable" in ResponseService.updateHeaders (Portkey-AI/gateway#1389). The
//    gateway's own lockfile pins an older version. Here the gateway's global fetch hands back responses whose headers
//    are copies, so the gateway can add its x-portkey-* headers.
//
// One line on stderr says each patch is in place. The harness reads those lines and refuses to run without them.
import Module from 'node:module';
import net from 'node:net';

const LOOPBACK = '127.0.0.1';
const originalListen = net.Server.prototype.listen;
net.Server.prototype.listen = function listenOnLoopback(...args) {
  if (typeof args[0] === 'number') {
    if (args.length === 1 || typeof args[1] === 'function') args.splice(1, 0, LOOPBACK);
    else if (args[1] === undefined || args[1] === null) args[1] = LOOPBACK;
  }
  return originalListen.apply(this, args);
};
process.stderr.write('portkey-runtime: listen() defaults to 127.0.0.1\n');

const RETRY_FILE = /[\\/]async-retry[\\/]lib[\\/]index\.js$/;
const UNPATCHED_CALL = 'val = fn(bail, num);';
const originalCompile = Module.prototype._compile;
Module.prototype._compile = function compileWithPortkeyPatch(content, filename) {
  if (typeof filename === 'string' && RETRY_FILE.test(filename) && typeof content === 'string' && content.includes(UNPATCHED_CALL)) {
    content = content.replace(UNPATCHED_CALL, 'val = fn(bail, num, op);');
    process.stderr.write('portkey-runtime: async-retry passes its operation (patches/async-retry+1.3.3.patch)\n');
  }
  return originalCompile.call(this, content, filename);
};

const originalFetch = globalThis.fetch;
const NativeResponse = globalThis.Response;
globalThis.fetch = async function fetchWithMutableHeaders(...args) {
  const res = await originalFetch(...args);
  return new NativeResponse(res.body, { status: res.status, statusText: res.statusText, headers: new Headers(res.headers) });
};
process.stderr.write('portkey-runtime: upstream response headers are mutable (Portkey-AI/gateway#1389)\n');
