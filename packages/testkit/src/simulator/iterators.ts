import { validation } from './errors.js';
import type { Position } from './store.js';

/** What a shard iterator stands for. The token carries it all: the simulator keeps no iterator state. */
export interface IteratorState {
  streamLabel: string;
  shardId: string;
  position: Position;
  issuedAtMs: number;
}

const VERSION = '1';

/**
 * Opaque like the service's iterators, but plain: base64url of a few fields. Clients must
 * not parse them, and nothing here relies on them not doing so.
 */
export function encodeIterator(state: IteratorState): string {
  const raw = [
    VERSION,
    state.streamLabel,
    state.shardId,
    state.position.kind,
    state.position.seq.toString(),
    String(state.issuedAtMs),
  ].join('|');
  return Buffer.from(raw, 'utf8').toString('base64url');
}

/** Throws ValidationException for anything that is not one of our tokens. */
export function decodeIterator(token: unknown): IteratorState {
  if (typeof token !== 'string' || token.length === 0 || token.length > 2048) {
    throw validation(
      "1 validation error detected: Value at 'shardIterator' failed to satisfy constraint: Member must have length between 1 and 2048",
    );
  }
  const parts = Buffer.from(token, 'base64url').toString('utf8').split('|');
  const [version, streamLabel, shardId, kind, seq, issuedAt] = parts;
  if (
    parts.length !== 6 ||
    version !== VERSION ||
    !streamLabel ||
    !shardId ||
    (kind !== 'at' && kind !== 'after') ||
    !seq ||
    !/^\d+$/.test(seq) ||
    !issuedAt ||
    !/^-?\d+$/.test(issuedAt)
  ) {
    throw validation('Invalid ShardIterator');
  }
  return { streamLabel, shardId, position: { kind, seq: BigInt(seq) }, issuedAtMs: Number(issuedAt) };
}
