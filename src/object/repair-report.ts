/**
 * What `repair()` of a Queue, Topic or Dict found and did: one shape for
 * every kind, so a tool (or the `shmkit` command) can report any of them.
 */
export interface RepairReport {
  /** The problems found before repairing: what `check()` would have returned. */
  readonly found: readonly string[];
  /** What was done about them, one line each (what was dropped, reset or recounted). */
  readonly repaired: readonly string[];
  /** Problems a check still finds afterwards: empty when the object is sound again. */
  readonly remaining: readonly string[];
}
