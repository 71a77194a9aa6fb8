//! The statements of the key cache ([`crate::KeyCache`]): listening on its channel, and the
//! heartbeat notification that proves notifications arrive.

use crate::cache::CHANNEL;

/// Starts listening on `client` for changes to keys, organizations and plans (the triggers
/// notify [`CHANNEL`]).
pub(crate) async fn listen(client: &tokio_postgres::Client) -> Result<(), tokio_postgres::Error> {
    client.batch_execute(&format!("LISTEN {CHANNEL}")).await
}

/// Notifies [`CHANNEL`] with `payload` through `client` (a heartbeat: the listener must hear
/// it back).
pub(crate) async fn notify(
    client: &tokio_postgres::Client,
    payload: &str,
) -> Result<u64, tokio_postgres::Error> {
    client
        .execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &payload])
        .await
}
