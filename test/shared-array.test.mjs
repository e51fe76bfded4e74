// SharedArray (kind 10): a typed array in shared memory, its element type and
// length recorded in the header.
//
// 1. The layout pinned (offsets, type codes) and read back from raw bytes.
// 2. Every element type round-trips between two processes (the child opens
//    by name without saying the type), edge values included (NaN, -0,
//    ±Infinity, subnormals, integer and bigint extremes).
// 3. Atomics across processes: 4 processes × 20 000 Atomics.add on an
//    Int32Array element and on a BigInt64Array element: exact totals.
// 4. Python's multiprocessing.shared_memory reads the header and the float64
//    data at the documented offsets (struct), and writes back.
// 5. Bad input (types, lengths, limits), a mismatched type or length on open
//    and on openOrCreate (ERR_SHMKIT_MISMATCH), other kinds and corrupted
//    headers (ERR_SHMKIT_BAD_LAYOUT, no crash, no leaked descriptor),
//    close() (every getter throws ERR_SHMKIT_CLOSED).
// 6. Embedded init/attach in a plain SharedArrayBuffer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as shmkit from 'shmkit';
import { uniqueName } from './fixtures/names.mjs';
import { STEP_MS, expectCode, unlinkQuietly, withTimeout } from './fixtures/helpers.mjs';
import { reap, reportOf, run, startNode } from './fixtures/proc.mjs';
import { ADD64, TYPES, mismatches, pattern } from './fixtures/shared-array-peer.mjs';
import * as L from '../dist/src/array/shared-array-layout.js';

const { Mutex, Queue, Segment, readHeader, Kind } = shmkit;
// Exported from the package once integrated; until then from the build.
const SharedArray = shmkit.SharedArray ?? (await import('../dist/src/array/shared-array.js')).SharedArray;

const PEER = fileURLToPath(new URL('./fixtures/shared-array-peer.mjs', import.meta.url));
const devShm = (name) => `/dev/shm${name}`;
const BAD_LAYOUT = expectCode('ERR_SHMKIT_BAD_LAYOUT');
const MISMATCH = expectCode('ERR_SHMKIT_MISMATCH');
const openFds = () => readdirSync('/proc/self/fd').length;

// ------------------------------------------------------------ 1. layout --

test('layout: offsets and type codes are the documented on-disk values', () => {
  assert.equal(L.SHARED_ARRAY_KIND, 10);
  assert.equal(Kind.SharedArray, 10);
  assert.equal(L.SHARED_ARRAY_VERSION, 1);
  assert.equal(L.TYPE_OFFSET, 64);
  assert.equal(L.ELEMENT_BYTES_OFFSET, 68);
  assert.equal(L.LENGTH_OFFSET, 72);
  assert.equal(L.DATA_OFFSET_OFFSET, 80);
  assert.equal(L.DATA_OFFSET, 128);
  assert.deepEqual({ ...L.ElementType }, {
    Int8Array: 1, Uint8Array: 2, Uint8ClampedArray: 3, Int16Array: 4, Uint16Array: 5, Int32Array: 6,
    Uint32Array: 7, Float32Array: 8, Float64Array: 9, BigInt64Array: 10, BigUint64Array: 11,
  });
  for (const type of TYPES) assert.equal(L.ELEMENT_BYTES.get(L.ElementType[type]), globalThis[type].BYTES_PER_ELEMENT, type);
  // 128 + length * size, rounded up to 8
  assert.equal(SharedArray.byteLength({ type: Float64Array, length: 10 }), 208);
  assert.equal(SharedArray.byteLength({ type: Int8Array, length: 3 }), 136);
  assert.equal(SharedArray.byteLength({ type: Int16Array, length: 4 }), 136);
  assert.equal(SharedArray.byteLength({ type: Uint8Array, length: 0 }), 128);
  assert.equal(SharedArray.byteLength({ type: Uint8Array, length: 2 ** 32 }), 128 + 2 ** 32, 'the largest Uint8Array Node 20 makes is accepted');
});

