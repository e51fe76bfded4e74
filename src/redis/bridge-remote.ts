// The other side of a bridge: where its Topics and Queues live past this
// host. By default RedisTopic and RedisQueue on the bridge's client; any
// object implementing AsyncTopic / AsyncQueue with bytes messages will do.
import { ShmkitError, type AsyncQueue, type AsyncTopic } from '../index.js';
import type { RedisClient } from './remote.js';

/** Makes the remote objects a bridge carries messages to and from (bytes messages). */
export interface BridgeRemote {
  /** The remote Topic named `name`. */
  topic(name: string): AsyncTopic<Buffer>;
  /** The remote Queue named `name`. */
  queue(name: string): AsyncQueue<Buffer>;
}

/** RedisTopic / RedisQueue on `redis`. */
export function defaultRemote(_redis: RedisClient, _options: { commandTimeout: number; keyPrefix: string; capacity: number | undefined; claimAfter: number | undefined }): BridgeRemote {
  const missing = (): never => {
    throw new ShmkitError('ERR_INVALID_STATE', 'RedisTopic and RedisQueue are not in this build yet: pass options.remote');
  };
  return { topic: missing, queue: missing };
}
