//! `xerosync sync payments`: payment statuses back from Xero, and each new
//! Xero payment recorded once in Productive. Made for cron: no prompts,
//! silent with `-q`, one run per profile at a time.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use chrono::Utc;
use rust_decimal::Decimal;
use serde_json::{json, Value};

use crate::auth::store::open_store;
use crate::auth::tokens::load_productive_token;
use crate::cli::SyncPaymentsArgs;
use crate::commands::{print_json, Context};
use crate::error::{Error, Result};
use crate::fsutil::{write_atomic, FileLock};
use crate::productive::api::ProductiveClient;
use crate::secret::Secret;
use crate::sync::payments::{self, Attention, DocumentStatus, RecordedEntry};
use crate::sync::state::{RecordedPayment, SyncState};
use crate::xero::api::{Document, DocumentEndpoint};

/// How long a run waits for an overlapping run of the same profile, unless
/// `XEROSYNC_LOCK_TIMEOUT` (seconds) sets another wait.
const LOCK_WAIT: Duration = Duration::from_secs(30);

fn lock_wait() -> Result<Duration> {
    match std::env::var("XEROSYNC_LOCK_TIMEOUT") {
        Err(_) => Ok(LOCK_WAIT),
        Ok(value) => value.trim().parse().map(Duration::from_secs).map_err(|_| {
            Error::config(format!(
                "XEROSYNC_LOCK_TIMEOUT is \"{value}\"; set it to a whole number of seconds, such as 30"
            ))
        }),
    }
}

pub async fn run(context: &Context, args: SyncPaymentsArgs) -> Result<i32> {
    let settings = &context.settings;
    let profile_dir = settings.profile_dir();
    let _lock = FileLock::acquire(
        &profile_dir.join("sync.lock"),
        lock_wait()?,
        "another xerosync sync of this profile",
    )?;

    let productive = productive_client(context)?;
    let client = context.tenant_client()?;
    let tenant = client
        .tenant()
        .cloned()
        .expect("a tenant client has a tenant");
    let mut state = SyncState::load(&profile_dir, &tenant.id)?;

    let followed: HashMap<String, (String, String, String)> = state
        .documents
        .iter()
        .map(|(productive_id, pushed)| {
            (
                pushed.xero_id.clone(),
                (
                    productive_id.clone(),
                    pushed.number.clone(),
                    pushed.kind.clone(),
                ),
            )
        })
        .collect();
    if followed.is_empty() {
        if !context.global.quiet && !context.global.json {
            eprintln!("No pushed invoices to follow for organisation \"{}\"; run `xerosync sync invoices EXPORT` first.", tenant.name);
        }
        if context.global.json {
            print_json(&report_document(&tenant, &[], state.payments_watermark));
        }
        return Ok(0);
    }

    let since = args
        .since
        .map(|t| t.with_timezone(&Utc))
        .or(state.payments_watermark);
    let mut fetched = payments::fetch_changed(&client, DocumentEndpoint::Invoices, since).await?;
    let open_credit_notes = state.documents.values().any(|d| {
        d.kind == "credit_note"
            && !matches!(
                d.last_status.as_deref(),
                Some("PAID" | "VOIDED" | "DELETED")
            )
    });
    if open_credit_notes {
        fetched
            .extend(payments::fetch_changed(&client, DocumentEndpoint::CreditNotes, since).await?);
    }
    let new_watermark = payments::next_watermark(state.payments_watermark, &fetched);

    // Each fetched document this profile follows, with whether the last run
    // already saw the same figures (the watermark overlaps, so it may be
    // fetched again).
    let mut entries: Vec<(DocumentStatus, &Document, bool)> = Vec::new();
    for document in &fetched {
        let Some((productive_id, number, kind)) = followed.get(&document.id) else {
            continue;
        };
        let status = payments::document_status(document, number, productive_id, kind);
        let fingerprint = payments::fingerprint(document);
        let pushed = state
            .documents
            .get_mut(productive_id)
            .expect("followed documents come from the state");
        let seen_before = pushed.last_fingerprint.as_deref() == Some(fingerprint.as_str());
        pushed.last_status = Some(document.status.clone());
        pushed.last_fingerprint = Some(fingerprint);
        entries.push((status, document, seen_before));
    }

    // Every fetched invoice gets the write-back, which records nothing when
    // its payments are already recorded.
    let mut failure: Option<Error> = None;
    if let Some(productive) = &productive {
        for (report, document, _) in entries.iter_mut() {
            if report.kind != "invoice" {
                continue;
            }
            if let Err(err) =
                write_back(productive, document, report, &mut state, &profile_dir).await
            {
                report.productive.needs_attention.push(Attention {
                    payment_id: None,
                    reason: err.message.clone(),
                    action_required: true,
                });
                if err.kind == crate::error::Kind::Temporary
                    || err.kind == crate::error::Kind::Config
                {
                    failure = Some(err);
                    break;
                }
            }
        }
    }

    // Without --since, a document seen before is reported only when the
    // write-back did something with it.
    let reports: Vec<DocumentStatus> = entries
        .into_iter()
        .filter(|(report, _, seen_before)| {
            !seen_before
                || args.since.is_some()
                || !report.productive.recorded.is_empty()
                || !report.productive.needs_attention.is_empty()
        })
        .map(|(report, _, _)| report)
        .collect();

    if failure.is_none() {
        // Advanced only after a run that completed, so a failed run is
        // fetched again in full next time.
        state.payments_watermark = new_watermark;
        state.last_payments_sync = Some(Utc::now());
    }
    state.save(&profile_dir)?;

    let document = report_document(&tenant, &reports, since);
    if let Some(path) = &args.output {
        write_output(path, &document, &reports)?;
    }
    print_report(context, &tenant, &reports, &document);

    if let Some(err) = failure {
        return Err(err.context("recording payments in Productive stopped; the next run continues where this one stopped"));
    }
    let attention = reports.iter().any(|r| {
        r.productive
            .needs_attention
            .iter()
            .any(|a| a.action_required)
    });
    Ok(if attention { 1 } else { 0 })
}

