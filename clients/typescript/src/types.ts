// Named aliases of the document's component schemas, for partners' own signatures. Every other
// schema is reachable as `Schema<"Name">` (or `components["schemas"]["Name"]`).
import type { components } from "./schema.js";

/** Any component schema of the API document by name, e.g. `Schema<"Influencer">`. */
export type Schema<Name extends keyof components["schemas"]> = components["schemas"][Name];

/** A project: one of your customers. */
export type Project = Schema<"Project">;
/** A content container: one variant of generated content, or an upload. */
export type ContentContainer = Schema<"ContentContainer">;
/** A content format that can be generated: `slideshow`, `video-remix`, `ugc-creative`, `image`. */
export type ContentFormat = Schema<"ContentFormat">;
/** A job, the same shape for every kind: poll it until its `status` is terminal. */
export type Job = Schema<"Job">;
/** A job's status. */
export type JobStatus = Job["status"];
/** A connected Instagram/TikTok/YouTube account of a project. */
export type SocialAccount = Schema<"SocialAccount">;
/** A platform a social account is on. */
export type SocialPlatform = Schema<"SocialPlatform">;
/** A published or scheduled post (the API's `ScheduledPost`), with one target per account. */
export type ScheduledPost = Schema<"ScheduledPost">;
/** Shorter name of {@link ScheduledPost}. */
export type Post = ScheduledPost;
/** One target (account) of a post. */
export type PostTarget = Schema<"PostTarget">;
/** A project's metric series over a range, one entry per post. */
export type Metrics = Schema<"Metrics">;
/** One post's daily series. */
export type PostMetrics = Schema<"PostMetrics">;
/** One day of a post's metrics. */
export type MetricsDay = Schema<"MetricsDay">;
/** A project's metrics summary. */
export type MetricsSummary = Schema<"MetricsSummary">;
/** An influencer (a persona content is generated for). */
export type Influencer = Schema<"Influencer">;
/** A webhook endpoint; `secret` is present only in the answers of creation and rotation. */
export type WebhookEndpoint = Schema<"WebhookEndpoint">;
/** One delivery of an event to an endpoint, with its attempts. */
export type WebhookDelivery = Schema<"WebhookDelivery">;
/** An ad account linked to a project. */
export type AdAccount = Schema<"AdAccount">;
/** An ads campaign. */
export type Campaign = Schema<"Campaign">;
/** A sandbox test clock. */
export type TestClock = Schema<"TestClock">;
/** The organization's credit balance. */
export type Credits = Schema<"Credits">;
/** Who the API key is: organization, scopes, rate-limit tier, quota. */
export type WhoAmI = Schema<"WhoAmI">;

/** An event envelope as delivered, discriminated on `type`: narrow with `switch (event.type)`. */
export type Event = Schema<"Event">;
/** An event type of the catalogue. */
export type EventType = Event["type"];
/** The event of one type, e.g. `EventOf<"post.published">`. */
export type EventOf<Type extends EventType> = Extract<Event, { type: Type }>;
/** `{sandbox: true}` on test-key events; live events have no `meta`. */
export type EventMeta = Schema<"EventMeta">;
