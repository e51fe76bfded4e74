// `shmkit top` and `shmkit inspect --watch` (issue 12): their figures against
// known traffic from another process (--json: deltas are exact), and top's
// live table in a real terminal (tmux: drawn, redrawn, and `q` quits).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Queue } from 'shmkit';
import { PROCESS_PREFIX, trackedNames } from './fixtures/names.mjs';
import { reap, startProcess } from './fixtures/proc.mjs';
import { STEP_MS, unlinkQuietly, waitUntil, withTimeout } from './fixtures/helpers.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MAIN = fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url));
const made = [];
after(() => unlinkQuietly(...made)); // before trackedNames()'s own check for leftovers
const name = trackedNames();

test('top --json: what a producer in another process sends after the first refresh shows up as exact deltas and consistent rates', async () => {
  const q = name('top-q');
  made.push(q);
  const queue = Queue.create(q, { capacity: 65536 });
  // The producer waits for `go` on stdin, sends exactly 300 messages, says `sent`.
  const code = `import { Queue } from 'shmkit';
    import { createInterface } from 'node:readline';
    const q = Queue.open(${JSON.stringify(q)});
    process.stdout.write('ready\\n');
    for await (const line of createInterface({ input: process.stdin })) {
      for (let i = 0; i < 300; i++) if (!q.trySend(Buffer.alloc(8, i))) throw new Error('full');
      process.stdout.write('sent\\n');
      break;
    }
    q.close();`;
  const producer = startProcess(process.execPath, ['--input-type=module', '-e', code], { cwd: ROOT, timeoutMs: 30000 });
  const topProc = startProcess(process.execPath, [MAIN, 'top', q, '--json', '--iterations', '3', '--interval', '1'], { timeoutMs: 30000, env: { ...process.env, NO_COLOR: '1' } });
  try {
    await producer.line(/^ready$/);
    const first = JSON.parse(await topProc.line(/^\{.*"command":"top"/));
    producer.child.stdin.write('go\n');
    await producer.line(/^sent$/);
    const end = await withTimeout(topProc.done, 20000, 'top to finish its 3 refreshes');
    assert.equal(end.code, 0, end.stderr);
    const docs = end.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(docs.length, 3);
    const rowOf = (doc) => doc.objects.find((o) => o.name === q);
    assert.deepEqual(docs.map((d) => d.objects.length), [1, 1, 1], 'only the object the pattern names');
    assert.equal(rowOf(first).deltas.sent, 0, 'nothing was sent before the first refresh');
    assert.equal(rowOf(docs[1]).deltas.sent + rowOf(docs[2]).deltas.sent, 300, 'the 300 messages, in one refresh or split over two');
    assert.equal(rowOf(docs[2]).figures.sent, 300);
    assert.equal(rowOf(docs[2]).figures.length, 300);
    for (const d of docs) {
      const r = rowOf(d);
      assert.equal(d.schema, 1);
      assert.ok(d.seconds > 0.5 && d.seconds < 15, `a refresh every second or so (${d.seconds})`);
      assert.ok(Math.abs(r.rates.sent - r.deltas.sent / d.seconds) < 1e-6, 'rate = delta / seconds');
    }
  } finally {
    await reap(producer, topProc);
    queue.close();
  }
});

test('top in a real terminal (tmux): the table is drawn with the object, redrawn, and q quits', async (t) => {
  const q = name('top-tty');
  made.push(q);
  const queue = Queue.create(q, { capacity: 4096 });
  queue.trySend(Buffer.from('one'));
  const socket = `shmkit-test-${process.pid}`;
  const tmux = (...args) => execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8', timeout: STEP_MS, stdio: ['ignore', 'pipe', 'pipe'] });
  const session = 'top';
  try {
    tmux('new-session', '-d', '-s', session, '-x', '160', '-y', '30', `${process.execPath} ${MAIN} top '${PROCESS_PREFIX}*' --interval 0.3`);
    const screen = () => tmux('capture-pane', '-p', '-t', session);
    await waitUntil(() => screen().includes(q), 10000, 'the table to show the queue');
    const first = screen();
    assert.match(first, /shmkit top .* \(q quits\)/);
    assert.match(first, /NAME\s+KIND\s+SIZE\s+ACTIVITY/);
    assert.match(first, new RegExp(`${q}\\s+Queue\\s+\\S+\\s+length 1`));
    queue.trySend(Buffer.from('two'));
    await waitUntil(() => new RegExp(`${q}\\s+Queue\\s+\\S+\\s+length 2`).test(screen()), 10000, 'the redraw to show the new length');
    assert.equal(screen().match(/shmkit top/g)?.length, 1, 'redrawn in place, not scrolled');
    tmux('send-keys', '-t', session, 'q');
    await waitUntil(() => {
      try { tmux('has-session', '-t', session); return false; } catch { return true; }
    }, 10000, 'q to end top (and with it the tmux session)');
  } catch (err) {
    t.diagnostic(`screen: ${(() => { try { return tmux('capture-pane', '-p', '-t', session); } catch { return '(gone)'; } })()}`);
    throw err;
  } finally {
    try { tmux('kill-server'); } catch { /* already gone */ }
    queue.close();
  }
});

test('inspect --watch --json: one document per look, with the counters that moved since the previous one', async () => {
  const q = name('watch-q');
  made.push(q);
  const queue = Queue.create(q, { capacity: 65536 });
  const watch = startProcess(process.execPath, [MAIN, 'inspect', q, '--watch', '--json', '--iterations', '3', '--interval', '1'], { timeoutMs: 30000 });
  try {
    const first = JSON.parse(await watch.line(/^\{.*"command":"inspect"/));
    for (let i = 0; i < 120; i++) assert.ok(queue.trySend(Buffer.alloc(4, i)));
    for (let i = 0; i < 20; i++) assert.ok(queue.tryReceive() !== undefined);
    const end = await withTimeout(watch.done, 20000, 'inspect --watch to finish its 3 looks');
    assert.equal(end.code, 0, end.stderr);
    const docs = end.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(docs.length, 3);
    assert.deepEqual(first.rates, {}, 'no rates on the first look');
    assert.equal(first.seconds, null);
    assert.equal(docs[1].rates.sent.delta + docs[2].rates.sent.delta, 120);
    assert.equal(docs[1].rates.received.delta + docs[2].rates.received.delta, 20);
    assert.equal(docs[2].details.length, 100);
    for (const d of docs.slice(1)) assert.ok(Math.abs(d.rates.sent.perSecond - d.rates.sent.delta / d.seconds) < 1e-6);
  } finally {
    await reap(watch);
    queue.close();
  }
});
