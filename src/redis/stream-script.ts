// A Lua script run by its SHA1 (EVALSHA), falling back to EVAL when the
// server does not know it yet (first use, a restarted server, another
// Cluster node): EVAL also caches it, so the next EVALSHA hits. Run on the
// caller's client without adding commands to it (ioredis's defineCommand
// would change the user's object).
import { createHash } from 'node:crypto';
import type { RedisClient } from './remote.js';

/** One Lua script and how to run it. */
export class LuaScript {
  readonly #sha: string;
  readonly #source: string;

  constructor(source: string) {
    this.#source = source;
    this.#sha = createHash('sha1').update(source).digest('hex');
  }

  /**
   * Runs the script: `argv` is [slot, numkeys, ...keys, ...args], built
   * once by the caller and reused (no array per call here); `argv[0]` is
   * this method's, overwritten with the SHA1 (or the source). Replies keep bulk strings
   * as Buffers (messages are bytes).
   */
  async run(client: RedisClient, argv: Array<string | Buffer | number>): Promise<unknown> {
    argv[0] = this.#sha;
    try {
      return await client.callBuffer('EVALSHA', argv);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      argv[0] = this.#source;
      return client.callBuffer('EVAL', argv);
    }
  }
}
