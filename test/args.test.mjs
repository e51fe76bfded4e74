// Argument checks of every factory of Segment, SysVSegment and the six sync
// kinds: names, option objects, each option, offsets and buffers of any odd
// type. Each is refused with Node's argument codes before anything is
// created, opened or written, and the message itself never throws.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { Barrier, Condition, Mutex, Notifier, RwLock, Segment, Semaphore, SysVSegment, readHeader, HEADER_LENGTH } from 'shmkit';
import { trackedNames } from './fixtures/names.mjs';
import { STEP_MS, expectCode, unlinkQuietly, withTimeout } from './fixtures/helpers.mjs';

const uniqueName = trackedNames();

// Every sync kind with the geometry options create needs.
const KINDS = [
  ['Mutex', Mutex, {}],
  ['RwLock', RwLock, {}],
  ['Semaphore', Semaphore, { initial: 1 }],
  ['Condition', Condition, {}],
  ['Barrier', Barrier, { parties: 2 }],
  ['Notifier', Notifier, {}],
];

// Values that are not an options object (undefined is: it means "defaults").
const NOT_OBJECTS = [
  ['NaN', NaN], ['a string', 'fast'], ['a number', 5], ['null', null], ['true', true],
  ['a Symbol', Symbol('opts')], ['a BigInt', 10n], ['a function', () => {}],
];

const argType = expectCode('ERR_INVALID_ARG_TYPE', TypeError);
const argValue = expectCode('ERR_INVALID_ARG_VALUE', TypeError);
const outOfRange = expectCode('ERR_OUT_OF_RANGE', RangeError);

/** The message of what `fn` throws (and that it has one): building it must not throw. */
function messageOf(fn) {
  try {
    fn();
  } catch (err) {
    assert.equal(typeof err.message, 'string');
    return err;
  }
  assert.fail('did not throw');
}

// Every factory of a kind that takes an options object, called with `opts`.
function factories(Kind, geometry) {
  return [
    ['create', (name, opts) => Kind.create(name, opts)],
    ['open', (name, opts) => Kind.open(name, opts)],
    ['openOrCreate', (name, opts) => Kind.openOrCreate(name, opts)],
    ['init', (_name, opts) => Kind.init(new SharedArrayBuffer(256), 0, opts)],
    ['attach', (_name, opts) => {
      const sab = new SharedArrayBuffer(256);
      Kind.init(sab, 0, geometry).close();
      return Kind.attach(sab, 0, opts);
    }],
  ];
}

test('every factory of every sync kind refuses an options argument that is not an object (ERR_INVALID_ARG_TYPE), and creates nothing', () => {
  for (const [label, Kind, geometry] of KINDS) {
    const existing = uniqueName(`args-${label}`);
    Kind.create(existing, geometry).close();
    try {
      for (const [fname, call] of factories(Kind, geometry)) {
        for (const [what, bad] of NOT_OBJECTS) {
          const fresh = uniqueName(`args-${label}-new`);
          const target = fname === 'open' ? existing : fresh;
          assert.throws(() => call(target, bad), argType, `${label}.${fname}(${what})`);
          assert.equal(existsSync(`/dev/shm${fresh}`), false, `${label}.${fname}(${what}) created the object`);
        }
      }
      if (Kind === Semaphore || Kind === Barrier) {
        for (const [what, bad] of NOT_OBJECTS) assert.throws(() => Kind.byteLength(bad), argType, `${label}.byteLength(${what})`);
      }
    } finally {
      unlinkQuietly(existing);
    }
  }
});

