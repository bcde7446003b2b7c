//! `xerosync sync invoices EXPORT`: the month-end push.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::Duration;

use rust_decimal::Decimal;
use serde_json::{json, Value};

use crate::auth::store::open_store;
use crate::auth::tokens::load_token_set;
use crate::cli::{ExportFormat as CliFormat, SyncInvoicesArgs};
use crate::commands::{print_json, Context};
use crate::error::{Error, Kind, Result};
use crate::fsutil::FileLock;
use crate::productive::model::{DocumentKind, Invoice};
use crate::productive::{read_export, ExportFormat};
use crate::sync::invoices::{self as plan, DocumentReport, Outcome, BATCH_SIZE};
use crate::sync::state::SyncState;

pub async fn run(context: &Context, args: SyncInvoicesArgs) -> Result<i32> {
    let settings = &context.settings;
    let mapping = &settings.mapping;
    let file = args.export.display().to_string();

    let format = match args.format {
        Some(CliFormat::Csv) => ExportFormat::Csv,
        Some(CliFormat::Jsonapi) => ExportFormat::JsonApi,
        None => ExportFormat::from_path_extension(&args.export)?,
    };
    let export = read_export(&args.export, format, mapping)?;
    // The reader has already validated the file; only the mapping checks remain.
    let mut problems = export.problems;
    problems.extend(plan::mapping_problems(&file, &export.invoices, mapping));
    if !problems.is_empty() {
        problems.sort_by_key(|p| p.line);
        for problem in &problems {
            eprintln!("{problem}");
        }
        return Err(Error::invalid_input(format!(
            "{} problem{} in {file}; nothing was sent to Xero. Fix the export (or the [mapping] in {}) and run again",
            problems.len(),
            if problems.len() == 1 { "" } else { "s" },
            settings.config_path.display()
        )));
    }
    let invoices = export.invoices;
    if invoices.is_empty() {
        return Err(Error::invalid_input(format!(
            "{file} contains no invoices; check that the export covers the right period and is not only the header row"
        )));
    }

    let store = open_store(settings.token_store, settings.profile_dir());
    let connected = load_token_set(store.as_ref(), &settings.profile)?.is_some()
        && settings.profile_section.tenant_id.is_some();
    if args.dry_run && !connected {
        let reports = invoices
            .iter()
            .map(|invoice| offline_report(invoice, mapping))
            .collect::<Vec<_>>();
        print_report(context, None, true, &reports);
        if !context.global.json && !context.global.quiet {
            eprintln!("Dry run without a Xero connection: the file is valid; contacts, accounts and tax types were not checked against Xero.");
        }
        return Ok(0);
    }

    let _lock = FileLock::acquire(
        &settings.profile_dir().join("sync.lock"),
        Duration::from_secs(60),
        "another xerosync sync of this profile",
    )?;
    let client = context.tenant_client()?;
    let tenant = client
        .tenant()
        .cloned()
        .expect("a tenant client has a tenant");
    let profile_dir = settings.profile_dir();
    let mut state = SyncState::load(&profile_dir, &tenant.id)?;

    plan::check_mapping_against_organisation(
        &client,
        &invoices,
        mapping,
        &settings.config_path.display().to_string(),
    )
    .await?;

    let mut reports: Vec<DocumentReport> = invoices
        .iter()
        .map(|invoice| offline_report(invoice, mapping))
        .collect();
    for report in &mut reports {
        report.payload = None;
    }

    // Already recorded by an earlier run of this profile: no look-up needed.
    let mut unknown: Vec<&Invoice> = Vec::new();
    for (index, invoice) in invoices.iter().enumerate() {
        match state.documents.get(&invoice.productive_id) {
            Some(pushed) => {
                let report = &mut reports[index];
                report.outcome = Outcome::AlreadySynced;
                report.xero_id = Some(pushed.xero_id.clone());
                let expected_total = plan::xero_sign(invoice, invoice.gross);
                if pushed.number != invoice.number
                    || pushed.currency != invoice.currency
                    || pushed.total != expected_total
                {
                    report.needs_attention = true;
                    report.messages.push(format!(
                        "this Productive invoice was pushed earlier as {} ({} {}) and now reads {} ({} {}); xerosync does not update invoices in Xero, so change it there by hand",
                        pushed.number, pushed.total, pushed.currency, invoice.number, expected_total, invoice.currency
                    ));
                }
            }
            None => unknown.push(invoice),
        }
    }

    let existing = plan::find_existing(&client, &unknown).await?;
    let mut to_create: Vec<usize> = Vec::new();
    for (index, invoice) in invoices.iter().enumerate() {
        if reports[index].outcome == Outcome::AlreadySynced {
            continue;
        }
        let report = &mut reports[index];
        match existing.get(&invoice.productive_id) {
            Some(document) if matches!(document.status.as_str(), "DELETED" | "VOIDED") => {
                report.outcome = Outcome::Skipped;
                report.xero_id = Some(document.id.clone());
                report.needs_attention = true;
                report.messages.push(format!(
                    "Xero already has {} as {} (id {}); xerosync does not create it again. Give it a new number in Productive if it must be sent",
                    invoice.number, document.status, document.id
                ));
            }
            Some(document) => {
                report.outcome = Outcome::AlreadySynced;
                report.xero_id = Some(document.id.clone());
                if let Some(export_id) = invoice.export_id.as_ref().filter(|id| **id != document.id)
                {
                    report.messages.push(format!(
                        "the export names Xero id {export_id}, but Xero has this number under {}",
                        document.id
                    ));
                }
                plan::remember(
                    &mut state,
                    invoice,
                    &document.id,
                    document
                        .total
                        .unwrap_or_else(|| plan::xero_sign(invoice, invoice.gross)),
                );
            }
            None if invoice.exported => {
                report.outcome = Outcome::Skipped;
                report.needs_attention = true;
                report.messages.push(format!(
                    "the export marks {} as already exported to Xero (id {}), but Xero has neither that id nor that number; \
                     check it in Xero, and if it is really missing, clear \"Exported\" in Productive and export again",
                    invoice.number,
                    invoice.export_id.as_deref().unwrap_or("none")
                ));
            }
            None => to_create.push(index),
        }
    }
    state.save(&profile_dir)?;

    // Contacts of the documents still to create.
    let mut clients: Vec<&crate::productive::model::Client> = Vec::new();
    for &index in &to_create {
        let client_ref = &invoices[index].client;
        if !clients.iter().any(|c| c.id == client_ref.id) {
            clients.push(client_ref);
        }
    }
    let (mut contacts, missing) = plan::match_contacts(&client, &clients, mapping, &state).await?;
    for (key, result) in &contacts {
        if let Ok(contact_id) = result {
            state.contacts.insert(key.clone(), contact_id.clone());
        }
    }
    if args.dry_run {
        for productive_client in &missing {
            contacts.insert(productive_client.id.clone(), Ok("(new contact)".into()));
        }
    } else if !missing.is_empty() {
        contacts.extend(
            plan::create_contacts(&client, &missing, mapping, &mut state, &profile_dir).await?,
        );
    }
    state.save(&profile_dir)?;

    let mut ready: Vec<(usize, Value)> = Vec::new();
    for &index in &to_create {
        let invoice = &invoices[index];
        match contacts.get(&invoice.client.id) {
            Some(Ok(contact_id)) => {
                ready.push((index, plan::payload(invoice, mapping, Some(contact_id))))
            }
            Some(Err(reason)) => {
                reports[index].outcome = Outcome::Skipped;
                reports[index].needs_attention = true;
                reports[index].messages.push(reason.clone());
            }
            None => {
                reports[index].outcome = Outcome::Skipped;
                reports[index].needs_attention = true;
                reports[index].messages.push(format!(
                    "no Xero contact could be matched or created for client \"{}\"",
                    invoice.client.name
                ));
            }
        }
    }

    if args.dry_run {
        for (index, payload) in ready {
            reports[index].outcome = Outcome::WouldCreate;
            reports[index].payload = Some(payload);
        }
        print_report(context, Some(&tenant), true, &reports);
        return Ok(if reports.iter().any(|r| r.needs_attention) {
            1
        } else {
            0
        });
    }

    let mut batches = Vec::new();
    for kind in [DocumentKind::Invoice, DocumentKind::CreditNote] {
        let of_kind: Vec<&(usize, Value)> = ready
            .iter()
            .filter(|(index, _)| invoices[*index].kind == kind)
            .collect();
        for chunk in of_kind.chunks(BATCH_SIZE) {
            let indexes = chunk.iter().map(|(index, _)| *index).collect();
            let payloads = chunk.iter().map(|(_, payload)| payload.clone()).collect();
            batches.push((plan::endpoint_for(kind), indexes, payloads));
        }
    }

    let progress = progress_bar(context, ready.len() as u64);
    let mut first_error: Option<Error> = None;
    let mut duplicates: Vec<usize> = Vec::new();
    let sent = plan::send_batches(&client, &tenant.id, batches, |_endpoint, batch| {
        match batch.outcome {
            Ok(elements) => {
                for (index, element) in batch.indexes.iter().zip(elements) {
                    let invoice = &invoices[*index];
                    let report = &mut reports[*index];
                    match (element.ok, element.document) {
                        (true, Some(document)) => {
                            report.outcome = Outcome::Created;
                            report.xero_id = Some(document.id.clone());
                            report.xero_total = document.total;
                            plan::remember(
                                &mut state,
                                invoice,
                                &document.id,
                                document.total.unwrap_or_default(),
                            );
                            if let Some(difference) = plan::compare_totals(invoice, document.total)
                            {
                                report.messages.push(difference);
                                report.needs_attention = true;
                            }
                        }
                        (_, _)
                            if element
                                .messages
                                .iter()
                                .any(|m| m.contains("must be unique")) =>
                        {
                            // Xero already has this number (created by someone
                            // else, or outside the date range looked up).
                            duplicates.push(*index);
                            report.messages.extend(element.messages);
                        }
                        (_, _) => {
                            report.outcome = Outcome::Rejected;
                            report.needs_attention = true;
                            report.messages.extend(element.messages);
                        }
                    }
                }
                state.save(&profile_dir)?;
            }
            Err(err) => {
                for index in &batch.indexes {
                    reports[*index].outcome = Outcome::Skipped;
                    reports[*index].needs_attention = true;
                    reports[*index]
                        .messages
                        .push(format!("not sent: {}", err.message));
                }
                if first_error.is_none() {
                    first_error = Some(err);
                }
            }
        }
        if let Some(bar) = &progress {
            bar.inc(batch.indexes.len() as u64);
        }
        Ok(())
    })
    .await;
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    sent?;
    recheck_numbers(&client, &invoices, &duplicates, &mut reports, &mut state).await?;

    if first_error.is_none() {
        state.last_invoices_sync = Some(chrono::Utc::now());
    }
    state.save(&profile_dir)?;
    print_report(context, Some(&tenant), false, &reports);

    if let Some(err) = first_error {
        let kind = if err.kind == Kind::Failed {
            Kind::Failed
        } else {
            err.kind
        };
        return Err(Error::new(
            kind,
            format!(
                "some batches were not sent ({}); run the same command again, which is safe",
                err.message
            ),
        ));
    }
    Ok(if reports.iter().any(|r| r.needs_attention) {
        1
    } else {
        0
    })
}

