//! [`Workflow`]: what [`workflow!`](crate::workflow) and
//! [`testing`](crate::testing) accept as a workflow's entry point, a plain
//! or an `async` function, told apart by a marker type so that one macro
//! takes both.

use std::fmt::Display;
use std::future::Future;
use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::future::executor;

/// A function that can be a workflow's entry point: `fn(In) -> Result<Out,
/// E>` or `async fn(In) -> Result<Out, E>`, where `In` is
/// [`DeserializeOwned`], `Out` is [`Serialize`] and `E` is [`Display`].
///
/// It is implemented for every such function (and non-capturing closure);
/// `Marker` only tells the two kinds apart, and is inferred. Use it to
/// write helpers that take any workflow, as [`testing`](crate::testing)
/// does.
///
/// ```
/// use duro_sdk::Workflow;
///
/// fn is_workflow<M>(_: impl Workflow<M>) {}
///
/// fn plain(n: u32) -> Result<u32, String> {
///     Ok(n)
/// }
///
/// async fn later(n: u32) -> Result<u32, String> {
///     Ok(n)
/// }
///
/// is_workflow(plain);
/// is_workflow(later);
/// ```
pub trait Workflow<Marker> {
    /// Decodes `input`, runs the workflow to its end, and encodes its
    /// output; the error is the workflow's failure message.
    ///
    /// # Errors
    /// `invalid input: …` when the input is not an `In`, `invalid output:
    /// …` when the output does not serialize, `e.to_string()` when the
    /// workflow returns `Err(e)`, and a message saying so when an async
    /// workflow awaits something no duro handle can wake.
    ///
    /// ```
    /// use duro_sdk::Workflow;
    ///
    /// fn double(n: u64) -> Result<u64, String> {
    ///     Ok(n * 2)
    /// }
    ///
    /// assert_eq!(double.run_json("21"), Ok("42".to_owned()));
    /// ```
    fn run_json(self, input: &str) -> Result<String, String>;
}

/// Marks a plain `fn(In) -> Result<Out, E>`.
#[doc(hidden)]
pub struct Blocking<In>(PhantomData<fn(In)>);

/// Marks an `async fn(In) -> Result<Out, E>`, whose future is `Fut`.
#[doc(hidden)]
pub struct Async<In, Fut>(PhantomData<fn(In) -> Fut>);

impl<F, In, Out, E> Workflow<Blocking<In>> for F
where
    F: FnOnce(In) -> Result<Out, E>,
    In: DeserializeOwned,
    Out: Serialize,
    E: Display,
{
    fn run_json(self, input: &str) -> Result<String, String> {
        let output = self(decode(input)?).map_err(|e| e.to_string())?;
        encode(&output)
    }
}

impl<F, Fut, In, Out, E> Workflow<Async<In, Fut>> for F
where
    F: FnOnce(In) -> Fut,
    Fut: Future<Output = Result<Out, E>>,
    In: DeserializeOwned,
    Out: Serialize,
    E: Display,
{
    fn run_json(self, input: &str) -> Result<String, String> {
        let future = self(decode(input)?);
        let output = executor::block_on(future).map_err(|stalled| stalled.to_string())?;
        encode(&output.map_err(|e| e.to_string())?)
    }
}

fn decode<In: DeserializeOwned>(input: &str) -> Result<In, String> {
    serde_json::from_str(input).map_err(|e| format!("invalid input: {e}"))
}

fn encode<Out: Serialize>(output: &Out) -> Result<String, String> {
    serde_json::to_string(output).map_err(|e| format!("invalid output: {e}"))
}
