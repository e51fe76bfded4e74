// Vitest configuration of Keyv's compliance suite (@keyv/test-suite) against
// KeyvShm. Run by test/store-keyv-suite.test.mjs (node:test), which creates
// the Dicts, starts redis-server, passes their names in the environment and
// checks the JSON report; not part of `node --test`'s files.
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

export default {
  root,
  // Vite's cache would go to node_modules/.vite (shared with other checkouts).
  cacheDir: join(process.env.KEYV_SUITE_TMP ?? tmpdir(), 'vite-cache'),
  test: {
    include: ['test/keyv/*.vitest.mjs'],
    // One process per file (the native addon is loaded once per process), files one after another.
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 10_000,
    hookTimeout: 10_000,
    watch: false,
    // shmkit is this package itself (not under node_modules), so Vite would
    // transform its build: let Node load it, as an installed package is.
    server: { deps: { external: [/\/dist\/src\//] } },
  },
};
