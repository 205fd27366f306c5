//! The grant API's routes: reading granted data, introspection, keys, health and the spec.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use kluis_core::access::{AccessRecord, Action};
use kluis_core::dpop::{self, ProofError};
use kluis_core::grant;
use kluis_core::jose::{Jwk, Jwks};
use kluis_core::pointer::Pointer;
use kluis_core::token::GrantClaims;
use kluis_core::wire::{Health, Introspection, Problem};
use kluis_store::{unix_now, unix_now_ms};

use crate::api::ApiError;
use crate::ledger::{Access, Decision, Liveness, PendingProof};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/data", get(read_data))
        .route("/v1/introspect", post(introspect))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/healthz", get(healthz))
        .route("/openapi.json", get(openapi))
        .merge(crate::api::requests::router())
        .merge(crate::api::subscriptions::router())
        .merge(crate::api::webhook_key::router())
        .merge(crate::api::contact::router())
        .merge(crate::api::inbox::router())
        .merge(crate::api::relationship::router())
}

/// The granted fields, in the vault document's own shape.
#[utoipa::path(
    get, path = "/v1/data", tag = "grant API",
    params(("fields" = Option<String>, Query,
        description = "Comma-separated JSON Pointers (or repeated) narrowing the answer; each must lie inside the grant")),
    security(("grant" = [])),
    responses(
        (status = 200, description = "The granted subset of the vault document", body = Object, content_type = "application/json"),
        (status = 400, description = "Malformed `fields`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, invalid, expired or revoked token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`fields` asks for something outside the grant", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "The grant's read budget for today (10,000 reads a UTC day unless the owner set another) is used up; poll less, or subscribe to change notifications (`POST /v1/subscriptions`). Introspection does not count.", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds until the next UTC midnight, when the budget is whole again"))),
        (status = 503, description = "The vault is overloaded or shutting down", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn read_data(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, ApiError> {
    const ENDPOINT: Action = Action::Read;
    let (scheme, token) = match authorization(&headers) {
        Ok(found) => found,
        Err(cause) => return Err(refuse(&state, ENDPOINT, cause).await),
    };
    let verified = match state.verify(token).await {
        Ok(verified) => verified,
        Err(cause) => return Err(refuse(&state, ENDPOINT, cause.to_string()).await),
    };
    let access = &verified.access;
    let proof = match check_binding(&state, &verified.claims, scheme, token, &headers, &uri) {
        Ok(proof) => proof,
        Err(cause) => {
            let err = ApiError::unauthorized(cause);
            state
                .ledger()
                .record(refusal(access, ENDPOINT, &err))
                .await?;
            return Err(err);
        }
    };
    if access.fields.is_empty() {
        // A grant with a contact right or an append right only: the business may reach the
        // owner or add to its relationship record, never read.
        let err = ApiError::Forbidden {
            detail: no_fields_detail(access).into(),
            fields: Vec::new(),
        };
        state
            .ledger()
            .record(refusal(access, ENDPOINT, &err))
            .await?;
        return Err(err);
    }
    let mut narrowed_fields = None;
    if let Some(asked) = asked_fields(&uri) {
        let narrowed = asked.and_then(|asked| {
            grant::narrow(&access.fields, Some(&asked)).map_err(|outside| ApiError::Forbidden {
                detail: "the grant does not cover these fields".into(),
                fields: outside.iter().map(ToString::to_string).collect(),
            })
        });
        match narrowed {
            Ok(fields) => narrowed_fields = Some(fields),
            Err(err) => {
                state
                    .ledger()
                    .record(refusal(access, ENDPOINT, &err))
                    .await?;
                return Err(err);
            }
        }
    }
    match state
        .ledger()
        .read(access.clone(), narrowed_fields, proof)
        .await?
    {
        Decision::Served(body) => Ok((
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                ),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
            body,
        )
            .into_response()),
        Decision::Refused(reason) => Err(ApiError::unauthorized(reason)),
        Decision::OverBudget {
            budget,
            retry_after,
        } => Err(ApiError::ReadBudget {
            budget,
            retry_after,
        }),
    }
}

/// RFC 7662 token introspection. The token is its own credential: whoever holds it may ask.
#[utoipa::path(
    post, path = "/v1/introspect", tag = "grant API",
    request_body(content = kluis_core::wire::IntrospectionForm, content_type = "application/x-www-form-urlencoded",
        description = "`token=<grant token>` (and optionally `token_type_hint`)"),
    responses(
        (status = 200, description = "Whether the token is active, and its claims if so", body = Introspection),
        (status = 400, description = "No token parameter", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body larger than 8 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not a form", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Introspection>, ApiError> {
    const ENDPOINT: Action = Action::Introspect;
    let body = read_body(body, &headers, "application/x-www-form-urlencoded")?;
    let token = form_urlencoded::parse(&body)
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
        .ok_or_else(|| ApiError::BadRequest("the form has no `token` parameter".into()))?;
    let verified = match state.verify(&token).await {
        Ok(verified) => verified,
        Err(cause) => {
            refuse(&state, ENDPOINT, cause.to_string()).await;
            return Ok(Json(Introspection::inactive()));
        }
    };
    // A stolen key-bound token tells its thief nothing without a proof from the bound key.
    let mut proof = None;
    if verified.claims.cnf.is_some() {
        let uri: Uri = "/v1/introspect".parse().expect("a valid path");
        match pending_proof(&state, &verified.claims, &token, &headers, &uri, "POST") {
            Ok(pending) => proof = Some(pending),
            Err(cause) => {
                let err = ApiError::unauthorized(cause);
                state
                    .ledger()
                    .record(refusal(&verified.access, ENDPOINT, &err))
                    .await?;
                return Ok(Json(Introspection::inactive()));
            }
        }
    }
    let liveness = state
        .ledger()
        .introspect(verified.access.clone(), proof)
        .await?;
    Ok(Json(match liveness {
        Liveness::Inactive => Introspection::inactive(),
        Liveness::Active(None) => Introspection::active(&verified.claims),
        // Narrowed by the owner: the fields it covers now, not the token's.
        Liveness::Active(Some(kept)) => Introspection::active(
            &verified
                .claims
                .with_read_fields(kept.iter().map(ToString::to_string)),
        ),
    }))
}

/// The vault's public signing keys (RFC 7517), current and still-needed retired ones.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "keys",
    responses((status = 200, description = "JWK Set", body = Jwks)))]
pub async fn jwks(State(state): State<AppState>) -> Result<Response, ApiError> {
    let jwks = state.with_vault(|v| v.jwks(unix_now())).await?;
    Ok((
        [(
            header::CACHE_CONTROL,
            HeaderValue::from_static("max-age=60"),
        )],
        Json(jwks),
    )
        .into_response())
}

/// Liveness.
#[utoipa::path(get, path = "/healthz", tag = "meta",
    responses((status = 200, description = "The server is up", body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
    })
}

/// This API's OpenAPI 3.1 description.
#[utoipa::path(get, path = "/openapi.json", tag = "meta",
    responses((status = 200, description = "OpenAPI 3.1 document", body = Object)))]
