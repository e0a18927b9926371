//! `POST pods/{name}/eviction`. (Being written: returns 405 until then.)

use http::Response;

use super::Body;
use super::handlers::Ctx;
use crate::error::ApiError;

pub fn handle(_ctx: &Ctx<'_>, _ns: &str, _name: &str) -> Result<Response<Body>, ApiError> {
    Err(ApiError::method_not_allowed("eviction is not implemented yet"))
}
