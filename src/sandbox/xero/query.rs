//! Query features shared by the GET endpoints: the `where` filter, `order`,
//! `page`/`pageSize` and `If-Modified-Since`.
//!
//! Filters run on the JSON that the endpoint returns, so a `where` path such
//! as `Contact.ContactID` or `Invoice.InvoiceNumber` names the same fields a
//! client reads.

use std::cmp::Ordering;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::format::{decimal_from_json, parse_if_modified_since};
use super::server::Incoming;

/// Items per page when `page` is given without `pageSize`.
const DEFAULT_PAGE_SIZE: usize = 100;
/// NOTE: 1000 is the maximum reported by a third-party driver's docs, and
/// Xero's own pages give none. Larger values are lowered to it.
const MAX_PAGE_SIZE: usize = 1000;

/// A query parameter or header that Xero would fail to parse.
#[derive(Debug)]
pub(crate) struct QueryError(pub String);

/// Reads `If-Modified-Since`.
pub(crate) fn if_modified_since(incoming: &Incoming) -> Result<Option<DateTime<Utc>>, QueryError> {
    let Some(text) = incoming.header("if-modified-since") else {
        return Ok(None);
    };
    parse_if_modified_since(text).map(Some).ok_or_else(|| {
        QueryError(format!(
            "If-Modified-Since '{text}' is not a valid date and time"
        ))
    })
}

/// Returns whether a record updated at `updated` passes `If-Modified-Since`:
/// strictly later, compared to the second because Xero documents second
/// precision.
pub(crate) fn modified_since(updated: DateTime<Utc>, since: Option<DateTime<Utc>>) -> bool {
    since.is_none_or(|since| updated.timestamp() > since.timestamp())
}

/// Splits a comma-separated list parameter such as `IDs` or `Statuses`.
pub(crate) fn list_param(incoming: &Incoming, name: &str) -> Option<Vec<String>> {
    let text = incoming.query_param(name)?;
    let items: Vec<String> = text
        .split(',')
        .map(|item| item.trim().to_string())
        .filter(|item| !item.is_empty())
        .collect();
    Some(items)
}

pub(crate) fn bool_param(incoming: &Incoming, name: &str) -> Option<bool> {
    incoming
        .query_param(name)
        .map(|value| value.eq_ignore_ascii_case("true"))
}

/// `page` and `pageSize`. Without either, Xero returns everything.
pub(crate) struct Paging {
    pub page: Option<usize>,
    pub page_size: usize,
}

impl Paging {
    pub fn from_query(incoming: &Incoming) -> Result<Paging, QueryError> {
        let parse = |name: &str| -> Result<Option<usize>, QueryError> {
            match incoming.query_param(name) {
                None => Ok(None),
                Some(text) => text
                    .trim()
                    .parse::<usize>()
                    .map(Some)
                    .map_err(|_| QueryError(format!("{name} '{text}' is not a whole number"))),
            }
        };
        let page = parse("page")?;
        let page_size = parse("pageSize")?;
        Ok(Paging {
            page: page.or(page_size.map(|_| 1)).map(|page| page.max(1)),
            page_size: page_size
                .unwrap_or(DEFAULT_PAGE_SIZE)
                .clamp(1, MAX_PAGE_SIZE),
        })
    }

    pub fn is_paged(&self) -> bool {
        self.page.is_some()
    }

    /// Cuts out the requested page and builds the `pagination` object.
    pub fn apply(&self, items: Vec<Value>) -> (Vec<Value>, Option<Value>) {
        let Some(page) = self.page else {
            return (items, None);
        };
        let item_count = items.len();
        let page_count = item_count.div_ceil(self.page_size);
        let page_items = items
            .into_iter()
            .skip((page - 1) * self.page_size)
            .take(self.page_size)
            .collect();
        let pagination = json!({
            "page": page,
            "pageSize": self.page_size,
            "pageCount": page_count,
            "itemCount": item_count,
        });
        (page_items, Some(pagination))
    }
}

