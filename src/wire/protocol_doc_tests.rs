//! `docs/protocol.md` checked against the code: the payload table names
//! every command this node knows, with its exact payload limit, and no
//! command it does not know.

use super::frame::{COMMAND_LEN, MAX_PAYLOAD, command_bytes};
use super::message::Command;

const DOC: &str = include_str!("../../docs/protocol.md");

/// `n` with a comma every three digits, as the document writes numbers.
fn grouped(n: u32) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The rows of the payload table: (commands named in the first cell, the
/// last cell).
fn payload_rows() -> Vec<(Vec<String>, String)> {
    let start = DOC
        .find("| command | payload | bound | max payload (bytes) |")
        .expect("docs/protocol.md has the payload table");
    DOC[start..]
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|row| {
            let cells: Vec<&str> = row.trim_matches('|').split('|').map(str::trim).collect();
            let names = cells[0]
                .split(',')
                .map(|n| n.trim().trim_matches('`').to_string())
                .collect();
            (names, cells.last().expect("cells").to_string())
        })
        .collect()
}

#[test]
fn every_command_is_documented_with_its_payload_limit() {
    let rows = payload_rows();
    for c in Command::ALL {
        let name = c.name();
        assert!(name.len() <= COMMAND_LEN, "{name} longer than the field");
        let found: Vec<_> = rows
            .iter()
            .filter(|(names, _)| names.iter().any(|n| n == name))
            .collect();
        assert_eq!(found.len(), 1, "`{name}` must have exactly one row");
        assert_eq!(
            found[0].1,
            grouped(c.max_payload()),
            "`{name}`: documented limit differs from the code's"
        );
    }
}

#[test]
fn every_documented_command_exists() {
    for (names, _) in payload_rows() {
        for name in names {
            assert!(
                name.len() <= COMMAND_LEN && Command::parse(&command_bytes(&name)).is_some(),
                "docs/protocol.md documents `{name}`, which the node does not know"
            );
        }
    }
}

#[test]
fn the_limit_for_unknown_commands_is_documented() {
    let prose = DOC.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(prose.contains(&format!("at most {} bytes", grouped(MAX_PAYLOAD))));
    assert_eq!(grouped(1_601_024), "1,601,024");
    assert_eq!(grouped(64), "64");
}
