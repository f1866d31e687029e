import type * as TestkitModule from '@shardline/testkit';
import { UsageError } from './usage-error.js';

/** The test kit's module, as the dev commands use it. */
export type Testkit = typeof TestkitModule;

/** The commands that run on the test kit; `shardline run` and `status` never load it. */
export type TestkitCommand = 'local' | 'simulate' | 'demo';

const TESTKIT = '@shardline/testkit';

/**
 * Loads `@shardline/testkit` for a dev command. The test kit is an optional peer dependency of
 * the CLI (it brings DynamoDB Local's jar and testcontainers, which a production install must not
 * carry), so it is imported here, on first use, and not at start-up: `shardline run` works
 * without it. Absent, it is a usage error (exit 2) naming what to install. Any other failure,
 * including a missing module *inside* an installed test kit, is rethrown as it is.
 */
export async function loadTestkit(
  command: TestkitCommand,
  importTestkit: () => Promise<Testkit> = () => import('@shardline/testkit'),
): Promise<Testkit> {
  try {
    return await importTestkit();
  } catch (err) {
    if (!isTestkitMissing(err)) throw err;
    throw new UsageError(`shardline ${command} needs ${TESTKIT} (a development package): npm i -D ${TESTKIT}`, {
      cause: err,
    });
  }
}

function isTestkitMissing(err: unknown): boolean {
  const { code, message } = err as NodeJS.ErrnoException;
  // Node names the package it could not find; a dependency missing under the test kit names that one.
  return code === 'ERR_MODULE_NOT_FOUND' && typeof message === 'string' && message.includes(`'${TESTKIT}'`);
}
