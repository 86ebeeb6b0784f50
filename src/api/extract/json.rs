//! JSON request bodies, read as the contract says and not as leniently as a parser allows: one
//! UTF-8 object, nothing after it, arriving whole by its deadline; every rejection in the
//! envelope (408, 400, 413, 415, 422) and every 422 worded from the body's schema.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;
use utoipa::openapi::{RefOr, Schema};

use crate::domain::validate::FieldError;
use crate::error::AppError;

/// A JSON request body. Wrong content type -> 415, unreadable or oversized body -> 400/413,
/// malformed JSON -> 400, well-formed JSON of the wrong shape -> 422 naming the field.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned + ToSchema, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        json_content_type(&req)?;
        let bytes = read_body(req, state).await?;
        parse_json(&bytes, T::schema, false).map(JsonBody)
    }
}

/// Like [`JsonBody`], but an empty body (with or without a content type) or a JSON `null` is
/// `None`, as the OpenAPI document declares for optional bodies.
pub struct OptionalJsonBody<T>(pub Option<T>);

impl<T: DeserializeOwned + ToSchema, S: Send + Sync> FromRequest<S> for OptionalJsonBody<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        let json_type = json_content_type(&req);
        let bytes = read_body(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(None));
        }
        json_type?;
        parse_json::<Option<T>>(&bytes, T::schema, true).map(Self)
    }
}

/// 415 unless the body is declared JSON (`application/json` or `application/*+json`) in UTF-8:
/// JSON has no other encoding (RFC 8259), and reading a UTF-16 body as UTF-8 would read
/// something other than what the client meant.
fn json_content_type(req: &Request) -> Result<(), AppError> {
    let value = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let mut parts = value.split(';');
    let mime = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
    if !(mime == "application/json"
        || (mime.starts_with("application/") && mime.ends_with("+json")))
    {
        return Err(AppError::UnsupportedMediaType(
            "Expected request with `Content-Type: application/json`".into(),
        ));
    }
    let charset = parts.find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| value.trim().trim_matches('"'))
    });
    match charset {
        Some(charset) if !charset.eq_ignore_ascii_case("utf-8") => {
            Err(AppError::UnsupportedMediaType(
                "JSON bodies must be UTF-8 (send `charset=utf-8` or no charset)".into(),
            ))
        }
        _ => Ok(()),
    }
}

/// When a request's body must have arrived whole (set by the request-bounds layer): its
/// extractor stops waiting then, with 408.
#[derive(Clone, Copy)]
pub struct BodyDeadline(pub tokio::time::Instant);

/// The whole body, by its deadline (`BODY_READ_TIMEOUT` after the headers; 408 after it).
async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, AppError> {
    let deadline = req.extensions().get::<BodyDeadline>().copied();
    let read = Bytes::from_request(req, state);
    let result = match deadline {
        Some(BodyDeadline(at)) => tokio::time::timeout_at(at, read)
            .await
            .map_err(|_| AppError::BodyTimeout)?,
        None => read.await,
    };
    result.map_err(|rejection| {
        if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            AppError::PayloadTooLarge
        } else {
            AppError::BadRequest("Could not read the request body".into())
        }
    })
}

/// Reads a body that must be one JSON object (`null` too when `null_allowed`), described by
/// `schema`, the body type's OpenAPI schema.
///
/// What went wrong is read from types, not from serde's wording: the error's category (syntax or
/// data), its path (from `serde_path_to_error`), and the body against the schema. So a 422 speaks
/// of the contract's fields and types, never of the server's own type names, and it never echoes
/// the value that was sent.
fn parse_json<T: DeserializeOwned>(
    bytes: &[u8],
    schema: fn() -> RefOr<Schema>,
    null_allowed: bool,
) -> Result<T, AppError> {
    use serde_json::error::Category;
    let malformed = |e: serde_json::Error| AppError::BadRequest(format!("Malformed JSON: {e}"));
    // A derived struct also reads an array, field by field in order: only an object is a body.
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => {}
        Some(b'n') if null_allowed => {}
        _ => {
            serde_json::from_slice::<serde::de::IgnoredAny>(bytes).map_err(malformed)?;
            return Err(AppError::validation(FieldError {
                loc: vec!["body".into()],
                msg: NOT_AN_OBJECT.into(),
                kind: "model_attributes_type",
            }));
        }
    }
    let deserializer = &mut serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut *deserializer).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        match inner.classify() {
            Category::Syntax | Category::Eof | Category::Io => malformed(inner),
            Category::Data => {
                // Every required field the body lacks, as the template's validation lists
                // them (serde stops at the first problem), and the problem serde met, unless
                // it was only that.
                let schema = schema();
                let mut problems = missing_fields(bytes, &schema);
                if path != "." || problems.is_empty() {
                    problems.push(value_problem(&path, bytes, &schema));
                }
                AppError::Validation(problems)
            }
        }
    })?;
    // `{...}xyz` is not a JSON document, whatever its first value says.
    deserializer
        .end()
        .map_err(|_| AppError::BadRequest("Malformed JSON: data after the JSON value".into()))?;
    Ok(value)
}

