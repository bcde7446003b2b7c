//! Invoices and credit notes: Xero's totals and rounding, its per-element
//! validation of batch writes, and the filters of `GET /Invoices` and
//! `GET /CreditNotes`.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};

use super::accounting::{batch_response, ApiResponse, Call, ElementResult};
use super::books::{Books, Contact, DocKind, Document, Line};
use super::contacts::{active_by_name, duplicate_name_message};
use super::fields::{body_elements, Fields};
use super::format::{
    date_string, decimal_json, money_json, ms_date, ms_date_of_day, round2, round_dp,
};
use super::query::{
    bool_param, filter_and_order, if_modified_since, list_param, modified_since, Paging,
};

/// Names that differ between invoices and credit notes.
struct Names {
    collection: &'static str,
    id_field: &'static str,
    number_field: &'static str,
    noun: &'static str,
    types: [&'static str; 2],
    number_prefix: &'static str,
}

fn names(kind: DocKind) -> Names {
    match kind {
        DocKind::Invoice => Names {
            collection: "Invoices",
            id_field: "InvoiceID",
            number_field: "InvoiceNumber",
            noun: "Invoice",
            types: ["ACCREC", "ACCPAY"],
            number_prefix: "INV-",
        },
        DocKind::CreditNote => Names {
            collection: "CreditNotes",
            id_field: "CreditNoteID",
            number_field: "CreditNoteNumber",
            noun: "Credit Note",
            types: ["ACCRECCREDIT", "ACCPAYCREDIT"],
            number_prefix: "CN-",
        },
    }
}

/// Returns whether the type is a sales document (`ACCREC`, `ACCRECCREDIT`).
/// These need unique numbers, while Xero allows repeated numbers on bills.
fn is_receivable(doc_type: &str) -> bool {
    doc_type.starts_with("ACCREC")
}

// ---------------------------------------------------------------------------
// Rendering

/// Renders a document the way Xero's GET returns it. Lists without `page`
/// leave out `LineItems`, as Xero does.
pub(crate) fn document_json(
    books: &Books,
    document: &Document,
    unitdp: u32,
    with_lines: bool,
) -> Value {
    let names = names(document.kind);
    let mut record = Map::new();
    let mut put = |key: &str, value: Value| {
        record.insert(key.to_string(), value);
    };

    put("Type", json!(document.doc_type));
    put(names.id_field, json!(document.id));
    put(names.number_field, json!(document.number));
    if let Some(reference) = &document.reference {
        put("Reference", json!(reference));
    }
    match document.kind {
        DocKind::Invoice => {
            put("Payments", Value::Array(invoice_payments(books, document)));
            put(
                "CreditNotes",
                Value::Array(invoice_credit_notes(books, document)),
            );
            put("Prepayments", json!([]));
            put("Overpayments", json!([]));
            put("AmountDue", money_json(document.amount_due()));
            put("AmountPaid", money_json(document.amount_paid));
            put("AmountCredited", money_json(document.amount_credited));
        }
        DocKind::CreditNote => {
            put("Payments", json!([]));
            put(
                "Allocations",
                Value::Array(credit_note_allocations(books, document)),
            );
            put("RemainingCredit", money_json(document.amount_due()));
            put("AppliedAmount", money_json(document.amount_credited));
        }
    }
    put("CurrencyRate", decimal_json(document.currency_rate, 6));
    let discounted = document
        .lines
        .iter()
        .any(|line| line.discount_rate.is_some() || line.discount_amount.is_some());
    put("IsDiscounted", json!(discounted));
    put("HasAttachments", json!(false));
    put("HasErrors", json!(false));
    put(
        "Contact",
        contact_summary(books.contact(&document.contact_id), &document.contact_id),
    );
    put("DateString", json!(date_string(document.date)));
    put("Date", json!(ms_date_of_day(document.date)));
    if let Some(due) = document.due_date {
        put("DueDateString", json!(date_string(due)));
        put("DueDate", json!(ms_date_of_day(due)));
    }
    if let Some(theme) = &document.branding_theme_id {
        put("BrandingThemeID", json!(theme));
    }
    if let Some(url) = &document.url {
        put("Url", json!(url));
    }
    put("Status", json!(document.status));
    put("LineAmountTypes", json!(document.line_amount_types));
    if with_lines {
        let lines = document
            .lines
            .iter()
            .map(|line| line_json(line, unitdp))
            .collect();
        put("LineItems", Value::Array(lines));
    }
    put("SubTotal", money_json(document.sub_total));
    put("TotalTax", money_json(document.total_tax));
    put("Total", money_json(document.total));
    put("UpdatedDateUTC", json!(ms_date(document.updated)));
    put("CurrencyCode", json!(document.currency_code));
    if let Some(paid_on) = document.fully_paid_on {
        put("FullyPaidOnDate", json!(ms_date_of_day(paid_on)));
    }
    Value::Object(record)
}

fn contact_summary(contact: Option<&Contact>, contact_id: &str) -> Value {
    let Some(contact) = contact else {
        return json!({ "ContactID": contact_id });
    };
    let mut summary = json!({
        "ContactID": contact.id,
        "Name": contact.name,
        "ContactStatus": contact.status,
    });
    if let Some(number) = &contact.contact_number {
        summary["ContactNumber"] = json!(number);
    }
    summary
}

fn line_json(line: &Line, unitdp: u32) -> Value {
    let mut record = json!({
        "LineItemID": line.id,
        "Quantity": decimal_json(line.quantity, 4),
        "UnitAmount": decimal_json(line.unit_amount, unitdp),
        "TaxAmount": money_json(line.tax_amount),
        "LineAmount": money_json(line.line_amount),
        "Tracking": [],
    });
    let optional = [
        ("Description", &line.description),
        ("ItemCode", &line.item_code),
        ("AccountCode", &line.account_code),
        ("TaxType", &line.tax_type),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            record[name] = json!(value);
        }
    }
    if let Some(rate) = line.discount_rate {
        record["DiscountRate"] = money_json(rate);
    }
    if let Some(amount) = line.discount_amount {
        record["DiscountAmount"] = money_json(amount);
    }
    record
}

