import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isRecordProcessor, type ProcessorFactory, type RecordProcessor } from '@shardline/worker';
import { UsageError } from './usage-error.js';

/**
 * Loads a processor module: an ES module or CommonJS file whose default export is a processor
 * (an object with `processRecords`) or a factory returning one per shard.
 */
export async function loadProcessor(path: string, cwd = process.cwd()): Promise<RecordProcessor | ProcessorFactory> {
  const absolute = resolve(cwd, path);
  if (!existsSync(absolute)) throw new UsageError(`processor file not found: ${absolute}`);
  if (!statSync(absolute).isFile()) throw new UsageError(`processor path is not a file: ${absolute}`);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(absolute).href)) as Record<string, unknown>;
  } catch (err) {
    throw new UsageError(
      `could not load processor ${absolute}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`,
    );
  }
  // CommonJS: `module.exports = …` arrives as `default`; transpiled ESM (`exports.default = …`)
  // as `default.default`.
  const candidates = [mod.default, (mod.default as { default?: unknown } | undefined)?.default, mod.processor];
  for (const candidate of candidates) {
    if (isRecordProcessor(candidate)) return candidate;
    if (typeof candidate === 'function') return candidate as ProcessorFactory;
  }
  const got = mod.default === undefined ? 'no default export' : `a default export of type ${typeof mod.default}`;
  throw new UsageError(
    `${absolute} exports no processor (${got}): export default an object with processRecords(batch, ctx), or a factory function returning one`,
  );
}
