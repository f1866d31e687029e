import { ConfigError } from './errors.js';

/**
 * Small checks for `resolveOptions()` functions. Each package keeps its own `DEFAULTS`
 * (`satisfies` its resolved shape) and resolve function; these make the messages uniform:
 * what was wrong, what was given, and what to do.
 */

export function positiveInteger(name: string, value: unknown, advice = ''): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw new ConfigError(`${name} must be a positive integer, got ${describe(value)}${advice ? `; ${advice}` : ''}`);
  }
  return value;
}

export function nonNegativeInteger(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new ConfigError(`${name} must be an integer >= 0, got ${describe(value)}`);
  }
  return value;
}

export function integerInRange(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be an integer from ${min} to ${max}, got ${describe(value)}`);
  }
  return value;
}

export function oneOf<T extends string>(name: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new ConfigError(`${name} must be one of ${allowed.join(', ')}, got ${describe(value)}`);
  }
  return value as T;
}

export function nonEmptyString(name: string, value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new ConfigError(`${name} must be a non-empty string, got ${describe(value)}`);
  }
  return value;
}

/** Throws a ConfigError with advice when a cross-field rule is broken. */
export function requireThat(condition: boolean, message: string): void {
  if (!condition) throw new ConfigError(message);
}

/** Rejects option keys the caller does not know: a typo must not silently use a default. */
export function rejectUnknownKeys(what: string, given: object, known: readonly string[]): void {
  const unknown = Object.keys(given).filter((key) => !known.includes(key));
  if (unknown.length > 0) {
    throw new ConfigError(
      `unknown ${what} option${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')} (known: ${known.join(', ')})`,
    );
  }
}

export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined)
    return String(value);
  try {
    return JSON.stringify(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}
