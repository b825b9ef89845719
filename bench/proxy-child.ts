/**
 * The chaos proxy under benchmark (bench/proxy.bench.ts), in a process of its own so its CPU and memory are its
 * alone. Started with fork() and the upstream URL as its argument; sends `{ url }` once listening, then answers each
 * `'stats'` message with its CPU time and memory (resident set now and at its peak).
 */
import { ChaosProxy } from '../sim/proxy-server.js';

const proxy = await ChaosProxy.start({ upstreamUrl: process.argv[2] ?? '', port: 0 });
process.on('message', (m) => {
  if (m === 'stats') {
    const cpu = process.cpuUsage();
    const mem = process.memoryUsage();
    process.send?.({ cpuUs: cpu.user + cpu.system, rssBytes: mem.rss, maxRssBytes: process.resourceUsage().maxRSS * 1024, heapUsedBytes: mem.heapUsed, counters: proxy.faults.counters });
  } else if (m === 'close') {
    void proxy.close().then(() => process.exit(0));
  }
});
process.send?.({ url: proxy.url });
