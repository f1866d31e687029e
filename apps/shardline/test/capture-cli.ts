import { vi } from 'vitest';
import { main } from '../src/cli.js';
import type { TestDynamoDB } from '@shardline/testkit';

/** Runs the CLI in-process and returns its exit code and everything it printed. */
export async function captureCli(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => ((stdout += String(chunk)), true));
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => ((stderr += String(chunk)), true));
  try {
    return { code: await main(argv), stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
    process.exitCode = undefined;
  }
}

/**
 * Points an in-process CLI run at the test database (its access key selects the database) for
 * the current test; `vi.unstubAllEnvs()` undoes it. The region stays the command's `--region`.
 */
export function stubDatabaseEnv(db: TestDynamoDB): void {
  vi.stubEnv('AWS_ACCESS_KEY_ID', db.env.AWS_ACCESS_KEY_ID);
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', db.env.AWS_SECRET_ACCESS_KEY);
}
