// Every public member of a closed handle refuses with ERR_SHMKIT_CLOSED,
// for every kind of handle shmkit exports (the closed-handle rule of
// docs/API.md): one table, one pass, one list.
//
// The members are found by reflection, so a member added later is checked
// without anyone touching this file: every getter (called through its
// descriptor), every method (sync: must throw; async: must reject, or throw,
// within a bound) and every own data property (which cannot refuse at all) of
// a closed handle, minus:
//   - LIFECYCLE below: close()/detach()/dispose (idempotent), `closed`,
//     `detached`, `name`, `constructor`;
//   - members that are not in the published typings (dist/src/*.d.ts, read
//     with the TypeScript compiler): internals (`@internal`, protected,
//     `#private`) are not the public surface.
// Every failing member is collected and reported at once. KNOWN_OPEN lists
// the ones that fail on today's main; the test fails when a member fails that
// is not listed, and when a listed member passes (take it off the list).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import * as shmkit from 'shmkit';
import { trackedNames } from './fixtures/names.mjs';
import { withTimeout } from './fixtures/helpers.mjs';

const {
  Segment, SysVSegment, Mutex, RwLock, Semaphore, Condition, Barrier, Notifier, Queue, Topic, Dict, SharedArray,
} = shmkit;
const require = createRequire(import.meta.url);
const uniqueName = trackedNames();

/** Members every closable handle may keep answering after close(). */
const LIFECYCLE = new Set(['constructor', 'close', 'closed', 'name', 'detach', 'detached', Symbol.dispose, Symbol.asyncDispose]);

/** Exported classes that have no closed state: not in the table (checked below). */
const NOT_CLOSABLE = {
  SysVSegment: 'holds no descriptor or mapping, only a kernel id; its attachments are the handles (SysVAttachment.detach() closes one)',
  ShmkitError: 'an error',
  LaggedError: 'an error',
};

/**
 * Members known not to refuse yet, by row: empty since API 1.0. A listed
 * member that passes fails the test, so the list can only shrink; a new
 * member that does not refuse fails it too.
 */
const KNOWN_OPEN_BY_ROW = {
};
const KNOWN_OPEN = new Set(Object.entries(KNOWN_OPEN_BY_ROW).flatMap(([row, members]) => members.map((m) => `${row}.${m}`)));

/** Bound for one async member to settle, and the timeout given to waiting calls. */
const SETTLE_MS = 5000;
const W = Object.freeze({ timeout: 100 });

// ---- the table: every closable kind, named and embedded where both exist ----

const held = []; // cleanups, run at the end of the test (a closed named Segment's unlink() may have removed its name)

function cleanUp() {
  for (const undo of held.splice(0).reverse()) {
    try {
      undo();
    } catch (err) {
      if (err.code !== 'ENOENT') throw err;
    }
  }
}

function named(Kind, create) {
  return () => {
    const name = uniqueName(Kind.name.toLowerCase());
    const handle = create(name);
    held.push(() => Kind.unlink(name));
    return handle;
  };
}
const embedded = (length, init) => () => init(new SharedArrayBuffer(length));

