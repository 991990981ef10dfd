//! The HTTP API against a real node process: every route, bad input,
//! the cookie, and the event stream.

mod support;

use serde_json::Value;
use support::http::{Sse, get_json, http, http_get};
use support::*;
use tempfile::TempDir;

struct Api {
    node: Node,
    port: u16,
    genesis_addr: String,
    payee: String,
    payment: String,
}

fn start() -> (TempDir, Api) {
    let dir = TempDir::new().expect("tempdir");
    let mut node = Node::new(dir.path(), "api");
    let g = node.create_chain();
    let payee = node.create_wallet();
    let payment = node.mint_send(&g, &payee, 3);
    let port = free_port();
    let http_addr = format!("127.0.0.1:{port}");
    let me = node.addr();
    node.start(&[
        "--seed",
        &me,
        "--minter",
        &g,
        "--mint-threshold",
        "100",
        "--http",
        &http_addr,
    ]);
    wait_for(WAIT, "the HTTP API", || {
        http_get(port, "/api/blocks/tip/height").0 == 200
    });
    (
        dir,
        Api {
            node,
            port,
            genesis_addr: g,
            payee,
            payment,
        },
    )
}

fn cookie(api: &Api) -> String {
    let text = std::fs::read_to_string(api.node.dir().join(".cookie")).expect("cookie file");
    format!(
        "Basic {}",
        sledchain::api::auth::base64(text.trim().as_bytes())
    )
}

#[test]
fn esplora_routes_answer_from_the_indexes() {
    let (_dir, api) = start();
    let p = api.port;
    assert_eq!(http_get(p, "/api/blocks/tip/height"), (200, "1".into()));
    let tip = http_get(p, "/api/blocks/tip/hash").1;
    assert_eq!(http_get(p, "/api/block-height/1").1, tip);
    let b = get_json(p, &format!("/api/block/{tip}"));
    assert_eq!(b["height"], 1);
    assert_eq!(b["tx_count"], 2);
    assert_eq!(get_json(p, "/api/blocks").as_array().map(Vec::len), Some(2));
    assert_eq!(
        get_json(p, "/api/blocks/0").as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(
        get_json(p, &format!("/api/block/{tip}/status"))["in_best_chain"],
        true
    );
    let txids = get_json(p, &format!("/api/block/{tip}/txids"));
    assert_eq!(txids[1], api.payment.as_str());
    let txs = get_json(p, &format!("/api/block/{tip}/txs"));
    assert_eq!(txs[1]["txid"], api.payment.as_str());
    assert_eq!(
        get_json(p, &format!("/api/block/{tip}/txs/1"))[0]["txid"],
        api.payment.as_str()
    );

    let tx = get_json(p, &format!("/api/tx/{}", api.payment));
    assert_eq!(tx["status"]["block_height"], 1);
    assert_eq!(
        tx["vin"][0]["prevout"]["scriptpubkey_address"],
        api.genesis_addr.as_str()
    );
    assert!(tx["fee"].as_u64().is_some());
    assert_eq!(
        get_json(p, &format!("/api/tx/{}/status", api.payment))["confirmed"],
        true
    );
    let proof = get_json(p, &format!("/api/tx/{}/merkle-proof", api.payment));
    assert_eq!(
        (
            proof["pos"].clone(),
            proof["merkle"].as_array().map(Vec::len)
        ),
        (1.into(), Some(1))
    );
    let spent_coin = tx["vin"][0]["txid"].as_str().expect("txid").to_string();
    let os = get_json(p, &format!("/api/tx/{spent_coin}/outspend/0"));
    assert_eq!(
        (os["spent"].clone(), os["txid"].clone()),
        (true.into(), api.payment.as_str().into())
    );
    assert_eq!(
        get_json(p, &format!("/api/tx/{}/outspends", api.payment))[0]["spent"],
        false
    );

    let a = get_json(p, &format!("/api/address/{}", api.payee));
    assert_eq!(a["chain_stats"]["funded_txo_sum"], 3);
    assert_eq!(a["chain_stats"]["tx_count"], 1);
    assert_eq!(a["mempool_stats"]["tx_count"], 0);
    let h = get_json(p, &format!("/api/address/{}/txs", api.genesis_addr));
    // Genesis, the payment, and block 1's coinbase (the minter is the same key).
    assert_eq!(h.as_array().map(Vec::len), Some(3), "{h}");
    assert_eq!(h[0]["txid"], api.payment.as_str());
    let older = get_json(
        p,
        &format!(
            "/api/address/{}/txs/chain/{}",
            api.genesis_addr, api.payment
        ),
    );
    assert_eq!(older.as_array().map(Vec::len), Some(2));
    assert_eq!(
        get_json(p, &format!("/api/address/{}/utxo", api.payee))[0]["value"],
        3
    );
    assert_eq!(get_json(p, "/api/mempool")["count"], 0);
    assert_eq!(get_json(p, "/api/mempool/txids"), Value::Array(vec![]));
    assert_eq!(get_json(p, "/api/mempool/recent"), Value::Array(vec![]));
}

#[test]
fn bad_input_is_400_naming_the_field_and_unknown_is_404() {
    let (_dir, api) = start();
    let p = api.port;
    for (path, field) in [
        ("/api/block/zz", "hash"),
        ("/api/tx/123/status", "txid"),
        ("/api/address/notanaddress", "address"),
        ("/api/blocks/-1", "start_height"),
        ("/api/block-height/x", "height"),
    ] {
        let (status, body) = http_get(p, path);
        assert_eq!(status, 400, "{path}: {body}");
        let v: Value = serde_json::from_str(&body).expect("json error");
        assert_eq!(v["field"], field, "{path}");
    }
    let zero = "00".repeat(32);
    assert_eq!(http_get(p, &format!("/api/block/{zero}")).0, 404);
    assert_eq!(http_get(p, &format!("/api/tx/{zero}")).0, 404);
    assert_eq!(http_get(p, "/api/block-height/99").0, 404);
    assert_eq!(http_get(p, "/api/nothing").0, 404);
    let (status, body) = http(p, "POST", "/api/tx", &[], "nothex");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("\"tx\""), "{body}");
    let (status, _) = http(p, "POST", "/api/tx", &[], &"00".repeat(1_500_000));
    assert_eq!(status, 413);
}

