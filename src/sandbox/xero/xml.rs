//! The XML that Xero's accounting API returns when a request does not
//! accept JSON. Only its outline matters: a client that forgets
//! `Accept: application/json` must fail to parse the body as JSON.

use serde_json::Value;

use super::format::iso_without_zone;

/// Renders a response body as XML: `<Response>` for results and
/// `<ApiException>` for errors, a list as one child per item named in the
/// singular, and `/Date(…)/` values as ISO 8601 dates.
pub(crate) fn render(body: &Value) -> String {
    let root = if body.get("ErrorNumber").is_some() {
        "ApiException"
    } else {
        "Response"
    };
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    out.push_str(&format!(
        "<{root} xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\">"
    ));
    if let Value::Object(fields) = body {
        for (name, value) in fields {
            write_element(&mut out, name, value);
        }
    }
    out.push_str(&format!("</{root}>"));
    out
}

fn write_element(out: &mut String, name: &str, value: &Value) {
    match value {
        Value::Null => {}
        Value::Object(fields) => {
            out.push_str(&format!("<{name}>"));
            for (child, value) in fields {
                write_element(out, child, value);
            }
            out.push_str(&format!("</{name}>"));
        }
        Value::Array(items) => {
            out.push_str(&format!("<{name}>"));
            let item_name = singular(name);
            for item in items {
                write_element(out, &item_name, item);
            }
            out.push_str(&format!("</{name}>"));
        }
        Value::String(text) => {
            out.push_str(&format!(
                "<{name}>{}</{name}>",
                escape(&xml_date(text).unwrap_or_else(|| text.clone()))
            ));
        }
        Value::Number(number) => out.push_str(&format!("<{name}>{number}</{name}>")),
        Value::Bool(flag) => out.push_str(&format!("<{name}>{flag}</{name}>")),
    }
}

fn singular(name: &str) -> String {
    if name == "Elements" {
        return "DataContractBase".into();
    }
    if let Some(stem) = name.strip_suffix("sses") {
        return format!("{stem}ss");
    }
    match name.strip_suffix('s') {
        Some(stem) => stem.to_string(),
        None => format!("{name}Item"),
    }
}

fn xml_date(text: &str) -> Option<String> {
    let inner = text.strip_prefix("/Date(")?.strip_suffix(")/")?;
    let digits: String = inner
        .chars()
        .enumerate()
        .take_while(|(index, c)| c.is_ascii_digit() || (*index == 0 && *c == '-'))
        .map(|(_, c)| c)
        .collect();
    let millis: i64 = digits.parse().ok()?;
    let time = chrono::DateTime::from_timestamp_millis(millis)?;
    Some(iso_without_zone(time))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_lists_and_dates() {
        let body = json!({
            "Invoices": [{"InvoiceNumber": "A&B", "Date": "/Date(1539993600000+0000)/"}],
            "Addresses": []
        });
        let xml = render(&body);
        assert!(xml.contains("<Invoices><Invoice><Date>"));
        assert!(xml.contains("<InvoiceNumber>A&amp;B</InvoiceNumber></Invoice></Invoices>"));
        assert!(xml.contains("<Date>2018-10-20T00:00:00.0000000</Date>"));
        assert!(xml.contains("<Addresses></Addresses>"));
    }
}
