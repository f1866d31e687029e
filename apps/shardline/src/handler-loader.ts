import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { LambdaDynamoDBStreamEvent, LambdaHandler } from '@shardline/worker';
import { UsageError } from './usage-error.js';

/**
 * Loads a Lambda handler from `PATH[#EXPORT]` (`--handler`), the way Lambda reads
 * `index.handler`: the export named `EXPORT` (default `handler`) of an ES module or a CommonJS
 * file. `#` rather than Lambda's `.` because a path has dots of its own.
 */
export const DEFAULT_HANDLER_EXPORT = 'handler';

export function parseHandlerSpec(spec: string): { path: string; exportName: string } {
  const hash = spec.lastIndexOf('#');
  if (hash === -1) return { path: spec, exportName: DEFAULT_HANDLER_EXPORT };
  const path = spec.slice(0, hash);
  const exportName = spec.slice(hash + 1);
  if (path === '' || exportName === '')
    throw new UsageError(`--handler ${spec}: give PATH or PATH#EXPORT (e.g. ./dist/index.js#handler)`);
  return { path, exportName };
}

export async function loadHandler(
  spec: string,
  cwd = process.cwd(),
): Promise<LambdaHandler<LambdaDynamoDBStreamEvent>> {
  const { path, exportName } = parseHandlerSpec(spec);
  const absolute = resolve(cwd, path);
  if (!existsSync(absolute)) throw new UsageError(`handler file not found: ${absolute}`);
  if (!statSync(absolute).isFile()) throw new UsageError(`handler path is not a file: ${absolute}`);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(absolute).href)) as Record<string, unknown>;
  } catch (err) {
    throw new UsageError(
      `could not load handler ${absolute}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`,
    );
  }
  // ESM: the named export. CommonJS: `exports.handler = …` arrives as a named export when Node's
  // static analysis finds it, and always as a property of `default` (module.exports).
  const fromDefault = (mod.default ?? undefined) as Record<string, unknown> | undefined;
  const candidate =
    mod[exportName] ??
    (typeof fromDefault === 'object' || typeof fromDefault === 'function' ? fromDefault[exportName] : undefined);
  if (typeof candidate === 'function') return candidate as LambdaHandler<LambdaDynamoDBStreamEvent>;
  const found = Object.keys(mod).filter((k) => typeof mod[k] === 'function' && k !== 'default');
  throw new UsageError(
    `${absolute} has no function export "${exportName}"${
      candidate === undefined ? '' : ` (it is of type ${typeof candidate})`
    }; function exports: ${found.length ? found.join(', ') : 'none'} (give --handler ${path}#NAME)`,
  );
}
