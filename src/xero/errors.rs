//! Xero's error bodies turned into plain messages.
//!
//! A validation failure looks like `{"ErrorNumber":10,"Type":"ValidationException",
//! "Message":"A validation exception occurred","Elements":[{...,"ValidationErrors":[{"Message":...}]}]}`;
//! 401/403 bodies carry `Title` and `Detail`; 503 bodies may be plain text.

use serde_json::Value;

/// Collects the `ValidationErrors[].Message` texts of one element.
pub fn validation_messages(element: &Value) -> Vec<String> {
    let mut messages: Vec<String> = element
        .get("ValidationErrors")
        .and_then(Value::as_array)
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| e.get("Message").and_then(Value::as_str))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if let Some(lines) = element.get("LineItems").and_then(Value::as_array) {
        for (index, line) in lines.iter().enumerate() {
            for message in validation_messages(line) {
                messages.push(format!("line {}: {message}", index + 1));
            }
        }
    }
    messages
}

/// Summarises an error body in one line, whatever its format.
pub fn describe_error_body(text: &str) -> String {
    let Ok(body) = serde_json::from_str::<Value>(text) else {
        let plain: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
        return if plain.is_empty() {
            "empty response".into()
        } else {
            truncate(&plain, 300)
        };
    };

    let mut parts = Vec::new();
    for key in ["Message", "Title", "Detail", "error", "error_description"] {
        if let Some(value) = body.get(key).and_then(Value::as_str) {
            parts.push(value.to_string());
        }
    }
    if let Some(elements) = body.get("Elements").and_then(Value::as_array) {
        for element in elements {
            parts.extend(validation_messages(element));
        }
    }
    if parts.is_empty() {
        truncate(&body.to_string(), 300)
    } else {
        truncate(&parts.join("; "), 600)
    }
}

fn truncate(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        text.to_string()
    } else {
        format!("{}…", text.chars().take(max_chars).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_exception_lists_messages() {
        let body = r#"{"ErrorNumber":10,"Type":"ValidationException","Message":"A validation exception occurred",
            "Elements":[{"ValidationErrors":[{"Message":"Invoice # must be unique."}]}]}"#;
        let text = describe_error_body(body);
        assert!(text.contains("Invoice # must be unique."), "{text}");
    }

    #[test]
    fn plain_text_body_kept() {
        assert_eq!(
            describe_error_body("The Xero API is\n offline"),
            "The Xero API is offline"
        );
    }
}