test('each option is checked: spin, initial, parties, mode (NaN, fractions, strings, out of range)', () => {
  const sab = new SharedArrayBuffer(256);
  for (const [label, Kind, geometry] of KINDS) {
    for (const [fname, call] of factories(Kind, geometry)) {
      const name = uniqueName(`opt-${label}`);
      const existing = fname === 'open';
      if (existing) Kind.create(name, geometry).close();
      try {
        for (const spin of [NaN, -1, 1.5, Infinity, 1_000_001]) {
          assert.throws(() => call(name, { ...geometry, spin }), outOfRange, `${label}.${fname}({ spin: ${spin} })`);
        }
        for (const spin of ['5', null, 5n, Symbol('s')]) {
          assert.throws(() => call(name, { ...geometry, spin }), argType, `${label}.${fname}({ spin: ${String(spin)} })`);
        }
      } finally {
        if (existing) unlinkQuietly(name);
      }
      assert.equal(existsSync(`/dev/shm${name}`), false, `${label}.${fname} left ${name}`);
    }
    // mode (named create only)
    for (const mode of [NaN, -1, 0o1000, 1.5]) {
      const name = uniqueName(`mode-${label}`);
      assert.throws(() => Kind.create(name, { ...geometry, mode }), outOfRange, `${label}.create({ mode: ${mode} })`);
      assert.equal(existsSync(`/dev/shm${name}`), false);
    }
    assert.throws(() => Kind.create(uniqueName(`mode-${label}`), { ...geometry, mode: '600' }), argType);
  }
  for (const initial of [NaN, -1, 2 ** 31, 0.5]) {
    assert.throws(() => Semaphore.create(uniqueName('sem-initial'), { initial }), outOfRange, `initial ${initial}`);
    assert.throws(() => Semaphore.init(sab, 0, { initial }), outOfRange);
    assert.throws(() => Semaphore.byteLength({ initial }), outOfRange);
  }
  assert.throws(() => Semaphore.create(uniqueName('sem-initial'), { initial: '1' }), argType);
  for (const parties of [NaN, 0, 65536, 2.5]) {
    assert.throws(() => Barrier.create(uniqueName('bar-parties'), { parties }), outOfRange, `parties ${parties}`);
    assert.throws(() => Barrier.init(sab, 0, { parties }), outOfRange);
    assert.throws(() => Barrier.byteLength({ parties }), outOfRange);
  }
  for (const bad of [undefined, {}, { parties: '2' }]) {
    assert.throws(() => Barrier.create(uniqueName('bar-parties'), bad), argType);
    assert.throws(() => Barrier.init(sab, 0, bad), argType);
  }
  assert.ok(new Uint8Array(sab).every((b) => b === 0), 'a refused init wrote nothing');
});

test('init with a bad handle option writes nothing (options are checked before memory is formatted)', () => {
  for (const [label, Kind, geometry] of KINDS) {
    const sab = new SharedArrayBuffer(256);
    assert.throws(() => Kind.init(sab, 0, { ...geometry, spin: -1 }), outOfRange, label);
    assert.throws(() => Kind.init(sab, 0, 'fast'), argType, label);
    assert.ok(new Uint8Array(sab).every((b) => b === 0), `${label}.init formatted memory before refusing its options`);
  }
});

test('names with a lone surrogate are refused (they would collide after UTF-8 replacement); surrogate pairs are fine', () => {
  // Built from this run's names: if the check broke, whatever got created is this run's (and the leak check sees it).
  const bad = [`${uniqueName('lone')}-\uD800-high`, `${uniqueName('lone')}-\uDC00-low`, `${uniqueName('trailing').slice(1)}-\uD83D`, `${uniqueName('leading')}\uDE00`];
  for (const name of bad) {
    for (const [label, Kind, geometry] of KINDS) {
      assert.throws(() => Kind.create(name, geometry), argValue, `${label}.create`);
      assert.throws(() => Kind.open(name), argValue, `${label}.open`);
      assert.throws(() => Kind.openOrCreate(name, geometry), argValue, `${label}.openOrCreate`);
      assert.throws(() => Kind.unlink(name), argValue, `${label}.unlink`);
    }
    assert.throws(() => Segment.create(name, { size: 64 }), argValue);
    assert.throws(() => Segment.open(name), argValue);
    assert.throws(() => Segment.openOrCreate(name, { size: 64 }), argValue);
    assert.throws(() => Segment.unlink(name), argValue);
  }
  // the two that used to be one object: U+D800 and U+DFFF both became U+FFFD
  assert.throws(() => Segment.create(`${uniqueName('x')}\uD800`, { size: 64 }), (err) => argValue(err) && /lone surrogate/.test(err.message));
  const good = uniqueName('emoji-\u{1F600}');
  const seg = Segment.create(good, { size: 64 });
  try {
    assert.equal(seg.name, good);
    assert.ok(existsSync(`/dev/shm${good}`));
  } finally {
    seg.close();
    Segment.unlink(good);
  }
});