fn invoice_payments(books: &Books, invoice: &Document) -> Vec<Value> {
    books
        .payments
        .iter()
        .filter(|payment| payment.invoice_id == invoice.id && payment.status == "AUTHORISED")
        .map(|payment| {
            json!({
                "PaymentID": payment.id,
                "Date": ms_date_of_day(payment.date),
                "Amount": money_json(payment.amount),
                "Reference": payment.reference,
                "CurrencyRate": decimal_json(invoice.currency_rate, 6),
                "Status": payment.status,
                "HasAccount": true,
                "HasValidationErrors": false,
            })
        })
        .collect()
}

fn invoice_credit_notes(books: &Books, invoice: &Document) -> Vec<Value> {
    books
        .allocations
        .iter()
        .filter(|allocation| allocation.invoice_id == invoice.id)
        .filter_map(|allocation| {
            let credit_note = books
                .documents
                .iter()
                .find(|document| document.id == allocation.credit_note_id)?;
            Some(json!({
                "CreditNoteID": credit_note.id,
                "CreditNoteNumber": credit_note.number,
                "ID": credit_note.id,
                "AppliedAmount": money_json(allocation.amount),
                "DateString": date_string(allocation.date),
                "Date": ms_date_of_day(allocation.date),
                "Total": money_json(credit_note.total),
            }))
        })
        .collect()
}

