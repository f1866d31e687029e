import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach } from 'vitest';

/** Helpers for end-to-end tests that run real `shardline` processes. */

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const FIXTURE_PROCESSOR = fileURLToPath(new URL('./fixtures/record-processor.mjs', import.meta.url));

export interface SeenRecord {
  shardId: string;
  sequenceNumber: string;
  key: string;
  eventName: string;
  item: Record<string, unknown> | null;
  worker: string;
  at: number;
}

export interface CliProcess {
  name: string;
  child: ChildProcess;
  /** Resolves with the exit code (or the signal name). */
  exited: Promise<number | string>;
  output(): string;
}

const live = new Set<CliProcess>();

/** Spawns `shardline <args>` from the TypeScript sources (no build needed). */
export function spawnCli(name: string, args: string[], env: Record<string, string>): CliProcess {
  const child = spawn(
    process.execPath,
    ['--conditions=@shardline/source', '--import', 'tsx', 'apps/shardline/src/cli.ts', ...args],
    {
      cwd: ROOT,
      env: {
        ...process.env,
        SHARDLINE_LOG_LEVEL: process.env.E2E_LOG_LEVEL ?? 'warn',
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')),
  );
  const proc: CliProcess = { name, child, exited, output: () => out };
  live.add(proc);
  void exited.then(() => live.delete(proc));
  return proc;
}

/** Kills whatever is still running (afterEach/afterAll). */
export async function killAll(): Promise<void> {
  const procs = [...live];
  for (const p of procs) p.child.kill('SIGKILL');
  await Promise.all(procs.map((p) => p.exited));
}

export function readSeen(path: string): SeenRecord[] {
  if (!existsSync(path)) return [];
  const lines = readFileSync(path, 'utf8').split('\n');
  // Read while a child process appends: the last line is whole only once its newline is written.
  lines.pop();
  return lines.filter((line) => line.trim() !== '').map((line) => JSON.parse(line) as SeenRecord);
}

/** Polls `predicate` until it holds; fails with `describe()` after `ms`. */
export async function waitFor(predicate: () => boolean, ms: number, describe: () => string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms: ${describe()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export async function waitForAsync(
  predicate: () => Promise<boolean>,
  ms: number,
  describe: () => string,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms: ${describe()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * The set-up every process test file shares: a temporary directory for its outputs (removed
 * after the file), and no `shardline` process outliving a test.
 */
export function processTestFile(prefix: string): { dir: string } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  afterEach(() => killAll());
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return { dir };
}