/// Builds the Productive client when `[productive]` is configured, and fails
/// with a config error when it is configured but no token is available.
fn productive_client(context: &Context) -> Result<Option<ProductiveClient>> {
    let settings = &context.settings;
    let Some(productive) = &settings.productive else {
        return Ok(None);
    };
    let token = match std::env::var("PRODUCTIVE_API_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty())
    {
        Some(token) => Some(Secret::new(token.trim().to_string())),
        None => {
            let store = open_store(settings.token_store, settings.profile_dir());
            load_productive_token(store.as_ref(), &settings.profile)?
        }
    };
    let token = token.ok_or_else(|| {
        Error::config(format!(
            "[productive] is set in {} but no Productive API token is stored for profile \"{}\"; run `xerosync connect --productive{}` \
             (it reads the token from stdin) or set PRODUCTIVE_API_TOKEN",
            settings.config_path.display(),
            settings.profile,
            settings.profile_flag()
        ))
    })?;
    ProductiveClient::new(
        productive.api_url.clone(),
        productive.organization_id.clone(),
        token,
    )
    .map(Some)
}

/// Records each new authorised Xero payment of the invoice in Productive,
/// once. Productive's own payments of the invoice are checked for the Xero
/// PaymentID (kept in `external_id`) before creating one, so a crash between
/// creating and saving the state does not record it twice.
async fn write_back(
    productive: &ProductiveClient,
    document: &Document,
    report: &mut DocumentStatus,
    state: &mut SyncState,
    profile_dir: &Path,
) -> Result<()> {
    let live: Vec<_> = document
        .payments
        .iter()
        .filter(|p| p.status.eq_ignore_ascii_case("AUTHORISED"))
        .collect();

    for (payment_id, recorded) in state
        .recorded_payments
        .iter()
        .filter(|(_, r)| r.xero_invoice_id == document.id)
    {
        if !live.iter().any(|p| &p.payment_id == payment_id) {
            report.productive.needs_attention.push(Attention {
                payment_id: Some(payment_id.clone()),
                reason: format!(
                    "payment {payment_id} of {} {} was deleted in Xero after it was recorded in Productive (Productive payment {}); \
                     delete or correct that payment in Productive by hand",
                    recorded.amount, document.currency.as_deref().unwrap_or(""), recorded.productive_payment_id
                ),
                action_required: true,
            });
        }
    }

    let new: Vec<_> = live
        .iter()
        .filter(|p| !state.recorded_payments.contains_key(&p.payment_id))
        .collect();
    if new.is_empty() {
        return Ok(());
    }

    let total = document.total.unwrap_or_default();
    let paid: Decimal = live.iter().filter_map(|p| p.amount).sum();
    if paid > total {
        report.productive.needs_attention.push(Attention {
            payment_id: None,
            reason: format!(
                "the payments in Xero ({paid}) exceed the invoice total ({total}); an overpayment is not recorded in Productive automatically, record it by hand"
            ),
            action_required: true,
        });
        return Ok(());
    }

    let existing = productive.list_payments(&report.productive_id).await?;
    let currency = document.currency.clone().unwrap_or_default();
    for payment in new {
        let (Some(amount), Some(date)) = (payment.amount, payment.date) else {
            report.productive.needs_attention.push(Attention {
                payment_id: Some(payment.payment_id.clone()),
                reason: "Xero reported this payment without an amount or date; check it in Xero"
                    .into(),
                action_required: true,
            });
            continue;
        };

        let (productive_payment_id, how) = match existing
            .iter()
            .find(|p| p.external_id.as_deref() == Some(payment.payment_id.as_str()))
        {
            Some(found) => (found.id.clone(), "already_in_productive"),
            None => {
                let note = format!(
                    "Xero payment {}{}",
                    payment.payment_id,
                    payment
                        .reference
                        .as_ref()
                        .map(|r| format!(", reference {r}"))
                        .unwrap_or_default()
                );
                // The client checks for the external_id before any retry, so
                // a lost response cannot record the payment twice.
                let created = productive
                    .create_payment(
                        &report.productive_id,
                        amount,
                        &currency,
                        date,
                        Some(&note),
                        Some(&payment.payment_id),
                    )
                    .await?;
                (created.id, "created")
            }
        };

        state.recorded_payments.insert(
            payment.payment_id.clone(),
            RecordedPayment {
                xero_invoice_id: document.id.clone(),
                productive_invoice_id: report.productive_id.clone(),
                productive_payment_id: productive_payment_id.clone(),
                amount,
                date,
                recorded_at: Utc::now(),
            },
        );
        state.save(profile_dir)?;
        report.productive.recorded.push(RecordedEntry {
            payment_id: payment.payment_id.clone(),
            productive_payment_id,
            how: how.into(),
        });
    }

    if payments::payment_state(document, false) == "part_paid" {
        report.productive.needs_attention.push(Attention {
            payment_id: None,
            reason: format!(
                "partly paid: {} of {total} received, {} still due; the payments were recorded in Productive as they are",
                document.amount_paid.unwrap_or_default(),
                document.amount_due.unwrap_or_default()
            ),
            action_required: false,
        });
    }
    Ok(())
}

fn report_document(
    tenant: &crate::xero::http::Tenant,
    reports: &[DocumentStatus],
    since: Option<chrono::DateTime<Utc>>,
) -> Value {
    let recorded: usize = reports
        .iter()
        .map(|r| {
            r.productive
                .recorded
                .iter()
                .filter(|e| e.how == "created")
                .count()
        })
        .sum();
    let attention: usize = reports
        .iter()
        .map(|r| {
            r.productive
                .needs_attention
                .iter()
                .filter(|a| a.action_required)
                .count()
        })
        .sum();
    json!({
        "organisation": { "id": tenant.id, "name": tenant.name },
        "since": since.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        "invoices": reports,
        "summary": {
            "changed": reports.len(),
            "by_state": payments::count_states(reports),
            "payments_recorded_in_productive": recorded,
            "needs_attention": attention,
        },
    })
}

fn write_output(path: &Path, document: &Value, reports: &[DocumentStatus]) -> Result<()> {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let bytes = match extension.as_str() {
        "json" => serde_json::to_vec_pretty(document).expect("a JSON value always serializes"),
        "csv" => csv_report(reports)?,
        _ => {
            return Err(Error::usage(format!(
            "--output {} has no .csv or .json extension; name the file report.csv or report.json",
            path.display()
        )))
        }
    };
    write_atomic(path, &bytes, None)
}

/// Writes one CSV row per payment, or one row for a document without payments.
fn csv_report(reports: &[DocumentStatus]) -> Result<Vec<u8>> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let header = [
        "number",
        "productive_id",
        "xero_id",
        "kind",
        "status",
        "payment_state",
        "currency",
        "total",
        "amount_paid",
        "amount_credited",
        "amount_due",
        "fully_paid_on",
        "payment_id",
        "payment_date",
        "payment_amount",
        "payment_reference",
        "payment_status",
        "recorded_in_productive",
    ];
    let failed = |err: csv::Error| Error::failed(format!("cannot write the CSV report: {err}"));
    writer.write_record(header).map_err(failed)?;
    for report in reports {
        let base = [
            report.number.clone(),
            report.productive_id.clone(),
            report.xero_id.clone(),
            report.kind.clone(),
            report.status.clone(),
            report.payment_state.clone(),
            report.currency.clone().unwrap_or_default(),
            report.total.clone().unwrap_or_default(),
            report.amount_paid.clone().unwrap_or_default(),
            report.amount_credited.clone().unwrap_or_default(),
            report.amount_due.clone().unwrap_or_default(),
            report
                .fully_paid_on
                .map(|d| d.to_string())
                .unwrap_or_default(),
        ];
        if report.payments.is_empty() {
            let mut row = base.to_vec();
            row.extend(std::iter::repeat_n(String::new(), 6));
            writer.write_record(&row).map_err(failed)?;
        }
        for payment in &report.payments {
            let mut row = base.to_vec();
            let recorded = report
                .productive
                .recorded
                .iter()
                .any(|r| r.payment_id == payment.payment_id);
            row.extend([
                payment.payment_id.clone(),
                payment.date.map(|d| d.to_string()).unwrap_or_default(),
                payment.amount.clone().unwrap_or_default(),
                payment.reference.clone().unwrap_or_default(),
                payment.status.clone(),
                if recorded {
                    "yes".into()
                } else {
                    String::new()
                },
            ]);
            writer.write_record(&row).map_err(failed)?;
        }
    }
    writer
        .into_inner()
        .map_err(|err| Error::failed(format!("cannot write the CSV report: {err}")))
}