#[test]
fn node_routes_need_the_cookie_and_events_stream_live() {
    let (_dir, api) = start();
    let p = api.port;
    let st = get_json(p, "/api/node/status");
    assert_eq!(st["height"], 1);
    // The index builder's thread catches the explorer indexes up.
    wait_for(WAIT, "the explorer indexes at the tip", || {
        get_json(p, "/api/node/status")["indexed_height"] == 1
    });
    let st = get_json(p, "/api/node/status");
    assert_eq!(st["index_tip"], st["tip"]);
    assert_eq!(st["minter"], api.genesis_addr.as_str());
    assert!(get_json(p, "/api/node/peers").is_array());
    let tips = get_json(p, "/api/node/chaintips");
    assert_eq!(tips[0]["status"], "active");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(api.node.dir().join(".cookie"))
            .expect("cookie")
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(http(p, "POST", "/api/node/mint", &[], "").0, 401);
    let wrong = [("Authorization", "Basic X19jb29raWVfXzp3cm9uZw==")];
    assert_eq!(http(p, "POST", "/api/node/mint", &wrong, "").0, 401);
    assert_eq!(
        http(p, "DELETE", "/api/node/peers/127.0.0.1:1", &[], "").0,
        401
    );
    let auth = cookie(&api);
    let h = [("Authorization", auth.as_str())];
    let (s, body) = http(p, "DELETE", "/api/node/peers/127.0.0.1:1", &h, "");
    assert_eq!(s, 400, "{body}");
    assert_eq!(
        http(p, "POST", "/api/node/peers", &h, "{\"addr\":\"x\"}").0,
        400
    );
    let (s, body) = http(
        p,
        "POST",
        "/api/node/peers",
        &h,
        "{\"addr\":\"127.0.0.1:1\"}",
    );
    assert_eq!(s, 200, "{body}");

    let mut events = Sse::open(p);
    let txid = api.node.ok(&[
        "send",
        "--from",
        &api.genesis_addr,
        "--to",
        &api.payee,
        "--amount",
        "1",
    ]);
    let txid = txid
        .trim()
        .rsplit(' ')
        .next()
        .unwrap_or_default()
        .to_string();
    let (name, data) = events.next();
    assert_eq!(name, "tx_accepted", "{data}");
    assert_eq!(get_json(p, "/api/mempool")["count"], 1);
    assert!(get_json(p, &format!("/api/tx/{txid}")).is_object() || txid.is_empty());
    let (s, body) = http(p, "POST", "/api/node/mint", &h, "");
    assert_eq!(s, 200, "{body}");
    let mut seen = Vec::new();
    while !seen
        .iter()
        .any(|(n, _): &(String, String)| n == "block_connected")
    {
        seen.push(events.next());
    }
    wait_for(WAIT, "the mined tx to leave the mempool", || {
        get_json(p, "/api/mempool")["count"] == 0
    });
    assert_eq!(http_get(p, "/api/blocks/tip/height").1, "2");
}

/// `from`'s confirmed coins (from the API) and its key in `node`'s wallet.
fn coins_and_key(
    api: &Api,
    from: &str,
) -> (
    Vec<(sledchain::core::tx::OutPoint, sledchain::core::tx::TxOut)>,
    p256::ecdsa::SigningKey,
) {
    use sledchain::core::address::Address;
    use std::str::FromStr;
    let from_addr = Address::from_str(from).expect("address");
    let wallets = sledchain::wallet::Wallets::load(&api.node.wallet_path()).expect("wallet");
    let key = wallets.key(&from_addr).expect("key in the wallet").clone();
    let coins = support::http::api_coins(api.port, from);
    (coins, key)
}

