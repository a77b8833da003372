//! Independent jobs spread over a few threads.

use std::sync::atomic::{AtomicUsize, Ordering};

/// `f` of every item, on `workers` threads that each take the next item
/// nobody took (so a slow item holds up one thread, not a share of the
/// rest); the results in the items' order. Blocks until all are done.
pub(crate) fn map<T: Sync, R: Send>(
    items: &[T],
    workers: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    map_with(items, workers, || (), |(), item| f(item))
}

/// [`map`] where each thread keeps a state of its own from item to item
/// (`init` makes it), e.g. buffers that are reused rather than allocated
/// per item.
pub(crate) fn map_with<T: Sync, R: Send, S>(
    items: &[T],
    workers: usize,
    init: impl Fn() -> S + Sync,
    f: impl Fn(&mut S, &T) -> R + Sync,
) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let done: Vec<Vec<(usize, R)>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..workers.clamp(1, items.len().max(1)))
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    let mut state = init();
                    loop {
                        let at = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(at) else { break };
                        mine.push((at, f(&mut state, item)));
                    }
                    mine
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    let mut results: Vec<Option<R>> = std::iter::repeat_with(|| None).take(items.len()).collect();
    for (at, result) in done.into_iter().flatten() {
        results[at] = Some(result);
    }
    results
        .into_iter()
        .map(|r| r.expect("every item done"))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn results_in_the_items_order() {
        let items: Vec<u32> = (0..100).collect();
        assert_eq!(
            super::map(&items, 3, |i| i * 2),
            (0..100).map(|i| i * 2).collect::<Vec<_>>()
        );
        assert!(super::map(&[] as &[u32], 4, |i| *i).is_empty());
    }
}
