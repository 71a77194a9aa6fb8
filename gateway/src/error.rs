//! The one error type of the gateway. Client errors become the contract's envelope
//! (`{"error": {code, message, requestId, reason?, details?}}`); anything else is logged with its
//! cause chain and answered as an opaque 500.

use std::fmt;

use actix_web::http::header::{HeaderName, HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::{json, Value};

use crate::middleware::current_request_id;
use layers_core::EnvKind;

/// The most characters of a client's own input an error message quotes.
pub const QUOTE_LIMIT: usize = 64;

/// `input`, cut to [`QUOTE_LIMIT`] characters (with `…` when cut), for quoting in a message:
/// an answer never grows with what the client sent.
pub fn quote(input: &str) -> String {
    match input.char_indices().nth(QUOTE_LIMIT) {
        None => input.to_owned(),
        Some((cut, _)) => format!("{}…", &input[..cut]),
    }
}

/// The codes of CONTRACT §4, plus `METHOD_NOT_ALLOWED` for a known route with the wrong method
/// and `REQUEST_TIMEOUT` for a body that arrives too slowly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    ValidationError,
    Unauthenticated,
    PaymentRequired,
    BillingExhausted,
    ForbiddenScope,
    /// A media URL whose signature is wrong or expired.
    Forbidden,
    NotFound,
    MethodNotAllowed,
    Conflict,
    RequestTimeout,
    PayloadTooLarge,
    UnsupportedMediaType,
    /// A `Range` of media none of whose bytes exist.
    RangeNotSatisfiable,
    IdempotencyKeyReused,
    EnvironmentMismatch,
    /// A live upload's file was refused (`reason`: too_large, unsupported_type, unreadable,
    /// fetch_failed).
    MediaRejected,
    /// A platform refused what it was asked (an ad account), in its own words.
    PlatformRejected,
    RateLimited,
    QuotaExceeded,
    Internal,
    PlatformError,
    PlatformNotConfigured,
    KillSwitch,
    /// The database cannot be reached; always with `Retry-After`.
    ServiceUnavailable,
}

impl Code {
    pub fn status(self) -> StatusCode {
        match self {
            Code::ValidationError => StatusCode::BAD_REQUEST,
            Code::Unauthenticated => StatusCode::UNAUTHORIZED,
            Code::PaymentRequired | Code::BillingExhausted => StatusCode::PAYMENT_REQUIRED,
            Code::ForbiddenScope | Code::Forbidden => StatusCode::FORBIDDEN,
            Code::NotFound => StatusCode::NOT_FOUND,
            Code::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Code::Conflict => StatusCode::CONFLICT,
            Code::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Code::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Code::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Code::RangeNotSatisfiable => StatusCode::RANGE_NOT_SATISFIABLE,
            Code::IdempotencyKeyReused
            | Code::EnvironmentMismatch
            | Code::MediaRejected
            | Code::PlatformRejected => StatusCode::UNPROCESSABLE_ENTITY,
            Code::RateLimited | Code::QuotaExceeded => StatusCode::TOO_MANY_REQUESTS,
            Code::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Code::PlatformError => StatusCode::BAD_GATEWAY,
            Code::PlatformNotConfigured | Code::KillSwitch | Code::ServiceUnavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Code::ValidationError => "VALIDATION_ERROR",
            Code::Unauthenticated => "UNAUTHENTICATED",
            Code::PaymentRequired => "PAYMENT_REQUIRED",
            Code::BillingExhausted => "BILLING_EXHAUSTED",
            Code::ForbiddenScope => "FORBIDDEN_SCOPE",
            Code::Forbidden => "FORBIDDEN",
            Code::NotFound => "NOT_FOUND",
            Code::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Code::Conflict => "CONFLICT",
            Code::RequestTimeout => "REQUEST_TIMEOUT",
            Code::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Code::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            Code::RangeNotSatisfiable => "RANGE_NOT_SATISFIABLE",
            Code::IdempotencyKeyReused => "IDEMPOTENCY_KEY_REUSED",
            Code::EnvironmentMismatch => "ENVIRONMENT_MISMATCH",
            Code::MediaRejected => "MEDIA_REJECTED",
            Code::PlatformRejected => "PLATFORM_REJECTED",
            Code::RateLimited => "RATE_LIMITED",
            Code::QuotaExceeded => "QUOTA_EXCEEDED",
            Code::Internal => "INTERNAL",
            Code::PlatformError => "PLATFORM_ERROR",
            Code::PlatformNotConfigured => "PLATFORM_NOT_CONFIGURED",
            Code::KillSwitch => "KILL_SWITCH",
            Code::ServiceUnavailable => "SERVICE_UNAVAILABLE",
        }
    }
}

