// The async iteration shared by RedisQueue and RedisSubscriber.
import type { ShmkitError } from '../index.js';

/** What `receiveUntilClosed` reads from: a handle's receive() and its closed flag. */
export interface Receiving<T> {
  receive(): Promise<T>;
  readonly closed: boolean;
}

/**
 * `for await` over a handle: receives until the handle is closed (a receive
 * rejected with ERR_SHMKIT_CLOSED once `closed` is true ends the loop); any
 * other error is thrown out of the loop.
 */
export async function* receiveUntilClosed<T>(handle: Receiving<T>): AsyncGenerator<T, void, undefined> {
  for (;;) {
    let m: T;
    try {
      m = await handle.receive();
    } catch (err) {
      if ((err as ShmkitError).code === 'ERR_SHMKIT_CLOSED' && handle.closed) return;
      throw err;
    }
    yield m;
  }
}
