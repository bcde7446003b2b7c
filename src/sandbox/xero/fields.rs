//! Reading the JSON body of a PUT or POST the way Xero's deserializer does:
//! field names match without regard to case, `null` means absent, and a
//! value of the wrong type fails the whole request with
//! `PostDataInvalidException`.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_json::{Map, Value};

use super::accounting::{ApiResponse, Call};
use super::format::{decimal_from_json, parse_document_date};

/// One JSON object of a request body.
#[derive(Clone, Copy)]
pub(crate) struct Fields<'v>(pub &'v Map<String, Value>);

impl<'v> Fields<'v> {
    fn get(&self, name: &str) -> Option<&'v Value> {
        self.0
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
            .filter(|value| !value.is_null())
    }

    pub fn text(&self, name: &str) -> Result<Option<String>, String> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.clone())),
            Some(Value::Number(number)) => Ok(Some(number.to_string())),
            Some(Value::Bool(flag)) => Ok(Some(flag.to_string())),
            Some(_) => Err(format!("The value of {name} must be text")),
        }
    }

    pub fn decimal(&self, name: &str) -> Result<Option<Decimal>, String> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(text)) if text.trim().is_empty() => Ok(None),
            Some(value) => decimal_from_json(value).map(Some).ok_or_else(|| {
                format!(
                    "The value '{}' of {name} is not a valid decimal",
                    plain(value)
                )
            }),
        }
    }

    pub fn date(&self, name: &str) -> Result<Option<NaiveDate>, String> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(text)) if text.is_empty() => Ok(None),
            Some(Value::String(text)) => parse_document_date(text)
                .map(Some)
                .ok_or_else(|| format!("The string '{text}' is not a valid AllXsd value.")),
            Some(value) => Err(format!(
                "The string '{}' is not a valid AllXsd value.",
                plain(value)
            )),
        }
    }

    pub fn object(&self, name: &str) -> Result<Option<Fields<'v>>, String> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Object(object)) => Ok(Some(Fields(object))),
            Some(_) => Err(format!("The value of {name} must be an object")),
        }
    }

    pub fn array(&self, name: &str) -> Result<Option<Vec<Fields<'v>>>, String> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Value::Object(object) => Ok(Fields(object)),
                    _ => Err(format!("Each item of {name} must be an object")),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(format!("The value of {name} must be a list")),
        }
    }
}

fn plain(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Reads the elements of a write body: `{"Invoices":[…]}` under `key`, or a
/// single bare element.
pub(crate) fn body_elements(
    call: &Call,
    key: &str,
) -> Result<Vec<Map<String, Value>>, ApiResponse> {
    let value: Value = serde_json::from_str(&call.incoming.body).map_err(|error| {
        ApiResponse::post_data_invalid(&format!("The request body is not valid JSON: {error}"))
    })?;
    let Value::Object(object) = value else {
        return Err(ApiResponse::post_data_invalid(
            "The request body must be a JSON object",
        ));
    };
    let list = object
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(key))
        .map(|(_, value)| value.clone());
    match list {
        None => Ok(vec![object]),
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|item| match item {
                Value::Object(element) => Ok(element),
                _ => Err(ApiResponse::post_data_invalid(&format!(
                    "Each item of {key} must be an object"
                ))),
            })
            .collect(),
        Some(_) => Err(ApiResponse::post_data_invalid(&format!(
            "{key} must be a list"
        ))),
    }
}
