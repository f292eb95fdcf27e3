//! The layers hold: the engine's dependency tree has no HTTP, OAuth, cipher or JWT crate, the
//! platforms have no database, the daemon's library pulls in no test code, and no crate's
//! top-level modules or files import each other in a cycle; only a kind's type names it and
//! statements go through `mcp_queue::pg` (`statements.rs`); tests that run a daemon count the
//! jobs they made (`tests.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

mod statements;
mod tests;

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
            "mcp-handlers",
        ],
    );
    assert_none(
        "mcp-platforms",
        &[
            "sqlx",
            "axum",
            "mcp-queue",
            "mcp-daemon",
            "mcp-handlers",
            "mcp-sandbox",
        ],
    );
    assert_none("mcp-sandbox", &["sqlx", "mcp-queue", "mcp-daemon"]);
    // The domain never depends on what runs it: a handler's change rebuilds only mcp-handlers
    // and the binaries.
    assert_none(
        "mcp-daemon",
        &["mcp-sandbox", "mcp-testkit", "mcp-handlers"],
    );
    assert_none("mcp-handlers", &["mcp-sandbox", "mcp-testkit"]);
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
    collect(dir, &["rs"], out)
}

/// A source file's text before its tests (`#[cfg(test)]` onward), without its comment lines.
fn code_of(f: &Path) -> String {
    let text = std::fs::read_to_string(f).expect("read");
    let text = text.split("#[cfg(test)]").next().unwrap_or("");
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
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
        let text = code_of(&f);
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

/// Every crate's `src` folder: the root package's and each of `crates/*`.
fn crate_srcs() -> Vec<std::path::PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut srcs = vec![root.join("src")];
    for e in std::fs::read_dir(root.join("crates"))
        .expect("crates")
        .flatten()
    {
        srcs.push(e.path().join("src"));
    }
    srcs
}

/// The cycle (if any) of each crate's graph that `graph_of` makes of its `src` folder.
fn cycles_in(graph_of: impl Fn(&Path) -> BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let mut cycles = Vec::new();
    for src in crate_srcs() {
        if let Some(c) = find_cycle(&graph_of(&src)) {
            cycles.push(format!("{}: {}", src.display(), c.join(" → ")));
        }
    }
    cycles
}

#[test]
fn no_crate_has_a_cycle_between_its_modules() {
    let cycles = cycles_in(|src| {
        let graph = module_graph(src);
        assert!(!graph.is_empty(), "{} has no modules", src.display());
        graph
    });
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

/// One owner per state: only the engine inserts into `mcp.sync_jobs` (the daemon enqueues
/// through its kinds' types and the engine's statements), the sandbox never borrows the verifiers' code, and no
/// statement of the daemon or example in `jobs/` spells out a list of integration states
/// instead of naming it (`core.state_in_service(…)`).
#[test]
fn states_have_one_owner() {
    for (file, text) in source_files(
        &[
            "crates/mcp-daemon/src",
            "crates/mcp-handlers/src",
            "crates/mcp-platforms/src",
        ],
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

/// A source file's module path below `src` (`a/b.rs` and `a/b/mod.rs` are `[a, b]`).
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let rel = file
        .strip_prefix(src)
        .expect("under src")
        .with_extension("");
    let mut segs: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if segs
        .last()
        .is_some_and(|l| matches!(l.as_str(), "mod" | "lib" | "main"))
    {
        segs.pop();
    }
    segs
}

/// The file that holds module path `segs`, or its deepest ancestor that exists (an item's path
/// ends at the file that declares it).
fn file_of(src: &Path, segs: &[String]) -> Option<std::path::PathBuf> {
    for n in (0..=segs.len()).rev() {
        let base: std::path::PathBuf = segs[..n].iter().collect();
        let candidates = if n == 0 {
            vec![src.join("lib.rs"), src.join("main.rs")]
        } else {
            vec![
                src.join(&base).with_extension("rs"),
                src.join(&base).join("mod.rs"),
            ]
        };
        if let Some(f) = candidates.into_iter().find(|c| c.exists()) {
            return Some(f);
        }
    }
    None
}

/// The `crate::`, `super::` and `self::` paths a text names (one level of braces expanded);
/// `$crate::` in a macro body is the caller's, not the file's.
fn named_paths(text: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    for start in ["crate::", "super::", "self::"] {
        for (i, _) in text.match_indices(start) {
            let before = if i == 0 { b' ' } else { bytes[i - 1] };
            if before == b'$' || before.is_ascii_alphanumeric() || before == b'_' || before == b':'
            {
                continue;
            }
            let rest = &text[i..];
            let path: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            let base: Vec<String> = path
                .split("::")
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            let after = &rest[path.len()..];
            match after.strip_prefix('{') {
                Some(inner) if path.ends_with("::") => {
                    for part in inner.split('}').next().unwrap_or("").split(',') {
                        let part = part.split_whitespace().next().unwrap_or("");
                        let mut p = base.clone();
                        p.extend(
                            part.split("::")
                                .filter(|s| !s.is_empty())
                                .map(str::to_string),
                        );
                        out.push(p);
                    }
                }
                _ => out.push(base),
            }
        }
    }
    out
}

/// Which files each file of `src` names, leaving out comments, tests and a module's own
/// descendants (a parent declaring and re-exporting its children is its structure).
fn file_graph(src: &Path) -> BTreeMap<std::path::PathBuf, BTreeSet<std::path::PathBuf>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut graph = BTreeMap::new();
    for f in files {
        let me = module_path(src, &f);
        let is_mod = f
            .file_name()
            .is_some_and(|n| n == "mod.rs" || n == "lib.rs" || n == "main.rs");
        let text = code_of(&f);
        let mut deps = BTreeSet::new();
        for segs in named_paths(&text) {
            let mut at = me.clone();
            let mut rest = segs.as_slice();
            if rest.first().is_some_and(|s| s == "crate") {
                at.clear();
                rest = &rest[1..];
            } else {
                while let Some(s) = rest.first() {
                    match s.as_str() {
                        "super" => {
                            at.pop();
                        }
                        "self" => {}
                        _ => break,
                    }
                    rest = &rest[1..];
                }
            }
            at.extend(rest.iter().cloned());
            let Some(target) = file_of(src, &at) else {
                continue;
            };
            let them = module_path(src, &target);
            let descendant = is_mod && them.len() > me.len() && them.starts_with(&me);
            if target != f && !descendant {
                deps.insert(target);
            }
        }
        graph.insert(f, deps);
    }
    graph
}

#[test]
fn no_crate_has_a_cycle_between_its_files() {
    let cycles = cycles_in(|src| {
        file_graph(src)
            .into_iter()
            .map(|(f, deps)| {
                let name = |p: &Path| p.strip_prefix(src).unwrap_or(p).display().to_string();
                (name(&f), deps.iter().map(|d| name(d)).collect())
            })
            .collect()
    });
    assert!(cycles.is_empty(), "file cycles:\n{}", cycles.join("\n"));
}