type Source = Box<dyn std::error::Error + Send + Sync>;

/// An error answered to the client.
pub struct ApiError {
    code: Code,
    message: String,
    reason: Option<&'static str>,
    details: Option<Value>,
    headers: Vec<(HeaderName, HeaderValue)>,
    /// Whether the connection is closed after this answer (a body left half-read).
    close: bool,
    /// The hidden cause of a 500; logged, never sent.
    source: Option<Source>,
}

impl ApiError {
    pub fn new(code: Code, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
            reason: None,
            details: None,
            headers: Vec::new(),
            close: false,
            source: None,
        }
    }

    /// Closes the connection after this answer (actix ignores a `Connection` header set by
    /// hand: the response head decides).
    pub fn closing_the_connection(mut self) -> ApiError {
        self.close = true;
        self
    }

    /// 400 `VALIDATION_ERROR` naming the offending field.
    pub fn validation(field: &str, message: impl Into<String>) -> ApiError {
        ApiError::new(Code::ValidationError, message).with_details(json!({ "field": quote(field) }))
    }

    pub fn not_found(what: &str) -> ApiError {
        ApiError::new(Code::NotFound, format!("no such {what}"))
    }

    /// 404 for an id that exists in the other environment (CONTRACT §9): it says so, as Stripe
    /// does, so that a partner who mixed up keys is not left guessing.
    pub fn in_other_environment(what: &str, other: EnvKind) -> ApiError {
        ApiError::new(
            Code::NotFound,
            format!(
                "no such {what} in this environment: it exists in {other}; read it with a {} key",
                other.key_segment()
            ),
        )
    }

    /// 422 `ENVIRONMENT_MISMATCH` for a write naming a resource of the other environment.
    pub fn environment_mismatch(what: &str, other: EnvKind) -> ApiError {
        ApiError::new(
            Code::EnvironmentMismatch,
            format!(
                "this {what} belongs to {other}: change it with a {} key; nothing was written",
                other.key_segment()
            ),
        )
    }

    /// 416 `RANGE_NOT_SATISFIABLE` for a media `Range` beyond its `size` bytes, with the
    /// `Content-Range: bytes */size` that says how large it is.
    pub fn range_not_satisfiable(size: u64) -> ApiError {
        let header = HeaderValue::from_str(&format!("bytes */{size}"))
            .expect("digits are a valid header value");
        ApiError::new(
            Code::RangeNotSatisfiable,
            format!("the range asks for bytes past the end: the file has {size} bytes"),
        )
        .with_header(actix_web::http::header::CONTENT_RANGE, header)
    }

    /// 409 `CONFLICT` with a machine-readable reason.
    pub fn conflict(reason: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(Code::Conflict, message).with_reason(reason)
    }

    /// An unexpected failure: logged with its cause chain, answered as an opaque 500 — or, when
    /// the cause is that the database cannot be reached (refused, killed, restarting, no
    /// connection in time), as 503 `SERVICE_UNAVAILABLE` with `Retry-After`: the request may
    /// simply be retried; or, when a row the request wrote refers to one that another
    /// transaction deleted meanwhile (a foreign-key violation), as 404 `NOT_FOUND`.
    pub fn internal(source: impl Into<Source>) -> ApiError {
        let source = source.into();
        if layers_db::is_unreachable(source.as_ref()) {
            return ApiError {
                source: Some(source),
                ..ApiError::new(
                    Code::ServiceUnavailable,
                    "the database is unavailable for a moment; nothing was written: retry in a second",
                )
                .with_header(RETRY_AFTER, HeaderValue::from_static("1"))
            };
        }
        if layers_db::is_foreign_key_violation(source.as_ref()) {
            return ApiError {
                source: Some(source),
                ..ApiError::new(
                    Code::NotFound,
                    "something this request refers to was deleted while it ran (a sandbox reset, \
                     say); nothing was written",
                )
            };
        }
        ApiError {
            source: Some(source),
            ..ApiError::new(
                Code::Internal,
                "something went wrong on our side; retry later or contact support with the request id",
            )
        }
    }

    /// Whether this error says the database cannot be reached (see [`ApiError::internal`]).
    pub fn is_unreachable(&self) -> bool {
        self.code == Code::ServiceUnavailable
    }

    pub fn with_reason(mut self, reason: &'static str) -> ApiError {
        self.reason = Some(reason);
        self
    }

    pub fn with_details(mut self, details: Value) -> ApiError {
        self.details = Some(details);
        self
    }

    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> ApiError {
        self.headers.push((name, value));
        self
    }

    pub fn code(&self) -> Code {
        self.code
    }

    /// The envelope for a framework-made error response that carries no body of ours.
    pub fn for_status(status: StatusCode, method: &str, path: &str) -> ApiError {
        match status {
            StatusCode::NOT_FOUND => ApiError::new(
                Code::NotFound,
                format!("no route for {} {}", quote(method), quote(path)),
            ),
            StatusCode::METHOD_NOT_ALLOWED => ApiError::new(
                Code::MethodNotAllowed,
                format!("{} is not allowed on {}", quote(method), quote(path)),
            ),
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::payload_too_large(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::unsupported_media_type(),
            s if s.is_server_error() => ApiError::internal(format!("framework answered {s}")),
            _ => ApiError::new(Code::ValidationError, "the request could not be understood"),
        }
    }

    pub fn payload_too_large() -> ApiError {
        ApiError::new(Code::PayloadTooLarge, "request body must be at most 1 MiB")
    }

    pub fn unsupported_media_type() -> ApiError {
        ApiError::new(
            Code::UnsupportedMediaType,
            "request body must be JSON: send Content-Type: application/json",
        )
    }
}

