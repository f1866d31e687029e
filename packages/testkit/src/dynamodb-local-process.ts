import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, statSync, accessSync, constants as fsConstants } from 'node:fs';
import { createServer } from 'node:net';
import { ConfigError } from '@shardline/core';

/** How to install a Java runtime, for error messages. */
export const JAVA_ADVICE =
  'install a Java 17+ runtime (Debian/Ubuntu: apt-get install openjdk-17-jre-headless; macOS: brew install openjdk@17) or pass javaHome';

/**
 * The parent-death watchdog for the plain jar, run as `node -e SUPERVISOR_SOURCE java ...args`.
 * The JVM cannot learn by itself that its parent died, and a plain `java -jar` has no hook to
 * ask; this process can: the kernel closes its stdin pipe when the parent exits for any reason
 * (SIGKILL included), and then it stops the JVM (SIGTERM, SIGKILL after a grace period).
 * It is plain JavaScript so it runs under any Node, with no build step and no extra package.
 * The JVM pid is reported on stderr as `shardline-jvm-pid=N` so the owner can check on it.
 */
export const SUPERVISOR_SOURCE = `
const { spawn } = require('node:child_process');
const [command, ...args] = process.argv.slice(1);
const child = spawn(command, args, { stdio: ['ignore', 'inherit', 'inherit'] });
let stopping = false;
function stop() {
  if (stopping) return;
  stopping = true;
  child.kill('SIGTERM');
  setTimeout(() => child.kill('SIGKILL'), 5000).unref();
}
child.on('spawn', () => process.stderr.write('shardline-jvm-pid=' + child.pid + '\\n'));
child.on('error', (err) => {
  process.stderr.write('shardline-spawn-error=' + (err.code || err.message) + '\\n');
  process.exit(127);
});
child.on('exit', (code, signal) => process.exit(code === null ? (stopping ? 0 : 1) : stopping && code === 143 ? 0 : code));
process.stdin.on('end', stop);
process.stdin.on('error', stop);
process.stdin.resume();
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
`;

/** A free TCP port on the loopback interface, chosen by the OS. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port assigned')),
      );
    });
  });
}

/**
 * Fails early, naming the port, when something already listens on it. DynamoDB Local binds
 * every interface, so the probe does too; the JVM's own "Address already in use" is still
 * recognised later for the race where the port is taken in between.
 */
export async function assertPortFree(port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') reject(portInUse(port, err));
      else if (err.code === 'EACCES')
        reject(
          new ConfigError(`port ${port} needs privileges this process lacks: choose a port above 1023`, { cause: err }),
        );
      else reject(err);
    });
    server.listen(port, () => server.close(() => resolve()));
  });
}

export function portInUse(port: number, cause?: unknown): ConfigError {
  return new ConfigError(`port ${port} is already in use: stop what listens there or choose another port`, { cause });
}

/** Creates the directory when missing and checks it can hold database files. */
export function assertWritableDirectory(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
    if (!statSync(dir).isDirectory()) throw new Error('not a directory');
    accessSync(dir, fsConstants.W_OK | fsConstants.X_OK);
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new ConfigError(
      `database directory ${dir} is not writable (${reason}): choose a directory you can write to`,
      { cause: err },
    );
  }
}

export interface SpawnedJvm {
  /** The process we own: the supervisor (plain jar) or the JVM itself (launcher). */
  child: ChildProcess;
  /** Everything the process printed so far, for error messages. */
  output(): string;
  /** Resolves with the JVM pid once known. */
  jvmPid: Promise<number>;
  /** Resolves with the first value the predicate extracts from a stdout line. */
  waitForLine<T>(extract: (line: string) => T | undefined): Promise<T>;
  /** Rejects (with the process output) when the process exits or cannot be started. */
  exited: Promise<never>;
}

/**
 * Spawns `command args` with a stdin pipe that stays open for the life of the owner (closing
 * it is the stop signal), collecting output for diagnostics and forwarding it when asked.
 */
