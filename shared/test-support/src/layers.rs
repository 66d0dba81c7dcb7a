//! The layers a chapter's `src/lib.rs` draws, checked against its code.
//!
//! A chapter's `src/lib.rs` carries a table of the crate's layers, top to bottom, one line each:
//! `layer: its modules -> the layers it may use`. [`check_crate`] reads that table and every file
//! under `src/`, collects what each module takes from the rest of the crate (`use crate::...`
//! trees, however nested, `crate::x::...` paths in code, and `super::` paths that climb out of
//! the module), and fails, naming the file, the line and the rule, for
//! - a use the table does not allow: a module may use the modules of its own layer and of the
//!   layers its line names, and a line may only name layers below it (dependencies point down);
//! - a module under `src/` that is in no layer, and a module in the table that does not exist.
//!
//! Not checked: comments (doc comments too) and string literals, which are not code;
//! `#[cfg(test)]` items, because a unit test is a client of its module and may build what it
//! needs from any layer; and the two crate roots, `lib.rs` (the module list and re-exports, which
//! the check follows: `crate::Config` counts as the module `config`) and `main.rs` (the binary,
//! which assembles everything).
//!
//! Each chapter from 02 on calls it from its `tests/layers.rs`; only the table in `lib.rs` changes
//! from one chapter to the next. Run it with `cargo test -p chNN-... --test layers`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

// ---------------------------------------------------------------------------------------------
// The checker, proven able to fail on small crates written here.

#[cfg(test)]
/// A crate in four layers: a picture first, which is not the table, then the table.
const LIB_RS: &str = "\
//! ```text
//! transport
//!    |
//! session
//! ```
//!
//! ```text
//! transport: transport -> session protocol wire
//! session:   session, heartbeat -> protocol wire
//! protocol:  protocol -> nothing
//! wire:      wire ->
//! ```

pub mod heartbeat;
pub mod protocol;
pub mod session;
pub mod transport;
pub mod wire;
#[cfg(test)]
mod testkit;

pub use session::{Session as Conn, run};
pub use transport::serve;
";

#[cfg(test)]
/// The crate of `LIB_RS`, every module within the rules, with `file` added or replaced.
fn crate_with(file: &str, text: &str) -> Vec<(String, String)> {
    let mut files = BTreeMap::from([
        ("lib.rs", LIB_RS),
        ("main.rs", "use demo::{protocol, transport};\nfn main() {}\n"),
        ("transport.rs", "use crate::{Conn, protocol::Frame, session, wire::Socket};\n"),
        ("session.rs", "use crate::{heartbeat::Beat, protocol};\nuse super::wire;\n"),
        ("heartbeat.rs", "use crate::protocol as p;\nfn f() { crate::session::run(); }\n"),
        ("protocol.rs", "use std::fmt;\n"),
        ("wire.rs", "use tokio::net::TcpStream;\n"),
        ("testkit.rs", "use crate::transport::serve;\n"),
    ]);
    files.insert(file, text);
    files.into_iter().map(|(path, text)| (path.to_owned(), text.to_owned())).collect()
}

#[cfg(test)]
const PROTOCOL_RULE: &str = "(src/lib.rs: `protocol:  protocol -> nothing`)";

#[test]
fn a_crate_within_its_rules_passes() {
    let report = check(LIB_RS, &crate_with("protocol.rs", "use std::fmt;\n"));
    assert_eq!(report.problems, Vec::<String>::new());
    // transport.rs 4, session.rs 3, heartbeat.rs 2; not main.rs, nor the test-only testkit.rs.
    assert_eq!(report.checked, 9);
}

#[test]
fn a_forbidden_use_is_reported_with_its_file_line_and_rule() {
    let protocol = r#"//! Protocol: it never does `use crate::transport;` (a comment, not a use).
use std::fmt;

use crate::{
    heartbeat::{self, Beat},
    session as _,
};

/* crate::transport::serve() in a block comment */
pub fn f() -> &'static str {
    let _quote = '"';
    crate::transport::serve();
    "crate::transport::serve"
}