impl fmt::Debug for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiError")
            .field("code", &self.code)
            .field("message", &self.message)
            .field("source", &self.source)
            .finish()
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for ApiError {}

/// The cause chain of an error, outermost first.
fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut next = err.source();
    while let Some(e) = next {
        out.push_str(": ");
        out.push_str(&e.to_string());
        next = e.source();
    }
    out
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code.status()
    }

    fn error_response(&self) -> HttpResponse {
        match &self.source {
            Some(source) if self.is_unreachable() => {
                tracing::warn!(error = %chain(source.as_ref()), "the database is unavailable");
            }
            Some(source) if self.code == Code::NotFound => {
                tracing::info!(error = %chain(source.as_ref()), "a referent was deleted meanwhile");
            }
            Some(source) => tracing::error!(error = %chain(source.as_ref()), "unexpected error"),
            None => {}
        }
        let mut error = json!({
            "code": self.code.as_str(),
            "message": self.message,
            "requestId": current_request_id(),
        });
        if let Some(reason) = self.reason {
            error["reason"] = json!(reason);
        }
        if let Some(details) = &self.details {
            error["details"] = details.clone();
        }
        let mut res = HttpResponse::build(self.status_code());
        res.insert_header((CONTENT_TYPE, "application/json"));
        for (name, value) in &self.headers {
            res.insert_header((name.clone(), value.clone()));
        }
        let mut res = res.body(json!({ "error": error }).to_string());
        if self.close {
            res.head_mut()
                .set_connection_type(actix_web::http::ConnectionType::Close);
        }
        res
    }
}