/// Looks up, by number, the documents Xero rejected as duplicates: those
/// found are already in Xero; any other is reported as rejected.
async fn recheck_numbers(
    client: &crate::xero::http::XeroClient,
    invoices: &[Invoice],
    indexes: &[usize],
    reports: &mut [DocumentReport],
    state: &mut SyncState,
) -> Result<()> {
    for kind in [DocumentKind::Invoice, DocumentKind::CreditNote] {
        let of_kind: Vec<usize> = indexes
            .iter()
            .copied()
            .filter(|i| invoices[*i].kind == kind)
            .collect();
        if of_kind.is_empty() {
            continue;
        }
        let numbers: Vec<String> = of_kind
            .iter()
            .map(|i| invoices[*i].number.clone())
            .collect();
        let found =
            crate::xero::api::find_documents_by_number(client, plan::endpoint_for(kind), &numbers)
                .await?;
        for index in of_kind {
            let invoice = &invoices[index];
            let report = &mut reports[index];
            match found.iter().find(|d| {
                d.number == invoice.number && !matches!(d.status.as_str(), "DELETED" | "VOIDED")
            }) {
                Some(document) => {
                    report.outcome = Outcome::AlreadySynced;
                    report.xero_id = Some(document.id.clone());
                    report.messages = vec![format!(
                        "Xero already had {} (id {}); it was not created again",
                        invoice.number, document.id
                    )];
                    plan::remember(
                        state,
                        invoice,
                        &document.id,
                        document
                            .total
                            .unwrap_or_else(|| plan::xero_sign(invoice, invoice.gross)),
                    );
                }
                None => {
                    report.outcome = Outcome::Rejected;
                    report.needs_attention = true;
                }
            }
        }
    }
    Ok(())
}

