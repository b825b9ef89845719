import { loadScenario } from '../harness/run/scenarios.js';
import { runScenarioVirtual } from '../harness/run/run-scenario.js';
import { measure, type Measurement } from './lib.js';

/**
 * burst-1000 in virtual mode, all four policies, as `npm run scenario burst-1000` runs it: wall seconds per run
 * (goal: 20 s or less) and simulated seconds per wall second.
 */
export async function run(): Promise<{ results: Measurement[] }> {
  const scenario = await loadScenario('burst-1000');
  const samples: Array<{ wallMs: number; simulatedMs: number }> = [];
  const once = async (): Promise<{ wallMs: number; simulatedMs: number }> => {
    const r = await runScenarioVirtual({ scenario });
    const s = { wallMs: r.meta.wallMs, simulatedMs: r.meta.simulatedMs };
    samples.push(s);
    return s;
  };
  const wall = await measure('burst-1000 virtual, 4 policies: wall time', 's', async () => (await once()).wallMs / 1000, {
    runs: 3,
    goal: '<= 20 s',
  });
  const speed = await measure(
    'burst-1000 virtual: simulated seconds per wall second',
    'sim s / wall s',
    () => {
      const s = samples.shift();
      if (s === undefined) throw new Error('no sample left');
      return s.simulatedMs / s.wallMs;
    },
    { runs: 3 },
  );
  return { results: [wall, speed] };
}
