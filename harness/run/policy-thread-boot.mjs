// Worker-thread entry from source: loader hooks are not inherited by worker threads on Node 20, so register tsx in
// this thread, then load the TypeScript worker (the compiled package runs policy-thread.js directly).
import { register } from 'tsx/esm/api';

register();
await import('./policy-thread.ts');
