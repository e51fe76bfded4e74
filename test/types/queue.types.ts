// Compile-time checks of Queue's typings (test/queue-types.test.mjs runs
// `tsc --noEmit` on this file). Each `@ts-expect-error` must be an error:
// if a typing regresses so that the line compiles, tsc fails.
import { Queue, type QueueTryResult } from '../../src/channel/queue.js';
import type { JsonValue } from '../../src/channel/codec.js';

type Equal<A, B> = (<X>() => X extends A ? 1 : 2) extends (<X>() => X extends B ? 1 : 2) ? true : false;
function expectType<A>(_: A): <B>(check: Equal<A, B> extends true ? true : never) => void {
  return () => {};
}

interface Job {
  id: number;
  text: string;
}

export async function typings(buffer: SharedArrayBuffer): Promise<void> {
  // Bytes (no encoding): Queue<Buffer>; sends bytes or strings.
  const bytes = Queue.create('/t', { capacity: 1024 });
  expectType(bytes)<Queue<Buffer>>(true);
  expectType(bytes.tryReceive())<Buffer | undefined>(true);
  expectType(bytes.receiveSync())<Buffer>(true);
  expectType(await bytes.receive())<Buffer>(true);
  expectType(bytes.tryReceiveMany(4))<Buffer[]>(true);
  bytes.trySend('text');
  bytes.trySend(new Uint8Array(4));
  bytes.trySendMany(['a', Buffer.from('b')]);
  // @ts-expect-error a bytes queue does not take objects
  bytes.trySend({ id: 1 });
  // @ts-expect-error nor numbers
  void bytes.send(42);
  for await (const m of bytes) expectType(m)<Buffer>(true);

  // JSON: Queue<JsonValue>, or the caller's type.
  const json = Queue.open('/t', { encoding: 'json' });
  expectType(json)<Queue<JsonValue>>(true);
  expectType(json.tryReceive())<JsonValue | undefined>(true);
  json.trySend({ a: [1, 'x', null] });
  // @ts-expect-error a BigInt is no JSON value
  json.trySend(1n);
  const jobs = Queue.openOrCreate<Job>('/t', { capacity: 1024, encoding: 'json' });
  expectType(await jobs.receive())<Job>(true);
  jobs.trySend({ id: 1, text: 'x' });
  // @ts-expect-error a Job has a text
  jobs.trySend({ id: 1 });

  // v8: Queue<unknown> (anything structured clone carries).
  const v8 = Queue.attach(buffer, 0, { encoding: 'v8' });
  expectType(v8)<Queue<unknown>>(true);
  v8.trySend(new Map([[1, 2n]]));
  const embedded = Queue.init(buffer, 0, { capacity: 64 });
  expectType(embedded)<Queue<Buffer>>(true);

  // Zero-copy stays bytes; the result code is a closed set.
  expectType(jobs.tryPeek())<Uint8Array | undefined>(true);
  expectType(bytes.lastTryResult)<QueueTryResult>(true);
  const r: 'ok' | 'full' | 'empty' | 'busy' = bytes.lastTryResult;
  void r;
}
