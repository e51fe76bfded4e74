// KeyvShm's options, checked before anything is opened.
import { argType, resolveDict, type DictOption, type ResolvedDict } from '../dict-option.js';

/** Options of {@link KeyvShm}. */
export interface KeyvShmOptions {
  /**
   * The Dict holding the cache: a shmkit `Dict` handle, any `AsyncDict`
   * (`RedisDict`, `TwoLevelDict` of `shmkit/redis`), or `{ name, memory }`
   * to open or create a shared-memory Dict that the store owns (and closes
   * in `disconnect()`).
   */
  dict: DictOption;
  /**
   * The store's namespace until Keyv sets its own (Keyv assigns
   * `store.namespace` when it is given the store: pass the same namespace to
   * Keyv). clear() and iterator() act on the keys starting with
   * `${namespace}:`.
   */
  namespace?: string;
}

/** The checked options: the Dict (and whether the store owns it) and the namespace. */
export interface CheckedOptions extends ResolvedDict {
  readonly namespace: string | undefined;
}

/** Checks `options` (ERR_INVALID_ARG_TYPE, naming the option) and only then resolves the Dict. */
export function checkOptions(options: unknown): CheckedOptions {
  if (options === null || typeof options !== 'object') throw argType('KeyvShm: options', 'an object { dict, namespace? }', options);
  const { dict, namespace } = options as Partial<KeyvShmOptions>;
  if (namespace !== undefined && typeof namespace !== 'string') throw argType('KeyvShm: options.namespace', 'a string or undefined', namespace);
  return { ...resolveDict('KeyvShm: options.dict', dict), namespace };
}
