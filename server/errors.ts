/**
 * API errors in OpenAI's shape, `{"error":{"message","type","param","code"}}`, with the HTTP
 * status that goes with them.
 *
 * @module
 */

/** The HTTP statuses the server answers errors with. */
export type ApiErrorStatus = 400 | 401 | 403 | 404 | 413 | 422 | 429 | 500 | 503;

/** What an {@linkcode ApiError} may say besides its message. */
export interface ApiErrorDetails {
  /** The request field at fault, e.g. `max_tokens`, or null. */
  param?: string | null;
  /** A machine-readable code, e.g. `model_not_found`, or null. */
  code?: string | null;
  /** Overrides the type derived from the status. */
  type?: string;
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
  413: "invalid_request_error",
  422: "invalid_request_error",
  429: "rate_limit_error",
  500: "server_error",
  503: "server_error",
};

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

  /** Makes an error answered with `status`. */
  constructor(status: ApiErrorStatus, message: string, details: ApiErrorDetails = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.type = details.type ?? TYPES[status];
    this.param = details.param ?? null;
    this.code = details.code ?? null;
  }

  /** The OpenAI error object. */
  toBody(): ApiErrorBody {
    return {
      error: { message: this.message, type: this.type, param: this.param, code: this.code },
    };
  }

  /** The error as a JSON response. */
  toResponse(): Response {
    return Response.json(this.toBody(), { status: this.status });
  }
}
