import type { components } from "./schema.js";

/**
 * An error code of the API (`VALIDATION_ERROR`, `NOT_FOUND`, `RATE_LIMITED`, …). The set is open:
 * new codes may appear, so handle an unknown one by its HTTP status.
 */
export type ErrorCode = components["schemas"]["ErrorCode"];

/** The `error` object of the API's error envelope `{"error": {…}}`. */
export type ErrorBody = components["schemas"]["ErrorBody"];

/** The code given to an answer whose body is not the API's error envelope (e.g. a proxy's 502 page). */
export const UNKNOWN_ERROR_CODE = "UNKNOWN";

/**
 * A non-2xx answer of the API, after any retries. Branch on `code` (and `reason`); `message` is for
 * people; quote `requestId` to support.
 */
export class LayersError extends Error {
  override readonly name = "LayersError";
  /** The HTTP status, e.g. 400. */
  readonly status: number;
  /** The envelope's `error.code`, or {@link UNKNOWN_ERROR_CODE} when the body is not an envelope. */
  readonly code: ErrorCode;
  /** The envelope's `error.reason`, a machine-readable refinement of `code`, when given. */
  readonly reason: string | undefined;
  /** The envelope's `error.details` (`field`, `requiredScope`, `retryAfterSeconds`, …), when given. */
  readonly details: Readonly<Record<string, unknown>> | undefined;
  /** The request's id: the envelope's `requestId`, else the `X-Request-Id` header. */
  readonly requestId: string | undefined;
  /** The answer's headers (rate-limit headers, `Retry-After`, …). */
  readonly headers: Headers;

  constructor(init: {
    status: number;
    code: ErrorCode;
    message: string;
    reason?: string | undefined;
    details?: Readonly<Record<string, unknown>> | undefined;
    requestId?: string | undefined;
    headers?: Headers | undefined;
  }) {
    super(init.message);
    this.status = init.status;
    this.code = init.code;
    this.reason = init.reason;
    this.details = init.details;
    this.requestId = init.requestId;
    this.headers = init.headers ?? new Headers();
  }

  /** Builds the error for `response`, whose body openapi-fetch already read (JSON if it parsed, else text). */
  static fromResponse(response: Response, body: unknown): LayersError {
    const headerRequestId = response.headers.get("x-request-id") ?? undefined;
    const envelope = asErrorBody(body);
    if (envelope) {
      return new LayersError({
        status: response.status,
        code: envelope.code,
        message: envelope.message,
        reason: envelope.reason,
        details: envelope.details,
        requestId: envelope.requestId || headerRequestId,
        headers: response.headers,
      });
    }
    const text = typeof body === "string" ? body.trim().slice(0, 200) : "";
    return new LayersError({
      status: response.status,
      code: UNKNOWN_ERROR_CODE,
      message: text ? `HTTP ${response.status}: ${text}` : `HTTP ${response.status}`,
      requestId: headerRequestId,
      headers: response.headers,
    });
  }
}

/** The `error` object of `body` when `body` is the API's error envelope. */
function asErrorBody(body: unknown): ErrorBody | undefined {
  if (!isRecord(body) || !isRecord(body["error"])) return undefined;
  const error = body["error"];
  const { code, message, requestId, reason, details } = error;
  if (typeof code !== "string" || typeof message !== "string") return undefined;
  return {
    code,
    message,
    requestId: typeof requestId === "string" ? requestId : "",
    ...(typeof reason === "string" ? { reason } : {}),
    ...(isRecord(details) ? { details } : {}),
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Why {@link verifyWebhook} refused a delivery. */
export type WebhookVerificationFailure =
  | "missing_header"
  | "invalid_timestamp"
  | "timestamp_out_of_tolerance"
  | "invalid_secret"
  | "no_matching_signature"
  | "invalid_payload";

/** A webhook delivery that did not verify: answer it with a 4xx and do not act on it. */
export class WebhookVerificationError extends Error {
  override readonly name = "WebhookVerificationError";
  /** A machine-readable reason. */
  readonly reason: WebhookVerificationFailure;

  constructor(reason: WebhookVerificationFailure, message: string) {
    super(message);
    this.reason = reason;
  }
}
