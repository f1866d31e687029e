import { PutItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { recordId } from './protocol.js';

export interface TrafficOptions {
  dynamodb: DynamoDBClient;
  tableNames: readonly string[];
  /** Writes per second, over all tables. */
  rate: number;
  /** Distinct item keys per table. */
  keys: number;
  /** Injected for tests. @defaultValue Math.random */
  random?: () => number;
}

/** Ticks per second: each tick writes rate/10 items at once. */
const TICK_MS = 100;

/**
 * The demo's writes: `rate` a second over `keys` keys per table, each write a key's next version
 * (so the audit can check per-key order). Keeps the list of every write for the audit.
 */
export class Traffic {
  readonly #o: TrafficOptions;
  readonly #versions = new Map<string, number>();
  readonly #writes: string[] = [];
  #running: Promise<void> | undefined;
  #stop = false;

  constructor(options: TrafficOptions) {
    this.#o = options;
  }

  /** Every write acknowledged or in flight, as record ids. */
  get writes(): readonly string[] {
    return this.#writes;
  }

  /** Writes per table. */
  writtenTo(tableName: string): number {
    return this.#writes.filter((id) => id.startsWith(`${tableName}/`)).length;
  }

  start(): void {
    if (this.#running) return;
    this.#running = this.#loop();
    // A failed write surfaces from stop(), where the demo awaits it, not as an unhandled rejection.
    this.#running.catch(() => undefined);
  }

  /** Stops after the tick in flight; resolves once its writes are acknowledged. */
  async stop(): Promise<void> {
    this.#stop = true;
    await this.#running;
  }

  async #loop(): Promise<void> {
    const random = this.#o.random ?? Math.random;
    const tables = this.#o.tableNames;
    let turn = 0;
    while (!this.#stop) {
      const tickStart = Date.now();
      const batch = Math.max(1, Math.round(this.#o.rate / (1_000 / TICK_MS)));
      // Distinct keys within a tick: two concurrent writes to one key could land in either order.
      const tick = new Set<string>();
      for (let i = 0; i < batch * 4 && tick.size < Math.min(batch, this.#o.keys * tables.length); i++) {
        const table = tables[turn++ % tables.length]!;
        tick.add(`${table}\u0000order-${Math.floor(random() * this.#o.keys)}`);
      }
      await Promise.all(
        [...tick].map(async (entry) => {
          const [table, pk] = entry.split('\u0000') as [string, string];
          const key = `${table}/${pk}`;
          const version = (this.#versions.get(key) ?? 0) + 1;
          this.#versions.set(key, version);
          this.#writes.push(recordId(table, pk, version));
          await this.#o.dynamodb.send(
            new PutItemCommand({
              TableName: table,
              Item: { pk: { S: pk }, version: { N: String(version) }, writtenAt: { N: String(Date.now()) } },
            }),
          );
        }),
      );
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, TICK_MS - (Date.now() - tickStart))));
    }
  }
}
