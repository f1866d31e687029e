/** Exit code for bad input (unknown flags, bad values, missing files). */
export const EXIT_USAGE = 2;

/** Bad input from the command line or environment: printed as one line, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
