/**
 * API errors in OpenAI's shape, `{"error":{"message","type","param","code"}}`, with the HTTP
 * status that goes with them.
 *
 * @module
 */

/** The HTTP statuses the server answers errors with. */
export type ApiErrorStatus =
  | 400
  | 401
  | 403
  | 404
  | 408
  | 409
  | 413
  | 415
  | 422
  | 429
  | 500
  | 503;

/** What an {@linkcode ApiError} may say besides its message. */
export interface ApiErrorDetails {
  /** The request field at fault, e.g. `max_tokens`, or null. */
  param?: string | null;
  /** A machine-readable code, e.g. `model_not_found`, or null. */
  code?: string | null;
  /** Overrides the type derived from the status. */
  type?: string;
  /** Sent as the `Retry-After` header: seconds until a retry may succeed. */
  retryAfterSeconds?: number;
}

/** The body of an error response. */
export interface ApiErrorBody {
  /** The error itself. */
  error: { message: string; type: string; param: string | null; code: string | null };
}

const TYPES: Record<ApiErrorStatus, string> = {
  400: "invalid_request_error",
  401: "authentication_error",
  403: "permission_error",
  404: "not_found_error",
  408: "invalid_request_error",
  409: "invalid_request_error",
  413: "invalid_request_error",
  415: "invalid_request_error",
  422: "invalid_request_error",
  429: "rate_limit_error",
  500: "server_error",
  503: "server_error",
};

/**
 * Absolute paths (POSIX `/a/b/c`, Windows `C:\\a\\b`) that follow the start, a space, a quote
 * `'` or `"`, `(`, `[` or `=`: file system errors quote them so. URLs (`http://…`) do not match.
 */
const ABSOLUTE_PATH = /(?<=^|[\s'"(\[=])(?:\/|[A-Za-z]:\\)[^\s'"()\]]*/g;

/**
 * `message` with every absolute path shortened to its last segment, `…/name`, so that errors
 * tell clients what went wrong without telling them where the server keeps its files.
 */
export function hideServerPaths(message: string): string {
  return message.replace(ABSOLUTE_PATH, (path) => `…/${path.split(/[\\/]/).pop()}`);
}

/** An error a route answers with: a status and an OpenAI error object. */
export class ApiError extends Error {
  /** The HTTP status. */
  readonly status: ApiErrorStatus;
  /** The OpenAI error type, e.g. `invalid_request_error`. */
  readonly type: string;
  /** The request field at fault, or null. */
  readonly param: string | null;
  /** A machine-readable code, or null. */
  readonly code: string | null;
  /** The `Retry-After` header's seconds, or null for none. */
  readonly retryAfterSeconds: number | null;

  /** Makes an error answered with `status`. */
  constructor(status: ApiErrorStatus, message: string, details: ApiErrorDetails = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.type = details.type ?? TYPES[status];
    this.param = details.param ?? null;
    this.code = details.code ?? null;
    this.retryAfterSeconds = details.retryAfterSeconds ?? null;
  }

  /** The OpenAI error object; absolute server paths in the message are hidden. */
  toBody(): ApiErrorBody {
    return {
      error: {
        message: hideServerPaths(this.message),
        type: this.type,
        param: this.param,
        code: this.code,
      },
    };
  }

  /** The error as a JSON response (with `Retry-After` when set). */
  toResponse(): Response {
    const headers = this.retryAfterSeconds === null
      ? undefined
      : { "Retry-After": String(this.retryAfterSeconds) };
    return Response.json(this.toBody(), { status: this.status, headers });
  }
}
