import type { Command } from 'commander';
import {
  GetRecordsCommand,
  GetShardIteratorCommand,
  type DynamoDBStreamsClient,
  type GetShardIteratorCommandInput,
} from '@aws-sdk/client-dynamodb-streams';
import { z } from 'zod';
import { readLeaseTable, shardRef, type LeaseTableLease, type LeaseTableView } from '@shardline/leases';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { tableNameFromStreamArn } from '@shardline/worker';
import { explainStartupError, hasErrorName, whereCalled } from '../aws-errors.js';
import { alignRow, columnWidths } from '../text-columns.js';
import { addSettingOptions, loadSettings, setting } from '../config.js';
import { UsageError } from '../usage-error.js';
import { oneShotClients } from './operator.js';
import { handleShutdownSignals } from '../signals.js';
import { STATUS_PAGE_DEFAULTS, startStatusServer } from '../status-page/server.js';

const statusSchema = z
  .object({
    app: setting(z.string().min(1), { arg: '<name>', help: 'application name (lease table shardline-<app>)' }),
    leaseTable: setting(z.string().min(1).optional(), {
      arg: '<name>',
      help: 'lease table name, when not shardline-<app>',
    }),
    endpoint: setting(z.url().optional(), { arg: '<url>', help: 'one endpoint for DynamoDB and DynamoDB Streams' }),
    dynamodbEndpoint: setting(z.url().optional(), { arg: '<url>', help: 'DynamoDB endpoint (lease table)' }),
    streamsEndpoint: setting(z.url().optional(), { arg: '<url>', help: 'DynamoDB Streams endpoint (for lag)' }),
    region: setting(z.string().min(1).optional(), { arg: '<region>', help: 'AWS region (default: AWS_REGION)' }),
    json: setting(z.boolean().optional(), { help: 'print JSON for machines' }),
    lag: setting(z.boolean().optional(), { flag: '--no-lag', help: 'do not read the stream to measure lag' }),
    serve: setting(z.boolean().optional(), {
      help: 'serve a live status page (shard lineage, workers) instead of printing once',
    }),
    port: setting(z.coerce.number().int().min(0).max(65_535).optional(), {
      arg: '<port>',
      help: 'with --serve: the port (0: a free one)',
      default: STATUS_PAGE_DEFAULTS.port,
    }),
    host: setting(z.string().min(1).optional(), {
      arg: '<address>',
      help: 'with --serve: the address to listen on (0.0.0.0 shows the lease table to the network)',
      default: STATUS_PAGE_DEFAULTS.host,
    }),
  })
  .strict();

export interface ShardStatus {
  shardId: string;
  streamArn: string;
  /** The stream's table (from the ARN). */
  tableName: string;
  /** The lease's key: the shard id, or stream-qualified when several streams share the table. */
  leaseKey: string;
  parentShardIds: string[];
  owner: string | null;
  state: 'finished' | 'processing' | 'handing-off' | 'waiting-on-parents' | 'unassigned';
  checkpoint: string;
  /**
   * Records after the checkpoint, counted by reading them (exact, up to `BEHIND_CAP`); 0 when
   * caught up; null when unknown.
   */
  behindRecords: number | null;
  /** True when there are more than `behindRecords` (the count stopped at `BEHIND_CAP`). */
  behindCapped?: boolean;
  /**
   * True when `behindRecords` is a lower bound: an open shard, whose tip GetRecords cannot
   * prove (empty pages may come before records), counted until `EMPTY_PAGES_AT_TIP` empty pages
   * in a row. Absent (exact) only for a shard read to its end (a null NextShardIterator).
   */
  behindLowerBound?: boolean;
  /**
   * Age in ms of the oldest record after the checkpoint, from its ApproximateCreationDateTime:
   * approximate (whole seconds on AWS, whole minutes on DynamoDB Local); 0 when caught up.
   */
  lagMs: number | null;
  lagNote?: string | undefined;
}

/** How many records `status` reads per shard at most to count the backlog: 10 GetRecords pages. */
export const BEHIND_CAP = 10_000;

/** Consecutive empty GetRecords pages after which an open shard's count stops (a lower bound). */
export const EMPTY_PAGES_AT_TIP = 5;

