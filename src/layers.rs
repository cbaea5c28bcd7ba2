//! Holds the code to the layer map in `lib.rs` ("Layout"): every `crate::` path in
//! `src/` outside test code must name a module on a lower floor than its own, and every
//! top-level module must be on the map, in the source map of `docs/development.md` and
//! on the floor its "Layers" list gives. Test code (files declared `#[cfg(test)] mod x;`
//! and the `#[cfg(test)] mod x { .. }` that ends a file) may reach anywhere: a fixture
//! from `fake` in the tests of `rdb` is no dependency of `rdb`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// module → floor, from the `**Floor N` headings and `- `module`` lines of lib.rs.
fn floors(lib: &str) -> BTreeMap<String, u32> {
    let mut map = BTreeMap::new();
    let mut floor = None;
    for line in lib.lines().map_while(|l| l.strip_prefix("//!")) {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("**Floor ") {
            let n: String = rest.chars().take_while(char::is_ascii_digit).collect();
            floor = n.parse().ok();
        } else if let Some(rest) = line.strip_prefix("- `") {
            let name: String = rest.chars().take_while(|c| *c != '`').collect();
            let f = floor.unwrap_or_else(|| panic!("`{name}` comes before any floor"));
            assert!(map.insert(name.clone(), f).is_none(), "`{name}` twice");
        }
    }
    map
}

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rs_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The files `file` declares as test-only modules (`#[cfg(test)]`, maybe `#[path]`,
/// then `mod name;`).
fn test_files(file: &Path, text: &str) -> Vec<PathBuf> {
    let dir = file.parent().unwrap();
    let stem = file.file_stem().unwrap().to_str().unwrap();
    let own_dir = if matches!(stem, "mod" | "lib" | "main") {
        dir.to_path_buf()
    } else {
        dir.join(stem)
    };
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if *l != "#[cfg(test)]" {
            continue;
        }
        let mut path = None;
        for next in &lines[i + 1..] {
            if let Some(p) = next.strip_prefix("#[path = \"") {
                path = Some(dir.join(p.trim_end_matches("\"]")));
            } else if next.starts_with("#[") {
                continue;
            } else {
                if let Some(name) = next.strip_prefix("mod ").and_then(|n| n.strip_suffix(';')) {
                    out.push(path.unwrap_or_else(|| own_dir.join(format!("{name}.rs"))));
                }
                break;
            }
        }
    }
    out
}

/// The library code of a file: up to an inline `#[cfg(test)] mod x {` (which ends every
/// file that has one), without `//` comments, so doc links are no dependency.
fn code(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(l) = lines.next() {
        if l.trim() == "#[cfg(test)]"
            && lines
                .peek()
                .is_some_and(|n| n.trim().starts_with("mod ") && n.trim().ends_with('{'))
        {
            break;
        }
        out.push_str(l.split("//").next().unwrap_or(""));
        out.push('\n');
    }
    out
}

/// The top-level modules `code` names through `crate::x` or `crate::{x, y::z}`.
fn uses(code: &str) -> BTreeSet<String> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Top-level names of the group: after `{` and after each comma at depth 0.
            let mut depth = 0;
            let mut start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c if start && !c.is_whitespace() => {
                        out.insert(ident(&group[i..]));
                        start = false;
                    }
                    _ => {}
                }
            }
        } else {
            out.insert(ident(rest));
        }
    }
    out
}

/// `src/a/b.rs` and `src/a.rs` → `a`.
fn module_of(file: &Path) -> String {
    let rel = file.strip_prefix(src()).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_str()
        .unwrap();
    first.trim_end_matches(".rs").to_owned()
}

