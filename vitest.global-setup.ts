import { ShardlineError } from '@shardline/core';
import { startTestBackend, TEST_BACKEND_ENV, TEST_CONTROLS_ENV, TEST_ENDPOINT_ENV } from '@shardline/testkit';

/**
 * One DynamoDB backend for the whole run (embedded jar by default, a container with
 * SHARDLINE_TEST_BACKEND=container, or SHARDLINE_TEST_ENDPOINT). Test workers are spawned after
 * this runs and inherit the endpoint, and the control URL when the backend has controls,
 * through the environment (see connectTestDynamoDB() and testDynamoDBControls()).
 */
export default async function setup(): Promise<() => Promise<void>> {
  let backend;
  try {
    backend = await startTestBackend({
      backend: process.env[TEST_BACKEND_ENV],
      endpoint: process.env[TEST_ENDPOINT_ENV],
      controlUrl: process.env[TEST_CONTROLS_ENV],
    });
  } catch (err) {
    if (!(err instanceof ShardlineError)) throw err;
    // A configuration problem (no Docker, no Java): one line, not a stack trace.
    process.stderr.write(`\nshardline tests: ${err.message}\n\n`);
    process.exit(2);
  }
  process.env[TEST_ENDPOINT_ENV] = backend.endpoint;
  if (backend.controlUrl) process.env[TEST_CONTROLS_ENV] = backend.controlUrl;
  else delete process.env[TEST_CONTROLS_ENV];
  process.stdout.write(`${backend.summary}\n`);
  return () => backend.stop();
}
