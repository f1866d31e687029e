import type { Command } from 'commander';

/** `shardline demo`: placeholder until its issue lands. */
export function registerDemo(program: Command): void {
  program.command('demo').description('(not yet implemented)').action(() => {
    throw new Error('shardline demo is not implemented yet');
  });
}