fn credit_note_allocations(books: &Books, credit_note: &Document) -> Vec<Value> {
    books
        .allocations
        .iter()
        .filter(|allocation| allocation.credit_note_id == credit_note.id)
        .filter_map(|allocation| {
            let invoice = books
                .documents
                .iter()
                .find(|document| document.id == allocation.invoice_id)?;
            Some(json!({
                "AllocationID": allocation.id,
                "Amount": money_json(allocation.amount),
                "Date": ms_date_of_day(allocation.date),
                "Invoice": {
                    "InvoiceID": invoice.id,
                    "InvoiceNumber": invoice.number,
                },
            }))
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Reading

/// `GET /Invoices` and `GET /CreditNotes` with Xero's filters, applied in
/// this order: `IDs`, `InvoiceNumbers`, `ContactIDs`, `Statuses`,
/// `searchTerm`, `If-Modified-Since`, `where`, `order`, then paging.
pub(crate) fn list(books: &Books, call: &Call, kind: DocKind) -> ApiResponse {
    let incoming = call.incoming;
    let since = match if_modified_since(incoming) {
        Ok(since) => since,
        Err(error) => return ApiResponse::query_failed(error),
    };
    let paging = match Paging::from_query(incoming) {
        Ok(paging) => paging,
        Err(error) => return ApiResponse::query_failed(error),
    };
    let ids = list_param(incoming, "IDs");
    let numbers = list_param(incoming, "InvoiceNumbers").filter(|_| kind == DocKind::Invoice);
    let contact_ids = list_param(incoming, "ContactIDs");
    let statuses = list_param(incoming, "Statuses");
    let search = incoming
        .query_param("searchTerm")
        .map(|term| term.to_lowercase());
    let summary_only = bool_param(incoming, "summaryOnly").unwrap_or(false);
    let with_lines = paging.is_paged() && !summary_only;

    let contains = |list: &Option<Vec<String>>, value: &str| {
        list.as_ref()
            .is_none_or(|list| list.iter().any(|item| item.eq_ignore_ascii_case(value)))
    };
    let records: Vec<Value> = books
        .documents
        .iter()
        .filter(|document| document.kind == kind)
        .filter(|document| contains(&ids, &document.id))
        .filter(|document| {
            numbers
                .as_ref()
                .is_none_or(|numbers| numbers.contains(&document.number))
        })
        .filter(|document| contains(&contact_ids, &document.contact_id))
        .filter(|document| contains(&statuses, &document.status))
        .filter(|document| {
            search
                .as_deref()
                .is_none_or(|term| matches_search(document, term))
        })
        .filter(|document| modified_since(document.updated, since))
        .map(|document| document_json(books, document, call.unitdp, with_lines))
        .collect();

    let records = match filter_and_order(incoming, records) {
        Ok(records) => records,
        Err(error) => return ApiResponse::query_failed(error),
    };
    let (records, pagination) = paging.apply(records);
    ApiResponse::records(names(kind).collection, records, pagination, call.now)
}

/// Xero's `searchTerm` on invoices looks in InvoiceNumber and Reference.
fn matches_search(document: &Document, term: &str) -> bool {
    document.number.to_lowercase().contains(term)
        || document
            .reference
            .as_ref()
            .is_some_and(|reference| reference.to_lowercase().contains(term))
}

/// `GET /Invoices/{InvoiceID or InvoiceNumber}`, with line items.
pub(crate) fn get(books: &Books, call: &Call, kind: DocKind, key: &str) -> ApiResponse {
    let index = books
        .document_index(kind, key)
        .or_else(|| books.document_index_by_number(kind, key));
    match index {
        Some(index) => {
            let record = document_json(books, &books.documents[index], call.unitdp, true);
            ApiResponse::records(names(kind).collection, vec![record], None, call.now)
        }
        None => ApiResponse::not_found(),
    }
}

// ---------------------------------------------------------------------------
// Writing

struct DocumentInput {
    id: Option<String>,
    doc_type: Option<String>,
    number: Option<String>,
    contact: Option<ContactRef>,
    date: Option<NaiveDate>,
    due_date: Option<NaiveDate>,
    status: Option<String>,
    line_amount_types: Option<String>,
    lines: Option<Vec<LineInput>>,
    currency_code: Option<String>,
    currency_rate: Option<Decimal>,
    reference: Option<String>,
    branding_theme_id: Option<String>,
    url: Option<String>,
}

struct ContactRef {
    id: Option<String>,
    name: Option<String>,
    contact_number: Option<String>,
}

struct LineInput {
    id: Option<String>,
    description: Option<String>,
    quantity: Option<Decimal>,
    unit_amount: Option<Decimal>,
    line_amount: Option<Decimal>,
    item_code: Option<String>,
    account_code: Option<String>,
    tax_type: Option<String>,
    tax_amount: Option<Decimal>,
    discount_rate: Option<Decimal>,
    discount_amount: Option<Decimal>,
}

impl DocumentInput {
    /// Reads one element. An error here fails the whole request, as Xero's
    /// deserializer does.
    fn parse(kind: DocKind, fields: Fields) -> Result<DocumentInput, String> {
        let names = names(kind);
        let contact = match fields.object("Contact")? {
            Some(contact) => Some(ContactRef {
                id: contact.text("ContactID")?,
                name: contact.text("Name")?,
                contact_number: contact.text("ContactNumber")?,
            }),
            None => None,
        };
        let lines = match fields.array("LineItems")? {
            Some(items) => Some(
                items
                    .into_iter()
                    .map(LineInput::parse)
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            None => None,
        };
        Ok(DocumentInput {
            id: fields.text(names.id_field)?,
            doc_type: fields.text("Type")?.map(|text| text.to_ascii_uppercase()),
            number: fields
                .text(names.number_field)?
                .map(|text| text.trim().to_string()),
            contact,
            date: fields.date("Date")?,
            due_date: fields.date("DueDate")?,
            status: fields.text("Status")?.map(|text| text.to_ascii_uppercase()),
            line_amount_types: fields.text("LineAmountTypes")?,
            lines,
            currency_code: fields
                .text("CurrencyCode")?
                .map(|text| text.to_ascii_uppercase()),
            currency_rate: fields.decimal("CurrencyRate")?,
            reference: fields.text("Reference")?,
            branding_theme_id: fields.text("BrandingThemeID")?,
            url: fields.text("Url")?,
        })
    }
}

impl LineInput {
    fn parse(fields: Fields) -> Result<LineInput, String> {
        Ok(LineInput {
            id: fields.text("LineItemID")?,
            description: fields.text("Description")?,
            quantity: fields.decimal("Quantity")?,
            unit_amount: fields.decimal("UnitAmount")?,
            line_amount: fields.decimal("LineAmount")?,
            item_code: fields.text("ItemCode")?,
            account_code: fields.text("AccountCode")?,
            tax_type: fields.text("TaxType")?,
            tax_amount: fields.decimal("TaxAmount")?,
            discount_rate: fields.decimal("DiscountRate")?,
            discount_amount: fields.decimal("DiscountAmount")?,
        })
    }
}

/// Creates documents (`PUT`), or creates or updates them (`POST`). POST
/// updates the document found by ID, else by number, because according to
/// a community report Xero's POST updates an invoice with the same number
/// instead of rejecting it.
pub(crate) fn write(
    books: &mut Books,
    call: &Call,
    kind: DocKind,
    post: bool,
    path_id: Option<&str>,
) -> ApiResponse {
    let names = names(kind);
    let elements = match body_elements(call, names.collection) {
        Ok(elements) => elements,
        Err(response) => return response,
    };
    let mut inputs = Vec::with_capacity(elements.len());
    for element in &elements {
        match DocumentInput::parse(kind, Fields(element)) {
            Ok(input) => inputs.push(input),
            Err(message) => return ApiResponse::post_data_invalid(&message),
        }
    }
    if let (Some(path_id), Some(first)) = (path_id, inputs.first_mut()) {
        first.id = Some(path_id.to_string());
    }

    // Elements are handled in order, so a later element finds the numbers
    // and contacts that an earlier one saved.
    let results = inputs
        .into_iter()
        .map(|input| write_one(books, call, kind, post, input))
        .collect();
    batch_response(call, names.collection, "HasErrors", results)
}

/// Resolution of an element's contact, applied only if the element is
/// valid.
enum ContactChoice {
    Existing(String),
    Rename { id: String, name: String },
    Create(Contact),
}

impl ContactChoice {
    fn id(&self) -> &str {
        match self {
            ContactChoice::Existing(id) | ContactChoice::Rename { id, .. } => id,
            ContactChoice::Create(contact) => &contact.id,
        }
    }
}

fn write_one(
    books: &mut Books,
    call: &Call,
    kind: DocKind,
    post: bool,
    input: DocumentInput,
) -> ElementResult {
    let names = names(kind);
    let mut errors = Vec::new();
    let existing = find_target(books, kind, post, &input, &mut errors);
    let original = existing.map(|index| books.documents[index].clone());
    let mut document = original.clone().unwrap_or_else(|| new_document(kind, call));

    check_status_change(original.as_ref(), &input, names.noun, &mut errors);
    let contact_choice = resolve_contact(
        books,
        input.contact.as_ref(),
        original.is_none(),
        &mut errors,
    );
    if let Some(choice) = &contact_choice {
        document.contact_id = choice.id().to_string();
    }
    apply_fields(
        &mut document,
        &input,
        original.is_none(),
        &names,
        &mut errors,
    );
    // Xero accepts only the base currency and the currencies the
    // organisation added under Settings > Currencies.
    // NOTE: the wording of Xero's message for this case is not on record.
    if !books.currencies.contains(&document.currency_code) {
        errors.push(format!(
            "The currency {} is not enabled for this organisation. Add it under Settings > Currencies.",
            document.currency_code
        ));
    }
    match &input.lines {
        Some(lines) => {
            document.lines = build_lines(
                books,
                &document,
                lines,
                original.as_ref(),
                call.unitdp,
                &mut errors,
            );
        }
        None => retax_lines(books, &mut document),
    }
    compute_totals(&mut document);
    validate(books, &document, &names, &mut errors);

    if !errors.is_empty() {
        let mut record = document_json(books, &document, call.unitdp, true);
        if let Some(choice @ (ContactChoice::Create(_) | ContactChoice::Rename { .. })) =
            &contact_choice
        {
            record["Contact"] = contact_preview(choice);
        }
        return ElementResult { record, errors };
    }

    commit_contact(books, contact_choice, &document, call);
    if document.number.is_empty() && is_receivable(&document.doc_type) {
        document.number = next_number(books, kind);
    }
    document.updated = call.now;
    let index = match existing {
        Some(index) => {
            books.documents[index] = document;
            index
        }
        None => {
            books.documents.push(document);
            books.documents.len() - 1
        }
    };
    let record = document_json(books, &books.documents[index], call.unitdp, true);
    ElementResult { record, errors }
}

/// Shows the contact that a failed element would have created or renamed.
fn contact_preview(choice: &ContactChoice) -> Value {
    match choice {
        ContactChoice::Create(contact) => json!({ "ContactID": contact.id, "Name": contact.name }),
        ContactChoice::Rename { id, name } => json!({ "ContactID": id, "Name": name }),
        ContactChoice::Existing(id) => json!({ "ContactID": id }),
    }
}

fn new_document(kind: DocKind, call: &Call) -> Document {
    Document {
        kind,
        // An element that fails validation is returned with this ID
        // although it is never saved, as Xero does.
        id: uuid::Uuid::new_v4().to_string(),
        doc_type: String::new(),
        number: String::new(),
        contact_id: String::new(),
        date: call.now.date_naive(),
        due_date: None,
        status: "DRAFT".into(),
        line_amount_types: "Exclusive".into(),
        lines: Vec::new(),
        sub_total: Decimal::ZERO,
        total_tax: Decimal::ZERO,
        total: Decimal::ZERO,
        currency_code: "EUR".into(),
        currency_rate: Decimal::ONE,
        reference: None,
        branding_theme_id: None,
        url: None,
        amount_paid: Decimal::ZERO,
        amount_credited: Decimal::ZERO,
        fully_paid_on: None,
        updated: call.now,
    }
}

fn find_target(
    books: &Books,
    kind: DocKind,
    post: bool,
    input: &DocumentInput,
    errors: &mut Vec<String>,
) -> Option<usize> {
    let noun = names(kind).noun;
    if let Some(id) = &input.id {
        let index = books.document_index(kind, id);
        match (index, post) {
            (None, true) => errors.push(format!("The {noun} with ID {id} could not be found.")),
            (Some(_), false) => errors.push(format!(
                "The {noun} with ID {id} already exists. Use POST to update it."
            )),
            _ => {}
        }
        return index.filter(|_| post);
    }
    if !post {
        return None;
    }
    let number = input
        .number
        .as_deref()
        .filter(|number| !number.is_empty())?;
    books.documents.iter().position(|document| {
        document.kind == kind
            && document.number.eq_ignore_ascii_case(number)
            && !document.is_void_or_deleted()
            && input
                .doc_type
                .as_deref()
                .is_none_or(|doc_type| doc_type == document.doc_type)
    })
}

/// Checks the status an element requests against the document's current
/// status, following Xero's lifecycle: drafts may be approved or deleted,
/// approved documents may only be voided, and paid, voided or deleted ones
/// cannot change.
fn check_status_change(
    original: Option<&Document>,
    input: &DocumentInput,
    noun: &str,
    errors: &mut Vec<String>,
) {
    let Some(original) = original else {
        if let Some(status) = &input.status {
            if !matches!(status.as_str(), "DRAFT" | "SUBMITTED" | "AUTHORISED") {
                errors.push(format!(
                    "Status '{status}' cannot be set on a new {noun}. Use DRAFT, SUBMITTED or AUTHORISED."
                ));
            }
        }
        return;
    };

    if matches!(original.status.as_str(), "PAID" | "VOIDED" | "DELETED") {
        errors.push(format!("{noun} not of valid status for modification"));
        return;
    }
    let settled = original.amount_paid + original.amount_credited > Decimal::ZERO;
    if settled && (input.lines.is_some() || input.contact.is_some()) {
        errors.push(
            "This document cannot be edited as it has a payment or credit note allocated to it."
                .into(),
        );
    }
    let Some(wanted) = input.status.as_deref() else {
        return;
    };
    let allowed = match (original.status.as_str(), wanted) {
        (current, wanted) if current == wanted => true,
        ("DRAFT" | "SUBMITTED", "DRAFT" | "SUBMITTED" | "AUTHORISED" | "DELETED") => true,
        ("AUTHORISED", "VOIDED") => !settled,
        _ => false,
    };
    if !allowed {
        errors.push(format!(
            "{noun} not of valid status for modification: {} cannot become {wanted}",
            original.status
        ));
    }
}

/// Finds the element's contact. A contact given only by name is matched
/// against active contacts ignoring case, and created when none matches,
/// which is Xero's silent behaviour. Sending ContactID with a different
/// Name renames the contact, as it does in Xero.
fn resolve_contact(
    books: &Books,
    contact: Option<&ContactRef>,
    creating: bool,
    errors: &mut Vec<String>,
) -> Option<ContactChoice> {
    let missing = "A Contact must be specified for this type of transaction";
    let Some(contact) = contact else {
        if creating {
            errors.push(missing.into());
        }
        return None;
    };
    let name = contact
        .name
        .as_deref()
        .map(str::trim)
        .filter(|name| !name.is_empty());

    if let Some(id) = &contact.id {
        let Some(found) = books.contact(id) else {
            errors.push(format!(
                "The contact with ContactID {id} could not be found."
            ));
            return None;
        };
        return match name {
            Some(name) if name != found.name => {
                if active_by_name(books, name, Some(&found.id)).is_some() {
                    errors.push(duplicate_name_message(name));
                }
                Some(ContactChoice::Rename {
                    id: found.id.clone(),
                    name: name.to_string(),
                })
            }
            _ => Some(ContactChoice::Existing(found.id.clone())),
        };
    }

    if let Some(number) = &contact.contact_number {
        let by_number = books
            .contacts
            .iter()
            .find(|candidate| candidate.contact_number.as_deref() == Some(number.as_str()));
        if let Some(found) = by_number {
            return Some(ContactChoice::Existing(found.id.clone()));
        }
    }

    let Some(name) = name else {
        errors.push(missing.into());
        return None;
    };
    if let Some(found) = active_by_name(books, name, None) {
        return Some(ContactChoice::Existing(found.id.clone()));
    }
    // NOTE: whether Xero reuses, reactivates or duplicates an archived
    // contact of the same name is not documented. The double creates a new
    // active contact.
    Some(ContactChoice::Create(Contact {
        id: uuid::Uuid::new_v4().to_string(),
        name: name.to_string(),
        contact_number: contact.contact_number.clone(),
        account_number: None,
        email: None,
        first_name: None,
        last_name: None,
        tax_number: None,
        status: "ACTIVE".into(),
        is_customer: false,
        is_supplier: false,
        updated: chrono::Utc::now(),
    }))
}

fn commit_contact(
    books: &mut Books,
    choice: Option<ContactChoice>,
    document: &Document,
    call: &Call,
) {
    let receivable = is_receivable(&document.doc_type);
    let mark = |contact: &mut Contact| {
        let newly_marked = if receivable {
            !contact.is_customer
        } else {
            !contact.is_supplier
        };
        if receivable {
            contact.is_customer = true;
        } else {
            contact.is_supplier = true;
        }
        if newly_marked {
            contact.updated = call.now;
        }
    };
    match choice {
        None => {}
        Some(ContactChoice::Existing(id)) => {
            if let Some(contact) = books.contacts.iter_mut().find(|contact| contact.id == id) {
                mark(contact);
            }
        }
        Some(ContactChoice::Rename { id, name }) => {
            if let Some(contact) = books.contacts.iter_mut().find(|contact| contact.id == id) {
                contact.name = name;
                contact.updated = call.now;
                mark(contact);
            }
        }
        Some(ContactChoice::Create(mut contact)) => {
            contact.updated = call.now;
            mark(&mut contact);
            books.contacts.push(contact);
        }
    }
}

fn apply_fields(
    document: &mut Document,
    input: &DocumentInput,
    creating: bool,
    names: &Names,
    errors: &mut Vec<String>,
) {
    apply_type(document, input.doc_type.as_deref(), creating, names, errors);

    if let Some(number) = &input.number {
        document.number = number.clone();
    }
    if let Some(date) = input.date {
        document.date = date;
    }
    if input.due_date.is_some() {
        document.due_date = input.due_date;
    }
    if let Some(status) = &input.status {
        document.status = status.clone();
    }
    if input.reference.is_some() {
        document.reference = input.reference.clone();
    }
    if input.branding_theme_id.is_some() {
        document.branding_theme_id = input.branding_theme_id.clone();
    }
    if input.url.is_some() {
        document.url = input.url.clone();
    }

    if let Some(line_amount_types) = &input.line_amount_types {
        let known = ["Exclusive", "Inclusive", "NoTax"]
            .into_iter()
            .find(|known| known.eq_ignore_ascii_case(line_amount_types));
        match known {
            Some(known) => document.line_amount_types = known.into(),
            None => errors.push(format!(
                "'{line_amount_types}' is not a valid LineAmountTypes value. Use Exclusive, Inclusive or NoTax."
            )),
        }
    }

    apply_currency(document, input, creating, errors);
}

fn apply_type(
    document: &mut Document,
    doc_type: Option<&str>,
    creating: bool,
    names: &Names,
    errors: &mut Vec<String>,
) {
    let [first, second] = names.types;
    match doc_type {
        Some(doc_type) if names.types.contains(&doc_type) => {
            document.doc_type = doc_type.to_string()
        }
        Some(doc_type) => errors.push(format!(
            "'{doc_type}' is not a valid {} Type. Use {first} or {second}.",
            names.noun
        )),
        None if creating => errors.push(format!(
            "The {} Type is missing. Use {first} or {second}.",
            names.noun
        )),
        None => {}
    }
}

fn apply_currency(
    document: &mut Document,
    input: &DocumentInput,
    creating: bool,
    errors: &mut Vec<String>,
) {
    if let Some(currency) = &input.currency_code {
        if currency.len() == 3 && currency.chars().all(|c| c.is_ascii_uppercase()) {
            document.currency_code = currency.clone();
        } else {
            errors.push(format!("'{currency}' is not a valid currency code."));
        }
    }
    // NOTE: Xero fills in the day's XE.com rate for a foreign currency
    // without a CurrencyRate, but the double has no rates and uses 1.
    match input.currency_rate {
        Some(rate) if document.currency_code != "EUR" => document.currency_rate = rate,
        _ if input.currency_code.is_some() || creating => document.currency_rate = Decimal::ONE,
        _ => {}
    }
}

/// Builds the lines of an element and checks their accounts and tax types.
fn build_lines(
    books: &Books,
    document: &Document,
    inputs: &[LineInput],
    original: Option<&Document>,
    unitdp: u32,
    errors: &mut Vec<String>,
) -> Vec<Line> {
    let mut lines = Vec::with_capacity(inputs.len());
    for input in inputs {
        if input
            .description
            .as_deref()
            .is_none_or(|text| text.trim().is_empty())
        {
            push_once(
                errors,
                "The Description field is mandatory for each line item.".into(),
            );
        }

        let account = input
            .account_code
            .as_deref()
            .and_then(|code| books.account(code));
        if let Some(code) = &input.account_code {
            match account {
                None => push_once(
                    errors,
                    format!("Account code '{code}' is not a valid code for this document."),
                ),
                Some(account) if account.status != "ACTIVE" => push_once(
                    errors,
                    format!(
                        "Account code '{code}' has been archived, or has been deleted. \
                         Each line item must reference a valid account."
                    ),
                ),
                Some(account) if account.account_type == "BANK" => push_once(
                    errors,
                    format!("Account code '{code}' is not a valid code for this document."),
                ),
                Some(_) => {}
            }
        }

        // Without a TaxType, Xero uses the account's default tax type.
        let tax_type = input
            .tax_type
            .clone()
            .or_else(|| account.map(|account| account.tax_type.clone()));
        if let Some(tax_type) = &input.tax_type {
            let receivable = is_receivable(&document.doc_type);
            let usable = books.tax_rate(tax_type).is_some_and(|rate| {
                rate.status == "ACTIVE"
                    && if receivable {
                        rate.can_apply_to_revenue
                    } else {
                        rate.can_apply_to_expenses
                    }
            });
            if !usable {
                push_once(
                    errors,
                    format!("The TaxType code '{tax_type}' does not exist or cannot be used for this type of transaction."),
                );
            }
        }

        let (quantity, unit_amount, line_amount) = line_amounts(input, unitdp);
        let rate = tax_type
            .as_deref()
            .and_then(|tax_type| books.tax_rate(tax_type))
            .map_or(Decimal::ZERO, |rate| rate.rate);
        let tax_amount = match input.tax_amount {
            // Xero accepts an explicit TaxAmount in place of the computed one.
            Some(given) if document.line_amount_types != "NoTax" => round2(given),
            _ => line_tax(line_amount, rate, &document.line_amount_types),
        };

        let known_id = input.id.as_ref().filter(|id| {
            original.is_some_and(|original| {
                original
                    .lines
                    .iter()
                    .any(|line| line.id.eq_ignore_ascii_case(id))
            })
        });
        lines.push(Line {
            id: known_id
                .cloned()
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            description: input.description.clone(),
            quantity,
            unit_amount,
            item_code: input.item_code.clone(),
            account_code: input.account_code.clone(),
            tax_type: tax_type
                .filter(|_| document.line_amount_types != "NoTax" || input.tax_type.is_some()),
            tax_amount,
            line_amount,
            discount_rate: input.discount_rate,
            discount_amount: input.discount_amount,
        });
    }
    lines
}

fn push_once(errors: &mut Vec<String>, message: String) {
    if !errors.contains(&message) {
        errors.push(message);
    }
}

/// Returns quantity, unit amount and line amount as Xero computes them.
/// UnitAmount is rounded to 2 places (4 with `unitdp=4`) before use, and
/// LineAmount = round2(Quantity × UnitAmount × (100 − DiscountRate) / 100),
/// or Quantity × UnitAmount − DiscountAmount. When Quantity or UnitAmount
/// is missing, Xero derives it from LineAmount, and the double takes a
/// missing Quantity as 1.
fn line_amounts(input: &LineInput, unitdp: u32) -> (Decimal, Decimal, Decimal) {
    let quantity = input.quantity.map(|quantity| round_dp(quantity, 4));
    let unit_amount = input.unit_amount.map(|unit| round_dp(unit, unitdp));
    match (quantity, unit_amount, input.line_amount) {
        (quantity, Some(unit), _) => {
            let quantity = quantity.unwrap_or(Decimal::ONE);
            let gross = quantity * unit;
            let net = match (input.discount_rate, input.discount_amount) {
                (Some(rate), _) => gross * (Decimal::ONE_HUNDRED - rate) / Decimal::ONE_HUNDRED,
                (None, Some(amount)) => gross - amount,
                (None, None) => gross,
            };
            (quantity, unit, round2(net))
        }
        (Some(quantity), None, Some(amount)) if !quantity.is_zero() => (
            quantity,
            round_dp(amount / quantity, unitdp),
            round2(amount),
        ),
        (None, None, Some(amount)) => (Decimal::ONE, round_dp(amount, unitdp), round2(amount)),
        (quantity, None, _) => (
            quantity.unwrap_or(Decimal::ZERO),
            Decimal::ZERO,
            Decimal::ZERO,
        ),
    }
}

/// Computes one line's tax, rounded per line as Xero does. `rate` is a
/// percentage.
fn line_tax(line_amount: Decimal, rate: Decimal, line_amount_types: &str) -> Decimal {
    let fraction = rate / Decimal::ONE_HUNDRED;
    match line_amount_types {
        "NoTax" => Decimal::ZERO,
        "Inclusive" => round2(line_amount - line_amount / (Decimal::ONE + fraction)),
        _ => round2(line_amount * fraction),
    }
}

/// Recomputes each line's tax from its rate, for an update that changes
/// LineAmountTypes but sends no lines.
fn retax_lines(books: &Books, document: &mut Document) {
    let line_amount_types = document.line_amount_types.clone();
    for line in &mut document.lines {
        let rate = line
            .tax_type
            .as_deref()
            .and_then(|tax_type| books.tax_rate(tax_type))
            .map_or(Decimal::ZERO, |rate| rate.rate);
        line.tax_amount = line_tax(line.line_amount, rate, &line_amount_types);
    }
}

/// Sums the lines. With Inclusive amounts the line amounts contain the tax,
/// so SubTotal is their sum minus the tax.
fn compute_totals(document: &mut Document) {
    let line_sum: Decimal = document.lines.iter().map(|line| line.line_amount).sum();
    let total_tax: Decimal = document.lines.iter().map(|line| line.tax_amount).sum();
    let (sub_total, total) = match document.line_amount_types.as_str() {
        "Inclusive" => (line_sum - total_tax, line_sum),
        _ => (line_sum, line_sum + total_tax),
    };
    document.sub_total = sub_total;
    document.total_tax = total_tax;
    document.total = total;
}

/// Checks the rules that span the whole element.
fn validate(books: &Books, document: &Document, names: &Names, errors: &mut Vec<String>) {
    // Xero approves an invoice only with a due date.
    if document.kind == DocKind::Invoice
        && document.status == "AUTHORISED"
        && document.due_date.is_none()
    {
        errors.push("The document DueDate field must be specified".into());
    }
    if !document.number.is_empty() && is_receivable(&document.doc_type) {
        let number_in_use = books.documents.iter().any(|other| {
            other.kind == document.kind
                && other.id != document.id
                && other.doc_type == document.doc_type
                && !other.is_void_or_deleted()
                && other.number.eq_ignore_ascii_case(&document.number)
        });
        if number_in_use {
            errors.push(format!("{} # must be unique.", names.noun));
        }
    }
    if document.number.chars().count() > 255 {
        errors.push(format!(
            "{} must be at most 255 characters long.",
            names.number_field
        ));
    }
    // NOTE: Xero rejects negative documents (a negative invoice must be sent
    // as a credit note), but its exact message is not recorded.
    if document.total < Decimal::ZERO {
        errors.push("The document total cannot be negative.".into());
    }
}

/// Returns the next free automatic number, like Xero's `INV-0001`.
fn next_number(books: &mut Books, kind: DocKind) -> String {
    let prefix = names(kind).number_prefix;
    loop {
        let counter = match kind {
            DocKind::Invoice => &mut books.last_invoice_number,
            DocKind::CreditNote => &mut books.last_credit_note_number,
        };
        *counter += 1;
        let candidate = format!("{prefix}{:04}", *counter);
        let in_use = books
            .documents
            .iter()
            .any(|document| document.kind == kind && document.number == candidate);
        if !in_use {
            return candidate;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decimal(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    fn line(quantity: &str, unit: &str) -> LineInput {
        LineInput {
            id: None,
            description: Some("Work".into()),
            quantity: Some(decimal(quantity)),
            unit_amount: Some(decimal(unit)),
            line_amount: None,
            item_code: None,
            account_code: None,
            tax_type: None,
            tax_amount: None,
            discount_rate: None,
            discount_amount: None,
        }
    }

    #[test]
    fn unit_amount_rounds_to_unitdp_before_multiplying() {
        let input = line("100", "0.0875");
        let (_, unit, amount) = line_amounts(&input, 2);
        assert_eq!(unit, decimal("0.09"));
        assert_eq!(amount, decimal("9.00"));
        let (_, unit, amount) = line_amounts(&input, 4);
        assert_eq!(unit, decimal("0.0875"));
        assert_eq!(amount, decimal("8.75"));
    }

    #[test]
    fn discount_rate_applies_before_rounding() {
        let mut input = line("3", "33.33");
        input.discount_rate = Some(decimal("10"));
        let (_, _, amount) = line_amounts(&input, 2);
        // 3 × 33.33 × 0.9 = 89.991
        assert_eq!(amount, decimal("89.99"));
    }

    #[test]
    fn tax_is_rounded_per_line() {
        assert_eq!(
            line_tax(decimal("4607.50"), decimal("25"), "Exclusive"),
            decimal("1151.88")
        );
        assert_eq!(
            line_tax(decimal("125.00"), decimal("25"), "Inclusive"),
            decimal("25.00")
        );
        assert_eq!(
            line_tax(decimal("10.00"), decimal("13"), "Inclusive"),
            decimal("1.15")
        );
        assert_eq!(
            line_tax(decimal("10.00"), decimal("25"), "NoTax"),
            decimal("0")
        );
    }
}