const ROWS = [
  ['Segment(named)', named(Segment, (n) => Segment.create(n, { size: 4096 }))],
  ['Segment(anonymous)', () => Segment.anonymous({ size: 4096 })],
  ['SysVAttachment', () => {
    const seg = SysVSegment.get('private', { size: 4096 });
    held.push(() => seg.remove());
    return seg.attach();
  }],
  ['Notifier(named)', named(Notifier, (n) => Notifier.create(n))],
  ['Notifier(init)', embedded(Notifier.byteLength(), (b) => Notifier.init(b, 0))],
  ['Mutex(named)', named(Mutex, (n) => Mutex.create(n))],
  ['Mutex(init)', embedded(Mutex.byteLength(), (b) => Mutex.init(b, 0))],
  ['RwLock(named)', named(RwLock, (n) => RwLock.create(n))],
  ['RwLock(init)', embedded(RwLock.byteLength(), (b) => RwLock.init(b, 0))],
  ['Semaphore(named)', named(Semaphore, (n) => Semaphore.create(n, { initial: 1 }))],
  ['Semaphore(init)', embedded(Semaphore.byteLength({ initial: 1 }), (b) => Semaphore.init(b, 0, { initial: 1 }))],
  ['Condition(named)', named(Condition, (n) => Condition.create(n))],
  ['Condition(init)', embedded(Condition.byteLength(), (b) => Condition.init(b, 0))],
  ['Barrier(named)', named(Barrier, (n) => Barrier.create(n, { parties: 2 }))],
  ['Barrier(init)', embedded(Barrier.byteLength({ parties: 2 }), (b) => Barrier.init(b, 0, { parties: 2 }))],
  ['Queue(named)', named(Queue, (n) => Queue.create(n, { capacity: 4096 }))],
  ['Queue(init)', embedded(Queue.byteLength({ capacity: 4096 }), (b) => Queue.init(b, 0, { capacity: 4096 }))],
  ['Topic(named)', named(Topic, (n) => Topic.create(n, { capacity: 4096 }))],
  ['Topic(init)', embedded(Topic.byteLength({ capacity: 4096 }), (b) => Topic.init(b, 0, { capacity: 4096 }))],
  ['Dict(named)', named(Dict, (n) => Dict.create(n, { memory: 1 << 16 }))],
  ['SharedArray(named)', named(SharedArray, (n) => SharedArray.create(n, { type: Int32Array, length: 16 }))],
  ['SharedArray(init)', embedded(SharedArray.byteLength({ type: Int32Array, length: 16 }), (b) => SharedArray.init(b, 0, { type: Int32Array, length: 16 }))],
];

/** A Subscriber is closed with its Topic (and by its own close(), once it has one). */
function subscriberRows() {
  return [
    ['Subscriber(topic closed)', () => {
      const topic = Topic.init(new SharedArrayBuffer(Topic.byteLength({ capacity: 4096 })), 0, { capacity: 4096 });
      const sub = topic.subscribe();
      return { handle: sub, close: () => topic.close() };
    }],
    ['Subscriber(closed)', () => {
      const topic = Topic.init(new SharedArrayBuffer(Topic.byteLength({ capacity: 4096 })), 0, { capacity: 4096 });
      const sub = topic.subscribe();
      held.push(() => topic.close());
      return { handle: sub, close: () => sub.close() };
    }],
  ];
}

// ---- arguments: plausible ones, so that a refusal cannot be an argument error ----

const openMutex = Mutex.init(new SharedArrayBuffer(Mutex.byteLength()), 0);
let callbackRan = false;
const callback = () => {
  callbackRan = true;
};
const bytes = () => Buffer.from('x');

/** Arguments by `<Kind>.<member>`, then by `<member>`; none otherwise. */
const ARGS = {
  'Notifier.waitSync': [0, W],
  'Notifier.wait': [0, W],
  'Notifier.attempt': [0],
  'Condition.waitSync': [openMutex, W],
  'Condition.wait': [openMutex, W],
  'Barrier.waitSync': [W],
  'Barrier.wait': [W],
  lockSync: [W], lock: [W], withLock: [callback, W], withLockSync: [callback, W],
  acquireSync: [W], acquire: [W],
  readSync: [W], read: [W], writeSync: [W], write: [W],
  trySend: [bytes()], sendSync: [bytes(), W], send: [bytes(), W], sendMany: [[bytes()]],
  reserve: [8], tryReceiveInto: [Buffer.alloc(64)], receiveSync: [W], receive: [W], receiveMany: [4],
  publish: [bytes()], startingPoint: [false], recordSizeAt: [0], attempt: [0],
  get: ['k'], getStale: ['k'], ttl: ['k'], llen: ['k'], keys: [10], set: ['k', 1], add: ['k', 1], replace: ['k', 1],
  compareAndSet: ['k', undefined, 1], delete: ['k'], incr: ['k', 1], incrWithTtl: ['k', 1], expire: ['k', 1000], flushExpired: [10],
  lpush: ['k', 'v'], rpush: ['k', 'v'], lpop: ['k'], rpop: ['k'],
  chmod: [0o600], chown: [process.getuid(), process.getgid()],
};
const argsFor = (kind, member) => ARGS[`${kind}.${String(member)}`] ?? ARGS[member] ?? [];