test('odd offsets and buffers (Symbol, BigInt, throwing toString, revoked Proxy, detached ArrayBuffer) give a readable ERR_INVALID_ARG_TYPE, never a broken message', () => {
  const throwing = { toString() { throw new Error('no'); }, valueOf() { throw new Error('no'); } };
  const { proxy: revoked, revoke } = Proxy.revocable({}, {});
  revoke();
  const hostile = new Proxy({}, { get() { throw new Error('trap'); }, getPrototypeOf() { throw new Error('trap'); } });
  const detached = new ArrayBuffer(256);
  structuredClone(detached, { transfer: [detached] });
  assert.equal(detached.byteLength, 0);
  const sab = new SharedArrayBuffer(256);
  const cases = [
    ['a Symbol', Symbol('off'), /symbol \(off\)/],
    ['a BigInt', 8n, /bigint \(8n\)/],
    ['an object with a throwing toString', throwing, /instance of Object/],
    ['a revoked Proxy', revoked, /Received/],
    ['a Proxy whose traps throw', hostile, /Received/],
    ['a string', '8', /string \('8'\)/],
  ];
  for (const [label, Kind, geometry] of KINDS) {
    for (const [what, offset, pattern] of cases) {
      for (const fn of ['init', 'attach']) {
        const err = messageOf(() => Kind[fn](sab, offset, geometry));
        assert.ok(argType(err), `${label}.${fn}(sab, ${what})`);
        assert.match(err.message, /"byteOffset"/);
        assert.match(err.message, pattern, `${label}.${fn}(sab, ${what}): ${err.message}`);
      }
      // the same values as the buffer
      const err = messageOf(() => Kind.init(offset, 0, geometry));
      assert.ok(argType(err), `${label}.init(${what}, 0)`);
    }
    for (const fn of ['init', 'attach']) {
      const err = messageOf(() => Kind[fn](detached, 0, geometry));
      assert.ok(argType(err));
      assert.match(err.message, /SharedArrayBuffer.*instance of ArrayBuffer/);
    }
  }
  assert.ok(new Uint8Array(sab).every((b) => b === 0));
  // Out-of-range values print themselves; so does a number option given an odd object.
  assert.throws(() => Mutex.create(uniqueName('sym-spin'), { spin: Symbol('s') }), (err) => argType(err) && /symbol \(s\)/.test(err.message));
  assert.throws(() => Mutex.create(uniqueName('obj-spin'), { spin: throwing }), (err) => argType(err) && /instance of Object/.test(err.message));
  assert.throws(() => Segment.create(uniqueName('big-size'), { size: 10n }), (err) => argType(err) && /10n/.test(err.message));
  assert.throws(() => Mutex.create(Symbol('name')), (err) => argType(err) && /symbol \(name\)/.test(err.message));
  assert.throws(() => Mutex.open(throwing), argType);
});

