//! Every `xerosync` command shown in the README, the sample crontab and the
//! systemd unit must parse. The flows themselves run in the month-end example
//! and the integration tests.

use clap::Parser;
use xerosync::cli::Cli;

/// Splits a shell command line into words, honouring single and double quotes.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    let mut in_word = false;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => current.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            (None, c) => {
                current.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(current);
    }
    words
}

/// Collects the `xerosync ...` invocations in `text`: from the word `xerosync` (or a
/// path ending in `/xerosync`, or `cargo run --`) up to a comment, pipe or
/// end of line.
fn invocations(text: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    for line in text.lines() {
        let code = line.split(" # ").next().unwrap_or(line);
        let code = code.split(" | ").last().unwrap_or(code);
        let words = shell_words(code);
        // `cargo run -- ARGS` runs xerosync from the source tree.
        if words.first().map(String::as_str) == Some("cargo")
            && words.get(1).map(String::as_str) == Some("run")
        {
            if let Some(dashes) = words.iter().position(|w| w == "--") {
                let mut command = vec!["xerosync".to_string()];
                command.extend(words[dashes + 1..].iter().cloned());
                found.push(command);
            }
            continue;
        }
        let Some(start) = words
            .iter()
            .position(|w| w == "xerosync" || w.ends_with("/xerosync"))
        else {
            continue;
        };
        if words[..start]
            .iter()
            .any(|w| w == "install" || w == "cargo")
        {
            continue;
        }
        let mut command = vec!["xerosync".to_string()];
        command.extend(words[start + 1..].iter().cloned());
        found.push(command);
    }
    found
}

fn code_blocks(markdown: &str) -> String {
    let mut inside = false;
    let mut code = String::new();
    for line in markdown.lines() {
        if line.starts_with("```") {
            inside = !inside;
            continue;
        }
        if inside {
            code.push_str(line);
            code.push('\n');
        }
    }
    code
}

fn assert_all_parse(source: &str, text: &str, at_least: usize) {
    let commands = invocations(text);
    assert!(
        commands.len() >= at_least,
        "{source}: expected at least {at_least} xerosync commands, found {}",
        commands.len()
    );
    for command in commands {
        if let Err(err) = Cli::try_parse_from(&command) {
            panic!("{source}: `{}` does not parse:\n{err}", command.join(" "));
        }
    }
}

#[test]
fn readme_commands_parse() {
    let readme = std::fs::read_to_string("README.md").unwrap();
    assert_all_parse("README.md", &code_blocks(&readme), 10);
}

#[test]
fn cron_and_systemd_commands_parse() {
    let crontab = std::fs::read_to_string("examples/crontab").unwrap();
    assert_all_parse("examples/crontab", &crontab, 1);

    let service = std::fs::read_to_string("examples/systemd/xerosync-payments.service").unwrap();
    let exec = service
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("ExecStart line");
    assert_all_parse("xerosync-payments.service", exec, 1);
    assert!(
        exec.contains(" -q"),
        "the timer's command is not quiet: {exec}"
    );
}

#[test]
fn readme_names_both_commands() {
    let readme = std::fs::read_to_string("README.md").unwrap();
    assert!(
        readme.contains("cargo run --release --example month_end"),
        "the month-end command is missing"
    );
    assert!(
        readme.contains("\ncargo test\n"),
        "the test command is missing"
    );
}

#[test]
fn shell_words_honour_quotes() {
    assert_eq!(shell_words("a 'b c' \"d e\"f"), vec!["a", "b c", "d ef"]);
}
