//! The stored form of a journal entry's call and outcome.
//!
//! Layout: one format version byte ([`FORMAT_VERSION`]) followed by the postcard
//! encoding of `(Call, Outcome)`. postcard is compact (varints, no field names)
//! and fast, which matters because every host call writes one of these. The
//! version byte lets a later release change the layout and still read old
//! journals. `seq` and `recorded_at` are stored as columns beside the payload.

use super::{Call, Outcome};

/// The payload format this build writes.
pub const FORMAT_VERSION: u8 = 1;

/// Why a stored payload could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The payload has no bytes at all.
    #[error("journal payload is empty")]
    Empty,
    /// The payload was written by a format this build does not know.
    #[error("journal payload has format version {0}, this build reads version {FORMAT_VERSION}")]
    UnknownVersion(u8),
    /// The bytes after the version byte are not a valid `(Call, Outcome)`.
    #[error("journal payload is malformed: {0}")]
    Malformed(#[from] postcard::Error),
}

/// Encodes `call` and `outcome` as a payload.
///
/// # Panics
/// Never in practice: postcard fails only on fixed-size buffers and on types
/// serde cannot describe, and neither applies here.
pub fn encode(call: &Call, outcome: &Outcome) -> Vec<u8> {
    let payload = vec![FORMAT_VERSION];
    // Serialising these plain enums into a Vec cannot fail: postcard only
    // errors on full fixed-size buffers and on types serde cannot describe.
    match postcard::to_extend(&(call, outcome), payload) {
        Ok(payload) => payload,
        Err(_) => unreachable!("postcard encoding into a Vec is infallible for journal types"),
    }
}

/// The length in bytes of the payload [`encode`] writes for `call` and
/// `outcome`, measured without allocating it: what an entry costs against the
/// journal's byte budget.
pub fn encoded_len(call: &Call, outcome: &Outcome) -> u64 {
    // Measuring cannot fail for the same reasons encoding cannot.
    let body = postcard::serialize_with_flavor(&(call, outcome), postcard::ser_flavors::Size::default())
        .unwrap_or(usize::MAX - 1);
    body as u64 + 1
}

/// Decodes a payload written by [`encode`].
///
/// # Errors
/// [`Error::Empty`], [`Error::UnknownVersion`] or [`Error::Malformed`]; never panics,
/// whatever the bytes.
pub fn decode(payload: &[u8]) -> Result<(Call, Outcome), Error> {
    match payload.split_first() {
        None => Err(Error::Empty),
        Some((&FORMAT_VERSION, rest)) => Ok(postcard::from_bytes(rest)?),
        Some((&version, _)) => Err(Error::UnknownVersion(version)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn any_call() -> impl Strategy<Value = Call> {
        prop_oneof![
            Just(Call::Now),
            Just(Call::RandomU64),
            any::<u64>().prop_map(|duration_ns| Call::Sleep { duration_ns }),
            Just(Call::WasiWallClock),
            Just(Call::WasiMonotonicClock),
            any::<u64>().prop_map(|len| Call::WasiRandomBytes { len }),
        ]
    }

    fn any_outcome() -> impl Strategy<Value = Outcome> {
        prop_oneof![
            any::<u64>().prop_map(|ns| Outcome::Time { ns }),
            any::<u64>().prop_map(|value| Outcome::Random { value }),
            any::<u64>().prop_map(|wake_at_ns| Outcome::Timer { wake_at_ns }),
            proptest::collection::vec(any::<u8>(), 0..64).prop_map(Outcome::Bytes),
        ]
    }

    proptest! {
        #[test]
        fn entry_round_trips(call in any_call(), outcome in any_outcome()) {
            let (decoded_call, decoded_outcome) = decode(&encode(&call, &outcome))?;
            prop_assert_eq!(decoded_call, call);
            prop_assert_eq!(decoded_outcome, outcome);
        }

        #[test]
        fn encoded_len_is_the_encoding_length(call in any_call(), outcome in any_outcome()) {
            prop_assert_eq!(encoded_len(&call, &outcome), encode(&call, &outcome).len() as u64);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode(&bytes);
            // Behind the right version byte, so postcard itself sees them.
            let versioned: Vec<u8> = std::iter::once(FORMAT_VERSION).chain(bytes).collect();
            let _ = decode(&versioned);
        }
    }

    #[test]
    fn unknown_version_is_an_error() {
        let mut payload = encode(&Call::Now, &Outcome::Time { ns: 1 });
        payload[0] = 9;
        assert!(matches!(decode(&payload), Err(Error::UnknownVersion(9))));
        assert!(matches!(decode(&[]), Err(Error::Empty)));
    }

    #[test]
    fn sleep_entry_is_small() {
        let payload = encode(
            &Call::Sleep { duration_ns: 2_000_000_000 },
            &Outcome::Timer { wake_at_ns: 1_800_000_000_000_000_000 },
        );
        // version 1 + two variant tags 2 + varints 5 and 9.
        assert_eq!(payload.len(), 17);
    }
}
