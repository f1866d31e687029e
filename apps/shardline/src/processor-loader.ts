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
    mod = await importModule(absolute);
  } catch (err) {
    if (err instanceof UsageError) throw err;
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

const TYPESCRIPT = /\.(?:ts|mts|cts)$/;

/**
 * JavaScript is imported as it is. TypeScript too where Node strips types itself (22.18+ and
 * 23.6+ by default, 22.6+ with --experimental-strip-types: `process.features.typescript`);
 * elsewhere (Node 20) through tsx's scoped `tsImport`, which compiles this one module graph
 * without installing a loader for the whole process. tsx is looked up, not declared: a
 * declared (even optional) peer would put it and esbuild into every production install.
 */
async function importModule(absolute: string): Promise<Record<string, unknown>> {
  const url = pathToFileURL(absolute).href;
  if (!TYPESCRIPT.test(absolute) || nodeStripsTypes()) return (await import(url)) as Record<string, unknown>;
  let tsx: { tsImport: (specifier: string, parent: string) => Promise<unknown> };
  try {
    tsx = await import('tsx/esm/api');
  } catch {
    throw new UsageError(
      `Node ${process.version} cannot load the TypeScript processor ${absolute} by itself (Node 22.18+ can): install tsx next to shardline (npm i -D tsx), or compile it (npx tsc -p examples builds examples/dist/*.js) and pass the .js`,
    );
  }
  return (await tsx.tsImport(url, import.meta.url)) as Record<string, unknown>;
}

function nodeStripsTypes(): boolean {
  return Boolean((process.features as { typescript?: string | false }).typescript);
}