pub async fn openapi(State(state): State<AppState>) -> Json<serde_json::Value> {
    let today = kluis_core::relationship::entry::day_of_ms(kluis_store::unix_now_ms());
    Json(crate::api::openapi::spec_for(crate::api::openapi::Served {
        allow_local_webhooks: state.allow_local_webhooks(),
        latest_interaction: today.tomorrow().ok(),
    }))
}

/// The body of a request, checked for size and media type.
pub fn read_body(
    body: Result<Bytes, BytesRejection>,
    headers: &HeaderMap,
    media_type: &str,
) -> Result<Bytes, ApiError> {
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge
        } else {
            ApiError::BadRequest("the request body could not be read".into())
        }
    })?;
    let matches = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(media_type));
    if !matches {
        return Err(ApiError::UnsupportedMediaType(format!("send {media_type}")));
    }
    Ok(body)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scheme {
    Bearer,
    Dpop,
}

/// The token and its scheme from `Authorization: Bearer …` or `Authorization: DPoP …`.
pub(crate) fn authorization(headers: &HeaderMap) -> Result<(Scheme, &str), String> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or("no Authorization header")?
        .to_str()
        .map_err(|_| "the Authorization header is not text")?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or("the Authorization header has no scheme")?;
    let scheme = if scheme.eq_ignore_ascii_case("bearer") {
        Scheme::Bearer
    } else if scheme.eq_ignore_ascii_case("dpop") {
        Scheme::Dpop
    } else {
        // The scheme is the caller's text: it is not copied into the owner's log.
        return Err("the Authorization scheme is neither Bearer nor DPoP".into());
    };
    Ok((scheme, token.trim()))
}

