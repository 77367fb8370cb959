//! The OpenAPI description the fake is held to, a validator for the subset of JSON Schema it
//! uses, and a generator of minimal valid objects (so response bodies stay schema-valid even
//! as the description grows required fields).

use std::sync::OnceLock;

use serde_json::{Map, Value};

const ENDPOINTS_JSON: &str = include_str!("../api/github-app-endpoints.json");
#[cfg(test)]
const PERMISSIONS_JSON: &str = include_str!("../api/app-permissions.json");

/// The parsed `api/github-app-endpoints.json`.
pub fn endpoints() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    // The file is compiled in, so a parse failure is a build defect, not client input.
    SPEC.get_or_init(|| serde_json::from_str(ENDPOINTS_JSON).unwrap_or(Value::Null))
}

#[cfg(test)]
/// The parsed `api/app-permissions.json`: permission name -> allowed levels.
pub fn app_permissions() -> &'static Value {
    static PERMS: OnceLock<Value> = OnceLock::new();
    PERMS.get_or_init(|| serde_json::from_str(PERMISSIONS_JSON).unwrap_or(Value::Null))
}

static NULL: Value = Value::Null;

/// One operation of the description, by `operationId`.
pub fn operation(operation_id: &str) -> &'static Value {
    endpoints()["operations"]
        .as_array()
        .and_then(|ops| ops.iter().find(|op| op["operationId"] == operation_id))
        .unwrap_or(&NULL)
}

pub fn request_schema(operation_id: &str) -> &'static Value {
    &operation(operation_id)["requestBody"]["content"]["application/json"]["schema"]
}

pub fn response_schema(operation_id: &str, status: &str) -> &'static Value {
    &operation(operation_id)["responses"][status]["content"]["application/json"]["schema"]
}