export function spawnJvm(
  command: string,
  args: string[],
  options: { supervised: boolean; javaCommand: string; port: number; forward?: (chunk: string) => void },
): SpawnedJvm {
  const child = options.supervised
    ? spawn(process.execPath, ['-e', SUPERVISOR_SOURCE, command, ...args], { stdio: ['pipe', 'pipe', 'pipe'] })
    : spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  let stdoutLines = '';
  const lineListeners = new Set<(line: string) => void>();
  let resolvePid: (pid: number) => void = () => {};
  const jvmPid = new Promise<number>((resolve) => (resolvePid = resolve));
  if (!options.supervised) child.once('spawn', () => child.pid !== undefined && resolvePid(child.pid));
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
    options.forward?.(chunk);
    stdoutLines += chunk;
    const lines = stdoutLines.split('\n');
    stdoutLines = lines.pop() ?? '';
    for (const line of lines) for (const listener of lineListeners) listener(line);
  });
  // The supervisor's pid line comes first on stderr; hold stderr back until it is complete.
  let stderrHead: string | undefined = options.supervised ? '' : undefined;
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    let rest = chunk;
    if (stderrHead !== undefined) {
      stderrHead += chunk;
      const pid = /shardline-jvm-pid=(\d+)\n/.exec(stderrHead);
      if (!pid && !stderrHead.includes('\n')) return;
      if (pid?.[1]) resolvePid(Number(pid[1]));
      rest = stderrHead.replace(/shardline-jvm-pid=\d+\n/, '');
      stderrHead = undefined;
    }
    output += rest;
    if (rest) options.forward?.(rest);
  });
  // Stop signal is the end of stdin; a write error just means the process already left.
  child.stdin?.on('error', () => undefined);
  const exited = new Promise<never>((_, reject) => {
    child.once('error', (err: NodeJS.ErrnoException) => reject(startFailure(err.code, options, output, err)));
    child.once('exit', (code, signal) => {
      const missing = /shardline-spawn-error=(\w+)/.exec(output)?.[1];
      reject(startFailure(missing, options, output, new Error(`exited with ${signal ?? `code ${code}`}`)));
    });
  });
  exited.catch(() => undefined);
  return {
    child,
    output: () => output,
    jvmPid,
    exited,
    waitForLine<T>(extract: (line: string) => T | undefined) {
      return new Promise<T>((resolve) => {
        const listener = (line: string) => {
          const value = extract(line);
          if (value === undefined) return;
          lineListeners.delete(listener);
          resolve(value);
        };
        lineListeners.add(listener);
      });
    },
  };
}

function startFailure(
  code: string | undefined,
  { javaCommand, port }: { javaCommand: string; port: number },
  output: string,
  cause: Error,
): ConfigError {
  if (code === 'ENOENT')
    return new ConfigError(
      `java is required to run DynamoDB Local, but "${javaCommand}" was not found: ${JAVA_ADVICE}`,
      { cause },
    );
  if (code === 'EACCES') return new ConfigError(`"${javaCommand}" is not executable: ${JAVA_ADVICE}`, { cause });
  if (/Address already in use|BindException/i.test(output)) return portInUse(port, cause);
  const tail = output.trim().split('\n').slice(-5).join(' | ');
  return new ConfigError(`DynamoDB Local ${cause.message}${tail ? `: ${tail}` : ''}`, { cause });
}

/** True once the endpoint answers HTTP (any status: DynamoDB Local answers GET / with 400). */
export async function answersHttp(endpoint: string, timeoutMs = 1000): Promise<boolean> {
  try {
    const response = await fetch(endpoint, { signal: AbortSignal.timeout(timeoutMs) });
    await response.body?.cancel();
    return true;
  } catch {
    return false;
  }
}

/** True while a process with this pid exists (signal 0 probes without sending). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
