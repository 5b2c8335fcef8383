//! Reading a rendered Helm chart, so the controller can be started exactly as its
//! Deployment would start it.

use serde::Deserialize;
use serde_json::Value;

use crate::{Error, Result};

/// The container args of the one Deployment in a rendered manifest stream.
pub fn deployment_args(manifest: &str) -> Result<Vec<String>> {
    for doc in serde_norway::Deserializer::from_str(manifest) {
        let value =
            Value::deserialize(doc).map_err(|e| Error::Invalid(format!("rendered chart: {e}")))?;
        if value["kind"] == "Deployment" {
            let args = value["spec"]["template"]["spec"]["containers"][0]["args"]
                .as_array()
                .ok_or_else(|| Error::Invalid("the Deployment's container has no args".into()))?;
            return Ok(args
                .iter()
                .filter_map(|a| a.as_str().map(String::from))
                .collect());
        }
    }
    Err(Error::Invalid(
        "the rendered chart has no Deployment".into(),
    ))
}
