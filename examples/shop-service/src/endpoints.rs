//! The shop's business endpoints: which (method, path) is which endpoint, and
//! what each one answers. No bookkeeping here; that is the [`crate::pipeline`]'s.
//!
//! The shop keeps no inventory, money or parcels: every well-formed request
//! succeeds, except for the two documented failures a workflow must handle
//! (`"card": "declined"` and `"address": "nowhere"`).

use axum::http::{Method, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::reply::Reply;
use crate::state::Ids;

/// Price of every catalog item, in cents.
const PRICE_CENTS: u64 = 1299;

/// A business endpoint, as routed from a request's method and path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// `POST /inventory/reserve`
    Reserve,
    /// `POST /inventory/release`
    Release,
    /// `POST /payments/charge`
    Charge,
    /// `POST /payments/refund`
    Refund,
    /// `POST /shipping/ship`
    Ship,
    /// `POST /shipping/cancel`
    CancelShipment,
    /// `GET /catalog/{sku}`
    Catalog(String),
}

impl Endpoint {
    /// The endpoint for `method` and `path`, or the 404/405 answer if none.
    pub(crate) fn route(method: &Method, path: &str) -> Result<Self, Reply> {
        let (endpoint, allowed) = match path {
            "/inventory/reserve" => (Self::Reserve, Method::POST),
            "/inventory/release" => (Self::Release, Method::POST),
            "/payments/charge" => (Self::Charge, Method::POST),
            "/payments/refund" => (Self::Refund, Method::POST),
            "/shipping/ship" => (Self::Ship, Method::POST),
            "/shipping/cancel" => (Self::CancelShipment, Method::POST),
            _ => match path.strip_prefix("/catalog/") {
                Some(sku) if !sku.is_empty() && !sku.contains('/') => {
                    (Self::Catalog(sku.to_owned()), Method::GET)
                }
                _ => return Err(Reply::error(StatusCode::NOT_FOUND, format!("no endpoint {path}"))),
            },
        };
        if *method == allowed {
            Ok(endpoint)
        } else {
            Err(Reply::error(StatusCode::METHOD_NOT_ALLOWED, format!("{path} only answers {allowed}")))
        }
    }

    /// Whether a repeated `Idempotency-Key` gets the stored answer: true for
    /// the endpoints that create or undo something, false for reads.
    pub(crate) fn replays(&self) -> bool {
        !matches!(self, Self::Catalog(_))
    }

    /// Serves a request with JSON `body`, taking any new id from `ids`.
    pub(crate) fn serve(&self, body: &[u8], ids: &mut Ids) -> Reply {
        match self.try_serve(body, ids) {
            Ok(reply) | Err(reply) => reply,
        }
    }

    fn try_serve(&self, body: &[u8], ids: &mut Ids) -> Result<Reply, Reply> {
        Ok(match self {
            Self::Reserve => {
                let _: Reserve = parse(body)?;
                Reply::ok(json!({ "reservation_id": ids.issue("res") }))
            }
            Self::Release => {
                let _: Release = parse(body)?;
                Reply::ok(json!({ "released": true }))
            }
            Self::Charge => {
                let charge: Charge = parse(body)?;
                if charge.card == "declined" {
                    return Err(Reply::error(StatusCode::PAYMENT_REQUIRED, "card declined"));
                }
                Reply::ok(json!({ "payment_id": ids.issue("pay") }))
            }
            Self::Refund => {
                let _: Refund = parse(body)?;
                Reply::ok(json!({ "refunded": true }))
            }
            Self::Ship => {
                let ship: Ship = parse(body)?;
                if ship.address == "nowhere" {
                    return Err(Reply::error(StatusCode::UNPROCESSABLE_ENTITY, "cannot ship to nowhere"));
                }
                Reply::ok(json!({ "shipment_id": ids.issue("shp") }))
            }
            Self::CancelShipment => {
                let _: CancelShipment = parse(body)?;
                Reply::ok(json!({ "cancelled": true }))
            }
            Self::Catalog(sku) => {
                Reply::ok(json!({ "sku": sku, "price_cents": PRICE_CENTS, "in_stock": true }))
            }
        })
    }
}

/// Parses a request body, or gives the `400` answer saying what is wrong.
fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, Reply> {
    serde_json::from_slice(body)
        .map_err(|e| Reply::error(StatusCode::BAD_REQUEST, format!("invalid request body: {e}")))
}

// The request bodies. Most fields are only parsed, never read: parsing them
// is what holds callers to the documented shape (a missing or mistyped field
// is a 400). Unknown fields are ignored.

/// Body of `POST /inventory/reserve`.
#[derive(Debug, Deserialize)]
#[expect(dead_code, reason = "parsed only to check the request's shape")]
struct Reserve {
    sku: String,
    quantity: u32,
}

/// Body of `POST /inventory/release`.
#[derive(Debug, Deserialize)]
#[expect(dead_code, reason = "parsed only to check the request's shape")]
struct Release {
    reservation_id: String,
}

/// Body of `POST /payments/charge`.
#[derive(Debug, Deserialize)]
#[expect(dead_code, reason = "amount_cents is parsed only to check the request's shape")]
struct Charge {
    amount_cents: u64,
    card: String,
}

/// Body of `POST /payments/refund`.
#[derive(Debug, Deserialize)]
#[expect(dead_code, reason = "parsed only to check the request's shape")]
struct Refund {
    payment_id: String,
}

/// Body of `POST /shipping/ship`.
#[derive(Debug, Deserialize)]
#[expect(dead_code, reason = "reservation_id is parsed only to check the request's shape")]
struct Ship {
    reservation_id: String,
    address: String,
}

/// Body of `POST /shipping/cancel`.
#[derive(Debug, Deserialize)]
#[expect(dead_code, reason = "parsed only to check the request's shape")]
struct CancelShipment {
    shipment_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_by_method_and_path() {
        assert_eq!(Endpoint::route(&Method::POST, "/payments/charge").unwrap(), Endpoint::Charge);
        assert_eq!(Endpoint::route(&Method::GET, "/catalog/a-1").unwrap(), Endpoint::Catalog("a-1".into()));
        assert_eq!(
            Endpoint::route(&Method::GET, "/payments/charge").unwrap_err().status,
            StatusCode::METHOD_NOT_ALLOWED
        );
        assert_eq!(Endpoint::route(&Method::GET, "/catalog/").unwrap_err().status, StatusCode::NOT_FOUND);
        assert_eq!(Endpoint::route(&Method::POST, "/payments").unwrap_err().status, StatusCode::NOT_FOUND);
    }

    #[test]
    fn answers_the_documented_failures_and_bad_bodies() {
        let mut ids = Ids::default();
        let charge = |body: &str, ids: &mut Ids| Endpoint::Charge.serve(body.as_bytes(), ids);
        assert_eq!(
            charge(r#"{"amount_cents": 5, "card": "declined"}"#, &mut ids).status,
            StatusCode::PAYMENT_REQUIRED
        );
        assert_eq!(charge(r#"{"card": "4242"}"#, &mut ids).status, StatusCode::BAD_REQUEST);
        assert_eq!(
            charge(r#"{"amount_cents": 5, "card": "4242"}"#, &mut ids).body,
            json!({ "payment_id": "pay-1" })
        );
        let ship = Endpoint::Ship.serve(br#"{"reservation_id": "r", "address": "nowhere"}"#, &mut ids);
        assert_eq!(
            (ship.status, ship.body),
            (StatusCode::UNPROCESSABLE_ENTITY, json!({ "error": "cannot ship to nowhere" }))
        );
    }
}
