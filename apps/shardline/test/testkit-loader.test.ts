import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTestkit, type Testkit } from '../src/testkit.js';
import { UsageError } from '../src/usage-error.js';
import { repoRoot } from './cli-process.js';

const missing = (name: string) =>
  Object.assign(new Error(`Cannot find package '${name}' imported from /app/apps/shardline/dist/testkit.js`), {
    code: 'ERR_MODULE_NOT_FOUND',
  });

describe('loadTestkit', () => {
  it('turns a missing @shardline/testkit into one usage line naming what to install', async () => {
    const err: unknown = await loadTestkit('local', () => Promise.reject(missing('@shardline/testkit'))).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).message).toBe(
      'shardline local needs @shardline/testkit (a development package): npm i -D @shardline/testkit',
    );
  });

  it('rethrows a module missing inside an installed test kit, and any other failure, as it is', async () => {
    const inner = missing('testcontainers');
    await expect(loadTestkit('demo', () => Promise.reject(inner))).rejects.toBe(inner);
    const other = new SyntaxError('Unexpected token');
    await expect(loadTestkit('simulate', () => Promise.reject(other))).rejects.toBe(other);
  });

  it('loads the test kit when it is installed', async () => {
    const testkit: Testkit = await loadTestkit('simulate');
    expect(typeof testkit.startStreamSimulator).toBe('function');
  });
});

// The CLI as a production install has it: its `dependencies` only, no test kit to resolve.
describe('the CLI without @shardline/testkit', () => {
  const app = join(repoRoot, 'apps/shardline');
  const scratch = mkdtempSync(join(tmpdir(), 'shardline-no-testkit-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));
  const manifest = JSON.parse(readFileSync(join(app, 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
  };
  cpSync(join(app, 'package.json'), join(scratch, 'package.json'));
  cpSync(join(app, 'src'), join(scratch, 'src'), { recursive: true });
  for (const name of Object.keys(manifest.dependencies)) {
    const link = join(scratch, 'node_modules', name);
    mkdirSync(dirname(link), { recursive: true });
    symlinkSync(realpathSync(join(repoRoot, 'node_modules', name)), link);
  }
  interface Result {
    status: number | null;
    stdout: string;
    stderr: string;
  }
  const cli = (args: string[]) =>
    new Promise<Result>((resolve) => {
      execFile(
        process.execPath,
        ['--conditions=@shardline/source', '--import', import.meta.resolve('tsx'), 'src/cli.ts', ...args],
        { cwd: scratch, encoding: 'utf8', env: { ...process.env, SHARDLINE_LOG_LEVEL: '' } },
        (err, stdout, stderr) =>
          resolve({ status: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr }),
      );
    });
  // The processes start at once: each spends seconds compiling the CLI.
  const commands = ['local', 'simulate --port 0', 'demo', 'run --help'];
  const results = new Map<string, Result>();
  beforeAll(async () => {
    await Promise.all(commands.map(async (command) => results.set(command, await cli(command.split(' ')))));
  });

  it.each(['local', 'simulate --port 0', 'demo'])('`shardline %s` exits 2 with one line', (command) => {
    const name = command.split(' ')[0] ?? command;
    const result = results.get(command);
    expect(result?.stderr).toBe(
      `shardline: shardline ${name} needs @shardline/testkit (a development package): npm i -D @shardline/testkit\n`,
    );
    expect(result?.status).toBe(2);
  });

  it('`shardline run` loads without it', () => {
    const result = results.get('run --help');
    expect(result?.stderr).toBe('');
    expect(result?.stdout).toContain('Usage: shardline run');
    expect(result?.status).toBe(0);
  });
});
