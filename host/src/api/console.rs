//! The web console: `GET /` and `GET /console/{file}` serve the browser app
//! of `host/console/`.
//!
//! The files are embedded in the binary when it is built (rust-embed), so a
//! `duro serve` needs no other server, no CDN and no network to serve them.
//! The console is a client of the JSON API, like the CLI: its files hold no
//! data, so they are served without a token, and the app asks for one and
//! sends it with each API call. They are not routes of the API, so they are
//! not in the OpenAPI document.
//!
//! Every answer carries an `ETag` (the file's SHA-256) and `Cache-Control:
//! no-cache`, so a browser asks again at each load and gets 304 until the
//! host is upgraded; the page carries a strict `Content-Security-Policy`
//! (scripts, styles and API calls from this origin only).

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::{AppState, Error};
use crate::ids::{self, hex};

/// Path prefix of the console's files.
pub const FILES_PREFIX: &str = "/console/";

/// What the console's page may load and call: its own origin only. It
/// cannot be framed by another site.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The files of `host/console/`, embedded at build time.
#[derive(rust_embed::Embed)]
#[folder = "console/"]
struct Files;

/// The console's routes, to merge beside the API's.
pub(super) fn router() -> Router<AppState> {
    Router::new().route("/", get(|headers: HeaderMap| async move { serve("index.html", &headers) })).route(
        "/console/{*file}",
        get(|Path(file): Path<String>, headers: HeaderMap| async move { serve(&file, &headers) }),
    )
}

/// Whether a request for `path` is for one of the console's files, which
/// need no token.
pub fn is_console_file(path: &str) -> bool {
    path == "/" || path.starts_with(FILES_PREFIX)
}

/// `file` with its content type and validators, 304 if the browser holds
/// this version already, or 404 `not_found`.
fn serve(file: &str, headers: &HeaderMap) -> Result<Response, Error> {
    let embedded = Files::get(file)
        .ok_or_else(|| Error::NotFound(format!("the console has no file {:?}", ids::shown(file))))?;
    let etag = format!("\"{}\"", hex(&embedded.metadata.sha256_hash()));
    let mut response =
        if headers.get(header::IF_NONE_MATCH).is_some_and(|tag| tag.as_bytes() == etag.as_bytes()) {
            StatusCode::NOT_MODIFIED.into_response()
        } else {
            let mut response = embedded.data.into_owned().into_response();
            let mime = HeaderValue::from_str(embedded.metadata.mimetype())
                .unwrap_or(HeaderValue::from_static("application/octet-stream"));
            response.headers_mut().insert(header::CONTENT_TYPE, mime);
            response
        };
    let answer = response.headers_mut();
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        answer.insert(header::ETAG, etag);
    }
    answer.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    answer.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if file.ends_with(".html") {
        answer.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
        answer.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    }
    Ok(response)
}
