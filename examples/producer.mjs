// Traffic for docker-compose (and for trying shardline by hand): creates the table with a
// stream if it is missing, then writes PRODUCER_RATE orders per second until stopped.
//   DYNAMODB_ENDPOINT=http://localhost:8000 node examples/producer.mjs
// (PRODUCER_TABLE, default orders; PRODUCER_RATE writes/s, default 5; PRODUCER_COUNT stops after n.)
import {
  CreateTableCommand,
  DynamoDBClient,
  PutItemCommand,
  ResourceInUseException,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';

// The AWS SDK's multi-line Node version notice (Node 20) is for library users; this example keeps
// its output to what it does. Set the variable to false to see the notice.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const tableName = process.env.PRODUCER_TABLE ?? 'orders';
const rate = Number(process.env.PRODUCER_RATE ?? '5');
const count = process.env.PRODUCER_COUNT ? Number(process.env.PRODUCER_COUNT) : Infinity;
const endpoint = process.env.DYNAMODB_ENDPOINT;
// DynamoDB Local checks no signature, but the SDK will not send a request without credentials:
// against an endpoint of this machine, with none in the shell, use the ones `shardline local` prints.
const local = endpoint !== undefined && /^https?:\/\/(localhost|127\.[\d.]+|\[::1\])(:|\/|$)/.test(endpoint);
const credentials =
  local && !process.env.AWS_ACCESS_KEY_ID && !process.env.AWS_PROFILE
    ? { accessKeyId: 'local', secretAccessKey: 'local' }
    : undefined;
const client = new DynamoDBClient({
  endpoint,
  region: process.env.AWS_REGION ?? 'us-east-1',
  credentials,
});

try {
  await client.send(
    new CreateTableCommand({
      TableName: tableName,
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
      StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' },
    }),
  );
  console.log(`created table ${tableName} with a NEW_AND_OLD_IMAGES stream`);
} catch (err) {
  if (!(err instanceof ResourceInUseException)) throw err;
}
await waitUntilTableExists({ client, maxWaitTime: 60 }, { TableName: tableName });

let stopped = false;
for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => (stopped = true));
let n = 0;
console.log(`writing ${rate} orders/s to ${tableName}`);
while (!stopped && n < count) {
  const started = Date.now();
  for (let i = 0; i < rate && !stopped && n < count; i++, n++) {
    const customer = `customer-${n % 20}`;
    await client.send(
      new PutItemCommand({
        TableName: tableName,
        Item: {
          pk: { S: `order-${n % 200}` },
          customer: { S: customer },
          total: { N: String((n % 97) + 1) },
          writtenAt: { N: String(Date.now()) },
        },
      }),
    );
  }
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, 1000 - (Date.now() - started))));
}
client.destroy();
console.log(`stopped after ${n} writes`);
