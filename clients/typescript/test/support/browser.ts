// What a browser adds to the client's fetches that Node does not: a cookie jar (the
// HttpOnly refresh cookie in cookie mode) and the page's Origin header. Also counts
// the requests, to prove how many refreshes a burst of calls made.
export interface Recorded {
  method: string;
  path: string;
  credentials: RequestCredentials | undefined;
  body: string | undefined;
  at: number;
  answeredAt?: number;
}

export interface TestFetch {
  fetch: typeof fetch;
  requests: Recorded[];
  count(method: string, path: string): number;
  /** Tabs of one browser share its jar: a second TestFetch with this jar is another tab. */
  jar: Map<string, string>;
}

export function testFetch(options: { origin?: string; jar?: Map<string, string> } = {}): TestFetch {
  const jar = options.jar ?? new Map<string, string>();
  const requests: Recorded[] = [];
  const wrapped: typeof fetch = async (input, init = {}) => {
    const url = new URL(String(input));
    const record: Recorded = {
      method: init.method ?? "GET",
      path: url.pathname,
      credentials: init.credentials,
      body: typeof init.body === "string" ? init.body : undefined,
      at: performance.now(),
    };
    requests.push(record);
    const headers = new Headers(init.headers);
    if (options.origin) headers.set("Origin", options.origin);
    // authapi's cookie has Path=/auth; a browser sends it only with credentials.
    if (init.credentials === "include" && url.pathname.startsWith("/auth") && jar.size) {
      headers.set("Cookie", [...jar].map(([name, value]) => `${name}=${value}`).join("; "));
    }
    const response = await fetch(url, { ...init, headers });
    for (const cookie of response.headers.getSetCookie()) {
      const [pair = "", ...attributes] = cookie.split(";");
      const [name = "", value = ""] = pair.trim().split("=");
      const removed = attributes.some((attribute) => /^\s*max-age=0\s*$/i.test(attribute)) || value === "" || value === '""';
      if (removed) jar.delete(name);
      else jar.set(name, value);
    }
    record.answeredAt = performance.now();
    return response;
  };
  return {
    fetch: wrapped,
    requests,
    jar,
    count: (method, path) => requests.filter((r) => r.method === method && r.path === path).length,
  };
}
