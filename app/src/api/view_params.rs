//! A view request's parameters, read the same way by the REST and WebSocket
//! routes: `{view}` from the path and its options from the query.

use crate::api::error::ApiError;
use crate::view::{ViewId, ViewOptions};

/// Parses `{view}` and the query's options.
pub fn parse(view: &str, query: &[(String, String)]) -> Result<(ViewId, ViewOptions), ApiError> {
    let view: ViewId = view.parse()?;
    let options = ViewOptions::for_view(view, query.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    Ok((view, options))
}
