import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectTestDynamoDB, freePort, startStreamSimulator, type StreamSimulator } from '@shardline/testkit';
import { displayEndpoint, explainStartupError } from '../src/aws-errors.js';
import { cliRunner } from './cli-process.js';

/**
 * No credential or secret value reaches the output: the CLI runs at --log-level debug with
 * recognisable secret values in the environment (AWS keys, session token, an unrelated secret)
 * and in the config file (the endpoints' userinfo), through start-up failures, throttling,
 * an expired iterator, a failing processor and a graceful stop, and everything it printed is
 * scanned for them.
 */
const SECRETS = {
  AWS_ACCESS_KEY_ID: 'AKIASHARDLINESECRET01',
  AWS_SECRET_ACCESS_KEY: 'shardline-secret-access-key-SENTINEL-02',
  AWS_SESSION_TOKEN: 'shardline-session-token-SENTINEL-03',
  DATABASE_PASSWORD: 'shardline-unrelated-secret-SENTINEL-04',
};
const PASSWORD = 'shardline-endpoint-password-SENTINEL-05';
const secretValues = [...Object.values(SECRETS), PASSWORD];
const withUserinfo = (endpoint: string) => endpoint.replace('://', `://shardline-user:${PASSWORD}@`);

const fixtures = fileURLToPath(new URL('./fixtures/', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'shardline-secrets-'));
const children = new Set<ChildProcessWithoutNullStreams>();
const cli = cliRunner(children, 60_000);
const db = connectTestDynamoDB();
let sim: StreamSimulator;

beforeAll(async () => {
  sim = await startStreamSimulator({ shards: 2, seed: 5 });
});
afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  await sim.stop();
  await db.close();
  rmSync(scratch, { recursive: true, force: true });
});

function leaked(output: string): string[] {
  return secretValues.filter((secret) => output.includes(secret));
}

describe('secrets never reach the output', { timeout: 120_000 }, () => {
  it('an endpoint URL is printed without its userinfo', () => {
    expect(displayEndpoint(`http://me:${PASSWORD}@127.0.0.1:8000`)).toBe('http://***@127.0.0.1:8000');
    // A password may itself contain '@': the userinfo ends at the last '@' of the authority.
    expect(displayEndpoint(`http://admin:p@${PASSWORD}@127.0.0.1:8000/x@y`)).toBe('http://***@127.0.0.1:8000/x@y');
    expect(displayEndpoint('https://dynamodb.eu-west-1.amazonaws.com')).toBe(
      'https://dynamodb.eu-west-1.amazonaws.com',
    );
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    const explained = explainStartupError(refused, { dynamodbEndpoint: withUserinfo('http://127.0.0.1:1') });
    expect(String(explained)).toContain('cannot reach http://***@127.0.0.1:1');
    expect(leaked(String(explained))).toEqual([]);
  });

  it('at --log-level debug, through a start-up failure, retries, a failing processor and a graceful stop', async () => {
    // 1. The endpoint is unreachable: the start-up error names it, without its password.
    const closed = await freePort();
    const unreachable = join(scratch, 'unreachable.json');
    writeFileSync(
      unreachable,
      JSON.stringify({
        table: 'orders',
        processor: join(fixtures, 'object.mjs'),
        endpoint: withUserinfo(`http://127.0.0.1:${closed}`),
        requestTimeoutMs: 1_000,
      }),
    );
    const failed = cli(['run', '--config', unreachable, '--log-level', 'debug'], {
      ...SECRETS,
      AWS_REGION: 'us-east-1',
    });
    expect(await failed.exit).not.toBe(0);
    expect(failed.stderr()).toContain(`http://***@127.0.0.1:${closed}`);
    expect(leaked(failed.stdout() + failed.stderr())).toEqual([]);

    // 2. A worker that runs, through throttling, an expired iterator and a failing processor.
    const out = join(scratch, 'processed.txt');
    const config = join(scratch, 'run.json');
    writeFileSync(
      config,
      JSON.stringify({
        streamArn: sim.streamArn,
        processor: join(fixtures, 'flaky.mjs'),
        app: db.uniqueName('secrets'),
        dynamodbEndpoint: withUserinfo(db.endpoint),
        streamsEndpoint: withUserinfo(sim.endpoint),
        idleIntervalMs: 20,
        leaseDurationMs: 3_000,
      }),
    );
    const run = cli(['run', '--config', config, '--log-level', 'debug'], {
      ...SECRETS,
      AWS_REGION: 'us-east-1',
      SHARDLINE_TEST_OUT: out,
    });
    const processed = () => (existsSync(out) ? readFileSync(out, 'utf8').trim().split('\n').filter(Boolean) : []);
    await run.until(() => (run.stdout() + run.stderr()).includes('worker running'), 'the worker running');
    sim.faults.failNext('GetRecords', 3, 'throttle');
    sim.faults.failNext('GetRecords', 1, 'expired');
    for (const key of ['a', 'b', 'boom', 'c', 'd']) sim.put(key, { pk: key, note: 'not a secret' });
    await run.until(() => processed().length >= 5, 'every record processed');
    run.child.kill('SIGTERM');
    expect(await run.exit).toBe(0);
    const output = run.stdout() + run.stderr();
    // The run did go through what it was meant to (so the scan covers those paths).
    expect(output).toMatch(/flaky processor: the first attempt fails/);
    expect(output).toMatch(/"level":20/);
    expect(leaked(output)).toEqual([]);
  });
});
