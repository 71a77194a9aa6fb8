import assert from "node:assert/strict";
import { createHmac, randomBytes } from "node:crypto";
import { describe, it } from "node:test";

import { type Event, verifyWebhook, WebhookVerificationError, type WebhookVerificationFailure } from "../src/index.js";

const SECRET = `whsec_${randomBytes(32).toString("base64")}`;
const OTHER_SECRET = `whsec_${randomBytes(32).toString("base64")}`;

const EVENT = {
  id: "evt_01JTTW0V4K6X9B3M2N5P7Q8R1S",
  type: "post.published",
  apiVersion: "v1",
  createdAt: "2026-05-08T12:00:00.000Z",
  meta: { sandbox: true },
  data: {
    scheduledPostId: "sp_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f",
    containerId: "cnt_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f",
    socialAccountId: "sa_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f",
    platform: "instagram",
    targetIndex: 0,
    externalId: "sb_post_cnt_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f_0",
    externalUrl: "https://www.instagram.com/p/sb_post_0196b1e4c9a37c2d",
  },
} as const;
const BODY = JSON.stringify(EVENT);

/** The Standard Webhooks signature of `body`, as the API computes it. */
function sign(secret: string, id: string, timestamp: number, body: string): string {
  const key = Buffer.from(secret.slice("whsec_".length), "base64");
  return `v1,${createHmac("sha256", key).update(`${id}.${timestamp}.${body}`).digest("base64")}`;
}

function headersFor(body: string, secret = SECRET, timestamp = Math.floor(Date.now() / 1000)) {
  return {
    "webhook-id": EVENT.id,
    "webhook-timestamp": String(timestamp),
    "webhook-signature": sign(secret, EVENT.id, timestamp, body),
  };
}

function rejects(reason: WebhookVerificationFailure, verify: () => unknown): void {
  assert.throws(verify, (error: unknown) => {
    assert.ok(error instanceof WebhookVerificationError);
    assert.equal(error.reason, reason);
    return true;
  });
}

describe("verifyWebhook", () => {
  it("accepts a correctly signed payload and returns the typed event", () => {
    const event: Event = verifyWebhook(BODY, headersFor(BODY), SECRET);
    assert.deepEqual(event, EVENT);
    assert.equal(event.meta?.sandbox, true);
    if (event.type !== "post.published") assert.fail(`unexpected type ${event.type}`);
    assert.equal(event.data.externalId, EVENT.data.externalId); // narrowed to PostPublishedEvent
  });

  it("accepts bytes and fetch Headers with mixed-case names", () => {
    const headers = new Headers(headersFor(BODY));
    const event = verifyWebhook(new TextEncoder().encode(BODY), headers, SECRET);
    assert.equal(event.id, EVENT.id);
    const upper = Object.fromEntries(Object.entries(headersFor(BODY)).map(([k, v]) => [k.toUpperCase(), v]));
    assert.equal(verifyWebhook(Buffer.from(BODY), upper, SECRET).type, "post.published");
  });

  it("accepts any one of several signatures (a secret rotation)", () => {
    const headers = headersFor(BODY);
    const stale = sign(OTHER_SECRET, EVENT.id, Number(headers["webhook-timestamp"]), BODY);
    headers["webhook-signature"] = `${stale} ${headers["webhook-signature"]}`;
    assert.equal(verifyWebhook(BODY, headers, SECRET).id, EVENT.id);
  });

  it("rejects a tampered body", () => {
    const tampered = BODY.replace('"targetIndex":0', '"targetIndex":1');
    assert.notEqual(tampered, BODY);
    rejects("no_matching_signature", () => verifyWebhook(tampered, headersFor(BODY), SECRET));
  });

  it("rejects a wrong secret", () => {
    rejects("no_matching_signature", () => verifyWebhook(BODY, headersFor(BODY, OTHER_SECRET), SECRET));
  });

  it("rejects a stale or future timestamp, and honours toleranceSeconds", () => {
    const now = Math.floor(Date.now() / 1000);
    rejects("timestamp_out_of_tolerance", () => verifyWebhook(BODY, headersFor(BODY, SECRET, now - 301), SECRET));
    rejects("timestamp_out_of_tolerance", () => verifyWebhook(BODY, headersFor(BODY, SECRET, now + 301), SECRET));
    const old = headersFor(BODY, SECRET, now - 600);
    assert.equal(verifyWebhook(BODY, old, SECRET, { toleranceSeconds: 900 }).id, EVENT.id);
  });

  it("rejects missing headers and a body that is not an event", () => {
    const { "webhook-signature": _omitted, ...unsigned } = headersFor(BODY);
    rejects("missing_header", () => verifyWebhook(BODY, unsigned, SECRET));
    const undated = { ...headersFor(BODY), "webhook-timestamp": "soon" };
    rejects("invalid_timestamp", () => verifyWebhook(BODY, undated, SECRET));
    rejects("invalid_payload", () => verifyWebhook("[1,2]", headersFor("[1,2]"), SECRET));
  });
});