test('a named array as raw bytes: header, geometry and native-order data where LAYOUT.md says', () => {
  const name = uniqueName('sa-raw');
  let sa;
  let raw;
  try {
    sa = SharedArray.create(name, { type: Float64Array, length: 3, mode: 0o640 });
    sa.array.set([1.5, -2, NaN]);
    raw = Segment.open(name);
    assert.equal(raw.size, 128 + 24);
    assert.equal(raw.stat().mode, 0o640);
    const head = readHeader(raw.bytes);
    assert.equal(head.kind, 'SharedArray');
    assert.equal(head.kindCode, 10);
    assert.equal(head.version, 1);
    assert.equal(head.objectBytes, 152);
    assert.equal(head.creatorPid, process.pid);
    const view = new DataView(raw.buffer);
    assert.equal(view.getUint32(64, true), 9, 'TYPE = Float64Array');
    assert.equal(view.getUint32(68, true), 8, 'ELEMENT_BYTES');
    assert.equal(view.getBigUint64(72, true), 3n, 'LENGTH');
    assert.equal(view.getUint32(80, true), 128, 'DATA_OFFSET');
    assert.ok(raw.bytes.subarray(84, 128).every((b) => b === 0), 'reserved bytes are zero');
    assert.equal(view.getFloat64(128, true), 1.5);
    assert.equal(view.getFloat64(136, true), -2);
    assert.ok(Number.isNaN(view.getFloat64(144, true)));
    // The array is a view of exactly that memory, 64-byte aligned.
    assert.equal(sa.array.byteOffset, 128);
    assert.equal(sa.array.byteOffset % 64, 0);
    view.setFloat64(136, 42, true);
    assert.equal(sa.array[1], 42);
    assert.deepEqual(Segment.list().find((s) => s.name === name)?.shmkit, { kind: 'SharedArray', version: 1 });
  } finally {
    raw?.close();
    sa?.close();
    unlinkQuietly(name);
  }
});

// ------------------------------------------- 2. every type, two processes --

test('every element type round-trips between two processes; open(name) recreates the recorded type', async () => {
  const LENGTH = 1001; // odd: the Int8 array ends in padding
  const made = [];
  try {
    for (const type of TYPES) {
      const entry = { type, name: uniqueName(`sa-rt-${type}`), sa: undefined };
      made.push(entry);
      const sa = (entry.sa = SharedArray.create(entry.name, { type: globalThis[type], length: LENGTH }));
      assert.equal(sa.type, type);
      assert.equal(sa.length, LENGTH);
      assert.equal(sa.array.constructor, globalThis[type]);
      assert.equal(sa.array.length, LENGTH);
      assert.ok(Array.from(sa.array).every((v) => v === 0 || v === 0n), `${type} starts zeroed`);
      sa.array.set(pattern(type, LENGTH, 'parent'));
    }
    const peer = startNode(PEER, ['roundtrip', ...made.map(({ type, name }) => `${type}=${name}`)], { timeoutMs: 60000, waitMs: 30000 });
    const { results } = await reportOf(peer, 'roundtrip peer');
    assert.equal(results.length, TYPES.length);
    for (const [i, { type, name, sa }] of made.entries()) {
      const r = results[i];
      assert.deepEqual(
        { type: r.type, name: r.name, gotType: r.gotType, isInstance: r.isInstance, length: r.length, byteOffset: r.byteOffset, mismatches: r.mismatches },
        { type, name, gotType: type, isInstance: true, length: LENGTH, byteOffset: 128, mismatches: 0 },
        `child's view of ${type} (first mismatch: ${r.firstMismatch})`,
      );
      // What the child wrote, element by element (NaN equals NaN, -0 is not 0).
      assert.deepStrictEqual(Array.from(sa.array), pattern(type, LENGTH, 'child'), type);
    }
    // The two sides' patterns differ, so the check above could not pass on stale data.
    for (const type of TYPES) assert.notDeepStrictEqual(pattern(type, LENGTH, 'parent'), pattern(type, LENGTH, 'child'), type);
  } finally {
    for (const { sa, name } of made) {
      sa?.close();
      unlinkQuietly(name);
    }
  }
});

// ----------------------------------------------- 3. Atomics, 4 processes --

