/**
 * Passing an anonymous (or any) segment to an unrelated process over a Unix
 * domain socket (SCM_RIGHTS).
 *
 * libuv reads sockets with read(2), which silently drops passed descriptors,
 * so the receiving side stops libuv from reading and does recvmsg(2) itself,
 * on the thread pool. The frame is 16 bytes: the ASCII tag `SHMKFD01` and the
 * segment size as a little-endian u64; the descriptor rides on its first byte.
 */
import type { Socket } from 'node:net';
import { constants as osConstants } from 'node:os';
import { native } from '../binding.js';
import { checkObject, checkSignal, checkTimeout, checkBoolean, isInstance } from '../args.js';
import { ShmkitError, invalidArgType, invalidArgValue, ownError, rethrowNative } from '../errors.js';
import { Segment } from './segment.js';

const FRAME_TAG = Buffer.from('SHMKFD01', 'latin1');
const FRAME_LENGTH = 16;
const SIZE_OFFSET = 8;
const ECANCELED = 'ECANCELED';
const osErrno = osConstants.errno;

/** Options of the socket transfers. */
export interface TransferOptions {
  /** Give up after this many milliseconds (`ETIMEDOUT`). Default: wait forever. */
  timeout?: number;
  /** Abort the wait; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

interface StreamHandle {
  fd?: number;
  reading?: boolean;
  readStop?: () => number;
}

function handleOf(socket: unknown): StreamHandle {
  if (socket === null || typeof socket !== 'object' || !('write' in socket)) {
    throw invalidArgType('socket', 'an instance of net.Socket', socket);
  }
  const handle = (socket as { _handle?: StreamHandle | null })._handle;
  if (handle == null || typeof handle.fd !== 'number' || handle.fd < 0) {
    throw invalidArgValue('socket', 'must be an open Unix domain socket', socket);
  }
  return handle;
}

// Runs one native transfer with timeout and AbortSignal wired in.
async function transfer<T>(what: string, options: TransferOptions | undefined, run: (timeout: number, cancel: Int32Array) => Promise<T>): Promise<T> {
  const opts = checkObject<TransferOptions>('options', options);
  const timeout = checkTimeout(opts.timeout);
  const signal = checkSignal(opts.signal);
  signal?.throwIfAborted();
  // The native side polls this cell from a pool thread; a SharedArrayBuffer
  // never moves, so the pointer it holds stays valid.
  const cancel = new Int32Array(new SharedArrayBuffer(4));
  const onAbort = (): void => void Atomics.store(cancel, 0, 1);
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    return await run(timeout, cancel);
  } catch (err) {
    if ((err as { errno?: number }).errno !== undefined) {
      try {
        rethrowNative(err);
      } catch (converted) {
        if ((converted as ShmkitError).code === ECANCELED && signal?.aborted) throw signal.reason;
        // shmkit's own deadline (poll or the drain timer ran out): no syscall failed.
        if ((converted as ShmkitError).code === 'ETIMEDOUT') throw ownError('ETIMEDOUT', what, `timed out after ${timeout} ms`);
        throw converted;
      }
    }
    throw err;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

// Waits for bytes already queued on the socket to be written, within the
// transfer's timeout and cancellation; errors carry errno like native ones.
function drained(socket: Socket, timeout: number, cancel: Int32Array): Promise<void> {
  return new Promise((resolve, reject) => {
    const fail = (errno: number, syscall: string) => {
      done();
      reject(Object.assign(new Error(syscall), { errno, syscall }));
    };
    const onDrain = () => (done(), resolve());
    const onClose = () => fail(osErrno.ECONNRESET, 'write');
    const poll = setInterval(() => Atomics.load(cancel, 0) !== 0 && fail(osErrno.ECANCELED, 'write'), 10);
    const timer = timeout < 0 ? undefined : setTimeout(() => fail(osErrno.ETIMEDOUT, 'write'), timeout);
    function done() {
      clearInterval(poll);
      if (timer) clearTimeout(timer);
      socket.off('drain', onDrain);
      socket.off('close', onClose);
    }
    socket.on('drain', onDrain);
    socket.on('close', onClose);
  });
}

/**
 * Sends `segment`'s descriptor over a connected Unix domain socket. Waits for
 * data already queued on the socket to be written first, so order is kept;
 * do not write to the socket until this resolves.
 */
export async function sendSegment(socket: Socket, segment: Segment, options?: TransferOptions): Promise<void> {
  const handle = handleOf(socket);
  if (!isInstance(segment, Segment)) throw invalidArgType('segment', 'an instance of Segment', segment);
  const fd = segment.fd;
  const frame = Buffer.alloc(FRAME_LENGTH);
  FRAME_TAG.copy(frame, 0);
  frame.writeBigUInt64LE(BigInt(segment.size), SIZE_OFFSET);
  await transfer('sendSegment()', options, async (timeout, cancel) => {
    const started = Date.now();
    if (socket.writableLength > 0) await drained(socket, timeout, cancel);
    const left = timeout < 0 ? -1 : Math.max(0, timeout - (Date.now() - started));
    await native.sendFd(handle.fd as number, fd, frame, left, cancel);
  });
}

/**
 * Receives a segment sent with {@link sendSegment}. Call it before the frame
 * can arrive and before reading the socket yourself (in the `'connect'` or
 * `'connection'` handler, or on a socket created with `pauseOnConnect`):
 * bytes that Node has already read lose their descriptor, and that is
 * reported as `ERR_SHMKIT_FD_LOST` when the next frame is not one.
 */
export async function receiveSegment(socket: Socket, options?: TransferOptions & { readOnly?: boolean }): Promise<Segment> {
  const handle = handleOf(socket);
  const readOnly = checkBoolean('options.readOnly', checkObject<{ readOnly?: boolean }>('options', options).readOnly, false);
  const wasReading = handle.reading === true;
  handle.readStop?.();
  // net.Socket restarts reading only when `reading` is false; keep it from
  // doing so until our recvmsg has taken the frame.
  handle.reading = true;
  let got: { fd: number; payload: Buffer };
  try {
    got = await transfer('receiveSegment()', options, (timeout, cancel) => native.recvFd(handle.fd as number, FRAME_LENGTH, timeout, cancel));
  } finally {
    handle.reading = false;
    // If the stream expects data (it asked before or during our receive), its
    // read request is still marked in flight; start the handle directly.
    const expecting = (socket as unknown as { _readableState?: { reading?: boolean } })._readableState?.reading === true;
    if ((wasReading || expecting) && !socket.destroyed) (socket as unknown as { _read(n: number): void })._read(0);
  }
  if (!got.payload.subarray(0, FRAME_TAG.length).equals(FRAME_TAG)) {
    if (got.fd >= 0) native.close(got.fd);
    throw new ShmkitError('ERR_SHMKIT_BAD_MESSAGE', 'receiveSegment: the socket did not carry a shmkit segment frame');
  }
  if (got.fd < 0) {
    throw new ShmkitError('ERR_SHMKIT_FD_LOST', 'receiveSegment: the frame arrived without its descriptor (was the socket already being read?)');
  }
  const segment = Segment.adoptFd(got.fd, readOnly);
  const announced = Number(got.payload.readBigUInt64LE(SIZE_OFFSET));
  const size = segment.size;
  if (size !== announced) {
    segment.close();
    throw new ShmkitError('ERR_SHMKIT_BAD_MESSAGE', `receiveSegment: size mismatch (frame says ${announced}, descriptor has ${size})`);
  }
  return segment;
}
