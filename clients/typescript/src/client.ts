import { randomUUID } from "node:crypto";

import createClient, {
  type Client,
  type ClientPathsWithMethod,
  type MaybeOptionalInit,
  type MethodResponse,
  type Middleware,
} from "openapi-fetch";

import { LayersError } from "./errors.js";
import { type FetchLike, withRetries } from "./retry.js";
import type { paths } from "./schema.js";

/**
 * Where the client sends requests unless told otherwise: the first entry of the document's
 * `servers`, the gateway that `cargo xtask dev` serves on this machine. Pass `baseUrl` for any other.
 */
export const DEFAULT_BASE_URL = "http://127.0.0.1:8080";

/** The methods that write, each of which gets an `Idempotency-Key`. */
const WRITE_METHODS: ReadonlySet<string> = new Set(["POST", "PUT", "PATCH", "DELETE"]);

export interface LayersOptions {
  /** An API key: `lp_live_…`, or `lp_test_…` for the sandbox. Sent as `Authorization: Bearer <key>`. */
  apiKey: string;
  /** The API's root URL. Default {@link DEFAULT_BASE_URL}. */
  baseUrl?: string | undefined;
  /** Retries after a 429, a 5xx, a network error or a timeout. Default 2. */
  maxRetries?: number | undefined;
  /** Each attempt's time limit in milliseconds. Default 60 000. */
  timeoutMs?: number | undefined;
  /** The fetch to send requests with (tests, proxies, instrumentation). Default `globalThis.fetch`. */
  fetch?: FetchLike | undefined;
}

/** The openapi-fetch client typed by the API document. */
export type RawClient = Client<paths, "application/json">;
/** The HTTP methods of the API. */
export type Method = "get" | "put" | "post" | "delete" | "patch";
/** The paths that answer `M`, e.g. `PathsWith<"post">`. */
export type PathsWith<M extends Method> = ClientPathsWithMethod<RawClient, M>;
/** The options of a call: `params` (`path`, `query`, `header`), `body`, `headers`, `signal`, … */
export type CallOptions<M extends Method, P extends PathsWith<M>> = MaybeOptionalInit<paths[P], M>;
/** The options argument, required exactly when the operation has a required parameter or body. */
type InitArgs<M extends Method, P extends PathsWith<M>> =
  undefined extends CallOptions<M, P> ? [init?: CallOptions<M, P>] : [init: CallOptions<M, P>];
/** The data of a successful answer of `M P`. */
export type ResponseData<M extends Method, P extends PathsWith<M>> = MethodResponse<RawClient, M, P>;

/**
 * A client of the Layers Partner API. Its methods take a path of the document and the options of
 * that operation, typed from the document, and return the answer's data, or throw a
 * {@link LayersError} for a non-2xx answer (after retries).
 *
 * ```ts
 * const layers = new Layers({ apiKey: process.env.LAYERS_API_KEY! });
 * const project = await layers.POST("/v1/projects", { body: { name: "Acme" } });
 * const job = await layers.GET("/v1/jobs/{jobId}", { params: { path: { jobId } } });
 * ```
 *
 * Every write carries an `Idempotency-Key` (a random UUID unless the call sets one, e.g.
 * `params: { header: { "Idempotency-Key": "order-42" } }`), the same on each retry of that call.
 */
export class Layers {
  /** The underlying openapi-fetch client (same auth, retries and keys), for answers' headers. */
  readonly raw: RawClient;

  constructor(options: LayersOptions) {
    if (!options.apiKey) throw new TypeError("Layers: apiKey is required");
    const maxRetries = options.maxRetries ?? 2;
    if (!Number.isInteger(maxRetries) || maxRetries < 0) {
      throw new TypeError("Layers: maxRetries must be a non-negative integer");
    }
    const baseFetch: FetchLike = options.fetch ?? ((request) => globalThis.fetch(request));
    this.raw = createClient<paths, "application/json">({
      baseUrl: options.baseUrl ?? DEFAULT_BASE_URL,
      headers: { Authorization: `Bearer ${options.apiKey}` },
      fetch: withRetries(baseFetch, {
        maxRetries,
        baseDelayMs: 500,
        maxDelayMs: 8_000,
        maxRetryAfterMs: 60_000,
        timeoutMs: options.timeoutMs ?? 60_000,
      }),
    });
    this.raw.use(idempotencyKeys);
  }

  /** `GET path`: reads. */
  GET<P extends PathsWith<"get">>(path: P, ...init: InitArgs<"get", P>): Promise<ResponseData<"get", P>> {
    return this.call("GET", path, init[0]);
  }

  /** `POST path`: creates and actions; idempotent through its `Idempotency-Key`. */
  POST<P extends PathsWith<"post">>(path: P, ...init: InitArgs<"post", P>): Promise<ResponseData<"post", P>> {
    return this.call("POST", path, init[0]);
  }

  /** `PATCH path`: partial updates; idempotent through its `Idempotency-Key`. */
  PATCH<P extends PathsWith<"patch">>(path: P, ...init: InitArgs<"patch", P>): Promise<ResponseData<"patch", P>> {
    return this.call("PATCH", path, init[0]);
  }

  /** `PUT path`: uploads; idempotent through its `Idempotency-Key`. */
  PUT<P extends PathsWith<"put">>(path: P, ...init: InitArgs<"put", P>): Promise<ResponseData<"put", P>> {
    return this.call("PUT", path, init[0]);
  }

  /** `DELETE path`; idempotent through its `Idempotency-Key`. */
  DELETE<P extends PathsWith<"delete">>(
    path: P,
    ...init: InitArgs<"delete", P>
  ): Promise<ResponseData<"delete", P>> {
    return this.call("DELETE", path, init[0]);
  }

  /** Sends through openapi-fetch and turns an error answer into a {@link LayersError}. */
  private async call<T>(method: Uppercase<Method>, path: string, init: object | undefined): Promise<T> {
    // The public signatures above carry the types; openapi-fetch's own generics add nothing here.
    const send = this.raw.request as unknown as (
      method: Uppercase<Method>,
      path: string,
      init?: object,
    ) => Promise<{ data?: unknown; error?: unknown; response: Response }>;
    const { data, error, response } = await send(method, path, init);
    if (!response.ok) throw LayersError.fromResponse(response, error);
    return data as T;
  }
}

/** Gives each write without one a fresh `Idempotency-Key`; retries reuse the request, so the key. */
const idempotencyKeys: Middleware = {
  onRequest({ request }) {
    if (WRITE_METHODS.has(request.method) && !request.headers.has("Idempotency-Key")) {
      request.headers.set("Idempotency-Key", randomUUID());
    }
    return undefined;
  },
};