test('Atomics across 4 processes: 20 000 adds each on an Int32Array and a BigInt64Array element, exact totals', async () => {
  const PROCS = 4;
  const ITERATIONS = 20000;
  const INDEX = 5;
  const n32 = uniqueName('sa-atomic32');
  const n64 = uniqueName('sa-atomic64');
  let a32;
  let a64;
  const peers = [];
  try {
    a32 = SharedArray.create(n32, { type: Int32Array, length: 16 });
    a64 = SharedArray.create(n64, { type: BigInt64Array, length: 16 });
    const i32 = a32.array;
    const i64 = a64.array;
    const START64 = 2n ** 40n - 1n;
    i64[INDEX] = START64;
    for (let p = 0; p < PROCS; p++) peers.push(startNode(PEER, ['add', n32, n64, INDEX, ITERATIONS], { timeoutMs: 60000, waitMs: 30000 })); // a loaded machine starts node slowly
    await Promise.all(peers.map((p) => p.line(/^ready$/)));
    Atomics.store(i32, 0, 1); // open the start gate: all four add at once
    Atomics.notify(i32, 0);
    for (const p of peers) assert.deepEqual(await reportOf(p, 'adder'), { added: ITERATIONS });
    assert.equal(Atomics.load(i32, INDEX), PROCS * ITERATIONS);
    assert.equal(Atomics.load(i64, INDEX), START64 + BigInt(PROCS * ITERATIONS) * ADD64);
    // Neighbours untouched.
    assert.deepEqual([i32[INDEX - 1], i32[INDEX + 1], i64[INDEX - 1], i64[INDEX + 1]], [0, 0, 0n, 0n]);
  } finally {
    await reap(...peers);
    a32?.close();
    a64?.close();
    unlinkQuietly(n32, n64);
  }
});

// -------------------------------------------------------------- 4. Python --

const PY_TIMEOUT_MS = 10000;
let pythonSkip = false;
try {
  const r = await run('python3', ['-c', 'import multiprocessing.shared_memory, struct'], { timeoutMs: PY_TIMEOUT_MS });
  if (r.code !== 0) pythonSkip = `python3 cannot import multiprocessing.shared_memory: ${r.stderr.trim()}`;
} catch (err) {
  pythonSkip = `python3 not runnable: ${err.message}`;
}

// Reads a Float64Array SharedArray knowing only docs/LAYOUT.md: checks the
// header, reports the values (non-finite ones as repr strings: JSON has no
// NaN), then writes data[i] = -data[i] for the first WRITE elements.
// The resource tracker is told to forget the segment (see interop-python.test.mjs).
const PY_READER = String.raw`
import json, math, struct, sys
from multiprocessing import resource_tracker, shared_memory
name, write = sys.argv[1], int(sys.argv[2])
shm = shared_memory.SharedMemory(name=name)
try:
    resource_tracker.unregister(shm._name, "shared_memory")
    magic, version, kind, header_bytes, flags, object_bytes, pid = struct.unpack_from("<4sHHIIQI", shm.buf, 0)
    type_code, element_bytes, length, data_offset = struct.unpack_from("<IIQI", shm.buf, 64)
    values = list(struct.unpack_from("<%dd" % length, shm.buf, data_offset))
    for i in range(write):
        struct.pack_into("<d", shm.buf, data_offset + 8 * i, -values[i])
    print(json.dumps({
        "magic": magic.decode("latin1"), "version": version, "kind": kind, "header_bytes": header_bytes,
        "object_bytes": object_bytes, "pid": pid, "size": shm.size,
        "type_code": type_code, "element_bytes": element_bytes, "length": length, "data_offset": data_offset,
        "values": [v if math.isfinite(v) else repr(v) for v in values],
    }))
finally:
    shm.close()
`;

