//! Reader for a JSON:API document of Productive's API v2.
//!
//! `data` contains the invoices (an array, or one object). `included` contains the
//! companies, contact entries, tax rates, service types and line items they
//! point to. Line items are joined either through a `line_items`
//! relationship on the invoice or through the `invoice` relationship of each
//! line item. Money attributes are converted from the API's unit by
//! [`minor_to_major`]. Problems point at the line where the invoice or line
//! item object starts in the file.

use std::collections::HashMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_json::{Map, Value};

use super::fields::{parse_date, parse_decimal};
use super::model::{Address, Client, DocumentKind, Invoice, Line, Problem};
use super::money::minor_to_major;
use super::Parsed;
use crate::error::{Error, Result};

/// Reads a JSON:API document. `file` names the file in problems and errors.
pub(crate) fn read_jsonapi(text: &[u8], file: &str) -> Result<Parsed> {
    let mut parsed = Parsed::default();
    let document: Value = match serde_json::from_slice(text) {
        Ok(document) => document,
        Err(err) if err.is_io() => return Err(Error::failed(format!("cannot read {file}: {err}"))),
        Err(err) => {
            parsed.problems.push(Problem::new(
                file,
                err.line().max(1),
                format!("the file is not valid JSON ({err}); fetch the document from Productive's API again"),
            ));
            return Ok(parsed);
        }
    };

    let lines = element_start_lines(text);
    let Some(top) = document.as_object() else {
        parsed.problems.push(Problem::new(
            file,
            1,
            "the document is not a JSON object; use the JSON:API response of GET /invoices",
        ));
        return Ok(parsed);
    };
    let data: Vec<&Value> = match top.get("data") {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(item @ Value::Object(_)) => vec![item],
        _ => {
            parsed.problems.push(Problem::new(
                file,
                1,
                "the document has no \"data\" member with invoices; use the JSON:API response of GET /invoices",
            ));
            return Ok(parsed);
        }
    };
    let included: Vec<&Value> = match top.get("included") {
        Some(Value::Array(items)) => items.iter().collect(),
        _ => Vec::new(),
    };

    let document = Document::new(file, &data, &lines.data, &included, &lines.included);
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (index, value) in data.iter().enumerate() {
        let line = lines.data.get(index).copied().unwrap_or(1);
        let mut problems = Vec::new();
        let invoice = document.read_invoice(value, line, &mut problems);
        let has_parse_problems = !problems.is_empty();
        parsed.problems.append(&mut problems);
        let Some(invoice) = invoice else { continue };

        if let Some(first_line) = seen.insert(invoice.productive_id.clone(), line) {
            parsed.problems.push(Problem::new(
                file,
                line,
                format!(
                    "invoice id {} appears again after line {first_line}; remove the repeated invoice from \"data\"",
                    invoice.productive_id
                ),
            ));
            continue;
        }
        parsed.invoices.push(invoice);
        parsed.has_parse_problems.push(has_parse_problems);
    }
    Ok(parsed)
}

/// Lines (1-based) where the elements of the top-level `data` and `included` start.
#[derive(Debug, Default, PartialEq)]
struct ElementLines {
    data: Vec<usize>,
    included: Vec<usize>,
}

#[derive(Clone, Copy, PartialEq)]
enum TopMember {
    Data,
    Included,
    Other,
}

