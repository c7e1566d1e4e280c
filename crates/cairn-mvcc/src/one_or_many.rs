//! A list that holds a single item inline and allocates only for two or more:
//! most keys have one generation holding one revision, and the key index keeps
//! both in this list so that such a key needs no heap allocation but its name.

use std::ops::{Deref, DerefMut};

/// A list of `T`, read and changed in place as a slice, that stores a single
/// item inline and moves to a `Vec` when a second one arrives. It goes back
/// inline when [`remove_first`](OneOrMany::remove_first) leaves one item.
///
/// The enum's tag hides in a niche of the `Vec`, so with today's rustc a list
/// of 16-byte [`Revision`](crate::revision::Revision)s is 24 bytes, as a `Vec`
/// is (the `heap_use` test in `index.rs` prints the sizes that matter).
#[derive(Clone, Debug)]
pub(crate) struct OneOrMany<T>(Items<T>);

#[derive(Clone, Debug)]
enum Items<T> {
    /// Exactly one item, inline.
    One(T),
    /// Any other number of items; an empty list is an unallocated `Vec`.
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    /// An empty list (no allocation).
    pub(crate) const fn new() -> Self {
        OneOrMany(Items::Many(Vec::new()))
    }

    /// Appends `item`. The first item is stored inline; the second moves both
    /// to a `Vec` with room for exactly two; later pushes grow as a `Vec` does.
    pub(crate) fn push(&mut self, item: T) {
        if let Items::Many(items) = &mut self.0 {
            if !items.is_empty() {
                items.push(item);
                return;
            }
        }
        self.0 = match std::mem::replace(&mut self.0, Items::Many(Vec::new())) {
            Items::One(first) => Items::Many(vec![first, item]),
            Items::Many(_) => Items::One(item),
        };
    }

    /// Removes the first `n` items (all of them if there are fewer), like
    /// `Vec::drain(..n)`. One item left goes back inline, releasing the `Vec`;
    /// none left releases it too.
    pub(crate) fn remove_first(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        match &mut self.0 {
            Items::One(_) => *self = OneOrMany::new(),
            Items::Many(items) => {
                items.drain(..n.min(items.len()));
                match items.len() {
                    0 => *self = OneOrMany::new(),
                    1 => {
                        if let Some(last) = items.pop() {
                            self.0 = Items::One(last);
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    /// True when the items are stored inline (none allocated).
    #[cfg(test)]
    pub(crate) fn is_inline(&self) -> bool {
        match &self.0 {
            Items::One(_) => true,
            Items::Many(items) => items.capacity() == 0,
        }
    }
}

impl<T> Default for OneOrMany<T> {
    fn default() -> Self {
        OneOrMany::new()
    }
}

impl<T> Deref for OneOrMany<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        match &self.0 {
            Items::One(item) => std::slice::from_ref(item),
            Items::Many(items) => items,
        }
    }
}

impl<T> DerefMut for OneOrMany<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        match &mut self.0 {
            Items::One(item) => std::slice::from_mut(item),
            Items::Many(items) => items,
        }
    }
}

/// Equal when the items are, however they are stored.
impl<T: PartialEq> PartialEq for OneOrMany<T> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl<T: Eq> Eq for OneOrMany<T> {}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[u32]) -> OneOrMany<u32> {
        let mut list = OneOrMany::new();
        for &item in items {
            list.push(item);
        }
        list
    }

    #[test]
    fn push_moves_to_the_heap_at_the_second_item() {
        let mut list = OneOrMany::new();
        assert!(list.is_empty() && list.is_inline());
        assert_eq!(list.first(), None);
        for n in 1..=9u32 {
            list.push(n);
            assert_eq!(&*list, (1..=n).collect::<Vec<_>>().as_slice());
            assert_eq!(list.is_inline(), n == 1, "after {n} pushes");
            assert_eq!((list.first(), list.last()), (Some(&1), Some(&n)));
            assert_eq!(list.iter().next_back(), Some(&n));
        }
    }

    #[test]
    fn items_change_in_place_inline_and_on_the_heap() {
        for len in 1..=3 {
            let mut list = list(&[1, 2, 3][..len]);
            if let Some(last) = list.last_mut() {
                *last = 10;
            }
            list[0] += 100;
            let mut want = vec![1, 2, 3];
            want.truncate(len);
            want[len - 1] = 10;
            want[0] += 100;
            assert_eq!(&*list, want.as_slice());
        }
    }

    #[test]
    fn remove_first_goes_back_inline_at_one_item() {
        // (items, how many to remove, items left, inline afterwards)
        let cases: [(&[u32], usize, &[u32], bool); 10] = [
            (&[], 0, &[], true),
            (&[], 1, &[], true),
            (&[1], 0, &[1], true),
            (&[1], 1, &[], true),
            (&[1, 2], 0, &[1, 2], false),
            (&[1, 2], 1, &[2], true),
            (&[1, 2], 2, &[], true),
            (&[1, 2, 3], 1, &[2, 3], false),
            (&[1, 2, 3], 2, &[3], true),
            (&[1, 2, 3, 4, 5], 3, &[4, 5], false),
        ];
        for (items, n, left, inline) in cases {
            let mut list = list(items);
            list.remove_first(n);
            assert_eq!(&*list, left, "{items:?} without the first {n}");
            assert_eq!(list.is_inline(), inline, "{items:?} without the first {n}");
            // The list keeps working: pushes continue after what is left.
            list.push(7);
            list.push(8);
            let mut want = left.to_vec();
            want.extend([7, 8]);
            assert_eq!(&*list, want.as_slice());
        }
    }

    #[test]
    fn equality_ignores_how_items_are_stored() {
        let mut compacted = list(&[1, 2]);
        compacted.remove_first(1);
        assert_eq!(compacted, list(&[2]));
        assert_eq!(list(&[]), OneOrMany::default());
        assert_ne!(list(&[1]), list(&[1, 1]));
        assert_eq!(list(&[1, 2, 3]).clone(), list(&[1, 2, 3]));
    }
}
