//! Schema touches the derive cannot express: fields the Rust types read leniently (with a
//! serde default, so an odd object still deserializes) but the API server must require.

use schemars::Schema;
use serde_json::Value;

/// Marks `fields` required and drops the defaults serde's `default` put into the schema.
fn require(schema: &mut Schema, fields: &[&str]) {
    if let Some(Value::Object(props)) = schema.get_mut("properties") {
        for field in fields {
            if let Some(Value::Object(p)) = props.get_mut(*field) {
                p.remove("default");
            }
        }
    }
    let list: Vec<Value> = fields
        .iter()
        .map(|f| Value::String((*f).to_string()))
        .collect();
    schema.insert("required".into(), Value::Array(list));
}

pub(crate) fn require_name(schema: &mut Schema) {
    require(schema, &["name"]);
}

pub(crate) fn require_type(schema: &mut Schema) {
    require(schema, &["type"]);
}

pub(crate) fn require_type_status(schema: &mut Schema) {
    require(schema, &["type", "status"]);
}

pub(crate) fn require_kind_name(schema: &mut Schema) {
    require(schema, &["kind", "name"]);
}