/**
 * `shardline status --app NAME`: the lease table as a table of shards (parent, owner, state,
 * checkpoint, lag) and the workers' heartbeats. Lag is the number of records after the checkpoint
 * (read and counted: one GetShardIterator plus a GetRecords per 1,000 records behind, per
 * unfinished shard; `--no-lag` skips) and the age of the oldest of them.
 */
export function registerStatus(program: Command): void {
  const command = program
    .command('status')
    .description(
      'Show the shards of an application: parent, owner, state, checkpoint, lag (records behind, exact; age, approximate)',
    );
  addSettingOptions(command, statusSchema)
    .allowExcessArguments(false)
    .action(async (flags: Record<string, unknown>) => {
      // status takes no --config: its settings are a handful, and SHARDLINE_CONFIG holds run's.
      const settings = loadSettings(statusSchema, flags, { configFile: false });
      const { dynamodb, streams, dynamodbEndpoint, streamsEndpoint } = oneShotClients(settings);
      const tableName = settings.leaseTable ?? `shardline-${settings.app}`;
      const read = () =>
        readStatus(dynamodb, settings.lag === false ? undefined : streams, tableName).catch((err: unknown) => {
          if (hasErrorName(err, 'ResourceNotFoundException')) {
            throw new UsageError(
              `lease table ${tableName} not found at ${whereCalled(dynamodbEndpoint, settings.region)}: has \`shardline run --app ${settings.app}\` run against it?`,
            );
          }
          throw explainStartupError(err, { dynamodbEndpoint, streamsEndpoint, region: settings.region });
        });
      try {
        // Read once first, in --serve too: a wrong table or endpoint is one line and exit 2, not a page of errors.
        const report = await read();
        if (settings.serve) await serve(read, settings.host, settings.port);
        else if (settings.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
        else process.stdout.write(render(report));
      } finally {
        dynamodb.destroy();
        streams.destroy();
      }
    });
}

/** What `status --json` prints and the status page shows: one read of the lease table (and the stream, for lag). */
export interface StatusReport {
  leaseTable: string;
  leader: LeaseTableView['leader'] | null;
  workers: LeaseTableView['workers'];
  /** Sorted by stream, then shard id. */
  shards: ShardStatus[];
  /** The streams of the application (those with leases), in `shards` order, with their shard counts. */
  streams: StreamSummary[];
  audits: LeaseTableView['audits'];
  /** How many rows do not look like shardline leases (ignored). */
  invalid: number;
}

export interface StreamSummary {
  streamArn: string;
  tableName: string;
  shards: number;
  /** Shards at SHARD_END (drained). */
  finished: number;
}

/** The shards grouped by stream, in the order they come (sorted by stream). */
export function streamSummaries(shards: readonly ShardStatus[]): StreamSummary[] {
  const byStream = new Map<string, StreamSummary>();
  for (const shard of shards) {
    let summary = byStream.get(shard.streamArn);
    if (!summary) {
      summary = { streamArn: shard.streamArn, tableName: shard.tableName, shards: 0, finished: 0 };
      byStream.set(shard.streamArn, summary);
    }
    summary.shards++;
    if (shard.state === 'finished') summary.finished++;
  }
  return [...byStream.values()];
}

/** The one data function of `status`: the text view, `--json` and `--serve` all show this. */
export async function readStatus(
  dynamodb: DynamoDBClient,
  streams: DynamoDBStreamsClient | undefined,
  tableName: string,
): Promise<StatusReport> {
  const view = await readLeaseTable(dynamodb, tableName);
  const shards = await shardStatuses(view, streams);
  return {
    leaseTable: tableName,
    leader: view.leader ?? null,
    workers: view.workers,
    shards,
    streams: streamSummaries(shards),
    audits: view.audits,
    invalid: view.invalid.length,
  };
}

/** `--serve`: the page until SIGINT/SIGTERM. */
async function serve(read: () => Promise<StatusReport>, host?: string, port?: number): Promise<void> {
  const server = await startStatusServer({
    read,
    ...(host === undefined ? {} : { host }),
    ...(port === undefined ? {} : { port }),
  }).catch((err: unknown) => {
    // A busy port or an address this machine does not have is the user's to fix: one line.
    const code = (err as { code?: unknown }).code;
    if (code === 'EADDRINUSE' || code === 'EADDRNOTAVAIL' || code === 'EACCES')
      throw new UsageError(
        `cannot serve the status page on ${host ?? STATUS_PAGE_DEFAULTS.host}:${port ?? STATUS_PAGE_DEFAULTS.port} (${String(code)}): choose another --port or --host`,
      );
    throw err;
  });
  process.stdout.write(`status page on ${server.url} (Ctrl-C to stop)\n`);
  await new Promise<void>((resolve) => {
    const remove = handleShutdownSignals({
      graceful: () => {
        remove();
        resolve();
      },
      force: () => resolve(),
    });
  });
  await server.close();
}

export async function shardStatuses(
  view: LeaseTableView,
  streams: DynamoDBStreamsClient | undefined,
): Promise<ShardStatus[]> {
  // A parent is of its child's stream; shard ids may repeat across streams.
  const byShard = new Map(view.leases.map((l) => [shardRef(l.streamArn, l.shardId), l]));
  return Promise.all(
    view.leases.map(async (lease) => {
      const parentsDone = lease.parentShardIds.every((id) => {
        const parent = byShard.get(shardRef(lease.streamArn, id));
        return parent === undefined || parent.checkpoint === 'SHARD_END';
      });
      const state: ShardStatus['state'] =
        lease.checkpoint === 'SHARD_END'
          ? 'finished'
          : lease.pendingOwner
            ? 'handing-off'
            : lease.owner
              ? 'processing'
              : parentsDone
                ? 'unassigned'
                : 'waiting-on-parents';
      const lag =
        lease.checkpoint === 'SHARD_END'
          ? { behindRecords: 0, lagMs: 0 }
          : streams
            ? await measureLag(streams, lease)
            : { behindRecords: null, lagMs: null };
      return {
        shardId: lease.shardId,
        streamArn: lease.streamArn,
        tableName: tableNameFromStreamArn(lease.streamArn) ?? lease.streamArn,
        leaseKey: lease.leaseKey,
        parentShardIds: lease.parentShardIds,
        owner: lease.owner ?? null,
        state,
        checkpoint: lease.checkpoint,
        ...lag,
      };
    }),
  );
}

/**
 * Reads the shard from the checkpoint, counting records, up to BEHIND_CAP: to its end for a
 * closed shard (exact), or until EMPTY_PAGES_AT_TIP empty pages in a row for an open one (a
 * lower bound: "it might take multiple calls to get to a portion of the shard that contains
 * stream records", so no empty page proves the tip). The age of the first
 * record is only as exact as ApproximateCreationDateTime, which DynamoDB Local cuts to the minute.
 */
async function measureLag(
  streams: DynamoDBStreamsClient,
  lease: LeaseTableLease,
): Promise<Pick<ShardStatus, 'behindRecords' | 'behindCapped' | 'behindLowerBound' | 'lagMs' | 'lagNote'>> {
  try {
    const position: Pick<GetShardIteratorCommandInput, 'ShardIteratorType' | 'SequenceNumber'> =
      lease.checkpoint === 'TRIM_HORIZON' || lease.checkpoint === 'LATEST'
        ? { ShardIteratorType: lease.checkpoint }
        : { ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', SequenceNumber: lease.checkpoint };
    const iterator = await streams.send(
      new GetShardIteratorCommand({ StreamArn: lease.streamArn, ShardId: lease.shardId, ...position }),
    );
    let next = iterator.ShardIterator;
    let behindRecords = 0;
    let oldest: Date | undefined;
    let empty = 0;
    while (next && behindRecords < BEHIND_CAP && empty < EMPTY_PAGES_AT_TIP) {
      const out = await streams.send(
        new GetRecordsCommand({ ShardIterator: next, Limit: Math.min(1_000, BEHIND_CAP - behindRecords) }),
      );
      const records = out.Records ?? [];
      oldest ??= records[0]?.dynamodb?.ApproximateCreationDateTime;
      behindRecords += records.length;
      empty = records.length === 0 ? empty + 1 : 0;
      next = out.NextShardIterator;
    }
    const capped = behindRecords >= BEHIND_CAP && next !== undefined;
    return {
      behindRecords,
      ...(capped ? { behindCapped: true } : {}),
      ...(!capped && next !== undefined ? { behindLowerBound: true } : {}),
      lagMs: oldest ? Math.max(0, Date.now() - new Date(oldest).getTime()) : 0,
    };
  } catch (err) {
    return { behindRecords: null, lagMs: null, lagNote: err instanceof Error ? err.name : 'unknown' };
  }
}

function render(report: StatusReport): string {
  const { leaseTable: tableName, shards } = report;
  const header = ['SHARD', 'PARENT', 'OWNER', 'STATE', 'CHECKPOINT', 'BEHIND', 'AGE'];
  const rows = [
    header,
    ...shards.map((s) => [
      s.shardId,
      s.parentShardIds.join(',') || '-',
      s.owner ?? '-',
      s.state,
      s.checkpoint,
      s.behindRecords === null
        ? (s.lagNote ?? '?')
        : `${s.behindLowerBound ? '≥' : ''}${s.behindRecords}${s.behindCapped ? '+' : ''}`,
      s.lagMs === null ? '?' : s.behindRecords === 0 ? '-' : `~${formatLag(s.lagMs)}`,
    ]),
  ];
  const widths = columnWidths(rows);
  const line = (r: string[]) => alignRow(r, widths);
  // One block per stream (shards come sorted by stream); a single stream keeps the plain table.
  const lines: string[] = [line(header)];
  let stream: string | undefined;
  shards.forEach((s, i) => {
    if (report.streams.length > 1 && s.streamArn !== stream) {
      stream = s.streamArn;
      const summary = report.streams.find((x) => x.streamArn === stream)!;
      lines.push(`stream ${summary.tableName} (${stream}): ${summary.shards} shard(s), ${summary.finished} finished`);
    }
    lines.push(line(rows[i + 1]!));
  });
  const workers = report.workers.map(
    (w) =>
      `  ${w.workerId}: ${w.leaseCount} lease(s), heartbeat ${w.heartbeat}${w.draining ? ', draining' : ''}${w.updatedAt ? `, last seen ${w.updatedAt}` : ''}`,
  );
  return [
    `lease table ${tableName}: ${shards.length} shard(s)${report.streams.length > 1 ? ` of ${report.streams.length} streams` : ''}, leader ${report.leader?.workerId ?? 'none'}`,
    ...lines,
    ...(shards.some((s) => s.behindRecords !== null)
      ? [
          `BEHIND: records after the checkpoint, counted (exact for a shard read to its end; ≥N for an open shard, counted until ${EMPTY_PAGES_AT_TIP} empty pages in a row; reading stops at ${BEHIND_CAP}, shown as ${BEHIND_CAP}+). AGE: since the oldest of them was written (approximate: whole seconds on AWS, whole minutes on DynamoDB Local).`,
        ]
      : []),
    `workers (${report.workers.length}):`,
    ...(workers.length > 0 ? workers : ['  none']),
    ...renderAudits(report),
    ...(report.invalid > 0 ? [`${report.invalid} row(s) do not look like shardline leases and are ignored`] : []),
    '',
  ].join('\n');
}

/** How many operator actions the text view lists (all are in --json). */
const AUDITS_SHOWN = 5;

/** The latest operator actions (`shardline reset`, `shardline import-kcl`): who, when, from → to. */
function renderAudits(report: StatusReport): string[] {
  if (report.audits.length === 0) return [];
  const shown = report.audits.slice(-AUDITS_SHOWN);
  return [
    `operator actions (${shown.length === report.audits.length ? report.audits.length : `last ${shown.length} of ${report.audits.length}`}):`,
    ...shown.map((a) => {
      const count = a.changes.length + (a.omitted ?? 0);
      const moves = a.changes
        .slice(0, 3)
        .map((c) => `${c.shardId} ${c.from ?? '(new)'} → ${c.to}`)
        .join(', ');
      return `  ${a.at} ${a.action} by ${a.actor}: ${a.target}${a.forced ? ' (forced)' : ''}, ${count} shard(s)${moves ? `: ${moves}${count > 3 ? ', …' : ''}` : ''}`;
    }),
  ];
}

function formatLag(ms: number): string {
  if (ms < 1_000) return `${ms} ms`;
  if (ms < 120_000) return `${(ms / 1_000).toFixed(1)} s`;
  return `${Math.round(ms / 60_000)} min`;
}