test('waiting calls check their options object and each option', async () => {
  const sab = new SharedArrayBuffer(1024);
  const m = Mutex.init(sab, 0);
  const rw = RwLock.init(sab, 128);
  const sem = Semaphore.init(sab, 256, { initial: 1 });
  const cond = Condition.init(sab, 384);
  const bar = Barrier.init(sab, 512, { parties: 1 });
  const n = Notifier.init(sab, 640);
  const syncCalls = [
    ['Mutex.lockSync', (o) => m.lockSync(o)], ['RwLock.readSync', (o) => rw.readSync(o)], ['RwLock.writeSync', (o) => rw.writeSync(o)],
    ['Semaphore.acquireSync', (o) => sem.acquireSync(o)], ['Barrier.waitSync', (o) => bar.waitSync(o)], ['Notifier.waitSync', (o) => n.waitSync(1, o)],
    ['Condition.waitSync', (o) => cond.waitSync(m, o)],
  ];
  const asyncCalls = [
    ['Mutex.lock', (o) => m.lock(o)], ['RwLock.read', (o) => rw.read(o)], ['RwLock.write', (o) => rw.write(o)],
    ['Semaphore.acquire', (o) => sem.acquire(o)], ['Barrier.wait', (o) => bar.wait(o)], ['Notifier.wait', (o) => n.wait(1, o)],
    ['Condition.wait', (o) => cond.wait(m, o)],
  ];
  try {
    for (const [what, call] of syncCalls) {
      for (const [label, bad] of NOT_OBJECTS) assert.throws(() => call(bad), argType, `${what}(${label})`);
      assert.throws(() => call({ timeout: NaN }), outOfRange, what);
      assert.throws(() => call({ timeout: -1 }), outOfRange, what);
      assert.throws(() => call({ timeout: '10' }), argType, what);
    }
    for (const [what, call] of asyncCalls) {
      // Bounded: a broken check would turn the call into a wait with no timeout.
      const refused = (bad, label) => withTimeout(Promise.resolve().then(() => call(bad)), STEP_MS, label);
      for (const [label, bad] of NOT_OBJECTS) await assert.rejects(refused(bad, `${what}(${label})`), argType, `${what}(${label})`);
      await assert.rejects(refused({ timeout: NaN }, what), outOfRange, what);
      await assert.rejects(refused({ signal: 'abort' }, what), argType, what);
    }
    assert.equal(m.locked, false, 'nothing was taken by the refused calls');
    assert.deepEqual(rw.state, { readers: 0, writer: false, writersWaiting: 0 });
    assert.equal(sem.value, 1);
    for (const bad of [NaN, 0, -1, 1.5, '1', Symbol('n')]) {
      assert.throws(() => sem.release(bad), typeof bad === 'number' ? outOfRange : argType);
      assert.throws(() => cond.notify(bad), typeof bad === 'number' ? outOfRange : argType);
    }
    for (const bad of [NaN, 1.5, 2 ** 32, '0', 0n]) assert.throws(() => n.waitSync(bad, { timeout: 0 }), typeof bad === 'number' ? outOfRange : argType);
    assert.throws(() => m.withLockSync('fn'), argType);
    await assert.rejects(m.withLock(null), argType);
  } finally {
    for (const h of [m, rw, sem, cond, bar, n]) h.close();
  }
});

test('Segment and SysVSegment factories refuse non-object options and bad fields', () => {
  for (const [what, bad] of NOT_OBJECTS) {
    assert.throws(() => Segment.create(uniqueName('seg-args'), bad), argType, `create(${what})`);
    assert.throws(() => Segment.open(uniqueName('seg-args'), bad), argType, `open(${what})`);
    assert.throws(() => Segment.openOrCreate(uniqueName('seg-args'), bad), argType, `openOrCreate(${what})`);
    assert.throws(() => Segment.anonymous(bad), argType, `anonymous(${what})`);
    assert.throws(() => Segment.fromFd(0, bad), argType, `fromFd(${what})`);
    assert.throws(() => SysVSegment.get('private', bad), argType, `SysVSegment.get(${what})`);
  }
  for (const size of [NaN, 0, -1, 1.5, 2 ** 53]) assert.throws(() => Segment.create(uniqueName('seg-size'), { size }), outOfRange, `size ${size}`);
  assert.throws(() => Segment.open(uniqueName('seg-ro'), { readOnly: 'yes' }), argType);
  for (const fd of [NaN, -1, 1.5]) assert.throws(() => Segment.fromFd(fd), outOfRange);
  assert.throws(() => Segment.fromFd(Symbol('fd')), argType);
  assert.throws(() => SysVSegment.get(Symbol('key')), argValue);
  assert.throws(() => SysVSegment.get(NaN), outOfRange);
  assert.throws(() => SysVSegment.ftok(undefined, 1), argType);
  assert.throws(() => SysVSegment.fromId(NaN), outOfRange);
});