#[cfg(test)]
mod tests {
    use crate::transport;
}
"#;
    let report = check(LIB_RS, &crate_with("protocol.rs", protocol));
    assert_eq!(
        report.problems,
        [
            format!(
                "src/protocol.rs:5: `crate::heartbeat` is in the session layer, which the \
                 protocol layer may not use {PROTOCOL_RULE}"
            ),
            format!(
                "src/protocol.rs:6: `crate::session` is in the session layer, which the \
                 protocol layer may not use {PROTOCOL_RULE}"
            ),
            format!(
                "src/protocol.rs:12: `crate::transport` is in the transport layer, which the \
                 protocol layer may not use {PROTOCOL_RULE}"
            ),
        ]
    );
}

#[test]
fn a_re_export_does_not_hide_the_module_behind_it() {
    let report = check(LIB_RS, &crate_with("protocol.rs", "pub struct P(crate::Conn);\n"));
    assert_eq!(
        report.problems,
        [format!(
            "src/protocol.rs:1: `crate::Conn` (module `session`) is in the session layer, which \
             the protocol layer may not use {PROTOCOL_RULE}"
        )]
    );
}

#[test]
fn a_super_path_that_leaves_the_module_is_checked() {
    let codec = "use super::Frame;\nuse super::super::wire::Socket;\nuse self::inner::X;\n";
    let mut files = crate_with("protocol/codec.rs", codec);
    files.retain(|(path, _)| path != "protocol.rs");
    files.push(("protocol/mod.rs".to_owned(), "mod codec;\npub struct Frame;\n".to_owned()));
    let report = check(LIB_RS, &files);
    assert_eq!(
        report.problems,
        [format!(
            "src/protocol/codec.rs:2: `super::super::wire` is in the wire layer, which the \
             protocol layer may not use {PROTOCOL_RULE}"
        )]
    );
}

#[test]
fn the_table_names_every_module_and_only_those() {
    let mut files = crate_with("cache.rs", "pub struct Cache;\n");
    files.retain(|(path, _)| path != "heartbeat.rs");
    files.retain(|(path, _)| path != "session.rs");
    let lib_rs = LIB_RS.replace("pub mod heartbeat;\n", "pub mod cache;\n");
    assert_eq!(
        check(&lib_rs, &files).problems,
        [
            "src/cache.rs: the module `cache` is in no layer of the table in src/lib.rs",
            "src/lib.rs: the table puts `heartbeat` in the session layer, but there is no \
             module `heartbeat` in src/",
        ]
    );
}

#[test]
fn the_table_points_down() {
    let lib_rs = LIB_RS.replace("protocol -> nothing", "protocol -> session");
    assert_eq!(
        check(&lib_rs, &crate_with("protocol.rs", "")).problems,
        ["src/lib.rs: `protocol:  protocol -> session`: the session layer is not below the \
             protocol layer, and dependencies point down"]
    );
}

#[test]
fn a_crate_without_a_table_fails() {
    let lib_rs = "//! No table here.\n\npub mod protocol;\n";
    let problems = check(lib_rs, &[("protocol.rs".to_owned(), String::new())]).problems;
    assert_eq!(problems.len(), 1);
    assert!(problems[0].starts_with("src/lib.rs: no layer table"), "{}", problems[0]);
}

// ---------------------------------------------------------------------------------------------
// The checker.

/// What a check found: its problems, and how many uses of the crate it checked.
#[derive(Debug)]
pub struct Report {
    pub problems: Vec<String>,
    pub checked: usize,
}

/// Checks the crate at `manifest_dir`: every file under its `src/` against the table in its
/// `src/lib.rs`.
pub fn check_crate(manifest_dir: &Path) -> Report {
    let src = manifest_dir.join("src");
    let lib_rs = fs::read_to_string(src.join("lib.rs")).expect("read src/lib.rs");
    let mut files = Vec::new();
    read_sources(&src, &src, &mut files);
    check(&lib_rs, &files)
}