// ---- the public surface, from the typings ----

/** Map class name -> Set of public instance member names (string-keyed; see isPublic for Symbols). */
function publicMembers() {
  const ts = require('typescript');
  const entry = require.resolve('shmkit').replace(/\.js$/, '.d.ts');
  // Without the standard library (23 s under load, 0.7 s without): member
  // names resolve all the same, only Symbol-keyed ones do not (see isPublic).
  const program = ts.createProgram([entry], { noEmit: true, noLib: true, types: [], skipLibCheck: true });
  const checker = program.getTypeChecker();
  const module = checker.getSymbolAtLocation(program.getSourceFile(entry));
  const out = new Map();
  for (let sym of checker.getExportsOfModule(module)) {
    if (sym.flags & ts.SymbolFlags.Alias) sym = checker.getAliasedSymbol(sym);
    if (!(sym.flags & ts.SymbolFlags.Class)) continue;
    const names = new Set();
    for (const p of checker.getPropertiesOfType(checker.getDeclaredTypeOfSymbol(sym))) {
      const decl = p.valueDeclaration ?? p.declarations?.[0];
      const flags = decl ? ts.getCombinedModifierFlags(decl) : 0;
      if (flags & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) continue;
      if (decl?.name && ts.isPrivateIdentifier(decl.name)) continue;
      names.add(p.name);
    }
    out.set(sym.name, names);
  }
  return out;
}

/** Symbol-keyed members (Symbol.asyncIterator, ...) are protocols, public by nature; the rest must be in the typings. */
const isPublic = (surface, key) => typeof key === 'symbol' || surface.has(key);

/** Runtime members of `handle`: [key, 'getter' | 'method' | 'data', descriptor], prototype chain first. */
function runtimeMembers(handle) {
  const seen = new Map();
  for (let p = Object.getPrototypeOf(handle); p && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
    for (const key of Reflect.ownKeys(p)) {
      if (seen.has(key)) continue;
      const d = Object.getOwnPropertyDescriptor(p, key);
      seen.set(key, [key, d.get ? 'getter' : typeof d.value === 'function' ? 'method' : 'data', d]);
    }
  }
  for (const key of Reflect.ownKeys(handle)) {
    if (!seen.has(key)) seen.set(key, [key, 'data', Object.getOwnPropertyDescriptor(handle, key)]);
  }
  return [...seen.values()];
}

const isClosedError = (err) => err?.code === 'ERR_SHMKIT_CLOSED';
const describe = (err) => `${err?.constructor?.name ?? typeof err} ${err?.code ?? '(no code)'}: ${err?.message ?? err}`;

/** What went wrong when `member` of the closed `handle` is used, or null if it refused as it must. */
async function checkMember(kind, handle, key, type, descriptor) {
  if (type === 'data') return `a data property: answers ${String(descriptor.value).slice(0, 40)} on a closed handle`;
  let result;
  try {
    result = type === 'getter' ? descriptor.get.call(handle) : descriptor.value.apply(handle, argsFor(kind, key));
  } catch (err) {
    return isClosedError(err) ? null : `threw ${describe(err)}`;
  }
  // An async method must reject; an async iterator's first next() must.
  let pending = null;
  if (typeof result?.then === 'function') pending = result;
  else if (typeof result?.next === 'function' && typeof result?.[Symbol.asyncIterator] === 'function') pending = result.next();
  if (pending === null) return `${type === 'getter' ? 'returned' : 'returned normally:'} ${describeValue(result)}`;
  try {
    const value = await withTimeout(pending, SETTLE_MS, `${kind}.${String(key)}`);
    return `resolved with ${describeValue(value)}`;
  } catch (err) {
    return isClosedError(err) ? null : `rejected with ${describe(err)}`;
  }
}