/// Applies `where` and `order` to rendered records.
pub(crate) fn filter_and_order(
    incoming: &Incoming,
    mut items: Vec<Value>,
) -> Result<Vec<Value>, QueryError> {
    if let Some(text) = incoming.query_param("where") {
        if !text.trim().is_empty() {
            let filter = parse_where(&text)?;
            items.retain(|item| filter.matches(item));
        }
    }
    if let Some(order) = incoming.query_param("order") {
        sort_items(&mut items, &order)?;
    }
    Ok(items)
}

fn sort_items(items: &mut [Value], order: &str) -> Result<(), QueryError> {
    let mut keys = Vec::new();
    for part in order.split(',') {
        let mut words = part.split_whitespace();
        let Some(field) = words.next() else { continue };
        let descending = match words.next().map(str::to_ascii_uppercase).as_deref() {
            None | Some("ASC") => false,
            Some("DESC") => true,
            Some(other) => {
                return Err(QueryError(format!(
                    "order direction '{other}' must be ASC or DESC"
                )))
            }
        };
        let path: Vec<String> = field.split('.').map(str::to_string).collect();
        keys.push((path, descending));
    }
    items.sort_by(|left, right| {
        for (path, descending) in &keys {
            let ordering = compare_values(resolve(left, path), resolve(right, path));
            let ordering = if *descending {
                ordering.reverse()
            } else {
                ordering
            };
            if ordering != Ordering::Equal {
                return ordering;
            }
        }
        Ordering::Equal
    });
    Ok(())
}

fn compare_values(left: Option<&Value>, right: Option<&Value>) -> Ordering {
    match (left, right) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(left), Some(right)) => {
            if let (Some(a), Some(b)) = (value_time(left), value_time(right)) {
                return a.cmp(&b);
            }
            if let (Value::Number(_), Value::Number(_)) = (left, right) {
                return decimal_from_json(left).cmp(&decimal_from_json(right));
            }
            value_text(left)
                .to_lowercase()
                .cmp(&value_text(right).to_lowercase())
        }
    }
}

fn value_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Reads `/Date(ms+0000)/` or an ISO date as milliseconds since the epoch.
fn value_time(value: &Value) -> Option<i64> {
    let text = value.as_str()?;
    if let Some(inner) = text
        .strip_prefix("/Date(")
        .and_then(|rest| rest.strip_suffix(")/"))
    {
        let digits_end = inner
            .char_indices()
            .skip(1)
            .find(|(_, c)| *c == '+' || *c == '-')
            .map_or(inner.len(), |(index, _)| index);
        return inner[..digits_end].parse().ok();
    }
    let date = text
        .get(..10)
        .and_then(|head| NaiveDate::parse_from_str(head, "%Y-%m-%d").ok())?;
    if text.len() > 10 && text.as_bytes()[10] != b'T' {
        return None;
    }
    parse_if_modified_since(text)
        .or_else(|| Some(Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0)?)))
        .map(|time| time.timestamp_millis())
}

/// Resolves a dotted path, matching field names case-insensitively.
fn resolve<'v>(value: &'v Value, path: &[String]) -> Option<&'v Value> {
    let mut current = value;
    for name in path {
        let object = current.as_object()?;
        current = object
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)?;
    }
    Some(current)
}