/// Checks the files of a crate (each a path under `src/` and its text) against the table in its
/// `lib.rs`.
fn check(lib_rs: &str, files: &[(String, String)]) -> Report {
    let mut report = Report { problems: Vec::new(), checked: 0 };
    let layers = match parse_table(lib_rs) {
        Ok(layers) => layers,
        Err(problems) => {
            report.problems = problems;
            return report;
        }
    };
    let root = crate_root(lib_rs);

    // The crate's modules: every `mod` of lib.rs and every file's; test-only ones aside.
    let mut modules = root.modules.clone();
    modules.extend(files.iter().filter_map(|(path, _)| module_path(path)).map(|m| m[0].clone()));
    modules.retain(|m| !root.test_only.contains(m));
    for module in modules.iter().filter(|m| layer_of(&layers, m).is_none()) {
        let file = files
            .iter()
            .map(|(path, _)| path.as_str())
            .find(|path| module_path(path).is_some_and(|m| m[0] == *module));
        report.problems.push(format!(
            "src/{}: the module `{module}` is in no layer of the table in src/lib.rs",
            file.unwrap_or("lib.rs")
        ));
    }
    for layer in &layers {
        for module in layer.modules.iter().filter(|m| !modules.contains(*m)) {
            report.problems.push(format!(
                "src/lib.rs: the table puts `{module}` in the {} layer, but there is no module \
                 `{module}` in src/",
                layer.name
            ));
        }
    }

    for (path, text) in files {
        let Some(here) = module_path(path) else { continue };
        let Some(layer) = layer_of(&layers, &here[0]) else { continue };
        for used in crate_uses(&here, text) {
            report.checked += 1;
            let module = if modules.contains(&used.name) {
                &used.name
            } else if let Some(module) = root.reexports.get(&used.name) {
                module
            } else {
                report.problems.push(format!(
                    "src/{path}:{}: `{}` is neither a module of the table nor a re-export of \
                     src/lib.rs",
                    used.line, used.path
                ));
                continue;
            };
            let Some(target) = layer_of(&layers, module) else { continue };
            if target.name == layer.name || layer.may_use.contains(&target.name) {
                continue;
            }
            let via =
                if *module == used.name { String::new() } else { format!(" (module `{module}`)") };
            report.problems.push(format!(
                "src/{path}:{}: `{}`{via} is in the {} layer, which the {} layer may not use \
                 (src/lib.rs: `{}`)",
                used.line, used.path, target.name, layer.name, layer.line
            ));
        }
    }
    report
}

/// One line of the table: a layer, its modules, and the layers below it that it may use.
struct Layer {
    name: String,
    modules: Vec<String>,
    may_use: Vec<String>,
    line: String,
}

/// The layer of a module, by the table.
fn layer_of<'a>(layers: &'a [Layer], module: &str) -> Option<&'a Layer> {
    layers.iter().find(|layer| layer.modules.iter().any(|m| m == module))
}