test('readHeader checks its argument; short, detached or foreign bytes are null', () => {
  for (const bad of [undefined, null, 'SHMK', 42, new ArrayBuffer(64), new SharedArrayBuffer(64), new Int32Array(16), [0x53, 0x48]]) {
    assert.throws(() => readHeader(bad), argType, `readHeader(${Object.prototype.toString.call(bad)})`);
  }
  assert.equal(readHeader(new Uint8Array(HEADER_LENGTH - 1)), null);
  assert.equal(readHeader(new Uint8Array(HEADER_LENGTH)), null);
  const ab = new ArrayBuffer(128);
  const view = new Uint8Array(ab);
  structuredClone(ab, { transfer: [ab] });
  assert.equal(readHeader(view), null, 'a view of a detached buffer has no bytes');
  const sab = new SharedArrayBuffer(256);
  Mutex.init(sab, 64).close();
  const info = readHeader(Buffer.from(sab, 64, HEADER_LENGTH));
  assert.equal(info.kind, 'Mutex');
  assert.equal(info.objectBytes, 128);
});

// ------------------------------------------------ errors: errno and names --

const noSyscall = (err) => {
  assert.equal('errno' in err, false, `${err.code} raised by shmkit carries errno: ${err.message}`);
  assert.equal('syscall' in err, false, `${err.code} raised by shmkit carries syscall: ${err.message}`);
  return true;
};

test('errors shmkit raises itself (timeouts, EPERM, EDEADLK, EOVERFLOW, ENODEV, ENAMETOOLONG) carry neither errno nor syscall, and name the object', async () => {
  const name = uniqueName('errno-rule');
  const m = Mutex.create(name);
  const other = Mutex.open(name);
  const sab = new SharedArrayBuffer(1024);
  const embedded = Mutex.init(sab, 64);
  try {
    const named = (code, call) => (err) => {
      assert.equal(err.code, code);
      noSyscall(err);
      assert.match(err.message, new RegExp(`^Mutex '${name}': ${call}`), err.message);
      return true;
    };
    assert.throws(() => m.unlock(), named('EPERM', 'unlock\\(\\)'));
    m.lockSync();
    assert.throws(() => m.lockSync(), named('EDEADLK', 'lockSync\\(\\)'));
    // another async context of this thread holds it: lock() waits, and times out
    await assert.rejects(other.lock({ timeout: 20 }), named('ETIMEDOUT', 'lock\\(\\) timed out after 20 ms'));
    m.unlock();
    // held by another thread (a foreign tid in WORD): lockSync() times out
    const word = new Int32Array(sab, 64 + 64, 1);
    Atomics.store(word, 0, 1);
    assert.throws(() => embedded.lockSync({ timeout: 20 }), (err) => err.code === 'ETIMEDOUT' && noSyscall(err) && err.message === 'Mutex at offset 64: lockSync() timed out after 20 ms');
    Atomics.store(word, 0, 0);
    assert.throws(() => embedded.unlock(), (err) => err.code === 'EPERM' && noSyscall(err) && /^Mutex at offset 64: unlock\(\)/.test(err.message));
  } finally {
    m.close();
    other.close();
    embedded.close();
    Mutex.unlink(name);
  }
  const waits = [
    ['RwLock at offset 128: writeSync()', () => { const rw = RwLock.init(sab, 128); rw.readSync(); return () => RwLock.attach(sab, 128).writeSync({ timeout: 10 }); }],
    ['Semaphore at offset 256: acquireSync()', () => () => Semaphore.init(sab, 256).acquireSync({ timeout: 10 })],
    ['Barrier at offset 384: waitSync()', () => () => Barrier.init(sab, 384, { parties: 2 }).waitSync({ timeout: 10 })],
    ['Notifier at offset 512: waitSync()', () => () => { const n = Notifier.init(sab, 512); n.waitSync(n.value, { timeout: 10 }); }],
    ['Condition at offset 640: waitSync()', () => () => { const mx = Mutex.init(sab, 768); mx.lockSync(); try { Condition.init(sab, 640).waitSync(mx, { timeout: 10 }); } finally { mx.unlock(); } }],
  ];
  for (const [subject, setup] of waits) {
    const call = setup();
    assert.throws(call, (err) => err.code === 'ETIMEDOUT' && noSyscall(err) && err.message === `${subject} timed out after 10 ms`, subject);
  }
  const sem = Semaphore.init(new SharedArrayBuffer(128), 0, { initial: 2 ** 31 - 1 });
  assert.throws(() => sem.release(), (err) => err.code === 'EOVERFLOW' && noSyscall(err) && /^Semaphore at offset 0: release\(1\)/.test(err.message));
  const rw = RwLock.init(new SharedArrayBuffer(128), 0);
  assert.throws(() => rw.unlock(), (err) => err.code === 'EPERM' && noSyscall(err) && /^RwLock at offset 0: unlock\(\)/.test(err.message));
  assert.throws(() => Segment.create('x'.repeat(256), { size: 1 }), (err) => err.code === 'ENAMETOOLONG' && noSyscall(err));
  // a pipe is not shared memory: refused after a successful fstat
  const { openSync, closeSync } = await import('node:fs');
  const fd = openSync('/dev/null', 'r');
  try {
    assert.throws(() => Segment.fromFd(fd), (err) => err.code === 'ENODEV' && noSyscall(err) && /not a shared memory object/.test(err.message));
  } finally {
    closeSync(fd);
  }
});

