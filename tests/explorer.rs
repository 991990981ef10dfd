//! The block explorer (`GET /`) in a real browser: headless Chromium,
//! driven through chromedriver (WebDriver) by `fantoccini`, against a real
//! 3-node network on loopback with a fork. Every page (overview, block list,
//! block, stale block, transaction, address, mempool, peers, chain tips,
//! errors) must show what the API answers; pagination must reach the last
//! item; a new transaction and a new block must appear without a reload;
//! every URL must land on the same page after a reload; axe-core (vendored
//! under `tests/vendor/axe-core/`, injected into the page) must find no
//! serious or critical accessibility violation on any page; no page may
//! scroll sideways at 400 px. Screenshots of every page at 1400 px and
//! 400 px go to `target/explorer-screenshots/`.
//!
//! `$CHROMIUM` and `$CHROMEDRIVER` name the two programs (default
//! `/usr/bin/chromium`, `/usr/bin/chromedriver`, as Debian installs them).
//! When either is not installed the browser test says so and is reported
//! as ignored, except under `CI=true`, where it fails (`.ci/run` installs
//! both), so a green CI always means the browser ran. The tests run under
//! `libtest-mimic` (`harness = false`), which can mark a test ignored at
//! run time.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use libtest_mimic::{Arguments, Failed, Trial};
use serde_json::{Value, json};
use sledchain::core::block::Block;
use sledchain::core::hash::BlockHash;
use sledchain::core::params::{SUBSIDY, now_secs};
use sledchain::wire::message::Message;
use sledchain::wire::payload::BlockMsg;
use support::http::{get_json, http_get};
use support::*;
use tempfile::TempDir;

/// axe-core 4.14.1 (MPL-2.0), from npm, injected into the page under test.
const AXE_JS: &str = include_str!("vendor/axe-core/axe.min.js");
/// The two window widths every page is checked and photographed at.
const WIDTHS: [u32; 2] = [1400, 400];

/// The browser, `$CHROMIUM` or Debian's path.
fn chromium() -> String {
    std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into())
}

/// Its WebDriver server, `$CHROMEDRIVER` or Debian's path.
fn chromedriver() -> String {
    std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into())
}
/// Longest wait for one condition on the page.
const PAGE_WAIT: Duration = Duration::from_secs(30);

/// True when `CI=true`: a test that cannot run must fail, not be ignored.
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Why the browser test cannot run here (a program missing), if it cannot.
fn browser_missing() -> Option<String> {
    let (browser, driver) = (chromium(), chromedriver());
    let missing: Vec<&String> = [&browser, &driver]
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .collect();
    if missing.is_empty() {
        return None;
    }
    let names: Vec<&str> = missing.iter().map(|p| p.as_str()).collect();
    Some(format!(
        "{} not installed (apt-get install chromium chromium-driver; .ci/run does it as root)",
        names.join(" and ")
    ))
}

fn main() {
    let args = Arguments::from_args();
    let missing = browser_missing();
    let ignored = missing.is_some() && !in_ci();
    if let (true, Some(why)) = (ignored, &missing) {
        eprintln!("IGNORED: the browser test needs Chromium and chromedriver: {why}");
    }
    let browser = Trial::test(
        "explorer_in_a_browser_follows_the_network_live",
        move || match missing {
            Some(why) => Err(Failed::from(format!(
                "CI=true requires the browser test to run, but it cannot: {why}"
            ))),
            None => {
                explorer_in_a_browser_follows_the_network_live();
                Ok(())
            }
        },
    )
    .with_ignored_flag(ignored);
    let trials = vec![
        Trial::test("page_serves_only_same_origin_assets", || {
            page_serves_only_same_origin_assets();
            Ok(())
        }),
        browser,
    ];
    libtest_mimic::run(&args, trials).exit();
}

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
    for asset in [
        "/explorer/app.js",
        "/explorer/style.css",
        "/explorer/favicon.svg",
        "/explorer/vendor/qrcode.js",
    ] {
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
    let driver = Command::new(chromedriver())
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
        "--window-size=1400,1000",
    ];
    let mut args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    args.push(format!("--user-data-dir={}", profile.display()));
    let caps = json!({"goog:chromeOptions": {"binary": chromium(), "args": args}});
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