#[test]
fn every_module_uses_only_floors_below_its_own() {
    let lib = std::fs::read_to_string(src().join("lib.rs")).unwrap();
    let map = floors(&lib);
    let mut files = Vec::new();
    rs_files(&src(), &mut files);
    let texts: Vec<(PathBuf, String)> = files
        .into_iter()
        .map(|f| {
            let t = std::fs::read_to_string(&f).unwrap();
            (f, t)
        })
        .collect();
    let tests: BTreeSet<PathBuf> = texts.iter().flat_map(|(f, t)| test_files(f, t)).collect();
    let mut wrong = Vec::new();
    let mut modules = BTreeSet::new();
    for (file, text) in texts.iter().filter(|(f, _)| !tests.contains(f)) {
        let module = module_of(file);
        modules.insert(module.clone());
        let Some(&floor) = map.get(&module) else {
            wrong.push(format!("`{module}` is not in the layout of src/lib.rs"));
            continue;
        };
        for used in uses(&code(text)) {
            // `crate::log_filter` and the like: the crate root's own items.
            let Some(&theirs) = map.get(&used) else {
                continue;
            };
            if used != module && theirs >= floor {
                wrong.push(format!(
                    "{} (floor {floor}) uses `{used}` (floor {theirs})",
                    file.strip_prefix(src()).unwrap().display()
                ));
            }
        }
    }
    for named in map.keys().filter(|m| !modules.contains(*m)) {
        wrong.push(format!("the layout names `{named}`, which is not in src/"));
    }
    wrong.dedup();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The top-level modules of `src/` (test-only files left out).
fn top_level_modules() -> BTreeSet<String> {
    let mut files = Vec::new();
    rs_files(&src(), &mut files);
    let tests: BTreeSet<PathBuf> = files
        .iter()
        .flat_map(|f| test_files(f, &std::fs::read_to_string(f).unwrap()))
        .collect();
    files
        .iter()
        .filter(|f| !tests.contains(*f))
        .map(|f| module_of(f))
        .collect()
}

fn development_md() -> String {
    std::fs::read_to_string(src().join("../docs/development.md")).unwrap()
}

#[test]
fn every_top_level_module_is_in_the_source_map_of_development_md() {
    let doc = development_md();
    let missing: Vec<String> = top_level_modules()
        .into_iter()
        .filter(|m| {
            !doc.contains(&format!("| `src/{m}.rs` |")) && !doc.contains(&format!("| `src/{m}/` |"))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "docs/development.md's source map lacks a `| `src/NAME.rs` |` or `| `src/NAME/` |` row for {missing:?}"
    );
    // Test-only files are in the source map too, where they are top-level (this one).
    assert!(doc.contains("| `src/layers.rs` |"));
}

/// The "Layers" list of docs/development.md (`N: a, b` lines in its first code block)
/// says what the layout of lib.rs says.
#[test]
fn the_layers_of_development_md_are_the_layout_of_lib_rs() {
    let doc = development_md();
    let section = doc.split("\n## Layers\n").nth(1).unwrap();
    let block = section.split("```").nth(1).unwrap();
    let mut listed = BTreeMap::new();
    for line in block.lines().filter(|l| !l.trim().is_empty()) {
        let (floor, names) = line.split_once(':').unwrap();
        let floor: u32 = floor.trim().parse().unwrap();
        for name in names.split(',') {
            listed.insert(name.trim().to_owned(), floor);
        }
    }
    let lib = std::fs::read_to_string(src().join("lib.rs")).unwrap();
    assert_eq!(listed, floors(&lib));
}

#[test]
fn the_reader_sees_groups_test_modules_and_comments() {
    let u = uses("use crate::{a::{B, C}, d, e::f};\nlet x = crate::g::h();");
    assert_eq!(u, ["a", "d", "e", "g"].map(String::from).into());
    assert_eq!(
        code("use x; // crate::y\n#[cfg(test)]\nmod tests {\n crate::z\n}"),
        "use x; \n"
    );
    let t = test_files(
        Path::new("/s/a/b.rs"),
        "#[cfg(test)]\n#[path = \"b_tests.rs\"]\nmod tests;\n#[cfg(test)]\nmod more;",
    );
    assert_eq!(
        t,
        [
            PathBuf::from("/s/a/b_tests.rs"),
            PathBuf::from("/s/a/b/more.rs")
        ]
    );
    let f = floors("//! **Floor 0, x**\n//! - `a`: one\n//! **Floor 3**\n//! - `b`: two\nuse x;");
    assert_eq!(f, [("a".to_owned(), 0), ("b".to_owned(), 3)].into());
}