/// Checks `value` against `schema`, appending one GitHub-style sentence per violation.
/// `path` is the schema path GitHub names in its messages (`properties/repositories`).
pub fn validate(schema: &Value, value: &Value, path: &str, errors: &mut Vec<String>) {
    let Some(schema) = schema.as_object() else {
        return;
    };
    if value.is_null() {
        let null_ok = schema.get("nullable") == Some(&Value::Bool(true))
            || type_allows(schema.get("type"), "null")
            || (schema.get("type").is_none()
                && !schema.contains_key("anyOf")
                && !schema.contains_key("oneOf"));
        if !null_ok {
            errors.push(format!(
                "For '{}', nil is not {}.",
                shown(path),
                expected(schema)
            ));
        }
        return;
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(branches) = schema.get(key).and_then(Value::as_array) {
            let fits = branches.iter().any(|branch| {
                let mut sink = Vec::new();
                validate(branch, value, path, &mut sink);
                sink.is_empty()
            });
            if !fits {
                errors.push(format!(
                    "For '{}', {} does not match any of the allowed schemas.",
                    shown(path),
                    value
                ));
            }
        }
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for branch in all {
            validate(branch, value, path, errors);
        }
    }
    if let Some(kind) = schema.get("type") {
        if !value_has_type(kind, value) {
            errors.push(format!(
                "For '{}', {} is not {}.",
                shown(path),
                value,
                expected(schema)
            ));
            return;
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
        if !allowed.contains(value) {
            errors.push(format!(
                "For '{}', {} is not a member of {}.",
                shown(path),
                value,
                Value::Array(allowed.clone())
            ));
        }
    }
    match value {
        Value::Object(object) => validate_object(schema, object, path, errors),
        Value::Array(items) => {
            if let Some(max) = schema.get("maxItems").and_then(Value::as_u64) {
                if items.len() as u64 > max {
                    errors.push(format!(
                        "For '{}', the array has {} items, more than the maximum of {max}.",
                        shown(path),
                        items.len()
                    ));
                }
            }
            if let Some(min) = schema.get("minItems").and_then(Value::as_u64) {
                if (items.len() as u64) < min {
                    errors.push(format!(
                        "For '{}', the array has {} items, fewer than the minimum of {min}.",
                        shown(path),
                        items.len()
                    ));
                }
            }
            if let Some(item_schema) = schema.get("items") {
                for (index, item) in items.iter().enumerate() {
                    validate(
                        item_schema,
                        item,
                        &join(path, &format!("items/{index}")),
                        errors,
                    );
                }
            }
        }
        _ => {}
    }
}

fn validate_object(
    schema: &Map<String, Value>,
    object: &Map<String, Value>,
    path: &str,
    errors: &mut Vec<String>,
) {
    let properties = schema.get("properties").and_then(Value::as_object);
    if let Some(required) = schema.get("required").and_then(Value::as_array) {
        for name in required.iter().filter_map(Value::as_str) {
            if !object.contains_key(name) {
                errors.push(format!(
                    "For '{}', \"{name}\" wasn't supplied.",
                    shown(path)
                ));
            }
        }
    }
    for (key, item) in object {
        let declared = properties.and_then(|props| props.get(key));
        match (declared, schema.get("additionalProperties")) {
            (Some(item_schema), _) => validate(
                item_schema,
                item,
                &join(path, &format!("properties/{key}")),
                errors,
            ),
            (None, Some(Value::Bool(false))) => {
                errors.push(format!(
                    "For '{}', \"{key}\" is not a permitted key.",
                    shown(path)
                ));
            }
            (None, Some(extra @ Value::Object(_))) => validate(
                extra,
                item,
                &join(path, &format!("properties/{key}")),
                errors,
            ),
            _ => {}
        }
    }
}

fn type_allows(kind: Option<&Value>, name: &str) -> bool {
    match kind {
        Some(Value::String(kind)) => kind == name,
        Some(Value::Array(kinds)) => kinds.iter().any(|kind| kind == name),
        _ => false,
    }
}

fn value_has_type(kind: &Value, value: &Value) -> bool {
    let one = |kind: &str| match kind {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        _ => true,
    };
    match kind {
        Value::String(kind) => one(kind),
        Value::Array(kinds) => kinds.iter().filter_map(Value::as_str).any(one),
        _ => true,
    }
}

fn expected(schema: &Map<String, Value>) -> String {
    match schema.get("type") {
        Some(Value::String(kind)) => article(kind),
        Some(Value::Array(kinds)) => kinds
            .iter()
            .filter_map(Value::as_str)
            .map(article)
            .collect::<Vec<_>>()
            .join(" or "),
        _ => "valid".to_owned(),
    }
}

fn article(kind: &str) -> String {
    if kind.starts_with(['a', 'e', 'i', 'o', 'u']) {
        format!("an {kind}")
    } else {
        format!("a {kind}")
    }
}

fn join(path: &str, segment: &str) -> String {
    if path.is_empty() {
        segment.to_owned()
    } else {
        format!("{path}/{segment}")
    }
}

fn shown(path: &str) -> &str {
    if path.is_empty() {
        "body"
    } else {
        path
    }
}

/// The smallest value valid against `schema`: required properties only, nullable ones null.
/// Callers then overwrite the fields that mean something.
pub fn placeholder(schema: &Value) -> Value {
    placeholder_inner(schema, false)
}

fn placeholder_inner(schema: &Value, null_allowed: bool) -> Value {
    let Some(object) = schema.as_object() else {
        return Value::Null;
    };
    if null_allowed && object.get("nullable") == Some(&Value::Bool(true)) {
        return Value::Null;
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(first) = object
            .get(key)
            .and_then(Value::as_array)
            .and_then(|b| b.first())
        {
            return placeholder_inner(first, null_allowed);
        }
    }
    if let Some(first) = object
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return first.clone();
    }
    let kind = match object.get("type") {
        Some(Value::String(kind)) => kind.as_str(),
        Some(Value::Array(kinds)) => kinds.iter().find_map(Value::as_str).unwrap_or("null"),
        _ if object.contains_key("properties") => "object",
        _ => "null",
    };
    match kind {
        "object" => {
            let mut out = Map::new();
            let properties = object.get("properties").and_then(Value::as_object);
            let required = object.get("required").and_then(Value::as_array);
            for name in required.into_iter().flatten().filter_map(Value::as_str) {
                let property = properties.and_then(|p| p.get(name)).unwrap_or(&NULL);
                out.insert(name.to_owned(), placeholder_inner(property, true));
            }
            Value::Object(out)
        }
        "array" => Value::Array(Vec::new()),
        "string" => Value::String(
            match object.get("format").and_then(Value::as_str) {
                Some("date-time") => "2024-01-01T00:00:00Z",
                Some("uri") => "https://github.com/",
                Some("email") => "noreply@github.com",
                _ => "",
            }
            .to_owned(),
        ),
        "integer" => Value::from(1),
        "number" => Value::from(1.0),
        "boolean" => Value::Bool(false),
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn errors(schema: &Value, value: &Value) -> Vec<String> {
        let mut errors = Vec::new();
        validate(schema, value, "", &mut errors);
        errors
    }

    #[test]
    fn the_description_is_loaded() {
        assert_eq!(endpoints()["operations"].as_array().map(Vec::len), Some(7));
        assert!(app_permissions()["contents"].is_array());
        assert!(request_schema("apps/create-installation-access-token").is_object());
    }

    #[test]
    fn validator_bites() {
        let schema = request_schema("apps/create-installation-access-token");
        let cases = [
            (json!({}), 0),
            (
                json!({"repositories": ["api"], "permissions": {"contents": "read"}}),
                0,
            ),
            (json!({"repositories": "api"}), 1),
            (json!({"repositories": [1]}), 1),
            (json!({"repository_ids": ["x"]}), 1),
            (json!({"permissions": {"contents": "admin"}}), 1),
            (json!({"permissions": "write-all"}), 1),
            (json!([]), 1),
            (json!({"permissions": {"contents": null}}), 1),
        ];
        for (value, count) in cases {
            assert_eq!(
                errors(schema, &value).len(),
                count,
                "{value}: {:?}",
                errors(schema, &value)
            );
        }
        let closed = json!({"type": "object", "properties": {"a": {"type": "integer"}},
            "additionalProperties": false, "required": ["a"]});
        assert_eq!(errors(&closed, &json!({"a": 1})), Vec::<String>::new());
        assert_eq!(errors(&closed, &json!({"a": 1, "b": 2})).len(), 1);
        assert_eq!(errors(&closed, &json!({})).len(), 1);
        let bounded = json!({"type": "array", "maxItems": 2, "items": {"type": "string"}});
        assert_eq!(errors(&bounded, &json!(["a", "b", "c"])).len(), 1);
        let nullable = json!({"type": "string", "nullable": true});
        assert!(errors(&nullable, &Value::Null).is_empty());
        assert_eq!(errors(&json!({"type": "string"}), &Value::Null).len(), 1);
        let either = json!({"anyOf": [{"type": "string"}, {"type": "integer"}]});
        assert!(errors(&either, &json!(3)).is_empty());
        assert_eq!(errors(&either, &json!(true)).len(), 1);
    }

    #[test]
    fn permission_levels_agree_with_the_request_schema() {
        let properties = &request_schema("apps/create-installation-access-token")["properties"]
            ["permissions"]["properties"];
        let listed = app_permissions().as_object().unwrap();
        assert!(listed.len() > 50);
        for (name, levels) in listed {
            assert_eq!(&properties[name]["enum"], levels, "{name}");
        }
    }

    #[test]
    fn placeholders_are_valid() {
        for (id, status) in [
            ("apps/get-authenticated", "200"),
            ("apps/get-repo-installation", "200"),
            ("apps/create-installation-access-token", "201"),
            ("apps/create-installation-access-token", "422"),
        ] {
            let schema = response_schema(id, status);
            let value = placeholder(schema);
            assert!(value.is_object(), "{id}");
            assert_eq!(errors(schema, &value), Vec::<String>::new(), "{id}");
        }
        let repo = &response_schema("apps/create-installation-access-token", "201")["properties"]
            ["repositories"]["items"];
        assert_eq!(errors(repo, &placeholder(repo)), Vec::<String>::new());
    }
}
