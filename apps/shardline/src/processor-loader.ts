import { isRecordProcessor, type ProcessorFactory, type RecordProcessor } from '@shardline/worker';
import { loadUserModule } from './module-loader.js';
import { UsageError } from './usage-error.js';

/**
 * Loads a processor module: an ES module or CommonJS file whose default export is a processor
 * (an object with `processRecords`) or a factory returning one per shard.
 */
export async function loadProcessor(path: string, cwd = process.cwd()): Promise<RecordProcessor | ProcessorFactory> {
  const { absolute, mod } = await loadUserModule(path, 'processor', cwd);
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