impl From<layers_db::Error> for ApiError {
    fn from(e: layers_db::Error) -> Self {
        ApiError::internal(e)
    }
}

impl From<tokio_postgres::Error> for ApiError {
    fn from(e: tokio_postgres::Error) -> Self {
        ApiError::internal(e)
    }
}

impl From<deadpool_postgres::PoolError> for ApiError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        ApiError::internal(e)
    }
}

impl From<layers_projects::Error> for ApiError {
    fn from(e: layers_projects::Error) -> Self {
        use layers_projects::Error as E;
        match e {
            E::NotFound => ApiError::not_found("project"),
            E::InOtherEnvironment(other) => ApiError::in_other_environment("project", other),
            E::Archived => ApiError::conflict(
                "project_archived",
                "the project is archived and can no longer be changed",
            ),
            E::EnvironmentMismatch(other) => ApiError::environment_mismatch("project", other),
            E::CustomerExternalIdTaken => ApiError::conflict(
                "customer_external_id_taken",
                "another project in this organization already uses this customerExternalId",
            )
            .with_details(json!({ "field": "customerExternalId" })),
            E::InfluencerNotFound => {
                ApiError::new(Code::NotFound, "no such influencer in this project")
                    .with_details(json!({ "field": "influencerId" }))
            }
            E::TestClockNotFound => ApiError::new(
                Code::NotFound,
                "testClockId names no test clock of this organization (GET \
                 /v1/test_helpers/test-clocks lists them)",
            )
            .with_details(json!({ "field": "testClockId" })),
            E::Db(e) => ApiError::internal(e),
        }
    }
}

impl From<layers_jobs::Error> for ApiError {
    fn from(e: layers_jobs::Error) -> Self {
        use layers_jobs::Error as E;
        match e {
            E::NotFound => ApiError::not_found("job"),
            E::InOtherEnvironment(other) => ApiError::in_other_environment("job", other),
            E::EnvironmentMismatch(other) => ApiError::environment_mismatch("job", other),
            E::AlreadyTerminal => ApiError::conflict(
                "already_terminal",
                "the job has already finished; there is nothing to cancel",
            ),
            E::Credits(e) => e.into(),
            E::Events(e) => e.into(),
            e @ (E::Corrupt(_) | E::Db(_)) => ApiError::internal(e),
        }
    }
}

impl From<layers_content::Error> for ApiError {
    fn from(e: layers_content::Error) -> Self {
        use layers_content::Error as E;
        match e {
            E::NotFound => ApiError::not_found("content"),
            E::InOtherEnvironment(other) => ApiError::in_other_environment("content", other),
            E::EnvironmentMismatch(other) => ApiError::environment_mismatch("content", other),
            E::AssetNotFound => ApiError::not_found("asset"),
            E::NotFinished => ApiError::conflict(
                "content_not_ready",
                "the content is still being generated; regenerate it once it has finished",
            ),
            E::Uploaded => {
                ApiError::conflict("uploaded_content", "uploaded content cannot be regenerated")
            }
            e @ E::MixedUpload => ApiError::validation("urls", e.to_string()),
            E::UploadNotFound => ApiError::not_found("upload"),
            e @ E::UploadExpired => ApiError::conflict("upload_expired", e.to_string()),
            E::UploadIncomplete(missing) => ApiError::conflict(
                "upload_incomplete",
                format!("files {missing:?} have not been uploaded yet: PUT them first"),
            )
            .with_details(json!({ "missing": missing })),
            E::UploadOfAnotherProject => ApiError::not_found("upload"),
            e @ E::NotConfigured(_) => ApiError::new(Code::PlatformNotConfigured, e.to_string()),
            E::Start(e) => e.into(),
            E::UploadQuota { quota } => upload_quota(quota),
            E::Media { index, refused } => ApiError::media_rejected("files", index, refused),
            E::Events(e) => e.into(),
            e @ (E::Corrupt(_) | E::Db(_)) => ApiError::internal(e),
        }
    }
}

