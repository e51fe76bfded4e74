/**
 * `shmkit/keyv`: a Keyv storage adapter over a shmkit Dict, so that Keyv,
 * `cacheable` and `cache-manager` share one cache across every worker of a
 * host. Keyv (5) is an optional peer dependency: this entry point uses its
 * types only and never loads it.
 *
 * ```ts
 * import Keyv from 'keyv';
 * import { KeyvShm } from 'shmkit/keyv';
 * const cache = new Keyv({ store: new KeyvShm({ dict: { name: '/cache' } }), namespace: 'pages' });
 * ```
 */
export { KeyvShm, type KeyvShmOpts } from './keyv-shm.js';
export type { KeyvShmOptions } from './options.js';
export type { DictOption, DictByName } from '../dict-option.js';
