import { startDynamoDBLocal, TEST_ENDPOINT_ENV } from '@shardline/testkit';

// One DynamoDB Local for the run; workers inherit the endpoint through the environment.
export default async function setup(): Promise<() => Promise<void>> {
  if (process.env[TEST_ENDPOINT_ENV]) return async () => {};
  const local = await startDynamoDBLocal();
  process.env[TEST_ENDPOINT_ENV] = local.endpoint;
  return () => local.stop();
}
