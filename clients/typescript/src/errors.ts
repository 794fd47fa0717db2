import type { components } from "./schema.js";

export type Problem = components["schemas"]["Problem"];
export type FieldError = components["schemas"]["FieldError"];

interface AuthErrorInit {
  status: number;
  code: string;
  title: string;
  detail: string;
  requestId?: string | null;
  errors?: FieldError[];
  retryAfter?: number | null;
  body?: unknown;
  cause?: unknown;
}

/**
 * Every failure the client reports: an API answer that is not 2xx (its problem+json
 * `code`, `status`, `request_id`...), or one that never reached an answer, with
 * status 0: `network_error` (unreachable, or the browser refused the CORS answer),
 * `passkey_unsupported`, `passkey_failed`, `token_missing` (nothing to refresh with),
 * `refresh_superseded` (the tokens changed meanwhile), or a social sign-in's `?error=`
 * code on the return page.
 */
export class AuthError extends Error {
  readonly status: number;
  readonly code: string;
  readonly title: string;
  readonly detail: string;
  /** The body's `request_id`, else the `X-Request-ID` header: quote it to find the log lines. */
  readonly requestId: string | null;
  /** 422 only: one `{field, message, code}` per problem found. */
  readonly errors?: FieldError[];
  /** Seconds from the `Retry-After` header (429, 503), else null. */
  readonly retryAfter: number | null;
  /** The parsed answer as it came (problem+json, or text from a proxy). */
  readonly body: unknown;

  constructor(init: AuthErrorInit) {
    super(init.detail || init.title, { cause: init.cause });
    this.name = "AuthError";
    this.status = init.status;
    this.code = init.code;
    this.title = init.title;
    this.detail = init.detail;
    this.requestId = init.requestId ?? null;
    if (init.errors) this.errors = init.errors;
    this.retryAfter = init.retryAfter ?? null;
    this.body = init.body;
  }
}

/** The AuthError for a non-2xx answer. A body that is not problem+json (a proxy's
 * HTML 502, say) still gives one, with code `http_error`. */
export function errorFromResponse(response: Response, data: unknown): AuthError {
  const problem: Partial<Problem> = data && typeof data === "object" ? (data as Partial<Problem>) : {};
  const retryAfter = Number(response.headers.get("Retry-After") || NaN);
  return new AuthError({
    status: response.status,
    code: problem.code || "http_error",
    title: problem.title || response.statusText || `HTTP ${response.status}`,
    detail: problem.detail || (typeof data === "string" ? data.slice(0, 200) : ""),
    requestId: problem.request_id || response.headers.get("X-Request-ID"),
    errors: problem.errors || undefined,
    retryAfter: Number.isFinite(retryAfter) ? retryAfter : null,
    body: data,
  });
}

/** An AuthError that no HTTP answer stands behind (status 0). */
export function clientError(code: string, detail: string, cause?: unknown): AuthError {
  return new AuthError({ status: 0, code, title: code, detail, cause });
}
