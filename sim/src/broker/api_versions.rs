//! ApiVersions: the APIs and versions this broker answers ([`super::SUPPORTED`]).

use super::{answer, respond, Answer, Reply, Request, SUPPORTED};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiKey, ApiVersionsResponse};
use producer_core::error::code;
use std::sync::Arc;
use std::time::Duration;

fn response(error: i16) -> ApiVersionsResponse {
    ApiVersionsResponse::default()
        .with_error_code(error)
        .with_api_keys(
            SUPPORTED
                .iter()
                .map(|(k, min, max)| {
                    ApiVersion::default()
                        .with_api_key(*k as i16)
                        .with_min_version(*min)
                        .with_max_version(*max)
                })
                .collect(),
        )
}

/// Answers a supported version (the request body carries nothing we need).
pub(super) fn handle(req: &Request<'_>) -> Answer {
    answer(ApiKey::ApiVersions, req, code::NONE, &response(code::NONE))
}

/// KIP-511: a version above ours is answered in v0 with UNSUPPORTED_VERSION
/// and our versions, so the client retries with one we speak.
pub(super) fn unsupported(correlation_id: i32) -> Reply {
    let client: Arc<str> = "".into();
    let req = Request {
        broker: -1,
        version: 0,
        correlation_id,
        client_id: &client,
        frame_len: 0,
        now: Duration::ZERO,
    };
    respond(
        ApiKey::ApiVersions,
        &req,
        &response(code::UNSUPPORTED_VERSION),
    )
}
