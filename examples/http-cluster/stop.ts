// When a worker process (an HTTP worker or the job worker) is to stop.

/**
 * Aborted when the primary asks this process to stop, when the primary is
 * gone (the IPC channel closes), or on a SIGTERM to this process alone (the
 * primary then starts another). SIGINT is ignored: ^C reaches the whole
 * process group, and the primary stops its workers then.
 */
export function stopSignal(): AbortSignal {
  const stop = new AbortController();
  process.on('message', (m: { cmd?: string }) => { if (m?.cmd === 'stop') stop.abort(); });
  process.on('disconnect', () => stop.abort());
  process.on('SIGTERM', () => stop.abort());
  process.on('SIGINT', () => {});
  return stop.signal;
}
