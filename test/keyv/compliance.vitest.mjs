// Keyv's own compliance suite (@keyv/test-suite: API, values, namespaces;
// and its iterator tests) against KeyvShm, on:
//   - a shared-memory Dict, Keyv serializing to strings (its default);
//   - the same Dict, Keyv handing the store raw { value, expires } objects
//     (`serialize: undefined`), which KeyvShm stores as v8.serialize bytes;
//   - a RedisDict on the redis-server whose URL is in KEYV_SUITE_REDIS;
//   - a TwoLevelDict: the near Dict KEYV_SUITE_NEAR in front of a RedisDict.
// The Dict names come from the node:test file that runs vitest
// (test/store-keyv-suite.test.mjs), which creates and removes them.
import * as vitest from 'vitest';
import keyvTestSuite, { keyvIteratorTests } from '@keyv/test-suite';
import Keyv from 'keyv';
import Redis from 'ioredis';
import { Dict } from 'shmkit';
import { KeyvShm } from 'shmkit/keyv';
import { RedisDict, TwoLevelDict } from 'shmkit/redis';

const { describe, afterAll } = vitest;
const SHM_DICT = process.env.KEYV_SUITE_DICT;
const NEAR_DICT = process.env.KEYV_SUITE_NEAR;
const REDIS_URL = process.env.KEYV_SUITE_REDIS;
if (!SHM_DICT || !NEAR_DICT || !REDIS_URL) throw new Error('run through test/store-keyv-suite.test.mjs: KEYV_SUITE_DICT, KEYV_SUITE_NEAR and KEYV_SUITE_REDIS must be set');

/** Keyv handing the store its raw data: no serializer. */
class RawKeyv extends Keyv {
  constructor(options = {}) {
    super({ serialize: undefined, deserialize: undefined, ...options });
  }
}

/** Keyv with its iterator wired to KeyvShm's, the one line docs/API.md gives (Keyv 5 wires only its own adapters). */
class IterableKeyv extends Keyv {
  constructor(options) {
    super(options);
    this.iterator = this.generateIterator(this.store.iterator.bind(this.store));
  }
}

describe('shm Dict, Keyv serializing', () => {
  const dict = Dict.open(SHM_DICT);
  afterAll(() => dict.close());
  keyvTestSuite(vitest, Keyv, () => new KeyvShm({ dict }));
  keyvIteratorTests(vitest, IterableKeyv, () => new KeyvShm({ dict }));
});

describe('shm Dict, Keyv raw (serialize: undefined)', () => {
  const dict = Dict.open(SHM_DICT);
  afterAll(() => dict.close());
  keyvTestSuite(vitest, RawKeyv, () => new KeyvShm({ dict }));
});

describe('RedisDict', () => {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  const dict = new RedisDict(redis, 'keyv-suite', { commandTimeout: 5000 });
  afterAll(async () => {
    await dict.close();
    redis.disconnect();
  });
  keyvTestSuite(vitest, Keyv, () => new KeyvShm({ dict }));
  keyvIteratorTests(vitest, IterableKeyv, () => new KeyvShm({ dict }));
});

describe('TwoLevelDict (near shm Dict, RedisDict remote)', () => {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  const near = Dict.open(NEAR_DICT);
  const dict = new TwoLevelDict({ near, remote: new RedisDict(redis, 'keyv-suite-2l'), redis });
  vitest.beforeAll(() => dict.ready());
  afterAll(async () => {
    await dict.close();
    near.close();
    redis.disconnect();
  });
  keyvTestSuite(vitest, Keyv, () => new KeyvShm({ dict }));
  keyvIteratorTests(vitest, IterableKeyv, () => new KeyvShm({ dict }));
});
