//! Contacts: listing with Xero's filters, and batch create or update with
//! its rule that names are unique among active contacts.

use serde_json::{json, Value};

use super::accounting::{batch_response, ApiResponse, Call, ElementResult};
use super::books::{Books, Contact};
use super::fields::{body_elements, Fields};
use super::format::ms_date;
use super::query::if_modified_since;
use super::query::{bool_param, filter_and_order, list_param, modified_since, Paging};

const MAX_NAME_LENGTH: usize = 255;
const MAX_NUMBER_LENGTH: usize = 50;

pub(crate) fn contact_json(contact: &Contact) -> Value {
    let mut record = json!({
        "ContactID": contact.id,
        "ContactStatus": contact.status,
        "Name": contact.name,
        "Addresses": [],
        "Phones": [],
        "UpdatedDateUTC": ms_date(contact.updated),
        "ContactGroups": [],
        "IsSupplier": contact.is_supplier,
        "IsCustomer": contact.is_customer,
        "ContactPersons": [],
        "HasAttachments": false,
        "HasValidationErrors": false,
    });
    let optional = [
        ("ContactNumber", &contact.contact_number),
        ("AccountNumber", &contact.account_number),
        ("EmailAddress", &contact.email),
        ("FirstName", &contact.first_name),
        ("LastName", &contact.last_name),
        ("TaxNumber", &contact.tax_number),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            record[name] = json!(value);
        }
    }
    record
}

/// Xero's message when a name is already used by another active contact.
pub(crate) fn duplicate_name_message(name: &str) -> String {
    format!(
        "The contact name {name} is already assigned to another contact. \
         The contact name must be unique across all active contacts."
    )
}

/// Finds an active contact by name, ignoring case, other than `except_id`.
pub(crate) fn active_by_name<'b>(
    books: &'b Books,
    name: &str,
    except_id: Option<&str>,
) -> Option<&'b Contact> {
    let name = name.trim().to_lowercase();
    books.contacts.iter().find(|contact| {
        contact.status == "ACTIVE"
            && contact.name.trim().to_lowercase() == name
            && except_id.is_none_or(|id| !contact.id.eq_ignore_ascii_case(id))
    })
}

pub(crate) fn list(books: &Books, call: &Call) -> ApiResponse {
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
    let include_archived = bool_param(incoming, "includeArchived").unwrap_or(false);
    let search = incoming
        .query_param("searchTerm")
        .map(|term| term.to_lowercase());

    let records: Vec<Value> = books
        .contacts
        .iter()
        .filter(|contact| include_archived || contact.status != "ARCHIVED")
        .filter(|contact| modified_since(contact.updated, since))
        .filter(|contact| {
            ids.as_ref()
                .is_none_or(|ids| ids.iter().any(|id| id.eq_ignore_ascii_case(&contact.id)))
        })
        .filter(|contact| {
            search
                .as_deref()
                .is_none_or(|term| matches_search(contact, term))
        })
        .map(contact_json)
        .collect();
    let records = match filter_and_order(incoming, records) {
        Ok(records) => records,
        Err(error) => return ApiResponse::query_failed(error),
    };
    let (records, pagination) = paging.apply(records);
    ApiResponse::records("Contacts", records, pagination, call.now)
}

/// Xero's `searchTerm` looks in Name, FirstName, LastName, ContactNumber and
/// EmailAddress, ignoring case.
fn matches_search(contact: &Contact, term: &str) -> bool {
    let fields = [
        Some(&contact.name),
        contact.first_name.as_ref(),
        contact.last_name.as_ref(),
        contact.contact_number.as_ref(),
        contact.email.as_ref(),
    ];
    fields
        .into_iter()
        .flatten()
        .any(|value| value.to_lowercase().contains(term))
}

/// `GET /Contacts/{ContactID or ContactNumber}`.
pub(crate) fn get(books: &Books, call: &Call, key: &str) -> ApiResponse {
    let found = books.contact(key).or_else(|| {
        books
            .contacts
            .iter()
            .find(|contact| contact.contact_number.as_deref() == Some(key))
    });
    match found {
        Some(contact) => {
            ApiResponse::records("Contacts", vec![contact_json(contact)], None, call.now)
        }
        None => ApiResponse::not_found(),
    }
}

struct ContactInput {
    id: Option<String>,
    name: Option<String>,
    contact_number: Option<String>,
    account_number: Option<String>,
    email: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    tax_number: Option<String>,
    status: Option<String>,
}

impl ContactInput {
    fn parse(fields: Fields) -> Result<ContactInput, String> {
        Ok(ContactInput {
            id: fields.text("ContactID")?,
            name: fields.text("Name")?,
            contact_number: fields.text("ContactNumber")?,
            account_number: fields.text("AccountNumber")?,
            email: fields.text("EmailAddress")?,
            first_name: fields.text("FirstName")?,
            last_name: fields.text("LastName")?,
            tax_number: fields.text("TaxNumber")?,
            status: fields.text("ContactStatus")?,
        })
    }
}