const NOT_AN_OBJECT: &str = "Input should be a valid dictionary or object to extract fields from";

/// The schema of a body type's top-level property, if the body type is an object that has it.
fn property<'a>(schema: &'a RefOr<Schema>, name: &str) -> Option<&'a Schema> {
    match schema {
        RefOr::T(Schema::Object(object)) => match object.properties.get(name)? {
            RefOr::T(property) => Some(property),
            RefOr::Ref(_) => None,
        },
        _ => None,
    }
}

/// The required fields absent from a body that is a JSON object (none for any other body).
fn missing_fields(bytes: &[u8], schema: &RefOr<Schema>) -> Vec<FieldError> {
    let Ok(serde_json::Value::Object(body)) = serde_json::from_slice(bytes) else {
        return Vec::new();
    };
    let RefOr::T(Schema::Object(object)) = schema else {
        return Vec::new();
    };
    object
        .required
        .iter()
        .filter(|field| !body.contains_key(field.as_str()))
        .map(|field| FieldError {
            loc: vec!["body".into(), field.clone()],
            msg: "Field required".into(),
            kind: "missing",
        })
        .collect()
}

/// A value of the wrong type or shape at `path` (`.` for the body itself), in the template's
/// `{loc, msg, type}` form with its wording: the type the contract declares when the value sent
/// is of another JSON type, else that the value is not one the field takes.
fn value_problem(path: &str, bytes: &[u8], schema: &RefOr<Schema>) -> FieldError {
    use utoipa::openapi::schema::{SchemaType, Type};
    let segments: Vec<&str> = path.split('.').filter(|s| !s.is_empty()).collect();
    let mut loc = vec!["body".to_string()];
    loc.extend(segments.iter().map(|s| s.to_string()));
    let declared = match segments.as_slice() {
        [field] => property(schema, field).and_then(|p| match p {
            Schema::Object(object) => match &object.schema_type {
                SchemaType::Type(t) => Some(t.clone()),
                SchemaType::Array(types) => types.iter().find(|t| **t != Type::Null).cloned(),
                SchemaType::AnyValue => None,
            },
            Schema::Array(_) => Some(Type::Array),
            _ => None,
        }),
        _ => None,
    };
    let sent = serde_json::from_slice::<serde_json::Value>(bytes)
        .ok()
        .and_then(|body| segments.first().and_then(|f| body.get(*f).cloned()));
    let sent_matches = |t: &Type| {
        use serde_json::Value as V;
        matches!(
            (t, &sent),
            (Type::String, Some(V::String(_)))
                | (Type::Boolean, Some(V::Bool(_)))
                | (Type::Integer | Type::Number, Some(V::Number(_)))
                | (Type::Array, Some(V::Array(_)))
                | (Type::Object, Some(V::Object(_)))
        )
    };
    let (msg, kind) = match declared {
        Some(t) if sent_matches(&t) => ("Input is not a value this field takes", "value_error"),
        Some(Type::String) => ("Input should be a valid string", "string_type"),
        Some(Type::Boolean) => ("Input should be a valid boolean", "bool_type"),
        Some(Type::Integer) => ("Input should be a valid integer", "int_type"),
        Some(Type::Number) => ("Input should be a valid number", "float_type"),
        Some(Type::Array) => ("Input should be a valid list", "list_type"),
        Some(Type::Object) => (NOT_AN_OBJECT, "model_attributes_type"),
        Some(Type::Null) | None => ("Input is not a value this field takes", "value_error"),
    };
    FieldError {
        loc,
        msg: msg.into(),
        kind,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, ToSchema)]
    struct Body {
        token: Option<String>,
    }

    async fn optional(
        content_type: Option<&str>,
        body: &'static str,
    ) -> Result<Option<Body>, AppError> {
        let mut req = Request::builder().method("POST").uri("/");
        if let Some(ct) = content_type {
            req = req.header(CONTENT_TYPE, ct);
        }
        let req = req.body(axum::body::Body::from(body)).unwrap();
        OptionalJsonBody::<Body>::from_request(req, &())
            .await
            .map(|b| b.0)
    }

    #[tokio::test]
    async fn optional_body_accepts_nothing_null_or_an_object() {
        assert!(optional(None, "").await.unwrap().is_none());
        assert!(
            optional(Some("application/json"), " ")
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            optional(Some("application/json"), "null")
                .await
                .unwrap()
                .is_none()
        );
        let body = optional(Some("application/json"), r#"{"token":"t"}"#)
            .await
            .unwrap();
        assert_eq!(body.unwrap().token.as_deref(), Some("t"));
    }

    #[tokio::test]
    async fn optional_body_rejections() {
        let status = |r: Result<Option<Body>, AppError>| r.err().map(|e| e.status().as_u16());
        assert_eq!(status(optional(Some("text/plain"), "x").await), Some(415));
        assert_eq!(
            status(optional(Some("application/json"), "{").await),
            Some(400)
        );
        assert_eq!(
            status(optional(Some("application/json"), "[]").await),
            Some(422)
        );
        assert_eq!(
            status(optional(Some("application/json"), r#"{"token":5}"#).await),
            Some(422)
        );
    }
}
