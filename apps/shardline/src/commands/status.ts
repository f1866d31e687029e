import type { Command } from 'commander';

/** `shardline status`: placeholder until its issue lands. */
export function registerStatus(program: Command): void {
  program.command('status').description('(not yet implemented)').action(() => {
    throw new Error('shardline status is not implemented yet');
  });
}
