import type { Command } from 'commander';
import { z } from 'zod';
import { importKclLeases, KCL_DEFAULTS, type KclImportResult } from '@shardline/leases';
import { withStreamRegion } from '../stream-region.js';
import { addSettingOptions, loadSettings, setting } from '../config.js';
import { columns } from '../text-columns.js';
import { operatorContext, operatorSettings } from './operator.js';

const importSchema = z
  .object({
    kclTable: setting(z.string().min(1), {
      arg: '<name>',
      help: 'the KCL lease table (by default KCL names it after its application); only read, never written',
    }),
    ...operatorSettings,
    dryRun: setting(z.boolean().optional(), { help: 'print the mapping shard by shard and write nothing' }),
    kclFailoverMs: setting(z.coerce.number().int().nonnegative().optional(), {
      arg: '<ms>',
      help: "the KCL fleet's failoverTimeMillis: how long the lease counters are watched for a live KCL worker",
      default: KCL_DEFAULTS.failoverTimeMillis,
    }),
  })
  .strict();

/**
 * `shardline import-kcl --kcl-table NAME --app NAME [--yes]`: cut over from the Java KCL (with
 * the DynamoDB Streams adapter) without reprocessing: each shardline lease starts right after
 * its KCL checkpoint. Refuses while the KCL fleet runs; prints the mapping without `--yes`.
 */
export function registerImportKcl(program: Command): void {
  const command = program
    .command('import-kcl')
    .description('Create the lease table of an application from a stopped Java KCL fleet’s lease table');
  addSettingOptions(command, importSchema)
    .allowExcessArguments(false)
    .action(async (flags: Record<string, unknown>) => {
      const loaded = loadSettings(importSchema, flags, { configFile: false });
      const settings = withStreamRegion(loaded, [loaded.streamArn]);
      const context = operatorContext(settings);
      const apply = settings.yes === true && settings.dryRun !== true;
      try {
        const result = await context.call(async () =>
          importKclLeases({
            dynamodb: context.dynamodb,
            streams: context.streams,
            kclTableName: settings.kclTable,
            leaseTableName: context.leaseTableName,
            streamArn: await context.streamArn(),
            failoverMs: settings.kclFailoverMs,
            apply,
            actor: context.actor,
          }),
        );
        process.stdout.write(render(settings.kclTable, context.leaseTableName, result));
        if (!apply && refusals(result).length > 0) process.exitCode = 1;
      } finally {
        context.close();
      }
    });
}

function refusals(result: KclImportResult): string[] {
  return [...result.alive.map((e) => `KCL fleet alive: ${e}`), ...result.plan.problems, ...result.conflicts];
}

function render(kclTable: string, leaseTable: string, result: KclImportResult): string {
  const { plan } = result;
  const lines = [
    `KCL table ${kclTable} → lease table ${leaseTable}, stream ${plan.streamArn ?? '(unknown)'}`,
    ...columns([
      ['SHARD', 'PARENT', 'KCL CHECKPOINT', 'SHARDLINE CHECKPOINT', 'NOTE'],
      ...plan.rows.map((row) => [
        row.shardId,
        row.parentShardIds.join(',') || '-',
        row.kclCheckpoint,
        row.checkpoint,
        row.notes.join('; '),
      ]),
    ]),
  ];
  for (const skip of plan.skipped) lines.push(`skipped ${skip.leaseKey}: ${skip.reason}`);
  const refused = refusals(result);
  if (result.applied)
    lines.push(
      `imported ${result.written} lease(s)${result.alreadyPresent > 0 ? ` (${result.alreadyPresent} already there)` : ''}; the KCL table was not changed`,
    );
  else if (refused.length > 0) lines.push('the import would be refused:', ...refused.map((r) => `  ${r}`));
  else lines.push(`dry run: ${plan.rows.length} lease(s) would be written; run again with --yes to import`);
  return `${lines.join('\n')}\n`;
}
