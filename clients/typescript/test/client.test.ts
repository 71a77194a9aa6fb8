import assert from "node:assert/strict";
import { createServer, type IncomingHttpHeaders, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";

import { Layers, LayersError, type Project, UNKNOWN_ERROR_CODE } from "../src/index.js";

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** One request as a test server saw it. */
interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

/** What a test server answers to the request number `index` (from 0). */
type Handler = (index: number, seen: Seen, res: ServerResponse) => void;

/** A node:http server on 127.0.0.1 (a free port) that records every request. */
interface TestServer {
  url: string;
  seen: Seen[];
  close(): Promise<void>;
}

async function startServer(handler: Handler): Promise<TestServer> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const request: Seen = {
        method: req.method ?? "",
        url: req.url ?? "",
        headers: req.headers,
        body: Buffer.concat(chunks).toString("utf8"),
        at: performance.now(),
      };
      seen.push(request);
      handler(seen.length - 1, request, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

/** Answers JSON with `status` and extra headers. */
function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** A project as the API answers it. */
const PROJECT = {
  id: "proj_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f",
  name: "Acme",
  customerExternalId: null,
  timezone: "UTC",
  primaryLanguage: "en",
  status: "active",
  testClockId: null,
  archivedAt: null,
  createdAt: "2026-05-08T12:00:00.000Z",
  updatedAt: "2026-05-08T12:00:00.000Z",
};

describe("retries", () => {
  let server: TestServer;
  before(async () => {
    // The first request is rate limited for one second; every later one succeeds.
    server = await startServer((index, _seen, res) => {
      if (index === 0) {
        json(
          res,
          429,
          {
            error: { code: "RATE_LIMITED", message: "slow down", requestId: "req_1", details: { retryAfterSeconds: 1 } },
          },
          { "retry-after": "1" },
        );
      } else {
        json(res, 201, PROJECT);
      }
    });
  });
  after(() => server.close());

  it("waits Retry-After, reuses the Idempotency-Key on the retry and not on the next call", async () => {
    const layers = new Layers({ apiKey: "lp_test_abc", baseUrl: server.url });
    const project: Project = await layers.POST("/v1/projects", { body: { name: "Acme" } });
    assert.equal(project.id, PROJECT.id);
    assert.equal(server.seen.length, 2);
    const [first, second] = server.seen;
    assert.ok(first && second);
    const waited = second.at - first.at;
    assert.ok(waited >= 950 && waited < 2000, `waited ${waited} ms, expected about 1000`);

    const key = first.headers["idempotency-key"];
    assert.ok(typeof key === "string" && UUID_V4.test(key), `not a UUID v4: ${String(key)}`);
    assert.equal(second.headers["idempotency-key"], key);
    assert.equal(first.headers.authorization, "Bearer lp_test_abc");
    assert.equal(second.body, JSON.stringify({ name: "Acme" }));

    await layers.POST("/v1/projects", { body: { name: "Acme" } });
    const third = server.seen[2];
    assert.ok(third);
    assert.match(String(third.headers["idempotency-key"]), UUID_V4);
    assert.notEqual(third.headers["idempotency-key"], key);
  });
});

describe("idempotency keys and retry limits", () => {
  let server: TestServer;
  before(async () => {
    server = await startServer((_index, seen, res) => {
      if (seen.url.startsWith("/v1/projects/")) {
        json(res, 503, { error: { code: "SERVICE_UNAVAILABLE", message: "down", requestId: "req_503" } }, {
          "retry-after": "0",
        });
      } else {
        json(res, 200, seen.method === "GET" ? { data: [PROJECT], nextCursor: null } : PROJECT);
      }
    });
  });
  after(() => server.close());

  it("sends a caller's Idempotency-Key as given, and none on reads", async () => {
    const layers = new Layers({ apiKey: "lp_test_abc", baseUrl: server.url });
    await layers.POST("/v1/projects", {
      body: { name: "Acme" },
      params: { header: { "Idempotency-Key": "order-42" } },
    });
    const list = await layers.GET("/v1/projects", { params: { query: { limit: 5 } } });
    assert.equal(list.data[0]?.name, "Acme");
    const [post, get] = server.seen.slice(-2);
    assert.equal(post?.headers["idempotency-key"], "order-42");
    assert.equal(get?.headers["idempotency-key"], undefined);
    assert.equal(get?.url, "/v1/projects?limit=5");
  });

  it("retries a network error through a custom fetch, with the same key", async () => {
    const keys: (string | null)[] = [];
    const flaky = async (request: Request): Promise<Response> => {
      keys.push(request.headers.get("idempotency-key"));
      if (keys.length === 1) throw new TypeError("fetch failed");
      return fetch(request);
    };
    const layers = new Layers({ apiKey: "lp_test_abc", baseUrl: server.url, fetch: flaky });
    const project = await layers.POST("/v1/projects", { body: { name: "Acme" } });
    assert.equal(project.name, "Acme");
    assert.equal(keys.length, 2);
    assert.match(String(keys[0]), UUID_V4);
    assert.equal(keys[1], keys[0]);
  });

  it("stops after maxRetries and throws the last answer", async () => {
    const before = server.seen.length;
    const layers = new Layers({ apiKey: "lp_test_abc", baseUrl: server.url, maxRetries: 1 });
    const error = await layers
      .GET("/v1/projects/{projectId}", { params: { path: { projectId: PROJECT.id } } })
      .then(() => assert.fail("expected a LayersError"), (e: unknown) => e);
    assert.ok(error instanceof LayersError);
    assert.equal(error.status, 503);
    assert.equal(error.code, "SERVICE_UNAVAILABLE");
    assert.equal(server.seen.length - before, 2);
  });
});

describe("errors", () => {
  let server: TestServer;
  before(async () => {
    server = await startServer((_index, seen, res) => {
      if (seen.url === "/v1/projects") {
        json(
          res,
          400,
          {
            error: {
              code: "VALIDATION_ERROR",
              message: "name must not be empty",
              requestId: "req_envelope",
              reason: "empty",
              details: { field: "name" },
            },
          },
          { "x-request-id": "req_envelope" },
        );
      } else {
        res.writeHead(502, { "content-type": "text/html", "x-request-id": "req_header" });
        res.end("<html>bad gateway</html>");
      }
    });
  });
  after(() => server.close());

  it("turns an error envelope into a LayersError", async () => {
    const layers = new Layers({ apiKey: "lp_test_abc", baseUrl: server.url });
    await assert.rejects(layers.POST("/v1/projects", { body: { name: "" } }), (error: unknown) => {
      assert.ok(error instanceof LayersError);
      assert.equal(error.status, 400);
      assert.equal(error.code, "VALIDATION_ERROR");
      assert.equal(error.message, "name must not be empty");
      assert.equal(error.reason, "empty");
      assert.deepEqual(error.details, { field: "name" });
      assert.equal(error.requestId, "req_envelope");
      return true;
    });
    assert.equal(server.seen.length, 1, "a 400 is not retried");
  });

  it("keeps the status and X-Request-Id of an answer that is not an envelope", async () => {
    const layers = new Layers({ apiKey: "lp_test_abc", baseUrl: server.url, maxRetries: 0 });
    await assert.rejects(layers.GET("/v1/whoami"), (error: unknown) => {
      assert.ok(error instanceof LayersError);
      assert.equal(error.status, 502);
      assert.equal(error.code, UNKNOWN_ERROR_CODE);
      assert.equal(error.requestId, "req_header");
      assert.match(error.message, /bad gateway/);
      return true;
    });
  });

  it("types paths, bodies and parameters from the document", () => {
    const layers = new Layers({ apiKey: "lp_test_abc", baseUrl: server.url });
    // These never run: they only have to fail to compile (tsc checks each @ts-expect-error).
    const compileOnly = (): void => {
      // @ts-expect-error an unknown path
      void layers.GET("/v1/nope");
      // @ts-expect-error a body field the document does not have
      void layers.POST("/v1/projects", { body: { name: "Acme", nmae: "typo" } });
      // @ts-expect-error a required path parameter is missing
      void layers.GET("/v1/jobs/{jobId}", { params: { path: {} } });
    };
    assert.equal(typeof compileOnly, "function");
    assert.throws(() => new Layers({ apiKey: "" }), TypeError);
  });
});