test('Python reads the float64 data at the documented offset (struct) and writes back', { skip: pythonSkip }, async () => {
  const name = uniqueName('sa-py');
  const values = [0.1, -2.5, 1e300, -0, Number.MIN_VALUE, NaN, Infinity, -Infinity, Math.PI, 12345.678];
  let sa;
  try {
    sa = SharedArray.create(name, { type: Float64Array, length: values.length });
    sa.array.set(values);
    const WRITE = 5;
    const r = await run('python3', ['-c', PY_READER, name.slice(1), WRITE], { timeoutMs: PY_TIMEOUT_MS });
    assert.equal(r.code, 0, `python exited ${r.code ?? r.signal}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /resource_tracker|leaked shared_memory/);
    const info = JSON.parse(r.stdout.trim());
    const finite = (v) => (Number.isFinite(v) ? v : { NaN: 'nan', Infinity: 'inf', '-Infinity': '-inf' }[String(v)]);
    assert.deepStrictEqual(info, {
      magic: 'SHMK', version: 1, kind: 10, header_bytes: 64, object_bytes: 128 + 8 * values.length, pid: process.pid,
      size: 128 + 8 * values.length, type_code: 9, element_bytes: 8, length: values.length, data_offset: 128,
      values: values.map(finite),
    });
    assert.ok(Object.is(info.values[3], -0), 'Python saw -0.0');
    // Python's writes are in the live mapping.
    assert.deepStrictEqual(Array.from(sa.array), values.map((v, i) => (i < WRITE ? -v : v)));
    assert.equal(existsSync(devShm(name)), true, 'the segment outlived the Python process');
  } finally {
    sa?.close();
    unlinkQuietly(name);
  }
});

// ----------------------------------------------------------- 5. misuse --

test('bad types and lengths throw before anything is created', () => {
  const name = uniqueName('sa-bad');
  class MyFloats extends Float64Array {}
  const notTypes = [Array, DataView, ArrayBuffer, SharedArrayBuffer, Buffer, MyFloats, 'Float64Array', undefined, null, {}, new Float64Array(2), Object.getPrototypeOf(Int8Array), () => {}];
  try {
    for (const type of notTypes) {
      for (const call of [
        () => SharedArray.create(name, { type, length: 4 }),
        () => SharedArray.openOrCreate(name, { type, length: 4 }),
        () => SharedArray.byteLength({ type, length: 4 }),
        () => SharedArray.init(new SharedArrayBuffer(1024), 0, { type, length: 4 }),
        // (open and attach take no type as "whatever is recorded")
        ...(type === undefined ? [] : [() => SharedArray.open(name, { type }), () => SharedArray.attach(new SharedArrayBuffer(1024), 0, { type })]),
      ]) {
        assert.throws(call, (err) => {
          expectCode('ERR_INVALID_ARG_TYPE', TypeError)(err);
          assert.match(err.message, /"options.type" argument must be a TypedArray constructor \(Int8Array, .*BigUint64Array\)/);
          return true;
        }, `type ${String(type?.name ?? type)}`);
      }
    }
    assert.throws(() => SharedArray.create(name, { type: Buffer, length: 4 }), /function Buffer \(a subclass of Uint8Array: pass Uint8Array itself\)/);
    assert.throws(() => SharedArray.create(name, { type: MyFloats, length: 4 }), /function MyFloats \(a subclass of Float64Array/);
    assert.throws(() => SharedArray.create(name, { type: Array, length: 4 }), /Received function Array$/);

    for (const [length, code, Type] of [
      [-1, 'ERR_OUT_OF_RANGE', RangeError],
      [1.5, 'ERR_OUT_OF_RANGE', RangeError],
      [NaN, 'ERR_OUT_OF_RANGE', RangeError],
      [Infinity, 'ERR_OUT_OF_RANGE', RangeError],
      [2 ** 53, 'ERR_OUT_OF_RANGE', RangeError],
      ['4', 'ERR_INVALID_ARG_TYPE', TypeError],
      [4n, 'ERR_INVALID_ARG_TYPE', TypeError],
      [undefined, 'ERR_INVALID_ARG_TYPE', TypeError],
    ]) {
      assert.throws(() => SharedArray.create(name, { type: Float64Array, length }), expectCode(code, Type), `length ${String(length)}`);
      assert.throws(() => SharedArray.byteLength({ type: Float64Array, length }), expectCode(code, Type), `length ${String(length)}`);
    }
    // One typed array holds at most buffer.constants.MAX_LENGTH (2^32) elements in Node 20.
    for (const Ctor of [Uint8Array, Float64Array, BigUint64Array]) {
      assert.throws(() => SharedArray.create(name, { type: Ctor, length: 2 ** 32 + 1 }), (err) => {
        expectCode('ERR_OUT_OF_RANGE', RangeError)(err);
        assert.match(err.message, new RegExp(`It must be <= 4294967296 \\(the most elements one ${Ctor.name} may have in this Node.js\\)\\. Received 4294967297`));
        return true;
      });
    }
    assert.throws(() => SharedArray.create(name, { type: Float64Array, length: 4, mode: 0o1000 }), expectCode('ERR_OUT_OF_RANGE', RangeError));
    assert.throws(() => SharedArray.create(name, 'rw'), expectCode('ERR_INVALID_ARG_TYPE', TypeError));
    assert.throws(() => SharedArray.create(name), expectCode('ERR_INVALID_ARG_TYPE', TypeError));
    // The 0.x positional form is refused with a message that says what replaced it.
    assert.throws(() => SharedArray.create(name, Float64Array, 4), (err) => {
      expectCode('ERR_INVALID_ARG_TYPE', TypeError)(err);
      assert.match(err.message, /an object \{ type, length \} \(the positional \(Type, length\) form was replaced\)/);
      return true;
    });
    assert.throws(() => SharedArray.create('a/b', { type: Float64Array, length: 4 }), expectCode('ERR_INVALID_ARG_VALUE', TypeError));
    assert.equal(existsSync(devShm(name)), false, 'a failed create left a segment behind');
  } finally {
    unlinkQuietly(name);
  }
});

test('length 0 is allowed: a header-only object and an empty array', () => {
  const name = uniqueName('sa-empty');
  let sa;
  try {
    sa = SharedArray.create(name, { type: BigInt64Array, length: 0 });
    assert.equal(sa.length, 0);
    assert.equal(sa.array.length, 0);
    assert.equal(statSync(devShm(name)).size, 128);
    const again = SharedArray.open(name, { type: BigInt64Array });
    assert.equal(again.array.length, 0);
    assert.equal(again.type, 'BigInt64Array');
    again.close();
  } finally {
    sa?.close();
    unlinkQuietly(name);
  }
});

test('open / openOrCreate with another type or length: ERR_SHMKIT_MISMATCH naming both values; the same shape opens the data', () => {
  const name = uniqueName('sa-mismatch');
  let sa;
  try {
    sa = SharedArray.create(name, { type: Uint8ClampedArray, length: 10 });
    sa.array.set([1, 2, 3]);
    const fds = openFds();
    // Same element size is not enough: the type itself must match.
    for (const Ctor of [Uint8Array, Int8Array, Float64Array, BigUint64Array]) {
      assert.throws(() => SharedArray.open(name, { type: Ctor }), (err) => {
        MISMATCH(err);
        assert.equal(err.name, 'ShmkitError');
        assert.equal(err.message, `SharedArray '${name}': its element type is Uint8ClampedArray (10 elements), not ${Ctor.name}`);
        return true;
      });
      assert.throws(() => SharedArray.openOrCreate(name, { type: Ctor, length: 10 }), (err) => {
        MISMATCH(err);
        assert.equal(err.message, `SharedArray '${name}' already exists with type Uint8ClampedArray; openOrCreate asked for ${Ctor.name} (omit type to use the existing object, or unlink it first)`);
        return true;
      });
    }
    assert.throws(() => SharedArray.openOrCreate(name, { type: Uint8ClampedArray, length: 11 }), (err) => {
      MISMATCH(err);
      assert.match(err.message, new RegExp(`^SharedArray '${name}' already exists with length 10; openOrCreate asked for 11`));
      return true;
    });
    assert.equal(openFds(), fds, 'a refused open leaked its segment');
    assert.throws(() => SharedArray.create(name, { type: Uint8ClampedArray, length: 10 }), expectCode('EEXIST'));

    const same = SharedArray.openOrCreate(name, { type: Uint8ClampedArray, length: 10 });
    const typed = SharedArray.open(name, { type: Uint8ClampedArray });
    try {
      assert.deepEqual([...same.array.subarray(0, 4)], [1, 2, 3, 0]);
      typed.array[3] = 300; // clamps
      assert.equal(sa.array[3], 255);
    } finally {
      same.close();
      typed.close();
    }
    assert.throws(() => SharedArray.open(uniqueName('sa-missing')), expectCode('ENOENT'));
  } finally {
    sa?.close();
    unlinkQuietly(name);
  }
  // openOrCreate creates when absent (zeroed, with the mode asked for).
  let fresh;
  try {
    fresh = SharedArray.openOrCreate(name, { type: Int16Array, length: 7, mode: 0o600 });
    assert.equal(fresh.type, 'Int16Array');
    assert.equal(statSync(devShm(name)).mode & 0o777, 0o600);
    assert.deepEqual([...fresh.array], [0, 0, 0, 0, 0, 0, 0]);
  } finally {
    fresh?.close();
    unlinkQuietly(name);
  }
});

test('a Mutex, a Queue or raw data opened as a SharedArray: ERR_SHMKIT_BAD_LAYOUT', () => {
  const nm = uniqueName('sa-is-mutex');
  const nq = uniqueName('sa-is-queue');
  const nr = uniqueName('sa-is-raw');
  let m;
  let q;
  let raw;
  try {
    m = Mutex.create(nm);
    q = Queue.create(nq, { capacity: 64 });
    raw = Segment.create(nr, { size: 4096 });
    raw.bytes.fill(0xab);
    const fds = openFds();
    assert.throws(() => SharedArray.open(nm), (err) => BAD_LAYOUT(err) && /holds a Mutex, not a SharedArray/.test(err.message));
    assert.throws(() => SharedArray.open(nq, { type: Float64Array }), (err) => BAD_LAYOUT(err) && /holds a Queue, not a SharedArray/.test(err.message));
    assert.throws(() => SharedArray.openOrCreate(nq, { type: Float64Array, length: 4 }), BAD_LAYOUT);
    assert.throws(() => SharedArray.open(nr), (err) => BAD_LAYOUT(err) && /not a shmkit object \(magic 0xabababab/.test(err.message));
    assert.equal(openFds(), fds, 'a refused open leaked its segment');
    // ...and the other way round.
    const nsa = uniqueName('sa-as-mutex');
    let sa;
    try {
      sa = SharedArray.create(nsa, { type: Int32Array, length: 32 });
      assert.throws(() => Mutex.open(nsa), (err) => BAD_LAYOUT(err) && /holds a SharedArray, not a Mutex/.test(err.message));
    } finally {
      sa?.close();
      unlinkQuietly(nsa);
    }
  } finally {
    m?.close();
    q?.close();
    raw?.close();
    unlinkQuietly(nm, nq, nr);
  }
});

test('corrupted headers and geometry are refused with ERR_SHMKIT_BAD_LAYOUT, never a crash', () => {
  const name = uniqueName('sa-corrupt');
  let sa;
  let raw;
  try {
    sa = SharedArray.create(name, { type: Float64Array, length: 10 }); // 208 bytes
    raw = Segment.open(name);
    const view = new DataView(raw.buffer);
    const pristine = raw.bytes.slice(0, 128);
    const cases = [
      ['TYPE 0', () => view.setUint32(64, 0, true), /unknown element type code 0$/],
      ['TYPE 99', () => view.setUint32(64, 99, true), /unknown element type code 99$/],
      ['TYPE Int32Array, ELEMENT_BYTES still 8', () => view.setUint32(64, 6, true), /element size 8, but Int32Array elements have 4 bytes$/],
      ['TYPE Int32Array, 4-byte elements, 10 of them', () => (view.setUint32(64, 6, true), view.setUint32(68, 4, true)), /10 elements of 4 bytes need 168 bytes, but the header says the object has 208$/],
      ['ELEMENT_BYTES 0', () => view.setUint32(68, 0, true), /element size 0, but Float64Array elements have 8 bytes$/],
      ['LENGTH 11', () => view.setBigUint64(72, 11n, true), /11 elements of 8 bytes need 216 bytes/],
      ['LENGTH 2^63', () => view.setBigUint64(72, 2n ** 63n, true), /length 9223372036854776000 is more than the 4294967296 elements/],
      ['LENGTH 2^32 + 1', () => view.setBigUint64(72, 2n ** 32n + 1n, true), /length 4294967297 is more than the 4294967296 elements/],
      ['DATA_OFFSET 64', () => view.setUint32(80, 64, true), /data offset 64 \(expected 128\)$/],
      ['object bytes beyond the segment', () => view.setBigUint64(16, 4096n, true), /claims 4096 bytes but only 208 are mapped/],
      ['object bytes 200', () => view.setBigUint64(16, 200n, true), /10 elements of 8 bytes need 208 bytes, but the header says the object has 200$/],
      ['kind 11', () => view.setUint16(6, 11, true), /holds a kind 11, not a SharedArray/],
      ['version 2', () => view.setUint16(4, 2, true), /layout version 2; this shmkit reads version 1/],
      ['magic', () => view.setUint32(0, 0x12345678, true), /not a shmkit object/],
    ];
    const fds = openFds();
    for (const [what, corrupt, message] of cases) {
      raw.bytes.set(pristine);
      corrupt();
      for (const open of [() => SharedArray.open(name), () => SharedArray.open(name, { type: Float64Array }), () => SharedArray.attach(raw.buffer, 0)]) {
        assert.throws(open, (err) => {
          BAD_LAYOUT(err);
          assert.match(err.message, message, what);
          return true;
        }, what);
      }
    }
    assert.equal(openFds(), fds, 'a refused open leaked its segment');
    // A valid header in memory too small for the geometry block.
    const tiny = new SharedArrayBuffer(96);
    new Uint8Array(tiny).set(pristine.subarray(0, 96));
    new DataView(tiny).setBigUint64(16, 96n, true);
    assert.throws(() => SharedArray.attach(tiny, 0), (err) => BAD_LAYOUT(err) && /claims 96 bytes, less than its 128-byte header/.test(err.message));
    raw.bytes.set(pristine);
    const again = SharedArray.open(name, { type: Float64Array });
    assert.equal(again.length, 10);
    again.close();
  } finally {
    raw?.close();
    sa?.close();
    unlinkQuietly(name);
  }
});

test('close(): array throws ERR_SHMKIT_CLOSED, old views read zeros without crashing, the object lives on', () => {
  const name = uniqueName('sa-close');
  let sa;
  let other;
  try {
    sa = SharedArray.create(name, { type: Int32Array, length: 8 });
    other = SharedArray.open(name);
    const kept = sa.array;
    assert.equal(sa.array, kept, 'array is created once');
    kept[2] = 7;
    assert.equal(sa.name, name);
    assert.equal(sa.closed, false);
    sa.close();
    assert.equal(sa.closed, true);
    assert.throws(() => sa.array, (err) => expectCode('ERR_SHMKIT_CLOSED')(err) && err.message === `SharedArray '${name}' is closed`);
    assert.equal(kept[2], 0, 'a view kept past close() sees private zero pages');
    kept[3] = 9; // harmless
    assert.equal(other.array[2], 7);
    assert.equal(other.array[3], 0, 'a write through a closed view reached the object');
    sa.close(); // again: nothing
    // Every getter of a closed handle throws (closed and name excepted).
    const members = { array: () => sa.array, length: () => sa.length, type: () => sa.type, stats: () => sa.stats() };
    const own = Object.getOwnPropertyNames(SharedArray.prototype).filter((p) => p !== 'constructor');
    assert.deepEqual(own.filter((p) => !(p in members)), [], 'getters or methods missing from the closed-handle table');
    for (const [what, get] of Object.entries(members)) {
      assert.throws(get, expectCode('ERR_SHMKIT_CLOSED'), `${what} on a closed handle`);
    }
    assert.equal(sa.name, name);
    other[Symbol.dispose]();
    assert.equal(other.closed, true);
    assert.throws(() => other.array, expectCode('ERR_SHMKIT_CLOSED'));
    const third = SharedArray.open(name, { type: Int32Array });
    assert.equal(third.array[2], 7);
    third.close();
  } finally {
    sa?.close();
    other?.close();
    unlinkQuietly(name);
  }
});

// --------------------------------------------------------- 6. embedded --

test('embedded: init and attach in a plain SharedArrayBuffer, side by side, Atomics at an 8-aligned offset', () => {
  const first = SharedArray.byteLength({ type: Int8Array, length: 5 }); // 133 -> 136
  assert.equal(first, 136);
  const second = SharedArray.byteLength({ type: BigInt64Array, length: 4 });
  const buffer = new SharedArrayBuffer(8 + first + second);
  new Uint8Array(buffer).fill(0xff); // init must not keep old bytes
  const a = SharedArray.init(buffer, 8, { type: Int8Array, length: 5 });
  const b = SharedArray.init(buffer, 8 + first, { type: BigInt64Array, length: 4 });
  assert.equal(a.name, null);
  assert.equal(a.byteOffset, 8);
  assert.deepEqual([...a.array], [0, 0, 0, 0, 0]);
  assert.deepEqual([...b.array], [0n, 0n, 0n, 0n]);
  assert.equal(b.array.byteOffset, 8 + 136 + 128);
  assert.equal(b.array.byteOffset % 8, 0);
  assert.equal(new Uint8Array(buffer)[0], 0xff, 'bytes before the object are untouched');
  a.array.set([-1, 2, -3, 4, -5]);
  assert.equal(Atomics.add(b.array, 3, -(2n ** 62n)), 0n);
  assert.equal(Atomics.compareExchange(b.array, 3, -(2n ** 62n), 5n), -(2n ** 62n));

  const a2 = SharedArray.attach(buffer, 8);
  const b2 = SharedArray.attach(buffer, 8 + first, { type: BigInt64Array });
  assert.equal(a2.type, 'Int8Array');
  assert.deepEqual([...a2.array], [-1, 2, -3, 4, -5]);
  assert.equal(b2.array[3], 5n);
  assert.throws(() => SharedArray.attach(buffer, 8, { type: Uint8Array }), (err) => MISMATCH(err) && /at offset 8: its element type is Int8Array/.test(err.message));
  assert.throws(() => SharedArray.attach(buffer, 8 + first, { type: Mutex }), expectCode('ERR_INVALID_ARG_TYPE', TypeError));
  // A worker-thread-style second view of the same memory shares the data.
  b2.array[0] = -7n;
  assert.equal(b.array[0], -7n);

  // Placement errors: misaligned, too small, not a SharedArrayBuffer.
  assert.throws(() => SharedArray.init(buffer, 4, { type: Int8Array, length: 1 }), expectCode('ERR_OUT_OF_RANGE', RangeError));
  assert.throws(() => SharedArray.init(new SharedArrayBuffer(200), 0, { type: Float64Array, length: 10 }), expectCode('ERR_OUT_OF_RANGE', RangeError));
  assert.throws(() => SharedArray.init(new ArrayBuffer(1024), 0, { type: Float64Array, length: 10 }), expectCode('ERR_INVALID_ARG_TYPE', TypeError));
  assert.throws(() => SharedArray.attach(new SharedArrayBuffer(32), 0), (err) => BAD_LAYOUT(err) && /too small for a shmkit header/.test(err.message));
  // A failed init leaves the memory alone.
  const untouched = new SharedArrayBuffer(200);
  assert.throws(() => SharedArray.init(untouched, 0, { type: Float64Array, length: 10 }), expectCode('ERR_OUT_OF_RANGE'));
  assert.ok(new Uint8Array(untouched).every((x) => x === 0));

  a.close();
  assert.throws(() => a.array, expectCode('ERR_SHMKIT_CLOSED'));
  assert.deepEqual([...a2.array], [-1, 2, -3, 4, -5], 'closing an embedded handle leaves the memory to the others');
  for (const h of [b, a2, b2]) h.close();
});

test('a SharedArray in a worker thread sees the same memory (named open)', async () => {
  const { Worker } = await import('node:worker_threads');
  const name = uniqueName('sa-worker');
  let sa;
  let worker;
  try {
    sa = SharedArray.create(name, { type: Float32Array, length: 4 });
    sa.array.set([1.5, 2.5]);
    worker = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
       (async () => {
         const pkg = await import('shmkit');
         const SharedArray = pkg.SharedArray ?? (await import(workerData.fallback)).SharedArray;
         const sa = SharedArray.open(workerData.name);
         const seen = [...sa.array];
         sa.array[3] = -0.25;
         const type = sa.type;
         sa.close();
         parentPort.postMessage({ seen, type });
       })().catch((err) => parentPort.postMessage({ error: String(err.stack) }));`,
      { eval: true, workerData: { name, fallback: new URL('../dist/src/array/shared-array.js', import.meta.url).href } },
    );
    const msg = await withTimeout(new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    }), STEP_MS, 'the worker');
    assert.deepEqual(msg, { seen: [1.5, 2.5, 0, 0], type: 'Float32Array' });
    assert.equal(sa.array[3], -0.25);
  } finally {
    await worker?.terminate();
    sa?.close();
    unlinkQuietly(name);
  }
});