/// Finds where each element of the top-level `data` and `included` members
/// starts, by tracking nesting, keys and strings. serde_json keeps no
/// positions, so this second pass over the text supplies them. Element `i`
/// of a member here is element `i` of the parsed array.
fn element_start_lines(text: &[u8]) -> ElementLines {
    let mut found = ElementLines::default();
    let mut line = 1;
    let mut depth = 0usize;
    let mut expect_key = false;
    let mut member = TopMember::Other;
    let mut inside: Option<TopMember> = None;
    let mut expect_element = false;

    let record = |found: &mut ElementLines, inside: Option<TopMember>, line: usize| match inside {
        Some(TopMember::Data) => found.data.push(line),
        Some(TopMember::Included) => found.included.push(line),
        _ => {}
    };

    let mut position = 0;
    while position < text.len() {
        let byte = text[position];
        let element_starts =
            depth == 2 && inside.is_some() && expect_element && !byte.is_ascii_whitespace();
        if element_starts && !matches!(byte, b',' | b']') {
            record(&mut found, inside, line);
            expect_element = false;
        }
        match byte {
            b'\n' => line += 1,
            b'"' => {
                let start = position + 1;
                position += 1;
                while position < text.len() && text[position] != b'"' {
                    if text[position] == b'\\' {
                        position += 1;
                    } else if text[position] == b'\n' {
                        line += 1;
                    }
                    position += 1;
                }
                if depth == 1 && expect_key {
                    member = match &text[start..position.min(text.len())] {
                        b"data" => TopMember::Data,
                        b"included" => TopMember::Included,
                        _ => TopMember::Other,
                    };
                    expect_key = false;
                }
            }
            b'{' | b'[' => {
                if depth == 1 && !expect_key {
                    match (member, byte) {
                        (TopMember::Data | TopMember::Included, b'[') => {
                            inside = Some(member);
                            expect_element = true;
                        }
                        (TopMember::Data, b'{') => found.data.push(line),
                        _ => {}
                    }
                }
                depth += 1;
                if depth == 1 && byte == b'{' {
                    expect_key = true;
                }
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                if depth == 1 {
                    inside = None;
                }
            }
            b',' => {
                if depth == 1 {
                    expect_key = true;
                } else if depth == 2 && inside.is_some() {
                    expect_element = true;
                }
            }
            _ => {}
        }
        position += 1;
    }
    found
}

/// A JSON:API resource object and the line where it starts.
#[derive(Clone, Copy)]
struct Resource<'a> {
    object: &'a Map<String, Value>,
    line: usize,
}

impl<'a> Resource<'a> {
    fn id(&self) -> Option<String> {
        id_text(self.object.get("id")?)
    }

    fn kind(&self) -> &'a str {
        self.object
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    fn attribute(&self, name: &str) -> Option<&'a Value> {
        self.object
            .get("attributes")?
            .get(name)
            .filter(|value| !value.is_null())
    }

    /// Returns the resource identifiers of a relationship: `None` when the
    /// relationship or its linkage is absent (such as `{"meta": {"included": false}}`),
    /// an empty list for `"data": null`.
    fn linkage(&self, name: &str) -> Option<Vec<(&'a str, String)>> {
        let data = self.object.get("relationships")?.get(name)?.get("data")?;
        let identifier =
            |value: &'a Value| Some((value.get("type")?.as_str()?, id_text(value.get("id")?)?));
        match data {
            Value::Null => Some(Vec::new()),
            Value::Array(items) => Some(items.iter().filter_map(identifier).collect()),
            item => Some(identifier(item).into_iter().collect()),
        }
    }
}

fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// The resources of a document, indexed for joining.
struct Document<'a> {
    file: &'a str,
    /// Invoices of `data` and `included` by id, to find a credited invoice's number.
    invoices: HashMap<String, Resource<'a>>,
    /// Resources of `included` by type and id.
    included: HashMap<(&'a str, String), Resource<'a>>,
    /// Line items of `included` by the id of the invoice they point to, in file order.
    line_items_by_invoice: HashMap<String, Vec<Resource<'a>>>,
}

