/** Test helpers for scenario validation (test-only: the package build leaves *testkit* files out). */
import { expect } from 'vitest';
import { ValidationError } from '../src/errors.js';
import { validateScenario } from './scenario.js';

/** The message of the ValidationError `validateScenario(input)` throws; fails the test when it does not throw one. */
export function validationMessage(input: unknown): string {
  try {
    validateScenario(input);
  } catch (e) {
    expect(e).toBeInstanceOf(ValidationError);
    return (e as Error).message;
  }
  throw new Error('expected a ValidationError');
}
