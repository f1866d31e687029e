// Traffic for docker-compose (and for trying shardline by hand): creates the table with a
// stream if it is missing, then writes PRODUCER_RATE orders per second until stopped.
//   DYNAMODB_ENDPOINT=http://localhost:8000 AWS_REGION=us-east-1 node examples/producer.mjs
import {
  CreateTableCommand,
  DynamoDBClient,
  PutItemCommand,
  ResourceInUseException,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';

const tableName = process.env.PRODUCER_TABLE ?? 'orders';
const rate = Number(process.env.PRODUCER_RATE ?? '5');
const client = new DynamoDBClient({
  endpoint: process.env.DYNAMODB_ENDPOINT,
  region: process.env.AWS_REGION ?? 'us-east-1',
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
while (!stopped) {
  const started = Date.now();
  for (let i = 0; i < rate && !stopped; i++, n++) {
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
