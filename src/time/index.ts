export type { Clock, Timer } from './clock.js';
export { RealClock } from './real-clock.js';
export { VirtualClock, DeadlockError, EventLimitError } from './virtual-clock.js';
export type { VirtualClockOptions } from './virtual-clock.js';