impl<'a> Document<'a> {
    fn new(
        file: &'a str,
        data: &[&'a Value],
        data_lines: &[usize],
        included: &[&'a Value],
        included_lines: &[usize],
    ) -> Self {
        let resources = |values: &[&'a Value], lines: &[usize]| -> Vec<Resource<'a>> {
            values
                .iter()
                .enumerate()
                .filter_map(|(index, value)| {
                    Some(Resource {
                        object: value.as_object()?,
                        line: lines.get(index).copied().unwrap_or(1),
                    })
                })
                .collect()
        };
        let data = resources(data, data_lines);
        let included = resources(included, included_lines);

        let mut document = Document {
            file,
            invoices: HashMap::new(),
            included: HashMap::new(),
            line_items_by_invoice: HashMap::new(),
        };
        for resource in data.iter().chain(&included) {
            let Some(id) = resource.id() else { continue };
            if resource.kind() == "invoices" {
                document.invoices.entry(id.clone()).or_insert(*resource);
            }
        }
        for resource in included {
            let Some(id) = resource.id() else { continue };
            if resource.kind() == "line_items" {
                if let Some((_, invoice_id)) = resource
                    .linkage("invoice")
                    .and_then(|linkage| linkage.into_iter().next())
                {
                    document
                        .line_items_by_invoice
                        .entry(invoice_id)
                        .or_default()
                        .push(resource);
                }
            }
            document.included.insert((resource.kind(), id), resource);
        }
        document
    }

    fn find(&self, kind: &str, id: &str) -> Option<Resource<'a>> {
        self.included.get(&(kind, id.to_string())).copied()
    }

    /// Follows a to-one relationship to an included resource. Reports linkage
    /// to a resource that is not included; returns `None` for absent or null linkage.
    fn related(
        &self,
        from: &Resource<'a>,
        name: &str,
        label: &str,
        problems: &mut Vec<Problem>,
    ) -> Option<Resource<'a>> {
        let (kind, id) = from.linkage(name)?.into_iter().next()?;
        let found = self.find(kind, &id);
        if found.is_none() {
            problems.push(Problem::new(
                self.file,
                from.line,
                format!("{label} points to {kind} {id} through \"{name}\", but \"included\" has no such resource; request the invoices with include={name}"),
            ));
        }
        found
    }

    fn read_invoice(
        &self,
        value: &'a Value,
        line: usize,
        problems: &mut Vec<Problem>,
    ) -> Option<Invoice> {
        let Some(object) = value.as_object() else {
            problems.push(Problem::new(
                self.file,
                line,
                "an element of \"data\" is not an object; use the JSON:API response of GET /invoices",
            ));
            return None;
        };
        let resource = Resource { object, line };
        if resource.kind() != "invoices" {
            problems.push(Problem::new(
                self.file,
                line,
                format!(
                    "an element of \"data\" has type \"{}\"; \"data\" must contain only invoices",
                    resource.kind()
                ),
            ));
            return None;
        }
        let Some(id) = resource.id() else {
            problems.push(Problem::new(
                self.file,
                line,
                "an invoice in \"data\" has no \"id\"; fetch the document from Productive's API again",
            ));
            return None;
        };

        let label = format!("invoice {id}");
        let mut attributes = Attributes {
            resource,
            label: &label,
            file: self.file,
            problems,
        };
        let kind = attributes.document_kind();
        let gross = attributes.required_money("amount_with_tax");
        let mut invoice = Invoice {
            productive_id: id.clone(),
            number: attributes.text("number").unwrap_or_default(),
            kind: kind.unwrap_or(if gross < Decimal::ZERO {
                DocumentKind::CreditNote
            } else {
                DocumentKind::Invoice
            }),
            credited_number: None,
            client: Client::default(),
            subject: attributes.text("subject"),
            po_number: attributes.text("purchase_order_number"),
            issue_date: attributes.required_date("invoiced_on"),
            due_date: attributes.date("pay_on"),
            sent_on: attributes.date("sent_on"),
            currency: attributes
                .text("currency")
                .unwrap_or_default()
                .to_ascii_uppercase(),
            exchange_rate: attributes.decimal("exchange_rate"),
            lines: Vec::new(),
            net: attributes.required_money("amount"),
            tax: attributes.required_money("amount_tax"),
            gross,
            amount_paid: attributes.money("amount_paid").unwrap_or_default(),
            paid_on: attributes.date("paid_on"),
            exported: attributes.boolean("exported"),
            export_id: attributes.text("export_id"),
            source_line: line,
        };

        invoice.client = self.read_client(&resource, &label, problems);
        invoice.credited_number = resource
            .linkage("parent_invoice")
            .and_then(|linkage| linkage.into_iter().next())
            .and_then(|(_, parent_id)| self.invoices.get(&parent_id))
            .and_then(|parent| parent.attribute("number"))
            .and_then(id_text);
        invoice.lines = self.read_lines(&resource, &id, &label, problems);
        Some(invoice)
    }

    fn read_client(
        &self,
        invoice: &Resource<'a>,
        label: &str,
        problems: &mut Vec<Problem>,
    ) -> Client {
        let mut client = Client::default();
        if let Some(company) = self.related(invoice, "company", label, problems) {
            client.id = company.id().unwrap_or_default();
            client.name = text_attribute(&company, "name").unwrap_or_default();
            client.code = text_attribute(&company, "company_code");
            client.tax_id = text_attribute(&company, "vat");
        }
        if let Some(contact) = self.related(invoice, "bill_to", label, problems) {
            client.address = Address {
                line: text_attribute(&contact, "address"),
                city: text_attribute(&contact, "city"),
                postcode: text_attribute(&contact, "zipcode"),
                country: text_attribute(&contact, "country")
                    .map(|country| country.to_ascii_uppercase()),
            };
            if client.tax_id.is_none() {
                client.tax_id = text_attribute(&contact, "vat");
            }
        }
        client
    }

    fn read_lines(
        &self,
        invoice: &Resource<'a>,
        id: &str,
        label: &str,
        problems: &mut Vec<Problem>,
    ) -> Vec<Line> {
        let items: Vec<Resource<'a>> = match invoice.linkage("line_items") {
            Some(linkage) => linkage
                .into_iter()
                .filter_map(|(kind, item_id)| {
                    let found = self.find(kind, &item_id);
                    if found.is_none() {
                        problems.push(Problem::new(
                            self.file,
                            invoice.line,
                            format!("{label} lists {kind} {item_id}, but \"included\" has no such resource; request the invoices with include=line_items"),
                        ));
                    }
                    found
                })
                .collect(),
            None => self.line_items_by_invoice.get(id).cloned().unwrap_or_default(),
        };

        let mut lines: Vec<Line> = items
            .iter()
            .enumerate()
            .map(|(index, item)| self.read_line(item, index, label, problems))
            .collect();
        lines.sort_by_key(|line| line.position);
        lines
    }

