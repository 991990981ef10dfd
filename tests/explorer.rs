//! The block explorer page (`GET /`) in a real browser: headless Chromium,
//! driven through chromedriver (WebDriver) by `fantoccini`, against a real
//! 3-node network on loopback. The page must show the tip the API reports,
//! show a newly minted block without a reload, and lead from a block to a
//! transaction to an address whose figures match the API. Screenshots go
//! to `target/explorer-screenshots/`.
//!
//! Skipped (passing, with a printed message) when `chromium` or
//! `chromedriver` is not installed; `.ci/run` installs them.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use support::http::{get_json, http_get};
use support::*;
use tempfile::TempDir;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Longest wait for one condition on the page.
const PAGE_WAIT: Duration = Duration::from_secs(30);

#[test]
fn page_serves_only_same_origin_assets() {
    let (status, page) = explorer_node_page();
    assert_eq!(status, 200);
    assert!(page.contains("<script src=\"/explorer/app.js\">"), "{page}");
    for attr in ["src=\"", "href=\""] {
        for rest in page.split(attr).skip(1) {
            assert!(
                rest.starts_with('/') || rest.starts_with('#'),
                "not same-origin: {attr}{rest}"
            );
        }
    }
    let js = sledchain::api::explorer::APP_JS;
    assert!(
        !js.contains("innerHTML"),
        "data must never be inserted as HTML"
    );
    // No URL but the SVG namespace name (which is never fetched).
    let urls: Vec<_> = js
        .match_indices("http")
        .filter(|(i, _)| !js[*i..].starts_with("http://www.w3.org/2000/svg"))
        .collect();
    assert!(urls.is_empty(), "the script names another origin");
}

/// One node with `--http`: GET / (status, body), and the assets answer.
fn explorer_node_page() -> (u16, String) {
    let dir = TempDir::new().expect("tempdir");
    let mut node = Node::new(dir.path(), "page");
    node.create_chain();
    let port = free_port();
    let me = node.addr();
    node.start(&["--seed", &me, "--http", &format!("127.0.0.1:{port}")]);
    wait_for(WAIT, "the HTTP API", || {
        http_get(port, "/api/blocks/tip/height").0 == 200
    });
    for asset in ["/explorer/app.js", "/explorer/style.css"] {
        assert_eq!(http_get(port, asset).0, 200, "{asset}");
    }
    http_get(port, "/")
}

/// chromedriver, killed (with the browser it started) on drop.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        // The browser is chromedriver's child: end it first, by its pid.
        for pid in children_of(self.0.id()) {
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg(pid.to_string())
                .status();
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Pids whose parent is `parent` (from /proc).
fn children_of(parent: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        let pid: u32 = e.ok()?.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // "pid (comm) state ppid ...": the fields after the last ')'.
        let ppid: u32 = stat
            .rsplit_once(')')?
            .1
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()?;
        (ppid == parent).then_some(pid)
    })
    .collect()
}

