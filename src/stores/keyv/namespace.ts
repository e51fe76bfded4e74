// Which keys of the Dict belong to a Keyv namespace.
//
// Keyv (5) prefixes every key it hands a store with `${namespace}:` (its
// `_getKeyPrefix`; default namespace 'keyv') and tells the store its
// namespace by assigning `store.namespace`. The store keeps keys exactly as
// given, so a namespace's keys are the Dict's keys that start with that
// prefix: what clear() removes and iterator() walks. Without a namespace
// (Keyv given `namespace: undefined`) the store's keys are all of the Dict's.

/** The prefix Keyv puts before the keys of `namespace`; '' without one (every key matches). */
export function namespacePrefix(namespace: string | undefined): string {
  return namespace ? `${namespace}:` : '';
}

/** The keys among `keys` that belong to `namespace`. */
export function keysIn(keys: readonly string[], namespace: string | undefined): string[] {
  const prefix = namespacePrefix(namespace);
  return prefix === '' ? [...keys] : keys.filter((k) => k.startsWith(prefix));
}
