//! The benchmark ceiling for `cargo xtask bench`: a minimal actix-web endpoint that does one
//! prepared single-row SELECT through a deadpool pool built exactly as the gateway builds its
//! own (same pool size, same worker count), and nothing else: no auth, no logging.
//!
//! Reads `DATABASE_URL`, `LAYERS_BIND`, `LAYERS_DB_POOL_SIZE` and `LAYERS_WORKERS` like the
//! gateway. `GET /ceiling/{keyId}` answers the key row's id as JSON.

use actix_web::{web, App, HttpResponse, HttpServer};
use layers_gateway::Settings;

async fn ceiling(pool: web::Data<layers_db::Pool>, key_id: web::Path<String>) -> HttpResponse {
    let Ok(db) = pool.get().await else {
        return HttpResponse::ServiceUnavailable().finish();
    };
    let Ok(statement) = db
        .prepare_cached("SELECT id FROM api_keys WHERE key_id = $1")
        .await
    else {
        return HttpResponse::InternalServerError().finish();
    };
    match db.query_opt(&statement, &[&key_id.as_str()]).await {
        Ok(Some(row)) => HttpResponse::Ok()
            .json(serde_json::json!({ "id": row.get::<_, uuid::Uuid>(0).to_string() })),
        Ok(None) => HttpResponse::NotFound().finish(),
        Err(_) => HttpResponse::InternalServerError().finish(),
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let settings = Settings::from_env().map_err(std::io::Error::other)?;
    let pool = layers_db::pool(&settings.database_url, settings.db_pool_size)
        .map_err(std::io::Error::other)?;
    let pool = web::Data::new(pool);
    HttpServer::new(move || {
        App::new()
            .app_data(pool.clone())
            .route("/ceiling/{keyId}", web::get().to(ceiling))
    })
    .workers(settings.workers)
    .bind(settings.bind)?
    .run()
    .await
}