    fn read_line(
        &self,
        item: &Resource<'a>,
        index: usize,
        invoice_label: &str,
        problems: &mut Vec<Problem>,
    ) -> Line {
        let label = format!(
            "line item {} of {invoice_label}",
            item.id().unwrap_or_default()
        );
        // The tax rate is only needed when the line lacks its own tax attributes,
        // so a tax rate left out of "included" is not a problem by itself.
        let tax_rate = item
            .linkage("tax_rate")
            .and_then(|linkage| linkage.into_iter().next())
            .and_then(|(kind, id)| self.find(kind, &id));
        let service_type = self.related(item, "service_type", &label, problems);

        let mut attributes = Attributes {
            resource: *item,
            label: &label,
            file: self.file,
            problems,
        };
        let fallback_position = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let position = attributes.position().unwrap_or(fallback_position);
        let description = attributes
            .text("description")
            .or_else(|| attributes.text("name"))
            .unwrap_or_default();
        let tax_name = attributes
            .text("tax_name")
            .or_else(|| tax_rate.and_then(|rate| text_attribute(&rate, "name")));
        let tax_percent = match attributes.decimal("tax_value") {
            Some(percent) => percent,
            None => match tax_rate.and_then(tax_rate_percent) {
                Some(percent) => percent,
                None => attributes.required_decimal("tax_value"),
            },
        };

        Line {
            position,
            service_type: service_type
                .and_then(|service_type| text_attribute(&service_type, "name")),
            description,
            quantity: attributes.required_decimal("quantity"),
            unit: attributes.text("unit"),
            unit_price: attributes.required_money("unit_price"),
            discount_percent: attributes.decimal("discount").unwrap_or_default(),
            tax_name,
            tax_percent,
            net: attributes.required_money("amount"),
            tax: attributes.required_money("amount_tax"),
            gross: attributes.required_money("amount_with_tax"),
            source_line: item.line,
        }
    }
}

/// Adds the primary and secondary components of a tax rate, in percent.
fn tax_rate_percent(rate: Resource) -> Option<Decimal> {
    let component = |name: &str| rate.attribute(name).and_then(decimal_of);
    let primary = component("primary_component_value")?;
    Some(primary + component("secondary_component_value").unwrap_or_default())
}