/// The table in the `//!` header of `lib.rs`, top to bottom: the one fenced block whose every
/// line reads `layer: modules -> layers it may use` (`-> nothing`, or just `->`, for none).
fn parse_table(lib_rs: &str) -> Result<Vec<Layer>, Vec<String>> {
    let mut blocks: Vec<Vec<&str>> = Vec::new();
    let mut open: Option<Vec<&str>> = None;
    for line in lib_rs.lines().filter_map(|l| l.trim_start().strip_prefix("//!")).map(str::trim) {
        if line.starts_with("```") {
            match open.take() {
                Some(block) => blocks.push(block),
                None => open = Some(Vec::new()),
            }
        } else if let Some(block) = open.as_mut().filter(|_| !line.is_empty()) {
            block.push(line);
        }
    }
    let mut tables =
        blocks.into_iter().filter(|b| !b.is_empty() && b.iter().all(|l| parse_line(l).is_some()));
    let table = match (tables.next(), tables.next()) {
        (Some(table), None) => table,
        (None, _) => {
            return Err(vec![
                "src/lib.rs: no layer table in the `//!` header (a fenced block whose every line \
                 reads `layer: modules -> layers it may use`)"
                    .to_owned(),
            ]);
        }
        (Some(_), Some(_)) => return Err(vec!["src/lib.rs: two layer tables".to_owned()]),
    };
    let layers: Vec<Layer> = table.into_iter().filter_map(parse_line).collect();

    let mut problems = Vec::new();
    let mut placed: BTreeMap<&str, &str> = BTreeMap::new();
    for (i, layer) in layers.iter().enumerate() {
        if layers[..i].iter().any(|l| l.name == layer.name) {
            problems.push(format!("src/lib.rs: two lines for the {} layer", layer.name));
        }
        for module in &layer.modules {
            if let Some(other) = placed.insert(module.as_str(), layer.name.as_str()) {
                problems.push(format!(
                    "src/lib.rs: `{module}` is in two layers, {other} and {}",
                    layer.name
                ));
            }
        }
        for used in &layer.may_use {
            match layers.iter().position(|l| l.name == *used) {
                None => {
                    problems
                        .push(format!("src/lib.rs: `{}`: there is no {used} layer", layer.line));
                }
                Some(j) if j <= i => problems.push(format!(
                    "src/lib.rs: `{}`: the {used} layer is not below the {} layer, and \
                     dependencies point down",
                    layer.line, layer.name
                )),
                Some(_) => {}
            }
        }
    }
    if problems.is_empty() { Ok(layers) } else { Err(problems) }
}

