//! Every relative link in the repository's Markdown files points to a file
//! or directory of the repository (and never out of it), so the
//! documentation stands alone in a fresh clone.

use std::fs;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The tracked Markdown files (`git ls-files`), or, outside a git checkout,
/// every `*.md` below the root except build output.
fn markdown_files() -> Vec<PathBuf> {
    let listed = Command::new("git")
        .args(["ls-files", "-z", "--", "*.md"])
        .current_dir(root())
        .output()
        .ok()
        .filter(|out| out.status.success() && !out.stdout.is_empty());
    if let Some(out) = listed {
        return out
            .stdout
            .split(|&b| b == 0)
            .filter(|name| !name.is_empty())
            .map(|name| root().join(String::from_utf8_lossy(name).as_ref()))
            .collect();
    }
    let mut files = Vec::new();
    walk(root(), &mut files);
    files
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap().map(Result::unwrap) {
        let path = entry.path();
        let name = entry.file_name();
        if name == "target" || name.to_string_lossy().starts_with('.') {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            walk(&path, files);
        } else if path.extension().is_some_and(|e| e == "md") {
            files.push(path);
        }
    }
}

/// The targets of inline links `[text](target)` and reference definitions
/// `[label]: target`, outside code blocks and code spans.
fn links(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut in_fence = false;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            in_fence = !in_fence;
            continue;
        }
        // Indented code blocks (four spaces) hold commands, not links.
        if in_fence || line.starts_with("    ") || line.starts_with('\t') {
            continue;
        }
        // Drop code spans.
        let mut plain = String::new();
        for (i, part) in line.split('`').enumerate() {
            if i % 2 == 0 {
                plain.push_str(part);
            }
        }
        if let Some(rest) = plain.trim_start().strip_prefix('[') {
            if let Some((_, target)) = rest.split_once("]:") {
                found.push(target.split_whitespace().next().unwrap_or("").to_string());
                continue;
            }
        }
        let mut rest = plain.as_str();
        while let Some(at) = rest.find("](") {
            rest = &rest[at + 2..];
            let end = rest.find(')').unwrap_or(rest.len());
            let inner = &rest[..end];
            let target = match inner.strip_prefix('<') {
                Some(bracketed) => bracketed.split('>').next().unwrap_or(""),
                None => inner.split_whitespace().next().unwrap_or(""),
            };
            found.push(target.to_string());
            rest = &rest[end..];
        }
    }
    found
}

fn is_external(target: &str) -> bool {
    target.starts_with('#') || target.contains("://") || target.starts_with("mailto:")
}

/// Resolves `target` against `file`'s directory, lexically; `None` when it
/// leaves the repository.
fn resolve(file: &Path, target: &str) -> Option<PathBuf> {
    let path = target.split('#').next().unwrap();
    let relative = file.parent().unwrap().strip_prefix(root()).unwrap();
    let mut resolved = PathBuf::new();
    for component in relative.join(path).components() {
        match component {
            Component::ParentDir => {
                if !resolved.pop() {
                    return None;
                }
            }
            Component::Normal(part) => resolved.push(part),
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(root().join(resolved))
}

#[test]
fn every_relative_markdown_link_resolves_inside_the_repository() {
    let files = markdown_files();
    assert!(
        files.iter().any(|f| f.ends_with("README.md")),
        "no Markdown files found"
    );
    let mut broken = Vec::new();
    let mut checked = 0;
    for file in &files {
        let text = fs::read_to_string(file).unwrap();
        for target in links(&text) {
            if target.is_empty() {
                broken.push(format!("{}: empty link", file.display()));
                continue;
            }
            if is_external(&target) {
                continue;
            }
            checked += 1;
            match resolve(file, &target) {
                None => broken.push(format!(
                    "{}: {target} leaves the repository",
                    file.display()
                )),
                Some(path) if !path.exists() => {
                    broken.push(format!("{}: {target} does not exist", file.display()))
                }
                Some(_) => {}
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
    assert!(checked > 0, "no relative link checked");
}

#[test]
fn the_link_parser_finds_links_and_skips_code() {
    let text = "see [a](docs/a.md#x) and [b][r], `[c](no.md)`\n\n[r]: ../up.md\n\n    [d](indented.md)\n```\n[e](fenced.md)\n```\n[f](<sp ace.md>)";
    assert_eq!(
        links(text),
        vec!["docs/a.md#x", "../up.md", "sp ace.md"]
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>()
    );
    let readme = root().join("README.md");
    assert_eq!(resolve(&readme, "../x.md"), None);
    assert_eq!(
        resolve(&readme, "docs/formats.md#wal"),
        Some(root().join("docs/formats.md"))
    );
}