test('failed syscalls carry errno and syscall; BAD_LAYOUT and closed errors name the object', () => {
  const missing = uniqueName('missing');
  assert.throws(() => Mutex.open(missing), (err) => err.code === 'ENOENT' && err.errno === -2 && err.syscall === 'shm_open' && err.path === missing);
  const name = uniqueName('layout-names');
  const n = Notifier.create(name);
  try {
    assert.throws(() => Mutex.open(name), (err) => err.code === 'ERR_SHMKIT_BAD_LAYOUT' && noSyscall(err) && err.path === name &&
      err.message === `Mutex '${name}': holds a Notifier, not a Mutex`);
    const sab = new SharedArrayBuffer(256);
    Notifier.init(sab, 64).close();
    assert.throws(() => Mutex.attach(sab, 64), (err) => err.code === 'ERR_SHMKIT_BAD_LAYOUT' && err.message === 'Mutex at offset 64: holds a Notifier, not a Mutex');
    n.close();
    assert.throws(() => n.value, (err) => err.code === 'ERR_SHMKIT_CLOSED' && noSyscall(err) && err.message === `Notifier '${name}' is closed`);
    const e = Notifier.attach(sab, 64);
    e.close();
    assert.throws(() => e.notify(), (err) => err.code === 'ERR_SHMKIT_CLOSED' && err.message === 'Notifier at offset 64 is closed');
    const seg = Segment.open(name);
    seg.close();
    assert.throws(() => seg.buffer, (err) => err.code === 'ERR_SHMKIT_CLOSED' && err.message === `Segment '${name}' is closed`);
  } finally {
    n.close();
    Notifier.unlink(name);
  }
});

test('Segment.openOrCreate of an existing segment of another size is ERR_SHMKIT_MISMATCH and leaves nothing open; the same size opens it', () => {
  const name = uniqueName('seg-mismatch');
  const seg = Segment.openOrCreate(name, { size: 4096 });
  try {
    seg.bytes[0] = 7;
    const same = Segment.openOrCreate(name, { size: 4096, readOnly: true });
    assert.equal(same.bytes[0], 7);
    same.close();
    const fds = () => readdirSync('/proc/self/fd').length;
    const before = fds();
    for (const size of [1, 4095, 4097, 8192]) {
      assert.throws(() => Segment.openOrCreate(name, { size }), (err) => {
        assert.equal(err.code, 'ERR_SHMKIT_MISMATCH');
        assert.equal(err.path, name);
        assert.match(err.message, new RegExp(`^Segment '${name}' already exists with size 4096; openOrCreate asked for ${size}`));
        return true;
      });
    }
    assert.equal(fds(), before, 'a refused openOrCreate left a descriptor open');
    assert.equal(seg.size, 4096);
  } finally {
    seg.close();
    Segment.unlink(name);
  }
});
