//! The layers hold: the engine's dependency tree has no HTTP, OAuth, cipher or JWT crate, the
//! platforms have no database, the daemon's library pulls in no test code, and no crate's
//! top-level modules import each other in a cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn tree(package: &str) -> BTreeSet<String> {
    let cargo = option_env!("CARGO").unwrap_or("cargo");
    let out = std::process::Command::new(cargo)
        .args([
            "tree",
            "--offline",
            "--locked",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--format",
            "{p}",
            "-p",
            package,
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

fn assert_none(package: &str, forbidden: &[&str]) {
    let deps = tree(package);
    assert!(deps.contains(package), "{package} not in its own tree");
    let found: Vec<&&str> = forbidden.iter().filter(|f| deps.contains(**f)).collect();
    assert!(found.is_empty(), "{package} depends on {found:?}");
}

#[test]
fn each_crate_depends_only_on_what_its_layer_allows() {
    assert_none(
        "mcp-queue",
        &[
            "reqwest",
            "hyper",
            "axum",
            "oauth2",
            "chacha20poly1305",
            "jsonwebtoken",
            "ed25519-dalek",
            "rustls",
            "mcp-platforms",
            "mcp-daemon",
        ],
    );
    assert_none(
        "mcp-platforms",
        &["sqlx", "axum", "mcp-queue", "mcp-daemon", "mcp-sandbox"],
    );
    assert_none("mcp-sandbox", &["sqlx", "mcp-queue", "mcp-daemon"]);
    assert_none("mcp-daemon", &["mcp-sandbox", "mcp-testkit"]);
    // The shipped binary carries no fake platform and no test key: those are mcp-worker-lab's.
    assert_none("mcp-worker", &["mcp-sandbox", "mcp-testkit"]);
}

/// Top-level module of a file under `src/` (`lib.rs`/`main.rs` is the crate root, `""`).
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).expect("under src");
    let first = rel
        .components()
        .next()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .unwrap_or_default();
    first.trim_end_matches(".rs").to_string()
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `crate::m` references by top-level module, leaving out comments and tests (`#[cfg(test)]`
/// onward).
fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files {
        let from = module_of(src, &f);
        if matches!(from.as_str(), "lib" | "main") {
            continue;
        }
        let text = std::fs::read_to_string(&f).expect("read");
        let text = text.split("#[cfg(test)]").next().unwrap_or("");
        let text: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let mut uses: Vec<String> = Vec::new();
        for (i, _) in text.match_indices("crate::") {
            let rest = &text[i + "crate::".len()..];
            if let Some(rest) = rest.strip_prefix('{') {
                let inner = rest.split('}').next().unwrap_or("");
                uses.extend(
                    inner
                        .split(',')
                        .map(|s| s.trim().split("::").next().unwrap_or("").to_string()),
                );
            } else {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                uses.push(name);
            }
        }
        let entry = graph.entry(from.clone()).or_default();
        for to in uses {
            if !to.is_empty() && to != from && to.chars().next().is_some_and(|c| c.is_lowercase()) {
                entry.insert(to);
            }
        }
    }
    graph
}

fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == n) {
            let mut cycle = path[i..].to_vec();
            cycle.push(n.to_string());
            return Some(cycle);
        }
        if done.contains(n) {
            return None;
        }
        path.push(n.to_string());
        for m in graph.get(n).into_iter().flatten() {
            if let Some(c) = visit(m, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(n.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for n in graph.keys() {
        if let Some(c) = visit(n, graph, &mut Vec::new(), &mut done) {
            return Some(c);
        }
    }
    None
}

#[test]
fn no_crate_has_a_cycle_between_its_modules() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut srcs = vec![root.join("src")];
    for e in std::fs::read_dir(root.join("crates"))
        .expect("crates")
        .flatten()
    {
        srcs.push(e.path().join("src"));
    }
    let mut cycles = Vec::new();
    for src in srcs {
        let graph = module_graph(&src);
        assert!(!graph.is_empty(), "{} has no modules", src.display());
        if let Some(c) = find_cycle(&graph) {
            cycles.push(format!("{}: {}", src.display(), c.join(" → ")));
        }
    }
    assert!(cycles.is_empty(), "module cycles:\n{}", cycles.join("\n"));
}

fn source_files(dirs: &[&str], exts: &[&str]) -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for d in dirs {
        let mut found = Vec::new();
        collect(&root.join(d), exts, &mut found);
        for f in found {
            let text = std::fs::read_to_string(&f).expect("read");
            files.push((f.display().to_string(), text));
        }
    }
    files
}

fn collect(dir: &Path, exts: &[&str], out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(&p, exts, out);
        } else if p.extension().is_some_and(|x| exts.iter().any(|e| x == *e)) {
            out.push(p);
        }
    }
}

/// One owner per state: only the engine writes `mcp.sync_jobs` (the daemon enqueues through
/// `mcp.enqueue_many` / `mcp_queue`), the sandbox never borrows the verifiers' code, and no
/// statement of the daemon or example in `jobs/` spells out a list of integration states
/// instead of naming it (`core.state_in_service(…)`).
#[test]
fn states_have_one_owner() {
    for (file, text) in source_files(
        &["crates/mcp-daemon/src", "crates/mcp-platforms/src"],
        &["rs"],
    ) {
        assert!(
            !text.contains("INSERT INTO mcp.sync_jobs"),
            "{file} inserts into mcp.sync_jobs itself"
        );
    }
    // The sandbox signs and canonicalises on its own: a bug in a verifier must not be mirrored
    // by the signer the tests use.
    for (file, text) in source_files(&["crates/mcp-sandbox/src"], &["rs"]) {
        assert!(
            !text.contains("mcp_platforms::webhooks"),
            "{file} uses the verifiers' code"
        );
    }
    for (file, text) in source_files(&["crates", "src", "jobs"], &["rs", "sql"]) {
        for list in [
            "'CONNECTED', 'ACTIVE'",
            "'ACTIVE', 'DEGRADED'",
            "('CONNECTED', 'ACTIVE'",
        ] {
            assert!(
                !text.contains(list),
                "{file} spells out integration states ({list}…) instead of a named predicate"
            );
        }
    }
}
