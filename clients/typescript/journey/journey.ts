// The partner journey against a running API with a sandbox key of scope `*`:
//
//   LAYERS_BASE_URL=http://127.0.0.1:8080 LAYERS_API_KEY=lp_test_… node dist/journey/journey.js
//
// A webhook receiver on 127.0.0.1, its endpoint, a project, generated content, a sandbox-connected
// Instagram account, a published post, a verified webhook delivery of that post, its metrics and
// a typed error. One line per step; every wait is bounded and the whole run must end within 60 s;
// any failure exits non-zero. What it created is removed at the end.
import { randomUUID } from "node:crypto";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import process from "node:process";
import { setTimeout as sleep } from "node:timers/promises";

import {
  type Event,
  type EventType,
  Layers,
  LayersError,
  verifyWebhook,
  WebhookVerificationError,
} from "../src/index.js";

const TOTAL_TIMEOUT_MS = 60_000;
const WAIT_TIMEOUT_MS = 20_000;
/** The event types the endpoint subscribes to, so the only ones a delivery may carry. */
const EXPECTED_TYPES = ["job.succeeded", "content.completed", "social_account.connected", "post.published"] as const;

let stepNumber = 0;
function step(message: string): void {
  stepNumber += 1;
  console.log(`${String(stepNumber).padStart(2)}. ${message}`);
}

function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

/** Calls `probe` every `intervalMs` until it returns a value, or fails after `timeoutMs`. */
async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = WAIT_TIMEOUT_MS,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(200);
  }
}

/** A delivery as the receiver saw it. */
interface Delivery {
  body: Buffer;
  headers: IncomingHttpHeaders;
}