impl ApiError {
    /// 422 `MEDIA_REJECTED` for file `index` of the request's `field` (a refusal without a
    /// reason, such as storage failing, is a 500).
    pub fn media_rejected(field: &str, index: usize, refused: layers_content::Refused) -> ApiError {
        match refused.reason() {
            Some(reason) => ApiError::new(
                Code::MediaRejected,
                format!("file {index} was refused: {refused}"),
            )
            .with_reason(reason)
            .with_details(json!({ "field": field, "index": index })),
            None => ApiError::internal(refused),
        }
    }
}

/// 429 `QUOTA_EXCEEDED` (reason `upload_quota`) until the next UTC month.
fn upload_quota(quota: u32) -> ApiError {
    use chrono::{Datelike, TimeZone, Utc};
    let now = Utc::now();
    let (y, m) = if now.month() == 12 {
        (now.year() + 1, 1)
    } else {
        (now.year(), now.month() + 1)
    };
    let next = Utc
        .with_ymd_and_hms(y, m, 1, 0, 0, 0)
        .single()
        .unwrap_or(now);
    let retry = (next - now).num_seconds().max(1) as u64;
    ApiError::new(
        Code::QuotaExceeded,
        format!("this project used its {quota} live uploads of the month"),
    )
    .with_reason("upload_quota")
    .with_details(json!({ "uploadQuota": quota, "retryAfterSeconds": retry }))
    .with_header(
        actix_web::http::header::RETRY_AFTER,
        actix_web::http::header::HeaderValue::from(retry),
    )
}

impl From<layers_jobs::Refused> for ApiError {
    fn from(e: layers_jobs::Refused) -> Self {
        use layers_jobs::Refused as E;
        match e {
            E::Project(e) => e.into(),
            E::Credits(e) => e.into(),
            E::Jobs(e) => e.into(),
        }
    }
}

impl From<layers_social::ConnectError> for ApiError {
    fn from(e: layers_social::ConnectError) -> Self {
        use layers_social::ConnectError as E;
        match e {
            E::Project(e) => e.into(),
            E::NotConfigured(e) => e.into(),
            E::Social(e) => e.into(),
        }
    }
}

impl From<layers_social::Error> for ApiError {
    fn from(e: layers_social::Error) -> Self {
        use layers_social::Error as E;
        match e {
            e @ E::UnknownState => ApiError::new(Code::NotFound, e.to_string()),
            E::EnvironmentMismatch(other) => ApiError::new(
                Code::EnvironmentMismatch,
                format!(
                    "this state was minted with a {} key: complete it through that \
                     environment's flow",
                    other.key_segment()
                ),
            ),
            e @ E::WrongPlatform(_) => ApiError::validation("platform", e.to_string()),
            E::NotFound => ApiError::not_found("social account"),
            E::InOtherEnvironment(other) => ApiError::in_other_environment("social account", other),
            E::AccountEnvironmentMismatch(other) => {
                ApiError::environment_mismatch("social account", other)
            }
            E::Events(e) => e.into(),
            e @ (E::Corrupt(_) | E::Db(_) | E::Unavailable(_)) => ApiError::internal(e),
        }
    }
}

impl From<layers_social::CallbackError> for ApiError {
    fn from(e: layers_social::CallbackError) -> Self {
        use layers_social::CallbackError as E;
        match e {
            E::Store(e) => e.into(),
            e @ E::CodeRefused { .. } => ApiError::validation("code", e.to_string()),
            e @ E::MissingCode => ApiError::validation("code", e.to_string()),
            e @ E::Platform { .. } => ApiError::new(Code::PlatformError, e.to_string()),
            E::NotConfigured(e) => e.into(),
        }
    }
}

