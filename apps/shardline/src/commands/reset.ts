import type { Command } from 'commander';
import { z } from 'zod';
import { resetLeases, type ResetResult, type ResetTarget } from '@shardline/leases';
import { addSettingOptions, loadSettings, setting } from '../config.js';
import { UsageError } from '../usage-error.js';
import { withStreamRegion } from '../stream-region.js';
import { columns } from '../text-columns.js';
import { operatorContext, operatorSettings } from './operator.js';

const resetSchema = z
  .object({
    ...operatorSettings,
    to: setting(
      z
        .string()
        .transform((v) => v.toUpperCase())
        .pipe(z.enum(['TRIM_HORIZON', 'LATEST']))
        .optional(),
      { arg: '<position>', help: 'trim_horizon (replay what the stream still holds) or latest (skip to now)' },
    ),
    toTimestamp: setting(z.iso.datetime({ offset: true }).optional(), {
      arg: '<iso8601>',
      help: 'each shard at its first record created at or after this time (ApproximateCreationDateTime)',
    }),
    force: setting(z.boolean().optional(), {
      help: 'move leases live workers hold too, fencing them first (their next checkpoint fails)',
    }),
  })
  .strict();

/**
 * `shardline reset --app NAME --to trim_horizon|latest | --to-timestamp ISO [--table T] [--yes]
 * [--force]`: moves every lease of the application (or of one stream). A dry run without
 * `--yes`; refuses while workers hold leases unless `--force`; audited in the lease table.
 */
export function registerReset(program: Command): void {
  const command = program
    .command('reset')
    .description("Move an application's leases to TRIM_HORIZON, LATEST or a point in time (replay or skip)");
  addSettingOptions(command, resetSchema)
    .allowExcessArguments(false)
    .action(async (flags: Record<string, unknown>) => {
      const loaded = loadSettings(resetSchema, flags, { configFile: false });
      const settings = withStreamRegion(loaded, [loaded.streamArn]);
      if ((settings.to === undefined) === (settings.toTimestamp === undefined))
        throw new UsageError('give one of --to trim_horizon|latest and --to-timestamp ISO8601');
      const target: ResetTarget = settings.toTimestamp
        ? { kind: 'timestamp', at: Date.parse(settings.toTimestamp) }
        : { kind: settings.to! };
      const context = operatorContext(settings);
      const apply = settings.yes === true;
      try {
        const result = await context.call(async () => {
          await context.requireLeaseTable('nothing to reset');
          return resetLeases({
            dynamodb: context.dynamodb,
            streams: context.streams,
            leaseTableName: context.leaseTableName,
            target,
            streamArn: await context.streamArn(),
            force: settings.force === true,
            apply,
            actor: context.actor,
          });
        });
        process.stdout.write(render(context.leaseTableName, result, settings.force === true));
        if (!apply && result.held.length > 0 && settings.force !== true) process.exitCode = 1;
      } finally {
        context.close();
      }
    });
}

function render(leaseTable: string, result: ResetResult, force: boolean): string {
  const lines: string[] = [];
  for (const { streamArn, plan } of result.streams) {
    const changes = result.applied ? result.written.filter((c) => c.item.streamArn === streamArn) : plan.changes;
    lines.push(`lease table ${leaseTable}, stream ${streamArn}:`);
    if (changes.length > 0)
      lines.push(
        ...columns([
          ['SHARD', 'FROM', 'TO', 'OWNER'],
          ...changes.map((c) => [c.shardId, c.from ?? '(new lease)', c.to, c.owner ?? '-']),
        ]).map((l) => `  ${l}`),
      );
    else lines.push('  nothing to change');
    if (plan.unchanged.length > 0) lines.push(`  ${plan.unchanged.length} lease(s) already there`);
    if (plan.gone.length > 0) lines.push(`  ${plan.gone.length} lease(s) of shards no longer in the stream left alone`);
  }
  if (result.stale.length > 0)
    lines.push(
      `  ${result.stale.length} lease(s) held by worker(s) with no heartbeat for a lease duration (${[...new Set(result.stale.map((h) => h.owner))].join(', ')}): moved without --force`,
    );
  if (result.applied)
    lines.push(`reset ${result.written.length} lease(s)${force ? ' (owners fenced)' : ''}; audited in the lease table`);
  else if (result.held.length > 0 && !force)
    lines.push(
      `the reset would be refused: ${result.held.length} lease(s) held by live worker(s) ${[...new Set(result.held.map((h) => h.owner))].join(', ')} (stop the workers, or --force to fence them)`,
    );
  else lines.push('dry run: run again with --yes to make the change');
  return `${lines.join('\n')}\n`;
}
