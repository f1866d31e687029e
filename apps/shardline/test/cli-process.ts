import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));

export interface CliProcess {
  child: ChildProcessWithoutNullStreams;
  /** Resolves with the exit code once the process closed its streams. */
  exit: Promise<number | null>;
  /** Polls `predicate` until it holds; throws with the output when the deadline passes or the process exits first. */
  until(predicate: () => boolean | Promise<boolean>, what: string, timeoutMs?: number): Promise<void>;
  stdout(): string;
  stderr(): string;
}

/**
 * Spawns the `shardline` CLI as a user runs it, from the TypeScript sources. Every process
 * started here is tracked in `children`, so a file's afterAll can kill what a failed test left.
 */
export function cliRunner(
  children: Set<ChildProcessWithoutNullStreams>,
  defaultTimeoutMs = 20_000,
): (args: string[], env?: Record<string, string>) => CliProcess {
  return (args, env = {}) => {
    const child = spawn(
      process.execPath,
      ['--conditions=@shardline/source', '--import', 'tsx', 'apps/shardline/src/cli.ts', ...args],
      {
        cwd: repoRoot,
        env: { ...process.env, SHARDLINE_LOG_LEVEL: '', ...env },
      },
    );
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const exit = new Promise<number | null>((resolve) =>
      child.once('close', (code) => {
        children.delete(child);
        resolve(code);
      }),
    );
    const until = async (predicate: () => boolean | Promise<boolean>, what: string, timeoutMs = defaultTimeoutMs) => {
      const deadline = Date.now() + timeoutMs;
      while (!(await predicate())) {
        if (Date.now() > deadline || child.exitCode !== null)
          throw new Error(`no ${what}; stdout: ${stdout} stderr: ${stderr}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    };
    return { child, exit, until, stdout: () => stdout, stderr: () => stderr };
  };
}
