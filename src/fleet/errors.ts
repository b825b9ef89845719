import { HarnessError } from '../errors.js';

/**
 * A fleet's configuration names something that is not there (a route's deployment, a fallback, the default) or
 * repeats a replica id. `path` names the field, like `routes[2].deployment`.
 */
export class FleetConfigError extends HarnessError {
  constructor(readonly path: string, message: string) {
    super('FLEET_CONFIG', `${path}: ${message}`);
  }
}
