//! The API's OpenAPI 3.1 document, served at `GET /v1/openapi.json`.
//!
//! Why generated: a hand-written document drifts from the code it
//! describes. Here each handler carries its own `#[utoipa::path]` (path,
//! parameters, body, every status it answers) and each answer is a typed
//! view deriving `ToSchema` ([`super::views`]), and [`super::app`] registers
//! the handlers through utoipa-axum's `routes!`, which collects those
//! descriptions as it routes. So a route cannot be served undocumented, and
//! a view cannot change its shape without its schema. `tests/openapi.rs`
//! runs schemathesis against a live server and this document, and fails on
//! any answer the document does not describe.
//!
//! [`document`] adds what no single handler owns:
//! - the API's title, version and tags;
//! - the `bearer` security scheme (`Authorization: Bearer <token>`), on
//!   every `/v1` route but this document itself, with its 401 and 403
//!   answers; each such route also lists the empty requirement, since a
//!   server started without a token is open;
//! - the answers every route can give: 500 `internal` and 503
//!   (`request_timeout`, `database_unavailable`, `shutting_down`,
//!   `no_instance_slot`).

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{Components, ContentBuilder, InfoBuilder, OpenApi, Ref, RefOr, ResponseBuilder};
use utoipa::{PartialSchema, ToSchema};

use super::AppState;
use super::views::ErrorBody;

/// The path of this document, which is open to all like `/healthz`.
const DOCUMENT_PATH: &str = "/v1/openapi.json";

/// The schema of a request body of raw bytes (a WebAssembly component's
/// binary); it stands for the type in `request_body`, and has no values.
pub(super) enum Binary {}

impl PartialSchema for Binary {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .min_length(Some(1))
            .into()
    }
}

impl ToSchema for Binary {}

/// Serves this API's OpenAPI 3.1 document.
#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    operation_id = "get_openapi",
    tag = "operations",
    responses((status = OK, description = "The OpenAPI 3.1 document.", body = Object)),
)]
pub(super) async fn serve(State(state): State<AppState>) -> Response {
    Json(state.openapi.as_ref()).into_response()
}

/// The whole document: `paths`, as collected from the handlers by
/// [`super::app`], with the parts listed in the module docs.
pub(super) fn document(mut api: OpenApi) -> OpenApi {
    api.info = InfoBuilder::new()
        .title("duro")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "A durable WebAssembly workflow host. Every failure answers \
             `{\"error\":{\"code\",\"message\"}}` with a stable `code`.",
        ))
        .build();
    api.tags = Some(
        [
            ("components", "Upload and inspect workflow and activity components."),
            ("workflows", "Start workflows, inspect them, cancel them."),
            ("signals and events", "What reaches a running workflow, and what it publishes."),
            ("upgrades", "Check a workflow's journal against another component, and move it there."),
            ("schedules", "Start workflows on a cron expression or an interval, once per tick."),
            ("operations", "Health, hosts, metrics and this document."),
        ]
        .into_iter()
        .map(|(name, description)| TagBuilder::new().name(name).description(Some(description)).build())
        .collect(),
    );
    let components = api.components.get_or_insert_with(Components::new);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "An API token, when the server is started with one: \
                     `Authorization: Bearer <token>`.",
                ))
                .build(),
        ),
    );
    let error_body = ErrorBody::name().into_owned();
    components.schemas.entry(error_body.clone()).or_insert_with(ErrorBody::schema);
    for (status, reason) in SHARED_ANSWERS {
        let answer = ResponseBuilder::new()
            .description(*reason)
            .content(
                "application/json",
                ContentBuilder::new().schema(Some(Ref::from_schema_name(&error_body))).build(),
            )
            .build();
        components.responses.insert(answer_name(status), RefOr::T(answer));
    }
    for (path, item) in api.paths.paths.iter_mut() {
        let protected = path.starts_with("/v1/") && path != DOCUMENT_PATH;
        for operation in operations(item) {
            let mut shared = vec!["500", "503"];
            if protected {
                shared.extend(["401", "403"]);
                // Open when the server has no token: the empty requirement.
                operation.security = Some(vec![
                    SecurityRequirement::new("bearer", Vec::<String>::new()),
                    SecurityRequirement::default(),
                ]);
            }
            for status in shared {
                let answer = RefOr::Ref(Ref::from_response_name(answer_name(status)));
                operation.responses.responses.entry(status.to_owned()).or_insert(answer);
            }
        }
    }
    api
}

/// The answers every route can give (`401`, `403`: every protected one),
/// shared as `#/components/responses/…`.
const SHARED_ANSWERS: &[(&str, &str)] = &[
    ("401", "No API token, or not a valid one (`Authorization: Bearer <token>`)."),
    ("403", "The API token may not do this."),
    ("500", "A server-side failure (`internal`); the message reveals nothing, the server logs it."),
    (
        "503",
        "Try again later: the request took too long (`request_timeout`), the database does not answer \
         (`database_unavailable`), the host is shutting down (`shutting_down`) or has no free instance \
         slot (`no_instance_slot`).",
    ),
];

/// The name under `#/components/responses` of the shared answer with `status`.
fn answer_name(status: &str) -> String {
    format!("Error{status}")
}

/// Every operation of `item`.
fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}
