export { startDynamoDBLocal, dynamoDBLocalHome, freePort, type StartDynamoDBLocalOptions, type DynamoDBLocalHandle } from './dynamodb-local.js';
export { connectTestDynamoDB, TEST_ENDPOINT_ENV, type TestDynamoDB } from './test-dynamodb.js';
