//! `printchain` shows the status the block index recorded when each block
//! was connected; `printchain --verify` verifies every signature again, so
//! it sees what the recorded status cannot: here, undo data altered on disk
//! after the block was connected.

mod support;

use serde_json::Value;
use sledchain::core::encode::{decode, encode};
use sledchain::core::tx::TxOut;
use support::{Node, genchain};
use tempfile::TempDir;

const PORT: u16 = 3000;

#[test]
fn verify_rechecks_signatures_that_the_recorded_status_vouches_for() {
    let dir = TempDir::new().unwrap();
    let (tip, height) = genchain(dir.path(), PORT, 40, 1);
    assert_eq!(height, 40);
    let node = Node::at(dir.path(), PORT);
    let plain = node.stdout(&["printchain"]);
    assert_eq!(plain.matches("Status: valid\n").count(), 41);
    let inputs = plain.matches("     Input ").count();
    assert!(inputs > 40, "{inputs} inputs");
    let verified = node.stdout(&["printchain", "--verify"]);
    // Every signature good, every block in its place.
    assert_eq!(verified.matches(" signature OK").count(), inputs);
    assert_eq!(verified.replace(" signature OK", ""), plain);

    // Change the value of the first output the tip's payment spent: its
    // signature no longer matches, though the block was valid when connected.
    {
        let db = support::open_raw(&dir.path().join(PORT.to_string()).join("chain"));
        let undo = db.open_tree("undo").unwrap();
        let key = hex::decode(&tip).unwrap();
        let mut spent: Vec<TxOut> = decode(&undo.get(&key).unwrap().unwrap(), 1 << 20).unwrap();
        spent[0].value += 1;
        undo.insert(&key, encode(&spent)).unwrap();
        db.flush().unwrap();
    }
    assert_eq!(
        node.stdout(&["printchain"]),
        plain,
        "status is what was recorded"
    );
    let verified = node.stdout(&["printchain", "--verify"]);
    assert_eq!(verified.matches(" signature INVALID").count(), 1);
    assert_eq!(verified.matches(" signature OK").count(), inputs - 1);
    let first_input = verified
        .lines()
        .find(|l| l.contains("Input 0:"))
        .expect("an input line");
    assert!(first_input.ends_with("signature INVALID"), "{first_input}");

    let json: Value =
        serde_json::from_str(&node.stdout(&["printchain", "--json", "--verify"])).unwrap();
    let inputs = &json[0]["transactions"][1]["inputs"];
    assert_eq!(json[0]["hash"], tip.as_str());
    assert_eq!(json[0]["status"], "valid");
    assert_eq!(inputs[0]["signature_ok"], false);
    assert_eq!(inputs[1]["signature_ok"], true);
}
