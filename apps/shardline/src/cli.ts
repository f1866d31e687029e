#!/usr/bin/env node
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { ConfigError, ShardlineError } from '@shardline/core';
import { registerRun } from './commands/run.js';
import { registerStatus } from './commands/status.js';
import { registerLocal } from './commands/local.js';
import { registerSimulate } from './commands/simulate.js';
import { registerDemo } from './commands/demo.js';
import { registerImportKcl } from './commands/import-kcl.js';
import { registerReset } from './commands/reset.js';
import { EXIT_USAGE, UsageError } from './usage-error.js';
import { condenseSdkNodeVersionWarning } from './node-version-notice.js';

/**
 * The `shardline` command. Commands live one per module under ./commands; this file only
 * builds the program and maps failures to exit codes: 2 for bad input (one line, no stack
 * trace unless --log-level debug), 1 for failures at run time.
 */
export function buildProgram(): Command {
  const program = new Command('shardline')
    .description('A shard-aware consumer framework for Amazon DynamoDB Streams')
    .version('0.1.0')
    .showSuggestionAfterError(true)
    .exitOverride();
  // Set before the commands are added: each `.command()` inherits the output and exit settings.
  program.configureOutput({
    writeErr: (line) => process.stderr.write(line),
    outputError: (message, write) => write(commanderErrorLine(message)),
  });
  registerRun(program);
  registerStatus(program);
  registerLocal(program);
  registerSimulate(program);
  registerDemo(program);
  registerImportKcl(program);
  registerReset(program);
  return program;
}

/**
 * commander's parse errors (unknown option or command, missing argument, required option) as
 * shardline's one line: `error: unknown option '--bogus'\n(Did you mean --table?)\n` becomes
 * `shardline: unknown option '--bogus' (did you mean --table?); see --help`.
 */
export function commanderErrorLine(message: string): string {
  const text = message
    .replace(/^error: /, '')
    .split('\n')
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .map((part) => part.replace(/^\(Did you mean/, '(did you mean'))
    .join(' ')
    .replace(/\.$/, '');
  return `shardline: ${text}; see --help\n`;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  // `--log-level debug` or `--log-level=debug` (commander takes both).
  const debug = argv.some(
    (arg, i) => arg === '--log-level=debug' || (arg === '--log-level' && argv[i + 1] === 'debug'),
  );
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander already printed its one-line message; help and version exit 0.
      return err.exitCode === 0 ? 0 : EXIT_USAGE;
    }
    if (err instanceof UsageError || err instanceof ConfigError) {
      process.stderr.write(`shardline: ${err.message}\n`);
      if (debug && err.stack) process.stderr.write(`${err.stack}\n`);
      return EXIT_USAGE;
    }
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`shardline: ${message}\n`);
    if (debug || !(err instanceof ShardlineError)) {
      if (debug && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
    }
    return 1;
  }
}

/**
 * Runs the command line in this process: what bin/shardline.js (the linked `shardline`) and
 * `node dist/cli.js` call. Sets the exit code rather than exiting, so pending output is written.
 */
export function runCli(argv: string[]): void {
  condenseSdkNodeVersionWarning();
  main(argv).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`shardline: ${String(err)}\n`);
      process.exitCode = 1;
    },
  );
}

// Run when this file is the program (`node dist/cli.js`, a symlink to it, or `tsx src/cli.ts`),
// not when it is imported (bin/shardline.js, tests).
function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}
if (isEntryPoint()) runCli(process.argv.slice(2));
