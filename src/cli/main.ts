/**
 * The `funnel` command: one sub-command per module in ./commands/, dispatched by file name.
 * Each module exports `command: CliCommand`.
 */
import { readdirSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { join } from 'node:path';

export interface CliCommand {
  name: string;
  summary: string;
  usage: string;
  run(args: string[]): Promise<number>;
}

const commandsDir = join(fileURLToPath(import.meta.url), '..', 'commands');
const loaders: Record<string, () => Promise<{ command: CliCommand }>> = {};
for (const f of readdirSync(commandsDir)) {
  const m = /^([a-z][a-z-]*)\.(ts|js)$/.exec(f);
  if (!m || f.endsWith('.d.ts')) continue;
  loaders[m[1]] = () => import(pathToFileURL(join(commandsDir, f)).href) as Promise<{ command: CliCommand }>;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    const lines = ['funnel — self-hosted real-time recommendation engine', '', 'usage: funnel <command> [options]', '', 'commands:'];
    for (const n of Object.keys(loaders).sort()) {
      const { command } = await loaders[n]();
      lines.push(`  ${n.padEnd(10)} ${command.summary}`);
    }
    lines.push('', "Run 'funnel <command> --help' for a command's options.");
    console.log(lines.join('\n'));
    return 0;
  }
  if (name === '--version' || name === '-v') {
    const { createRequire } = await import('node:module');
    const pkg = createRequire(import.meta.url)('../../package.json') as { version: string };
    console.log(pkg.version);
    return 0;
  }
  const loader = loaders[name];
  if (!loader) {
    console.error(`funnel: unknown command '${name}'. Run 'funnel --help' for the list.`);
    return 2;
  }
  const { command } = await loader();
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(command.usage);
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    console.error(`funnel ${name}: ${(err as Error).message}`);
    if (process.env.FUNNEL_DEBUG) console.error(err);
    return 1;
  }
}