fn text_attribute(resource: &Resource, name: &str) -> Option<String> {
    match resource.attribute(name)? {
        Value::String(text) => Some(text.trim().to_string()).filter(|text| !text.is_empty()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// Reads a decimal from a JSON number (exact, because serde_json keeps the
/// digits) or from a string such as `"1.0"`.
fn decimal_of(value: &Value) -> Option<Decimal> {
    match value {
        Value::Number(number) => parse_decimal(&number.to_string()),
        Value::String(text) => parse_decimal(text),
        _ => None,
    }
}

/// Reads the attributes of one resource, reporting each bad value as a problem.
struct Attributes<'a, 'p> {
    resource: Resource<'a>,
    /// The resource as named in problems, such as "invoice 880101".
    label: &'p str,
    file: &'p str,
    problems: &'p mut Vec<Problem>,
}

impl Attributes<'_, '_> {
    fn problem(&mut self, message: String) {
        self.problems
            .push(Problem::new(self.file, self.resource.line, message));
    }

    fn missing(&mut self, name: &str) {
        self.problem(format!(
            "{} has no \"{name}\" attribute; fetch the document from Productive's API again with all attributes",
            self.label
        ));
    }

    fn invalid(&mut self, name: &str, value: &Value, expected: &str) {
        self.problem(format!(
            "\"{name}\" of {} is {value}, which is not {expected}; correct it in Productive and fetch the document again",
            self.label
        ));
    }

    fn text(&mut self, name: &str) -> Option<String> {
        text_attribute(&self.resource, name)
    }

    fn decimal(&mut self, name: &str) -> Option<Decimal> {
        let value = self.resource.attribute(name)?;
        let decimal = decimal_of(value);
        if decimal.is_none() {
            self.invalid(name, value, "a number");
        }
        decimal
    }

    fn required_decimal(&mut self, name: &str) -> Decimal {
        if self.resource.attribute(name).is_none() {
            self.missing(name);
        }
        self.decimal(name).unwrap_or_default()
    }

    fn money(&mut self, name: &str) -> Option<Decimal> {
        self.decimal(name).map(minor_to_major)
    }

    fn required_money(&mut self, name: &str) -> Decimal {
        minor_to_major(self.required_decimal(name))
    }

    fn date(&mut self, name: &str) -> Option<NaiveDate> {
        let value = self.resource.attribute(name)?;
        let date = value.as_str().and_then(parse_date);
        if date.is_none() {
            self.invalid(name, value, "a date in YYYY-MM-DD form");
        }
        date
    }

    fn required_date(&mut self, name: &str) -> NaiveDate {
        if self.resource.attribute(name).is_none() {
            self.missing(name);
        }
        self.date(name).unwrap_or_default()
    }

    fn boolean(&mut self, name: &str) -> bool {
        match self.resource.attribute(name) {
            None => false,
            Some(Value::Bool(flag)) => *flag,
            Some(value) => {
                self.invalid(name, value, "true or false");
                false
            }
        }
    }

    fn position(&mut self) -> Option<u32> {
        let value = self.resource.attribute("position")?;
        let position = decimal_of(value)
            .filter(|number| number.fract().is_zero())
            .and_then(|number| u32::try_from(number).ok());
        match position {
            Some(position) if position >= 1 => Some(position),
            _ => {
                self.invalid("position", value, "a whole number of 1 or more");
                None
            }
        }
    }

    /// Reads `invoice_type_id`: 1 is an invoice and 2 a credit note.
    /// NOTE: these two values are inferred; Productive does not document them.
    fn document_kind(&mut self) -> Option<DocumentKind> {
        let value = self.resource.attribute("invoice_type_id")?;
        match decimal_of(value)
            .map(|number| number.normalize().to_string())
            .as_deref()
        {
            Some("1") => Some(DocumentKind::Invoice),
            Some("2") => Some(DocumentKind::CreditNote),
            _ => {
                self.invalid("invoice_type_id", value, "1 (invoice) or 2 (credit note)");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn element_lines_found_for_data_and_included() {
        let text = br#"{
  "meta": {"data": [1, 2]},
  "data": [
    {"id": "1", "note": "a \"quoted\" ] text"},
    {"id": "2"}
  ],
  "included": [{"id": "3"},
    {"id": "4"}]
}"#;
        let lines = element_start_lines(text);
        assert_eq!(lines.data, vec![4, 5]);
        assert_eq!(lines.included, vec![7, 8]);
    }

    #[test]
    fn element_lines_found_for_single_resource() {
        let text = b"{\"included\": [],\n\"data\":\n  {\"id\": \"1\"}}";
        let lines = element_start_lines(text);
        assert_eq!(lines.data, vec![3]);
        assert!(lines.included.is_empty());
    }
}
