// Worker-thread entry: loader hooks are not inherited by worker threads on Node 20 (`execArgv: ['--import', 'tsx']`
// fails with ERR_UNKNOWN_FILE_EXTENSION there), so register tsx in this thread, then load the TypeScript worker.
import { register } from 'tsx/esm/api';

register();
await import('./worker.ts');