function describeValue(v) {
  if (v === undefined || v === null || typeof v !== 'object') return String(v);
  return v.constructor?.name ?? 'an object';
}

const kindOf = (label) => label.replace(/\(.*$/, '');

/** Every row: [label, () => ({ handle, close })]. */
const allRows = () => [
  ...ROWS.map(([label, make]) => [label, () => {
    const handle = make();
    return { handle, close: () => (typeof handle.close === 'function' ? handle.close() : handle.detach()) };
  }]),
  ...subscriberRows(),
];

/** Closes one row's handle and checks its members; pushes `<row>.<member>: problem` to `failures`. */
async function checkRow(t, label, make, surface, failures) {
  let handle;
  try {
    const made = make();
    handle = made.handle;
    made.close();
    made.close(); // idempotent
  } catch (err) {
    failures.push(`${label}.close: ${describe(err)}`);
    return 0;
  }
  const members = runtimeMembers(handle).filter(([key]) => !LIFECYCLE.has(key));
  const skipped = [];
  let checked = 0;
  for (const [key, type, descriptor] of members) {
    if (!isPublic(surface, key)) {
      skipped.push(String(key));
      continue;
    }
    checked++;
    const problem = await checkMember(kindOf(label), handle, key, type, descriptor);
    if (problem) failures.push(`${label}.${String(key)}: ${problem}`);
  }
  for (const key of surface) {
    if (!LIFECYCLE.has(key) && !members.some(([k]) => k === key)) failures.push(`${label}.${String(key)}: in the typings but not on the handle`);
  }
  if (skipped.length) t.diagnostic(`${label}: not public, not checked: ${skipped.join(', ')}`);
  return checked;
}

test('every exported class is in the table, or has no closed state', () => {
  const covered = new Set(allRows().map(([label]) => kindOf(label)));
  for (const [name, value] of Object.entries(shmkit)) {
    if (typeof value !== 'function' || !/^class\b/.test(Function.prototype.toString.call(value))) continue;
    assert.ok(covered.has(name) || name in NOT_CLOSABLE, `exported class ${name} has no row in the table and is not in NOT_CLOSABLE`);
  }
  for (const name of Object.keys(NOT_CLOSABLE)) {
    const proto = shmkit[name]?.prototype;
    assert.ok(proto && !('close' in proto) && !('detach' in proto), `${name} can be closed now: give it a row`);
  }
});

test('every public getter and method of every closed handle refuses with ERR_SHMKIT_CLOSED', async (t) => {
  const publicOf = publicMembers();
  const rows = allRows();
  const failures = []; // `<row>.<member>: what happened`
  let checked = 0;
  try {
    for (const [label, make] of rows) {
      const surface = publicOf.get(kindOf(label));
      assert.ok(surface, `no class ${kindOf(label)} in the typings of shmkit`);
      checked += await checkRow(t, label, make, surface, failures);
    }
  } finally {
    cleanUp();
    openMutex.close();
  }
  t.diagnostic(`${checked} members of ${rows.length} closed handles checked`);
  assert.equal(callbackRan, false, 'withLock ran its callback on a closed handle');

  const keyOf = (f) => f.slice(0, f.indexOf(':'));
  const unexpected = failures.filter((f) => !KNOWN_OPEN.has(keyOf(f)));
  const fixed = [...KNOWN_OPEN].filter((k) => !failures.some((f) => keyOf(f) === k));
  for (const f of failures.filter((f) => KNOWN_OPEN.has(keyOf(f)))) t.diagnostic(`known open: ${f}`);
  assert.deepEqual(
    { unexpected, fixed },
    { unexpected: [], fixed: [] },
    `closed handles that do not refuse (${unexpected.length}), and KNOWN_OPEN entries that pass now (${fixed.length}):\n` +
      `${unexpected.join('\n')}\n${fixed.map((k) => `fixed, remove from KNOWN_OPEN: ${k}`).join('\n')}`,
  );
});
