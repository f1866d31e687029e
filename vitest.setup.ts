import { afterAll } from 'vitest';
// A relative import on purpose: the guard is tiny, and importing @shardline/testkit's index
// would load the AWS SDK into every test file.
import { describeLeaks, settledLeaks, snapshotResources } from './packages/testkit/src/leak-guard.js';

// Leak guard: the baseline is taken before the test file is imported (setup files run first),
// and the check runs after the file's own afterAll hooks (hooks run as a stack: the setup
// file's afterAll, registered first, runs last). A file that leaves a server, socket, child
// process or timer running fails.
const baseline = snapshotResources();

afterAll(async () => {
  if (process.env.SHARDLINE_LEAK_GUARD === 'off') return;
  const leaks = await settledLeaks(baseline);
  if (leaks.length > 0) throw new Error(`leak guard: ${describeLeaks(leaks)}`);
});