/** A node:http webhook receiver on 127.0.0.1 that verifies every delivery once it knows the secret. */
async function startReceiver() {
  const verified: Event[] = [];
  const refused: string[] = [];
  let secret: string | undefined;

  const handle = ({ body, headers }: Delivery): number => {
    if (secret === undefined) return 503; // not registered yet: the API retries later
    try {
      verified.push(verifyWebhook(body, headers, secret));
      return 204;
    } catch (error) {
      if (!(error instanceof WebhookVerificationError)) throw error;
      refused.push(`${error.reason}: ${error.message}`);
      return 400;
    }
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      res.statusCode = handle({ body: Buffer.concat(chunks), headers: req.headers });
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/webhooks`,
    verified,
    refused,
    useSecret(value: string) {
      secret = value;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function main(): Promise<void> {
  const baseUrl = process.env["LAYERS_BASE_URL"];
  const apiKey = process.env["LAYERS_API_KEY"];
  check(baseUrl && apiKey, "set LAYERS_BASE_URL and LAYERS_API_KEY (a sandbox key, lp_test_…, of scope *)");
  check(apiKey.startsWith("lp_test_"), "the journey runs with a sandbox key (lp_test_…) only");
  const layers = new Layers({ apiKey, baseUrl, timeoutMs: 15_000 });

  const me = await layers.GET("/v1/whoami");
  step(`whoami: ${me.organizationId}, scopes ${me.scopes.join(",")}`);

  const receiver = await startReceiver();
  const cleanups: (() => Promise<unknown>)[] = [() => receiver.close()];
  let succeeded = false;
  try {
    step(`webhook receiver listening on ${receiver.url}`);

    const endpoint = await layers.POST("/v1/webhook-endpoints", {
      body: { url: receiver.url, events: [...EXPECTED_TYPES], description: "typescript client journey" },
    });
    check(endpoint.secret, "the new endpoint's answer has no secret");
    receiver.useSecret(endpoint.secret);
    const endpointId = endpoint.id;
    cleanups.unshift(() => layers.DELETE("/v1/webhook-endpoints/{endpointId}", { params: { path: { endpointId } } }));
    step(`webhook endpoint ${endpoint.id} registered, its whsec_ secret kept`);

    const project = await layers.POST("/v1/projects", {
      body: { name: "TypeScript journey", customerExternalId: `ts-journey-${randomUUID()}`, timezone: "UTC" },
    });
    cleanups.unshift(() => layers.POST("/v1/test_helpers/reset", { body: { projectId: project.id } }));
    const projectId = project.id;
    step(`project ${projectId} created (${project.status})`);

    const started = await layers.POST("/v1/projects/{projectId}/content/{format}", {
      params: { path: { projectId, format: "image" } },
      body: { hook: "Plan your week in one minute" },
    });
    const job = await waitFor(`job ${started.jobId}`, async () => {
      const current = await layers.GET("/v1/jobs/{jobId}", { params: { path: { jobId: started.jobId } } });
      return ["queued", "running"].includes(current.status) ? undefined : current;
    });
    check(job.status === "succeeded", `the content job ended ${job.status}: ${JSON.stringify(job.error)}`);
    const containerId = started.containers[0]?.id;
    check(containerId, "the content answer has no container");
    const content = await layers.GET("/v1/content/{contentId}", { params: { path: { contentId: containerId } } });
    check(content.status === "completed", `content ${containerId} is ${content.status}`);
    step(`content ${containerId} generated: job ${job.id} ${job.status}, content ${content.status}`);

    const oauth = await layers.POST("/v1/projects/{projectId}/social/oauth-url", {
      params: { path: { projectId } },
      body: { platform: "instagram" },
    });
    // A sandbox URL completes the connection with a plain GET: the same route, typed.
    check(new URL(oauth.url).pathname === "/v1/social/sandbox-complete", `not a sandbox URL: ${oauth.url}`);
    const connection = await layers.GET("/v1/social/sandbox-complete", {
      params: { query: { state: oauth.state, platform: "instagram" } },
    });
    const socialAccountId = connection.socialAccountId;
    step(`instagram account ${socialAccountId} connected (@${connection.handle}, sandbox ${connection.sandbox})`);

    const publish = await layers.POST("/v1/content/{containerId}/publish", {
      params: { path: { containerId } },
      body: { targets: [{ socialAccountId, caption: "New week, new plan" }] },
    });
    const scheduledPostId = publish.scheduledPostId;
    const post = await waitFor(`post ${scheduledPostId}`, async () => {
      const current = await layers.GET("/v1/scheduled-posts/{scheduledPostId}", {
        params: { path: { scheduledPostId } },
      });
      return ["scheduled", "publishing"].includes(current.status) ? undefined : current;
    });
    check(post.status === "published", `post ${scheduledPostId} ended ${post.status}`);
    const externalId = post.targets[0]?.externalId;
    check(externalId, "the published target has no externalId");
    step(`post ${scheduledPostId} ${post.status} as ${externalId}`);

    const delivered = await waitFor("a post.published delivery", () =>
      receiver.verified.find(
        (event) => event.type === "post.published" && event.data.scheduledPostId === scheduledPostId,
      ),
    );
    check(receiver.refused.length === 0, `deliveries refused: ${receiver.refused.join("; ")}`);
    const expected: readonly EventType[] = EXPECTED_TYPES;
    const unexpected = receiver.verified.filter((event) => !expected.includes(event.type));
    check(unexpected.length === 0, `unexpected event types: ${unexpected.map((e) => e.type).join(", ")}`);
    check(delivered.meta?.sandbox === true, `event ${delivered.id} is not marked sandbox`);
    const ours = receiver.verified.filter((event) => isOfRun(event, projectId, scheduledPostId));
    step(
      `webhook ${delivered.type} ${delivered.id} verified (sandbox ${delivered.meta?.sandbox}); ` +
        `${ours.length} verified deliveries of this run: ${[...new Set(ours.map((e) => e.type))].join(", ")}`,
    );

    const metrics = await layers.GET("/v1/projects/{projectId}/metrics", {
      params: { path: { projectId }, query: { postIds: externalId } },
    });
    const series = metrics.data.find((entry) => entry.externalId === externalId)?.series ?? [];
    const today = series.at(-1);
    check(today, `no metrics for ${externalId}`);
    step(`metrics ${metrics.from}..${metrics.to}: ${series.length} days; ${today.date}: ${today.views} views`);

    try {
      await layers.POST("/v1/projects", { body: { name: "" } });
      throw new Error("an empty project name was accepted");
    } catch (error) {
      check(error instanceof LayersError, `expected a LayersError, got ${String(error)}`);
      check(error.code === "VALIDATION_ERROR", `expected VALIDATION_ERROR, got ${error.code}`);
      check(error.status === 400 && error.requestId?.startsWith("req_"), `${error.status}, ${error.requestId}`);
      const field = String(error.details?.["field"]);
      step(`typed error: ${error.status} ${error.code} (field ${field}, ${error.requestId})`);
    }
    succeeded = true;
  } finally {
    // Every cleanup runs; a failed one fails the journey (unless it already failed: keep that error).
    const failures: string[] = [];
    for (const cleanup of cleanups) {
      await cleanup().catch((error: unknown) => failures.push(String(error)));
    }
    if (failures.length > 0) console.error(`cleanup failed: ${failures.join("; ")}`);
    check(!succeeded || failures.length === 0, "cleanup failed");
  }
  step("cleaned up: project's sandbox data reset, endpoint deleted, receiver closed");
}

/** True when `event` is about this run's project or post. */
function isOfRun(event: Event, projectId: string, scheduledPostId: string): boolean {
  switch (event.type) {
    case "post.published":
    case "post.failed":
      return event.data.scheduledPostId === scheduledPostId;
    default:
      return "projectId" in event.data && event.data.projectId === projectId;
  }
}

const deadline = setTimeout(() => {
  console.error(`journey FAILED: not done within ${TOTAL_TIMEOUT_MS / 1000} s`);
  process.exit(1);
}, TOTAL_TIMEOUT_MS);

const startedAt = performance.now();
main().then(
  () => {
    clearTimeout(deadline);
    console.log(`journey ok in ${((performance.now() - startedAt) / 1000).toFixed(1)} s`);
  },
  (error: unknown) => {
    clearTimeout(deadline);
    const detail =
      error instanceof LayersError
        ? ` [${error.status} ${error.code}, ${error.requestId}]`
        : error instanceof Error && error.cause instanceof Error
          ? ` (${error.cause.message})`
          : "";
    console.error(`journey FAILED: ${error instanceof Error ? error.message : String(error)}${detail}`);
    process.exitCode = 1;
  },
);