impl From<layers_platforms::NotConfigured> for ApiError {
    fn from(e: layers_platforms::NotConfigured) -> Self {
        ApiError::new(Code::PlatformNotConfigured, e.to_string())
    }
}

/// `targets[i].socialAccountId`, the field a target's error names.
fn target_field(index: usize) -> String {
    format!("targets[{index}].socialAccountId")
}

impl From<layers_publishing::Error> for ApiError {
    fn from(e: layers_publishing::Error) -> Self {
        use layers_publishing::Error as E;
        match e {
            E::ContentNotFound => ApiError::not_found("content"),
            E::AccountNotFound { index } => ApiError::new(
                Code::NotFound,
                "no such social account in the content's project",
            )
            .with_details(json!({ "field": target_field(index) })),
            E::NotFound => ApiError::not_found("scheduled post"),
            E::InOtherEnvironment(other) => ApiError::in_other_environment("scheduled post", other),
            E::EnvironmentMismatch(other) => {
                ApiError::environment_mismatch("scheduled post", other)
            }
            E::ContentEnvironmentMismatch(other) => ApiError::new(
                Code::EnvironmentMismatch,
                format!(
                    "this content belongs to {other}: publish it with a {} key; nothing was \
                     written",
                    other.key_segment()
                ),
            ),
            E::AccountEnvironmentMismatch { index, env } => ApiError::new(
                Code::EnvironmentMismatch,
                format!(
                    "this social account belongs to {env}: publish through it with a {} key; \
                     nothing was written",
                    env.key_segment()
                ),
            )
            .with_details(json!({ "field": target_field(index) })),
            e @ E::ContentNotReady(_) => ApiError::conflict("content_not_ready", e.to_string()),
            e @ E::AlreadyPublished => ApiError::conflict("already_published", e.to_string()),
            ref e @ E::AccountNotActive { index, .. } => {
                ApiError::conflict("account_not_active", e.to_string())
                    .with_details(json!({ "field": target_field(index) }))
            }
            e @ E::AlreadyTerminal(_) => ApiError::conflict("already_terminal", e.to_string()),
            e @ (E::PublishAtNotAhead { .. } | E::PublishAtTooFar { .. }) => {
                ApiError::validation("publishAt", e.to_string())
            }
            ref e @ E::AccountCannotPublish { index } => {
                ApiError::validation(&target_field(index), e.to_string())
            }
            E::NotConfigured(e) => e.into(),
            E::Jobs(e) => e.into(),
            E::Events(e) => e.into(),
            e @ (E::Corrupt(_) | E::Db(_)) => ApiError::internal(e),
        }
    }
}

