//! One stable sort for the whole crate. Every `sort_by_key` of another element type or key
//! closure carries its own copy of the standard library's sort (5 to 16 KB each in the page's
//! wasm module, issue 10); these helpers sort indices through one comparator type instead and
//! give exactly the order the standard stable sort gives. Not for hot loops.

use std::cmp::Ordering;

/// The indices `0..n` in the stable order of `cmp` (equal items keep their order).
pub(crate) fn stable_order(n: usize, cmp: &dyn Fn(usize, usize) -> Ordering) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_by(|&a, &b| cmp(a, b));
    idx
}

/// `v.sort_by_key(key)`, item for item.
pub(crate) fn sort_by_key<T, K: Ord>(v: &mut Vec<T>, key: impl Fn(&T) -> K) {
    let order = stable_order(v.len(), &|a, b| key(&v[a]).cmp(&key(&v[b])));
    let mut slots: Vec<Option<T>> = v.drain(..).map(Some).collect();
    v.extend(
        order
            .into_iter()
            .map(|i| slots[i].take().expect("each index once")),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_order_as_the_standard_stable_sort() {
        let mut a: Vec<(u32, u32)> = (0..200u32).map(|i| ((i * 7919) % 13, i)).collect();
        let mut b = a.clone();
        a.sort_by_key(|p| p.0);
        sort_by_key(&mut b, |p| p.0);
        assert_eq!(a, b);
        assert_eq!(
            stable_order(0, &|_, _| Ordering::Equal),
            Vec::<usize>::new()
        );
    }
}
