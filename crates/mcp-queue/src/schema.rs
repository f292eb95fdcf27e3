//! A small JSON Schema subset used to check job payloads against their kinds' schemas, which are
//! derived from the kinds' types (`of`):
//! `type` (object, integer, number, string, boolean, array, null), `properties`, `required`,
//! `additionalProperties: false`, `minimum`, `maximum`, `enum`, `items`, `format: "uuid"`,
//! `description`. Migration 0025's `mcp.payload_problem` makes the same checks in SQL when a job
//! is inserted; `tests/it/sql_checks.rs` holds the two to the same answers.
//! Anything else in a schema is refused when the catalogue loads, so a schema never promises a
//! check that is not made. Errors name the path of the offending value (`payload.sleep_ms`).

use serde_json::Value;

/// The payload schema of the type `T`, derived from it (serde's names and defaults, the doc
/// comments as descriptions, `#[schemars(range(..))]` bounds) and brought to this subset: an
/// optional field's `null` alternative, integer widths and defaults are left out, a UUID keeps
/// `format: "uuid"`.
pub fn of<T: schemars::JsonSchema>() -> Value {
    let mut v = schemars::SchemaGenerator::default()
        .into_root_schema_for::<T>()
        .to_value();
    fit(&mut v);
    v
}

fn fit(v: &mut Value) {
    let Some(o) = v.as_object_mut() else {
        return;
    };
    for key in ["$schema", "title", "default"] {
        o.remove(key);
    }
    if let Some(Value::Array(types)) = o.get("type") {
        let one = types.iter().find(|t| t.as_str() != Some("null")).cloned();
        if let Some(t) = one {
            o.insert("type".into(), t);
        }
    }
    if o.get("format").and_then(Value::as_str) != Some("uuid") {
        o.remove("format");
    }
    if let Some(Value::Object(props)) = o.get_mut("properties") {
        props.values_mut().for_each(fit);
    }
    if let Some(items) = o.get_mut("items") {
        fit(items);
    }
}

#[derive(Debug, Clone, Default)]
pub struct Schema {
    ty: Option<String>,
    properties: Vec<(String, Schema)>,
    required: Vec<String>,
    additional: bool,
    minimum: Option<f64>,
    maximum: Option<f64>,
    one_of_values: Option<Vec<Value>>,
    items: Option<Box<Schema>>,
    uuid: bool,
}

const TYPES: &[&str] = &[
    "object", "integer", "number", "string", "boolean", "array", "null",
];

impl Schema {
    pub fn compile(v: &Value) -> Result<Schema, String> {
        let obj = v.as_object().ok_or("a schema must be an object")?;
        let mut s = Schema {
            additional: true,
            ..Schema::default()
        };
        for (key, val) in obj {
            match key.as_str() {
                "type" => {
                    let t = val.as_str().ok_or("`type` must be a string")?;
                    if !TYPES.contains(&t) {
                        return Err(format!("unsupported type `{t}`"));
                    }
                    s.ty = Some(t.to_string());
                }
                "properties" => {
                    let props = val.as_object().ok_or("`properties` must be an object")?;
                    for (name, sub) in props {
                        let sub = Schema::compile(sub).map_err(|e| format!("{name}: {e}"))?;
                        s.properties.push((name.clone(), sub));
                    }
                }
                "required" => {
                    let list = val.as_array().ok_or("`required` must be an array")?;
                    for r in list {
                        s.required
                            .push(r.as_str().ok_or("`required` holds strings")?.to_string());
                    }
                }
                "additionalProperties" => {
                    s.additional = val
                        .as_bool()
                        .ok_or("`additionalProperties` must be a boolean")?;
                }
                "minimum" => s.minimum = Some(val.as_f64().ok_or("`minimum` must be a number")?),
                "maximum" => s.maximum = Some(val.as_f64().ok_or("`maximum` must be a number")?),
                "enum" => {
                    s.one_of_values = Some(val.as_array().ok_or("`enum` must be an array")?.clone())
                }
                "items" => s.items = Some(Box::new(Schema::compile(val)?)),
                "format" => match val.as_str() {
                    Some("uuid") => s.uuid = true,
                    _ => return Err("the only `format` is \"uuid\"".into()),
                },
                "description" | "title" | "default" => {}
                other => return Err(format!("unsupported schema keyword `{other}`")),
            }
        }
        Ok(s)
    }

    /// Checks `v`; the error names the first offending path, rooted at `payload`.
    pub fn validate(&self, v: &Value) -> Result<(), String> {
        self.check(v, "payload")
    }