/// `application: app, chain, registry -> protocol`, or `protocol: protocol -> nothing`.
fn parse_line(line: &str) -> Option<Layer> {
    let (name, rest) = line.split_once(':')?;
    let (modules, may_use) = rest.split_once("->")?;
    let words = |s: &str| -> Vec<String> {
        s.split(|c: char| c.is_whitespace() || c == ',')
            .filter(|w| !w.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let (name, modules, mut may_use) = (name.trim(), words(modules), words(may_use));
    if may_use == ["nothing"] {
        may_use.clear();
    }
    let well_formed = is_ident(name)
        && !modules.is_empty()
        && modules.iter().chain(&may_use).all(|w| is_ident(w));
    well_formed.then(|| Layer { name: name.to_owned(), modules, may_use, line: line.to_owned() })
}

fn is_ident(word: &str) -> bool {
    word.starts_with(|c: char| c.is_alphabetic() || c == '_')
        && word.chars().all(|c| c.is_alphanumeric() || c == '_')
}

/// What `lib.rs` declares: its modules, those of them that exist only for tests, and its
/// re-exports (`pub use session::{Session as Conn}` makes `crate::Conn` the module `session`).
struct CrateRoot {
    modules: BTreeSet<String>,
    test_only: BTreeSet<String>,
    reexports: BTreeMap<String, String>,
}

fn crate_root(lib_rs: &str) -> CrateRoot {
    let mut root = CrateRoot {
        modules: BTreeSet::new(),
        test_only: BTreeSet::new(),
        reexports: BTreeMap::new(),
    };
    let tokens = tokenize(lib_rs);
    let mut uses = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let test_only = is_cfg_test(&tokens, i);
        i = after_attributes(&tokens, i);
        let item = &tokens[i..];
        let at = |k: usize| item.get(k).map_or("", |t| t.text.as_str());
        let visibility = match (at(0), at(1)) {
            ("pub", "(") => item.iter().position(|t| t.text == ")").map_or(1, |k| k + 1),
            ("pub", _) => 1,
            _ => 0,
        };
        if at(visibility) == "mod" && is_ident(at(visibility + 1)) {
            let name = at(visibility + 1).to_owned();
            if test_only {
                root.test_only.insert(name.clone());
            }
            root.modules.insert(name);
        } else if at(visibility) == "use" && !test_only {
            let end = item.iter().position(|t| t.text == ";").unwrap_or(item.len());
            use_tree(&item[visibility + 1..end], &mut 0, &[], &mut uses);
        }
        i = item_end(&tokens, i);
    }
    for (path, alias) in uses {
        let names: Vec<&str> = path.iter().map(|s| s.text.as_str()).collect();
        let names = match names.first() {
            Some(&"crate" | &"self") => &names[1..],
            _ => &names[..],
        };
        let (Some(module), Some(last)) = (names.first(), names.last()) else { continue };
        let name = alias.unwrap_or_else(|| (*last).to_owned());
        if root.modules.contains(*module) && names.len() > 1 && name != "self" && name != "*" {
            root.reexports.insert(name, (*module).to_owned());
        }
    }
    root
}

/// The module path of a file under `src/` (`handlers/auth.rs` is `handlers::auth`); `None` for
/// the crate roots, `lib.rs`, `main.rs` and `bin/`.
fn module_path(path: &str) -> Option<Vec<String>> {
    if path == "lib.rs" || path == "main.rs" || path.starts_with("bin/") {
        return None;
    }
    let mut segments: Vec<String> =
        path.trim_end_matches(".rs").split('/').map(str::to_owned).collect();
    if segments.len() > 1 && segments.last().is_some_and(|s| s == "mod") {
        segments.pop();
    }
    Some(segments)
}

/// One use of another part of the crate: its line, its path up to the name it reaches at the
/// crate's root (`crate::registry`), and that name (a module, or a re-export of `lib.rs`).
struct Use {
    line: usize,
    path: String,
    name: String,
}

/// Every use of another part of the crate in the file of module `file`, once a line: `use`
/// trees, and `crate::` and `super::` paths in code; `#[cfg(test)]` items aside.
fn crate_uses(file: &[String], text: &str) -> Vec<Use> {
    let tokens = tokenize(text);
    let at = |k: usize| tokens.get(k).map_or("", |t| t.text.as_str());
    let mut found: Vec<Use> = Vec::new();
    // The inline `mod name { ... }` blocks around `i`, each with the brace depth of its body:
    // `super::` climbs from there.
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0;
    let mut i = 0;
    while i < tokens.len() {
        if is_cfg_test(&tokens, i) {
            i = if at(i + 1) == "!" {
                // `#![cfg(test)]`: the rest of this module is for tests.
                block_end(&tokens, i, depth)
            } else {
                item_end(&tokens, after_attributes(&tokens, i))
            };
            continue;
        }
        let mut paths = Vec::new();
        match at(i) {
            "{" => depth += 1,
            "}" => {
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
                depth = depth.saturating_sub(1);
            }
            "mod" if is_ident(at(i + 1)) && at(i + 2) == "{" => {
                inline.push((at(i + 1).to_owned(), depth + 1));
            }
            // `use<'a>` is a precise capture, as in `impl Trait + use<'a>`, not an import.
            "use" if at(i + 1) != "<" => {
                let end = (i..tokens.len()).find(|&k| at(k) == ";").unwrap_or(tokens.len());
                use_tree(&tokens[i + 1..end], &mut 0, &[], &mut paths);
                i = end;
            }
            "crate" | "super" if i.checked_sub(1).map_or("", at) != "::" => {
                let mut path = vec![tokens[i].clone()];
                while at(i + 1) == "::" && is_ident(at(i + 2)) {
                    path.push(tokens[i + 2].clone());
                    i += 2;
                }
                paths.push((path, None));
            }
            _ => {}
        }
        if !paths.is_empty() {
            let here: Vec<&str> = file
                .iter()
                .map(String::as_str)
                .chain(inline.iter().map(|(m, _)| m.as_str()))
                .collect();
            for (path, _) in paths {
                let Some(used) = reach(&here, &path) else { continue };
                if !found.iter().any(|u| u.line == used.line && u.path == used.path) {
                    found.push(used);
                }
            }
        }
        i += 1;
    }
    found
}

/// Where `path`, written in module `here`, leaves the module's file for another part of the
/// crate, if it does.
fn reach(here: &[&str], path: &[Token]) -> Option<Use> {
    let ups = path.iter().take_while(|s| s.text == "super").count();
    let at_root = match path.first()?.text.as_str() {
        "crate" => 1,
        // Fewer `super`s stay in the file's top-level module, which may use itself.
        "super" if ups == here.len() => ups,
        _ => return None,
    };
    let target = path.get(at_root)?;
    if target.text == "self" {
        return None;
    }
    let shown: Vec<&str> = path[..=at_root].iter().map(|s| s.text.as_str()).collect();
    Some(Use { line: target.line, path: shown.join("::"), name: target.text.clone() })
}

/// A `use` tree's paths, each with its alias: `crate::{a, b::{self, C as D}}` gives
/// `crate::a`, `crate::b::self`, and `crate::b::C` as `D`.
fn use_tree(tokens: &[Token], at: &mut usize, prefix: &[Token], out: &mut Vec<UsePath>) {
    let text = |k: usize| tokens.get(k).map_or("", |t| t.text.as_str());
    let mut path = prefix.to_vec();
    loop {
        match text(*at) {
            "" => return,
            "::" => *at += 1,
            "{" => {
                *at += 1;
                while !matches!(text(*at), "}" | "") {
                    use_tree(tokens, at, &path, out);
                    if text(*at) == "," {
                        *at += 1;
                    }
                }
                *at += 1;
                return;
            }
            word if word == "*" || is_ident(word) => {
                path.push(tokens[*at].clone());
                *at += 1;
                if text(*at) == "::" {
                    continue;
                }
                let alias = (text(*at) == "as").then(|| text(*at + 1).to_owned());
                if alias.is_some() {
                    *at += 2;
                }
                out.push((path, alias));
                return;
            }
            _ => {
                *at += 1;
                return;
            }
        }
    }
}

/// A path of a `use` tree, and the name it is imported as, if renamed.
type UsePath = (Vec<Token>, Option<String>);

/// Whether the attribute at `i` is `#[cfg(test)]` or `#![cfg(test)]`.
fn is_cfg_test(tokens: &[Token], i: usize) -> bool {
    let attribute = ["[", "cfg", "(", "test", ")", "]"];
    let mut text = tokens.iter().skip(i).map(|t| t.text.as_str());
    text.next() == Some("#") && text.skip_while(|t| *t == "!").take(6).eq(attribute)
}

/// The index after the attributes (`#[...]`, `#![...]`) at `i`.
fn after_attributes(tokens: &[Token], mut i: usize) -> usize {
    let text = |k: usize| tokens.get(k).map_or("", |t| t.text.as_str());
    while text(i) == "#" && (text(i + 1) == "[" || (text(i + 1) == "!" && text(i + 2) == "[")) {
        i += 1 + usize::from(text(i + 1) == "!");
        let mut open = 0;
        loop {
            match text(i) {
                "[" => open += 1,
                "]" => open -= 1,
                "" => return i,
                _ => {}
            }
            i += 1;
            if open == 0 {
                break;
            }
        }
    }
    i
}

/// The index after the item at `i`: after its `;`, or after the `}` that closes its body.
fn item_end(tokens: &[Token], i: usize) -> usize {
    let mut nesting = 0usize;
    for (k, token) in tokens.iter().enumerate().skip(i) {
        match token.text.as_str() {
            "(" | "[" => nesting += 1,
            ")" | "]" => nesting = nesting.saturating_sub(1),
            ";" if nesting == 0 => return k + 1,
            "{" if nesting == 0 => return block_end(tokens, k + 1, 1) + 1,
            _ => {}
        }
    }
    tokens.len()
}

/// The index of the `}` that closes the block around `i`, whose body is at brace depth
/// `depth`; at depth 0, the end of the file.
fn block_end(tokens: &[Token], i: usize, depth: usize) -> usize {
    let mut open = 0usize;
    for (k, token) in tokens.iter().enumerate().skip(i) {
        match token.text.as_str() {
            "{" => open += 1,
            "}" if open == 0 && depth > 0 => return k,
            "}" => open = open.saturating_sub(1),
            _ => {}
        }
    }
    tokens.len()
}

/// A token of Rust source, with its line: a word (identifier or keyword), `::`, a literal
/// (written `"…"`), or one other character. Comments are dropped.
#[derive(Clone, Debug)]
struct Token {
    text: String,
    line: usize,
}

fn tokenize(source: &str) -> Vec<Token> {
    const LITERAL: &str = "\"…\"";
    let chars: Vec<char> = source.chars().collect();
    let at = |k: usize| chars.get(k).copied().unwrap_or('\0');
    let mut tokens = Vec::new();
    let (mut i, mut line) = (0, 1);
    while i < chars.len() {
        let (c, start, first_line) = (chars[i], i, line);
        let mut push = |text: &str| tokens.push(Token { text: text.to_owned(), line: first_line });
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && at(i + 1) == '/' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == '*' {
            // Block comments nest.
            let mut open = 0;
            while i < chars.len() {
                if chars[i] == '/' && at(i + 1) == '*' {
                    open += 1;
                    i += 2;
                } else if chars[i] == '*' && at(i + 1) == '/' {
                    open -= 1;
                    i += 2;
                    if open == 0 {
                        break;
                    }
                } else {
                    line += usize::from(chars[i] == '\n');
                    i += 1;
                }
            }
        } else if c == '"' {
            i = string_end(&chars, i + 1, None, &mut line);
            push(LITERAL);
        } else if c == '\'' {
            // A character literal, or the quote of a lifetime or a label.
            if at(i + 1) == '\\' {
                i += 3;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
                push(LITERAL);
            } else if at(i + 2) == '\'' {
                i += 3;
                push(LITERAL);
            } else {
                i += 1;
                push("'");
            }
        } else if c.is_alphanumeric() || c == '_' {
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let hashes = (i..).take_while(|&k| at(k) == '#').count();
            if matches!(word.as_str(), "r" | "br" | "cr") && at(i + hashes) == '"' {
                i = string_end(&chars, i + hashes + 1, Some(hashes), &mut line);
                push(LITERAL);
            } else if matches!(word.as_str(), "b" | "c") && at(i) == '"' {
                i = string_end(&chars, i + 1, None, &mut line);
                push(LITERAL);
            } else if word == "r" && hashes == 1 && (at(i + 1).is_alphabetic() || at(i + 1) == '_')
            {
                // A raw identifier, `r#type`: the word is what follows.
                i += 1;
            } else if c.is_ascii_digit() {
                push(LITERAL);
            } else {
                push(&word);
            }
        } else if c == ':' && at(i + 1) == ':' {
            i += 2;
            push("::");
        } else {
            i += 1;
            push(&c.to_string());
        }
    }
    tokens
}

/// The index after the string literal whose text starts at `i`: a raw string ends at a `"`
/// followed by its hashes, any other at the first `"` that is not escaped.
fn string_end(chars: &[char], mut i: usize, raw_hashes: Option<usize>, line: &mut usize) -> usize {
    while i < chars.len() {
        match (chars[i], raw_hashes) {
            ('\\', None) => {
                *line += usize::from(chars.get(i + 1) == Some(&'\n'));
                i += 2;
                continue;
            }
            ('"', None) => return i + 1,
            ('"', Some(n)) if (1..=n).all(|k| chars.get(i + k) == Some(&'#')) => return i + 1 + n,
            ('\n', _) => *line += 1,
            _ => {}
        }
        i += 1;
    }
    i
}

/// Every `.rs` file under `dir`, as its path below `src` and its text, sorted by path.
fn read_sources(src: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            read_sources(src, &path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let relative = path.strip_prefix(src).expect("a file under src/");
            let parts: Vec<_> = relative.iter().map(|part| part.to_string_lossy()).collect();
            let text = fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
            out.push((parts.join("/"), text));
        }
    }
}