/// From `coin`: a payment of 1 to `to` (change back), a child spending its
/// change, and a rival spending the same coin.
fn family(
    key: &p256::ecdsa::SigningKey,
    coin: (sledchain::core::tx::OutPoint, sledchain::core::tx::TxOut),
    to: [u8; 20],
) -> [sledchain::core::tx::Transaction; 3] {
    use sledchain::core::tx::OutPoint;
    use sledchain::wallet::send::build_payment;
    let parent = build_payment(key, &[coin], to, 1, 1).expect("payment");
    let change = (
        OutPoint {
            txid: parent.txid(),
            vout: 1,
        },
        parent.outputs[1],
    );
    let child = build_payment(key, &[change], to, 1, 1).expect("child");
    let rival = build_payment(key, &[coin], to, 2, 1).expect("rival");
    [parent, child, rival]
}

#[test]
fn many_transactions_in_one_post_each_with_its_own_verdict() {
    use sledchain::core::address::Address;
    use std::str::FromStr;
    let (_dir, api) = start();
    let p = api.port;
    let (coins, key) = coins_and_key(&api, &api.genesis_addr);
    let to = Address::from_str(&api.payee).expect("payee").pubkey_hash();
    let [parent, child, rival] = family(&key, coins[0], to);
    let hex =
        |t: &sledchain::core::tx::Transaction| hex::encode(sledchain::core::encode::encode(t));
    let body = serde_json::json!([hex(&parent), "nothex", hex(&child), hex(&rival)]).to_string();
    let (status, answer) = http(p, "POST", "/api/txs", &[], &body);
    assert_eq!(status, 200, "{answer}");
    let v: Value = serde_json::from_str(&answer).expect("json");
    let v = v.as_array().expect("one verdict per item");
    assert_eq!(v.len(), 4, "{answer}");
    assert_eq!(v[0]["txid"], parent.txid().to_string().as_str());
    assert_eq!(v[0]["error"], Value::Null);
    assert_eq!(v[1]["txid"], Value::Null);
    assert!(
        v[1]["error"].as_str().is_some_and(|e| e.contains("tx")),
        "{answer}"
    );
    assert_eq!(v[2]["txid"], child.txid().to_string().as_str());
    assert_eq!(v[2]["error"], Value::Null, "a child after its parent");
    assert_eq!(v[3]["txid"], rival.txid().to_string().as_str());
    assert!(v[3]["error"].as_str().is_some(), "a double spend: {answer}");
    let ids = get_json(p, "/api/mempool/txids");
    assert_eq!(ids.as_array().map(Vec::len), Some(2), "{ids}");

    // Bounded: not a list, too many items, an HTML form's type.
    let (status, answer) = http(p, "POST", "/api/txs", &[], "nothex");
    assert_eq!(
        (status, answer.contains("\"txs\"")),
        (400, true),
        "{answer}"
    );
    let many = serde_json::json!(vec!["00"; 1_001]).to_string();
    let (status, answer) = http(p, "POST", "/api/txs", &[], &many);
    assert_eq!(
        (status, answer.contains("\"txs\"")),
        (400, true),
        "{answer}"
    );
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    assert_eq!(http(p, "POST", "/api/txs", &form, "[]").0, 415);
    assert_eq!(
        get_json(p, "/api/mempool/txids").as_array().map(Vec::len),
        Some(2)
    );
}

#[test]
fn submit_txs_over_the_control_socket_answers_per_transaction() {
    use sledchain::core::address::Address;
    use sledchain::net::control;
    use std::str::FromStr;
    let (_dir, api) = start();
    let (coins, key) = coins_and_key(&api, &api.genesis_addr);
    let to = Address::from_str(&api.payee).expect("payee").pubkey_hash();
    let [parent, child, rival] = family(&key, coins[0], to);
    let verdicts = control::submit_txs(
        &api.node.control(),
        &[parent.clone(), child.clone(), rival.clone()],
    )
    .expect("one answer for the batch");
    let txids: Vec<String> = verdicts.iter().map(|v| v.txid.clone()).collect();
    assert_eq!(
        txids,
        [&parent, &child, &rival].map(|t| t.txid().to_string())
    );
    assert_eq!(verdicts[0].error, None);
    assert_eq!(verdicts[1].error, None, "a child after its parent");
    assert!(verdicts[2].error.is_some(), "a double spend");
    assert_eq!(api.node.status().map(|s| s.mempool), Some(2));
    let too_many = vec![parent; control::MAX_SUBMIT_BATCH + 1];
    assert!(control::submit_txs(&api.node.control(), &too_many).is_err());
}