    fn check(&self, v: &Value, path: &str) -> Result<(), String> {
        if let Some(t) = &self.ty {
            let ok = match t.as_str() {
                "object" => v.is_object(),
                "integer" => v.is_i64() || v.is_u64(),
                "number" => v.is_number(),
                "string" => v.is_string(),
                "boolean" => v.is_boolean(),
                "array" => v.is_array(),
                _ => v.is_null(),
            };
            if !ok {
                return Err(format!("{path}: expected {t}, got {}", describe(v)));
            }
        }
        if let Some(values) = &self.one_of_values {
            if !values.contains(v) {
                return Err(format!(
                    "{path}: {v} is not one of {}",
                    Value::Array(values.clone())
                ));
            }
        }
        if let Some(n) = v.as_f64() {
            if let Some(min) = self.minimum.filter(|m| n < *m) {
                return Err(format!("{path}: {v} is less than the minimum {min}"));
            }
            if let Some(max) = self.maximum.filter(|m| n > *m) {
                return Err(format!("{path}: {v} is more than the maximum {max}"));
            }
        }
        if let (true, Some(text)) = (self.uuid, v.as_str()) {
            // The hyphenated form only (36 characters), as the SQL check has it.
            if text.len() != 36 || uuid::Uuid::try_parse(text).is_err() {
                return Err(format!("{path}: {v} is not a UUID"));
            }
        }
        if let Some(obj) = v.as_object() {
            for r in &self.required {
                if !obj.contains_key(r) {
                    return Err(format!("{path}: missing required field `{r}`"));
                }
            }
            for (key, val) in obj {
                match self.properties.iter().find(|(name, _)| name == key) {
                    Some((_, sub)) => sub.check(val, &format!("{path}.{key}"))?,
                    None if !self.additional => {
                        let mut known: Vec<&str> =
                            self.properties.iter().map(|(n, _)| n.as_str()).collect();
                        known.sort_unstable();
                        return Err(format!(
                            "{path}: unknown field `{key}` (expected one of: {})",
                            known.join(", ")
                        ));
                    }
                    None => {}
                }
            }
        }
        if let (Some(items), Some(arr)) = (&self.items, v.as_array()) {
            for (i, item) in arr.iter().enumerate() {
                items.check(item, &format!("{path}[{i}]"))?;
            }
        }
        Ok(())
    }
}

fn describe(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn noop() -> Schema {
        Schema::compile(&json!({
            "type": "object", "additionalProperties": false,
            "properties": {"sleep_ms": {"type": "integer", "minimum": 0}}
        }))
        .expect("schema compiles")
    }

    #[test]
    fn accepts_a_matching_payload() {
        assert!(noop().validate(&json!({"sleep_ms": 5})).is_ok());
        assert!(noop().validate(&json!({})).is_ok());
    }

    #[test]
    fn wrong_type_names_the_field() {
        let e = noop().validate(&json!({"sleep_ms": "soon"})).unwrap_err();
        assert_eq!(e, "payload.sleep_ms: expected integer, got string");
    }

    #[test]
    fn unknown_field_is_refused() {
        let e = noop().validate(&json!({"sleeep_ms": 1})).unwrap_err();
        assert!(e.contains("unknown field `sleeep_ms`"), "{e}");
    }

    #[test]
    fn below_minimum_is_refused() {
        let e = noop().validate(&json!({"sleep_ms": -1})).unwrap_err();
        assert!(e.contains("less than the minimum"), "{e}");
    }

    #[test]
    fn non_object_payload_is_refused() {
        let e = noop().validate(&json!([1])).unwrap_err();
        assert_eq!(e, "payload: expected object, got array");
    }

    #[test]
    fn a_uuid_field_takes_the_hyphenated_form_only() {
        let s = Schema::compile(&json!({"type": "string", "format": "uuid"})).expect("compiles");
        assert!(s
            .validate(&json!("67e55044-10b1-426f-9247-bb680e5fe0c8"))
            .is_ok());
        for bad in ["nope", "67e5504410b1426f9247bb680e5fe0c8", ""] {
            let e = s.validate(&json!(bad)).unwrap_err();
            assert!(e.ends_with("is not a UUID"), "{e}");
        }
        assert!(Schema::compile(&json!({"format": "email"})).is_err());
    }

    #[test]
    fn unsupported_keyword_is_refused_at_compile() {
        assert!(Schema::compile(&json!({"pattern": "x"})).is_err());
    }
}
