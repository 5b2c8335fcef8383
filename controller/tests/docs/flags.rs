//! The command line as docs/operating.md#command-line shows it, against the parser the
//! binary runs: `run`'s flag table, `evaluate`'s synopsis, and every
//! `operationrun-controller` command written in a document.

use std::collections::{BTreeMap, BTreeSet};

use clap::error::ErrorKind;
use clap::{ArgAction, CommandFactory, Parser};
use operationrun_controller::cli::Cli;

use crate::markdown::{
    backticked, commands, fenced_blocks, markdown_files, read, section, table, tables,
};

/// What the parser says about one flag.
struct Flag {
    /// How the documents should spell it: `--long`.
    long: String,
    takes_value: bool,
    defaults: Vec<String>,
    env: Option<String>,
    possible: Vec<String>,
    required: bool,
}

/// The flags of subcommand `name` (clap's own `--help` left out), by id, and the ids by
/// every spelling (`--long`, `-s`).
fn flags(name: &str) -> (BTreeMap<String, Flag>, BTreeMap<String, String>) {
    let mut cli = Cli::command();
    cli.build();
    let sub = cli
        .find_subcommand(name)
        .unwrap_or_else(|| panic!("no subcommand {name}"));
    let mut flags = BTreeMap::new();
    let mut spellings = BTreeMap::new();
    for arg in sub.get_arguments() {
        if matches!(arg.get_action(), ArgAction::Help | ArgAction::Version) {
            continue;
        }
        let id = arg.get_id().to_string();
        let long = arg
            .get_long()
            .unwrap_or_else(|| panic!("{name}: {id} has no long name"));
        spellings.insert(format!("--{long}"), id.clone());
        if let Some(short) = arg.get_short() {
            spellings.insert(format!("-{short}"), id.clone());
        }
        let flag = Flag {
            long: format!("--{long}"),
            takes_value: arg.get_action().takes_values(),
            defaults: arg
                .get_default_values()
                .iter()
                .map(|v| v.to_string_lossy().into_owned())
                .collect(),
            env: arg.get_env().map(|e| e.to_string_lossy().into_owned()),
            possible: arg
                .get_possible_values()
                .iter()
                .map(|v| v.get_name().to_string())
                .collect(),
            required: arg.is_required_set(),
        };
        flags.insert(id, flag);
    }
    (flags, spellings)
}

#[test]
fn run_flag_table_matches_the_parser() {
    let doc = read("docs/operating.md");
    let tables = tables(section(&doc, "`operationrun-controller run`"));
    let table = table(&tables, "flag");
    let (flags, spellings) = flags("run");
    let mut problems = Vec::new();
    let mut documented = BTreeSet::new();
    for (_, row) in &table.rows {
        let spelled = backticked(&row[0]).into_iter().next().unwrap_or_default();
        let mut words = spelled.split_whitespace();
        let name = words.next().unwrap_or_default().to_string();
        let shows_value = words.next().is_some();
        let default = row[1].as_str();
        let Some(flag) = spellings.get(&name).map(|id| &flags[id]) else {
            problems.push(format!("{name}: `run` has no such flag"));
            continue;
        };
        if !documented.insert(flag.long.clone()) {
            problems.push(format!("{name}: listed twice"));
        }
        if shows_value != flag.takes_value {
            problems.push(format!(
                "{name}: the table {} a value, the parser {}",
                if shows_value { "shows" } else { "shows no" },
                if flag.takes_value {
                    "takes one"
                } else {
                    "takes none"
                }
            ));
        }
        let expected = if !flag.takes_value {
            Some("off".to_string())
        } else if !flag.defaults.is_empty() {
            Some(format!("`{}`", flag.defaults.join(",")))
        } else {
            flag.env.as_ref().map(|env| format!("`${env}`"))
        };
        match expected {
            Some(expected) if expected != default => problems.push(format!(
                "{name}: the table says the default is {default}, the parser {expected}"
            )),
            // no default: the table says in words what happens without the flag
            None if default.starts_with('`') && default.ends_with('`') => problems.push(format!(
                "{name}: the table gives the default {default}, the parser has none"
            )),
            _ => {}
        }
    }
    for flag in flags.values() {
        if !documented.contains(&flag.long) {
            problems.push(format!("{}: missing from the table", flag.long));
        }
    }
    assert!(
        problems.is_empty(),
        "docs/operating.md: the `run` flag table differs from cli::RunArgs:\n{}",
        problems.join("\n")
    );
}