/// Checks that the token is presented as its grant requires. An unbound grant is a bearer
/// token; a key-bound grant (`cnf.jkt`) needs the DPoP scheme and a fresh, unused proof signed
/// by that key for this very request and token (RFC 9449 §7.1). For a key-bound grant, returns
/// the call's proof, checked but for its signature and its first use (the ledger's part).
pub(crate) fn check_binding(
    state: &AppState,
    claims: &GrantClaims,
    scheme: Scheme,
    token: &str,
    headers: &HeaderMap,
    uri: &Uri,
) -> Result<Option<PendingProof>, String> {
    check_binding_for(state, claims, scheme, token, headers, uri, "GET")
}

/// [`check_binding`] for a call with `method`.
pub(crate) fn check_binding_for(
    state: &AppState,
    claims: &GrantClaims,
    scheme: Scheme,
    token: &str,
    headers: &HeaderMap,
    uri: &Uri,
    method: &str,
) -> Result<Option<PendingProof>, String> {
    if claims.cnf.is_none() {
        return match scheme {
            Scheme::Bearer => Ok(None),
            Scheme::Dpop => Err("an unbound grant was presented with the DPoP scheme".into()),
        };
    }
    if scheme != Scheme::Dpop {
        return Err("a key-bound grant was presented as a bearer token".into());
    }
    pending_proof(state, claims, token, headers, uri, method).map(Some)
}

/// Checks the request's one DPoP proof against the grant's key, this method and URL, and the
/// token: everything but its signature and whether it was used before.
fn pending_proof(
    state: &AppState,
    claims: &GrantClaims,
    token: &str,
    headers: &HeaderMap,
    uri: &Uri,
    method: &str,
) -> Result<PendingProof, String> {
    let jkt = claims.cnf.as_ref().map(|c| c.jkt.as_str());
    let mut proofs = headers.get_all("dpop").iter();
    let (Some(proof), None) = (proofs.next(), proofs.next()) else {
        return Err(ProofError::Missing.to_string());
    };
    let proof = proof
        .to_str()
        .map_err(|_| ProofError::Invalid.to_string())?;
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let htu = state.request_url(host, uri.path());
    let now = unix_now();
    let key = |jwk: &Jwk| state.business_key(jwk, jkt);
    let (checked, signature) =
        dpop::check_proof_but_signature(proof, method, &htu, Some(token), jkt, now, key)
            .map_err(|e| e.to_string())?;
    Ok(PendingProof {
        signature,
        jkt: checked.jkt,
        jti: checked.jti,
        iat: checked.iat,
    })
}

pub(crate) fn refusal(access: &Access, endpoint: Action, err: &ApiError) -> AccessRecord {
    access.refusal(unix_now_ms(), endpoint, &err.to_string())
}

/// `?fields=` as pointers: `None` if absent, an error if malformed.
/// Why a grant without fields reads nothing, naming what it does carry. Fixed strings: the
/// refusal is logged.
fn no_fields_detail(access: &Access) -> &'static str {
    match (access.contact.is_some(), access.append_record) {
        (true, true) => {
            "this grant shares no fields; it carries a contact right and the right to add to its relationship record only"
        }
        (false, true) => {
            "this grant shares no fields; it carries the right to add to its relationship record only"
        }
        _ => "this grant shares no fields; it carries a contact right only",
    }
}

fn asked_fields(uri: &Uri) -> Option<Result<Vec<Pointer>, ApiError>> {
    let query = uri.query()?;
    let mut asked = Vec::new();
    let mut any = false;
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        if key != "fields" {
            continue;
        }
        any = true;
        for part in value.split(',').filter(|p| !p.is_empty()) {
            match Pointer::parse(part) {
                Ok(pointer) => asked.push(pointer),
                Err(err) => return Some(Err(ApiError::BadRequest(err.to_string()))),
            }
        }
    }
    if !any {
        return None;
    }
    if asked.is_empty() {
        return Some(Err(ApiError::BadRequest("`fields` names no field".into())));
    }
    Some(Ok(asked))
}

/// Records a call refused before any grant was identified, and returns the 401.
pub(crate) async fn refuse(
    state: &AppState,
    endpoint: Action,
    cause: impl Into<String>,
) -> ApiError {
    let cause = cause.into();
    let record = AccessRecord::refused_anonymously(unix_now_ms(), endpoint, cause.clone());
    if let Err(err) = state.ledger().record(record).await {
        return err;
    }
    ApiError::unauthorized(cause)
}