/// Polls until the first element matching `css` has attribute `attr`
/// satisfying `ok`; its value.
async fn wait_attr(c: &Client, css: &str, attr: &str, ok: impl Fn(&str) -> bool) -> String {
    let start = Instant::now();
    let mut last = String::from("(no such element or attribute)");
    loop {
        if let Ok(e) = c.find(Locator::Css(css)).await
            && let Ok(Some(v)) = e.attr(attr).await
        {
            if ok(&v) {
                return v;
            }
            last = v;
        }
        assert!(
            start.elapsed() < PAGE_WAIT,
            "timed out waiting on {css} [{attr}]; last: {last}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until an element matches `css`.
async fn wait_present(c: &Client, css: &str) {
    wait_text(c, css, |_| true).await;
}

/// Waits until the page's title is `title`.
async fn wait_title(c: &Client, title: &str) {
    let start = Instant::now();
    loop {
        let t = c.title().await.unwrap_or_default();
        if t == title {
            return;
        }
        assert!(
            start.elapsed() < PAGE_WAIT,
            "timed out waiting for the title {title:?}; it is {t:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs axe-core on the page; panics listing every serious or critical
/// violation.
async fn axe(c: &Client, page: &str) {
    let loaded = c
        .execute("return typeof axe !== 'undefined';", vec![])
        .await
        .expect("script");
    if loaded != Value::Bool(true) {
        c.execute(&format!("{AXE_JS}\nreturn true;"), vec![])
            .await
            .expect("inject axe-core");
    }
    let found = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, {resultTypes: ['violations']}).then((r) => done(
               r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
                 .map((v) => `${v.impact} ${v.id}: ${v.help} at ${v.nodes.slice(0, 3)
                   .map((n) => n.target.join(' ')).join(', ')}`)),
               (e) => done(['axe failed: ' + e]));",
            vec![],
        )
        .await
        .expect("axe.run");
    let found: Vec<String> = serde_json::from_value(found).expect("a list");
    assert!(
        found.is_empty(),
        "accessibility violations on {page}:\n{}",
        found.join("\n")
    );
}

/// At each of [`WIDTHS`]: the page re-drawn for that width, no sideways
/// scrolling, axe-core clean, a screenshot `NAME-WIDTH.png`. Back at the
/// first width after.
async fn check_page(c: &Client, name: &str) {
    for (i, w) in WIDTHS.iter().chain(&WIDTHS[..1]).enumerate() {
        c.set_window_size(*w, 1000).await.expect("resize");
        wait_attr(c, "#view", "data-width", |v| {
            v.parse::<u32>().is_ok_and(|v| v + 40 >= *w && v <= *w)
        })
        .await;
        if i == WIDTHS.len() {
            break;
        }
        let wide = c
            .execute(
                "return [document.documentElement.scrollWidth, window.innerWidth];",
                vec![],
            )
            .await
            .expect("widths");
        let (scroll, inner) = (wide[0].as_u64(), wide[1].as_u64());
        assert!(
            scroll <= inner,
            "{name} scrolls sideways at {w} px: {scroll:?} > {inner:?}"
        );
        axe(c, &format!("{name} at {w} px")).await;
        screenshot(c, &format!("{name}-{w}")).await;
    }
}

/// Where a reload must land: the URL, the page's title, an element.
struct Visit {
    url: String,
    title: String,
    css: String,
}

async fn visit(c: &Client, seen: &mut Vec<Visit>, css: &str) {
    seen.push(Visit {
        url: c.current_url().await.expect("url").to_string(),
        title: c.title().await.expect("title"),
        css: css.to_string(),
    });
}

async fn goto(c: &Client, p: u16, route: &str) {
    c.goto(&format!("http://127.0.0.1:{p}/#/{route}"))
        .await
        .expect("open a page");
}

/// The 3-node network: the central node (HTTP API on `port`), a wallet
/// node holding four keys (two funded), a minter minting when told to
/// (`node mint`; its threshold of 100 transactions is never reached).
/// The central node's chain has 14 blocks at the start (13 paying its own
/// genesis key `genesis_key`, so its history spans two pages).
struct Net {
    _dir: TempDir,
    central: Node,
    wallet: Node,
    minter: Node,
    minter_addr: String,
    genesis_key: String,
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
    let other = central.create_wallet();
    for _ in 0..11 {
        central.mint_send(&g, &other, 1);
    }
    let m = minter.create_wallet();
    let port = free_port();
    central.start_central(&["--http", &format!("127.0.0.1:{port}")]);
    wallet.start_seeded(&central.addr(), &[]);
    minter.start_seeded(
        &central.addr(),
        &["--minter", &m, "--mint-threshold", "100"],
    );
    wait_same_tip(&[&central, &wallet, &minter], 13);
    wait_for(WAIT, "both nodes to connect to the central node", || {
        central.status().is_some_and(|s| s.peers >= 2)
    });
    Net {
        _dir: dir,
        central,
        wallet,
        minter,
        minter_addr: m,
        genesis_key: g,
        port,
        keys,
    }
}

/// The walk through every page (module docs); panics on the first
/// mismatch. Needs [`chromium`] and [`chromedriver`].
fn explorer_in_a_browser_follows_the_network_live() {
    let mut net = network();
    let profile = TempDir::new().expect("browser profile");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(drive(&net, profile.path()));
    for n in [&mut net.minter, &mut net.wallet, &mut net.central] {
        n.stop();
    }
}

/// A coinbase-only block on `prev` at `height`, at the chain's difficulty.
fn fork_block(prev: &str, height: u64, bits: u32, to: u8) -> Block {
    fork_block_at(prev, height, bits, to, now_secs() as u32)
}

/// [`fork_block`] with its timestamp `time` (seconds since the Unix epoch).
fn fork_block_at(prev: &str, height: u64, bits: u32, to: u8, time: u32) -> Block {
    let prev: BlockHash = prev.parse().expect("a block hash");
    mine_on(prev, height, bits, time, owner(&key(to)), SUBSIDY, vec![])
}

fn send_block(peer: &mut RawPeer, block: &Block) {
    peer.send(&Message::Block(BlockMsg {
        addr_from: String::new(),
        block: block.clone(),
    }));
}

/// A payment of `amount` coins with a fee of 1 coin from the wallet
/// node: its txid.
fn send(net: &Net, from: &str, to: &str, amount: &str) -> String {
    send_from(&net.wallet, from, to, amount)
}

fn send_from(node: &Node, from: &str, to: &str, amount: &str) -> String {
    tokio::task::block_in_place(|| {
        sent_txid(&node.ok(&[
            "send", "--from", from, "--to", to, "--amount", amount, "--fee", "1",
        ]))
    })
}

/// The minter mints its mempool (once it holds `txs` transactions) into
/// block `height`; waits until the central node has it.
fn mint(net: &Net, txs: usize, height: u64) {
    tokio::task::block_in_place(|| {
        wait_for(WAIT, "the payments to reach the minter", || {
            net.minter.status().is_some_and(|s| s.mempool >= txs)
        });
        net.minter.ok(&["mint"]);
        net.central.wait_height(height);
    });
}

fn coins(v: u64) -> String {
    format!("{v} {}", if v == 1 { "coin" } else { "coins" })
}

async fn drive(net: &Net, profile: &Path) {
    let p = net.port;
    let k = &net.keys;
    let mut seen = Vec::new();
    let (_driver, c) = browser(profile).await;
    goto(&c, p, "").await;

    // Overview: the summary line and the latest blocks are the API's.
    let tip = http_get(p, "/api/blocks/tip/hash").1;
    wait_attr(&c, "#summary-tip", "data-full", |t| t == tip).await;
    wait_text(&c, "#summary-height", |t| t == "13").await;
    wait_text(&c, "#live", |t| t == "live").await;
    wait_text(&c, &format!("#blocks tr[data-hash='{tip}'] td"), |t| {
        t == "13"
    })
    .await;
    wait_title(&c, "Overview · sledchain explorer").await;
    let favicon = c
        .find(Locator::Css("link[rel=icon]"))
        .await
        .expect("a favicon link");
    assert_eq!(
        favicon.attr("href").await.expect("href").as_deref(),
        Some("/explorer/favicon.svg")
    );
    check_page(&c, "01-overview").await;
    visit(&c, &mut seen, "#blocks").await;

    // Mempool: a new transaction appears without a reload.
    click(&c, "nav a[data-nav=mempool]").await;
    wait_title(&c, "Mempool · sledchain explorer").await;
    wait_text(&c, "#mempool-count", |t| t == "0").await;
    let pay1 = send(net, &k[0], &k[2], "1");
    wait_present(&c, &format!("#mempool-recent tr[data-hash='{pay1}']")).await;
    wait_text(&c, "#mempool-count", |t| t == "1").await;
    let recent = get_json(p, "/api/mempool/recent");
    let fee1 = recent[0]["fee"].as_u64().expect("fee");
    wait_text(
        &c,
        &format!("#mempool-recent tr[data-hash='{pay1}'] td:nth-child(2)"),
        |t| t == coins(fee1),
    )
    .await;
    check_page(&c, "02-mempool").await;
    visit(&c, &mut seen, "#mempool-count").await;

    // The unconfirmed payment: its mempool status and position.
    click(&c, &format!("#mempool-recent tr[data-hash='{pay1}'] a")).await;
    wait_text(&c, "dd[data-field=txid] [data-full]", |t| t == pay1).await;
    wait_present(&c, "#unconfirmed").await;
    wait_text(&c, "dd[data-field=confirmations]", |t| t == "0").await;
    wait_text(&c, "dd[data-field=mempool_position]", |t| {
        t.starts_with("1 of 1 by fee rate") && t.ends_with("fits in the next block")
    })
    .await;
    check_page(&c, "02-transaction-unconfirmed").await;
    visit(&c, &mut seen, "dd[data-field=txid]").await;

    // Blocks: the second payment makes the minter mint block 14, which
    // appears on the block list without a reload.
    click(&c, "nav a[data-nav=blocks]").await;
    wait_title(&c, "Blocks · sledchain explorer").await;
    wait_present(&c, &format!("#block-list tr[data-hash='{tip}']")).await;
    let pay2 = send(net, &k[1], &k[3], "2");
    mint(net, 2, 14);
    let b14 = http_get(p, "/api/blocks/tip/hash").1;
    let row = format!("#block-list tr[data-hash='{b14}']");
    wait_text(&c, &format!("{row} td"), |t| t == "14").await;
    wait_attr(&c, &format!("{row} td:nth-child(7) a"), "data-full", |t| {
        t == net.minter_addr
    })
    .await;
    let block = get_json(p, &format!("/api/block/{b14}"));
    let tx_count = block["tx_count"].to_string();
    wait_text(&c, &format!("{row} td:nth-child(4)"), |t| t == tx_count).await;
    let txs14 = get_json(p, &format!("/api/block/{b14}/txs"));
    let fees14: u64 = txs14
        .as_array()
        .expect("transactions")
        .iter()
        .map(|t| t["fee"].as_u64().expect("fee"))
        .sum();
    assert_eq!(fees14, 2, "two payments of fee 1");
    wait_text(&c, &format!("{row} td:nth-child(6)"), |t| {
        t == coins(fees14)
    })
    .await;
    check_page(&c, "03-blocks").await;
    visit(&c, &mut seen, "#block-list").await;

    // Pagination reaches the genesis block, the last item.
    let mut pages = 1;
    while c.find(Locator::Css(".pager a.older")).await.is_ok() {
        let here = wait_text(&c, ".pager .where", |_| true).await;
        click(&c, ".pager a.older").await;
        wait_text(&c, ".pager .where", |t| t != here).await;
        pages += 1;
        assert!(pages <= 3, "more pages than 15 blocks need");
    }
    let genesis = http_get(p, "/api/block-height/0").1;
    wait_present(&c, &format!("#block-list tr[data-hash='{genesis}']")).await;
    assert_eq!(pages, 2, "15 blocks are two pages of 10");
    check_page(&c, "04-blocks-oldest").await;
    visit(
        &c,
        &mut seen,
        &format!("#block-list tr[data-hash='{genesis}']"),
    )
    .await;

    // Block 14: its fields are the API's.
    goto(&c, p, &format!("block/{b14}")).await;
    wait_title(&c, "Block 14 · sledchain explorer").await;
    wait_text(&c, "dd[data-field=hash] [data-full]", |t| t == b14).await;
    for f in ["height", "tx_count", "nonce", "bits"] {
        let want = block[f].to_string();
        wait_text(&c, &format!("dd[data-field={f}]"), |t| t == want).await;
    }
    wait_text(&c, "dd[data-field=size]", |t| {
        t == format!("{} B", block["size"])
    })
    .await;
    wait_text(&c, "dd[data-field=pow]", |t| t.ends_with("valid")).await;
    let mtp = block["mediantime"].as_u64().expect("mediantime");
    let mtp = std::time::UNIX_EPOCH + Duration::from_secs(mtp);
    let want = humantime::format_rfc3339_seconds(mtp)
        .to_string()
        .replace('T', " ")
        .replace('Z', " UTC");
    wait_text(&c, "dd[data-field=mediantime]", |t| t == want).await;
    wait_text(&c, "dd[data-field=confirmations]", |t| t == "1").await;
    wait_text(&c, "dd[data-field=fees]", |t| t == coins(fees14)).await;
    let reward: u64 = txs14[0]["vout"]
        .as_array()
        .expect("coinbase outputs")
        .iter()
        .map(|o| o["value"].as_u64().expect("value"))
        .sum();
    wait_text(&c, "dd[data-field=reward]", |t| t == coins(reward)).await;
    let prev = block["previousblockhash"].as_str().expect("parent");
    wait_attr(
        &c,
        "dd[data-field=previous] a[data-full]",
        "data-full",
        |t| t == prev,
    )
    .await;
    let txids = get_json(p, &format!("/api/block/{b14}/txids"));
    for t in txids.as_array().expect("txids") {
        wait_present(&c, &format!("#block-txs .txrow[data-txid={t}]")).await;
    }
    click(&c, "dd[data-field=hash] button.copy").await;
    wait_text(&c, "dd[data-field=hash] button.copy", |t| t == "copied").await;
    check_page(&c, "05-block").await;
    visit(&c, &mut seen, "dd[data-field=pow]").await;

    // The payment: fee, rate, flow, merkle proof; its confirmations follow
    // new blocks live.
    click(&c, &format!(".txrow[data-txid='{pay2}'] a[data-link=tx]")).await;
    wait_text(&c, "dd[data-field=txid] [data-full]", |t| t == pay2).await;
    let tx = get_json(p, &format!("/api/tx/{pay2}"));
    let fee = tx["fee"].as_u64().expect("fee");
    wait_text(&c, "dd[data-field=fee]", |t| t == coins(fee)).await;
    let size = tx["size"].as_f64().expect("size");
    let rate = wait_text(&c, "dd[data-field=fee_rate]", |t| t.ends_with(" coins/B")).await;
    let shown: f64 = rate.trim_end_matches(" coins/B").parse().expect("a rate");
    assert!(
        (shown / (fee as f64 / size) - 1.0).abs() < 0.01,
        "fee rate {rate} for {fee} coins / {size} B"
    );
    wait_text(&c, "dd[data-field=confirmations]", |t| t == "1").await;
    let pos = get_json(p, &format!("/api/tx/{pay2}/merkle-proof"))["pos"].to_string();
    wait_text(&c, "dd[data-field=merkle_pos]", |t| t == pos).await;
    for (n, o) in tx["vout"].as_array().expect("outputs").iter().enumerate() {
        let a = o["scriptpubkey_address"].as_str().expect("address");
        wait_attr(&c, &format!("li[data-vout='{n}'] a"), "data-full", |t| {
            t == a
        })
        .await;
        wait_present(&c, &format!("#flow a[href='#/address/{a}']")).await;
    }
    check_page(&c, "06-transaction").await;
    visit(&c, &mut seen, "dd[data-field=merkle_pos]").await;
    send(net, &k[0], &k[2], "1");
    send(net, &k[1], &k[0], "1");
    mint(net, 2, 15);
    wait_text(&c, "dd[data-field=confirmations]", |t| t == "2").await;

    // The payee's address: balance, totals, QR code, history.
    let payee = &k[3];
    click(&c, &format!("#flow a[href='#/address/{payee}']")).await;
    wait_text(&c, "dd[data-field=address] [data-full]", |t| t == payee).await;
    let a = get_json(p, &format!("/api/address/{payee}"));
    let (cs, ms) = (&a["chain_stats"], &a["mempool_stats"]);
    let n = |v: &Value, f: &str| v[f].as_u64().expect("a number");
    let balance = n(cs, "funded_txo_sum") - n(cs, "spent_txo_sum");
    wait_text(&c, "dd[data-field=balance]", |t| t == coins(balance)).await;
    wait_text(&c, "dd[data-field=received]", |t| {
        t == coins(n(cs, "funded_txo_sum"))
    })
    .await;
    wait_text(&c, "dd[data-field=sent]", |t| {
        t == coins(n(cs, "spent_txo_sum"))
    })
    .await;
    let count = (n(cs, "tx_count") + n(ms, "tx_count")).to_string();
    wait_text(&c, "dd[data-field=tx_count]", |t| t == count).await;
    wait_present(&c, "#qr path").await;
    check_page(&c, "07-address").await;
    visit(&c, &mut seen, "#qr").await;

    // The genesis key's history spans two pages; the last ends with the
    // genesis coinbase.
    goto(&c, p, &format!("address/{}", net.genesis_key)).await;
    wait_present(&c, "#address-txs .txrow").await;
    click(&c, ".pager a.older").await;
    let genesis_cb = get_json(p, &format!("/api/block/{genesis}/txids"))[0]
        .as_str()
        .expect("coinbase")
        .to_string();
    wait_present(
        &c,
        &format!("#address-txs .txrow[data-txid='{genesis_cb}']"),
    )
    .await;
    assert!(
        c.find(Locator::Css(".pager a.older")).await.is_err(),
        "page 2 is the last"
    );
    let last = c
        .find_all(Locator::Css("#address-txs .txrow"))
        .await
        .expect("rows");
    let last = last
        .last()
        .expect("a row")
        .attr("data-txid")
        .await
        .expect("attr");
    assert_eq!(last.as_deref(), Some(genesis_cb.as_str()), "oldest last");
    check_page(&c, "08-address-page-2").await;
    visit(&c, &mut seen, "#address-txs .txrow").await;

    // Peers: every connection the API lists.
    click(&c, "nav a[data-nav=peers]").await;
    wait_title(&c, "Peers · sledchain explorer").await;
    let peers = get_json(p, "/api/node/peers");
    for peer in peers.as_array().expect("peers") {
        let addr = peer["addr"].as_str().expect("addr");
        wait_present(&c, &format!("#peers tr[data-addr='{addr}']")).await;
        // Bytes in and out (columns 5 and 6) are counted: a size, never
        // "not counted".
        for col in [5, 6] {
            let css = format!("#peers tr[data-addr='{addr}'] td:nth-child({col})");
            wait_text(&c, &css, |t| {
                t.ends_with(" B") || t.ends_with("kB") || t.ends_with("MB")
            })
            .await;
        }
    }
    check_page(&c, "09-peers").await;
    visit(&c, &mut seen, "#peers").await;

    // A fork: a competing block 15 from a raw peer, shown beside the best
    // chain; then block 16 on it wins and the old tip becomes the fork.
    let tip15 = http_get(p, "/api/blocks/tip/hash").1;
    let b15 = get_json(p, &format!("/api/block/{tip15}"));
    let bits = b15["bits"].as_u64().expect("bits") as u32;
    let parent = b15["previousblockhash"].as_str().expect("parent");
    // Equal work goes to the lower hash (chain/state.rs `beats`): a
    // higher one stays a fork.
    // The tip is the highest of 101 blocks about once in a hundred runs:
    // the search goes on through later timestamps (a fork block is taken
    // lazily, the first that hashes higher).
    let now = now_secs() as u32;
    let f15 = (0..600u32)
        .flat_map(|dt| (21..=120u8).map(move |seed| (dt, seed)))
        .map(|(dt, seed)| fork_block_at(parent, 15, bits, seed, now + dt))
        .find(|b| b.hash().to_string() > tip15)
        .expect("one of 60,000 blocks hashes higher");
    let f15_hash = f15.hash().to_string();
    let mut peer = RawPeer::connect(net.central.socket_addr().port());
    peer.hello(genesis.parse().expect("genesis hash"), 15);
    send_block(&mut peer, &f15);
    click(&c, "nav a[data-nav=tips]").await;
    wait_title(&c, "Chain tips · sledchain explorer").await;
    wait_attr(
        &c,
        &format!("#tips tr[data-hash='{f15_hash}']"),
        "data-status",
        |s| s != "active",
    )
    .await;
    wait_attr(&c, "#tips tr[data-status=active]", "data-hash", |h| {
        h == tip15
    })
    .await;
    wait_present(&c, &format!("#tips-picture circle[data-tip='{f15_hash}']")).await;
    let tips = get_json(p, "/api/node/chaintips");
    assert_eq!(tips.as_array().map(Vec::len), Some(2), "{tips}");
    check_page(&c, "10-tips-fork").await;

    let f16 = fork_block(&f15_hash, 16, bits, 22);
    let f16_hash = f16.hash().to_string();
    send_block(&mut peer, &f16);
    wait_attr(
        &c,
        &format!("#tips tr[data-hash='{tip15}']"),
        "data-status",
        |s| s == "valid-fork",
    )
    .await;
    wait_text(&c, "#tips tr[data-status=active] td:nth-child(2)", |h| {
        h.parse::<u64>().is_ok_and(|h| h >= 16)
    })
    .await;
    let best16 = http_get(p, "/api/block-height/16").1;
    assert_eq!(best16, f16_hash, "the heavier branch won");
    check_page(&c, "11-tips-resolved").await;
    visit(&c, &mut seen, &format!("#tips tr[data-hash='{tip15}']")).await;

    // The stale block 15 names its branch and fork point (block 14).
    click(&c, &format!("#tips tr[data-hash='{tip15}'] a")).await;
    wait_present(&c, "#stale").await;
    wait_text(&c, "dd[data-field=confirmations]", |t| t == "0").await;
    wait_text(&c, "dd[data-field=branch] a", |t| t == "14").await;
    check_page(&c, "12-block-stale").await;
    visit(&c, &mut seen, "dd[data-field=branch]").await;

    // Search from the keyboard ("/" focuses the box): by height; friendly
    // pages for what is not there.
    let body = c.find(Locator::Css("body")).await.expect("body");
    body.send_keys("/").await.expect("type /");
    let input = c.active_element().await.expect("focus");
    assert_eq!(
        input.attr("id").await.expect("id").as_deref(),
        Some("search"),
        "\"/\" focuses the search box"
    );
    input.send_keys("1\n").await.expect("type");
    let one = http_get(p, "/api/block-height/1").1;
    wait_text(&c, "dd[data-field=hash] [data-full]", |t| t == one).await;
    for (q, says) in [
        ("nonsense", "not a height, block hash, txid or address"),
        ("999999", "no block at height 999999"),
        (&"ab".repeat(32)[..], "no block or transaction"),
    ] {
        let input = c.find(Locator::Css("#search")).await.expect("search box");
        input.send_keys(&format!("{q}\n")).await.expect("type");
        wait_text(&c, "#error-searched", |t| t == q).await;
        let text = wait_text(&c, "#error-message", |t| t.to_lowercase().contains(says)).await;
        assert!(!text.contains('{'), "raw JSON on the error page: {text}");
    }
    check_page(&c, "13-not-found").await;
    visit(&c, &mut seen, "#error-searched").await;
    goto(&c, p, "no/such/page").await;
    wait_title(&c, "Page not found · sledchain explorer").await;
    wait_present(&c, "#error-searched").await;
    goto(&c, p, "address/notanaddress").await;
    wait_text(&c, "#error-searched", |t| t == "notanaddress").await;
    check_page(&c, "14-bad-address").await;
    visit(&c, &mut seen, "#error-searched").await;

    // A block of more than 25 transactions pages them: 26 payments (and
    // the two of the stale block 15, back in the mempool) in block 17.
    let pending = get_json(p, "/api/mempool")["count"]
        .as_u64()
        .expect("count") as usize;
    let other = tokio::task::block_in_place(|| net.central.create_wallet());
    for _ in 0..26 {
        send_from(&net.central, &net.genesis_key, &other, "1");
    }
    mint(net, pending + 26, 17);
    let b17 = http_get(p, "/api/block-height/17").1;
    let txids17 = get_json(p, &format!("/api/block/{b17}/txids"));
    let txids17 = txids17.as_array().expect("txids");
    assert!(txids17.len() > 26, "{} transactions", txids17.len());
    goto(&c, p, &format!("block/{b17}")).await;
    wait_present(&c, &format!("#block-txs .txrow[data-txid={}]", txids17[0])).await;
    while c.find(Locator::Css(".pager a.next")).await.is_ok() {
        let here = wait_text(&c, ".pager .where", |_| true).await;
        click(&c, ".pager a.next").await;
        wait_text(&c, ".pager .where", |t| t != here).await;
    }
    let last = txids17.last().expect("a txid");
    wait_present(&c, &format!("#block-txs .txrow[data-txid={last}]")).await;
    check_page(&c, "15-block-last-page").await;
    visit(&c, &mut seen, &format!(".txrow[data-txid={last}]")).await;

    // Every URL lands on the same page after a reload.
    for v in &seen {
        c.goto(&v.url).await.expect("open");
        c.refresh().await.expect("reload");
        wait_title(&c, &v.title).await;
        wait_present(&c, &v.css).await;
    }

    c.close().await.expect("close the browser");
}
