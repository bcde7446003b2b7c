//! `xerosync tenants`: list the organisations of the connection and pick one.

use serde_json::json;

use crate::auth::session::Session;
use crate::cli::TenantsArgs;
use crate::commands::{print_json, Context};
use crate::config::save_tenant;
use crate::error::{Error, Result};
use crate::xero::api::{self, Connection};

pub async fn run(context: &Context, args: TenantsArgs) -> Result<i32> {
    let settings = &context.settings;
    let session = Session::open(settings)?;
    let client = context.connection_client(session)?;
    let connections = api::list_connections(&client).await?;

    let mut selected = settings.profile_section.tenant_id.clone();
    if let Some(wanted) = &args.select {
        let chosen = choose(&connections, wanted)?;
        save_tenant(
            &settings.config_path,
            &settings.profile,
            &chosen.tenant_id,
            &chosen.tenant_name,
        )?;
        selected = Some(chosen.tenant_id.clone());
        if !context.global.quiet && !context.global.json {
            eprintln!(
                "Selected \"{}\" ({}) for profile \"{}\".",
                chosen.tenant_name, chosen.tenant_id, settings.profile
            );
        }
    } else if context.interactive() && !context.global.json && !connections.is_empty() {
        let chosen = pick(&connections, selected.as_deref())?;
        save_tenant(
            &settings.config_path,
            &settings.profile,
            &chosen.tenant_id,
            &chosen.tenant_name,
        )?;
        eprintln!(
            "Selected \"{}\" ({}) for profile \"{}\".",
            chosen.tenant_name, chosen.tenant_id, settings.profile
        );
        return Ok(0);
    }

    print_list(context, &connections, selected.as_deref());

    if args.select.is_none() && !context.global.json && !context.global.quiet {
        match &selected {
            Some(id) if !connections.iter().any(|c| &c.tenant_id == id) => eprintln!(
                "warning: the selected organisation {} ({id}) is no longer connected; select another with `xerosync tenants --select ID_OR_NAME{}` or run `xerosync connect{}`",
                settings.profile_section.tenant_name.as_deref().unwrap_or("?"),
                settings.profile_flag(),
                settings.profile_flag()
            ),
            Some(_) => {}
            None => eprintln!("No organisation is selected yet; choose one with `xerosync tenants --select ID_OR_NAME{}`.", settings.profile_flag()),
        }
    }
    Ok(0)
}

/// Finds one connection by tenant id, else by name (trimmed, case-insensitive).
pub fn choose<'a>(connections: &'a [Connection], wanted: &str) -> Result<&'a Connection> {
    let wanted = wanted.trim();
    if let Some(found) = connections
        .iter()
        .find(|c| c.tenant_id.eq_ignore_ascii_case(wanted))
    {
        return Ok(found);
    }
    let by_name: Vec<&Connection> = connections
        .iter()
        .filter(|c| c.tenant_name.trim().eq_ignore_ascii_case(wanted))
        .collect();
    let choices = || {
        connections
            .iter()
            .map(|c| format!("  {} ({})", c.tenant_name, c.tenant_id))
            .collect::<Vec<_>>()
            .join("\n")
    };
    match by_name.as_slice() {
        [one] => Ok(one),
        [] => Err(Error::usage(format!(
            "no connected organisation has the id or name \"{wanted}\"; the connection reaches:\n{}\nRun `xerosync connect` to grant access to another organisation",
            choices()
        ))),
        _ => Err(Error::usage(format!(
            "more than one connected organisation is named \"{wanted}\"; select by tenant id instead:\n{}",
            choices()
        ))),
    }
}

/// Lets a person pick one organisation on the terminal.
pub fn choose_interactively(connections: &[Connection]) -> Result<Connection> {
    pick(connections, None).cloned()
}

fn pick<'a>(connections: &'a [Connection], selected: Option<&str>) -> Result<&'a Connection> {
    let items: Vec<String> = connections
        .iter()
        .map(|c| format!("{} ({}, {})", c.tenant_name, c.tenant_type, c.tenant_id))
        .collect();
    let default = selected
        .and_then(|id| connections.iter().position(|c| c.tenant_id == id))
        .unwrap_or(0);
    let index = dialoguer::Select::new()
        .with_prompt("Which Xero organisation should this profile use?")
        .items(&items)
        .default(default)
        .interact()
        .map_err(|err| Error::failed(format!("the organisation picker failed ({err}); use `xerosync tenants --select ID_OR_NAME`")))?;
    Ok(&connections[index])
}

fn print_list(context: &Context, connections: &[Connection], selected: Option<&str>) {
    if context.global.json {
        let tenants: Vec<_> = connections
            .iter()
            .map(|c| {
                json!({
                    "tenant_id": c.tenant_id,
                    "name": c.tenant_name,
                    "type": c.tenant_type,
                    "selected": Some(c.tenant_id.as_str()) == selected,
                })
            })
            .collect();
        print_json(&json!({ "profile": context.settings.profile, "tenants": tenants }));
        return;
    }
    if context.global.quiet {
        return;
    }
    if connections.is_empty() {
        println!("The connection reaches no organisation. Run `xerosync connect` and allow access to one.");
        return;
    }
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::NOTHING);
    table.set_header(vec!["", "NAME", "TENANT ID", "TYPE"]);
    for connection in connections {
        let mark = if Some(connection.tenant_id.as_str()) == selected {
            "*"
        } else {
            ""
        };
        table.add_row(vec![
            mark,
            &connection.tenant_name,
            &connection.tenant_id,
            &connection.tenant_type,
        ]);
    }
    println!("{table}");
}
