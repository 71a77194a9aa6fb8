import { createHmac, timingSafeEqual } from "node:crypto";

import { WebhookVerificationError } from "./errors.js";
import type { Event } from "./types.js";

/** Request headers as Node's `IncomingMessage.headers` has them, or a fetch `Headers`. */
export type WebhookHeaders =
  | Headers
  | Readonly<Record<string, string | readonly string[] | undefined>>;

export interface VerifyWebhookOptions {
  /** How far (in seconds) `webhook-timestamp` may be from this machine's clock. Default 300 (5 min). */
  toleranceSeconds?: number;
}

const DEFAULT_TOLERANCE_SECONDS = 5 * 60;
const SECRET_PREFIX = "whsec_";

/**
 * Verifies a webhook delivery by its Standard Webhooks headers and returns the parsed event.
 *
 * The signature is `v1,<base64 HMAC-SHA256 of "<webhook-id>.<webhook-timestamp>.<raw body>">`, keyed
 * with the base64-decoded part of the endpoint secret after `whsec_`. `webhook-signature` may carry
 * several space-separated signatures (one per valid secret during a rotation): one match is enough.
 *
 * @param payload the raw body exactly as received (verify before parsing: re-serialized JSON differs)
 * @param headers the request headers (`webhook-id`, `webhook-timestamp`, `webhook-signature`)
 * @param secret the endpoint's secret, `whsec_…`, as the API returned it
 * @throws WebhookVerificationError when a header is missing, the timestamp is outside the tolerance,
 *   no signature matches, or the body is not a JSON event
 */
export function verifyWebhook(
  payload: string | Uint8Array,
  headers: WebhookHeaders,
  secret: string,
  options: VerifyWebhookOptions = {},
): Event {
  const id = header(headers, "webhook-id");
  const timestamp = header(headers, "webhook-timestamp");
  const signatures = header(headers, "webhook-signature");

  if (!/^\d{1,15}$/.test(timestamp)) {
    throw new WebhookVerificationError("invalid_timestamp", "webhook-timestamp is not a Unix time in seconds");
  }
  const tolerance = options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  const skew = Math.abs(Date.now() / 1000 - Number(timestamp));
  if (skew > tolerance) {
    throw new WebhookVerificationError(
      "timestamp_out_of_tolerance",
      `webhook-timestamp is ${Math.round(skew)} s from now, more than the ${tolerance} s allowed`,
    );
  }

  const body = typeof payload === "string" ? Buffer.from(payload, "utf8") : Buffer.from(payload);
  const expected = createHmac("sha256", secretKey(secret))
    .update(`${id}.${timestamp}.`)
    .update(body)
    .digest();
  const matches = signatures
    .split(" ")
    .filter((entry) => entry.startsWith("v1,"))
    .some((entry) => {
      const candidate = Buffer.from(entry.slice(3), "base64");
      return candidate.length === expected.length && timingSafeEqual(candidate, expected);
    });
  if (!matches) {
    throw new WebhookVerificationError("no_matching_signature", "no v1 signature matches the secret");
  }

  let event: unknown;
  try {
    event = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(body));
  } catch {
    throw new WebhookVerificationError("invalid_payload", "the body is not UTF-8 JSON");
  }
  if (!isEventLike(event)) {
    throw new WebhookVerificationError("invalid_payload", "the body is not an event envelope");
  }
  return event;
}

/** The HMAC key of a `whsec_…` secret: the base64-decoded bytes after the prefix. */
function secretKey(secret: string): Buffer {
  const encoded = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
  const key = Buffer.from(encoded, "base64");
  if (key.length === 0) {
    throw new WebhookVerificationError("invalid_secret", "the secret is not whsec_ followed by base64");
  }
  return key;
}

/** One header's value, case-insensitively; a missing or empty header is an error. */
function header(headers: WebhookHeaders, name: string): string {
  let value: string | readonly string[] | null | undefined;
  if (headers instanceof Headers) {
    value = headers.get(name);
  } else {
    const key = Object.keys(headers).find((k) => k.toLowerCase() === name);
    value = key === undefined ? undefined : headers[key];
  }
  const text = typeof value === "string" ? value : value?.join(" ");
  if (!text) {
    throw new WebhookVerificationError("missing_header", `the ${name} header is missing`);
  }
  return text.trim();
}

/** A structural check of the envelope's required fields; the signature vouches for the rest. */
function isEventLike(value: unknown): value is Event {
  if (typeof value !== "object" || value === null) return false;
  const record = value as Record<string, unknown>;
  return (
    typeof record["id"] === "string" &&
    typeof record["type"] === "string" &&
    typeof record["createdAt"] === "string" &&
    "data" in record
  );
}