fn screenshots() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target dir")
        .join("explorer-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

async fn browser(profile: &Path) -> (Driver, Client) {
    let port = free_port();
    let driver = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let driver = Driver(driver);
    wait_for(WAIT, "chromedriver", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let args = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1200,1400",
    ];
    let mut args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    args.push(format!("--user-data-dir={}", profile.display()));
    let caps = json!({"goog:chromeOptions": {"binary": CHROMIUM, "args": args}});
    let Value::Object(caps) = caps else {
        unreachable!("a JSON object")
    };
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let client = ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a chromedriver session");
    (driver, client)
}

/// Polls until the first element matching `css` has text satisfying `ok`;
/// that text. Panics with the last text seen after [`PAGE_WAIT`].
async fn wait_text(c: &Client, css: &str, ok: impl Fn(&str) -> bool) -> String {
    let start = Instant::now();
    let mut last = String::from("(no such element)");
    loop {
        if let Ok(e) = c.find(Locator::Css(css)).await
            && let Ok(t) = e.text().await
        {
            if ok(&t) {
                return t;
            }
            last = t;
        }
        assert!(
            start.elapsed() < PAGE_WAIT,
            "timed out waiting on {css}; last text: {last}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn click(c: &Client, css: &str) {
    let start = Instant::now();
    loop {
        if let Ok(e) = c.find(Locator::Css(css)).await
            && e.click().await.is_ok()
        {
            return;
        }
        assert!(start.elapsed() < PAGE_WAIT, "timed out clicking {css}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("screenshot");
    std::fs::write(screenshots().join(format!("{name}.png")), png).expect("write screenshot");
}

/// The 3-node network: the central node (HTTP API on `port`), a wallet
/// node holding two funded keys, a minter minting at 2 transactions.
struct Net {
    _dir: TempDir,
    central: Node,
    wallet: Node,
    minter: Node,
    port: u16,
    keys: [String; 4],
}

fn network() -> Net {
    let dir = TempDir::new().expect("tempdir");
    let mut central = Node::new(dir.path(), "central");
    let mut wallet = Node::new(dir.path(), "wallet");
    let mut minter = Node::new(dir.path(), "minter");
    let g = central.create_chain();
    let keys = [(); 4].map(|_| wallet.create_wallet());
    central.mint_send(&g, &keys[0], 10);
    central.mint_send(&g, &keys[1], 10);
    let m = minter.create_wallet();
    let port = free_port();
    central.start_central(&["--http", &format!("127.0.0.1:{port}")]);
    wallet.start_seeded(&central.addr(), &[]);
    minter.start_seeded(&central.addr(), &["--minter", &m, "--mint-threshold", "2"]);
    wait_same_tip(&[&central, &wallet, &minter], 2);
    wait_for(WAIT, "both nodes to connect to the central node", || {
        central.status().is_some_and(|s| s.peers >= 2)
    });
    Net {
        _dir: dir,
        central,
        wallet,
        minter,
        port,
        keys,
    }
}

#[test]
fn explorer_in_a_browser_follows_the_network_live() {
    if !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
        eprintln!(
            "SKIPPED: {CHROMIUM} or {CHROMEDRIVER} is not installed \
             (apt-get install chromium chromium-driver; .ci/run does it as root)"
        );
        return;
    }
    let mut net = network();
    let profile = TempDir::new().expect("browser profile");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(drive(&net, profile.path()));
    for n in [&mut net.minter, &mut net.wallet, &mut net.central] {
        n.stop();
    }
}

async fn drive(net: &Net, profile: &Path) {
    let p = net.port;
    let (_driver, c) = browser(profile).await;
    c.goto(&format!("http://127.0.0.1:{p}/"))
        .await
        .expect("open the page");

    // The tip the API reports, the summary and the chain tips picture.
    let tip = http_get(p, "/api/blocks/tip/hash").1;
    wait_text(&c, "#summary-tip", |t| t == tip).await;
    wait_text(&c, "#summary-height", |t| t == "2").await;
    wait_text(&c, "#live", |t| t == "live").await;
    wait_text(&c, "#tips tr[data-status=active] td:nth-child(4)", |t| {
        t == tip
    })
    .await;
    wait_text(&c, &format!("#blocks tr[data-hash='{tip}'] td"), |t| {
        t == "2"
    })
    .await;
    screenshot(&c, "1-home").await;

    // Two payments reach the minter's threshold: block 3, shown live.
    let k = &net.keys;
    tokio::task::block_in_place(|| {
        net.wallet
            .ok(&["send", "--from", &k[0], "--to", &k[2], "--amount", "1"]);
        net.wallet
            .ok(&["send", "--from", &k[1], "--to", &k[3], "--amount", "2"]);
        net.central.wait_height(3);
    });
    let new_tip = http_get(p, "/api/blocks/tip/hash").1;
    let row = format!("#blocks tr[data-hash='{new_tip}'] td");
    wait_text(&c, &row, |t| t == "3").await;
    wait_text(&c, "#summary-tip", |t| t == new_tip).await;
    wait_text(&c, "#tips tr[data-status=active] td:nth-child(2)", |t| {
        t == "3"
    })
    .await;
    screenshot(&c, "2-new-block-live").await;

    // Block -> transaction -> address, each figure checked against the API.
    click(&c, &format!("#blocks tr[data-hash='{new_tip}'] td a")).await;
    let block = get_json(p, &format!("/api/block/{new_tip}"));
    wait_text(&c, "dd[data-field=hash]", |t| t == new_tip).await;
    for f in ["height", "tx_count", "nonce", "bits", "size"] {
        let want = block[f].to_string();
        wait_text(&c, &format!("dd[data-field={f}]"), |t| t == want).await;
    }
    wait_text(&c, "dd[data-field=pow]", |t| t.ends_with("valid")).await;
    screenshot(&c, "3-block").await;

    let txids = get_json(p, &format!("/api/block/{new_tip}/txids"));
    let payment = txids[1].as_str().expect("a payment in block 3").to_string();
    click(&c, &format!("div[data-txid='{payment}'] a[data-link=tx]")).await;
    let tx = get_json(p, &format!("/api/tx/{payment}"));
    wait_text(&c, "dd[data-field=txid]", |t| t == payment).await;
    let fee = tx["fee"].to_string();
    wait_text(&c, "dd[data-field=fee]", |t| t == fee).await;
    wait_text(&c, "dd[data-field=confirmations]", |t| t == "1").await;
    let pos = get_json(p, &format!("/api/tx/{payment}/merkle-proof"))["pos"].to_string();
    wait_text(&c, "dd[data-field=merkle_pos]", |t| t == pos).await;
    screenshot(&c, "4-transaction").await;

    let vout = tx["vout"].as_array().expect("outputs");
    let (n, payee) = vout
        .iter()
        .enumerate()
        .find_map(|(n, o)| {
            let a = o["scriptpubkey_address"].as_str()?;
            (a == k[2] || a == k[3]).then(|| (n, a.to_string()))
        })
        .expect("the payee among the outputs");
    click(&c, &format!("div[data-vout='{n}'] a[data-link=address]")).await;
    let a = get_json(p, &format!("/api/address/{payee}"));
    let cs = &a["chain_stats"];
    let balance =
        cs["funded_txo_sum"].as_u64().unwrap_or(0) - cs["spent_txo_sum"].as_u64().unwrap_or(0);
    wait_text(&c, "dd[data-field=address]", |t| t == payee).await;
    wait_text(&c, "dd[data-field=balance]", |t| t == balance.to_string()).await;
    assert!(balance > 0, "the payee was paid: {a}");
    let tx_count = cs["tx_count"].to_string();
    wait_text(&c, "dd[data-field=tx_count]", |t| t == tx_count).await;
    screenshot(&c, "5-address").await;

    // The search box finds a block by height.
    let input = c.find(Locator::Css("#search")).await.expect("search box");
    input.send_keys("1\n").await.expect("type");
    let one = http_get(p, "/api/block-height/1").1;
    wait_text(&c, "dd[data-field=hash]", |t| t == one).await;

    c.close().await.expect("close the browser");
}