fn print_report(
    context: &Context,
    tenant: &crate::xero::http::Tenant,
    reports: &[DocumentStatus],
    document: &Value,
) {
    if context.global.json {
        print_json(document);
        return;
    }
    let attention: Vec<(&DocumentStatus, &Attention)> = reports
        .iter()
        .flat_map(|r| r.productive.needs_attention.iter().map(move |a| (r, a)))
        .collect();
    if context.global.quiet {
        for (report, item) in attention.iter().filter(|(_, a)| a.action_required) {
            eprintln!("{}: {}", report.number, item.reason);
        }
        return;
    }

    if reports.is_empty() {
        println!(
            "Organisation \"{}\": no pushed invoice changed since the last run.",
            tenant.name
        );
        return;
    }
    let mut table = crate::output::table(vec![
        "NUMBER",
        "STATUS",
        "STATE",
        "TOTAL",
        "PAID",
        "CREDITED",
        "DUE",
        "PAID ON",
        "PAYMENTS",
        "PRODUCTIVE",
    ]);
    for report in reports {
        let payments = report
            .payments
            .iter()
            .map(|p| {
                format!(
                    "{} {}{}{}",
                    p.date.map(|d| d.to_string()).unwrap_or_default(),
                    p.amount.clone().unwrap_or_default(),
                    p.reference
                        .as_ref()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default(),
                    if p.status == "AUTHORISED" {
                        String::new()
                    } else {
                        format!(" {}", p.status)
                    }
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
        let productive = report
            .productive
            .recorded
            .iter()
            .map(|r| {
                if r.how == "created" {
                    "recorded".to_string()
                } else {
                    "already there".to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        table.add_row(vec![
            report.number.clone(),
            report.status.clone(),
            report.payment_state.replace('_', " "),
            format!(
                "{} {}",
                report.total.clone().unwrap_or_default(),
                report.currency.clone().unwrap_or_default()
            ),
            report.amount_paid.clone().unwrap_or_default(),
            report.amount_credited.clone().unwrap_or_default(),
            report.amount_due.clone().unwrap_or_default(),
            report
                .fully_paid_on
                .map(|d| d.to_string())
                .unwrap_or_default(),
            payments,
            productive,
        ]);
    }
    println!("{table}");
    println!(
        "Organisation: \"{}\" ({}). {} changed document{}.",
        tenant.name,
        tenant.id,
        reports.len(),
        if reports.len() == 1 { "" } else { "s" }
    );
    for (report, item) in attention {
        let prefix = if item.action_required {
            "needs attention"
        } else {
            "note"
        };
        println!("  {prefix}: {}: {}", report.number, item.reason);
    }
}
