//! Progress on stderr for long runs, drawn only when stderr is a terminal
//! (never into a pipe, a file or a test's captured output).

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// Whether progress may be drawn at all.
fn enabled() -> bool {
    std::io::stderr().is_terminal()
}

/// A bar over `len` steps (files), or a hidden one.
pub fn bar(len: u64, what: &str) -> ProgressBar {
    if !enabled() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix} [{elapsed_precise}] {wide_bar} {pos}/{len} ({eta} left) {msg}",
        )
        .expect("a valid template"),
    );
    bar.set_prefix(what.to_string());
    bar
}

/// A spinner with the elapsed time for a step that reports no progress of
/// its own (a whole restore or compaction), or a hidden one.
pub fn spinner(what: &str) -> ProgressBar {
    if !enabled() {
        return ProgressBar::hidden();
    }
    let spinner = ProgressBar::new_spinner();
    spinner.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{elapsed_precise}]")
            .expect("a valid template"),
    );
    spinner.set_message(what.to_string());
    spinner.enable_steady_tick(Duration::from_millis(120));
    spinner
}
