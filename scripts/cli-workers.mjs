// What the chaos suite and the soak share: `shardline run` workers (the built CLI) as child
// processes whose processor (scripts/chaos-processor.mjs) appends "time shardId sequenceNumber"
// per record to a file of its own, and the reading of those files back for the audit.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * Starts `shardline run <args>` with the chaos processor writing to `out`. The credentials are
 * DynamoDB Local's (an access key is a database of its own there).
 * @param {{ args: string[], out: string, accessKeyId: string, debug?: boolean }} options
 */
export function spawnCliWorker({ args, out, accessKeyId, debug = false }) {
  return spawn(
    process.execPath,
    [
      join(ROOT, 'apps/shardline/dist/cli.js'),
      'run',
      '--processor',
      join(ROOT, 'scripts/chaos-processor.mjs'),
      ...args,
    ],
    {
      env: {
        ...process.env,
        CHAOS_OUT: out,
        AWS_ACCESS_KEY_ID: accessKeyId,
        AWS_SECRET_ACCESS_KEY: 'local',
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      },
      stdio: ['ignore', 'ignore', debug ? 'inherit' : 'ignore'],
    },
  );
}

export const alive = (child) => child.exitCode === null && child.signalCode === null;
export const exited = (child) =>
  alive(child) ? new Promise((resolve) => child.once('exit', resolve)) : Promise.resolve();

/** Every delivery in the files, `w` the file's index (one file is one process), in time order. */
export function readDeliveries(files) {
  const rows = [];
  for (const [w, file] of files.entries()) {
    if (!existsSync(file)) continue;
    const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
    lines.forEach((line, i) => {
      const [t, shardId, sequenceNumber] = line.split(' ');
      rows.push({ t: Number(t), w, i, shardId, sequenceNumber });
    });
  }
  return rows.sort((a, b) => a.t - b.t || (a.w === b.w ? a.i - b.i : 0));
}