fn offline_report(invoice: &Invoice, mapping: &crate::config::Mapping) -> DocumentReport {
    DocumentReport {
        number: invoice.number.clone(),
        productive_id: invoice.productive_id.clone(),
        client: invoice.client.name.clone(),
        kind: invoice.kind,
        outcome: Outcome::WouldCreate,
        xero_id: invoice.export_id.clone(),
        currency: invoice.currency.clone(),
        total: invoice.gross,
        xero_total: None,
        messages: Vec::new(),
        payload: Some(plan::payload(invoice, mapping, None)),
        needs_attention: false,
    }
}

fn progress_bar(context: &Context, total: u64) -> Option<indicatif::ProgressBar> {
    if context.global.quiet || !std::io::stderr().is_terminal() || total == 0 {
        return None;
    }
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} sending {pos}/{len} documents to Xero {wide_bar} {elapsed}",
        )
        .expect("static template is valid"),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    Some(bar)
}

/// Counts and export totals per currency of the documents now in Xero.
fn summary(reports: &[DocumentReport]) -> Value {
    let count = |outcome: Outcome| reports.iter().filter(|r| r.outcome == outcome).count();
    let mut totals: BTreeMap<String, (usize, Decimal)> = BTreeMap::new();
    for report in reports.iter().filter(|r| {
        matches!(
            r.outcome,
            Outcome::Created | Outcome::AlreadySynced | Outcome::WouldCreate
        )
    }) {
        let entry = totals.entry(report.currency.clone()).or_default();
        entry.0 += 1;
        entry.1 += report.total;
    }
    let totals: serde_json::Map<String, Value> = totals
        .into_iter()
        .map(|(currency, (documents, total))| {
            (
                currency,
                json!({ "documents": documents, "total": total.to_string() }),
            )
        })
        .collect();
    json!({
        "created": count(Outcome::Created),
        "already_synced": count(Outcome::AlreadySynced),
        "rejected": count(Outcome::Rejected),
        "skipped": count(Outcome::Skipped),
        "would_create": count(Outcome::WouldCreate),
        "totals_by_currency": totals,
    })
}