/// Creates contacts (`PUT /Contacts`), or creates or updates them
/// (`POST /Contacts`). POST updates the contact found by ContactID, else by
/// ContactNumber, else by active name.
pub(crate) fn write(
    books: &mut Books,
    call: &Call,
    post: bool,
    path_id: Option<&str>,
) -> ApiResponse {
    let elements = match body_elements(call, "Contacts") {
        Ok(elements) => elements,
        Err(response) => return response,
    };
    let mut inputs = Vec::with_capacity(elements.len());
    for element in &elements {
        match ContactInput::parse(Fields(element)) {
            Ok(input) => inputs.push(input),
            Err(message) => return ApiResponse::post_data_invalid(&message),
        }
    }
    if let (Some(path_id), Some(first)) = (path_id, inputs.first_mut()) {
        first.id = Some(path_id.to_string());
    }

    let results = inputs
        .into_iter()
        .map(|input| write_one(books, call, post, input))
        .collect();
    batch_response(call, "Contacts", "HasValidationErrors", results)
}

fn write_one(books: &mut Books, call: &Call, post: bool, input: ContactInput) -> ElementResult {
    let mut errors = Vec::new();
    let existing = find_target(books, post, &input, &mut errors);

    let mut contact = match existing {
        Some(index) => books.contacts[index].clone(),
        None => Contact {
            id: uuid::Uuid::new_v4().to_string(),
            name: String::new(),
            contact_number: None,
            account_number: None,
            email: None,
            first_name: None,
            last_name: None,
            tax_number: None,
            status: "ACTIVE".into(),
            is_customer: false,
            is_supplier: false,
            updated: call.now,
        },
    };
    apply_input(&mut contact, input);
    errors.extend(validate(books, &contact));

    let mut record = contact_json(&contact);
    if errors.is_empty() {
        contact.updated = call.now;
        record = contact_json(&contact);
        match existing {
            Some(index) => books.contacts[index] = contact,
            None => books.contacts.push(contact),
        }
    }
    ElementResult { record, errors }
}

fn find_target(
    books: &Books,
    post: bool,
    input: &ContactInput,
    errors: &mut Vec<String>,
) -> Option<usize> {
    if let Some(id) = &input.id {
        let index = books
            .contacts
            .iter()
            .position(|contact| contact.id.eq_ignore_ascii_case(id));
        if index.is_none() {
            errors.push(format!(
                "The contact with ContactID {id} could not be found."
            ));
        }
        if index.is_some() && !post {
            errors.push(format!(
                "The contact with ContactID {id} already exists. Use POST to update it."
            ));
        }
        return index.filter(|_| post);
    }
    if !post {
        return None;
    }
    if let Some(number) = &input.contact_number {
        let by_number = books
            .contacts
            .iter()
            .position(|contact| contact.contact_number.as_deref() == Some(number.as_str()));
        if by_number.is_some() {
            return by_number;
        }
    }
    let name = input.name.as_deref()?;
    let found = active_by_name(books, name, None)?;
    books
        .contacts
        .iter()
        .position(|contact| contact.id == found.id)
}

fn apply_input(contact: &mut Contact, input: ContactInput) {
    if let Some(name) = input.name {
        contact.name = name.trim().to_string();
    }
    let optional = [
        (&mut contact.contact_number, input.contact_number),
        (&mut contact.account_number, input.account_number),
        (&mut contact.email, input.email),
        (&mut contact.first_name, input.first_name),
        (&mut contact.last_name, input.last_name),
        (&mut contact.tax_number, input.tax_number),
    ];
    for (field, value) in optional {
        if value.is_some() {
            *field = value;
        }
    }
    if let Some(status) = input.status {
        contact.status = status.to_ascii_uppercase();
    }
}

fn validate(books: &Books, contact: &Contact) -> Vec<String> {
    let mut errors = Vec::new();
    if contact.name.is_empty() {
        errors.push("The contact name must be specified.".to_string());
    }
    if contact.name.chars().count() > MAX_NAME_LENGTH {
        errors.push(format!(
            "The contact name must be at most {MAX_NAME_LENGTH} characters long."
        ));
    }
    if contact.status == "ACTIVE"
        && !contact.name.is_empty()
        && active_by_name(books, &contact.name, Some(&contact.id)).is_some()
    {
        errors.push(duplicate_name_message(&contact.name));
    }
    if !matches!(
        contact.status.as_str(),
        "ACTIVE" | "ARCHIVED" | "GDPRREQUEST"
    ) {
        errors.push(format!(
            "ContactStatus '{}' is invalid. Use ACTIVE, ARCHIVED or GDPRREQUEST.",
            contact.status
        ));
    }
    for (label, value) in [
        ("ContactNumber", &contact.contact_number),
        ("AccountNumber", &contact.account_number),
    ] {
        if value
            .as_ref()
            .is_some_and(|value| value.chars().count() > MAX_NUMBER_LENGTH)
        {
            errors.push(format!(
                "The {label} must be at most {MAX_NUMBER_LENGTH} characters long."
            ));
        }
    }
    if let Some(account_number) = &contact.account_number {
        let number_in_use = books.contacts.iter().any(|other| {
            other.id != contact.id
                && other.account_number.as_deref() == Some(account_number.as_str())
        });
        if number_in_use {
            errors.push(
                "The Account Number already exists. Please enter a different Account Number."
                    .to_string(),
            );
        }
    }
    if let Some(email) = &contact.email {
        if !is_plausible_email(email) {
            errors.push(format!("The email address '{email}' is not valid."));
        }
    }
    errors
}

fn is_plausible_email(email: &str) -> bool {
    let Some((local, domain)) = email.trim().split_once('@') else {
        return email.trim().is_empty();
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.contains(' ')
}
