//! README's "A three-node network by hand", run line by line as a user
//! would type it, on three free ports instead of 3000-3002 (each port
//! number in the text replaced, each placeholder address by the one the
//! walkthrough's `createwallet` printed): the walkthrough must not lean on
//! port 3000's defaults. Between lines the test waits where the README
//! says a reader waits ("once the block arrived").

mod support;

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};

use support::*;
use tempfile::TempDir;

/// The `sh` blocks of README's walkthrough section.
fn walkthrough() -> Vec<String> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = text
        .split("### A three-node network by hand")
        .nth(1)
        .expect("walkthrough section")
        .split("\n### ")
        .next()
        .unwrap();
    let mut lines = Vec::new();
    let mut inside = false;
    for l in section.lines() {
        if l.starts_with("```") {
            inside = !inside && l == "```sh";
            continue;
        }
        if inside && l.starts_with("node ") {
            lines.push(l.to_string());
        }
    }
    lines
}

struct Run {
    dir: TempDir,
    ports: HashMap<String, String>,
    names: HashMap<String, String>,
    children: Vec<Child>,
}

impl Run {
    /// The command's words with ports and placeholders replaced; and the
    /// name its output defines (`# -> C`).
    fn words(&self, line: &str) -> (Vec<String>, Option<String>) {
        let (cmd, comment) = line.split_once('#').unwrap_or((line, ""));
        let defines = comment
            .trim()
            .strip_prefix("-> ")
            .map(|r| r.split_whitespace().next().unwrap_or_default().to_string());
        let words = cmd
            .split_whitespace()
            .skip(1)
            .map(|w| {
                let mut w = w.to_string();
                for (from, to) in &self.ports {
                    w = w.replace(from, to);
                }
                self.names.get(&w).cloned().unwrap_or(w)
            })
            .collect();
        (words, defines)
    }

    fn command(&self, words: &[String]) -> Command {
        let mut c = Command::new(bin());
        c.arg("--datadir")
            .arg(self.dir.path())
            .args(words)
            .env_remove("NODE_ID");
        c
    }

    fn port_of(words: &[String]) -> u16 {
        let i = words.iter().position(|w| w == "--port").unwrap();
        words[i + 1].parse().unwrap()
    }

    fn status(&self, port: u16) -> serde_json::Value {
        let out = self
            .command(&[
                "--port".into(),
                port.to_string(),
                "status".into(),
                "--json".into(),
            ])
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).unwrap_or_default()
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = Command::new("kill")
                .args(["-INT", &c.id().to_string()])
                .status();
            let _ = c.wait();
        }
    }
}

#[test]
fn the_readme_walkthrough_works_on_other_ports() {
    let lines = walkthrough();
    assert!(lines.len() >= 12, "{lines:?}");
    let mut run = Run {
        dir: TempDir::new().unwrap(),
        ports: ["3000", "3001", "3002"]
            .iter()
            .map(|p| (p.to_string(), free_port().to_string()))
            .collect(),
        names: HashMap::new(),
        children: Vec::new(),
    };
    let seed = run.ports["3000"].parse::<u16>().unwrap();
    let mut waiting_send = None;
    for line in &lines {
        let (words, defines) = run.words(line);
        let port = Run::port_of(&words);
        if words.contains(&"startnode".to_string()) {
            let log = std::fs::File::create(run.dir.path().join(format!("{port}.log"))).unwrap();
            let child = run
                .command(&words)
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap();
            run.children.push(child);
            let sock = run.dir.path().join(port.to_string()).join("control.sock");
            wait_for(WAIT, &format!("{line}: the control socket"), || {
                sledchain::net::control::is_running(&sock)
            });
            if port != seed {
                wait_for(WAIT, &format!("{line}: the seed's chain"), || {
                    run.status(port)["height"] == 0
                });
            }
            continue;
        }
        if words.contains(&"getbalance".to_string()) {
            // "once the block arrived"
            wait_for(WAIT, "block 1 on the wallet node", || {
                run.status(port)["height"] == 1
            });
        }
        if words.contains(&"--confirmations".to_string()) {
            // It waits for a block the next line mints: run it alongside.
            let child = run
                .command(&words)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            waiting_send = Some(child);
            let minter = run.ports["3002"].parse().unwrap();
            wait_for(WAIT, "the payment in the minter's mempool", || {
                run.status(minter)["mempool"]["count"] == 1
            });
            continue;
        }
        let out = run.command(&words).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(
            out.status.success(),
            "{line}\n-> {words:?}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        if let Some(name) = defines {
            run.names.insert(name, stdout.clone());
        }
        if words.contains(&"getbalance".to_string()) {
            assert_eq!(
                stdout,
                format!("Balance of {}: 5 coins", run.names["W1"]),
                "{line}"
            );
        }
    }
    let send = waiting_send
        .expect("the --confirmations line")
        .wait_with_output()
        .unwrap();
    let out = String::from_utf8_lossy(&send.stdout);
    assert!(
        send.status.success(),
        "{}",
        String::from_utf8_lossy(&send.stderr)
    );
    assert!(out.trim_end().ends_with("confirmations: 1"), "{out}");
}