/// A parsed `where` expression. Xero's syntax is .NET's dynamic LINQ:
/// `Name=="x"`, `Status!="PAID"`, `Contact.ContactID==GUID("…")`,
/// `Date>=DateTime(2024,01,31)`, `Name.Contains("x")`, `StartsWith`,
/// `EndsWith`, joined with `&&`/`AND`, `||`/`OR`, `!`/`NOT` and brackets.
/// Text comparisons ignore case.
#[derive(Debug)]
pub(crate) enum Filter {
    Or(Box<Filter>, Box<Filter>),
    And(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    Compare {
        path: Vec<String>,
        operator: Operator,
        literal: Literal,
    },
    Method {
        path: Vec<String>,
        method: TextMethod,
        argument: String,
    },
    IsTrue(Vec<String>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operator {
    Equal,
    NotEqual,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum TextMethod {
    Contains,
    StartsWith,
    EndsWith,
}

#[derive(Debug, Clone)]
pub(crate) enum Literal {
    Text(String),
    Number(Decimal),
    Bool(bool),
    Null,
    /// Milliseconds since the epoch.
    Time(i64),
}

impl Filter {
    pub fn matches(&self, item: &Value) -> bool {
        match self {
            Filter::Or(left, right) => left.matches(item) || right.matches(item),
            Filter::And(left, right) => left.matches(item) && right.matches(item),
            Filter::Not(inner) => !inner.matches(item),
            Filter::IsTrue(path) => resolve(item, path) == Some(&Value::Bool(true)),
            Filter::Method {
                path,
                method,
                argument,
            } => {
                let Some(value) = resolve(item, path).and_then(Value::as_str) else {
                    return false;
                };
                let (value, argument) = (value.to_lowercase(), argument.to_lowercase());
                match method {
                    TextMethod::Contains => value.contains(&argument),
                    TextMethod::StartsWith => value.starts_with(&argument),
                    TextMethod::EndsWith => value.ends_with(&argument),
                }
            }
            Filter::Compare {
                path,
                operator,
                literal,
            } => compare(resolve(item, path), *operator, literal),
        }
    }
}

fn compare(value: Option<&Value>, operator: Operator, literal: &Literal) -> bool {
    let value = value.filter(|value| !value.is_null());
    let ordering = match (value, literal) {
        (None, Literal::Null) => Some(Ordering::Equal),
        (Some(_), Literal::Null) | (None, _) => None,
        (Some(value), Literal::Text(text)) => match value {
            Value::String(actual) => Some(actual.to_lowercase().cmp(&text.to_lowercase())),
            Value::Number(_) => decimal_from_json(value)
                .zip(text.parse::<Decimal>().ok())
                .map(|(a, b)| a.cmp(&b)),
            Value::Bool(actual) => Some(actual.to_string().cmp(&text.to_lowercase())),
            _ => None,
        },
        (Some(value), Literal::Number(number)) => {
            decimal_from_json(value).map(|actual| actual.cmp(number))
        }
        (Some(value), Literal::Bool(expected)) => {
            value.as_bool().map(|actual| actual.cmp(expected))
        }
        (Some(value), Literal::Time(millis)) => value_time(value).map(|actual| actual.cmp(millis)),
    };
    match (operator, ordering) {
        (Operator::NotEqual, None) => true,
        (_, None) => false,
        (Operator::Equal, Some(ordering)) => ordering == Ordering::Equal,
        (Operator::NotEqual, Some(ordering)) => ordering != Ordering::Equal,
        (Operator::Less, Some(ordering)) => ordering == Ordering::Less,
        (Operator::LessOrEqual, Some(ordering)) => ordering != Ordering::Greater,
        (Operator::Greater, Some(ordering)) => ordering == Ordering::Greater,
        (Operator::GreaterOrEqual, Some(ordering)) => ordering != Ordering::Less,
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Text(String),
    Number(String),
    Symbol(&'static str),
}

fn tokenize(text: &str) -> Result<Vec<Token>, QueryError> {
    const SYMBOLS: [&str; 14] = [
        "==", "!=", ">=", "<=", "&&", "||", "=", ">", "<", "!", "(", ")", ",", ".",
    ];
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut index = 0;
    'outer: while index < chars.len() {
        let c = chars[index];
        if c.is_whitespace() {
            index += 1;
            continue;
        }
        if c == '"' {
            let mut value = String::new();
            index += 1;
            loop {
                match chars.get(index) {
                    None => {
                        return Err(QueryError(format!(
                            "unterminated string in where clause: {text}"
                        )))
                    }
                    Some('\\') if chars.get(index + 1) == Some(&'"') => {
                        value.push('"');
                        index += 2;
                    }
                    Some('"') => {
                        index += 1;
                        break;
                    }
                    Some(other) => {
                        value.push(*other);
                        index += 1;
                    }
                }
            }
            tokens.push(Token::Text(value));
            continue;
        }
        if c.is_ascii_digit()
            || (c == '-' && chars.get(index + 1).is_some_and(char::is_ascii_digit))
        {
            let start = index;
            index += 1;
            while index < chars.len() && (chars[index].is_ascii_digit() || chars[index] == '.') {
                index += 1;
            }
            tokens.push(Token::Number(chars[start..index].iter().collect()));
            continue;
        }
        if c.is_alphabetic() || c == '_' {
            let start = index;
            while index < chars.len() && (chars[index].is_alphanumeric() || chars[index] == '_') {
                index += 1;
            }
            tokens.push(Token::Word(chars[start..index].iter().collect()));
            continue;
        }
        for symbol in SYMBOLS {
            let matches = symbol
                .chars()
                .enumerate()
                .all(|(offset, s)| chars.get(index + offset) == Some(&s));
            if matches {
                tokens.push(Token::Symbol(symbol));
                index += symbol.len();
                continue 'outer;
            }
        }
        return Err(QueryError(format!(
            "unexpected character '{c}' in where clause: {text}"
        )));
    }
    Ok(tokens)
}

pub(crate) fn parse_where(text: &str) -> Result<Filter, QueryError> {
    let tokens = tokenize(text)?;
    let mut parser = Parser {
        tokens,
        position: 0,
        text,
    };
    let filter = parser.or()?;
    if parser.position != parser.tokens.len() {
        return Err(parser.error("unexpected text after the expression"));
    }
    Ok(filter)
}

struct Parser<'t> {
    tokens: Vec<Token>,
    position: usize,
    text: &'t str,
}

impl Parser<'_> {
    fn error(&self, what: &str) -> QueryError {
        QueryError(format!("{what} in where clause: {}", self.text))
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.position)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.position).cloned();
        self.position += 1;
        token
    }

    fn eat_symbol(&mut self, symbol: &'static str) -> bool {
        if self.peek() == Some(&Token::Symbol(symbol)) {
            self.position += 1;
            return true;
        }
        false
    }

    fn eat_word(&mut self, word: &str) -> bool {
        if let Some(Token::Word(found)) = self.peek() {
            if found.eq_ignore_ascii_case(word) {
                self.position += 1;
                return true;
            }
        }
        false
    }

    fn expect_symbol(&mut self, symbol: &'static str) -> Result<(), QueryError> {
        if self.eat_symbol(symbol) {
            Ok(())
        } else {
            Err(self.error(&format!("expected '{symbol}'")))
        }
    }

    fn or(&mut self) -> Result<Filter, QueryError> {
        let mut left = self.and()?;
        while self.eat_symbol("||") || self.eat_word("OR") {
            let right = self.and()?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, QueryError> {
        let mut left = self.unary()?;
        while self.eat_symbol("&&") || self.eat_word("AND") {
            let right = self.unary()?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Filter, QueryError> {
        if self.eat_symbol("!") || self.eat_word("NOT") {
            return Ok(Filter::Not(Box::new(self.unary()?)));
        }
        if self.eat_symbol("(") {
            let inner = self.or()?;
            self.expect_symbol(")")?;
            return Ok(inner);
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Filter, QueryError> {
        let mut path = Vec::new();
        loop {
            match self.next() {
                Some(Token::Word(name)) => path.push(name),
                _ => return Err(self.error("expected a field name")),
            }
            if !self.eat_symbol(".") {
                break;
            }
        }

        if self.eat_symbol("(") {
            let method_name = path.pop().unwrap_or_default();
            let method = match method_name.to_ascii_lowercase().as_str() {
                "contains" => TextMethod::Contains,
                "startswith" => TextMethod::StartsWith,
                "endswith" => TextMethod::EndsWith,
                _ => return Err(self.error(&format!("unknown method '{method_name}'"))),
            };
            let Some(Token::Text(argument)) = self.next() else {
                return Err(self.error("expected a quoted string"));
            };
            self.expect_symbol(")")?;
            return Ok(Filter::Method {
                path,
                method,
                argument,
            });
        }

        let operator = match self.peek() {
            Some(Token::Symbol("==" | "=")) => Operator::Equal,
            Some(Token::Symbol("!=")) => Operator::NotEqual,
            Some(Token::Symbol("<")) => Operator::Less,
            Some(Token::Symbol("<=")) => Operator::LessOrEqual,
            Some(Token::Symbol(">")) => Operator::Greater,
            Some(Token::Symbol(">=")) => Operator::GreaterOrEqual,
            _ => return Ok(Filter::IsTrue(path)),
        };
        self.position += 1;
        let literal = self.literal()?;
        Ok(Filter::Compare {
            path,
            operator,
            literal,
        })
    }

    fn literal(&mut self) -> Result<Literal, QueryError> {
        match self.next() {
            Some(Token::Text(text)) => Ok(Literal::Text(text)),
            Some(Token::Number(text)) => text
                .parse()
                .map(Literal::Number)
                .map_err(|_| self.error(&format!("'{text}' is not a number"))),
            Some(Token::Word(word)) => match word.to_ascii_lowercase().as_str() {
                "true" => Ok(Literal::Bool(true)),
                "false" => Ok(Literal::Bool(false)),
                "null" => Ok(Literal::Null),
                "guid" => {
                    self.expect_symbol("(")?;
                    let Some(Token::Text(text)) = self.next() else {
                        return Err(self.error("expected a quoted GUID"));
                    };
                    self.expect_symbol(")")?;
                    Ok(Literal::Text(text))
                }
                "datetime" => self.date_time(),
                _ => Err(self.error(&format!("unexpected word '{word}'"))),
            },
            _ => Err(self.error("expected a value")),
        }
    }

    /// Parses the rest of `DateTime(2024,01,31[,hh,mm,ss])`.
    fn date_time(&mut self) -> Result<Literal, QueryError> {
        self.expect_symbol("(")?;
        let mut parts = Vec::new();
        loop {
            match self.next() {
                Some(Token::Number(text)) => parts.push(
                    text.parse::<u32>()
                        .map_err(|_| self.error(&format!("'{text}' is not a whole number")))?,
                ),
                _ => return Err(self.error("expected a number in DateTime")),
            }
            if self.eat_symbol(")") {
                break;
            }
            self.expect_symbol(",")?;
        }
        parts.resize(6, 0);
        let date = NaiveDate::from_ymd_opt(parts[0] as i32, parts[1], parts[2])
            .and_then(|date| date.and_hms_opt(parts[3], parts[4], parts[5]))
            .ok_or_else(|| self.error("invalid DateTime"))?;
        Ok(Literal::Time(
            Utc.from_utc_datetime(&date).timestamp_millis(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invoice() -> Value {
        json!({
            "InvoiceNumber": "INV-1",
            "Status": "AUTHORISED",
            "AmountDue": 12.50,
            "Date": "/Date(1539993600000+0000)/",
            "Contact": {"ContactID": "ABC", "Name": "Acme Ltd"},
            "HasErrors": false
        })
    }

    fn matches(text: &str) -> bool {
        parse_where(text).unwrap().matches(&invoice())
    }

    #[test]
    fn where_equality_ignores_case() {
        assert!(matches(r#"Status=="authorised""#));
        assert!(matches(r#"Contact.Name == "ACME LTD""#));
        assert!(!matches(r#"Status=="PAID""#));
    }

    #[test]
    fn where_or_and_not() {
        assert!(matches(r#"Status=="PAID" || InvoiceNumber=="INV-1""#));
        assert!(matches(r#"Status=="PAID" OR InvoiceNumber=="INV-1""#));
        assert!(!matches(
            r#"Status=="AUTHORISED" AND InvoiceNumber=="INV-2""#
        ));
        assert!(matches(r#"!(Status=="PAID")"#));
    }

    #[test]
    fn where_numbers_dates_guids_methods() {
        assert!(matches("AmountDue > 10"));
        assert!(!matches("AmountDue >= 12.51"));
        assert!(matches("Date >= DateTime(2018,10,20)"));
        assert!(!matches("Date > DateTime(2018,10,20)"));
        assert!(matches(r#"Contact.ContactID==GUID("abc")"#));
        assert!(matches(r#"Contact.Name.Contains("acme")"#));
        assert!(matches(r#"InvoiceNumber.StartsWith("INV")"#));
    }

    #[test]
    fn where_rejects_garbage() {
        assert!(parse_where("Status ==").is_err());
        assert!(parse_where(r#"Status == "open"#).is_err());
        assert!(parse_where("Name.Explode(\"x\")").is_err());
    }
}
