//! The OpenAPI 3.1 description, generated from the handlers' annotations and the wire types,
//! then made exact by [`exact`].

mod exact;

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Kluis grant API",
        description = "Read the fields a customer shared with you, for the purpose and time they allowed. \
                       Errors are RFC 9457 problem details.",
        license(name = "Apache-2.0"),
    ),
    paths(
        crate::api::routes::read_data,
        crate::api::routes::introspect,
        crate::api::routes::jwks,
        crate::api::routes::healthz,
        crate::api::routes::openapi,
        crate::api::requests::create_request,
        crate::api::requests::request_status,
        crate::api::subscriptions::create,
        crate::api::subscriptions::list,
        crate::api::subscriptions::remove,
        crate::api::subscriptions::rotate,
        crate::api::webhook_key::webhook_key,
        crate::api::contact::check,
        crate::api::inbox::deliver,
        crate::api::relationship::append,
    ),
    components(schemas(
        kluis_core::wire::Problem,
        kluis_core::wire::Introspection,
        kluis_core::wire::IntrospectionForm,
        kluis_core::wire::Health,
        kluis_core::jose::Jwks,
        kluis_core::jose::Jwk,
        kluis_core::wire::AccessRequestBody,
        kluis_core::wire::AccessRequestStatus,
        kluis_core::wire::BusinessInfo,
        kluis_core::wire::RequestStatus,
        kluis_core::notify::NewSubscription,
        kluis_core::notify::Payload,
        crate::api::subscriptions::Created,
        crate::api::subscriptions::Listed,
        crate::api::subscriptions::Rotated,
        crate::api::webhook_key::WebhookKey,
        kluis_core::contact::ContactCheck,
        kluis_core::contact::ContactAnswer,
        kluis_core::contact::Reason,
        kluis_core::inbox::InboxPost,
        kluis_core::inbox::InboxDelivered,
        kluis_core::relationship::EntryPost,
        kluis_core::relationship::post::AttachmentPost,
        kluis_core::relationship::EntryStored,
    )),
    modifiers(&GrantSecurity),
)]
struct ApiDoc;

struct GrantSecurity;

impl Modify for GrantSecurity {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "grant",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "A grant token issued by the vault (docs/grant-token.md)",
                    ))
                    .build(),
            ),
        );
    }
}

pub use exact::Served;

/// The document kept in `docs/openapi.json`: the one a vault with the default settings serves,
/// but for what depends on the day (the latest day of an interaction).
pub fn spec() -> serde_json::Value {
    spec_for(Served::default())
}

/// The document a vault serves at `/openapi.json`.
pub fn spec_for(served: Served) -> serde_json::Value {
    let mut spec = ApiDoc::openapi();
    spec.info.version = env!("CARGO_PKG_VERSION").to_owned();
    let mut spec = serde_json::to_value(spec).expect("the description serializes");
    exact::refine(&mut spec, served);
    spec
}
