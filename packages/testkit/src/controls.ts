import { ConfigError } from '@shardline/core';

/** The environment variable through which the Vitest global setup hands out the control URL. */
export const TEST_CONTROLS_ENV = 'SHARDLINE_TEST_CONTROLS';

/**
 * Which DynamoDB Local database a control acts on. DynamoDB Local keeps one database per
 * (access key, region) — or a single one with `-sharedDb` — and its test hooks work per
 * database. Without a target a control acts on every database of the server, which also
 * disturbs other test files running against the same server at the same time.
 */
export interface ControlTarget {
  credentials: { accessKeyId: string };
  region: string;
}

/** DynamoDB Local's test hooks, reached through the testkit launcher's control port. */
export interface DynamoDBLocalControls {
  /**
   * `triggerShardRollovers()`: every open shard closes (it gets an `EndingSequenceNumber`) and a
   * child shard whose `ParentShardId` names it takes the new records.
   */
  rollover(target?: ControlTarget): Promise<void>;
  /**
   * `dilateEventTimes(ms)`: stored stream events age by `ms`, which drives DynamoDB Local's
   * age-based shard rollover and trimming (records older than 24 h). Note: DynamoDB Local
   * treats every shard iterator issued before any dilation as expired, whatever `ms` is.
   */
  advanceTime(ms: number, target?: ControlTarget): Promise<void>;
  /** The database keys the server holds (`<accessKeyId>_<region>`, or `shared-local-instance`). */
  databases(): Promise<string[]>;
}

/** The database key DynamoDB Local uses for a credential and region. */
export function databaseKey(target: ControlTarget): string {
  return `${target.credentials.accessKeyId}_${target.region}`;
}

/** A client for the control port at `url` (e.g. `http://127.0.0.1:40123`). */
export function controlsClient(url: string): DynamoDBLocalControls {
  const call = async (
    method: 'GET' | 'POST',
    path: string,
    params: Record<string, string> = {},
  ): Promise<{ databases: string[] }> => {
    const query = new URLSearchParams(params).toString();
    let response: Response;
    try {
      response = await fetch(`${url}${path}${query ? `?${query}` : ''}`, {
        method,
        signal: AbortSignal.timeout(30_000),
      });
    } catch (err) {
      throw new ConfigError(`DynamoDB Local controls at ${url} did not answer: is the server still running?`, {
        cause: err,
      });
    }
    const body = (await response.json()) as { databases?: string[]; error?: string };
    if (!response.ok) throw new ConfigError(`DynamoDB Local control ${path} failed: ${body.error ?? response.status}`);
    return { databases: body.databases ?? [] };
  };
  const scope = (target?: ControlTarget): Record<string, string> => (target ? { database: databaseKey(target) } : {});
  return {
    async rollover(target) {
      await call('POST', '/rollover', scope(target));
    },
    async advanceTime(ms, target) {
      if (!Number.isSafeInteger(ms) || ms <= 0)
        throw new ConfigError(`advanceTime(ms) needs a positive integer, got ${String(ms)}`);
      await call('POST', '/advance-time', { ms: String(ms), ...scope(target) });
    },
    async databases() {
      return (await call('GET', '/databases')).databases;
    },
  };
}

/**
 * The test backend's controls, when it has them (the embedded jar started with a JDK at hand);
 * `undefined` otherwise (container or external endpoint, or no javac), so a test can skip.
 * Pass the test's database (`connectTestDynamoDB()`) to scope the controls to it: unscoped
 * controls act on every test file's database at once.
 */
export function testDynamoDBControls(
  database?: ControlTarget,
  url = process.env[TEST_CONTROLS_ENV],
): { rollover(): Promise<void>; advanceTime(ms: number): Promise<void> } | undefined {
  if (!url) return undefined;
  const client = controlsClient(url);
  return {
    rollover: () => client.rollover(database),
    advanceTime: (ms) => client.advanceTime(ms, database),
  };
}