fn print_report(
    context: &Context,
    tenant: Option<&crate::xero::http::Tenant>,
    dry_run: bool,
    reports: &[DocumentReport],
) {
    let summary = summary(reports);
    if context.global.json {
        let invoices: Vec<Value> = reports
            .iter()
            .map(|r| {
                let mut item = json!({
                    "number": r.number,
                    "productive_id": r.productive_id,
                    "client": r.client,
                    "kind": plan::kind_label(r.kind),
                    "outcome": r.outcome,
                    "xero_id": r.xero_id,
                    "currency": r.currency,
                    "total": r.total.to_string(),
                    "xero_total": r.xero_total.map(|t| t.to_string()),
                    "messages": r.messages,
                });
                if let Some(payload) = &r.payload {
                    item["payload"] = payload.clone();
                }
                item
            })
            .collect();
        print_json(&json!({
            "organisation": tenant.map(|t| json!({ "id": t.id, "name": t.name })),
            "dry_run": dry_run,
            "invoices": invoices,
            "summary": summary,
        }));
        return;
    }
    if context.global.quiet {
        for report in reports.iter().filter(|r| r.needs_attention) {
            eprintln!(
                "{} {}: {}",
                report.number,
                report.outcome.label(),
                report.messages.join("; ")
            );
        }
        return;
    }

    let mut table = crate::output::table(vec![
        "NUMBER",
        "CLIENT",
        "KIND",
        "OUTCOME",
        "TOTAL",
        "XERO TOTAL",
        "NOTES",
    ]);
    for report in reports {
        table.add_row(vec![
            report.number.clone(),
            report.client.clone(),
            plan::kind_label(report.kind).replace('_', " "),
            report.outcome.label().to_string(),
            format!("{} {}", report.total, report.currency),
            report.xero_total.map(|t| t.to_string()).unwrap_or_default(),
            report.messages.join("\n"),
        ]);
    }
    println!("{table}");

    let organisation = tenant
        .map(|t| format!("\"{}\" ({})", t.name, t.id))
        .unwrap_or_else(|| "(no organisation: offline dry run)".into());
    let verb = if dry_run {
        "Dry run against"
    } else {
        "Organisation"
    };
    println!("{verb}: {organisation}");
    let number = |key: &str| summary[key].as_u64().unwrap_or(0);
    if dry_run {
        println!(
            "Would create {}, already in Xero {}, skipped {}.",
            number("would_create"),
            number("already_synced"),
            number("skipped")
        );
    } else {
        println!(
            "Created {}, already in Xero {}, rejected {}, skipped {}.",
            number("created"),
            number("already_synced"),
            number("rejected"),
            number("skipped")
        );
    }
    if let Some(totals) = summary["totals_by_currency"].as_object() {
        for (currency, entry) in totals {
            println!(
                "  {currency}: {} documents, total {} {currency}",
                entry["documents"],
                entry["total"].as_str().unwrap_or("0")
            );
        }
    }
}
