#!/usr/bin/env node
// The `shmkit` command (package.json "bin"). Argument parsing is commander's;
// each command lives in its own file and uses only the public API
// (../index.js). Exit codes: 0 ok, 1 error, 2 bad usage; errors go to stderr
// as `shmkit: <code>: <message>` (docs/CLI.md).
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EXIT_OK, EXIT_USAGE, exitCodeOf, reportError } from './errors.js';
import { ls } from './ls.js';
import { rm } from './rm.js';
import { gc } from './gc.js';
import { doctor } from './doctor.js';
import { bench } from './bench.js';
import { inspect } from './inspect.js';
import { metrics } from './metrics.js';
import { top } from './top.js';
import { bridge } from './bridge.js';

function version(): string {
  try {
    return (JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

function seconds(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError('expected a number of seconds >= 0');
  return n;
}

function count(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number >= 1');
  return n;
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

function milliseconds(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a number of ms > 0');
  return n;
}

function byteCount(value: string): number {
  if (!/^(0x[0-9a-f]+|\d+)$/i.test(value.trim())) throw new InvalidArgumentError('expected a byte count (decimal or 0x hex)');
  const n = Number(value.trim());
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError('too large');
  return n;
}

function program(): Command {
  const p = new Command('shmkit')
    .description('Inspect and clean up Linux shared memory: POSIX (/dev/shm), System V and memfd, and shmkit objects')
    .version(version(), '-V, --version')
    .exitOverride()
    .configureOutput({ outputError: () => {} }) // reported by main() as `shmkit: <code>: <message>`
    .showSuggestionAfterError(true);
  p.command('ls')
    .description('list every shared memory object with its kind, size, mode, owner, age and the live processes using it')
    .argument('[pattern]', "glob on the name ('jobs-*', '/jobs-*'; sysv:0x..., memfd:...)")
    .option('--kind <kind>', 'only this shmkit kind (Queue, Dict, ...), raw, or type (posix, sysv, memfd)')
    .option('--owner <user>', 'only objects of this user (name or uid)')
    .option('--json', 'print JSON (schema in docs/CLI.md)')
    .action((pattern: string | undefined, o) => ls(pattern, o));
  p.command('rm')
    .description('remove POSIX objects or System V segments (sysv:0x<key>) by name; refuses one a live process uses unless --force')
    .argument('<name...>', 'POSIX names, with or without the leading /; sysv:0x<key> or sysv:private:<shmid>')
    .option('-f, --force', 'remove even if live processes use it (they keep their mapping)')
    .action((names: string[], o) => rm(names, o));
  p.command('gc')
    .description('remove shmkit objects in /dev/shm that no live process maps or holds open (with --raw also raw ones and System V segments)')
    .argument('[pattern]', 'only names matching this glob')
    .option('-n, --dry-run', 'list what would be removed and why; remove nothing')
    .addOption(new Option('--min-age <seconds>', 'only objects unchanged for at least this long').argParser(seconds).default(5))
    .option('--raw', 'also remove raw segments (no shmkit header) and unattached System V segments')
    .option('--json', 'print JSON (schema in docs/CLI.md)')
    .action((pattern: string | undefined, o) => gc(pattern, o));
  p.command('inspect')
    .description("what one object's public API tells without joining it: Queue stats, Dict fill, lock holder, values; a hex dump of a raw segment")
    .argument('<name>', 'the POSIX name, with or without the leading /')
    .addOption(new Option('--offset <bytes>', 'dump from this byte (raw segments; any object with --offset/--length)').argParser(byteCount))
    .addOption(new Option('--length <bytes>', `bytes to dump (default 256)`).argParser(byteCount))
    .option('--json', 'print JSON (schema in docs/CLI.md)')
    .option('-w, --watch', "refresh until q / Ctrl-C, with counters' rates (--json: one document per line)")
    .addOption(new Option('--interval <seconds>', 'seconds between refreshes with --watch').argParser(seconds).default(1))
    .addOption(new Option('--iterations <n>', 'with --watch, stop after this many looks').argParser(count))
    .action((name: string, o) => inspect(name, o));
  p.command('doctor')
    .description('check /dev/shm, System V limits, the IPC namespace, kernel features, Node.js and the addon')
    .option('--json', 'print JSON (schema in docs/CLI.md)')
    .action((o) => doctor(o));
  p.command('top')
    .description('a live table of every named shmkit object: counters as rates per second, live figures as values, busiest first (q quits)')
    .argument('[pattern]', 'only names matching this glob')
    .addOption(new Option('--interval <seconds>', 'seconds between refreshes').argParser(seconds).default(1))
    .addOption(new Option('--iterations <n>', 'stop after this many refreshes').argParser(count))
    .option('--json', 'one JSON document per refresh, one per line (schema in docs/CLI.md)')
    .action((pattern: string | undefined, o) => top(pattern, o));
  p.command('metrics')
    .description('the counters of every named shmkit object in the Prometheus text format: once on stdout, or served at /metrics')
    .argument('[pattern]', 'only names matching this glob')
    .option('--listen <host:port>', 'serve http://HOST:PORT/metrics until SIGINT/SIGTERM (port 0: any free port, printed)')
    .option('--trust-owners <uids>', "also read objects of these owners (uids separated by commas, or 'any'); default: this user's only")
    .action((pattern: string | undefined, o) => metrics(pattern, o));
  p.command('bridge')
    .description('carry local Topics (both ways) and Queues (one way each) to Redis and back, until SIGTERM/SIGINT; logs events and counters')
    .option('--redis <url>', 'the Redis server (redis://HOST:PORT[/DB] or rediss://...)')
    .option('--id <id>', "this bridge's label on Redis and in the log (default: the host name)")
    .option('--topic <name>', 'a local Topic to carry both ways (repeatable)', collect)
    .option('--queue-out <name>', 'a local Queue to drain into Redis (repeatable)', collect)
    .option('--queue-in <name>', 'a local Queue to feed from Redis (repeatable)', collect)
    .addOption(new Option('--capacity <bytes>', 'capacity of local objects the bridge creates (default 1 MiB)').argParser(byteCount))
    .addOption(new Option('--remote-topic-capacity <messages>', 'messages each Redis topic keeps (default 1024)').argParser(count))
    .addOption(new Option('--remote-queue-capacity <bytes>', 'bytes each Redis queue holds (default 1 MiB)').argParser(byteCount))
    .addOption(new Option('--claim-after <ms>', "RedisQueue's claimAfter: when a dead consumer's message goes to another").argParser(milliseconds))
    .addOption(new Option('--command-timeout <ms>', 'bound of every Redis round trip').argParser(milliseconds).default(5000))
    .addOption(new Option('--window <n>', 'Topic messages in flight to Redis at once').argParser(count).default(64))
    .option('--key-prefix <prefix>', "prefix of the bridge's Redis keys (default 'shmkit:')")
    .addOption(new Option('--stats-interval <seconds>', 'print the counters this often (0: only at the end)').argParser(seconds).default(0))
    .option('--json', 'one JSON document per line: events, counters (schema in docs/CLI.md)')
    .action(async (o) => {
      process.exitCode = await bridge(o);
    });
  p.command('bench')
    .description("run the package's benchmarks (sync, channel, dict) on this machine")
    .option('--quick', 'short runs')
    .action(async (o) => {
      process.exitCode = await bench(o);
    });
  return p;
}

async function main(): Promise<void> {
  // `shmkit ls | head`: the reader went away; stop quietly, as ls(1) does.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(EXIT_OK);
    throw err;
  });
  try {
    await program().parseAsync(process.argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') {
        process.exitCode = EXIT_OK;
        return;
      }
      if (err.code === 'commander.help') {
        // `shmkit` alone: the help went to stderr; that is bad usage unless asked for
        process.exitCode = err.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
        return;
      }
      // Bad usage: unknown command or option, missing or invalid argument.
      reportError({ code: err.code, message: err.message.replace(/^error: /, '') });
      process.exitCode = EXIT_USAGE;
      return;
    }
    reportError(err);
    process.exitCode = exitCodeOf(err);
  }
}

void main();
