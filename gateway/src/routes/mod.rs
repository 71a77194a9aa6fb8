//! One module per resource: request and response types, handlers and `config`.

pub mod health;
pub mod influencers;
pub mod projects;
pub mod whoami;

use crate::error::ApiError;

/// The answer for a path no route knows.
pub async fn not_found(req: actix_web::HttpRequest) -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::for_status(
        actix_web::http::StatusCode::NOT_FOUND,
        req.method().as_str(),
        req.path(),
    ))
}