impl From<layers_ads::Error> for ApiError {
    fn from(e: layers_ads::Error) -> Self {
        use layers_ads::Error as E;
        let field = |f: String| json!({ "field": f });
        match e {
            E::Invalid(e) => crate::routes::ads::invalid(e),
            E::Projects(e) => e.into(),
            e @ E::AccountNotFound => ApiError::new(Code::NotFound, e.to_string())
                .with_details(field("adAccountId".into())),
            E::AccountEnvironmentMismatch(other) => {
                ApiError::environment_mismatch("ad account", other)
            }
            e @ E::SocialAccountNotFound => ApiError::new(Code::NotFound, e.to_string())
                .with_details(field("socialAccountId".into())),
            E::SocialAccountEnvironmentMismatch(other) => {
                ApiError::environment_mismatch("social account", other)
                    .with_details(field("socialAccountId".into()))
            }
            e @ E::WrongSocialPlatform { .. } => {
                ApiError::validation("socialAccountId", e.to_string())
            }
            e @ E::AdsPermissionMissing => {
                ApiError::conflict("ads_permission_missing", e.to_string())
            }
            e @ E::SocialAccountNotActive(_) => {
                ApiError::conflict("account_not_active", e.to_string())
            }
            e @ E::AlreadyLinked => ApiError::conflict("already_linked", e.to_string()),
            E::AccountRefused(message) => ApiError::new(Code::PlatformRejected, message),
            E::CampaignNotFound => ApiError::not_found("campaign"),
            E::CampaignInOtherEnvironment(other) => {
                ApiError::in_other_environment("campaign", other)
            }
            E::CampaignEnvironmentMismatch(other) => {
                ApiError::environment_mismatch("campaign", other)
            }
            e @ E::UnknownCampaigns(_) => ApiError::new(Code::NotFound, e.to_string())
                .with_details(field("campaignIds".into())),
            ref e @ E::ContainerNotFound { index } => ApiError::new(Code::NotFound, e.to_string())
                .with_details(field(format!("creatives[{index}].containerId"))),
            ref e @ E::ContainerEnvironmentMismatch { index, env } => ApiError::new(
                Code::EnvironmentMismatch,
                format!(
                    "{e}: use it with a {} key; nothing was written",
                    env.key_segment()
                ),
            )
            .with_details(field(format!("creatives[{index}].containerId"))),
            ref e @ E::ContainerNotReady { index, .. } => {
                ApiError::conflict("content_not_ready", e.to_string())
                    .with_details(field(format!("creatives[{index}].containerId")))
            }
            e @ E::InvalidState { .. } => {
                ApiError::conflict("invalid_campaign_state", e.to_string())
            }
            E::NotConfigured(e) => e.into(),
            E::Jobs(e) => e.into(),
            E::Events(e) => e.into(),
            e @ E::Platform(_) => ApiError::new(Code::PlatformError, e.to_string()),
            e @ (E::Corrupt(_) | E::Db(_)) => ApiError::internal(e),
        }
    }
}

impl From<layers_metrics::Error> for ApiError {
    fn from(e: layers_metrics::Error) -> Self {
        use layers_metrics::Error as E;
        match e {
            e @ E::UnknownPosts(_) => ApiError::new(
                Code::NotFound,
                format!(
                    "{e}: postIds are externalIds, the targets' `externalId` in \
                     GET /v1/projects/{{projectId}}/scheduled-posts, not post ids"
                ),
            )
            .with_details(json!({ "field": "postIds" })),
            E::Publishing(e) => e.into(),
            e @ (E::Corrupt(_) | E::Db(_)) => ApiError::internal(e),
        }
    }
}

impl From<layers_webhooks::StoreError> for ApiError {
    fn from(e: layers_webhooks::StoreError) -> Self {
        use layers_webhooks::StoreError as E;
        match e {
            E::NotFound => ApiError::not_found("webhook endpoint"),
            E::InOtherEnvironment(other) => {
                ApiError::in_other_environment("webhook endpoint", other)
            }
            E::EnvironmentMismatch(other) => {
                ApiError::environment_mismatch("webhook endpoint", other)
            }
            E::DeliveryNotFound => ApiError::not_found("delivery"),
            E::EventNotFound => ApiError::not_found("event"),
            E::InvalidUrl(message) => ApiError::validation("url", message),
            E::InvalidEvents(message) => ApiError::validation("events", message),
            e @ E::InvalidDescription => ApiError::validation("description", e.to_string()),
            e @ E::TooManyEndpoints => ApiError::conflict("too_many_endpoints", e.to_string()),
            e @ E::NotConfigured => ApiError::new(Code::PlatformNotConfigured, e.to_string()),
            e @ (E::Corrupt(_) | E::Db(_)) => ApiError::internal(e),
        }
    }
}

impl From<layers_credits::Error> for ApiError {
    fn from(e: layers_credits::Error) -> Self {
        use layers_credits::Error as E;
        match e {
            E::BillingExhausted { required, balance } => ApiError::new(
                Code::BillingExhausted,
                format!(
                    "this costs {required} credits and the organization's balance is {balance}; \
                     nothing was started: add credits and retry"
                ),
            )
            .with_details(json!({ "required": required, "balance": balance })),
            e => ApiError::internal(e),
        }
    }
}
