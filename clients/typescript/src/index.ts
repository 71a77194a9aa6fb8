/**
 * The Layers Partner API client: typed requests (from the API's OpenAPI document), retries that
 * reuse the call's `Idempotency-Key`, typed errors and webhook verification.
 *
 * @packageDocumentation
 */
export {
  type CallOptions,
  DEFAULT_BASE_URL,
  Layers,
  type LayersOptions,
  type Method,
  type PathsWith,
  type RawClient,
  type ResponseData,
} from "./client.js";
export {
  type ErrorBody,
  type ErrorCode,
  LayersError,
  UNKNOWN_ERROR_CODE,
  WebhookVerificationError,
  type WebhookVerificationFailure,
} from "./errors.js";
export { type FetchLike, isRetryableStatus } from "./retry.js";
export type * from "./types.js";
export { verifyWebhook, type VerifyWebhookOptions, type WebhookHeaders } from "./webhooks.js";
export type { components, paths, webhooks } from "./schema.js";
