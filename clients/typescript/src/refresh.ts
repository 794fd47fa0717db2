/**
 * One run at a time: callers that arrive while `run` is under way share its promise,
 * so ten requests that find the access token expired spend one refresh token, not
 * ten (each refresh token works once; a second use after the reuse interval would
 * end the session).
 */
export function singleFlight<T>(run: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | null = null;
  return () => (pending ??= run().finally(() => (pending = null)));
}

/**
 * `run` under the Web Lock `name`, where the browser has Web Locks: tabs of one
 * origin share the refresh cookie, and a tab that refreshed while another was half
 * way through its own would present a token that the other had already spent.
 * Elsewhere (Node, old browsers) `run` runs as it is.
 */
export function withTabLock<T>(name: string, run: () => Promise<T>): Promise<T> {
  const locks = (globalThis as { navigator?: { locks?: LockManager } }).navigator?.locks;
  return locks ? (locks.request(name, run) as Promise<T>) : run();
}