#[test]
fn evaluate_synopsis_matches_the_parser() {
    let doc = read("docs/operating.md");
    let blocks = fenced_blocks(section(&doc, "`operationrun-controller evaluate`"));
    let synopsis = &blocks.first().expect("evaluate's synopsis").text;
    let (flags, spellings) = flags("evaluate");
    let words: Vec<&str> = synopsis.split_whitespace().collect();
    let mut problems = Vec::new();
    let mut shown = BTreeSet::new();
    for (i, word) in words.iter().enumerate() {
        let optional = word.starts_with('[');
        let name = word.trim_matches(|c| c == '[' || c == ']');
        if !name.starts_with('-') {
            continue;
        }
        let Some(id) = spellings.get(name) else {
            problems.push(format!("{name}: `evaluate` has no such flag"));
            continue;
        };
        let flag = &flags[id];
        if !shown.insert(id.clone()) {
            problems.push(format!("{name}: shown twice"));
        }
        if optional == flag.required {
            problems.push(format!(
                "{name}: shown as {}, but the parser has it {}",
                if optional { "optional" } else { "required" },
                if flag.required {
                    "required"
                } else {
                    "optional"
                }
            ));
        }
        // the value follows within the same brackets
        let value = words
            .get(i + 1)
            .filter(|_| !word.ends_with(']'))
            .map(|w| w.trim_matches(|c| c == '[' || c == ']'))
            .filter(|w| !w.starts_with('-'));
        if value.is_some() != flag.takes_value {
            problems.push(format!(
                "{name}: value shown: {value:?}, the parser {}",
                if flag.takes_value {
                    "takes one"
                } else {
                    "takes none"
                }
            ));
        }
        if let Some(value) = value.filter(|_| !flag.possible.is_empty()) {
            let possible = flag.possible.join("|");
            if value != possible {
                problems.push(format!("{name} {value}: the parser takes {possible}"));
            }
        }
    }
    for (id, flag) in &flags {
        if !shown.contains(id) {
            problems.push(format!("{}: missing from the synopsis", flag.long));
        }
    }
    assert!(
        problems.is_empty(),
        "docs/operating.md: `evaluate`'s synopsis differs from cli::EvaluateArgs:\n{}",
        problems.join("\n")
    );
}

#[test]
fn every_controller_command_in_the_documents_parses() {
    let mut problems = Vec::new();
    let mut parsed = 0;
    for file in markdown_files() {
        for cmd in commands(&read(&file)) {
            let Some(argv) = controller_argv(&cmd.words) else {
                continue;
            };
            if argv
                .iter()
                .any(|w| w.contains(['[', '…', '<']) || w.contains("..."))
            {
                continue; // a synopsis, not a command
            }
            // a placeholder (`--now TIME`) is no value; a span in prose may name a
            // command without its required flags
            let placeholder = argv
                .iter()
                .skip(2)
                .any(|w| w.len() > 1 && w.chars().all(|c| c.is_ascii_uppercase() || c == '_'));
            parsed += 1;
            match Cli::try_parse_from(&argv) {
                Ok(_) => {}
                Err(e) => match e.kind() {
                    ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {}
                    ErrorKind::InvalidValue | ErrorKind::ValueValidation if placeholder => {}
                    ErrorKind::MissingRequiredArgument if cmd.inline => {}
                    _ => problems.push(format!("{file}:{}: {}\n{e}", cmd.line, argv.join(" "))),
                },
            }
        }
    }
    assert!(
        parsed >= 5,
        "only {parsed} commands found: is the scan broken?"
    );
    assert!(
        problems.is_empty(),
        "commands the controller refuses:\n{}",
        problems.join("\n")
    );
}

/// The controller's argv of a command that runs it: `operationrun-controller …`, or
/// `cargo run … --bin operationrun-controller -- …`.
fn controller_argv(words: &[String]) -> Option<Vec<String>> {
    let first = words.first()?;
    let args: Vec<String> = if first == "operationrun-controller" {
        words[1..].to_vec()
    } else if first == "cargo"
        && words.get(1).is_some_and(|w| w == "run")
        && words
            .windows(2)
            .any(|w| w[0] == "--bin" && w[1] == "operationrun-controller")
    {
        let sep = words.iter().position(|w| w == "--")?;
        words[sep + 1..].to_vec()
    } else {
        return None;
    };
    if args.is_empty() {
        return None;
    }
    Some(
        std::iter::once("operationrun-controller".to_string())
            .chain(args)
            .collect(),
    )
}
