import { HarnessError } from '../errors.js';

/** A store lookup of an unknown job. */
export class JobNotFoundError extends HarnessError {
  constructor(id: string) {
    super('JOB_NOT_FOUND', `job: expected an existing job id, got ${JSON.stringify(id)}`);
  }
}
