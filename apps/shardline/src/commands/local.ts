import type { Command } from 'commander';
import { pino } from 'pino';
import { createLogger, isLogLevel, LOG_LEVELS, type LogLevel } from '@shardline/core';
import { loadTestkit } from '../testkit.js';
import { UsageError } from '../usage-error.js';
import { handleShutdownSignals } from '../signals.js';

interface LocalFlags {
  port: string;
  dbPath?: string;
  logLevel: string;
}

/**
 * `shardline local`: DynamoDB Local in the foreground for development, with `-sharedDb` so every
 * credential and region sees the same tables (without it DynamoDB Local keeps one database per
 * access key and region, which surprises people). Ctrl-C / SIGTERM stop it cleanly; a second
 * signal kills it at once.
 */
export function registerLocal(program: Command): void {
  program
    .command('local')
    .description('Run DynamoDB Local (the real Amazon jar, with streams) in the foreground')
    .option('--port <port>', 'port to listen on', '8000')
    .option('--db-path <dir>', 'keep the data in this directory (default: in memory, lost on exit)')
    .option(
      '--log-level <level>',
      `one of ${LOG_LEVELS.join(', ')}; debug also shows DynamoDB Local's own output`,
      'info',
    )
    .action(async (flags: LocalFlags) => {
      await runLocal(parseFlags(flags));
    });
}

interface LocalOptions {
  port: number;
  dbPath: string | undefined;
  logLevel: LogLevel;
}

function parseFlags(flags: LocalFlags): LocalOptions {
  if (!/^\d+$/.test(flags.port) || Number(flags.port) < 1 || Number(flags.port) > 65_535) {
    throw new UsageError(`--port must be an integer from 1 to 65535, got "${flags.port}"`);
  }
  if (!isLogLevel(flags.logLevel))
    throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}, got "${flags.logLevel}"`);
  if (flags.dbPath === '') throw new UsageError('--db-path needs a directory');
  return { port: Number(flags.port), dbPath: flags.dbPath, logLevel: flags.logLevel };
}

async function runLocal(options: LocalOptions): Promise<void> {
  const { startDynamoDBLocal } = await loadTestkit('local');
  // Logs go to stderr: stdout carries the lines a user copies.
  const log = createLogger({
    level: options.logLevel,
    base: { component: 'local' },
    destination: pino.destination({ fd: 2, sync: true }),
  });
  const debug = options.logLevel === 'debug' || options.logLevel === 'trace';
  const local = await startDynamoDBLocal({
    port: options.port,
    sharedDb: true,
    ...(options.dbPath === undefined ? {} : { dbPath: options.dbPath }),
    ...(debug ? { onOutput: (chunk: string) => process.stderr.write(chunk) } : {}),
  });
  log.debug({ pid: local.pid, startupMs: local.startupMs, endpoint: local.endpoint }, 'DynamoDB Local started');
  const storage = options.dbPath ? `data in ${options.dbPath}` : 'in memory: the data is lost when it stops';
  process.stdout.write(
    [
      `DynamoDB Local is running on ${local.endpoint} (one database shared by every credential and region, ${storage}).`,
      // The jar has no bind-address option: it always listens on every interface.
      `It listens on port ${options.port} of every network interface (0.0.0.0 and ::), not only 127.0.0.1, and accepts any credentials:`,
      `  anyone who can reach this machine can read and write its tables. Keep it local with a firewall rule for port ${options.port},`,
      `  or in a container published on loopback only (docker run -p 127.0.0.1:${options.port}:8000 …).`,
      'Point the AWS SDK and CLI at it with:',
      `  export AWS_ENDPOINT_URL_DYNAMODB=${local.endpoint}`,
      `  export AWS_ENDPOINT_URL_DYNAMODB_STREAMS=${local.endpoint}`,
      '  export AWS_REGION=us-east-1',
      '  export AWS_ACCESS_KEY_ID=local',
      '  export AWS_SECRET_ACCESS_KEY=local',
      'Press Ctrl-C to stop.',
      '',
    ].join('\n'),
  );

  let stopRequested = false;
  let removeHandlers = () => {};
  const stopped = new Promise<void>((resolve) => {
    removeHandlers = handleShutdownSignals({
      graceful: (reason) => {
        stopRequested = true;
        // Stopping on a signal is what the user asked for: "DynamoDB Local stopped." says it, once.
        log.debug({ signal: reason }, 'stopping DynamoDB Local');
        void local.stop().then(resolve);
      },
      force: (signal) => {
        log.warn({ signal }, 'second signal: killing DynamoDB Local');
        process.kill(local.pid, 'SIGKILL');
      },
    });
    void local.exited.then(() => resolve());
  });
  await stopped;
  removeHandlers();
  await local.stop();
  if (!stopRequested)
    throw new Error('DynamoDB Local exited unexpectedly; run with --log-level debug to see its output');
  process.stdout.write('DynamoDB Local stopped.\n');
}
