/**
 * The error type of hub downloads, with the kind of failure and whether retrying may help.
 *
 * @module
 */

/** What went wrong. */
export type HubErrorKind =
  | "auth" // 401 / 403: gated or private repository, or a bad token
  | "not_found" // 404: no such repository, revision or file
  | "http" // another HTTP error status
  | "network" // connection refused, reset or cut
  | "bad_response" // the hub answered something unexpected
  | "checksum" // the bytes do not match the hub's sha256
  | "disk_full"; // ENOSPC while writing

/**
 * A download failure, with a message meant for the user.
 *
 * @example
 * ```ts
 * try {
 *   await downloadModel({ model: "LLM-Research/Llama-3.2-1B" });
 * } catch (e) {
 *   if (e instanceof HubError && e.kind === "auth") console.error("Set HF_TOKEN:", e.message);
 * }
 * ```
 */
export class HubError extends Error {
  /** What went wrong. */
  readonly kind: HubErrorKind;
  /** Whether the same request may succeed later (network errors, 429, 5xx). */
  readonly retryable: boolean;
  /** The HTTP status, when the failure is one. */
  readonly status?: number;

  /** Creates an error; `retryable` defaults to true for network errors only. */
  constructor(
    kind: HubErrorKind,
    message: string,
    options: { retryable?: boolean; status?: number; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = "HubError";
    this.kind = kind;
    this.retryable = options.retryable ?? kind === "network";
    this.status = options.status;
  }
}

/** How to name the thing that failed, and how a user passes a token to this hub. */
export interface FailureContext {
  /** The hub's name, e.g. `ModelScope`. */
  hub: string;
  /** What was requested, e.g. `file config.json of LLM-Research/Llama-3.2-1B`. */
  what: string;
  /** The environment variable that holds the hub's token, e.g. `HF_TOKEN`. */
  tokenEnv: string;
  /** Whether a token was sent. */
  hasToken: boolean;
}

/**
 * Turns an HTTP error status into a {@linkcode HubError} with a message that says what to do.
 * 429 and 5xx are retryable; other statuses are not.
 *
 * @param status the response status (not 2xx)
 * @param context what was requested, from which hub
 * @param detail the hub's own explanation, when it gave one
 */
export function errorForStatus(
  status: number,
  context: FailureContext,
  detail?: string,
): HubError {
  const said = detail ? ` (${detail})` : "";
  const { hub, what, tokenEnv } = context;
  if (status === 401 || status === 403) {
    const advice = context.hasToken
      ? `the token in ${tokenEnv} was refused: check that it is valid and that your account ` +
        `has accepted the model's license on the hub`
      : `if the model id is right, the repository is gated or private: accept its license on ` +
        `the hub, then pass an access token with ${tokenEnv}=<token>`;
    return new HubError(
      "auth",
      `${hub} denied access to ${what} with HTTP ${status}${said}: ${advice}`,
      { status },
    );
  }
  if (status === 404) {
    return new HubError(
      "not_found",
      `${hub} has no ${what} (HTTP 404${said}): check the model id, revision and file name`,
      { status },
    );
  }
  const retryable = status === 429 || status >= 500;
  return new HubError("http", `${hub} answered HTTP ${status} for ${what}${said}`, {
    status,
    retryable,
  });
}

/** The failure context of a request to `repo` for `what`. */
export function failureContext(
  repo: { hub: string; tokenEnv: string; authHeaders: Record<string, string> },
  what: string,
): FailureContext {
  return {
    hub: repo.hub,
    what,
    tokenEnv: repo.tokenEnv,
    hasToken: Object.keys(repo.authHeaders).length > 0,
  };
}
